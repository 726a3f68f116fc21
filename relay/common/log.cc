#include "relay/common/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>

namespace cv::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_fd{STDERR_FILENO};

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarning:
      return "warning";
    case Level::kError:
      return "error";
  }
  return "?";
}

}  // namespace

void SetLevel(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }
Level GetLevel() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }

bool SetDestination(const std::string& path) {
  int fd = STDERR_FILENO;
  if (!path.empty() && path != "stderr" && path != "-") {
    fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return false;
  }
  int old = g_fd.exchange(fd);
  if (old != STDERR_FILENO) close(old);
  return true;
}

void Emit(Level level, const char* event, const char* fmt, ...) {
  char line[1024];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  int n = std::snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s ",
                        utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                        utc.tm_sec, ts.tv_nsec / 1000000, LevelName(level), event);
  va_list args;
  va_start(args, fmt);
  int m = std::vsnprintf(line + n, sizeof(line) - static_cast<size_t>(n) - 1, fmt, args);
  va_end(args);
  size_t len = static_cast<size_t>(n) + (m < 0 ? 0 : static_cast<size_t>(m));
  if (len > sizeof(line) - 2) len = sizeof(line) - 2;
  line[len++] = '\n';
  // One write() per line keeps lines from different threads whole (O_APPEND / pipe semantics).
  ssize_t ignored = write(g_fd.load(std::memory_order_relaxed), line, len);
  (void)ignored;
}

std::string Quote(std::string_view untrusted, size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(untrusted.size(), max) + 8);
  out.push_back('"');
  size_t shown = std::min(untrusted.size(), max);
  for (size_t i = 0; i < shown; ++i) {
    auto c = static_cast<unsigned char>(untrusted[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '%') {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  out.push_back('"');
  if (untrusted.size() > shown) out += "...(+" + std::to_string(untrusted.size() - shown) + ")";
  return out;
}

}  // namespace cv::log
