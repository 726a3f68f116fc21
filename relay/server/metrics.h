// What cvrelay exports to Prometheus, as one plain snapshot gathered at scrape time, and its
// rendering in the Prometheus text exposition format (prometheus-cpp's serializer).
//
// Nothing on the data path touches a Prometheus object: workers keep their own plain counters
// (turn::TurnCounters) and per-allocation totals, and a scrape asks each worker for a snapshot
// (RelayServer::Metrics). Names follow Prometheus conventions (base units in names, _total for
// counters); the full list is in docs/metrics.md. Labels are bounded: plan names come from the
// plans file, transports and reasons are fixed sets, and the only per-user series (top users by
// relay time this month) exists only when opted in and holds at most `top_users` series.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "relay/turn/counters.h"

namespace cv::server {

// Relayed traffic by one direction pair, as totals since the relay started.
struct TrafficTotals {
  uint64_t relayed_ms = 0;
  uint64_t bytes_to_peer = 0, bytes_to_client = 0;
  uint64_t packets_to_peer = 0, packets_to_client = 0;

  TrafficTotals& operator+=(const TrafficTotals& o) {
    relayed_ms += o.relayed_ms;
    bytes_to_peer += o.bytes_to_peer;
    bytes_to_client += o.bytes_to_client;
    packets_to_peer += o.packets_to_peer;
    packets_to_client += o.packets_to_client;
    return *this;
  }
  friend bool operator==(const TrafficTotals&, const TrafficTotals&) = default;
};

using PlanTransport = std::pair<std::string, std::string>;  // (plan, transport)

struct WorkerMetrics {
  uint32_t id = 0;
  uint64_t allocations = 0;  // live on this worker
  std::array<uint64_t, static_cast<size_t>(turn::Counter::kCount)> counters{};

  uint64_t Get(turn::Counter c) const { return counters[static_cast<size_t>(c)]; }
};

struct LedgerMetrics {
  bool enabled = false;
  uint64_t queued = 0;                 // records waiting for the writer
  uint64_t records_written = 0;        // total
  uint64_t commits = 0;                // total
  uint64_t write_errors = 0;           // total failed commits (retried)
  double last_commit_seconds = 0;      // duration of the latest commit
  int64_t last_commit_unix_ms = 0;     // when it finished; 0 = never
  uint64_t guards_active = 0;          // users under the relay-abuse guard now
  uint64_t quota_exhausted_users = 0;  // users whose monthly relay minutes are used up
};

struct RelayMetrics {
  std::string version;
  int64_t uptime_s = 0;
  uint64_t allocation_capacity = 0;  // total-quota if set, else the relay port range size
  std::vector<WorkerMetrics> workers;
  std::map<PlanTransport, uint64_t> live;        // live allocations
  std::map<PlanTransport, uint64_t> created;     // allocations created since start
  std::map<std::string, TrafficTotals> traffic;  // by plan: ended and live allocations
  LedgerMetrics ledger;
  // Opt-in (prometheus-username-labels): (user, relay ms this UTC month), most first, bounded.
  std::vector<std::pair<std::string, uint64_t>> top_users;

  // A counter summed over the workers.
  uint64_t Sum(turn::Counter c) const {
    uint64_t total = 0;
    for (const WorkerMetrics& w : workers) total += w.Get(c);
    return total;
  }
};

// The snapshot in the Prometheus text format (version 0.0.4).
std::string RenderPrometheus(const RelayMetrics& metrics);

}  // namespace cv::server
