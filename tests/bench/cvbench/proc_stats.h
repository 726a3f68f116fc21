// CPU time and resident memory of a process, from /proc (proc(5)), and the bench's own CPU time.
//
//   /proc/PID/stat:    pid (comm) state ppid ... utime(14) stime(15) ...   clock ticks
//                      comm may hold spaces and parentheses: fields are counted after the last ')'
//   /proc/PID/status:  "VmRSS:\t   12345 kB"
//
// utime and stime of /proc/PID/stat cover every thread of the process.
// Threading: any thread; the parsers are pure.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cv::bench {

struct ProcCpuTicks {
  uint64_t user = 0;    // utime
  uint64_t system = 0;  // stime
};

// nullopt when the text is not a stat line with at least 15 fields.
std::optional<ProcCpuTicks> ParseProcStat(std::string_view stat);
// VmRSS in bytes; nullopt when the line is missing or malformed (kernel threads have none).
std::optional<uint64_t> ParseVmRssBytes(std::string_view status);

// A process watched by its pid.
class ProcessProbe {
 public:
  explicit ProcessProbe(pid_t pid);
  pid_t pid() const { return pid_; }
  // user + system CPU seconds since the process started; nullopt when it cannot be read.
  std::optional<double> CpuSeconds() const;
  std::optional<uint64_t> RssBytes() const;

 private:
  pid_t pid_;
  double seconds_per_tick_;
};

// The calling process's user + system CPU seconds (getrusage RUSAGE_SELF).
double SelfCpuSeconds();

// Reads a whole small file; nullopt on error.
std::optional<std::string> ReadSmallFile(const std::string& path);

}  // namespace cv::bench
