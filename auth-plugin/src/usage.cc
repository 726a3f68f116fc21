#include "cv/auth/usage.h"

#include <array>
#include <cstdio>

namespace cv::auth {

namespace {

constexpr std::array<const char*, kEndReasonCount> kEndReasonNames = {
    "live",    "client",   "lifetime", "duration_cap", "quota",
    "revoked", "operator", "shutdown", "interrupted"};
static_assert(static_cast<size_t>(EndReason::kInterrupted) + 1 == kEndReasonCount);

constexpr int64_t kMsPerDay = 86'400'000;
// ECMAScript's Date range (±10^8 days, ±273,790 years): far beyond any real timestamp and far
// enough from INT64_MIN/MAX that the arithmetic below never overflows.
constexpr int64_t kMaxAbsMs = 100'000'000 * kMsPerDay;

int64_t Clamp(int64_t unix_ms) {
  return unix_ms < -kMaxAbsMs ? -kMaxAbsMs : unix_ms > kMaxAbsMs ? kMaxAbsMs : unix_ms;
}

// Rounds toward negative infinity, so 1969-12-31T23:59:59.999Z is day -1, not day 0.
int64_t FloorDiv(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

// Howard Hinnant's days_from_civil / civil_from_days: the proleptic Gregorian calendar in 400-year
// eras of 146097 days, day 0 = 1970-01-01. Exact for every day in the clamped range.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);                 // [0, 399]
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct Civil {
  int64_t year;
  unsigned month;  // 1-12
  unsigned day;    // 1-31
};

Civil CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<int64_t>(yoe) + era * 400 + (m <= 2), m, d};
}

Civil CivilOf(int64_t unix_ms) { return CivilFromDays(FloorDiv(Clamp(unix_ms), kMsPerDay)); }

}  // namespace

const char* EndReasonName(EndReason reason) {
  const auto i = static_cast<size_t>(reason);
  return i < kEndReasonCount ? kEndReasonNames[i] : "unknown";
}

std::optional<EndReason> ParseEndReason(std::string_view name) {
  for (size_t i = 0; i < kEndReasonCount; ++i) {
    if (name == kEndReasonNames[i]) return static_cast<EndReason>(i);
  }
  return std::nullopt;
}

int64_t UtcDayStartMs(int64_t unix_ms) { return FloorDiv(Clamp(unix_ms), kMsPerDay) * kMsPerDay; }

int64_t UtcMonthStartMs(int64_t unix_ms) {
  const Civil c = CivilOf(unix_ms);
  return DaysFromCivil(c.year, c.month, 1) * kMsPerDay;
}

int64_t UtcNextMonthStartMs(int64_t unix_ms) {
  const Civil c = CivilOf(unix_ms);
  return c.month == 12 ? DaysFromCivil(c.year + 1, 1, 1) * kMsPerDay
                       : DaysFromCivil(c.year, c.month + 1, 1) * kMsPerDay;
}

std::string UtcDay(int64_t unix_ms) {
  const Civil c = CivilOf(unix_ms);
  char text[64];
  std::snprintf(text, sizeof text, "%04lld-%02u-%02u", static_cast<long long>(c.year), c.month,
                c.day);
  return text;
}

std::string UtcMonth(int64_t unix_ms) {
  const Civil c = CivilOf(unix_ms);
  char text[64];
  std::snprintf(text, sizeof text, "%04lld-%02u", static_cast<long long>(c.year), c.month);
  return text;
}

}  // namespace cv::auth
