// cvctl's command line as a whole (admin/ctl/cli.cc): help on every command, usage errors, and
// where the connection settings come from, end to end against a real HTTP server.
#include "admin/ctl/cli.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/admin/ctl/fake_cvadmin.h"

namespace cv::ctl {
namespace {

using testing::FakeCvadmin;
using testing::FakeTransport;
using testing::InProcessCvctl;
using testing::kTestToken;
using testing::Outcome;

struct Command {
  std::vector<std::string> path;
  CLI::App* app;
};

void Walk(CLI::App* app, std::vector<std::string> path, std::vector<Command>* out) {
  out->push_back({path, app});
  for (CLI::App* sub : app->get_subcommands([](CLI::App* s) { return !s->get_name().empty(); })) {
    path.push_back(sub->get_name());
    Walk(sub, path, out);
    path.pop_back();
  }
}

bool Contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(CvctlCliTest, HelpWorksOnEveryCommandAndShowsWhatItDoesAndTakes) {
  CommandContext tree_ctx(std::cout, std::cerr, nullptr, Environment{});
  CLI::App tree;
  BuildCli(tree, tree_ctx, [] { return int64_t{0}; });
  std::vector<Command> commands;
  Walk(&tree, {}, &commands);
  ASSERT_GT(commands.size(), 45u);

  FakeTransport transport;
  for (const Command& c : commands) {
    std::string line = "cvctl";
    for (const std::string& p : c.path) line += " " + p;
    SCOPED_TRACE(line);
    std::vector<std::string> args = c.path;
    args.push_back("--help");
    InProcessCvctl cvctl;
    Outcome r = cvctl.Run(args, transport.fetcher());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_FALSE(c.app->get_description().empty());
    EXPECT_TRUE(Contains(r.out, c.app->get_description())) << r.out;
    EXPECT_TRUE(Contains(r.out, "Usage: " + line)) << r.out;
    for (const CLI::Option* option : c.app->get_options()) {
      const std::string name = option->get_name();  // "ID", "--tier"
      EXPECT_TRUE(Contains(r.out, name)) << name << " missing in\n" << r.out;
      if (option->get_name() != "--help" && option->get_name() != "--version") {
        EXPECT_FALSE(option->get_description().empty()) << name;
      }
    }
    for (const CLI::App* sub :
         c.app->get_subcommands([](CLI::App* s) { return !s->get_name().empty(); })) {
      EXPECT_TRUE(Contains(r.out, sub->get_name())) << r.out;
    }
    if (!c.path.empty() && c.path[0] != "mint") {
      EXPECT_TRUE(Contains(r.out, "Exit codes: 0 success, 1 refused (4xx), 2 usage")) << r.out;
      EXPECT_TRUE(Contains(r.out, "TIME: Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"));
    }
    EXPECT_TRUE(transport.seen().empty());
  }
}

TEST(CvctlCliTest, TopLevelHelpListsExitCodesAndGlobalOptions) {
  InProcessCvctl cvctl;
  Outcome r = cvctl.Run({"--help"}, nullptr);
  EXPECT_EQ(r.exit_code, 0);
  for (const char* needle :
       {"--url URL", "--token-file FILE", "--token TOKEN", "--config PATH", "--timeout SECONDS",
        "-o,--output FORMAT", "CVCTL_URL", "CVCTL_TOKEN_FILE", "$CVCTL_CONFIG",
        "~/.config/cvctl/config", "/etc/cvrelay/cvctl.conf", "Exit codes:", "  0  success",
        "  1  the server refused the request", "  2  usage or configuration error",
        "  3  not found (404)", "  4  not authorised (401, 403)",
        "  5  cvadmin unreachable or timed out, a 5xx, or an unreadable answer"}) {
    EXPECT_TRUE(Contains(r.out, needle)) << needle;
  }
  EXPECT_EQ(cvctl.Run({"--version"}, nullptr).exit_code, 0);
}

class CvctlUsageTest : public ::testing::Test {
 protected:
  // A usage error: exit 2, nothing sent, the message on stderr.
  void ExpectUsageError(std::vector<std::string> args, const std::string& needle,
                        bool with_connection = true) {
    std::string line;
    for (const std::string& a : args) line += a + " ";
    SCOPED_TRACE(line);
    if (with_connection) {
      args.insert(args.end(), {"--url", transport_.url(), "--token-file", cvctl_.token_file()});
    }
    Outcome r = cvctl_.Run(args, transport_.fetcher());
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_TRUE(Contains(r.err, needle)) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_TRUE(transport_.seen().empty());
  }

  InProcessCvctl cvctl_;
  FakeTransport transport_;
};

TEST_F(CvctlUsageTest, BadArgumentsExitTwoBeforeAnythingIsSent) {
  ExpectUsageError({}, "A subcommand is required");
  ExpectUsageError({"users"}, "A subcommand is required");
  ExpectUsageError({"no-such-command"},
                   "cvctl: unknown command or unexpected argument: no-such-command");
  ExpectUsageError({"users", "remove", "alice"},
                   "cvctl: unknown command or unexpected argument: remove alice");
  ExpectUsageError({"users", "show"}, "ID is required");
  ExpectUsageError({"users", "show", "a", "b"}, "not expected: b");
  ExpectUsageError({"users", "create", "alice"}, "--tier is required");
  ExpectUsageError({"users", "list", "--limit", "0"}, "--limit");
  ExpectUsageError({"users", "list", "--limit", "many"}, "--limit");
  ExpectUsageError({"users", "create", "a", "--tier", "trial", "--trial-ends", "tomorrow"},
                   "bad TIME 'tomorrow'");
  ExpectUsageError({"users", "set-tier", "a", "trial", "--trial-ends", "2026-02-30"},
                   "no such date");
  ExpectUsageError({"flags", "set", "alice", "recording", "yes"}, "STATE");
  ExpectUsageError({"grants", "add", "alice", "tier", "pro"}, "Exactly 1");
  ExpectUsageError(
      {"grants", "add", "alice", "tier", "pro", "--for", "1d", "--until", "2030-01-01"},
      "Exactly 1");
  ExpectUsageError({"grants", "add", "alice", "tier", "pro", "--for", "1w"}, "bad DURATION '1w'");
  ExpectUsageError({"grants", "add", "alice", "tier", "pro", "--for", "1d", "--from", "soon"},
                   "bad TIME 'soon'");
  ExpectUsageError({"grants", "remove", "alice", "seven"}, "GRANT_ID");
  ExpectUsageError({"revoke", "user", "mallory", "--ttl", "0"}, "must be more than zero");
  ExpectUsageError({"revocations", "lift", "everyone", "x"}, "KIND");
  ExpectUsageError({"reports", "usage", "--period", "week"}, "--period");
  ExpectUsageError({"reports", "call-quality", "--from", "2025-11-31"}, "no such date");
  ExpectUsageError({"keys", "rotate-token", "--overlap", "1y"}, "bad DURATION '1y'");
  ExpectUsageError({"audit", "--since", "yesterday"}, "bad TIME 'yesterday'");
  ExpectUsageError({"keys", "list", "-o", "yaml"}, "--output");
  ExpectUsageError({"keys", "list", "--timeout", "0"}, "--timeout");
}

TEST_F(CvctlUsageTest, ConfigurationErrorsExitTwoBeforeAnythingIsSent) {
  ExpectUsageError({"keys", "list"}, "cvctl: no admin token: give --token-file FILE", false);
  ExpectUsageError({"keys", "list", "--token-file", cvctl_.dir().path() + "/missing"},
                   "cvctl: cannot use token file " + cvctl_.dir().path() + "/missing", false);
  const std::string open_file = cvctl_.dir().Write("open-token", std::string(kTestToken) + "\n");
  ::chmod(open_file.c_str(), 0644);
  ExpectUsageError({"keys", "list", "--token-file", open_file},
                   "cvctl: cannot use token file " + open_file +
                       ": group or others have access to it; chmod 600 (from --token-file)",
                   false);
  ExpectUsageError({"keys", "list", "--token", kTestToken, "--url", "https://cvadmin.test"},
                   "cvctl: bad URL from --url: https is not supported", false);
  ExpectUsageError({"keys", "list", "--token", kTestToken, "--config", "/nonexistent/cvctl.conf"},
                   "cvctl: cannot read config file /nonexistent/cvctl.conf", false);
  const std::string bad_config = cvctl_.dir().Write("bad.conf", "url = http://x\ncolour = red\n");
  ExpectUsageError({"keys", "list", "--token", kTestToken, "--config", bad_config},
                   "cvctl: " + bad_config + ":2: unknown key 'colour'", false);
}

TEST(CvctlCliTest, MintStillWorksOffline) {
  InProcessCvctl cvctl;
  Outcome r = cvctl.Run({"mint", "--secret", "shared-secret-for-cvctl", "--user", "alice",
                         "--session", "s1", "--ttl", "60"},
                        nullptr);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ttl"], 60);
  EXPECT_EQ(j["expires"], 1'800'000'060);
}

// --- Where settings come from, end to end -----------------------------------------------------

class CvctlPrecedenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    server_ = FakeCvadmin::Start(&error);
    ASSERT_NE(server_, nullptr) << error;
    server_->Answer(200, R"({"token_keys":[]})");
  }

  std::string Private(const std::string& name, const std::string& content) {
    const std::string path = cvctl_.dir().Write(name, content);
    ::chmod(path.c_str(), 0600);
    return path;
  }

  // Runs `keys list` and returns the token the server saw ("" when nothing arrived).
  std::string TokenSeen(const std::vector<std::string>& flags) {
    const size_t before = server_->seen().size();
    std::vector<std::string> args = flags;
    args.insert(args.end(), {"keys", "list"});
    Outcome r = cvctl_.Run(args, http::Fetch);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    if (server_->seen().size() == before) return "";
    return server_->seen().back().authorization;
  }

  InProcessCvctl cvctl_;
  std::unique_ptr<FakeCvadmin> server_;
  const std::string dead_url_ = "http://127.0.0.1:" + std::to_string(cv::testing::FreeTcpPort());
};

TEST_F(CvctlPrecedenceTest, UrlComesFromTheFlagThenTheEnvironmentThenTheConfigFile) {
  cvctl_.vars["CVCTL_TOKEN_FILE"] = cvctl_.token_file();
  const std::string bearer = std::string("Bearer ") + kTestToken;
  // The config file alone.
  cvctl_.vars["CVCTL_CONFIG"] = Private("c1.conf", "url = " + server_->url() + "\n");
  EXPECT_EQ(TokenSeen({}), bearer);
  // The environment over the config file.
  cvctl_.vars["CVCTL_CONFIG"] = Private("c2.conf", "url = " + dead_url_ + "\n");
  cvctl_.vars["CVCTL_URL"] = server_->url();
  EXPECT_EQ(TokenSeen({}), bearer);
  // The flag over both.
  cvctl_.vars["CVCTL_URL"] = dead_url_;
  EXPECT_EQ(TokenSeen({"--url", server_->url()}), bearer);
  // And the config file found at ~/.config/cvctl/config.
  cvctl_.vars.erase("CVCTL_URL");
  cvctl_.vars.erase("CVCTL_CONFIG");
  ::mkdir((cvctl_.dir().path() + "/home").c_str(), 0700);
  ::mkdir((cvctl_.dir().path() + "/home/.config").c_str(), 0700);
  ::mkdir((cvctl_.dir().path() + "/home/.config/cvctl").c_str(), 0700);
  Private("home/.config/cvctl/config", "url = " + server_->url() + "\n");
  EXPECT_EQ(TokenSeen({}), bearer);
  EXPECT_EQ(server_->seen().size(), 4u);
}

TEST_F(CvctlPrecedenceTest, TokenComesFromTheFlagThenTheEnvironmentThenTheConfigFile) {
  const std::string flag_file = Private("flag-token", "flag-token-0123456789\n");
  const std::string env_file = Private("env-token", "env-token-0123456789\n");
  const std::string url = server_->url();
  cvctl_.vars["CVCTL_CONFIG"] =
      Private("cvctl.conf", "url = " + url + "\ntoken = file-token-0123456789\n");
  EXPECT_EQ(TokenSeen({}), "Bearer file-token-0123456789");
  cvctl_.vars["CVCTL_TOKEN"] = "env-token-abcdefghij";
  EXPECT_EQ(TokenSeen({}), "Bearer env-token-abcdefghij");
  cvctl_.vars.erase("CVCTL_TOKEN");
  cvctl_.vars["CVCTL_TOKEN_FILE"] = env_file;
  EXPECT_EQ(TokenSeen({}), "Bearer env-token-0123456789");
  EXPECT_EQ(TokenSeen({"--token-file", flag_file}), "Bearer flag-token-0123456789");
  EXPECT_EQ(TokenSeen({"--token", "flag-token-abcdefghij"}), "Bearer flag-token-abcdefghij");
}

TEST_F(CvctlPrecedenceTest, TimeoutAndOutputComeFromTheFlagThenTheConfigFile) {
  cvctl_.vars["CVCTL_CONFIG"] =
      Private("cvctl.conf", "url = " + server_->url() + "\ntoken-file = " + cvctl_.token_file() +
                                "\noutput = json\ntimeout = 2\n");
  Outcome r = cvctl_.Run({"keys", "list"}, http::Fetch);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\n  \"token_keys\": []\n}\n");
  r = cvctl_.Run({"keys", "list", "-o", "table"}, http::Fetch);
  EXPECT_EQ(r.out, "no token_keys\n");

  FakeTransport transport;
  cvctl_.Run({"keys", "list"}, transport.fetcher());
  EXPECT_EQ(transport.last_timeout_ms(), 2000);
  cvctl_.Run({"keys", "list", "--timeout", "7"}, transport.fetcher());
  EXPECT_EQ(transport.last_timeout_ms(), 7000);
}

}  // namespace
}  // namespace cv::ctl
