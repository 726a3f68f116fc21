// What each phase measured, as plain numbers, and the figures computed from them. Measuring
// (phases.cc) and reporting (here) are apart so that tests check every formula and the JSON
// schema without a relay.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tests/bench/cvbench/histogram.h"
#include "tests/bench/cvbench/report.h"

namespace cv::bench {

// Bench CPU share above which a figure may describe the bench rather than the server.
inline constexpr double kBenchLimitedShare = 0.9;

// One measured wall-clock window and the CPU both sides used in it.
struct CpuWindow {
  double wall_s = 0;
  std::optional<double> server_cpu_s;  // nullopt without --server-pid
  double bench_cpu_s = 0;

  // CPU seconds per wall second: 1.0 is one core busy (a multi-threaded relay may exceed 1).
  std::optional<double> server_share() const;
  double bench_share() const;
};

// Media packets of one measured window (one epoch).
struct TrafficStats {
  uint64_t sent[2] = {0, 0};      // by Direction
  uint64_t received[2] = {0, 0};  // distinct sequences, counted after the drain
  uint64_t duplicates = 0;
  uint64_t reordered = 0;
  uint64_t late = 0;                // beyond the reorder window (counted as received)
  uint64_t arrivals_in_window = 0;  // every media packet that arrived during the wall window
  LatencyHistogram latency;         // one-way, ns, both directions

  uint64_t total_sent() const { return sent[0] + sent[1]; }
  uint64_t total_received() const { return received[0] + received[1]; }
  // (sent - received) / sent; nullopt when nothing was sent.
  std::optional<double> loss_ratio() const;
};

// Each result holds its phase's parameters as given, and what was measured.
struct EfficiencyResult {
  uint32_t allocations = 0;
  double rate = 0;
  uint32_t payload = 0;
  double duration_s = 0;
  double warmup_s = 0;
  CpuWindow window;
  TrafficStats traffic;
  uint64_t bench_rx_drops = 0;
};

struct CapacityStep {
  double offered_pps = 0;
  CpuWindow window;
  TrafficStats traffic;
  uint64_t bench_rx_drops = 0;
  double sent_pps() const;
  double forwarded_pps() const;
};

struct CapacityResult {
  uint32_t allocations = 0;
  double step_s = 0;
  uint32_t payload = 0;
  double loss_threshold = 0;
  double step_factor = 0;
  std::vector<CapacityStep> steps;
  std::string stop_reason;  // "loss", "bench_limited", "capacity_max"
};

struct LatencyRun {
  double rate_pps = 0;
  TrafficStats baseline;
  TrafficStats relayed;
  CpuWindow relayed_window;
};

struct LatencyResult {
  uint32_t allocations = 0;
  uint32_t payload = 0;
  double seconds = 0;
  std::vector<LatencyRun> runs;
};

struct BurstResult {
  uint32_t flows = 0;
  double seconds = 0;
  uint32_t payload = 0;
  double fps = 0;
  double keyframe_interval_s = 0;
  uint32_t keyframe_packets = 0;
  uint32_t delta_packets = 0;
  CpuWindow window;
  TrafficStats traffic;
  uint64_t keyframes_sent = 0;
  // Per keyframe that arrived whole: time from its send to the arrival of its last packet.
  LatencyHistogram keyframe_ns;
  uint64_t bench_rx_drops = 0;
};

struct ChurnResult {
  uint32_t concurrency = 0;
  double seconds = 0;
  CpuWindow window;
  uint64_t successes = 0;                  // authenticated allocations completed in the window
  LatencyHistogram allocate_ns;            // first unauthenticated request → success response
  std::map<std::string, uint64_t> errors;  // by STUN code ("486") or "timeout"
};

struct IdleResult {
  uint32_t allocations = 0;
  double seconds = 0;
  double setup_s = 0;
  std::optional<uint64_t> rss_before;
  std::optional<uint64_t> rss_after;
  CpuWindow window;
};

struct BindingResult {
  uint32_t sockets = 0;
  double seconds = 0;
  uint32_t window_per_socket = 0;
  bool fingerprint = false;
  CpuWindow window;
  uint64_t responses = 0;
  uint64_t timeouts = 0;
  LatencyHistogram rtt_ns;
};

// Each fills `report` with the phase's parameters, figures and warnings.
void ReportEfficiency(const EfficiencyResult& r, PhaseReport* report);
void ReportCapacity(const CapacityResult& r, PhaseReport* report);
void ReportLatency(const LatencyResult& r, PhaseReport* report);
void ReportBursts(const BurstResult& r, PhaseReport* report);
void ReportChurn(const ChurnResult& r, PhaseReport* report);
void ReportIdle(const IdleResult& r, PhaseReport* report);
void ReportBinding(const BindingResult& r, PhaseReport* report);

// Microseconds of a histogram percentile; nullopt when empty.
std::optional<double> PercentileUs(const LatencyHistogram& h, double p);

}  // namespace cv::bench
