#include "admin/ctl/arguments.h"

#include <chrono>
#include <cstdio>

namespace cv::ctl {
namespace {

constexpr int64_t kMaxUnixSeconds = 253'402'300'799;  // 9999-12-31T23:59:59Z
constexpr int64_t kMaxDurationSeconds = 10 * 366 * 86400;
constexpr char kTimeForms[] = "use Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)";

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool AllDigits(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

// Digits of a fixed-width field; -1 when any is not a digit.
int Field(std::string_view text, size_t pos, size_t width) {
  int value = 0;
  for (size_t i = pos; i < pos + width; ++i) {
    if (!IsDigit(text[i])) return -1;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

std::optional<int64_t> Fail(std::string* error, std::string what) {
  if (error != nullptr) *error = std::move(what);
  return std::nullopt;
}

}  // namespace

std::optional<int64_t> ParseTime(std::string_view text, std::string* error) {
  const std::string quoted = "bad TIME '" + std::string(text) + "': ";
  if (AllDigits(text)) {
    if (text.size() > 12) return Fail(error, quoted + "after the year 9999");
    const int64_t value = std::stoll(std::string(text));
    if (value > kMaxUnixSeconds) return Fail(error, quoted + "after the year 9999");
    return value;
  }
  //   YYYY-MM-DD            midnight UTC
  //   YYYY-MM-DDTHH:MM:SSZ
  //   0123456789012345678901
  if (text.size() != 10 && text.size() != 20) return Fail(error, quoted + kTimeForms);
  const int year = Field(text, 0, 4), month = Field(text, 5, 2), day = Field(text, 8, 2);
  if (year < 0 || month < 0 || day < 0 || text[4] != '-' || text[7] != '-') {
    return Fail(error, quoted + kTimeForms);
  }
  const std::chrono::year_month_day date{std::chrono::year{year},
                                         std::chrono::month{static_cast<unsigned>(month)},
                                         std::chrono::day{static_cast<unsigned>(day)}};
  if (!date.ok() || year < 1970) return Fail(error, quoted + "no such date");
  int64_t seconds = std::chrono::sys_days{date}.time_since_epoch() / std::chrono::seconds(1);
  if (text.size() == 20) {
    const int hour = Field(text, 11, 2), minute = Field(text, 14, 2), second = Field(text, 17, 2);
    if (text[10] != 'T' || text[13] != ':' || text[16] != ':' || text[19] != 'Z' || hour < 0 ||
        minute < 0 || second < 0) {
      return Fail(error, quoted + kTimeForms);
    }
    if (hour > 23 || minute > 59 || second > 59) return Fail(error, quoted + "no such time of day");
    seconds += hour * 3600 + minute * 60 + second;
  }
  return seconds;
}

std::optional<int64_t> ParseDuration(std::string_view text, std::string* error) {
  const std::string quoted = "bad DURATION '" + std::string(text) + "': ";
  std::string_view number = text;
  int64_t unit = 1;
  if (!text.empty() && !IsDigit(text.back())) {
    const char suffix = text.back();
    unit = suffix == 's'   ? 1
           : suffix == 'm' ? 60
           : suffix == 'h' ? 3600
           : suffix == 'd' ? 86400
                           : 0;
    number.remove_suffix(1);
  }
  if (unit == 0 || !AllDigits(number)) {
    return Fail(error, quoted + "use seconds, or a number with s, m, h or d (90s, 15m, 7d)");
  }
  if (number.size() > 10) return Fail(error, quoted + "longer than ten years");
  const int64_t seconds = std::stoll(std::string(number)) * unit;
  if (seconds <= 0) return Fail(error, quoted + "must be more than zero");
  if (seconds > kMaxDurationSeconds) return Fail(error, quoted + "longer than ten years");
  return seconds;
}

std::string FormatTime(int64_t unix_seconds) {
  using std::chrono::days;
  const std::chrono::sys_seconds t{std::chrono::seconds(unix_seconds)};
  const auto day = std::chrono::floor<days>(t);
  const std::chrono::year_month_day date{day};
  const std::chrono::hh_mm_ss clock{t - day};
  char text[32];
  std::snprintf(text, sizeof(text), "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()));
  return text;
}

nlohmann::ordered_json JsonScalar(std::string_view text) {
  if (text == "true") return true;
  if (text == "false") return false;
  std::string_view digits = text;
  const bool negative = !digits.empty() && digits[0] == '-';
  if (negative) digits.remove_prefix(1);
  // An integer that fits int64; anything longer stays a string (and the server says why).
  if (AllDigits(digits) && digits.size() <= 18) {
    const int64_t value = std::stoll(std::string(digits));
    return negative ? -value : value;
  }
  return std::string(text);
}

std::string PercentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(static_cast<char>(c)) ||
        c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string Target(std::string path,
                   const std::vector<std::pair<std::string, std::string>>& query) {
  char separator = '?';
  for (const auto& [name, value] : query) {
    if (value.empty()) continue;
    path += separator;
    path += name;
    path += '=';
    path += PercentEncode(value);
    separator = '&';
  }
  return path;
}

CLI::Validator TimeCheck() {
  return CLI::Validator(
      [](std::string& text) {
        std::string error;
        return ParseTime(text, &error) ? std::string() : error;
      },
      "");
}

CLI::Validator DurationCheck() {
  return CLI::Validator(
      [](std::string& text) {
        std::string error;
        return ParseDuration(text, &error) ? std::string() : error;
      },
      "");
}

}  // namespace cv::ctl
