#include "admin/fleet/relay_fleet.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "relay/common/http_server.h"

namespace cv::admin {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr int64_t kNow = 1'767'225'600'000;  // 2026-01-01T00:00:00Z, the injected clock's start

int64_t MillisSince(SteadyClock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start).count();
}

http::Url UrlOf(const SocketAddress& address) {
  http::Url url;
  url.host = address.ip.ToString();
  url.port = address.port;
  return url;
}

// A relay's control endpoint on loopback, answering like docs/control-api.md for the routes the
// fleet uses, and recording every request.
class FakeRelay {
 public:
  explicit FakeRelay(std::string token) : token_(std::move(token)) {
    std::string error;
    loop_ = http::EventLoopThread::Create(&error);
    EXPECT_NE(loop_, nullptr) << error;
    http::Server::Config config;
    config.address = SocketAddress{*IpAddress::Parse("127.0.0.1"), 0};
    config.log_name = "fake-relay";
    server_ = http::Server::Start(
        loop_->base(), config, [this](const http::Request& r) { return Handle(r); }, &error);
    EXPECT_NE(server_, nullptr) << error;
    loop_->Run();
  }
  ~FakeRelay() {
    loop_->Stop();
    server_.reset();
  }

  RelayEndpoint Endpoint(std::string name) const {
    return RelayEndpoint{std::move(name), UrlOf(server_->address()), token_};
  }
  std::vector<http::Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  // The bodies of the POSTs, parsed.
  std::vector<json> posted() {
    std::vector<json> bodies;
    for (const http::Request& r : requests()) {
      if (r.method == "POST") bodies.push_back(json::parse(r.body, nullptr, false));
    }
    return bodies;
  }
  bool WaitForRequests(size_t n, milliseconds timeout = milliseconds(5000)) {
    std::unique_lock<std::mutex> lock(mu_);
    return arrived_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
  }
  // Every later request gets `response` instead.
  void AnswerWith(http::Response response) {
    std::lock_guard<std::mutex> lock(mu_);
    forced_ = std::move(response);
  }
  bool Revoked(const std::string& kind, const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    return revoked_.count({kind, id}) > 0;
  }

 private:
  http::Response Handle(const http::Request& r) {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(r);
    arrived_.notify_all();
    if (forced_) return *forced_;
    if (!http::BearerMatches(r, http::DigestToken(token_))) {
      return http::Unauthorized("cvrelay", "missing or wrong token");
    }
    const std::vector<std::string>& p = r.path;
    if (r.method == "GET" && p == std::vector<std::string>{"v1", "allocations"}) {
      return http::Json(200, {{"allocations", json::array()}, {"count", 0}});
    }
    if (r.method == "POST" && p == std::vector<std::string>{"v1", "revocations"}) {
      json body = json::parse(r.body, nullptr, false);
      if (!body.is_object()) return http::Problem(400, "BAD_REQUEST", "bad JSON");
      std::string kind = body.contains("user") ? "user" : "session";
      json ttl_json = body.value("ttl_s", json(86400));
      int64_t ttl = ttl_json.is_number_integer() ? ttl_json.get<int64_t>() : 0;
      if (!body.contains(kind) || !body[kind].is_string() || ttl < 1 || ttl > 2592000) {
        return http::Problem(400, "BAD_REQUEST", "bad revocation");
      }
      std::string id = body[kind];
      revoked_.insert({kind, id});
      return http::Json(
          201,
          {{"kind", kind}, {"id", id}, {"until", kNow / 1000 + ttl}, {"ended_allocations", 0}});
    }
    if (r.method == "DELETE" && p.size() == 4 && p[0] == "v1" && p[1] == "revocations") {
      if (revoked_.erase({p[2], p[3]}) == 0) {
        return http::Problem(404, "NOT_FOUND", "no revocation for " + p[2] + " " + p[3]);
      }
      return http::NoContent();
    }
    return http::Problem(404, "NOT_FOUND", "no such route");
  }

  std::string token_;
  std::mutex mu_;
  std::condition_variable arrived_;
  std::vector<http::Request> requests_;
  std::optional<http::Response> forced_;
  std::set<std::pair<std::string, std::string>> revoked_;
  std::unique_ptr<http::EventLoopThread> loop_;
  std::unique_ptr<http::Server> server_;
};

// A TCP port on loopback that refuses connections (bound, not listening), or that takes them and
// never answers (listening, never accepting: the kernel completes the handshake and queues them).
class DeadRelay {
 public:
  explicit DeadRelay(bool accepts) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    SocketAddress any{*IpAddress::Parse("127.0.0.1"), 0};
    sockaddr_storage ss{};
    socklen_t len = any.ToSockaddr(&ss);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&ss), len), 0);
    if (accepts) {
      EXPECT_EQ(listen(fd_, 64), 0);
    }
    len = sizeof(ss);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    address_ = *SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  }
  ~DeadRelay() { close(fd_); }
  RelayEndpoint Endpoint(std::string name) const {
    return RelayEndpoint{std::move(name), UrlOf(address_), "token-of-a-dead-relay"};
  }

 private:
  int fd_ = -1;
  SocketAddress address_;
};

class RelayFleetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { signal(SIGPIPE, SIG_IGN); }

  // A fleet on the test's clock, without background resync unless asked.
  std::unique_ptr<RelayFleet> Fleet(std::vector<RelayEndpoint> relays, int timeout_ms = 1000,
                                    int resync_interval_ms = 0) {
    FleetOptions options;
    options.timeout_ms = timeout_ms;
    options.resync_interval_ms = resync_interval_ms;
    return std::make_unique<RelayFleet>(std::move(relays), options,
                                        [this] { return now_ms_.load(); });
  }

  std::atomic<int64_t> now_ms_{kNow};
  FakeRelay a_{"token-a-0123456789abcdef"};
  FakeRelay b_{"token-b-0123456789abcdef"};
};

// --- Broadcast ---------------------------------------------------------------------------------

TEST_F(RelayFleetTest, BroadcastAsksEveryRelayWithItsTokenAndAnswersInConfigurationOrder) {
  DeadRelay down(/*accepts=*/false);
  auto fleet = Fleet({a_.Endpoint("relay-a"), down.Endpoint("relay-down"), b_.Endpoint("relay-b")});
  EXPECT_EQ(fleet->size(), 3u);
  std::vector<RelayAnswer> answers = fleet->Broadcast("GET", "/v1/allocations");
  ASSERT_EQ(answers.size(), 3u);

  EXPECT_EQ(answers[0].relay, "relay-a");
  EXPECT_TRUE(answers[0].ok) << answers[0].error;
  EXPECT_EQ(answers[0].status, 200);
  EXPECT_EQ(answers[0].body["count"], 0);
  EXPECT_EQ(answers[0].error, "");

  EXPECT_EQ(answers[1].relay, "relay-down");
  EXPECT_FALSE(answers[1].ok);
  EXPECT_EQ(answers[1].status, 0) << "no HTTP answer";
  EXPECT_NE(answers[1].error.find("Connection refused"), std::string::npos) << answers[1].error;
  EXPECT_TRUE(answers[1].body.is_null());

  EXPECT_EQ(answers[2].relay, "relay-b");
  EXPECT_TRUE(answers[2].ok) << answers[2].error;

  ASSERT_EQ(a_.requests().size(), 1u);
  EXPECT_EQ(a_.requests()[0].Header("Authorization"), "Bearer token-a-0123456789abcdef");
  ASSERT_EQ(b_.requests().size(), 1u);
  EXPECT_EQ(b_.requests()[0].Header("Authorization"), "Bearer token-b-0123456789abcdef");
}

TEST_F(RelayFleetTest, RelaysThatNeverAnswerDelayABroadcastByOneTimeoutNotOneEach) {
  DeadRelay silent1(/*accepts=*/true), silent2(/*accepts=*/true), silent3(/*accepts=*/true);
  DeadRelay down(/*accepts=*/false);
  constexpr int kTimeoutMs = 300;
  auto fleet = Fleet({silent1.Endpoint("s1"), a_.Endpoint("a"), silent2.Endpoint("s2"),
                      down.Endpoint("down"), silent3.Endpoint("s3")},
                     kTimeoutMs);
  const auto start = SteadyClock::now();
  std::vector<RelayAnswer> answers = fleet->Broadcast("GET", "/v1/allocations");
  const int64_t took = MillisSince(start);
  std::cout << "[ timing   ] 3 silent relays, timeout " << kTimeoutMs << " ms: Broadcast took "
            << took << " ms\n";
  EXPECT_GE(took, kTimeoutMs);
  EXPECT_LT(took, 2 * kTimeoutMs) << "the relays are asked in parallel";

  ASSERT_EQ(answers.size(), 5u);
  const char* names[] = {"s1", "a", "s2", "down", "s3"};
  for (size_t i = 0; i < answers.size(); ++i) EXPECT_EQ(answers[i].relay, names[i]);
  EXPECT_TRUE(answers[1].ok);
  for (size_t i : {0, 2, 4}) {
    EXPECT_FALSE(answers[i].ok);
    EXPECT_EQ(answers[i].error.rfind("timed out after 300 ms", 0), 0u) << answers[i].error;
  }
  EXPECT_NE(answers[3].error.find("Connection refused"), std::string::npos);
}

TEST_F(RelayFleetTest, AFailedAnswerCarriesTheProblemsCodeAndDetail) {
  a_.AnswerWith(http::Problem(400, "BAD_REQUEST", "ttl_s must be 1-2592000"));
  b_.AnswerWith(http::Response{502, "text/html", "<html>bad gateway</html>", {}});
  auto fleet = Fleet({a_.Endpoint("a"), b_.Endpoint("b")});
  std::vector<RelayAnswer> answers = fleet->Broadcast("GET", "/v1/allocations");
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_FALSE(answers[0].ok);
  EXPECT_EQ(answers[0].status, 400);
  EXPECT_EQ(answers[0].error, "HTTP 400 BAD_REQUEST: ttl_s must be 1-2592000");
  EXPECT_EQ(answers[0].body["code"], "BAD_REQUEST");
  EXPECT_FALSE(answers[1].ok);
  EXPECT_EQ(answers[1].error, "HTTP 502");
  EXPECT_TRUE(answers[1].body.is_null()) << "not JSON";
}

TEST_F(RelayFleetTest, AWrongTokenIsAnUnauthorizedAnswer) {
  RelayEndpoint wrong = a_.Endpoint("a");
  wrong.token = "not-the-token-0123456789";
  auto fleet = Fleet({wrong});
  std::vector<RelayAnswer> answers = fleet->Broadcast("GET", "/v1/allocations");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 401);
  EXPECT_EQ(answers[0].error.rfind("HTTP 401 UNAUTHORIZED", 0), 0u) << answers[0].error;
  EXPECT_EQ(answers[0].error.find("not-the-token"), std::string::npos) << "tokens stay out";
}

TEST_F(RelayFleetTest, AFleetWithoutRelaysAnswersNothing) {
  auto fleet = Fleet({}, 1000, /*resync_interval_ms=*/10);
  EXPECT_EQ(fleet->size(), 0u);
  EXPECT_TRUE(fleet->Broadcast("GET", "/v1/allocations").empty());
  EXPECT_TRUE(fleet->Revoke({"user", "alice", kNow + 60'000}).empty());
  EXPECT_EQ(fleet->ResyncOnce(), 0u);
}

// --- Revoke and Lift ---------------------------------------------------------------------------

TEST_F(RelayFleetTest, RevokeSendsTheTimeLeftInWholeSecondsRoundedUp) {
  auto fleet = Fleet({a_.Endpoint("a"), b_.Endpoint("b")});
  struct Case {
    int64_t left_ms;
    int64_t ttl_s;
  };
  const Case cases[] = {{60'000, 60},
                        {1, 1},
                        {999, 1},
                        {1'000, 1},
                        {1'001, 2},
                        {86'399'999, 86'400},
                        {2'592'000'000, 2'592'000},
                        {40LL * 86'400'000, 2'592'000}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.left_ms);
    std::vector<RelayAnswer> answers = fleet->Revoke({"user", "alice", kNow + c.left_ms});
    ASSERT_EQ(answers.size(), 2u);
    EXPECT_TRUE(answers[0].ok) << answers[0].error;
    EXPECT_EQ(answers[0].status, 201);
    EXPECT_EQ(answers[0].body["ended_allocations"], 0);
    EXPECT_TRUE(answers[1].ok) << answers[1].error;
    for (FakeRelay* relay : {&a_, &b_}) {
      EXPECT_EQ(relay->posted().back(), json({{"user", "alice"}, {"ttl_s", c.ttl_s}}));
    }
  }
  std::vector<http::Request> seen = a_.requests();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen[0].target, "/v1/revocations");
  EXPECT_EQ(seen[0].Header("Content-Type"), "application/json");
}

TEST_F(RelayFleetTest, ASessionRevocationNamesTheSession) {
  auto fleet = Fleet({a_.Endpoint("a")});
  ASSERT_EQ(fleet->Revoke({"session", "9f2c41d0", kNow + 10'500}).size(), 1u);
  EXPECT_EQ(a_.posted().back(), json({{"session", "9f2c41d0"}, {"ttl_s", 11}}));
  EXPECT_TRUE(a_.Revoked("session", "9f2c41d0"));
}

TEST_F(RelayFleetTest, ARevocationAlreadyOverSendsNothing) {
  auto fleet = Fleet({a_.Endpoint("a"), b_.Endpoint("b")});
  EXPECT_TRUE(fleet->Revoke({"user", "alice", kNow}).empty());
  EXPECT_TRUE(fleet->Revoke({"user", "alice", kNow - 1}).empty());
  EXPECT_TRUE(fleet->Revoke({"user", "alice", 0}).empty());
  EXPECT_TRUE(a_.requests().empty());
  EXPECT_TRUE(b_.requests().empty());
}

TEST_F(RelayFleetTest, LiftCountsNotFoundAsLifted) {
  auto fleet = Fleet({a_.Endpoint("a"), b_.Endpoint("b")});
  // Only relay a has it.
  auto only_a = Fleet({a_.Endpoint("a")});
  ASSERT_TRUE(only_a->Revoke({"user", "alice", kNow + 60'000})[0].ok);

  std::vector<RelayAnswer> answers = fleet->Lift("user", "alice");
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_TRUE(answers[0].ok);
  EXPECT_EQ(answers[0].status, 204);
  EXPECT_TRUE(answers[1].ok) << "nothing to lift is not a failure";
  EXPECT_EQ(answers[1].status, 404);
  EXPECT_EQ(answers[1].error, "");
  EXPECT_FALSE(a_.Revoked("user", "alice"));
  EXPECT_EQ(a_.requests().back().method, "DELETE");
  EXPECT_EQ(a_.requests().back().target, "/v1/revocations/user/alice");
}

TEST_F(RelayFleetTest, LiftEncodesTheIdAsOnePathSegment) {
  auto fleet = Fleet({a_.Endpoint("a")});
  ASSERT_TRUE(fleet->Revoke({"user", "a@b+c", kNow + 60'000})[0].ok);
  std::vector<RelayAnswer> answers = fleet->Lift("user", "a@b+c");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, 204);
  http::Request last = a_.requests().back();
  EXPECT_EQ(last.target, "/v1/revocations/user/a%40b%2Bc");
  EXPECT_EQ(last.path, (std::vector<std::string>{"v1", "revocations", "user", "a@b+c"}));
}

TEST_F(RelayFleetTest, LiftStillFailsOnOtherErrorsAndDeadRelays) {
  DeadRelay down(/*accepts=*/false);
  a_.AnswerWith(http::Problem(503, "UNAVAILABLE", "the workers did not answer within 3 s"));
  auto fleet = Fleet({a_.Endpoint("a"), down.Endpoint("down")});
  std::vector<RelayAnswer> answers = fleet->Lift("session", "s1");
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_FALSE(answers[0].ok);
  EXPECT_EQ(answers[0].error, "HTTP 503 UNAVAILABLE: the workers did not answer within 3 s");
  EXPECT_FALSE(answers[1].ok);
}

TEST_F(RelayFleetTest, AnUnknownKindOrAnEmptyIdIsRefusedWithoutAsking) {
  auto fleet = Fleet({a_.Endpoint("a"), b_.Endpoint("b")});
  for (const auto& answers : {fleet->Revoke({"users", "alice", kNow + 60'000}),
                              fleet->Revoke({"user", "", kNow + 60'000}), fleet->Lift("group", "x"),
                              fleet->Lift("session", "")}) {
    ASSERT_EQ(answers.size(), 2u);
    EXPECT_EQ(answers[0].relay, "a");
    EXPECT_EQ(answers[1].relay, "b");
    EXPECT_FALSE(answers[0].ok);
    EXPECT_FALSE(answers[0].error.empty());
    EXPECT_EQ(answers[0].status, 0);
  }
  EXPECT_TRUE(a_.requests().empty());
}

// --- Resync ------------------------------------------------------------------------------------

TEST_F(RelayFleetTest, ResyncSendsEveryWantedRevocationToEveryRelayAndSkipsTheExpired) {
  auto fleet = Fleet({a_.Endpoint("a"), b_.Endpoint("b")});
  fleet->SetWanted({{"user", "alice", kNow + 60'000},
                    {"user", "old", kNow - 1},
                    {"session", "s1", kNow + 10'500},
                    {"session", "just-over", kNow}});
  EXPECT_EQ(fleet->ResyncOnce(), 0u);
  const std::vector<json> expected = {{{"user", "alice"}, {"ttl_s", 60}},
                                      {{"session", "s1"}, {"ttl_s", 11}}};
  EXPECT_EQ(a_.posted(), expected);
  EXPECT_EQ(b_.posted(), expected);

  // Later, with less time left; alice's is the only one still wanted then.
  now_ms_ += 20'000;
  EXPECT_EQ(fleet->ResyncOnce(), 0u);
  EXPECT_EQ(a_.posted().size(), 3u);
  EXPECT_EQ(a_.posted().back(), json({{"user", "alice"}, {"ttl_s", 40}}));

  fleet->SetWanted({});
  EXPECT_EQ(fleet->ResyncOnce(), 0u);
  EXPECT_EQ(a_.requests().size(), 3u);
}

TEST_F(RelayFleetTest, ResyncCountsFailuresAndGivesUpOnADeadRelayForThePass) {
  DeadRelay down(/*accepts=*/false);
  b_.AnswerWith(http::Problem(400, "BAD_REQUEST", "no"));
  auto fleet = Fleet({a_.Endpoint("a"), down.Endpoint("down"), b_.Endpoint("b")});
  fleet->SetWanted({{"user", "u1", kNow + 60'000},
                    {"user", "u2", kNow + 60'000},
                    {"user", "u3", kNow + 60'000},
                    {"users", "bad-kind", kNow + 60'000}});
  // u1-u3 fail on the dead relay (asked once) and on b (asked thrice); bad-kind fails everywhere
  // without being sent.
  EXPECT_EQ(fleet->ResyncOnce(), 3u + 3u + 3u);
  EXPECT_EQ(a_.posted().size(), 3u);
  EXPECT_EQ(b_.requests().size(), 3u);
}

TEST_F(RelayFleetTest, TheResyncThreadResendsEveryInterval) {
  auto fleet = Fleet({a_.Endpoint("a"), b_.Endpoint("b")}, 1000, /*resync_interval_ms=*/20);
  fleet->SetWanted({{"user", "alice", kNow + 60'000}});
  EXPECT_TRUE(a_.WaitForRequests(3));
  EXPECT_TRUE(b_.WaitForRequests(3));
  for (const json& body : a_.posted()) EXPECT_EQ(body, json({{"user", "alice"}, {"ttl_s", 60}}));
}

TEST_F(RelayFleetTest, TheResyncThreadWaitsAWholeIntervalFirst) {
  auto fleet = Fleet({a_.Endpoint("a")}, 1000, /*resync_interval_ms=*/60'000);
  fleet->SetWanted({{"user", "alice", kNow + 60'000}});
  EXPECT_FALSE(a_.WaitForRequests(1, milliseconds(100)));
}

TEST_F(RelayFleetTest, TheDestructorStopsAnIdleResyncThreadAtOnce) {
  auto fleet = Fleet({a_.Endpoint("a")}, 1000, /*resync_interval_ms=*/60'000);
  fleet->SetWanted({{"user", "alice", kNow + 60'000}});
  const auto start = SteadyClock::now();
  fleet.reset();
  const int64_t took = MillisSince(start);
  std::cout << "[ timing   ] idle resync thread stopped in " << took << " ms\n";
  EXPECT_LT(took, 100);
}

TEST_F(RelayFleetTest, TheDestructorWaitsAtMostOneTimeoutForAPassInFlight) {
  DeadRelay silent(/*accepts=*/true);
  constexpr int kTimeoutMs = 300;
  auto fleet = Fleet({a_.Endpoint("a"), silent.Endpoint("silent")}, kTimeoutMs,
                     /*resync_interval_ms=*/1);
  std::vector<WantedRevocation> wanted;
  for (int i = 0; i < 20; ++i) wanted.push_back({"user", "u" + std::to_string(i), kNow + 60'000});
  fleet->SetWanted(wanted);
  ASSERT_TRUE(a_.WaitForRequests(1));  // a pass is under way; the silent relay holds it
  const auto start = SteadyClock::now();
  fleet.reset();
  const int64_t took = MillisSince(start);
  std::cout << "[ timing   ] resync pass in flight (timeout " << kTimeoutMs
            << " ms): destructor took " << took << " ms\n";
  EXPECT_LT(took, 2 * kTimeoutMs);
}

// --- ParseRelayEndpoint --------------------------------------------------------------------------

class ParseRelayEndpointTest : public ::testing::Test {};

TEST_F(ParseRelayEndpointTest, TakesAUrlWithOrWithoutAName) {
  std::string error;
  std::optional<RelayEndpoint> plain = ParseRelayEndpoint("http://127.0.0.1:9641", &error);
  ASSERT_TRUE(plain) << error;
  EXPECT_EQ(plain->name, "127.0.0.1:9641");
  EXPECT_EQ(plain->url.ToString(), "http://127.0.0.1:9641");
  EXPECT_EQ(plain->token, "") << "the caller sets it";

  std::optional<RelayEndpoint> named = ParseRelayEndpoint("relay-a=http://10.0.0.5:9641", &error);
  ASSERT_TRUE(named) << error;
  EXPECT_EQ(named->name, "relay-a");
  EXPECT_EQ(named->url.host, "10.0.0.5");
  EXPECT_EQ(named->url.port, 9641);

  std::optional<RelayEndpoint> v6 = ParseRelayEndpoint("http://[::1]:9641", &error);
  ASSERT_TRUE(v6) << error;
  EXPECT_EQ(v6->name, "[::1]:9641");

  const std::string longest(32, 'n');
  std::optional<RelayEndpoint> dotted =
      ParseRelayEndpoint(longest.substr(0, 28) + "._-9=http://relay.internal:1", &error);
  ASSERT_TRUE(dotted) << error;
  EXPECT_EQ(dotted->name.size(), 32u);
}

TEST_F(ParseRelayEndpointTest, RefusesBadNamesAndUrls) {
  struct Case {
    std::string text;
    std::string error;
  };
  const Case cases[] = {
      {"", "not an http:// URL"},
      {"127.0.0.1:9641", "not an http:// URL"},
      {"=http://127.0.0.1:9641", "bad relay name"},
      {"relay a=http://127.0.0.1:9641", "bad relay name"},
      {"relay/a=http://127.0.0.1:9641", "bad relay name"},
      {std::string(33, 'n') + "=http://127.0.0.1:9641", "bad relay name"},
      {"relay-a=", "not an http:// URL"},
      {"relay-a=https://127.0.0.1:9641", "https is not supported"},
      {"relay-a=http://127.0.0.1:0", "bad port"},
      {"relay-a=http://127.0.0.1:9641/?x=1", "no query"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    std::string error;
    EXPECT_FALSE(ParseRelayEndpoint(c.text, &error).has_value());
    EXPECT_NE(error.find(c.error), std::string::npos) << error;
  }
}

}  // namespace
}  // namespace cv::admin
