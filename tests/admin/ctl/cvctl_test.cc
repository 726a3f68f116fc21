// cvctl as operators run it: the real binary, flags, environment and exit codes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cv/auth/rest_credentials.h"
#include "tests/support/process.h"

namespace cv::testing {
namespace {

RunResult Cvctl(std::vector<std::string> args) {
  args.insert(args.begin(), BinaryPath("cvctl"));
  return RunCommand(args, std::chrono::seconds(10));
}

TEST(CvctlTest, MintPrintsJsonThatVerifies) {
  RunResult r = Cvctl({"mint", "--secret", "shared-secret-for-cvctl", "--user", "alice", "--plan",
                       "pro", "--session", "s1", "--ttl", "120"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.output;
  const std::string username = j["username"];
  EXPECT_EQ(j["credential"], auth::RestPassword("shared-secret-for-cvctl", username));
  EXPECT_EQ(j["ttl"], 120);
  EXPECT_NE(username.find(":cv1;u=alice;s=s1;p=pro"), std::string::npos) << username;
}

TEST(CvctlTest, SecretFromTheEnvironment) {
  setenv("CVRELAY_SECRET", "env-secret-for-cvctl", 1);
  RunResult r = Cvctl({"mint", "--user", "bob", "--claimless"});
  unsetenv("CVRELAY_SECRET");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["credential"],
            auth::RestPassword("env-secret-for-cvctl", j["username"].get<std::string>()));
}

TEST(CvctlTest, UsageErrorsExitTwoAndHelpExitsZero) {
  EXPECT_EQ(Cvctl({"mint", "--secret", "x", "--user", "a", "--ttl", "abc"}).exit_code, 2);
  EXPECT_EQ(Cvctl({"mint", "--no-such-flag"}).exit_code, 2);
  EXPECT_EQ(Cvctl({}).exit_code, 2);
  RunResult help = Cvctl({"mint", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--secret-file"), std::string::npos);
  EXPECT_EQ(Cvctl({"--version"}).exit_code, 0);
}

TEST(CvctlTest, UnreadableSecretFileExitsOne) {
  RunResult r = Cvctl({"mint", "--secret-file", "/nonexistent", "--user", "a"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot read /nonexistent"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace cv::testing
