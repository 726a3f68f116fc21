#include "tests/bench/cvbench/proc_stats.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>

namespace cv::bench {
namespace {

// Splits off the next space-separated field of `text`.
std::string_view NextField(std::string_view* text) {
  size_t start = text->find_first_not_of(' ');
  if (start == std::string_view::npos) {
    *text = {};
    return {};
  }
  size_t end = text->find(' ', start);
  if (end == std::string_view::npos) end = text->size();
  std::string_view field = text->substr(start, end - start);
  text->remove_prefix(end);
  return field;
}

std::optional<uint64_t> ToU64(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<ProcCpuTicks> ParseProcStat(std::string_view stat) {
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos || stat.find('(') == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view rest = stat.substr(close + 1);
  // Fields after comm start with field 3 (state); utime is field 14, stime field 15.
  ProcCpuTicks t;
  for (int field = 3; field <= 15; ++field) {
    std::string_view f = NextField(&rest);
    if (f.empty()) return std::nullopt;
    if (field == 14 || field == 15) {
      auto v = ToU64(f);
      if (!v) return std::nullopt;
      (field == 14 ? t.user : t.system) = *v;
    }
  }
  return t;
}

std::optional<uint64_t> ParseVmRssBytes(std::string_view status) {
  size_t pos = 0;
  while (pos < status.size()) {
    size_t end = status.find('\n', pos);
    if (end == std::string_view::npos) end = status.size();
    std::string_view line = status.substr(pos, end - pos);
    pos = end + 1;
    if (line.substr(0, 6) != "VmRSS:") continue;
    line.remove_prefix(6);
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos) return std::nullopt;
    line.remove_prefix(start);
    size_t space = line.find_first_of(" \t");
    if (space == std::string_view::npos) return std::nullopt;
    auto kib = ToU64(line.substr(0, space));
    std::string_view unit = line.substr(space);
    unit.remove_prefix(std::min(unit.find_first_not_of(" \t"), unit.size()));
    while (!unit.empty() && (unit.back() == '\r' || unit.back() == ' ')) unit.remove_suffix(1);
    if (!kib || unit != "kB") return std::nullopt;
    return *kib * 1024;
  }
  return std::nullopt;
}

std::optional<std::string> ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1 << 20)) break;
  }
  close(fd);
  return out;
}

ProcessProbe::ProcessProbe(pid_t pid) : pid_(pid) {
  long ticks = sysconf(_SC_CLK_TCK);
  seconds_per_tick_ = 1.0 / static_cast<double>(ticks > 0 ? ticks : 100);
}

std::optional<double> ProcessProbe::CpuSeconds() const {
  auto text = ReadSmallFile("/proc/" + std::to_string(pid_) + "/stat");
  if (!text) return std::nullopt;
  auto t = ParseProcStat(*text);
  if (!t) return std::nullopt;
  return static_cast<double>(t->user + t->system) * seconds_per_tick_;
}

std::optional<uint64_t> ProcessProbe::RssBytes() const {
  auto text = ReadSmallFile("/proc/" + std::to_string(pid_) + "/status");
  if (!text) return std::nullopt;
  return ParseVmRssBytes(*text);
}

double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
  };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

}  // namespace cv::bench
