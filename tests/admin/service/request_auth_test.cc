#include "admin/service/request_auth.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "admin/service/rate_limits.h"
#include "admin/token/ed25519.h"
#include "admin/token/signed_request.h"
#include "tests/support/process.h"

namespace cv::admin {
namespace {

constexpr int64_t kNow = 1794297600;

class RequestAuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    store_ = OpenSqliteAdminStore(dir_.path() + "/admin.db", {}, &error);
    ASSERT_TRUE(store_) << error;
    key_ = token::Ed25519Key::Generate(&error);
    ASSERT_TRUE(key_);
    User alice{"alice", "free", key_->PublicKey(), 1, 1};
    ASSERT_EQ(store_->CreateUser(alice, &error), StoreStatus::kOk);
    RequestAuthOptions options;
    options.service_keys = {http::DigestToken("service-key-0123456789-0123456789")};
    auth_ = std::make_unique<RequestAuthenticator>(*store_, clock_, metrics_, options);
  }

  http::Request Signed(int64_t timestamp, const std::string& nonce, const std::string& body = "{}",
                       const std::string& user = "alice") {
    http::Request r;
    r.method = "POST";
    r.target = "/v1/call-sessions";
    r.body = body;
    auto sig = token::SignRequest(*key_, user, timestamp, nonce, "POST", r.target, body);
    r.headers = {{"X-CV-User", sig.user},
                 {"X-CV-Timestamp", sig.timestamp},
                 {"X-CV-Nonce", sig.nonce},
                 {"X-CV-Signature", sig.signature}};
    return r;
  }

  std::string Refused(const http::Request& r) {
    Refusal refusal;
    auto caller = auth_->Authenticate(r, &refusal);
    return caller ? "OK:" + caller->user.id : refusal.code;
  }

  bool Counted(const std::string& source, const std::string& reason, int n) {
    return metrics_.Render().find("cvadmin_auth_failures_total{reason=\"" + reason +
                                  "\",source=\"" + source + "\"} " + std::to_string(n)) !=
           std::string::npos;
  }

  testing::TempDir dir_;
  SimulatedClock clock_{kNow};
  AdminMetrics metrics_;
  std::unique_ptr<AdminStore> store_;
  std::optional<token::Ed25519Key> key_;
  std::unique_ptr<RequestAuthenticator> auth_;
};

TEST_F(RequestAuthenticatorTest, ASignedRequestIsAcceptedOnceAndItsReplayRefused) {
  http::Request r = Signed(clock_.UnixNow(), "nonce-0000000000001");
  EXPECT_EQ(Refused(r), "OK:alice");
  EXPECT_EQ(Refused(r), "TOKEN_REPLAYED");
  EXPECT_TRUE(Counted("request", "replay", 1));
}

TEST_F(RequestAuthenticatorTest, SkewBeyond120SecondsIsRefusedWithTheServerTime) {
  EXPECT_EQ(Refused(Signed(clock_.UnixNow() - 120, "nonce-0000000000002")), "OK:alice");
  http::Request late = Signed(clock_.UnixNow() - 180, "nonce-0000000000003");
  Refusal refusal;
  EXPECT_FALSE(auth_->Authenticate(late, &refusal));
  EXPECT_EQ(refusal.code, "CLOCK_SKEW");
  EXPECT_EQ(refusal.extra["server_time"], clock_.UnixNow());
  EXPECT_EQ(Refused(Signed(clock_.UnixNow() + 180, "nonce-0000000000004")), "CLOCK_SKEW");
  EXPECT_TRUE(Counted("request", "skew", 2));
}

TEST_F(RequestAuthenticatorTest, UnknownUserBadSignatureAndMissingHeadersHaveTheirOwnCodes) {
  EXPECT_EQ(Refused(Signed(clock_.UnixNow(), "nonce-0000000000005", "{}", "mallory")),
            "UNKNOWN_KEY");
  http::Request tampered = Signed(clock_.UnixNow(), "nonce-0000000000006");
  tampered.body = R"({"callee":"x"})";
  EXPECT_EQ(Refused(tampered), "BAD_SIGNATURE");
  http::Request bare;
  bare.method = "POST";
  bare.target = "/v1/call-sessions";
  EXPECT_EQ(Refused(bare), "SIGNATURE_REQUIRED");
  http::Request partial = Signed(clock_.UnixNow(), "nonce-0000000000007");
  partial.headers.pop_back();
  EXPECT_EQ(Refused(partial), "BAD_REQUEST");
  EXPECT_TRUE(Counted("request", "unknown_key", 1));
  EXPECT_TRUE(Counted("request", "bad_signature", 1));
}

TEST_F(RequestAuthenticatorTest, ServiceModeActsForAUserWithAnApiKey) {
  http::Request r;
  r.method = "POST";
  r.target = "/v1/call-sessions";
  r.headers = {{"Authorization", "Bearer service-key-0123456789-0123456789"},
               {"X-CV-User", "alice"}};
  EXPECT_EQ(Refused(r), "OK:alice");
  r.headers[0].second = "Bearer wrong-key-0123456789-0123456789";
  EXPECT_EQ(Refused(r), "UNKNOWN_KEY");
  r.headers = {{"Authorization", "Bearer service-key-0123456789-0123456789"}};
  EXPECT_EQ(Refused(r), "BAD_REQUEST");
}

TEST(RateLimitsTest, PerIpLimitIgnoresThePortAndPerUserLimitIsSeparate) {
  SimulatedClock clock;
  RateLimitOptions options;
  options.per_ip[static_cast<size_t>(Endpoint::kCallStart)] = 3;
  options.per_user[static_cast<size_t>(Endpoint::kCallStart)] = 2;
  RateLimits limits(options, clock);
  const IpAddress ip = *IpAddress::Parse("198.51.100.7");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limits.CheckIp(Endpoint::kCallStart, ip), 0);
  EXPECT_EQ(limits.CheckIp(Endpoint::kCallStart, ip), 20);  // 3/min: one every 20 s
  EXPECT_EQ(limits.CheckIp(Endpoint::kEvent, ip), 0);       // another endpoint class
  EXPECT_EQ(limits.CheckUser(Endpoint::kCallStart, "alice"), 0);
  EXPECT_EQ(limits.CheckUser(Endpoint::kCallStart, "alice"), 0);
  EXPECT_GT(limits.CheckUser(Endpoint::kCallStart, "alice"), 0);
  EXPECT_EQ(limits.CheckUser(Endpoint::kCallStart, "bob"), 0);
  // IPv6 clients count per /64.
  EXPECT_EQ(limits.CheckIp(Endpoint::kCallStart, *IpAddress::Parse("2001:db8::1")), 0);
  EXPECT_EQ(limits.CheckIp(Endpoint::kCallStart, *IpAddress::Parse("2001:db8::2")), 0);
  EXPECT_EQ(limits.CheckIp(Endpoint::kCallStart, *IpAddress::Parse("2001:db8::3")), 0);
  EXPECT_GT(limits.CheckIp(Endpoint::kCallStart, *IpAddress::Parse("2001:db8::4")), 0);
  clock.Advance(std::chrono::seconds(20));
  EXPECT_EQ(limits.CheckIp(Endpoint::kCallStart, ip), 0);
}

}  // namespace
}  // namespace cv::admin
