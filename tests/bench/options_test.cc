// cvbench's command line: defaults, phases, and every refusal naming its option (exit 2).
#include "tests/bench/cvbench/options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <sstream>

namespace cv::bench {
namespace {

class CvbenchOptionsTest : public ::testing::Test {
 protected:
  // Parses `extra` after a valid minimal command line.
  std::optional<int> Parse(std::vector<std::string> extra,
                           std::vector<std::string> base = {"--server", "127.0.0.1:3478",
                                                            "--secret", "s", "--phase",
                                                            "efficiency"}) {
    base.insert(base.end(), extra.begin(), extra.end());
    out_.str("");
    err_.str("");
    options_ = Options();
    return ParseOptions(base, &options_, out_, err_);
  }
  // Expects exit 2 and a message that names `option`.
  void ExpectRefused(std::vector<std::string> extra, const std::string& option,
                     std::vector<std::string> base = {"--server", "127.0.0.1:3478", "--secret", "s",
                                                      "--phase", "efficiency"}) {
    auto code = Parse(extra, base);
    ASSERT_TRUE(code) << "accepted: " << ::testing::PrintToString(extra);
    EXPECT_EQ(*code, kExitUsage);
    EXPECT_NE(err_.str().find(option), std::string::npos)
        << "message does not name " << option << ": " << err_.str();
  }

  Options options_;
  std::ostringstream out_, err_;
};

TEST_F(CvbenchOptionsTest, MinimalCommandLineTakesTheDocumentedDefaults) {
  EXPECT_FALSE(Parse({}));
  EXPECT_EQ(options_.server.ToString(), "127.0.0.1:3478");
  EXPECT_EQ(options_.allocations, 1000u);
  EXPECT_EQ(options_.rate, 50);
  EXPECT_EQ(options_.payload, 172u);
  EXPECT_EQ(options_.duration_s, 10);
  EXPECT_EQ(options_.warmup_s, 2);
  EXPECT_EQ(options_.capacity_allocations, 64u);
  EXPECT_EQ(options_.capacity_start, 20000);
  EXPECT_EQ(options_.capacity_step, 1.25);
  EXPECT_EQ(options_.capacity_max, 2000000);
  EXPECT_EQ(options_.loss_threshold, 0.001);
  EXPECT_EQ(options_.latency_rates, std::vector<double>{10000});
  EXPECT_EQ(options_.burst_flows, 20u);
  EXPECT_EQ(options_.churn_concurrency, 64u);
  EXPECT_EQ(options_.idle_allocations, 10000u);
  EXPECT_EQ(options_.binding_sockets, 32u);
  EXPECT_EQ(options_.binding_window, 16u);
  EXPECT_EQ(options_.peer_ip.ToString(), "127.0.0.1");
  EXPECT_FALSE(options_.server_pid);
}

TEST_F(CvbenchOptionsTest, PhasesAreTakenInOrderAndAllMeansEvery) {
  EXPECT_FALSE(Parse({}, {"--server", "10.0.0.1", "--secret", "s", "--phase", "idle,churn"}));
  EXPECT_EQ(options_.server.port, 3478) << "default port";
  ASSERT_EQ(options_.phases.size(), 2u);
  EXPECT_EQ(options_.phases[0], Phase::kIdle);
  EXPECT_EQ(options_.phases[1], Phase::kChurn);
  EXPECT_FALSE(Parse({}, {"--server", "127.0.0.1:9", "--secret", "s", "--phase", "all"}));
  ASSERT_EQ(options_.phases.size(), 7u);
  EXPECT_EQ(options_.phases[0], Phase::kIdle) << "idle first, on the server's fresh memory";
  EXPECT_EQ(options_.phases[1], Phase::kEfficiency);
}

TEST_F(CvbenchOptionsTest, PhaseOptionsAndListsParse) {
  EXPECT_FALSE(
      Parse({"--latency-rates", "1000,2500.5", "--rate", "20", "--json", "-", "--quiet", "--label",
             "cvrelay-a", "--server-pid", std::to_string(getpid()), "--binding-fingerprint"}));
  EXPECT_EQ(options_.latency_rates, (std::vector<double>{1000, 2500.5}));
  EXPECT_EQ(options_.rate, 20);
  EXPECT_EQ(options_.json_path, "-");
  EXPECT_TRUE(options_.quiet);
  EXPECT_EQ(options_.label, "cvrelay-a");
  EXPECT_EQ(options_.server_pid, getpid());
  EXPECT_TRUE(options_.binding_fingerprint);
}

TEST_F(CvbenchOptionsTest, BindingAloneNeedsNoSecret) {
  EXPECT_FALSE(Parse({}, {"--server", "127.0.0.1:3478", "--phase", "binding"}));
}

TEST_F(CvbenchOptionsTest, BadValuesNameTheirOption) {
  ExpectRefused({"--rate", "0"}, "--rate");
  ExpectRefused({"--rate", "fast"}, "--rate");
  ExpectRefused({"--allocations", "0"}, "--allocations");
  ExpectRefused({"--payload", "8"}, "--payload");
  ExpectRefused({"--payload", "9000"}, "--payload");
  ExpectRefused({"--duration", "-1"}, "--duration");
  ExpectRefused({"--capacity-step", "1"}, "--capacity-step");
  ExpectRefused({"--capacity-start", "5000", "--capacity-max", "1000"}, "--capacity-max");
  ExpectRefused({"--loss-threshold", "2"}, "--loss-threshold");
  ExpectRefused({"--latency-rates", "100,-5"}, "--latency-rates");
  ExpectRefused({"--binding-window", "0"}, "--binding-window");
  ExpectRefused({"--churn-concurrency", "0"}, "--churn-concurrency");
  ExpectRefused({"--idle-allocations", "70000"}, "--idle-allocations");
  ExpectRefused({"--peer-ip", "localhost"}, "--peer-ip");
  ExpectRefused({"--peer-ip", "::1"}, "--peer-ip");
  ExpectRefused({"--server-pid", "999999999"}, "--server-pid");
  ExpectRefused({"--no-such-option"}, "--no-such-option");
}

TEST_F(CvbenchOptionsTest, ServerSecretAndPhaseAreChecked) {
  ExpectRefused({}, "--server", {"--secret", "s", "--phase", "churn"});
  ExpectRefused({}, "--server",
                {"--server", "turn.example.com", "--secret", "s", "--phase", "churn"});
  ExpectRefused({}, "--secret", {"--server", "127.0.0.1", "--phase", "churn"});
  ExpectRefused({}, "--phase", {"--server", "127.0.0.1", "--secret", "s"});
  ExpectRefused({}, "--phase", {"--server", "127.0.0.1", "--secret", "s", "--phase", "speed"});
}

TEST_F(CvbenchOptionsTest, HelpExitsZeroAndListsEveryPhaseOption) {
  auto code = Parse({"--help"});
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, kExitOk);
  for (const char* o : {"--capacity-step-seconds", "--latency-rates", "--burst-flows",
                        "--churn-seconds", "--idle-seconds", "--binding-window", "--json"}) {
    EXPECT_NE(out_.str().find(o), std::string::npos) << o;
  }
}

TEST_F(CvbenchOptionsTest, MaxSocketsCoversTheLargestPhase) {
  EXPECT_FALSE(Parse({}, {"--server", "127.0.0.1", "--secret", "s", "--phase", "all"}));
  EXPECT_EQ(options_.MaxSockets(), 10000u);
  EXPECT_FALSE(Parse({}, {"--server", "127.0.0.1", "--secret", "s", "--phase", "churn"}));
  EXPECT_EQ(options_.MaxSockets(), 64u);
}

}  // namespace
}  // namespace cv::bench
