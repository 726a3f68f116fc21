#include "tests/bench/cvbench/options.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <sstream>

#include "tests/bench/cvbench/payload.h"
#include "tests/bench/cvbench/proc_stats.h"

#ifndef CV_VERSION
#define CV_VERSION "dev"
#endif

namespace cv::bench {
namespace {

constexpr const char* kPhaseNames[] = {"efficiency", "capacity", "latency", "bursts",
                                       "churn",      "idle",     "binding"};

constexpr char kFooter[] =
    "Phases run in the order given; 'all' runs every phase. Each phase allocates what it needs\n"
    "and deletes it again. Exit codes: 0 the run completed, 1 the server refused or did not\n"
    "answer, 2 bad arguments. docs/cvbench.md explains every phase and figure.";

// A range check that stays out of --help (each option's text gives its default instead).
template <typename T>
CLI::Validator In(T low, T high) {
  CLI::Validator v = CLI::Range(low, high);
  v.description("");
  return v;
}
// Seconds: positive, at most a day; a warm-up may be 0.
const CLI::Validator kSeconds = In(0.001, 86400.0);
const CLI::Validator kWarmup = In(0.0, 86400.0);

}  // namespace

const char* PhaseName(Phase p) { return kPhaseNames[static_cast<int>(p)]; }

std::optional<Phase> ParsePhase(const std::string& name) {
  for (Phase p : kAllPhases) {
    if (name == PhaseName(p)) return p;
  }
  return std::nullopt;
}

uint32_t Options::MaxSockets() const {
  uint32_t n = 0;
  for (Phase p : phases) {
    switch (p) {
      case Phase::kEfficiency:
        n = std::max(n, allocations);
        break;
      case Phase::kCapacity:
        n = std::max(n, capacity_allocations);
        break;
      case Phase::kLatency:
        n = std::max(n, latency_allocations);
        break;
      case Phase::kBursts:
        n = std::max(n, burst_flows);
        break;
      case Phase::kChurn:
        n = std::max(n, churn_concurrency);
        break;
      case Phase::kIdle:
        n = std::max(n, idle_allocations);
        break;
      case Phase::kBinding:
        n = std::max(n, binding_sockets);
        break;
    }
  }
  return n;
}

std::optional<int> ParseOptions(const std::vector<std::string>& args, Options* o, std::ostream& out,
                                std::ostream& err) {
  CLI::App app(
      "cvbench: load generator for CallVault Relay and any TURN server with REST credentials "
      "(coturn's use-auth-secret)",
      "cvbench");
  app.footer(kFooter);
  app.set_version_flag("--version", "cvbench " CV_VERSION);
  app.get_formatter()->column_width(34);

  std::string server, peer_ip, client_ip;
  std::vector<std::string> phases;
  int64_t server_pid = 0;

  auto* g = app.add_option_group("Run");
  g->add_option("--server", server, "The relay's UDP address, IP[:PORT] (port 3478 if omitted)")
      ->required()
      ->type_name("ADDR");
  g->add_option("--secret", o->secret, "REST API shared secret (static-auth-secret)")
      ->type_name("SECRET");
  g->add_option("--realm", o->realm, "Realm for the long-term key (default: the server's)")
      ->type_name("REALM");
  g->add_option("--peer-ip", peer_ip, "Local address of the peer sockets (default 127.0.0.1)")
      ->type_name("IP");
  g->add_option("--client-ip", client_ip,
                "Local address of the client sockets (default: the one routed to --server)")
      ->type_name("IP");
  g->add_option("--server-pid", server_pid, "The relay's pid: CPU and memory from /proc")
      ->type_name("PID")
      ->check(In(int64_t{1}, int64_t{4194304}));
  g->add_option("--label", o->label, "A name for this run, copied into the JSON")
      ->type_name("NAME");
  g->add_option("--phase", phases, "Phases to run, comma-separated, or 'all'")
      ->required()
      ->delimiter(',')
      ->type_name("P[,P...]");
  g->add_option("--json", o->json_path, "Write the results as JSON to FILE ('-' = stdout)")
      ->type_name("FILE");
  g->add_flag("--quiet", o->quiet, "No progress lines on stderr");

  auto* e = app.add_option_group("Engine");
  e->add_option("--peer-sockets", o->peer_sockets, "Peer sockets shared by all allocations (1)")
      ->check(In(1u, 64u));
  e->add_option("--drain", o->drain_s, "Seconds to wait after sending stops before counting (0.3)")
      ->check(kWarmup);
  e->add_option("--request-timeout-ms", o->request_timeout_ms,
                "Retransmission timeout of a STUN request (500)")
      ->check(In(10u, 60000u));
  e->add_option("--request-tries", o->request_tries, "Sends of a STUN request before giving up (3)")
      ->check(In(1u, 20u));
  e->add_option("--setup-window", o->setup_window, "Allocation set-ups in flight at once (200)")
      ->check(In(1u, 100000u));
  e->add_option("--client-buffer", o->client_buffer,
                "SO_RCVBUF/SO_SNDBUF of client sockets (1 MiB)")
      ->type_name("BYTES")
      ->check(In(4096u, 1u << 30));
  e->add_option("--peer-buffer", o->peer_buffer, "SO_RCVBUF/SO_SNDBUF of peer sockets (4 MiB)")
      ->type_name("BYTES")
      ->check(In(4096u, 1u << 30));

  auto* ef = app.add_option_group("efficiency");
  ef->add_option("--allocations", o->allocations, "Allocations (1000)")->check(In(1u, 60000u));
  ef->add_option("--rate", o->rate, "Packets/s per allocation and direction (50)")
      ->check(In(0.01, 1e6));
  ef->add_option("--payload", o->payload,
                 "Payload bytes per packet, also for capacity and latency (172)")
      ->check(In(static_cast<uint32_t>(kMediaHeaderSize), 1400u));
  ef->add_option("--duration", o->duration_s, "Measured seconds (10)")->check(kSeconds);
  ef->add_option("--warmup", o->warmup_s, "Unmeasured seconds before (2)")->check(kWarmup);

  auto* ca = app.add_option_group("capacity");
  ca->add_option("--capacity-allocations", o->capacity_allocations, "Allocations (64)")
      ->check(In(1u, 60000u));
  ca->add_option("--capacity-start", o->capacity_start, "First offered rate, packets/s (20000)")
      ->check(In(1.0, 1e8));
  ca->add_option("--capacity-step", o->capacity_step, "Factor between steps (1.25)")
      ->check(In(1.01, 100.0));
  ca->add_option("--capacity-step-seconds", o->capacity_step_s, "Seconds per step (3)")
      ->check(kSeconds);
  ca->add_option("--capacity-max", o->capacity_max, "Highest offered rate (2000000)")
      ->check(In(1.0, 1e8));
  ca->add_option("--loss-threshold", o->loss_threshold, "Loss ratio that ends the search (0.001)")
      ->check(In(0.0, 0.999));
  ca->add_option("--capacity-warmup", o->capacity_warmup_s, "Unmeasured seconds first (1)")
      ->check(kWarmup);

  auto* la = app.add_option_group("latency");
  la->add_option("--latency-rates", o->latency_rates,
                 "Total packets/s of each run, comma-separated (10000)")
      ->delimiter(',')
      ->check(In(1.0, 1e8));
  la->add_option("--latency-seconds", o->latency_s, "Measured seconds per run (5)")
      ->check(kSeconds);
  la->add_option("--latency-allocations", o->latency_allocations, "Allocations (64)")
      ->check(In(1u, 60000u));
  la->add_option("--latency-warmup", o->latency_warmup_s, "Unmeasured seconds per run (1)")
      ->check(kWarmup);

  auto* bu = app.add_option_group("bursts");
  bu->add_option("--burst-flows", o->burst_flows, "Video flows (20)")->check(In(1u, 60000u));
  bu->add_option("--burst-seconds", o->burst_s, "Measured seconds (10)")->check(kSeconds);
  bu->add_option("--burst-warmup", o->burst_warmup_s, "Unmeasured seconds first (1)")
      ->check(kWarmup);
  bu->add_option("--burst-payload", o->burst_payload, "Bytes per video packet (1200)")
      ->check(In(static_cast<uint32_t>(kMediaHeaderSize), 1400u));
  bu->add_option("--burst-fps", o->burst_fps, "Frames per second (30)")->check(In(0.1, 1000.0));
  bu->add_option("--keyframe-interval", o->keyframe_interval_s, "Seconds between keyframes (2)")
      ->check(In(0.01, 3600.0));
  bu->add_option("--keyframe-packets", o->keyframe_packets, "Packets per keyframe (60)")
      ->check(In(1u, 1024u));
  bu->add_option("--delta-packets", o->delta_packets, "Packets per delta frame (3)")
      ->check(In(1u, 1024u));

  auto* ch = app.add_option_group("churn");
  ch->add_option("--churn-concurrency", o->churn_concurrency, "Allocations in flight (64)")
      ->check(In(1u, 60000u));
  ch->add_option("--churn-seconds", o->churn_s, "Measured seconds (10)")->check(kSeconds);
  ch->add_option("--churn-warmup", o->churn_warmup_s, "Unmeasured seconds first (1)")
      ->check(kWarmup);

  auto* id = app.add_option_group("idle");
  id->add_option("--idle-allocations", o->idle_allocations, "Allocations (10000)")
      ->check(In(1u, 60000u));
  id->add_option("--idle-seconds", o->idle_s, "Seconds of silence measured (10)")->check(kSeconds);
  id->add_option("--idle-settle", o->idle_settle_s, "Seconds before the second RSS reading (1)")
      ->check(kWarmup);

  auto* bi = app.add_option_group("binding");
  bi->add_option("--binding-sockets", o->binding_sockets, "Client sockets (32)")
      ->check(In(1u, 60000u));
  bi->add_option("--binding-window", o->binding_window, "Requests outstanding per socket (16)")
      ->check(In(1u, 1024u));
  bi->add_option("--binding-seconds", o->binding_s, "Measured seconds (5)")->check(kSeconds);
  bi->add_option("--binding-warmup", o->binding_warmup_s, "Unmeasured seconds first (1)")
      ->check(kWarmup);
  bi->add_flag("--binding-fingerprint", o->binding_fingerprint, "Add FINGERPRINT to requests");

  std::vector<const char*> argv{"cvbench"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& ex) {
    const int code = app.exit(ex, out, err);
    return code == 0 ? kExitOk : kExitUsage;
  }

  auto fail = [&](const std::string& message) -> std::optional<int> {
    err << "cvbench: " << message << "\nRun with --help for more information.\n";
    return kExitUsage;
  };

  auto addr = SocketAddress::Parse(server, 3478);
  if (!addr || addr->port == 0) {
    return fail("--server: '" + server + "' is not IP[:PORT] (host names are not resolved)");
  }
  o->server = *addr;
  if (!peer_ip.empty()) {
    auto ip = IpAddress::Parse(peer_ip);
    if (!ip) return fail("--peer-ip: '" + peer_ip + "' is not an IP address");
    o->peer_ip = *ip;
  }
  if (!client_ip.empty()) {
    auto ip = IpAddress::Parse(client_ip);
    if (!ip) return fail("--client-ip: '" + client_ip + "' is not an IP address");
    if (ip->family() != o->server.ip.family()) {
      return fail("--client-ip: " + client_ip + " is not of --server's address family");
    }
    o->client_ip = *ip;
  }

  if (o->peer_ip.family() != o->server.ip.family()) {
    return fail("--peer-ip: " + o->peer_ip.ToString() +
                " is not of --server's address family (the latency baseline sends from the "
                "client sockets to the peer directly)");
  }

  o->phases.clear();
  for (const std::string& name : phases) {
    if (name == "all") {
      for (Phase p : kAllOrder) {
        if (std::find(o->phases.begin(), o->phases.end(), p) == o->phases.end()) {
          o->phases.push_back(p);
        }
      }
      continue;
    }
    auto p = ParsePhase(name);
    if (!p) {
      return fail("--phase: unknown phase '" + name +
                  "' (efficiency, capacity, latency, bursts, churn, idle, binding, all)");
    }
    if (std::find(o->phases.begin(), o->phases.end(), *p) == o->phases.end()) {
      o->phases.push_back(*p);
    }
  }
  if (o->phases.empty()) return fail("--phase: no phase named");

  const bool needs_secret =
      std::any_of(o->phases.begin(), o->phases.end(), [](Phase p) { return p != Phase::kBinding; });
  if (needs_secret && o->secret.empty()) {
    return fail("--secret: required by every phase but binding (the REST API shared secret)");
  }
  if (o->capacity_max < o->capacity_start) {
    return fail("--capacity-max: must be at least --capacity-start");
  }
  if (o->latency_rates.empty()) return fail("--latency-rates: no rate given");
  if (o->latency_rates.size() > 100) return fail("--latency-rates: at most 100 rates");
  if (server_pid != 0) {
    o->server_pid = static_cast<pid_t>(server_pid);
    if (!ProcessProbe(*o->server_pid).CpuSeconds()) {
      return fail("--server-pid: cannot read /proc/" + std::to_string(server_pid) +
                  "/stat (no such process?)");
    }
  }
  return std::nullopt;
}

}  // namespace cv::bench
