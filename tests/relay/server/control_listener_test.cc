#include "relay/server/control_listener.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "relay/common/clock.h"
#include "tests/support/http_client.h"

namespace cv::server {
namespace {

using json = nlohmann::json;
using testing::HttpRaw;
using testing::HttpRequest;
using testing::HttpResponse;
using testing::ParseHttpResponse;

constexpr char kToken[] = "0123456789abcdef-control-token";

SocketAddress Addr(std::string_view text) { return *SocketAddress::Parse(text); }

// The relay's side, recorded. Called on the listener thread, inspected on the test thread.
class FakeBackend final : public ControlBackend {
 public:
  HealthInfo Health() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (throws_) throw std::runtime_error("backend bug");
    return health_;
  }
  std::vector<std::pair<std::string, uint64_t>> Counters() override {
    return {{"allocations_created", 7}, {"auth_plan_may_not_relay", 2}};
  }
  std::optional<std::vector<AllocationInfo>> ListAllocations() override {
    std::lock_guard<std::mutex> lock(mu_);
    ++list_calls_;
    if (!answers_) return std::nullopt;
    return allocations_;
  }
  std::optional<bool> EndAllocation(uint64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    ended_.push_back(id);
    if (!answers_) return std::nullopt;
    for (auto it = allocations_.begin(); it != allocations_.end(); ++it) {
      if (it->id == id) {
        allocations_.erase(it);
        return true;
      }
    }
    return false;
  }
  size_t Revoke(const Revocation& revocation) override {
    std::lock_guard<std::mutex> lock(mu_);
    revoked_.push_back(revocation);
    return ended_by_revoke_;
  }
  std::vector<Revocation> ListRevocations() override {
    std::lock_guard<std::mutex> lock(mu_);
    return revoked_;
  }
  bool LiftRevocation(RevocationKind kind, const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = revoked_.begin(); it != revoked_.end(); ++it) {
      if (it->kind == kind && it->id == id) {
        revoked_.erase(it);
        return true;
      }
    }
    return false;
  }

  std::optional<std::string> MetricsText() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!answers_) return std::nullopt;
    return std::string("# TYPE cvrelay_uptime_seconds gauge\ncvrelay_uptime_seconds 5\n");
  }
  bool ledger_enabled() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return ledger_;
  }
  std::optional<UserUsageReport> UserUsage(const std::string& user, std::string* error) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!answers_) {
      *error = "database is locked";
      return std::nullopt;
    }
    UserUsageReport r;
    r.usage.user = user;
    r.usage.plan = "trial";
    r.usage.month.relayed_ms = 90'000;
    r.usage.month.calls = 3;
    r.usage.guard = auth::AbuseGuard{user, 1000, 2000, 300, 2};
    r.monthly_relay_minutes = 600;
    r.guard_applies = true;
    r.max_call_duration_s = 3600;
    r.verdict.capped_duration_s = 300;
    return r;
  }
  std::optional<auth::UsageTotals> SessionUsage(const std::string&, std::string*) override {
    auth::UsageTotals t;
    t.relayed_ms = 1500;
    t.bytes_to_peer = 10;
    t.allocations = 2;
    t.calls = 1;
    return t;
  }
  std::optional<std::vector<auth::UsageRecord>> UsageRecords(const auth::RecordFilter& filter,
                                                             std::string*) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_filter_ = filter;
    auth::UsageRecord r;
    r.node = "n1";
    r.run = "00000000000000ab";
    r.allocation = 0x10;
    r.user = filter.user.empty() ? "u1" : filter.user;
    r.reason = auth::EndReason::kQuota;
    r.relayed_ms = 1234;
    return std::vector<auth::UsageRecord>{r};
  }

  void SetLedger(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    ledger_ = on;
  }
  auth::RecordFilter last_filter() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_filter_;
  }

  void SetHealth(HealthInfo health) {
    std::lock_guard<std::mutex> lock(mu_);
    health_ = std::move(health);
  }
  void AddAllocation(AllocationInfo a) {
    std::lock_guard<std::mutex> lock(mu_);
    allocations_.push_back(std::move(a));
  }
  void SetThrows(bool throws) {
    std::lock_guard<std::mutex> lock(mu_);
    throws_ = throws;
  }
  void SetAnswers(bool answers) {
    std::lock_guard<std::mutex> lock(mu_);
    answers_ = answers;
  }
  void SetEndedByRevoke(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    ended_by_revoke_ = n;
  }
  std::vector<uint64_t> ended() {
    std::lock_guard<std::mutex> lock(mu_);
    return ended_;
  }
  std::vector<Revocation> revoked() {
    std::lock_guard<std::mutex> lock(mu_);
    return revoked_;
  }
  int list_calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return list_calls_;
  }

 private:
  mutable std::mutex mu_;
  bool ledger_ = true;
  auth::RecordFilter last_filter_;
  HealthInfo health_;
  std::vector<AllocationInfo> allocations_;
  bool answers_ = true;
  bool throws_ = false;
  size_t ended_by_revoke_ = 0;
  std::vector<uint64_t> ended_;
  std::vector<Revocation> revoked_;
  int list_calls_ = 0;
};

AllocationInfo Allocation(uint64_t id, std::string user, std::string session) {
  AllocationInfo a;
  a.id = id;
  a.user = std::move(user);
  a.session = std::move(session);
  a.line = "line-1";
  a.plan = "pro";
  a.transport = "udp";
  a.client = Addr("1.2.3.4:5000");
  a.relayed = {Addr("5.6.7.8:50000")};
  return a;
}

size_t OpenDescriptors() {
  size_t n = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  while (readdir(dir) != nullptr) ++n;
  closedir(dir);
  return n;
}

class ControlListenerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    signal(SIGPIPE, SIG_IGN);  // as cvrelay does: a client that hangs up must not kill the server
  }

  void SetUp() override {
    std::string error;
    listener_ = ControlListener::Start(Config(), backend_, &error);
    ASSERT_NE(listener_, nullptr) << error;
  }

  static ControlListenerConfig Config(uint16_t port = 0) {
    ControlListenerConfig config;
    config.address = SocketAddress{*IpAddress::Parse("127.0.0.1"), port};
    config.token = kToken;
    config.metrics = true;
    return config;
  }

  // An authenticated request.
  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "") {
    std::optional<HttpResponse> r =
        HttpRequest(listener_->address(), method, target, body,
                    {{"Authorization", std::string("Bearer ") + kToken}});
    EXPECT_TRUE(r.has_value()) << method << " " << target << ": no reply";
    return r.value_or(HttpResponse{});
  }

  HttpResponse CallWithAuthorization(const std::string& authorization,
                                     const std::string& target = "/v1/health") {
    std::optional<HttpResponse> r =
        HttpRequest(listener_->address(), "GET", target, "", {{"Authorization", authorization}});
    EXPECT_TRUE(r.has_value());
    return r.value_or(HttpResponse{});
  }

  static json Body(const HttpResponse& r) { return json::parse(r.body, nullptr, false); }

  // A problem+json reply (RFC 9457) with the given status and code.
  static void ExpectProblem(const HttpResponse& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "",
              "application/problem+json");
    EXPECT_EQ(r.headers.count("cache-control") ? r.headers.at("cache-control") : "", "no-store");
    json body = Body(r);
    ASSERT_TRUE(body.is_object()) << r.body;
    EXPECT_EQ(body.value("type", ""), "about:blank");
    EXPECT_EQ(body.value("status", 0), status);
    EXPECT_EQ(body.value("code", ""), code);
    EXPECT_TRUE(body.contains("title"));
    EXPECT_TRUE(body["detail"].is_string());
  }

  static std::string Detail(const HttpResponse& r) { return Body(r).value("detail", ""); }

  static void ExpectJson(const HttpResponse& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "",
              "application/json");
    EXPECT_EQ(r.headers.count("cache-control") ? r.headers.at("cache-control") : "", "no-store");
  }

  FakeBackend backend_;  // outlives the listener
  std::unique_ptr<ControlListener> listener_;
};

TEST_F(ControlListenerTest, HealthReportsUptimeWorkersAndAllocations) {
  HealthInfo health;
  health.uptime_s = 42;
  health.workers = 4;
  health.allocations = 7;
  health.ready = true;
  backend_.SetHealth(health);
  HttpResponse r = Call("GET", "/v1/health");
  ExpectJson(r, 200);
  EXPECT_EQ(Body(r), json::parse(R"({"status":"ok","uptime_s":42,"workers":4,"allocations":7})"));
}

TEST_F(ControlListenerTest, CountersAreAnObjectByName) {
  HttpResponse r = Call("GET", "/v1/counters");
  ExpectJson(r, 200);
  EXPECT_EQ(Body(r),
            json::parse(R"({"counters":{"allocations_created":7,"auth_plan_may_not_relay":2}})"));
  EXPECT_EQ(Call("POST", "/v1/counters").status, 405);
}

TEST_F(ControlListenerTest, ReadyIs200WhenReadyAnd503WithTheReasonOtherwise) {
  HealthInfo health;
  health.ready = true;
  backend_.SetHealth(health);
  HttpResponse ready = Call("GET", "/v1/ready");
  ExpectJson(ready, 200);
  EXPECT_EQ(Body(ready), json::parse(R"({"ready":true})"));

  health.ready = false;
  health.not_ready_reason = "draining";
  backend_.SetHealth(health);
  HttpResponse draining = Call("GET", "/v1/ready");
  ExpectJson(draining, 503);
  EXPECT_EQ(Body(draining), json::parse(R"({"ready":false,"reason":"draining"})"));
}

TEST_F(ControlListenerTest, ABackendExceptionIs500AndTheListenerKeepsServing) {
  backend_.SetThrows(true);
  ExpectProblem(Call("GET", "/v1/health"), 500, "INTERNAL");
  backend_.SetThrows(false);
  ExpectJson(Call("GET", "/v1/health"), 200);
}

TEST_F(ControlListenerTest, ListAllocationsShowsEveryField) {
  AllocationInfo a = Allocation(0x00010000000000a3, "alice@example.com", "s-1");
  a.transport = "tcp";
  a.relayed = {Addr("5.6.7.8:50000"), Addr("[2001:db8::1]:50001")};
  a.age_s = 61;
  a.bytes_to_peer = 1000;
  a.bytes_to_client = 2000;
  a.packets_to_peer = 10;
  a.packets_to_client = 20;
  a.bandwidth_kbps = 512;
  a.ends_in_s = 3539;
  backend_.AddAllocation(a);

  HttpResponse r = Call("GET", "/v1/allocations");
  ExpectJson(r, 200);
  EXPECT_EQ(Body(r), json::parse(R"({"count":1,"allocations":[{
      "id":"00010000000000a3","user":"alice@example.com","session":"s-1","line":"line-1",
      "plan":"pro","transport":"tcp","client":"1.2.3.4:5000",
      "relayed":["5.6.7.8:50000","[2001:db8::1]:50001"],"age_s":61,"bytes_to_peer":1000,
      "bytes_to_client":2000,"packets_to_peer":10,"packets_to_client":20,"bandwidth_kbps":512,
      "ends_in_s":3539}]})"));
}

TEST_F(ControlListenerTest, ListAllocationsWithNoneIsAnEmptyList) {
  HttpResponse r = Call("GET", "/v1/allocations");
  ExpectJson(r, 200);
  EXPECT_EQ(Body(r), json::parse(R"({"allocations":[],"count":0})"));
}

TEST_F(ControlListenerTest, ListAllocationsFiltersByUserAndSession) {
  backend_.AddAllocation(Allocation(1, "alice@example.com", "s-1"));
  backend_.AddAllocation(Allocation(2, "alice@example.com", "s-2"));
  backend_.AddAllocation(Allocation(3, "bob+test", "s-1"));

  auto ids = [](const HttpResponse& r) {
    std::vector<std::string> out;
    json body = Body(r);
    for (const json& a : body["allocations"]) out.push_back(a["id"].get<std::string>());
    return out;
  };
  using V = std::vector<std::string>;
  HttpResponse by_user = Call("GET", "/v1/allocations?user=alice%40example.com");
  ExpectJson(by_user, 200);
  EXPECT_EQ(ids(by_user), (V{"0000000000000001", "0000000000000002"}));
  EXPECT_EQ(Body(by_user)["count"], 2);
  EXPECT_EQ(ids(Call("GET", "/v1/allocations?session=s-1")),
            (V{"0000000000000001", "0000000000000003"}));
  EXPECT_EQ(ids(Call("GET", "/v1/allocations?user=alice@example.com&session=s-2")),
            (V{"0000000000000002"}));
  // '+' is part of an id, not a space; "%2B" means the same.
  EXPECT_EQ(ids(Call("GET", "/v1/allocations?user=bob+test")), (V{"0000000000000003"}));
  EXPECT_EQ(ids(Call("GET", "/v1/allocations?user=bob%2Btest")), (V{"0000000000000003"}));
  EXPECT_EQ(ids(Call("GET", "/v1/allocations?user=carol")), V{});
}

TEST_F(ControlListenerTest, ListAllocationsRejectsBadFiltersWithoutAskingTheWorkers) {
  for (const char* target :
       {"/v1/allocations?user=", "/v1/allocations?user=a%20b", "/v1/allocations?usr=alice",
        "/v1/allocations?user=a&user=b", "/v1/allocations?session=%00", "/v1/allocations?user",
        "/v1/allocations?user=a%22b"}) {
    SCOPED_TRACE(target);
    ExpectProblem(Call("GET", target), 400, "BAD_REQUEST");
  }
  EXPECT_EQ(backend_.list_calls(), 0);
  EXPECT_NE(Detail(Call("GET", "/v1/allocations?usr=alice")).find("usr"), std::string::npos);
}

TEST_F(ControlListenerTest, ListAllocationsIs503WhenTheWorkersDoNotAnswer) {
  backend_.SetAnswers(false);
  ExpectProblem(Call("GET", "/v1/allocations"), 503, "UNAVAILABLE");
}

TEST_F(ControlListenerTest, DeleteAllocationEndsItById) {
  backend_.AddAllocation(Allocation(0x00010000000000a3, "alice", "s-1"));
  backend_.AddAllocation(Allocation(0xa4, "alice", "s-1"));
  HttpResponse r = Call("DELETE", "/v1/allocations/00010000000000a3");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.headers["cache-control"], "no-store");
  // Fewer digits and upper case name the same id.
  EXPECT_EQ(Call("DELETE", "/v1/allocations/A4").status, 204);
  EXPECT_EQ(backend_.ended(), (std::vector<uint64_t>{0x00010000000000a3, 0xa4}));
}

TEST_F(ControlListenerTest, DeleteUnknownAllocationIs404) {
  ExpectProblem(Call("DELETE", "/v1/allocations/00000000000000ff"), 404, "NOT_FOUND");
  EXPECT_EQ(backend_.ended(), (std::vector<uint64_t>{0xff}));
}

TEST_F(ControlListenerTest, DeleteAllocationIs503WhenTheWorkersDoNotAnswer) {
  backend_.SetAnswers(false);
  ExpectProblem(Call("DELETE", "/v1/allocations/a3"), 503, "UNAVAILABLE");
}

TEST_F(ControlListenerTest, DeleteAllocationWithAMalformedIdIs400) {
  for (const char* target : {"/v1/allocations/xyz", "/v1/allocations/00010000000000a30",
                             "/v1/allocations/-1", "/v1/allocations/0x1", "/v1/allocations/a3%00",
                             "/v1/allocations/%20a3", "/v1/allocations/"}) {
    SCOPED_TRACE(target);
    ExpectProblem(Call("DELETE", target), 400, "BAD_REQUEST");
  }
  EXPECT_TRUE(backend_.ended().empty());
}

TEST_F(ControlListenerTest, RevokeUserRecordsItForADayByDefault) {
  backend_.SetEndedByRevoke(3);
  int64_t before = RealClock().UnixNow();
  HttpResponse r = Call("POST", "/v1/revocations", R"({"user":"alice@example.com"})");
  int64_t after = RealClock().UnixNow();
  ExpectJson(r, 201);
  json body = Body(r);
  EXPECT_EQ(body["kind"], "user");
  EXPECT_EQ(body["id"], "alice@example.com");
  EXPECT_EQ(body["ended_allocations"], 3);
  ASSERT_TRUE(body["until"].is_number_integer());
  EXPECT_GE(body["until"].get<int64_t>(), before + 86400);
  EXPECT_LE(body["until"].get<int64_t>(), after + 86400);
  EXPECT_EQ(r.headers["location"], "/v1/revocations/user/alice@example.com");

  std::vector<Revocation> revoked = backend_.revoked();
  ASSERT_EQ(revoked.size(), 1u);
  EXPECT_EQ(revoked[0].kind, RevocationKind::kUser);
  EXPECT_EQ(revoked[0].id, "alice@example.com");
  EXPECT_EQ(revoked[0].until, body["until"].get<int64_t>());
}

TEST_F(ControlListenerTest, RevokeSessionHonoursTtl) {
  int64_t before = RealClock().UnixNow();
  HttpResponse r = Call("POST", "/v1/revocations", R"({"ttl_s":60,"session":"s-1"})");
  int64_t after = RealClock().UnixNow();
  ExpectJson(r, 201);
  json body = Body(r);
  EXPECT_EQ(body["kind"], "session");
  EXPECT_EQ(body["id"], "s-1");
  EXPECT_EQ(body["ended_allocations"], 0);
  EXPECT_GE(body["until"].get<int64_t>(), before + 60);
  EXPECT_LE(body["until"].get<int64_t>(), after + 60);
  // The extremes of the range are accepted.
  EXPECT_EQ(Call("POST", "/v1/revocations", R"({"user":"a","ttl_s":1})").status, 201);
  EXPECT_EQ(Call("POST", "/v1/revocations", R"({"user":"b","ttl_s":2592000})").status, 201);
}

TEST_F(ControlListenerTest, RevokeRejectsBadBodiesNamingTheField) {
  struct Case {
    std::string body;
    const char* named;  // what the detail must mention
  };
  for (const Case& c : std::vector<Case>{
           {"", "JSON"},
           {"{\"user\":", "JSON"},
           {"{\"user\":\"a\"} trailing", "JSON"},
           {"[\"alice\"]", "object"},
           {"\"alice\"", "object"},
           {"{}", "\"user\""},
           {R"({"ttl_s":60})", "\"user\""},
           {R"({"user":"a","session":"b"})", "\"session\""},
           {R"({"user":"a","reason":"spam"})", "reason"},
           {R"({"user":42})", "\"user\""},
           {R"({"user":null})", "\"user\""},
           {R"({"user":""})", "\"user\""},
           {R"({"session":"has space"})", "\"session\""},
           {R"({"session":"caf\u00e9"})", "\"session\""},
           {R"({"user":"a/b"})", "\"user\""},
           {R"({"user":")" + std::string(65, 'a') + R"("})", "\"user\""},
           {R"({"user":"a","ttl_s":0})", "\"ttl_s\""},
           {R"({"user":"a","ttl_s":-5})", "\"ttl_s\""},
           {R"({"user":"a","ttl_s":2592001})", "\"ttl_s\""},
           {R"({"user":"a","ttl_s":18446744073709551615})", "\"ttl_s\""},
           {R"({"user":"a","ttl_s":1.5})", "\"ttl_s\""},
           {R"({"user":"a","ttl_s":"60"})", "\"ttl_s\""},
           {R"({"user":"a","ttl_s":true})", "\"ttl_s\""},
       }) {
    SCOPED_TRACE(c.body);
    HttpResponse r = Call("POST", "/v1/revocations", c.body);
    ExpectProblem(r, 400, "BAD_REQUEST");
    EXPECT_NE(Detail(r).find(c.named), std::string::npos) << Detail(r);
  }
  EXPECT_TRUE(backend_.revoked().empty());
}

TEST_F(ControlListenerTest, RevokeAcceptsAnIdOf64Bytes) {
  std::string id(64, 'z');
  HttpResponse r = Call("POST", "/v1/revocations", json{{"user", id}}.dump());
  ExpectJson(r, 201);
  EXPECT_EQ(Body(r)["id"], id);
}

TEST_F(ControlListenerTest, ListRevocationsShowsKindIdAndUntil) {
  ExpectJson(Call("GET", "/v1/revocations"), 200);
  EXPECT_EQ(Body(Call("GET", "/v1/revocations")), json::parse(R"({"revocations":[]})"));

  ASSERT_EQ(Call("POST", "/v1/revocations", R"({"user":"alice"})").status, 201);
  ASSERT_EQ(Call("POST", "/v1/revocations", R"({"session":"s-9"})").status, 201);
  json list = Body(Call("GET", "/v1/revocations"))["revocations"];
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["kind"], "user");
  EXPECT_EQ(list[0]["id"], "alice");
  EXPECT_TRUE(list[0]["until"].is_number_integer());
  EXPECT_EQ(list[1]["kind"], "session");
  EXPECT_EQ(list[1]["id"], "s-9");
  EXPECT_EQ(list[0].size(), 3u);
}

TEST_F(ControlListenerTest, LiftRevocationIs204ThenNotFound) {
  ASSERT_EQ(Call("POST", "/v1/revocations", R"({"user":"bob@example.com"})").status, 201);
  ASSERT_EQ(Call("POST", "/v1/revocations", R"({"session":"s-1"})").status, 201);

  HttpResponse lifted = Call("DELETE", "/v1/revocations/user/bob%40example.com");
  EXPECT_EQ(lifted.status, 204);
  EXPECT_EQ(lifted.headers["cache-control"], "no-store");
  ExpectProblem(Call("DELETE", "/v1/revocations/user/bob%40example.com"), 404, "NOT_FOUND");
  // The kind matters: s-1 is a session.
  ExpectProblem(Call("DELETE", "/v1/revocations/user/s-1"), 404, "NOT_FOUND");
  EXPECT_EQ(Call("DELETE", "/v1/revocations/session/s-1").status, 204);
  EXPECT_TRUE(backend_.revoked().empty());
}

TEST_F(ControlListenerTest, LiftRevocationWithABadIdIs400AndAnUnknownKindIs404) {
  for (const char* target : {"/v1/revocations/user/has%20space", "/v1/revocations/user/a%2Fb",
                             "/v1/revocations/session/%00", "/v1/revocations/user/"}) {
    SCOPED_TRACE(target);
    ExpectProblem(Call("DELETE", target), 400, "BAD_REQUEST");
  }
  ExpectProblem(Call("DELETE", "/v1/revocations/line/alice"), 404, "NOT_FOUND");
}

TEST_F(ControlListenerTest, UnknownPathsAre404) {
  for (const char* target : {"/", "/v1", "/v1/", "/v2/health", "/v1/health/", "/v1/nope",
                             "/v1/allocations/a3/extra", "/v1/revocations/user"}) {
    SCOPED_TRACE(target);
    ExpectProblem(Call("GET", target), 404, "NOT_FOUND");
  }
}

TEST_F(ControlListenerTest, PercentEncodedPathSegmentsAreDecoded) {
  ExpectJson(Call("GET", "/v1/%68ealth"), 200);
}

TEST_F(ControlListenerTest, WrongMethodIs405WithAllow) {
  struct Case {
    const char* method;
    const char* target;
    const char* allow;
  };
  for (const Case& c : std::vector<Case>{{"POST", "/v1/health", "GET"},
                                         {"PUT", "/v1/ready", "GET"},
                                         {"DELETE", "/v1/allocations", "GET"},
                                         {"GET", "/v1/allocations/a3", "DELETE"},
                                         {"PATCH", "/v1/revocations", "GET, POST"},
                                         {"DELETE", "/v1/revocations", "GET, POST"},
                                         {"OPTIONS", "/v1/revocations/user/bob", "DELETE"}}) {
    SCOPED_TRACE(std::string(c.method) + " " + c.target);
    HttpResponse r = Call(c.method, c.target);
    ExpectProblem(r, 405, "METHOD_NOT_ALLOWED");
    EXPECT_EQ(r.headers["allow"], c.allow);
  }
}

TEST_F(ControlListenerTest, HeadIs405WithoutABody) {
  std::string request =
      std::string("HEAD /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n") +
      "Authorization: Bearer " + kToken + "\r\n\r\n";
  std::optional<std::string> raw = HttpRaw(listener_->address(), request);
  ASSERT_TRUE(raw.has_value());
  std::optional<HttpResponse> r = ParseHttpResponse(*raw, /*head=*/true);
  ASSERT_TRUE(r.has_value()) << *raw;
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->headers["allow"], "GET");
  EXPECT_EQ(raw->substr(raw->size() - 4), "\r\n\r\n") << "a body followed the headers";
}

TEST_F(ControlListenerTest, RequestsWithoutAValidBearerTokenAre401) {
  std::string token = kToken;
  std::string wrong_same_length = token;
  wrong_same_length.back() ^= 1;
  std::vector<std::optional<std::string>> cases = {
      std::nullopt,
      "Bearer " + wrong_same_length,
      "Bearer " + token.substr(0, token.size() - 1),  // a prefix
      "Bearer " + token + "x",                        // longer
      "Bearer",
      "Bearer ",
      "Basic " + token,
      "Basic YWRtaW46" + token,
      token,
      "Bearer" + token,
  };
  for (const std::optional<std::string>& authorization : cases) {
    SCOPED_TRACE(authorization.value_or("(none)"));
    std::vector<std::pair<std::string, std::string>> headers;
    if (authorization) headers.emplace_back("Authorization", *authorization);
    std::optional<HttpResponse> r =
        HttpRequest(listener_->address(), "GET", "/v1/health", "", headers);
    ASSERT_TRUE(r.has_value());
    ExpectProblem(*r, 401, "UNAUTHORIZED");
    EXPECT_EQ(r->headers["www-authenticate"], "Bearer realm=\"cvrelay\"");
  }
}

TEST_F(ControlListenerTest, TwoAuthorizationHeadersAre401EvenIfOneIsRight) {
  std::optional<HttpResponse> r = HttpRequest(listener_->address(), "GET", "/v1/health", "",
                                              {{"Authorization", "Bearer wrong-token-0123456789"},
                                               {"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_TRUE(r.has_value());
  ExpectProblem(*r, 401, "UNAUTHORIZED");
}

TEST_F(ControlListenerTest, SchemeIsCaseInsensitive) {
  ExpectJson(CallWithAuthorization(std::string("bearer ") + kToken), 200);
  ExpectJson(CallWithAuthorization(std::string("BEARER  ") + kToken), 200);
}

TEST_F(ControlListenerTest, StrangersLearnNothingAboutRoutesOrMethods) {
  ExpectProblem(CallWithAuthorization("Bearer nope", "/v1/no-such-thing"), 401, "UNAUTHORIZED");
  std::optional<HttpResponse> r =
      HttpRequest(listener_->address(), "PUT", "/v1/health", "", {{"Authorization", "Bearer x"}});
  ASSERT_TRUE(r.has_value());
  ExpectProblem(*r, 401, "UNAUTHORIZED");
  EXPECT_EQ(backend_.list_calls(), 0);
}

TEST_F(ControlListenerTest, BodiesOver16KiBAre413) {
  std::string body = R"({"user":"alice","pad":")" + std::string(16 * 1024, 'x') + "\"}";
  HttpResponse r = Call("POST", "/v1/revocations", body);
  ExpectProblem(r, 413, "PAYLOAD_TOO_LARGE");
  EXPECT_TRUE(backend_.revoked().empty());

  // Exactly at the limit is still read (and then judged on its content).
  std::string at_limit = R"({"user":"alice"})" + std::string(16 * 1024 - 16, ' ');
  ASSERT_EQ(at_limit.size(), 16u * 1024);
  ExpectJson(Call("POST", "/v1/revocations", at_limit), 201);
}

TEST_F(ControlListenerTest, HugeBodiesAreRefusedWithoutBeingRead) {
  // libevent refuses these from Content-Length alone; the status is the same.
  HttpResponse r = Call("POST", "/v1/revocations", std::string(1024 * 1024, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_TRUE(backend_.revoked().empty());
  ExpectJson(Call("GET", "/v1/health"), 200);
}

TEST_F(ControlListenerTest, ChunkedBodiesAreAccepted) {
  std::string request = std::string("POST /v1/revocations HTTP/1.1\r\nHost: x\r\n") +
                        "Authorization: Bearer " + kToken +
                        "\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "8\r\n{\"user\":\r\n8\r\n\"alice\"}\r\n0\r\n\r\n";
  std::optional<std::string> raw = HttpRaw(listener_->address(), request);
  ASSERT_TRUE(raw.has_value());
  std::optional<HttpResponse> r = ParseHttpResponse(*raw);
  ASSERT_TRUE(r.has_value()) << *raw;
  ExpectJson(*r, 201);
  EXPECT_EQ(Body(*r)["id"], "alice");
}

TEST_F(ControlListenerTest, GarbageRequestsAreRefusedAndTheListenerKeepsServing) {
  // The start of a TLS ClientHello, as a client configured for https would send.
  constexpr char kTlsHello[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n";
  for (std::string garbage :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET\r\n\r\n"),
        std::string("GET /v1/health HTTP/9.9\r\n\r\n"),
        std::string(kTlsHello, sizeof(kTlsHello) - 1),
        std::string("GET /v1/health HTTP/1.1\r\nNo colon here\r\n\r\n"),
        "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\n\r\n",
        "GET /v1/health HTTP/1.1\r\nX-Big: " + std::string(10000, 'b') + "\r\n\r\n"}) {
    SCOPED_TRACE(garbage.substr(0, 40));
    std::optional<std::string> raw = HttpRaw(listener_->address(), garbage);
    ASSERT_TRUE(raw.has_value()) << "the connection was left open";
    if (!raw->empty()) {
      std::optional<HttpResponse> r = ParseHttpResponse(*raw);
      ASSERT_TRUE(r.has_value()) << *raw;
      EXPECT_GE(r->status, 400);
      EXPECT_LT(r->status, 500);
    }
    ExpectJson(Call("GET", "/v1/health"), 200);
  }
}

TEST_F(ControlListenerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  std::string auth = std::string("Authorization: Bearer ") + kToken + "\r\n";
  std::string request = "GET /v1/health HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n" +
                        "GET /v1/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + auth +
                        "\r\n";
  std::optional<std::string> raw = HttpRaw(listener_->address(), request);
  ASSERT_TRUE(raw.has_value());
  size_t first = raw->find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos) << *raw;
  EXPECT_NE(raw->find("HTTP/1.1 503", first), std::string::npos) << *raw;  // not ready
}

TEST_F(ControlListenerTest, FiftySequentialRequestsLeakNoDescriptors) {
  ExpectJson(Call("GET", "/v1/health"), 200);  // anything lazily opened is opened now
  size_t before = OpenDescriptors();
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(Call("GET", "/v1/allocations").status, 200) << "request " << i;
  }
  EXPECT_LE(OpenDescriptors(), before + 2);
}

TEST_F(ControlListenerTest, StopIsIdempotentAndFreesThePort) {
  SocketAddress address = listener_->address();
  EXPECT_EQ(address.ip, *IpAddress::Parse("127.0.0.1"));
  EXPECT_NE(address.port, 0);
  ExpectJson(Call("GET", "/v1/health"), 200);

  listener_->Stop();
  listener_->Stop();
  EXPECT_FALSE(HttpRequest(address, "GET", "/v1/health").has_value());

  std::string error;
  std::unique_ptr<ControlListener> again =
      ControlListener::Start(Config(address.port), backend_, &error);
  ASSERT_NE(again, nullptr) << error;
  EXPECT_EQ(again->address(), address);
  listener_ = std::move(again);
  ExpectJson(Call("GET", "/v1/health"), 200);
}

TEST_F(ControlListenerTest, StartFailsWhenThePortIsTaken) {
  std::string error;
  uint16_t port = listener_->address().port;
  EXPECT_EQ(ControlListener::Start(Config(port), backend_, &error), nullptr);
  EXPECT_EQ(error, "control listener: cannot bind 127.0.0.1:" + std::to_string(port) +
                       ": Address already in use");
}

TEST_F(ControlListenerTest, StartRefusesATokenShorterThan16Bytes) {
  ControlListenerConfig config = Config();
  config.token = "0123456789abcde";
  std::string error;
  EXPECT_EQ(ControlListener::Start(config, backend_, &error), nullptr);
  EXPECT_EQ(error, "control listener: the token must be at least 16 bytes");

  config.token = "0123456789abcdef";
  std::unique_ptr<ControlListener> listener = ControlListener::Start(config, backend_, &error);
  EXPECT_NE(listener, nullptr) << error;
}

TEST_F(ControlListenerTest, ListensOnIpv6) {
  ControlListenerConfig config = Config();
  config.address = Addr("[::1]:0");
  std::string error;
  std::unique_ptr<ControlListener> listener = ControlListener::Start(config, backend_, &error);
  if (listener == nullptr && error.find("Cannot assign requested address") != std::string::npos) {
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  ASSERT_NE(listener, nullptr) << error;
  EXPECT_EQ(listener->address().ip, *IpAddress::Parse("::1"));
  std::optional<HttpResponse> r = HttpRequest(listener->address(), "GET", "/v1/health", "",
                                              {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
}

TEST_F(ControlListenerTest, AnIdleConnectionIsClosedAfterTheRequestTimeout) {
  ControlListenerConfig config = Config();
  config.request_timeout_s = 1;
  std::string error;
  std::unique_ptr<ControlListener> listener = ControlListener::Start(config, backend_, &error);
  ASSERT_NE(listener, nullptr) << error;
  auto start = std::chrono::steady_clock::now();
  // Half a request, never finished.
  std::optional<std::string> raw = HttpRaw(
      listener->address(), "GET /v1/health HTTP/1.1\r\nHost: x\r\n", std::chrono::seconds(5));
  EXPECT_TRUE(raw.has_value()) << "the server kept the connection open";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

TEST_F(ControlListenerTest, MetricsAreServedAsPrometheusTextBehindTheToken) {
  HttpResponse r = Call("GET", "/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.count("content-type") ? r.headers.at("content-type") : "",
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("cvrelay_uptime_seconds 5\n"), std::string::npos);
  ExpectProblem(CallWithAuthorization("Bearer wrong-token-0123456789", "/metrics"), 401,
                "UNAUTHORIZED");
  ExpectProblem(Call("POST", "/metrics"), 405, "METHOD_NOT_ALLOWED");
  backend_.SetAnswers(false);
  ExpectProblem(Call("GET", "/metrics"), 503, "UNAVAILABLE");
}

TEST_F(ControlListenerTest, AMetricsOnlyListenerWithoutATokenServesMetricsAlone) {
  ControlListenerConfig config = Config();
  config.token.clear();
  config.control_routes = false;
  std::string error;
  auto metrics = ControlListener::Start(config, backend_, &error);
  ASSERT_NE(metrics, nullptr) << error;
  auto r = HttpRequest(metrics->address(), "GET", "/metrics", "", {});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 200);
  auto health = HttpRequest(metrics->address(), "GET", "/v1/health", "", {});
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->status, 404);
}

TEST_F(ControlListenerTest, WithoutMetricsEnabledTheRouteIsUnknown) {
  ControlListenerConfig config = Config();
  config.metrics = false;
  std::string error;
  auto plain = ControlListener::Start(config, backend_, &error);
  ASSERT_NE(plain, nullptr) << error;
  auto r = HttpRequest(plain->address(), "GET", "/metrics", "",
                       {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 404);
}

TEST_F(ControlListenerTest, AControlListenerNeedsAToken) {
  ControlListenerConfig config = Config();
  config.token.clear();
  std::string error;
  EXPECT_EQ(ControlListener::Start(config, backend_, &error), nullptr);
  EXPECT_NE(error.find("token"), std::string::npos) << error;
}

TEST_F(ControlListenerTest, UserUsageShowsPeriodsGuardAndEffectiveLimits) {
  HttpResponse r = Call("GET", "/v1/usage/users/alice");
  ExpectJson(r, 200);
  json body = Body(r);
  EXPECT_EQ(body["user"], "alice");
  EXPECT_EQ(body["plan"], "trial");
  EXPECT_EQ(body["month"]["relayed_ms"], 90000);
  EXPECT_EQ(body["month"]["relayed_seconds"], 90.0);
  EXPECT_EQ(body["month"]["calls"], 3);
  EXPECT_EQ(body["abuse_guard"]["capped_duration_s"], 300);
  EXPECT_EQ(body["abuse_guard"]["until_ms"], 2000);
  EXPECT_EQ(body["effective"]["monthly_relay_minutes"], 600);
  EXPECT_EQ(body["effective"]["month_relay_minutes_used"], 1.5);
  EXPECT_EQ(body["effective"]["monthly_quota_exhausted"], false);
  // The guard tightens the plan's hour to five minutes.
  EXPECT_EQ(body["effective"]["max_call_duration_s"], 300);
}

TEST_F(ControlListenerTest, SessionUsageIsTheSessionsTotals) {
  HttpResponse r = Call("GET", "/v1/usage/sessions/s-1");
  ExpectJson(r, 200);
  EXPECT_EQ(Body(r)["session"], "s-1");
  EXPECT_EQ(Body(r)["relayed_ms"], 1500);
  EXPECT_EQ(Body(r)["allocations"], 2);
}

TEST_F(ControlListenerTest, UsageRecordsTakeValidatedFilters) {
  HttpResponse r = Call("GET", "/v1/usage/records?user=bob&live=1&limit=5");
  ExpectJson(r, 200);
  EXPECT_EQ(Body(r)["count"], 1);
  EXPECT_EQ(Body(r)["records"][0]["user"], "bob");
  EXPECT_EQ(Body(r)["records"][0]["reason"], "quota");
  EXPECT_EQ(Body(r)["records"][0]["allocation"], "0000000000000010");
  auth::RecordFilter f = backend_.last_filter();
  EXPECT_EQ(f.user, "bob");
  EXPECT_TRUE(f.live_only);
  EXPECT_EQ(f.limit, 5u);
  ExpectProblem(Call("GET", "/v1/usage/records?limit=0"), 400, "BAD_REQUEST");
  ExpectProblem(Call("GET", "/v1/usage/records?limit=10001"), 400, "BAD_REQUEST");
  ExpectProblem(Call("GET", "/v1/usage/records?live=yes"), 400, "BAD_REQUEST");
  ExpectProblem(Call("GET", "/v1/usage/records?user=a%20b"), 400, "BAD_REQUEST");
  ExpectProblem(Call("GET", "/v1/usage/records?user=a&user=b"), 400, "BAD_REQUEST");
  ExpectProblem(Call("GET", "/v1/usage/records?node=x"), 400, "BAD_REQUEST");
}

TEST_F(ControlListenerTest, UsageRoutesSayWhenTheLedgerIsOffOrUnreadable) {
  ExpectProblem(Call("GET", "/v1/usage/users/%2F..%2F"), 400, "BAD_REQUEST");
  ExpectProblem(Call("POST", "/v1/usage/users/alice"), 405, "METHOD_NOT_ALLOWED");
  ExpectProblem(Call("GET", "/v1/usage/nothing/alice"), 404, "NOT_FOUND");
  backend_.SetAnswers(false);
  HttpResponse locked = Call("GET", "/v1/usage/users/alice");
  ExpectProblem(locked, 503, "UNAVAILABLE");
  EXPECT_NE(Detail(locked).find("database is locked"), std::string::npos);
  backend_.SetLedger(false);
  ExpectProblem(Call("GET", "/v1/usage/users/alice"), 503, "LEDGER_OFF");
}

}  // namespace
}  // namespace cv::server
