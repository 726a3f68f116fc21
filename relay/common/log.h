// Structured, single-line logs: `<utc time> <level> <event> key=value ...`.
// Values that come from the network (usernames, realms) go through Quote(), which escapes
// control bytes, quotes and non-ASCII, and truncates, so they cannot forge lines or fields.
// Thread-safety: every function may be called from any thread; a line is written atomically.
#pragma once

#include <cstdarg>
#include <string>
#include <string_view>

namespace cv::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLevel(Level level);
Level GetLevel();
inline bool Enabled(Level level) { return level >= GetLevel(); }

// Sends lines to `path` (appending), or to stderr for "" / "stderr" / "-". Returns false and keeps
// the current destination when the file cannot be opened.
bool SetDestination(const std::string& path);

void Emit(Level level, const char* event, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

// A printable, quoted, bounded rendering of untrusted bytes: "ab\x0acd" with at most `max` input
// bytes shown, then "…(+N)".
std::string Quote(std::string_view untrusted, size_t max = 96);

}  // namespace cv::log

#define CV_LOG(level, event, ...)                                              \
  do {                                                                         \
    if (::cv::log::Enabled(level)) ::cv::log::Emit(level, event, __VA_ARGS__); \
  } while (0)
#define CV_DEBUG(event, ...) CV_LOG(::cv::log::Level::kDebug, event, __VA_ARGS__)
#define CV_INFO(event, ...) CV_LOG(::cv::log::Level::kInfo, event, __VA_ARGS__)
#define CV_WARN(event, ...) CV_LOG(::cv::log::Level::kWarning, event, __VA_ARGS__)
#define CV_ERROR(event, ...) CV_LOG(::cv::log::Level::kError, event, __VA_ARGS__)
