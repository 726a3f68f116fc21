// cvbench's command line (docs/cvbench.md lists every option). Parsing is pure: no sockets, no
// files other than /proc/PID for --server-pid, so tests check every refusal.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "relay/common/address.h"

namespace cv::bench {

enum class Phase : uint8_t { kEfficiency, kCapacity, kLatency, kBursts, kChurn, kIdle, kBinding };
inline constexpr Phase kAllPhases[] = {Phase::kEfficiency, Phase::kCapacity, Phase::kLatency,
                                       Phase::kBursts,     Phase::kChurn,    Phase::kIdle,
                                       Phase::kBinding};
// What --phase all runs: idle first, while the server's memory is fresh (a server reuses what
// earlier phases freed, which would hide the growth idle measures), then the BENCHMARKS.md order.
inline constexpr Phase kAllOrder[] = {Phase::kIdle,    Phase::kEfficiency, Phase::kCapacity,
                                      Phase::kLatency, Phase::kBursts,     Phase::kChurn,
                                      Phase::kBinding};
const char* PhaseName(Phase p);
std::optional<Phase> ParsePhase(const std::string& name);

// Exit codes (also in docs/cvbench.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitServer = 1;         // the server refused or did not answer
inline constexpr int kExitUsage = 2;          // bad arguments (the message names the option)
inline constexpr int kExitInterrupted = 130;  // SIGINT or SIGTERM (after cleaning up)

struct Options {
  // Where and who.
  SocketAddress server;
  std::string secret;
  std::string realm;  // empty: the realm of the server's 401
  IpAddress peer_ip = *IpAddress::Parse("127.0.0.1");
  std::optional<IpAddress> client_ip;  // empty: the local address the kernel routes to the server
  std::optional<pid_t> server_pid;
  std::string label;
  std::vector<Phase> phases;
  std::string json_path;  // "" none, "-" stdout
  bool quiet = false;

  // Engine.
  uint32_t peer_sockets = 1;
  double drain_s = 0.3;
  uint32_t request_timeout_ms = 500;
  uint32_t request_tries = 3;
  uint32_t setup_window = 200;  // allocation set-ups in flight at once
  uint32_t client_buffer = 1 << 20;
  uint32_t peer_buffer = 4 << 20;

  // efficiency
  uint32_t allocations = 1000;
  double rate = 50;  // packets/s per allocation and direction
  uint32_t payload = 172;
  double duration_s = 10;
  double warmup_s = 2;

  // capacity
  uint32_t capacity_allocations = 64;
  double capacity_start = 20000;  // total packets/s, both directions
  double capacity_step = 1.25;
  double capacity_step_s = 3;
  double capacity_max = 2000000;
  double loss_threshold = 0.001;
  double capacity_warmup_s = 1;

  // latency
  std::vector<double> latency_rates = {10000};  // total packets/s, both directions
  double latency_s = 5;
  uint32_t latency_allocations = 64;
  double latency_warmup_s = 1;

  // bursts
  uint32_t burst_flows = 20;
  double burst_s = 10;
  double burst_warmup_s = 1;
  uint32_t burst_payload = 1200;
  double burst_fps = 30;
  double keyframe_interval_s = 2;
  uint32_t keyframe_packets = 60;
  uint32_t delta_packets = 3;

  // churn
  uint32_t churn_concurrency = 64;
  double churn_s = 10;
  double churn_warmup_s = 1;

  // idle
  uint32_t idle_allocations = 10000;
  double idle_s = 10;
  double idle_settle_s = 1;

  // binding
  uint32_t binding_sockets = 32;
  uint32_t binding_window = 16;
  double binding_s = 5;
  double binding_warmup_s = 1;
  bool binding_fingerprint = false;

  // Client sockets the selected phases need at most (one per allocation or churn slot).
  uint32_t MaxSockets() const;
};

// Parses argv (without the program name). Returns nullopt when the run should go on, else the
// exit code: 0 after --help or --version (printed to `out`), kExitUsage after a message to `err`
// that names the offending option.
std::optional<int> ParseOptions(const std::vector<std::string>& args, Options* options,
                                std::ostream& out, std::ostream& err);

}  // namespace cv::bench
