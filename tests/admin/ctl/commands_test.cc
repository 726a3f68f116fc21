// Every cvctl admin command, run in-process against a fake transport and against a real HTTP
// server: the request it sends (method, path, query, body, token), what it prints and its exit
// code (docs/admin-api.md is the contract; docs/cvctl.md the promise to operators).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <set>

#include "admin/ctl/cli.h"
#include "tests/admin/ctl/fake_cvadmin.h"

namespace cv::ctl {
namespace {

using Json = nlohmann::json;
using testing::Backend;
using testing::FakeCvadmin;
using testing::FakeTransport;
using testing::InProcessCvctl;
using testing::kTestToken;
using testing::Outcome;
using testing::Seen;

constexpr char kKey[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
constexpr int64_t kDec1 = 1796083200;      // 2026-12-01
constexpr int64_t kNov14 = 1763078400;     // 2025-11-14
constexpr int64_t kNov21 = 1763683200;     // 2025-11-21
constexpr int64_t kNov21At8 = 1763712000;  // 2025-11-21T08:00:00Z

struct Case {
  std::vector<std::string> args;
  std::string method;
  std::string target;  // path and query as sent
  Json body;           // null: no body
};

// One case (at least) per command, with its options.
std::vector<Case> Cases() {
  const Json none = nullptr;
  return {
      {{"users", "list"}, "GET", "/admin/users", none},
      {{"users", "list", "--tier", "pro", "--after", "bob", "--limit", "5"},
       "GET",
       "/admin/users?tier=pro&after=bob&limit=5",
       none},
      {{"users", "show", "alice@example.org"}, "GET", "/admin/users/alice%40example.org", none},
      {{"users", "create", "alice", "--tier", "trial", "--public-key", kKey, "--mode", "CREATOR",
        "--trial-ends", "2026-12-01"},
       "POST",
       "/admin/users",
       {{"id", "alice"},
        {"tier", "trial"},
        {"public_key", kKey},
        {"mode", "CREATOR"},
        {"trial_ends_at", kDec1}}},
      {{"users", "create", "bob", "--tier", "free"},
       "POST",
       "/admin/users",
       {{"id", "bob"}, {"tier", "free"}}},
      {{"users", "set-key", "alice", kKey},
       "PUT",
       "/admin/users/alice/key",
       {{"public_key", kKey}}},
      {{"users", "set-tier", "alice", "trial", "--trial-ends", "2026-12-01T12:00:00Z"},
       "POST",
       "/admin/users/alice/tier",
       {{"tier", "trial"}, {"trial_ends_at", kDec1 + 12 * 3600}}},
      {{"users", "set-tier", "alice", "free"},
       "POST",
       "/admin/users/alice/tier",
       {{"tier", "free"}}},
      {{"users", "set-mode", "alice", "business"},
       "POST",
       "/admin/users/alice/mode",
       {{"mode", "business"}}},
      {{"users", "entitlements", "alice"}, "GET", "/admin/users/alice/entitlements", none},

      {{"flags", "list", "alice"}, "GET", "/admin/users/alice/flags", none},
      {{"flags", "set", "alice", "recording", "on"},
       "PUT",
       "/admin/users/alice/flags/recording",
       {{"enabled", true}}},
      {{"flags", "set", "alice", "exports", "off"},
       "PUT",
       "/admin/users/alice/flags/exports",
       {{"enabled", false}}},
      {{"flags", "clear", "alice", "recording"},
       "DELETE",
       "/admin/users/alice/flags/recording",
       none},

      {{"overrides", "list", "alice"}, "GET", "/admin/users/alice/overrides", none},
      {{"overrides", "set", "alice", "calls_per_day", "5"},
       "PUT",
       "/admin/users/alice/overrides/calls_per_day",
       {{"value", 5}}},
      {{"overrides", "set", "alice", "video", "always"},
       "PUT",
       "/admin/users/alice/overrides/video",
       {{"value", "always"}}},
      {{"overrides", "clear", "alice", "video"},
       "DELETE",
       "/admin/users/alice/overrides/video",
       none},

      {{"grants", "list", "alice"}, "GET", "/admin/users/alice/grants", none},
      {{"grants", "list", "alice", "--all"}, "GET", "/admin/users/alice/grants?all=1", none},
      {{"grants", "add", "alice", "tier", "pro", "--for", "7d", "--reason", "support ticket 4411"},
       "POST",
       "/admin/users/alice/grants",
       {{"key", "tier"},
        {"value", "pro"},
        {"duration_s", 604800},
        {"reason", "support ticket 4411"}}},
      {{"grants", "add", "alice", "calls_per_day", "20", "--until", "2026-12-01"},
       "POST",
       "/admin/users/alice/grants",
       {{"key", "calls_per_day"}, {"value", 20}, {"ends_at", kDec1}}},
      {{"grants", "add", "alice", "features.recording", "true", "--from", "2026-12-01", "--for",
        "1d"},
       "POST",
       "/admin/users/alice/grants",
       {{"key", "features.recording"},
        {"value", true},
        {"ends_at", kDec1 + 86400},
        {"starts_at", kDec1}}},
      {{"grants", "remove", "alice", "7"}, "DELETE", "/admin/users/alice/grants/7", none},

      {{"lines", "list", "alice"}, "GET", "/admin/users/alice/lines", none},
      {{"lines", "add", "alice", "home"},
       "POST",
       "/admin/users/alice/lines",
       {{"call_id", "home"}}},
      {{"lines", "remove", "alice", "home office"},
       "DELETE",
       "/admin/users/alice/lines/home%20office",
       none},

      {{"revoke", "user", "mallory", "--ttl", "2h", "--reason", "abuse"},
       "POST",
       "/admin/users/mallory/revoke",
       {{"ttl_s", 7200}, {"reason", "abuse"}}},
      {{"revoke", "user", "mallory"}, "POST", "/admin/users/mallory/revoke", Json::object()},
      {{"revoke", "session", "9f2c41d0", "--ttl", "90"},
       "POST",
       "/admin/sessions/9f2c41d0/revoke",
       {{"ttl_s", 90}}},
      {{"revocations", "list"}, "GET", "/admin/revocations", none},
      {{"revocations", "lift", "user", "mallory"}, "DELETE", "/admin/users/mallory/revoke", none},
      {{"revocations", "lift", "session", "9f2c41d0"},
       "DELETE",
       "/admin/sessions/9f2c41d0/revoke",
       none},

      {{"sessions", "show", "9f2c41d0"}, "GET", "/admin/sessions/9f2c41d0", none},
      {{"allocations"}, "GET", "/admin/allocations", none},
      {{"allocations", "--user", "alice", "--session", "9f2c41d0"},
       "GET",
       "/admin/allocations?user=alice&session=9f2c41d0",
       none},

      {{"reports", "call-quality"}, "GET", "/admin/reports/call-quality", none},
      {{"reports", "call-quality", "--from", "2025-11-14", "--to", "2025-11-21", "--top", "5"},
       "GET",
       "/admin/reports/call-quality?from=" + std::to_string(kNov14) +
           "&to=" + std::to_string(kNov21) + "&top=5",
       none},
      {{"reports", "usage", "--period", "month", "--from", "1763078400", "--to",
        "2025-11-21T08:00:00Z", "--user", "alice"},
       "GET",
       "/admin/reports/usage?period=month&from=1763078400&to=" + std::to_string(kNov21At8) +
           "&user=alice",
       none},
      {{"reports", "usage", "--csv"}, "GET", "/admin/reports/usage?format=csv", none},
      {{"reports", "group-calls", "--from", "2025-11-14"},
       "GET",
       "/admin/reports/group-calls?from=" + std::to_string(kNov14),
       none},
      {{"reports", "token-health"}, "GET", "/admin/reports/token-health", none},

      {{"keys", "list"}, "GET", "/admin/keys", none},
      {{"keys", "rotate-token"}, "POST", "/admin/keys/token/rotate", Json::object()},
      {{"keys", "rotate-token", "--overlap", "2h"},
       "POST",
       "/admin/keys/token/rotate",
       {{"overlap_s", 7200}}},
      {{"secrets", "rotate-turn", "--overlap", "1d"},
       "POST",
       "/admin/secrets/turn/rotate",
       {{"overlap_s", 86400}}},
      {{"secrets", "rotate-turn"}, "POST", "/admin/secrets/turn/rotate", Json::object()},

      {{"audit"}, "GET", "/admin/audit", none},
      {{"audit", "--since", "2025-11-21", "--actor", "support", "--target", "bob+1@x", "--limit",
        "50"},
       "GET",
       "/admin/audit?since=" + std::to_string(kNov21) +
           "&actor=support&target=bob%2B1%40x&limit=50",
       none},
  };
}

// Paths of every command that runs (not groups), except mint.
void Leaves(CLI::App* app, std::vector<std::string> path, std::set<std::string>* out) {
  auto subs = app->get_subcommands([](CLI::App* s) { return !s->get_name().empty(); });
  if (subs.empty()) {
    std::string joined;
    for (const std::string& p : path) joined += (joined.empty() ? "" : " ") + p;
    out->insert(joined);
    return;
  }
  for (CLI::App* sub : subs) {
    if (sub->get_name() == "mint") continue;
    path.push_back(sub->get_name());
    Leaves(sub, path, out);
    path.pop_back();
  }
}

class CvctlCommandsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "http") {
      std::string error;
      server_ = FakeCvadmin::Start(&error);
      ASSERT_NE(server_, nullptr) << error;
      backend_ = server_.get();
    } else {
      backend_ = &transport_;
    }
  }

  Outcome Run(std::vector<std::string> args) { return cvctl_.Run(*backend_, std::move(args)); }

  InProcessCvctl cvctl_;
  FakeTransport transport_;
  std::unique_ptr<FakeCvadmin> server_;
  Backend* backend_ = nullptr;
};

TEST_P(CvctlCommandsTest, EveryCommandSendsItsRequest) {
  backend_->Answer(200, R"({"ok":true})");
  size_t n = 0;
  for (const Case& c : Cases()) {
    std::string line;
    for (const std::string& a : c.args) line += a + " ";
    SCOPED_TRACE(line);
    Outcome r = Run(c.args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    const std::vector<Seen> seen = backend_->seen();
    ASSERT_EQ(seen.size(), ++n);
    const Seen& s = seen.back();
    EXPECT_EQ(s.method, c.method);
    EXPECT_EQ(s.target, c.target);
    const size_t q = c.target.find('?');
    EXPECT_EQ(s.path, c.target.substr(0, q));
    EXPECT_EQ(s.query, q == std::string::npos ? "" : c.target.substr(q + 1));
    if (c.body.is_null()) {
      EXPECT_EQ(s.body, "");
    } else {
      EXPECT_EQ(Json::parse(s.body, nullptr, false), c.body) << s.body;
    }
    EXPECT_EQ(s.authorization, std::string("Bearer ") + kTestToken);
  }
}

TEST_P(CvctlCommandsTest, EveryCommandHasACase) {
  std::set<std::string> covered, leaves;
  for (const Case& c : Cases()) {
    std::string path;
    for (const std::string& a : c.args) {
      if (a.rfind("--", 0) == 0) break;
      path += (path.empty() ? "" : " ") + a;
    }
    covered.insert(path);
  }
  CommandContext ctx(std::cout, std::cerr, nullptr, Environment{});
  CLI::App app;
  BuildCli(app, ctx, [] { return int64_t{0}; });
  Leaves(&app, {}, &leaves);
  EXPECT_EQ(leaves.size(), 33u);
  for (const std::string& leaf : leaves) {
    bool found = false;
    for (const std::string& c : covered) found = found || c == leaf || c.rfind(leaf + " ", 0) == 0;
    EXPECT_TRUE(found) << "no case for `cvctl " << leaf << "`";
  }
}

TEST_P(CvctlCommandsTest, TablesAreTheDefaultAndJsonIsPretty) {
  backend_->Answer(200, R"({"users":[{"id":"alice","tier":"pro"},{"id":"bob","tier":"free"}],
                            "next_after":null})");
  Outcome table = Run({"users", "list"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_EQ(table.out, "ID     TIER\nalice  pro\nbob    free\n\nnext_after  -\n");

  Outcome json = Run({"-o", "json", "users", "list"});
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_EQ(json.out,
            "{\n"
            "  \"users\": [\n"
            "    {\n"
            "      \"id\": \"alice\",\n"
            "      \"tier\": \"pro\"\n"
            "    },\n"
            "    {\n"
            "      \"id\": \"bob\",\n"
            "      \"tier\": \"free\"\n"
            "    }\n"
            "  ],\n"
            "  \"next_after\": null\n"
            "}\n");
}

TEST_P(CvctlCommandsTest, NoContentAnswersConfirm) {
  backend_->Answer(204, "");
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"flags", "clear", "alice", "recording"}, "flag cleared\n"},
      {{"overrides", "clear", "alice", "video"}, "override cleared\n"},
      {{"grants", "remove", "alice", "7"}, "grant removed\n"},
      {{"lines", "remove", "alice", "home"}, "Call ID removed\n"},
  };
  for (const auto& [args, line] : cases) {
    Outcome r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, line);
    std::vector<std::string> json_args = args;
    json_args.insert(json_args.end(), {"-o", "json"});
    r = Run(json_args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "{}\n");
  }
}

TEST_P(CvctlCommandsTest, UsageCsvIsPassedThroughExactly) {
  const std::string csv =
      "period,user,calls,call_seconds,relayed_seconds,bytes_to_peer,bytes_to_client,allocations\n"
      "2026-11-20,alice,2,1260,610.5,9120332,8977120,3\n"
      "2026-11-20,bob,1,0,,0,0,0";
  backend_->Answer(200, csv, "text/csv");
  Outcome r = Run({"reports", "usage", "--csv", "--from", "2025-11-14"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, csv);
  EXPECT_EQ(backend_->seen().back().accept, "text/csv");
  r = Run({"reports", "usage", "--csv", "-o", "json"});
  EXPECT_EQ(r.out, csv);
}

TEST_P(CvctlCommandsTest, EachStatusHasItsExitCodeAndOneErrorLine) {
  const struct {
    int status;
    std::string code;
    int exit_code;
  } cases[] = {{400, "BAD_SETTING", 1}, {401, "UNAUTHORIZED", 4},       {403, "FORBIDDEN", 4},
               {404, "NOT_FOUND", 3},   {405, "METHOD_NOT_ALLOWED", 1}, {409, "LINES_FULL", 1},
               {500, "INTERNAL", 5},    {503, "STORE_UNAVAILABLE", 5}};
  for (const auto& c : cases) {
    backend_->Answer(c.status,
                     R"({"type":"about:blank","status":)" + std::to_string(c.status) +
                         R"(,"code":")" + c.code + R"(","detail":"it went wrong"})",
                     "application/problem+json");
    Outcome r = Run({"lines", "add", "alice", "home"});
    EXPECT_EQ(r.exit_code, c.exit_code) << c.status;
    EXPECT_EQ(r.err, "cvctl: " + std::to_string(c.status) + " " + c.code + ": it went wrong\n");
    EXPECT_EQ(r.out, "");
  }
}

TEST_P(CvctlCommandsTest, AnUnreadableAnswerExitsFive) {
  backend_->Answer(200, "not json", "text/plain");
  Outcome r = Run({"keys", "list"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.err, "cvctl: unreadable answer from " + backend_->url() +
                       ": 200 with a body that is not JSON\n");
}

TEST_P(CvctlCommandsTest, GlobalOptionsGoBeforeOrAfterTheCommand) {
  backend_->Answer(200, R"({"id":"alice"})");
  Outcome before = cvctl_.Run({"--url", backend_->url(), "--token-file", cvctl_.token_file(), "-o",
                               "json", "users", "show", "alice"},
                              backend_->fetcher());
  Outcome after = cvctl_.Run({"users", "show", "alice", "--url", backend_->url(), "--token-file",
                              cvctl_.token_file(), "--output", "json"},
                             backend_->fetcher());
  Outcome between = cvctl_.Run({"--url", backend_->url(), "users", "--token-file",
                                cvctl_.token_file(), "show", "-o", "json", "alice"},
                               backend_->fetcher());
  for (const Outcome& r : {before, after, between}) {
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "{\n  \"id\": \"alice\"\n}\n");
  }
  ASSERT_EQ(backend_->seen().size(), 3u);
  for (const Seen& s : backend_->seen()) EXPECT_EQ(s.target, "/admin/users/alice");
}

TEST_P(CvctlCommandsTest, AnIdThatLooksLikeAnOptionFollowsADoubleDash) {
  Outcome r = Run({"users", "show", "--", "-alice"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(backend_->seen().back().target, "/admin/users/-alice");
}

INSTANTIATE_TEST_SUITE_P(Transports, CvctlCommandsTest, ::testing::Values("fake", "http"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "fake" ? "FakeTransport" : "HttpServer";
                         });

// --- The real HTTP path only -----------------------------------------------------------------

TEST(CvctlHttpTest, AClosedPortIsUnreachable) {
  InProcessCvctl cvctl;
  const uint16_t port = cv::testing::FreeTcpPort();
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  Outcome r =
      cvctl.Run({"--url", url, "--token-file", cvctl.token_file(), "keys", "list"}, http::Fetch);
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.err.rfind("cvctl: cannot reach " + url + ": ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(CvctlHttpTest, AServerThatNeverAnswersTimesOut) {
  // Listening, never accepting: the connection opens, no answer comes.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  InProcessCvctl cvctl;
  Outcome r = cvctl.Run(
      {"--url", url, "--token-file", cvctl.token_file(), "--timeout", "1", "keys", "list"},
      http::Fetch);
  ::close(fd);
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_EQ(r.err.rfind("cvctl: cannot reach " + url + ": ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("timed out"), std::string::npos) << r.err;
}

TEST(CvctlHttpTest, ABasePathInTheUrlPrefixesEveryRequest) {
  std::string error;
  auto server = FakeCvadmin::Start(&error);
  ASSERT_NE(server, nullptr) << error;
  InProcessCvctl cvctl;
  Outcome r = cvctl.Run(
      {"--url", server->url() + "/cvadmin/", "--token-file", cvctl.token_file(), "keys", "list"},
      http::Fetch);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(server->seen().size(), 1u);
  EXPECT_EQ(server->seen()[0].target, "/cvadmin/admin/keys");
}

}  // namespace
}  // namespace cv::ctl
