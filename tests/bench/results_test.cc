// The figures computed from what a phase measured, and the JSON a finished run writes.
#include "tests/bench/cvbench/results.h"

#include <gtest/gtest.h>

#include <sstream>

namespace cv::bench {
namespace {

TrafficStats Traffic(uint64_t sent_each_way, uint64_t received_each_way, uint64_t latency_ns) {
  TrafficStats t;
  t.sent[0] = t.sent[1] = sent_each_way;
  t.received[0] = t.received[1] = received_each_way;
  t.latency.RecordN(latency_ns, 2 * received_each_way);
  return t;
}

CpuWindow Window(double wall, std::optional<double> server, double bench) {
  CpuWindow w;
  w.wall_s = wall;
  w.server_cpu_s = server;
  w.bench_cpu_s = bench;
  return w;
}

void ExpectFiniteNumber(const Json& j, const std::string& key) {
  ASSERT_TRUE(j.contains(key)) << key << " missing in " << j.dump();
  EXPECT_TRUE(j[key].is_number()) << key << " = " << j[key].dump();
}

TEST(CvbenchResultsTest, EfficiencyFiguresFollowFromTheWindow) {
  EfficiencyResult r;
  r.allocations = 1000;
  r.rate = 50;
  r.payload = 172;
  r.window = Window(10, 2.5, 4.0);
  r.traffic = Traffic(500'000, 499'500, 80'000);
  r.traffic.arrivals_in_window = 1'000'000;
  PhaseReport report("efficiency");
  ReportEfficiency(r, &report);
  const Json& j = report.json();
  EXPECT_DOUBLE_EQ(j["forwarded_pps"].get<double>(), 100'000);
  EXPECT_DOUBLE_EQ(j["server_cpu_us_per_packet"].get<double>(), 2.5);  // 2.5 s / 1e6 packets
  EXPECT_DOUBLE_EQ(j["loss_ratio"].get<double>(), 0.001);
  EXPECT_DOUBLE_EQ(j["server_cpu_share"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(j["bench_cpu_share"].get<double>(), 0.4);
  EXPECT_NEAR(j["latency_p50_us"].get<double>(), 80, 0.8);
  EXPECT_EQ(j["parameters"]["allocations"], 1000);
  EXPECT_TRUE(report.warnings().empty());
}

TEST(CvbenchResultsTest, WithoutServerPidCpuFiguresAreNull) {
  EfficiencyResult r;
  r.window = Window(10, std::nullopt, 1.0);
  r.traffic = Traffic(100, 100, 1000);
  r.traffic.arrivals_in_window = 200;
  PhaseReport report("efficiency");
  ReportEfficiency(r, &report);
  EXPECT_TRUE(report.json()["server_cpu_us_per_packet"].is_null());
  EXPECT_TRUE(report.json()["server_cpu_share"].is_null());
  ExpectFiniteNumber(report.json(), "forwarded_pps");
}

TEST(CvbenchResultsTest, BenchAboveNinetyPercentOfACoreWarns) {
  EfficiencyResult r;
  r.window = Window(10, 1.0, 9.5);
  r.traffic = Traffic(100, 100, 1000);
  PhaseReport report("efficiency");
  ReportEfficiency(r, &report);
  ASSERT_EQ(report.warnings().size(), 1u);
  EXPECT_NE(report.warnings()[0].find("limited by the bench"), std::string::npos);
}

TEST(CvbenchResultsTest, CapacityIsTheBestStepWithinTheLossThreshold) {
  CapacityResult r;
  r.loss_threshold = 0.001;
  auto step = [](double offered, double forwarded, uint64_t lost) {
    CapacityStep s;
    s.offered_pps = offered;
    s.window = Window(3, 1.5, 1.0);
    const auto sent = static_cast<uint64_t>(offered * 3 / 2);
    s.traffic = Traffic(sent, sent - lost, 50'000);
    s.traffic.arrivals_in_window = static_cast<uint64_t>(forwarded * 3);
    return s;
  };
  r.steps = {step(20000, 20000, 0), step(25000, 24990, 10), step(31250, 29000, 5000)};
  r.stop_reason = "loss";
  PhaseReport report("capacity");
  ReportCapacity(r, &report);
  const Json& j = report.json();
  EXPECT_DOUBLE_EQ(j["capacity_pps"].get<double>(), 24990);
  EXPECT_DOUBLE_EQ(j["capacity_offered_pps"].get<double>(), 25000);
  ASSERT_EQ(j["steps"].size(), 3u);
  for (const char* key :
       {"offered_pps", "forwarded_pps", "loss_ratio", "server_cpu_share", "bench_cpu_share"}) {
    ExpectFiniteNumber(j["steps"][2], key);
  }
  EXPECT_EQ(j["stop_reason"], "loss");
}

TEST(CvbenchResultsTest, BenchLimitedCapacitySaysSo) {
  CapacityResult r;
  CapacityStep s;
  s.offered_pps = 1e6;
  s.window = Window(3, 1.0, 2.9);
  s.traffic = Traffic(600'000, 600'000, 1000);
  s.traffic.arrivals_in_window = 1'200'000;
  r.steps = {s};
  r.stop_reason = "bench_limited";
  PhaseReport report("capacity");
  ReportCapacity(r, &report);
  bool said = false;
  for (const auto& w : report.warnings()) said |= w.find("lower bound") != std::string::npos;
  EXPECT_TRUE(said);
}

TEST(CvbenchResultsTest, AddedLatencyIsRelayedMinusBaselinePerPercentile) {
  LatencyResult r;
  LatencyRun run;
  run.rate_pps = 10000;
  run.baseline = Traffic(1000, 1000, 20'000);
  run.relayed = Traffic(1000, 1000, 70'000);
  run.relayed_window = Window(5, 0.5, 0.5);
  r.runs.push_back(run);
  PhaseReport report("latency");
  ReportLatency(r, &report);
  const Json& run_json = report.json()["runs"][0];
  EXPECT_NEAR(run_json["added_p50_us"].get<double>(), 50, 1.0);
  EXPECT_NEAR(run_json["added_p99_us"].get<double>(), 50, 1.0);
  EXPECT_NEAR(run_json["added_p999_us"].get<double>(), 50, 1.0);
  EXPECT_DOUBLE_EQ(run_json["loss_ratio"].get<double>(), 0);
  for (const char* key : {"p50_us", "p99_us", "p999_us", "loss_ratio"}) {
    ExpectFiniteNumber(run_json["baseline"], key);
    ExpectFiniteNumber(run_json["relayed"], key);
  }
}

TEST(CvbenchResultsTest, ChurnCountsAllocationsAndErrorsByCode) {
  ChurnResult r;
  r.window = Window(10, 2.0, 1.0);
  r.successes = 5000;
  r.allocate_ns.RecordN(2'000'000, 5000);
  r.errors["486"] = 3;
  r.errors["timeout"] = 1;
  PhaseReport report("churn");
  ReportChurn(r, &report);
  const Json& j = report.json();
  EXPECT_DOUBLE_EQ(j["allocations_per_s"].get<double>(), 500);
  EXPECT_NEAR(j["allocate_p99_ms"].get<double>(), 2.0, 0.02);
  EXPECT_EQ(j["errors_by_code"]["486"], 3);
  EXPECT_EQ(j["errors_by_code"]["timeout"], 1);
  EXPECT_DOUBLE_EQ(j["errors"].get<double>(), 4);
  EXPECT_DOUBLE_EQ(j["server_cpu_us_per_allocation"].get<double>(), 400);
}

TEST(CvbenchResultsTest, IdleMemoryAndCpuPerAllocation) {
  IdleResult r;
  r.allocations = 10000;
  r.rss_before = 10'000'000;
  r.rss_after = 30'000'000;
  r.window = Window(10, 0.05, 0.01);
  PhaseReport report("idle");
  ReportIdle(r, &report);
  const Json& j = report.json();
  EXPECT_DOUBLE_EQ(j["rss_bytes_per_allocation"].get<double>(), 2000);
  EXPECT_DOUBLE_EQ(j["idle_server_cpu_share"].get<double>(), 0.005);
  EXPECT_DOUBLE_EQ(j["idle_cpu_us_per_allocation_per_s"].get<double>(), 0.5);
}

TEST(CvbenchResultsTest, BindingRateAndLatency) {
  BindingResult r;
  r.window = Window(5, 1.0, 0.8);
  r.responses = 500'000;
  r.rtt_ns.RecordN(40'000, 500'000);
  PhaseReport report("binding");
  ReportBinding(r, &report);
  EXPECT_DOUBLE_EQ(report.json()["binding_per_s"].get<double>(), 100'000);
  EXPECT_NEAR(report.json()["binding_p99_us"].get<double>(), 40, 0.4);
}

TEST(CvbenchResultsTest, BurstFigures) {
  BurstResult r;
  r.window = Window(10, 0.2, 0.1);
  r.traffic = Traffic(0, 0, 0);
  r.traffic.sent[0] = 10'000;
  r.traffic.received[0] = 10'000;
  r.traffic.latency.RecordN(100'000, 10'000);
  r.keyframes_sent = 100;
  r.keyframe_ns.RecordN(900'000, 100);
  PhaseReport report("bursts");
  ReportBursts(r, &report);
  const Json& j = report.json();
  EXPECT_DOUBLE_EQ(j["loss_ratio"].get<double>(), 0);
  EXPECT_NEAR(j["burst_latency_p99_us"].get<double>(), 900, 9);
  EXPECT_DOUBLE_EQ(j["packets_received"].get<double>(), 10'000);
}

TEST(CvbenchResultsTest, ARunIsOneJsonObjectWithEveryPhaseUnderPhases) {
  Report run("cvrelay-a", "127.0.0.1:3478", 4242, 1'700'000'000);
  EfficiencyResult e;
  e.window = Window(10, 1.0, 1.0);
  e.traffic = Traffic(10, 10, 1000);
  e.traffic.arrivals_in_window = 20;
  ReportEfficiency(e, &run.Begin("efficiency"));
  IdleResult idle;
  idle.allocations = 10;
  idle.window = Window(1, std::nullopt, 0);
  ReportIdle(idle, &run.Begin("idle"));
  run.set_complete(true);
  const Json j = run.ToJson();
  EXPECT_EQ(j["label"], "cvrelay-a");
  EXPECT_EQ(j["server"], "127.0.0.1:3478");
  EXPECT_EQ(j["server_pid"], 4242);
  EXPECT_EQ(j["complete"], true);
  ASSERT_TRUE(j["phases"].is_object());
  ExpectFiniteNumber(j["phases"]["efficiency"], "forwarded_pps");
  EXPECT_TRUE(j["phases"]["efficiency"]["warnings"].is_array());
  EXPECT_TRUE(j["phases"]["idle"]["rss_bytes_per_allocation"].is_null());
  // Round trip through text: no NaN or infinity can have slipped in.
  EXPECT_EQ(Json::parse(j.dump()), j);

  std::ostringstream table;
  run.PrintTable(table);
  EXPECT_NE(table.str().find("efficiency  forwarded_pps"), std::string::npos) << table.str();
  EXPECT_NE(table.str().find("packets/s"), std::string::npos);
}

TEST(CvbenchResultsTest, NonFiniteValuesBecomeNull) {
  PhaseReport report("x");
  report.Add("nan", std::nan(""), "u");
  report.Add("none", std::nullopt, "u");
  EXPECT_TRUE(report.json()["nan"].is_null());
  EXPECT_TRUE(report.json()["none"].is_null());
  EXPECT_EQ(FormatValue(std::nullopt), "-");
  EXPECT_EQ(FormatValue(12345.0), "12345");
  EXPECT_EQ(FormatValue(0.25), "0.25");
}

}  // namespace
}  // namespace cv::bench
