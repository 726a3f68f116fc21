// What every phase of one run shares: the options, the event loop, the credentials, the
// addresses, the server probe and the progress line.
//
// Threading: the one bench thread.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "relay/common/address.h"
#include "tests/bench/cvbench/net.h"
#include "tests/bench/cvbench/options.h"
#include "tests/bench/cvbench/proc_stats.h"
#include "tests/bench/cvbench/results.h"
#include "tests/bench/cvbench/turn_messages.h"

namespace cv::bench {

// SIGINT or SIGTERM asks the run to stop: loops return early, each phase still deletes what it
// allocated, and the figures so far are written. A second signal kills at once.
void InstallInterruptHandler();
bool Interrupted();

// Progress on stderr, at most once a second, unless --quiet.
class Progress {
 public:
  Progress(std::ostream& out, bool quiet) : out_(out), quiet_(quiet) {}
  // True when a line is due at `now_ns` (and marks it printed).
  bool Due(uint64_t now_ns);
  void Print(const std::string& line);
  // A phase that counts one thing (responses, allocations) prints its rate since the last line:
  // "[phase] warm-up|measuring <elapsed>/<of> s  <rate> <unit>/s". Call when Due().
  void PrintRate(const char* phase, bool measuring, double elapsed_s, double of_s, uint64_t count,
                 uint64_t now_ns, const char* unit);
  // The next line is due a second from now.
  void Reset();

 private:
  std::ostream& out_;
  bool quiet_;
  uint64_t last_ns_ = 0;
  uint64_t rate_count_ = 0;  // PrintRate's count and time at its last line
  uint64_t rate_ns_ = 0;
};

struct BenchContext {
  BenchContext(const Options& o, std::ostream& progress_out);

  const Options& options;
  EventLoop loop;
  std::unique_ptr<Credentials> credentials;  // null without --secret
  IpAddress client_ip;
  sockaddr_storage server_sa{};
  socklen_t server_len = 0;
  uint32_t salt = 0;
  std::optional<ProcessProbe> server;
  Progress progress;
  uint64_t next_user = 0;  // numbers the REST usernames of the run

  uint64_t tick_ns() const { return 1'000'000; }
  uint64_t timeout_ns() const { return uint64_t{options.request_timeout_ms} * 1'000'000; }
  // Unix seconds of a REST username's expiry: an hour from now.
  static int64_t Expiry();
};

// Samples both sides' CPU at the start and end of a measured window.
class CpuMeter {
 public:
  explicit CpuMeter(const BenchContext& ctx) : ctx_(ctx) {}
  void Start();
  CpuWindow Stop() const;

 private:
  const BenchContext& ctx_;
  uint64_t start_ns_ = 0;
  std::optional<double> server_start_;
  double self_start_ = 0;
};

}  // namespace cv::bench
