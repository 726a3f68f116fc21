// cvctl as operators run it: the real binary, flags, environment and exit codes.
#include <gtest/gtest.h>
#include <sys/stat.h>

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

// The admin commands: the machine's own config files and CVCTL_* variables play no part where
// --config /dev/null and flags are given.
TEST(CvctlTest, HelpExitsZeroAndDocumentsExitCodes) {
  RunResult help = Cvctl({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("Exit codes:"), std::string::npos) << help.output;
  EXPECT_NE(help.output.find("4  not authorised (401, 403)"), std::string::npos) << help.output;
  RunResult grants = Cvctl({"grants", "add", "--help"});
  EXPECT_EQ(grants.exit_code, 0);
  EXPECT_NE(grants.output.find("--for DURATION"), std::string::npos) << grants.output;
}

TEST(CvctlTest, UnknownCommandExitsTwo) {
  RunResult r = Cvctl({"no-such-command"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("no-such-command"), std::string::npos) << r.output;
  EXPECT_EQ(Cvctl({"users", "show"}).exit_code, 2);
}

TEST(CvctlTest, UnreachableCvadminExitsFive) {
  const std::string url = "http://127.0.0.1:" + std::to_string(FreeTcpPort());
  RunResult r = Cvctl({"--config", "/dev/null", "--url", url, "--token", "cvctl-binary-token-0123",
                       "keys", "list"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.output.find("cvctl: cannot reach " + url + ": "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("cvctl-binary-token-0123"), std::string::npos) << r.output;
}

TEST(CvctlTest, TokenFileOthersCanReadIsRefusedWithExitTwo) {
  TempDir dir;
  const std::string token = dir.Write("token", "cvctl-binary-token-0123\n");
  ::chmod(token.c_str(), 0644);
  RunResult r = Cvctl({"--config", "/dev/null", "--token-file", token, "users", "list"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("chmod 600"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("cvctl-binary-token-0123"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace cv::testing
