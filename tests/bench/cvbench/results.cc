#include "tests/bench/cvbench/results.h"

#include <algorithm>
#include <cstdio>

namespace cv::bench {
namespace {

std::optional<double> Ratio(std::optional<double> num, double den) {
  if (!num || den <= 0) return std::nullopt;
  return *num / den;
}

std::optional<double> Minus(std::optional<double> a, std::optional<double> b) {
  if (!a || !b) return std::nullopt;
  return *a - *b;
}

void AddCpu(const CpuWindow& w, PhaseReport* report) {
  report->Add("server_cpu_share", w.server_share(), "cores");
  report->Add("bench_cpu_share", w.bench_share(), "cores");
  if (w.bench_share() > kBenchLimitedShare) {
    char buf[160];
    std::snprintf(buf, sizeof(buf),
                  "the bench used %.2f of a core: the figures may be limited by the bench, not "
                  "the server",
                  w.bench_share());
    report->Warn(buf);
  }
}

void WarnRxDrops(uint64_t drops, PhaseReport* report) {
  if (drops == 0) return;
  report->Warn(std::to_string(drops) +
               " packets were dropped by the bench's own receive buffers (SO_RXQ_OVFL): loss "
               "includes the bench's");
}

Json LatencyJson(const TrafficStats& t) {
  Json j = Json::object();
  j["p50_us"] = JsonNumber(PercentileUs(t.latency, 50));
  j["p99_us"] = JsonNumber(PercentileUs(t.latency, 99));
  j["p999_us"] = JsonNumber(PercentileUs(t.latency, 99.9));
  j["max_us"] = JsonNumber(PercentileUs(t.latency, 100));
  j["packets_sent"] = t.total_sent();
  j["packets_received"] = t.total_received();
  j["loss_ratio"] = JsonNumber(t.loss_ratio());
  return j;
}

std::string RateTag(double rate) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "@%.0f", rate);
  return buf;
}

}  // namespace

std::optional<double> CpuWindow::server_share() const { return Ratio(server_cpu_s, wall_s); }

double CpuWindow::bench_share() const { return wall_s > 0 ? bench_cpu_s / wall_s : 0; }

std::optional<double> TrafficStats::loss_ratio() const {
  const uint64_t s = total_sent();
  if (s == 0) return std::nullopt;
  const uint64_t r = std::min(total_received(), s);
  return static_cast<double>(s - r) / static_cast<double>(s);
}

double CapacityStep::sent_pps() const {
  return window.wall_s > 0 ? static_cast<double>(traffic.total_sent()) / window.wall_s : 0;
}

double CapacityStep::forwarded_pps() const {
  return window.wall_s > 0 ? static_cast<double>(traffic.arrivals_in_window) / window.wall_s : 0;
}

std::optional<double> PercentileUs(const LatencyHistogram& h, double p) {
  if (h.count() == 0) return std::nullopt;
  return static_cast<double>(h.Percentile(p)) / 1000.0;
}

void ReportEfficiency(const EfficiencyResult& r, PhaseReport* report) {
  Json& j = report->json();
  j["parameters"] = {{"allocations", r.allocations},
                     {"rate_pps", r.rate},
                     {"payload_bytes", r.payload},
                     {"duration_s", r.duration_s},
                     {"warmup_s", r.warmup_s}};
  j["measured_s"] = r.window.wall_s;
  const double packets = static_cast<double>(r.traffic.arrivals_in_window);
  report->Add("forwarded_pps", Ratio(packets, r.window.wall_s), "packets/s");
  report->Add("server_cpu_us_per_packet",
              packets > 0 && r.window.server_cpu_s
                  ? std::optional<double>(*r.window.server_cpu_s * 1e6 / packets)
                  : std::nullopt,
              "us");
  report->Add("loss_ratio", r.traffic.loss_ratio(), "ratio");
  AddCpu(r.window, report);
  report->AddCount("packets_sent", r.traffic.total_sent(), "packets");
  report->AddCount("packets_received", r.traffic.total_received(), "packets");
  report->AddCount("duplicates", r.traffic.duplicates, "packets");
  report->AddCount("reordered", r.traffic.reordered, "packets");
  report->Add("latency_p50_us", PercentileUs(r.traffic.latency, 50), "us");
  report->Add("latency_p99_us", PercentileUs(r.traffic.latency, 99), "us");
  report->AddCount("bench_rx_drops", r.bench_rx_drops, "packets");
  WarnRxDrops(r.bench_rx_drops, report);
}

void ReportCapacity(const CapacityResult& r, PhaseReport* report) {
  Json& j = report->json();
  j["parameters"] = {{"allocations", r.allocations},
                     {"payload_bytes", r.payload},
                     {"loss_threshold", r.loss_threshold},
                     {"step_factor", r.step_factor},
                     {"step_s", r.step_s}};
  std::optional<double> best;
  std::optional<double> best_offered;
  const CapacityStep* best_step = nullptr;
  Json steps = Json::array();
  uint64_t drops = 0;
  for (const CapacityStep& s : r.steps) {
    const auto loss = s.traffic.loss_ratio();
    Json sj = Json::object();
    sj["offered_pps"] = s.offered_pps;
    sj["sent_pps"] = JsonNumber(s.sent_pps());
    sj["forwarded_pps"] = JsonNumber(s.forwarded_pps());
    sj["loss_ratio"] = JsonNumber(loss);
    sj["server_cpu_share"] = JsonNumber(s.window.server_share());
    sj["bench_cpu_share"] = JsonNumber(s.window.bench_share());
    sj["latency_p99_us"] = JsonNumber(PercentileUs(s.traffic.latency, 99));
    sj["bench_rx_drops"] = s.bench_rx_drops;
    steps.push_back(std::move(sj));
    drops += s.bench_rx_drops;
    if (loss && *loss <= r.loss_threshold && (!best || s.forwarded_pps() > *best)) {
      best = s.forwarded_pps();
      best_offered = s.offered_pps;
      best_step = &s;
    }
  }
  report->Add("capacity_pps", best, "packets/s");
  report->Add("capacity_offered_pps", best_offered, "packets/s");
  report->Add("capacity_server_cpu_share",
              best_step ? best_step->window.server_share() : std::nullopt, "cores");
  report->AddCount("step_count", r.steps.size(), "steps");
  j["stop_reason"] = r.stop_reason;
  j["steps"] = std::move(steps);
  // One table row per step: offered → forwarded, loss.
  for (size_t i = 0; i < r.steps.size(); ++i) {
    const CapacityStep& s = r.steps[i];
    const std::string tag = "step" + std::to_string(i + 1) + RateTag(s.offered_pps);
    report->AddRow(tag + " forwarded_pps", s.forwarded_pps(), "packets/s");
    report->AddRow(tag + " loss_ratio", s.traffic.loss_ratio(), "ratio");
    report->AddRow(tag + " server_cpu_share", s.window.server_share(), "cores");
    report->AddRow(tag + " bench_cpu_share", s.window.bench_share(), "cores");
  }
  if (r.stop_reason == "bench_limited") {
    report->Warn(
        "the bench could not keep up (it sent less than 95% of the offered rate, or its own "
        "receive buffers dropped most of what was lost): the search stopped there, and "
        "capacity_pps is a lower bound set by the bench, not the server");
  } else if (r.stop_reason == "capacity_max") {
    report->Warn("--capacity-max reached without loss: capacity_pps is a lower bound");
  }
  if (!best) report->Warn("no step had loss at or below the threshold");
  for (const CapacityStep& s : r.steps) {
    if (s.window.bench_share() > kBenchLimitedShare) {
      report->Warn(
          "the bench used more than 0.9 of a core in some steps: those steps may be "
          "limited by the bench, not the server");
      break;
    }
  }
  WarnRxDrops(drops, report);
}

void ReportLatency(const LatencyResult& r, PhaseReport* report) {
  Json& j = report->json();
  Json rates = Json::array();
  for (const LatencyRun& run : r.runs) rates.push_back(run.rate_pps);
  j["parameters"] = {{"allocations", r.allocations},
                     {"payload_bytes", r.payload},
                     {"seconds", r.seconds},
                     {"rates_pps", rates}};
  Json runs = Json::array();
  for (const LatencyRun& run : r.runs) {
    const std::string tag = RateTag(run.rate_pps);
    Json rj = Json::object();
    rj["rate_pps"] = run.rate_pps;
    rj["baseline"] = LatencyJson(run.baseline);
    rj["relayed"] = LatencyJson(run.relayed);
    const auto b50 = PercentileUs(run.baseline.latency, 50);
    const auto b99 = PercentileUs(run.baseline.latency, 99);
    const auto b999 = PercentileUs(run.baseline.latency, 99.9);
    const auto r50 = PercentileUs(run.relayed.latency, 50);
    const auto r99 = PercentileUs(run.relayed.latency, 99);
    const auto r999 = PercentileUs(run.relayed.latency, 99.9);
    rj["added_p50_us"] = JsonNumber(Minus(r50, b50));
    rj["added_p99_us"] = JsonNumber(Minus(r99, b99));
    rj["added_p999_us"] = JsonNumber(Minus(r999, b999));
    rj["loss_ratio"] = JsonNumber(run.relayed.loss_ratio());
    rj["baseline_loss_ratio"] = JsonNumber(run.baseline.loss_ratio());
    rj["server_cpu_share"] = JsonNumber(run.relayed_window.server_share());
    rj["bench_cpu_share"] = JsonNumber(run.relayed_window.bench_share());
    runs.push_back(std::move(rj));

    report->AddRow("baseline_p50_us" + tag, b50, "us");
    report->AddRow("baseline_p99_us" + tag, b99, "us");
    report->AddRow("baseline_p999_us" + tag, b999, "us");
    report->AddRow("relayed_p50_us" + tag, r50, "us");
    report->AddRow("relayed_p99_us" + tag, r99, "us");
    report->AddRow("relayed_p999_us" + tag, r999, "us");
    report->AddRow("added_p50_us" + tag, Minus(r50, b50), "us");
    report->AddRow("added_p99_us" + tag, Minus(r99, b99), "us");
    report->AddRow("added_p999_us" + tag, Minus(r999, b999), "us");
    report->AddRow("loss_ratio" + tag, run.relayed.loss_ratio(), "ratio");
    report->AddRow("baseline_loss_ratio" + tag, run.baseline.loss_ratio(), "ratio");
    report->AddRow("server_cpu_share" + tag, run.relayed_window.server_share(), "cores");
    if (run.relayed_window.bench_share() > kBenchLimitedShare) {
      report->Warn("the bench used more than 0.9 of a core at " + tag.substr(1) +
                   " packets/s: latency includes the bench's own queueing");
    }
  }
  j["runs"] = std::move(runs);
}

void ReportBursts(const BurstResult& r, PhaseReport* report) {
  Json& j = report->json();
  j["parameters"] = {{"flows", r.flows},
                     {"payload_bytes", r.payload},
                     {"fps", r.fps},
                     {"keyframe_interval_s", r.keyframe_interval_s},
                     {"keyframe_packets", r.keyframe_packets},
                     {"delta_packets", r.delta_packets},
                     {"seconds", r.seconds}};
  j["measured_s"] = r.window.wall_s;
  report->Add("loss_ratio", r.traffic.loss_ratio(), "ratio");
  report->AddCount("packets_sent", r.traffic.total_sent(), "packets");
  report->AddCount("packets_received", r.traffic.total_received(), "packets");
  report->AddCount("keyframes_sent", r.keyframes_sent, "frames");
  report->AddCount("keyframes_complete", r.keyframe_ns.count(), "frames");
  report->Add("burst_latency_p99_us", PercentileUs(r.keyframe_ns, 99), "us");
  report->Add("burst_latency_max_us", PercentileUs(r.keyframe_ns, 100), "us");
  report->Add("latency_p50_us", PercentileUs(r.traffic.latency, 50), "us");
  report->Add("latency_p99_us", PercentileUs(r.traffic.latency, 99), "us");
  AddCpu(r.window, report);
  report->AddCount("bench_rx_drops", r.bench_rx_drops, "packets");
  WarnRxDrops(r.bench_rx_drops, report);
}

void ReportChurn(const ChurnResult& r, PhaseReport* report) {
  Json& j = report->json();
  j["parameters"] = {{"concurrency", r.concurrency}, {"seconds", r.seconds}};
  j["measured_s"] = r.window.wall_s;
  uint64_t errors = 0;
  Json ej = Json::object();
  for (const auto& [code, n] : r.errors) {
    ej[code] = n;
    errors += n;
  }
  report->Add("allocations_per_s", Ratio(static_cast<double>(r.successes), r.window.wall_s),
              "allocations/s");
  report->Add("allocate_p50_ms", Ratio(PercentileUs(r.allocate_ns, 50), 1000.0), "ms");
  report->Add("allocate_p99_ms", Ratio(PercentileUs(r.allocate_ns, 99), 1000.0), "ms");
  report->AddCount("allocations", r.successes, "allocations");
  report->AddCount("errors", errors, "responses");
  report->Add(
      "server_cpu_us_per_allocation",
      r.successes > 0 && r.window.server_cpu_s
          ? std::optional<double>(*r.window.server_cpu_s * 1e6 / static_cast<double>(r.successes))
          : std::nullopt,
      "us");
  AddCpu(r.window, report);
  j["errors_by_code"] = std::move(ej);
  for (const auto& [code, n] : r.errors) {
    report->AddRow("errors." + code, static_cast<double>(n), "responses");
  }
  if (r.errors.count("486") != 0) {
    report->Warn(
        "486 answers: the server's allocate rate limits or quotas were hit (cvrelay: "
        "allocate-rate=0, user-allocate-rate=0, total-quota=0)");
  }
  if (r.errors.count("timeout") != 0) {
    report->Warn(
        "requests went unanswered (cvrelay: unauth-rate=0 lifts the limit on 401 "
        "answers per source address)");
  }
}

void ReportIdle(const IdleResult& r, PhaseReport* report) {
  Json& j = report->json();
  j["parameters"] = {{"allocations", r.allocations}, {"seconds", r.seconds}};
  j["measured_s"] = r.window.wall_s;
  std::optional<double> per_alloc;
  if (r.rss_before && r.rss_after && r.allocations > 0) {
    per_alloc =
        (static_cast<double>(*r.rss_after) - static_cast<double>(*r.rss_before)) / r.allocations;
  }
  report->Add("rss_bytes_per_allocation", per_alloc, "bytes");
  report->Add("idle_server_cpu_share", r.window.server_share(), "cores");
  std::optional<double> per_alloc_s;
  if (r.window.server_cpu_s && r.window.wall_s > 0 && r.allocations > 0) {
    per_alloc_s = *r.window.server_cpu_s * 1e6 / r.allocations / r.window.wall_s;
  }
  report->Add("idle_cpu_us_per_allocation_per_s", per_alloc_s, "us");
  report->Add(
      "rss_before_bytes",
      r.rss_before ? std::optional<double>(static_cast<double>(*r.rss_before)) : std::nullopt,
      "bytes");
  report->Add("rss_after_bytes",
              r.rss_after ? std::optional<double>(static_cast<double>(*r.rss_after)) : std::nullopt,
              "bytes");
  report->Add("setup_allocations_per_s",
              r.setup_s > 0 ? std::optional<double>(r.allocations / r.setup_s) : std::nullopt,
              "allocations/s");
  report->Add("bench_cpu_share", r.window.bench_share(), "cores");
}

void ReportBinding(const BindingResult& r, PhaseReport* report) {
  Json& j = report->json();
  j["parameters"] = {{"sockets", r.sockets},
                     {"window", r.window_per_socket},
                     {"fingerprint", r.fingerprint},
                     {"seconds", r.seconds}};
  j["measured_s"] = r.window.wall_s;
  report->Add("binding_per_s", Ratio(static_cast<double>(r.responses), r.window.wall_s),
              "responses/s");
  report->Add("binding_p50_us", PercentileUs(r.rtt_ns, 50), "us");
  report->Add("binding_p99_us", PercentileUs(r.rtt_ns, 99), "us");
  report->AddCount("timeouts", r.timeouts, "requests");
  report->Add(
      "server_cpu_us_per_binding",
      r.responses > 0 && r.window.server_cpu_s
          ? std::optional<double>(*r.window.server_cpu_s * 1e6 / static_cast<double>(r.responses))
          : std::nullopt,
      "us");
  AddCpu(r.window, report);
  if (r.timeouts > 0) {
    report->Warn(
        "Binding requests went unanswered (cvrelay: unauth-rate=0 lifts the limit on "
        "unauthenticated answers per source address)");
  }
}

}  // namespace cv::bench
