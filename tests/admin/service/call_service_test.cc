#include "admin/service/call_service.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "admin/service/admin_service.h"
#include "admin/token/base64url.h"
#include "admin/token/jwt.h"
#include "cv/auth/claims.h"
#include "cv/auth/rest_credentials.h"
#include "tests/support/process.h"

namespace cv::admin {
namespace {

using json = nlohmann::json;

constexpr int64_t kStart = 1794297600;  // 2026-11-10T08:00:00Z, a Tuesday mid-month
constexpr char kSecret[] = "turn-secret-0123456789";

class CallServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    store_ = OpenSqliteAdminStore(dir_.path() + "/admin.db", {}, &error);
    ASSERT_TRUE(store_) << error;
    key_ = token::Ed25519Key::Generate(&error);
    ASSERT_TRUE(key_) << error;
    service_ = MakeService();
  }

  std::unique_ptr<CallService> MakeService() {
    token::VerifyKey verify{token::JwkThumbprint(key_->PublicKey()), key_->PublicKey()};
    KeyRing keys{token::SigningKey{verify.kid, *key_}, {verify}, {}};
    ServiceOptions options;
    options.stun_urls = {"stun:relay.test:3478"};
    options.turn_urls = {"turn:relay.test:3478?transport=udp",
                         "turns:relay.test:443?transport=tcp"};
    auto service =
        std::make_unique<CallService>(*store_, clock_, metrics_, keys, auth::Plans::Defaults(),
                                      std::vector<auth::Secret>{{"k1", kSecret, 0}}, options);
    std::string error;
    EXPECT_TRUE(service->Start(&error)) << error;
    return service;
  }

  // The admin side of the current service (no relays, no usage ledger).
  AdminService Admin() {
    return AdminService(*store_, *service_, clock_, metrics_, nullptr, nullptr, {});
  }

  User AddUser(const std::string& id, const std::string& tier) {
    Reply r = Admin().CreateUser({{"id", id}, {"tier", tier}}, "test");
    EXPECT_EQ(r.status, 201) << (r.refusal ? r.refusal->detail : "");
    User u;
    std::string error;
    EXPECT_EQ(store_->FindUser(id, &u, &error), StoreStatus::kOk);
    return u;
  }

  void Befriend(const User& a, const User& b) {
    ASSERT_TRUE(service_->ApproveContact(a, {{"contact", b.id}}).ok());
    Reply r = service_->ApproveContact(b, {{"contact", a.id}});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.body["mutual"].get<bool>());
  }

  Reply Call(const User& from, const std::string& to, const std::string& line = "line-1") {
    return service_->StartCall(from, {{"call_id", line}, {"kind", "direct"}, {"callee", to}});
  }

  Reply Event(const User& u, const std::string& session, const std::string& type,
              json extra = json::object()) {
    extra["type"] = type;
    return service_->PostEvent(u, session, extra);
  }

  // Starts, connects, lasts `seconds` with heartbeats, and ends a call.
  void TalkFor(const User& from, const User& to, int seconds) {
    Reply r = Call(from, to.id);
    ASSERT_EQ(r.status, 201) << (r.refusal ? r.refusal->code : "");
    const std::string sid = r.body["session_id"];
    ASSERT_TRUE(Event(from, sid, "connected").ok());
    for (int t = 0; t < seconds; t += 15) {
      Advance(std::min(15, seconds - t));
      service_->Sweep();
      Event(from, sid, "heartbeat");
    }
    Event(from, sid, "ended");
    EXPECT_EQ(Stored(sid).call_seconds, static_cast<uint32_t>(seconds));
  }

  void Advance(int64_t seconds) { clock_.Advance(std::chrono::seconds(seconds)); }

  static std::string Code(const Reply& r) { return r.refusal ? r.refusal->code : "OK"; }

  CallSession Stored(const std::string& id) {
    CallSession s;
    std::string error;
    EXPECT_EQ(store_->FindSession(id, &s, &error), StoreStatus::kOk);
    return s;
  }

  testing::TempDir dir_;
  SimulatedClock clock_{kStart};
  AdminMetrics metrics_;
  std::unique_ptr<AdminStore> store_;
  std::optional<token::Ed25519Key> key_;
  std::unique_ptr<CallService> service_;
};

TEST_F(CallServiceTest, FreeUserThirdCallInAUtcDayGetsLimitDailyCalls) {
  User alice = AddUser("alice", "free"), bob = AddUser("bob", "free");
  Befriend(alice, bob);
  TalkFor(alice, bob, 30);
  TalkFor(alice, bob, 30);
  Reply third = Call(alice, "bob");
  EXPECT_EQ(third.status, 403);
  EXPECT_EQ(Code(third), "LIMIT_DAILY_CALLS");
  // Until the next UTC midnight.
  constexpr int64_t kNextMidnight = 1794355200;  // 2026-11-11T00:00:00Z
  EXPECT_EQ(third.refusal->retry_after_s, kNextMidnight - clock_.UnixNow());
  Advance(third.refusal->retry_after_s);
  EXPECT_EQ(Call(alice, "bob").status, 201);
  EXPECT_NE(metrics_.Render().find(
                "cvadmin_call_starts_total{plan=\"free\",result=\"limit_daily_calls\"} 1"),
            std::string::npos);
}

TEST_F(CallServiceTest, FreeUserMayCallOnlyMutuallyApprovedContacts) {
  User alice = AddUser("alice", "free"), bob = AddUser("bob", "free");
  EXPECT_EQ(Code(Call(alice, "bob")), "NOT_APPROVED_CONTACT");
  ASSERT_TRUE(service_->ApproveContact(alice, {{"contact", "bob"}}).ok());
  EXPECT_EQ(Code(Call(alice, "bob")), "NOT_APPROVED_CONTACT");  // one side only
  ASSERT_TRUE(service_->ApproveContact(bob, {{"contact", "alice"}}).ok());
  EXPECT_EQ(Call(alice, "bob").status, 201);
  // Unknown callees are refused the same way: the answer does not tell who exists.
  EXPECT_EQ(Code(Call(alice, "nobody")), "NOT_APPROVED_CONTACT");
}

TEST_F(CallServiceTest, FreeCalleeTakesCallsOnlyFromApprovedContactsEvenFromPaidCallers) {
  User pro = AddUser("pat", "pro"), free = AddUser("fay", "free"), pro2 = AddUser("pam", "pro");
  EXPECT_EQ(Code(Call(pro, "fay")), "NOT_APPROVED_CONTACT");
  EXPECT_EQ(Call(pro, "pam").status, 201);  // paid to paid: no approval needed
  Befriend(pro, free);
  EXPECT_EQ(Call(pro, "fay").status, 201);
}

TEST_F(CallServiceTest, GroupCallsAndExternalLinksFollowThePlan) {
  User free = AddUser("fay", "free"), pro = AddUser("pat", "pro");
  auto group = [this](const User& u, int size) {
    return service_->StartCall(u, {{"call_id", "l"}, {"kind", "group"}, {"group_size", size}});
  };
  EXPECT_EQ(Code(group(free, 3)), "GROUP_CALLS_NOT_ALLOWED");
  EXPECT_EQ(Code(service_->StartCall(free, {{"call_id", "l"}, {"kind", "external_link"}})),
            "EXTERNAL_LINKS_NOT_ALLOWED");
  EXPECT_EQ(Code(group(pro, 7)), "GROUP_TOO_LARGE");
  EXPECT_EQ(group(pro, 6).status, 201);
  EXPECT_EQ(service_->StartCall(pro, {{"call_id", "l"}, {"kind", "external_link"}}).status, 201);
  EXPECT_EQ(Code(group(pro, 1)), "BAD_REQUEST");
}

TEST_F(CallServiceTest, FreeUserHasOneCallIdAndCannotUseAnothersLine) {
  User alice = AddUser("alice", "free"), bob = AddUser("bob", "free");
  Befriend(alice, bob);
  EXPECT_EQ(Call(alice, "bob", "alice-line").status, 201);
  EXPECT_EQ(Code(Call(alice, "bob", "second-line")), "CALL_ID_NOT_ALLOWED");
  EXPECT_EQ(Code(Call(bob, "alice", "alice-line")), "CALL_ID_NOT_ALLOWED");
}

TEST_F(CallServiceTest, ServerEndsAFreeCallAt600Seconds) {
  User alice = AddUser("alice", "free"), bob = AddUser("bob", "free");
  Befriend(alice, bob);
  Reply r = Call(alice, "bob");
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(r.body["max_duration_s"], 600);
  EXPECT_FALSE(r.body["allow_turn"].get<bool>());
  const std::string sid = r.body["session_id"];
  ASSERT_TRUE(Event(alice, sid, "connected").ok());
  for (int t = 0; t < 599; t += 15) {
    Advance(15);
    service_->Sweep();
    ASSERT_TRUE(Event(alice, sid, "heartbeat").ok()) << "ended early at " << t + 15;
    if (t + 30 >= 600) break;
  }
  Advance(600);  // well past the cap; the sweep ends it at the cap, not later
  service_->Sweep();
  Reply after = Event(alice, sid, "heartbeat");
  EXPECT_EQ(after.status, 409);
  EXPECT_EQ(Code(after), "LIMIT_CALL_DURATION");
  CallSession s = Stored(sid);
  EXPECT_EQ(s.end_reason, "duration_limit");
  EXPECT_EQ(s.call_seconds, 600u);
  EXPECT_EQ(s.ended_ms, s.connected_ms + 600'000);
}

TEST_F(CallServiceTest, CallWithoutHeartbeatFor45SecondsEndsAtItsLastEvent) {
  User pro = AddUser("pat", "pro"), pam = AddUser("pam", "pro");
  Reply r = Call(pro, pam.id);
  const std::string sid = r.body["session_id"];
  ASSERT_TRUE(Event(pro, sid, "connected").ok());
  Advance(20);
  ASSERT_TRUE(Event(pro, sid, "heartbeat").ok());
  Advance(44);
  service_->Sweep();
  EXPECT_TRUE(Event(pro, sid, "heartbeat").ok());  // 44 s: still alive
  Advance(45);
  service_->Sweep();
  EXPECT_EQ(Code(Event(pro, sid, "heartbeat")), "SESSION_ENDED");
  CallSession s = Stored(sid);
  EXPECT_EQ(s.end_reason, "heartbeat_timeout");
  EXPECT_EQ(s.call_seconds, 64u);  // to the last heartbeat, not through the silence
}

TEST_F(CallServiceTest, MonthlyCallSecondsCapTheCallAndThenRefuseNewOnes) {
  User alice = AddUser("alice", "free"), bob = AddUser("bob", "free");
  Befriend(alice, bob);
  TalkFor(alice, bob, 600);
  TalkFor(alice, bob, 600);
  Advance(86400);
  TalkFor(alice, bob, 300);  // 1500 of 1800 s used
  Reply r = Call(alice, "bob");
  ASSERT_EQ(r.status, 201);
  EXPECT_EQ(r.body["max_duration_s"], 300);  // what the month has left, not 600
  EXPECT_EQ(r.body["entitlements"]["call_seconds_left_this_month"], 300);
  const std::string sid = r.body["session_id"];
  ASSERT_TRUE(Event(alice, sid, "connected").ok());
  for (int t = 0; t < 300; t += 15) {
    Advance(15);
    service_->Sweep();
    Event(alice, sid, "heartbeat");
  }
  EXPECT_EQ(Stored(sid).end_reason, "monthly_limit");
  EXPECT_EQ(Code(Event(alice, sid, "heartbeat")), "LIMIT_MONTHLY_MINUTES");
  Advance(86400);
  Reply refused = Call(alice, "bob");
  EXPECT_EQ(Code(refused), "LIMIT_MONTHLY_MINUTES");
  EXPECT_GT(refused.refusal->retry_after_s, 0);
}

TEST_F(CallServiceTest, FreeUserAskingForTurnIsRefusedAndNoCredentialIsMinted) {
  User alice = AddUser("alice", "free"), bob = AddUser("bob", "free");
  Befriend(alice, bob);
  Reply r = Call(alice, "bob");
  ASSERT_EQ(r.status, 201);
  ASSERT_EQ(r.body["iceServers"].size(), 1u);
  EXPECT_FALSE(r.body["iceServers"][0].contains("username"));
  Reply turn = service_->TurnCredentials(alice, {{"token", r.body["token"]}});
  EXPECT_EQ(turn.status, 403);
  EXPECT_EQ(Code(turn), "TURN_NOT_ENTITLED");
  EXPECT_EQ(turn.refusal->detail, kTurnNotEntitledMessage);
  EXPECT_TRUE(turn.body.is_null());
  EXPECT_NE(metrics_.Render().find("cvadmin_turn_credentials_total{plan=\"free\",result=\"turn_"
                                   "not_entitled\"} 1"),
            std::string::npos);
}

TEST_F(CallServiceTest, ProUserGetsATurnCredentialCarryingTheTokensClaims) {
  User pat = AddUser("pat", "pro"), pam = AddUser("pam", "pro");
  Reply r = service_->StartCall(
      pat, {{"call_id", "work"}, {"kind", "direct"}, {"callee", "pam"}, {"video", true}});
  ASSERT_EQ(r.status, 201);
  Reply turn = service_->TurnCredentials(pat, {{"token", r.body["token"]}});
  ASSERT_EQ(turn.status, 200) << Code(turn);
  const json& servers = turn.body["iceServers"];
  ASSERT_EQ(servers.size(), 2u);
  const std::string username = servers[1]["username"];
  EXPECT_EQ(servers[1]["urls"][1], "turns:relay.test:443?transport=tcp");
  EXPECT_EQ(servers[1]["credential"], testing::RestPassword(kSecret, username));
  auto claims = auth::ParseClaims(username.substr(username.find(':') + 1));
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->user, "pat");
  EXPECT_EQ(claims->session, r.body["session_id"]);
  EXPECT_EQ(claims->line, "work");
  EXPECT_EQ(claims->plan, "pro");
  EXPECT_EQ(claims->key_id, "k1");
  EXPECT_TRUE(claims->video);
  // The token is spent; a second request with it is a replay.
  EXPECT_EQ(Code(service_->TurnCredentials(pat, {{"token", r.body["token"]}})), "TOKEN_REPLAYED");
}

TEST_F(CallServiceTest, TokensThatAreNotRightAreRefusedByReason) {
  User pat = AddUser("pat", "pro"), pam = AddUser("pam", "pro");
  const std::string token = Call(pat, "pam").body["token"];
  EXPECT_EQ(Code(service_->TurnCredentials(pam, {{"token", token}})), "TOKEN_NOT_YOURS");
  // The payload edited (plan pro → founder) and put back without a new signature.
  const size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  json payload = json::parse(*token::Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1)));
  payload["plan"] = "founder";
  const std::string tampered =
      token.substr(0, dot1 + 1) + token::Base64UrlEncode(payload.dump()) + token.substr(dot2);
  EXPECT_EQ(Code(service_->TurnCredentials(pat, {{"token", tampered}})), "BAD_SIGNATURE");
  // Signed by a key cvadmin does not know.
  std::string error;
  auto stranger = token::Ed25519Key::Generate(&error);
  token::SigningKey other{"stranger-kid", *stranger};
  auto parts =
      token::VerifyJwt(token, {{token::JwkThumbprint(key_->PublicKey()), key_->PublicKey()}},
                       {clock_.UnixNow(), 30, 300}, nullptr);
  ASSERT_TRUE(parts);
  EXPECT_EQ(Code(service_->TurnCredentials(pat, {{"token", token::SignJwt(parts->claims, other)}})),
            "UNKNOWN_KEY");
  Advance(301 + 30);
  EXPECT_EQ(Code(service_->TurnCredentials(pat, {{"token", token}})), "TOKEN_EXPIRED");
  const std::string text = metrics_.Render();
  for (const char* reason : {"bad_signature", "unknown_key", "expired"}) {
    EXPECT_NE(text.find(std::string("cvadmin_auth_failures_total{reason=\"") + reason +
                        "\",source=\"token\"} 1"),
              std::string::npos)
        << reason;
  }
}

TEST_F(CallServiceTest, DowngradeToFreeRefusesTurnForALiveCall) {
  User pat = AddUser("pat", "pro"), pam = AddUser("pam", "pro");
  Reply r = Call(pat, "pam");
  ASSERT_TRUE(Admin().SetTier("pat", {{"tier", "free"}}, "test").ok());
  User now_free;
  std::string error;
  store_->FindUser("pat", &now_free, &error);
  EXPECT_EQ(Code(service_->TurnCredentials(now_free, {{"token", r.body["token"]}})),
            "TURN_NOT_ENTITLED");
}

TEST_F(CallServiceTest, ReconnectedRechecksAndHandsOutAFreshToken) {
  User pat = AddUser("pat", "pro"), pam = AddUser("pam", "pro");
  Reply r = Call(pat, "pam");
  const std::string sid = r.body["session_id"];
  ASSERT_EQ(service_->TurnCredentials(pat, {{"token", r.body["token"]}}).status, 200);
  Reply again = Event(pat, sid, "reconnected");
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again.body["token"], r.body["token"]);
  EXPECT_EQ(again.body["session"]["reconnects"], 1);
  EXPECT_EQ(service_->TurnCredentials(pat, {{"token", again.body["token"]}}).status, 200);
}

TEST_F(CallServiceTest, AttemptsPerHourThenFailedStartsPerDay) {
  User alice = AddUser("alice", "free");
  AddUser("bob", "free");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Code(Call(alice, "bob")), "NOT_APPROVED_CONTACT");
  Reply sixth = Call(alice, "bob");
  EXPECT_EQ(sixth.status, 429);
  EXPECT_EQ(Code(sixth), "LIMIT_CALL_ATTEMPTS");
  EXPECT_EQ(sixth.refusal->retry_after_s, 3600);
  Advance(3600);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Code(Call(alice, "bob")), "NOT_APPROVED_CONTACT");
  Advance(3600);
  // Ten failed starts today: the eleventh try is refused for the rest of the UTC day.
  Reply eleventh = Call(alice, "bob");
  EXPECT_EQ(Code(eleventh), "LIMIT_FAILED_STARTS");
  EXPECT_EQ(eleventh.status, 403);
}

TEST_F(CallServiceTest, LiveSessionsSurviveARestartOfTheService) {
  User pat = AddUser("pat", "pro"), pam = AddUser("pam", "pro");
  const std::string sid = Call(pat, "pam").body["session_id"];
  service_ = MakeService();
  EXPECT_EQ(service_->live_sessions(), 1u);
  EXPECT_TRUE(Event(pat, sid, "heartbeat").ok());
  EXPECT_TRUE(Event(pat, sid, "ended").ok());
  EXPECT_EQ(Stored(sid).end_reason, "client");
}

TEST_F(CallServiceTest, BadRequestsAreRefusedWithBadRequest) {
  User pat = AddUser("pat", "pro");
  EXPECT_EQ(Code(service_->StartCall(pat, json::array())), "BAD_REQUEST");
  EXPECT_EQ(Code(service_->StartCall(pat, {{"kind", "direct"}, {"callee", "x"}})), "BAD_REQUEST");
  EXPECT_EQ(Code(service_->StartCall(pat, {{"call_id", "a b"}, {"callee", "x"}})), "BAD_REQUEST");
  EXPECT_EQ(Code(service_->StartCall(pat, {{"call_id", "l"}, {"kind", "conference"}})),
            "BAD_REQUEST");
  EXPECT_EQ(Code(service_->StartCall(pat, {{"call_id", "l"}, {"callee", "pat"}})), "BAD_REQUEST");
  EXPECT_EQ(Code(Admin().CreateUser({{"id", "x"}, {"tier", "platinum"}}, "test")), "UNKNOWN_TIER");
  EXPECT_EQ(Code(Admin().CreateUser({{"id", "x"}, {"tier", "pro"}, {"public_key", "abc"}}, "test")),
            "BAD_REQUEST");
  EXPECT_EQ(Code(Admin().CreateUser({{"id", "pat"}, {"tier", "pro"}}, "test")), "USER_EXISTS");
  EXPECT_EQ(Code(service_->PostEvent(pat, "nope", {{"type", "heartbeat"}})), "NOT_FOUND");
}

}  // namespace
}  // namespace cv::admin
