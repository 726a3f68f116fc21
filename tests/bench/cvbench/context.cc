#include "tests/bench/cvbench/context.h"

#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <random>

namespace cv::bench {
namespace {
volatile sig_atomic_t g_interrupted = 0;
void OnSignal(int) { g_interrupted = 1; }
}  // namespace

void InstallInterruptHandler() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;  // the second signal takes the default action
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool Interrupted() { return g_interrupted != 0; }

bool Progress::Due(uint64_t now_ns) {
  if (quiet_) return false;
  if (last_ns_ != 0 && now_ns - last_ns_ < 900'000'000u) return false;
  last_ns_ = now_ns;
  return true;
}

void Progress::Reset() {
  last_ns_ = NowNs();
  rate_count_ = 0;
  rate_ns_ = last_ns_;
}

void Progress::PrintRate(const char* phase, bool measuring, double elapsed_s, double of_s,
                         uint64_t count, uint64_t now_ns, const char* unit) {
  const double dt = std::max(1e-3, static_cast<double>(now_ns - rate_ns_) / 1e9);
  char buf[160];
  std::snprintf(buf, sizeof(buf), "[%s] %s %.1f/%.4g s  %.0f %s/s", phase,
                measuring ? "measuring" : "warm-up", elapsed_s, of_s,
                static_cast<double>(count - rate_count_) / dt, unit);
  Print(buf);
  rate_count_ = count;
  rate_ns_ = now_ns;
}

void Progress::Print(const std::string& line) {
  if (quiet_) return;
  out_ << line << std::endl;
}

BenchContext::BenchContext(const Options& o, std::ostream& progress_out)
    : options(o), progress(progress_out, o.quiet) {
  if (!o.secret.empty()) credentials = std::make_unique<Credentials>(o.secret);
  server_len = o.server.ToSockaddr(&server_sa);
  salt = std::random_device{}();
  if (o.server_pid) server.emplace(*o.server_pid);
}

int64_t BenchContext::Expiry() { return static_cast<int64_t>(std::time(nullptr)) + 3600; }

void CpuMeter::Start() {
  start_ns_ = NowNs();
  server_start_ = ctx_.server ? ctx_.server->CpuSeconds() : std::nullopt;
  self_start_ = SelfCpuSeconds();
}

CpuWindow CpuMeter::Stop() const {
  CpuWindow w;
  w.wall_s = static_cast<double>(NowNs() - start_ns_) / 1e9;
  w.bench_cpu_s = SelfCpuSeconds() - self_start_;
  if (server_start_ && ctx_.server) {
    if (auto end = ctx_.server->CpuSeconds()) w.server_cpu_s = *end - *server_start_;
  }
  return w;
}

}  // namespace cv::bench
