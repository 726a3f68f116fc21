// Integration: the real cvbench binary against a real cvrelay on loopback, every phase with tiny
// parameters. Checks that a run completes, that every figure the benchmarks rely on is present
// and finite, that nothing is lost on an idle machine's loopback, that the relay holds no
// allocation afterwards, and the exit codes of a refused run and of bad arguments. It never
// checks a timing value.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/credentials.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace cv::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kSecret[] = "cvbench-smoke-secret-0123";
constexpr char kToken[] = "cvbench-smoke-control-token-0123";

class CvbenchSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() + "/token", kToken);
    // The bench's own REST users and its many 401s from one address must not be throttled.
    ASSERT_TRUE(relay_.Start({"--listening-ip=127.0.0.1", "--listening-port=0",
                              "--relay-ip=127.0.0.1", "--min-port=47000", "--max-port=47999",
                              "--relay-threads=2", "--realm=bench.test", "--use-auth-secret",
                              std::string("--static-auth-secret=") + kSecret,
                              "--allowed-peer-ip=127.0.0.1", "--unauth-rate=0", "--allocate-rate=0",
                              "--user-allocate-rate=0", "--no-usage-ledger", "--admin-port=0",
                              "--admin-token-file=" + dir_.path() + "/token"}))
        << relay_.process().Output();
    ASSERT_TRUE(relay_.control_address()) << relay_.process().Output();
  }

  std::vector<std::string> Base() {
    return {BinaryPath("cvbench"),
            "--server",
            relay_.address().ToString(),
            "--secret",
            kSecret,
            "--server-pid",
            std::to_string(relay_.process().pid()),
            "--quiet"};
  }

  // Live allocations on the relay, from its control endpoint; -1 when unreadable.
  int Allocations() {
    auto r = HttpRequest(*relay_.control_address(), "GET", "/v1/health", "",
                         {{"Authorization", std::string("Bearer ") + kToken}});
    if (!r || r->status != 200) return -1;
    json j = json::parse(r->body, nullptr, false);
    return j.is_object() && j.contains("allocations") ? j["allocations"].get<int>() : -1;
  }

  static void ExpectFinite(const json& object, const std::string& key, const std::string& where) {
    ASSERT_TRUE(object.is_object()) << where;
    ASSERT_TRUE(object.contains(key)) << where << "." << key << " missing: " << object.dump();
    ASSERT_TRUE(object[key].is_number()) << where << "." << key << " = " << object[key].dump();
    EXPECT_TRUE(std::isfinite(object[key].get<double>())) << where << "." << key;
  }

  TempDir dir_;
  RelayProcess relay_;
};

TEST_F(CvbenchSmokeTest, EveryPhaseCompletesWithEveryFigure) {
  const std::string json_path = dir_.path() + "/run.json";
  std::vector<std::string> argv = Base();
  for (const char* a :
       {"--label", "smoke", "--phase", "efficiency,capacity,latency,bursts,churn,idle,binding",
        // efficiency: 20 allocations × 50 packets/s each way
        "--allocations", "20", "--rate", "50", "--duration", "1", "--warmup", "0.2",
        // capacity: two short steps, the second capped by --capacity-max
        "--capacity-allocations", "8", "--capacity-start", "2000", "--capacity-step", "2",
        "--capacity-max", "4000", "--capacity-step-seconds", "0.5", "--capacity-warmup", "0.2",
        // latency: 2000 packets/s, baseline then relayed
        "--latency-rates", "2000", "--latency-seconds", "1", "--latency-allocations", "8",
        "--latency-warmup", "0.2",
        // bursts: 2 video flows, a keyframe each within the second
        "--burst-flows", "2", "--burst-seconds", "1", "--burst-warmup", "0.2",
        "--keyframe-interval", "1",
        // churn, idle, binding
        "--churn-concurrency", "4", "--churn-seconds", "1", "--churn-warmup", "0.2",
        "--idle-allocations", "50", "--idle-seconds", "1", "--idle-settle", "0.2",
        "--binding-seconds", "1", "--binding-warmup", "0.2", "--binding-sockets", "4", "--json"}) {
    argv.push_back(a);
  }
  argv.push_back(json_path);
  RunResult run = RunCommand(argv, seconds(60));  // about 12 s of phases
  ASSERT_FALSE(run.timed_out) << run.output;
  ASSERT_EQ(run.exit_code, 0) << run.output;

  std::ifstream f(json_path);
  std::stringstream text;
  text << f.rdbuf();
  const json j = json::parse(text.str(), nullptr, false);
  ASSERT_TRUE(j.is_object()) << text.str();
  EXPECT_EQ(j["label"], "smoke");
  EXPECT_EQ(j["complete"], true);
  EXPECT_EQ(j["server_pid"], relay_.process().pid());
  const json& p = j["phases"];

  const json& e = p["efficiency"];
  for (const char* k : {"forwarded_pps", "server_cpu_us_per_packet", "loss_ratio",
                        "server_cpu_share", "bench_cpu_share"}) {
    ExpectFinite(e, k, "efficiency");
  }
  EXPECT_EQ(e["loss_ratio"], 0.0) << e.dump();
  EXPECT_GT(e["forwarded_pps"].get<double>(), 0);

  const json& c = p["capacity"];
  ExpectFinite(c, "capacity_pps", "capacity");
  ASSERT_TRUE(c["steps"].is_array());
  EXPECT_EQ(c["steps"].size(), 2u) << c.dump();
  for (const json& step : c["steps"]) {
    for (const char* k :
         {"offered_pps", "forwarded_pps", "loss_ratio", "server_cpu_share", "bench_cpu_share"}) {
      ExpectFinite(step, k, "capacity.steps[]");
    }
  }

  const json& l = p["latency"];
  ASSERT_TRUE(l["runs"].is_array());
  ASSERT_EQ(l["runs"].size(), 1u);
  const json& run0 = l["runs"][0];
  for (const char* k : {"added_p50_us", "added_p99_us", "added_p999_us", "loss_ratio"}) {
    ExpectFinite(run0, k, "latency.runs[0]");
  }
  for (const char* side : {"baseline", "relayed"}) {
    for (const char* k : {"p50_us", "p99_us", "p999_us", "loss_ratio"}) {
      ExpectFinite(run0[side], k, std::string("latency.runs[0].") + side);
    }
    EXPECT_EQ(run0[side]["loss_ratio"], 0.0) << run0.dump();
  }

  const json& b = p["bursts"];
  for (const char* k : {"loss_ratio", "packets_sent", "packets_received", "burst_latency_p99_us"}) {
    ExpectFinite(b, k, "bursts");
  }
  EXPECT_EQ(b["loss_ratio"], 0.0) << b.dump();
  EXPECT_GT(b["keyframes_complete"].get<double>(), 0) << b.dump();

  const json& ch = p["churn"];
  for (const char* k : {"allocations_per_s", "allocate_p50_ms", "allocate_p99_ms"}) {
    ExpectFinite(ch, k, "churn");
  }
  EXPECT_GT(ch["allocations_per_s"].get<double>(), 0);
  EXPECT_TRUE(ch["errors_by_code"].is_object());

  const json& id = p["idle"];
  for (const char* k :
       {"rss_bytes_per_allocation", "idle_server_cpu_share", "idle_cpu_us_per_allocation_per_s"}) {
    ExpectFinite(id, k, "idle");
  }

  const json& bi = p["binding"];
  for (const char* k : {"binding_per_s", "binding_p99_us"}) ExpectFinite(bi, k, "binding");
  EXPECT_GT(bi["binding_per_s"].get<double>(), 0);

  // The table went to stdout.
  EXPECT_NE(run.output.find("forwarded_pps"), std::string::npos) << run.output;

  // Everything allocated was deleted again.
  int live = -1;
  for (int i = 0; i < 20 && live != 0; ++i) {
    live = Allocations();
    if (live != 0) std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(live, 0) << relay_.process().Output();
}

TEST_F(CvbenchSmokeTest, WrongSecretExitsOneAndSaysWhy) {
  std::vector<std::string> argv = {BinaryPath("cvbench"),
                                   "--server",
                                   relay_.address().ToString(),
                                   "--secret",
                                   "not-the-secret",
                                   "--phase",
                                   "efficiency",
                                   "--allocations",
                                   "5",
                                   "--quiet"};
  RunResult run = RunCommand(argv, seconds(30));
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_NE(run.output.find("401"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("wrong secret or realm"), std::string::npos) << run.output;
  EXPECT_EQ(Allocations(), 0);
}

TEST_F(CvbenchSmokeTest, BadArgumentsExitTwoNamingTheOption) {
  std::vector<std::string> argv = Base();
  for (const char* a : {"--phase", "efficiency", "--payload", "3"}) argv.push_back(a);
  RunResult run = RunCommand(argv, seconds(10));
  EXPECT_EQ(run.exit_code, 2) << run.output;
  EXPECT_NE(run.output.find("--payload"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace cv::testing
