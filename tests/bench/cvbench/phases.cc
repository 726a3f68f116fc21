#include "tests/bench/cvbench/phases.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>

#include "tests/bench/cvbench/allocation_pool.h"
#include "tests/bench/cvbench/binding.h"
#include "tests/bench/cvbench/churn.h"

namespace cv::bench {
namespace {

// A progress line about once a second while traffic runs:
//   [capacity] step 3 offered 120000 pps  sent 119990 pps  received 119980 pps  loss 0.00%  1.0/3 s
std::function<void(uint64_t)> TrafficLine(BenchContext& ctx, AllocationPool& pool,
                                          std::string prefix, uint8_t epoch, double total_s) {
  struct State {
    uint64_t start = NowNs();
    uint64_t last_ns = NowNs();
    uint64_t last_sent = 0;
    uint64_t last_arrivals = 0;
  };
  auto st = std::make_shared<State>();
  st->last_sent = pool.Epoch(epoch).traffic.total_sent();
  st->last_arrivals = pool.arrivals();
  return [&ctx, &pool, prefix = std::move(prefix), epoch, total_s, st](uint64_t now) {
    if (!ctx.progress.Due(now)) return;
    const TrafficStats& t = pool.Epoch(epoch).traffic;
    const double dt = std::max(1e-9, static_cast<double>(now - st->last_ns) / 1e9);
    const double sent = static_cast<double>(t.total_sent() - st->last_sent) / dt;
    const double received = static_cast<double>(pool.arrivals() - st->last_arrivals) / dt;
    st->last_ns = now;
    st->last_sent = t.total_sent();
    st->last_arrivals = pool.arrivals();
    char loss[48] = "";
    if (epoch != 0 && t.total_sent() > 0) {
      // Packets still in flight count as lost here; the figure after the drain does not.
      const double l = 1.0 - static_cast<double>(t.total_received()) / t.total_sent();
      std::snprintf(loss, sizeof(loss), "  loss %.2f%%", std::max(0.0, l) * 100);
    }
    char buf[256];
    std::snprintf(buf, sizeof(buf), "%s  sent %.0f pps  received %.0f pps%s  %.1f/%.4g s",
                  prefix.c_str(), sent, received, loss, static_cast<double>(now - st->start) / 1e9,
                  total_s);
    ctx.progress.Print(buf);
  };
}

// Sets up a pool; on failure deletes what was allocated and reports the error.
std::unique_ptr<AllocationPool> SetupPool(BenchContext& ctx, const std::string& phase,
                                          uint32_t count, bool bind_channel, std::string* error) {
  auto pool = std::make_unique<AllocationPool>(ctx, phase, count, bind_channel);
  if (!pool->Setup()) {
    *error = pool->error();
    pool->DeleteAll();
    return nullptr;
  }
  return pool;
}

void WarnMaintenance(const AllocationPool& pool, PhaseReport* report) {
  if (pool.maintenance_errors() > 0) {
    report->Warn(std::to_string(pool.maintenance_errors()) +
                 " refreshes or deletions were refused or unanswered");
  }
  if (pool.stray() > 0) {
    report->Warn(std::to_string(pool.stray()) +
                 " datagrams were neither a reply nor one of the bench's media packets");
  }
  if (pool.send_refused() > 0) {
    report->Warn(std::to_string(pool.send_refused()) +
                 " datagrams were refused by the bench's own sockets (send buffer full)");
  }
}

// Runs `seconds` of traffic in `epoch` after `warmup_s` in epoch 0, then drains; returns the
// window with the arrivals in it. The plan is started here.
struct Measured {
  CpuWindow window;
  uint64_t arrivals = 0;
  uint64_t rx_drops = 0;
};
Measured MeasureTraffic(BenchContext& ctx, AllocationPool& pool, const TrafficPlan& plan,
                        uint8_t epoch, double warmup_s, double seconds, const std::string& prefix) {
  pool.StartTraffic(plan, 0);
  if (warmup_s > 0) pool.Run(warmup_s, TrafficLine(ctx, pool, prefix + " warm-up", 0, warmup_s));
  pool.SetEpoch(epoch);
  CpuMeter meter(ctx);
  const uint64_t arrivals = pool.arrivals();
  const uint64_t drops = pool.rx_drops();
  meter.Start();
  pool.Run(seconds, TrafficLine(ctx, pool, prefix + " measuring", epoch, seconds));
  Measured m;
  m.window = meter.Stop();
  m.arrivals = pool.arrivals() - arrivals;
  pool.StopTraffic();
  pool.Run(ctx.options.drain_s);
  pool.FinishKeyframes();
  m.rx_drops = pool.rx_drops() - drops;
  return m;
}

}  // namespace

bool RunEfficiency(BenchContext& ctx, PhaseReport* report, std::string* error) {
  const Options& o = ctx.options;
  auto pool = SetupPool(ctx, "efficiency", o.allocations, true, error);
  if (!pool) return false;
  TrafficPlan plan;
  plan.pps[0] = plan.pps[1] = o.rate;
  plan.payload = o.payload;
  const Measured m = MeasureTraffic(ctx, *pool, plan, 1, o.warmup_s, o.duration_s, "[efficiency]");
  EfficiencyResult r;
  r.allocations = o.allocations;
  r.rate = o.rate;
  r.payload = o.payload;
  r.duration_s = o.duration_s;
  r.warmup_s = o.warmup_s;
  r.window = m.window;
  r.traffic = pool->Epoch(1).traffic;
  r.traffic.arrivals_in_window = m.arrivals;
  r.bench_rx_drops = m.rx_drops;
  pool->DeleteAll();
  ReportEfficiency(r, report);
  report->json()["setup_s"] = pool->setup_seconds();
  WarnMaintenance(*pool, report);
  return true;
}

bool RunCapacity(BenchContext& ctx, PhaseReport* report, std::string* error) {
  const Options& o = ctx.options;
  const uint32_t n = o.capacity_allocations;
  auto pool = SetupPool(ctx, "capacity", n, true, error);
  if (!pool) return false;
  CapacityResult r;
  r.allocations = n;
  r.step_s = o.capacity_step_s;
  r.payload = o.payload;
  r.loss_threshold = o.loss_threshold;
  r.step_factor = o.capacity_step;
  TrafficPlan plan;
  plan.payload = o.payload;
  double rate = o.capacity_start;
  auto per_flow = [n](double total) { return total / (2.0 * n); };
  plan.pps[0] = plan.pps[1] = per_flow(rate);
  pool->StartTraffic(plan, 0);
  if (o.capacity_warmup_s > 0) {
    pool->Run(o.capacity_warmup_s,
              TrafficLine(ctx, *pool, "[capacity] warm-up", 0, o.capacity_warmup_s));
  }
  for (int step = 1;; ++step) {
    if (Interrupted()) {
      r.stop_reason = "interrupted";
      break;
    }
    if (rate > o.capacity_max * (1 + 1e-9)) {
      r.stop_reason = "capacity_max";
      break;
    }
    if (step > 250) {
      r.stop_reason = "capacity_max";
      break;
    }
    plan.pps[0] = plan.pps[1] = per_flow(rate);
    const auto epoch = static_cast<uint8_t>(step);
    char prefix[96];
    std::snprintf(prefix, sizeof(prefix), "[capacity] step %d offered %.0f pps", step, rate);
    CapacityStep s;
    s.offered_pps = rate;
    const Measured m = MeasureTraffic(ctx, *pool, plan, epoch, 0, o.capacity_step_s, prefix);
    s.window = m.window;
    s.traffic = pool->Epoch(epoch).traffic;
    s.traffic.arrivals_in_window = m.arrivals;
    s.bench_rx_drops = m.rx_drops;
    r.steps.push_back(s);
    const auto loss = s.traffic.loss_ratio();
    char line[200];
    std::snprintf(line, sizeof(line),
                  "[capacity] step %d offered %.0f pps  sent %.0f pps  forwarded %.0f pps  "
                  "loss %.4f%%",
                  step, rate, s.sent_pps(), s.forwarded_pps(), loss.value_or(1.0) * 100);
    ctx.progress.Print(line);
    // The bench is the limit when it could not send the offered rate, or when its own receive
    // buffers dropped most of what was lost.
    const uint64_t lost =
        s.traffic.total_sent() - std::min(s.traffic.total_sent(), s.traffic.total_received());
    if (s.sent_pps() < 0.95 * rate || (lost > 0 && 2 * m.rx_drops >= lost)) {
      r.stop_reason = "bench_limited";
      break;
    }
    if (!loss || *loss > o.loss_threshold) {
      r.stop_reason = "loss";
      break;
    }
    const double next = rate * o.capacity_step;
    // One last step exactly at the maximum before stopping there.
    if (next > o.capacity_max && rate < o.capacity_max) {
      rate = o.capacity_max;
    } else {
      rate = next;
    }
  }
  pool->DeleteAll();
  ReportCapacity(r, report);
  WarnMaintenance(*pool, report);
  return true;
}

bool RunLatency(BenchContext& ctx, PhaseReport* report, std::string* error) {
  const Options& o = ctx.options;
  const uint32_t n = o.latency_allocations;
  auto pool = SetupPool(ctx, "latency", n, true, error);
  if (!pool) return false;
  LatencyResult r;
  r.allocations = n;
  r.payload = o.payload;
  r.seconds = o.latency_s;
  uint8_t epoch = 1;
  for (double rate : o.latency_rates) {
    if (Interrupted()) break;
    LatencyRun run;
    run.rate_pps = rate;
    TrafficPlan plan;
    plan.payload = o.payload;
    plan.pps[0] = plan.pps[1] = rate / (2.0 * n);
    char prefix[96];
    // The same sockets, rate, sizes and code, without the relay.
    plan.relayed = false;
    std::snprintf(prefix, sizeof(prefix), "[latency] %.0f pps baseline", rate);
    MeasureTraffic(ctx, *pool, plan, epoch, o.latency_warmup_s, o.latency_s, prefix);
    run.baseline = pool->Epoch(epoch).traffic;
    ++epoch;
    plan.relayed = true;
    std::snprintf(prefix, sizeof(prefix), "[latency] %.0f pps relayed", rate);
    const Measured m =
        MeasureTraffic(ctx, *pool, plan, epoch, o.latency_warmup_s, o.latency_s, prefix);
    run.relayed = pool->Epoch(epoch).traffic;
    run.relayed.arrivals_in_window = m.arrivals;
    run.relayed_window = m.window;
    ++epoch;
    r.runs.push_back(std::move(run));
  }
  pool->DeleteAll();
  ReportLatency(r, report);
  WarnMaintenance(*pool, report);
  return true;
}

bool RunBursts(BenchContext& ctx, PhaseReport* report, std::string* error) {
  const Options& o = ctx.options;
  auto pool = SetupPool(ctx, "bursts", o.burst_flows, true, error);
  if (!pool) return false;
  TrafficPlan plan;
  plan.video = true;
  plan.payload = o.burst_payload;
  plan.fps = o.burst_fps;
  plan.keyframe_every = std::max<uint32_t>(
      1, static_cast<uint32_t>(std::lround(o.keyframe_interval_s * o.burst_fps)));
  plan.keyframe_packets = o.keyframe_packets;
  plan.delta_packets = o.delta_packets;
  const Measured m = MeasureTraffic(ctx, *pool, plan, 1, o.burst_warmup_s, o.burst_s, "[bursts]");
  BurstResult r;
  r.flows = o.burst_flows;
  r.seconds = o.burst_s;
  r.payload = o.burst_payload;
  r.fps = o.burst_fps;
  r.keyframe_interval_s = plan.keyframe_every / o.burst_fps;
  r.keyframe_packets = o.keyframe_packets;
  r.delta_packets = o.delta_packets;
  r.window = m.window;
  r.traffic = pool->Epoch(1).traffic;
  r.traffic.arrivals_in_window = m.arrivals;
  r.keyframes_sent = pool->Epoch(1).keyframes_sent;
  r.keyframe_ns = pool->Epoch(1).keyframes;
  r.bench_rx_drops = m.rx_drops;
  pool->DeleteAll();
  ReportBursts(r, report);
  WarnMaintenance(*pool, report);
  return true;
}

bool RunChurn(BenchContext& ctx, PhaseReport* report, std::string* error) {
  ChurnRunner runner(ctx);
  ChurnResult r;
  if (!runner.Run(&r, error)) return false;
  ReportChurn(r, report);
  return true;
}

bool RunIdle(BenchContext& ctx, PhaseReport* report, std::string* error) {
  const Options& o = ctx.options;
  IdleResult r;
  r.allocations = o.idle_allocations;
  r.seconds = o.idle_s;
  if (ctx.server) r.rss_before = ctx.server->RssBytes();
  auto pool = std::make_unique<AllocationPool>(ctx, "idle", o.idle_allocations, true);
  pool->set_maintain(false);  // lifetimes are 600 s: nothing is refreshed while idle
  if (!pool->Setup()) {
    *error = pool->error();
    pool->DeleteAll();
    return false;
  }
  r.setup_s = pool->setup_seconds();
  ctx.progress.Print("[idle] " + std::to_string(o.idle_allocations) + " allocations in " +
                     std::to_string(r.setup_s).substr(0, 5) + " s; settling");
  pool->Run(o.idle_settle_s);
  if (ctx.server) r.rss_after = ctx.server->RssBytes();
  CpuMeter meter(ctx);
  meter.Start();
  const uint64_t start = NowNs();
  pool->Run(o.idle_s, [&](uint64_t now) {
    if (!ctx.progress.Due(now)) return;
    char buf[96];
    std::snprintf(buf, sizeof(buf), "[idle] idle %.1f/%.4g s",
                  static_cast<double>(now - start) / 1e9, o.idle_s);
    ctx.progress.Print(buf);
  });
  r.window = meter.Stop();
  pool->DeleteAll();
  ReportIdle(r, report);
  WarnMaintenance(*pool, report);
  if (!ctx.server) report->Warn("no --server-pid: memory and CPU figures are not measured");
  return true;
}

bool RunBinding(BenchContext& ctx, PhaseReport* report, std::string* error) {
  BindingRunner runner(ctx);
  BindingResult r;
  if (!runner.Run(&r, error)) return false;
  ReportBinding(r, report);
  return true;
}

bool RunPhase(Phase phase, BenchContext& ctx, PhaseReport* report, std::string* error) {
  switch (phase) {
    case Phase::kEfficiency:
      return RunEfficiency(ctx, report, error);
    case Phase::kCapacity:
      return RunCapacity(ctx, report, error);
    case Phase::kLatency:
      return RunLatency(ctx, report, error);
    case Phase::kBursts:
      return RunBursts(ctx, report, error);
    case Phase::kChurn:
      return RunChurn(ctx, report, error);
    case Phase::kIdle:
      return RunIdle(ctx, report, error);
    case Phase::kBinding:
      return RunBinding(ctx, report, error);
  }
  return false;
}

}  // namespace cv::bench
