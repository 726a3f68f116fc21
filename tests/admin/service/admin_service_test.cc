// AdminService with simulated time, a real SQLite store and in-test relays (cv_http servers that
// answer like cvrelay's control endpoint): downgrades and grant ends revoke relay use on every
// relay, upgrades lift it, bans end live calls, settings are validated, Call IDs stay in count.
#include "admin/service/admin_service.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "admin/token/jwt.h"
#include "relay/common/http_server.h"
#include "tests/support/process.h"
#include "tests/support/test_http_server.h"

namespace cv::admin {
namespace {

using json = nlohmann::json;
using testing::TempDir;

constexpr int64_t kStart = 1'763'726'400;  // 2025-11-21 12:00:00 UTC

// A relay control endpoint that answers like cvrelay's and records what it is told.
class FakeRelay {
 public:
  FakeRelay() {
    std::string error;
    server_ = testing::TestHttpServer::Start(
        [](const http::Request& r) {
          if (r.method == "POST") return http::Json(201, {{"ended_allocations", 1}});
          return http::NoContent();
        },
        &error);
    EXPECT_NE(server_, nullptr) << error;
  }
  RelayEndpoint Endpoint() const {
    std::string error;
    return {"fake", *http::Url::Parse(server_->url(), &error), "relay-token-0123456789"};
  }
  std::vector<std::string> requests() const {
    std::vector<std::string> out;
    for (const http::Request& r : server_->requests()) out.push_back(r.method + " " + r.target);
    return out;
  }

 private:
  std::unique_ptr<testing::TestHttpServer> server_;
};

class AdminServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    store_ = OpenSqliteAdminStore(dir_.path() + "/admin.db", {}, &error);
    ASSERT_TRUE(store_) << error;
    auto key = token::Ed25519Key::Generate(&error);
    ASSERT_TRUE(key) << error;
    token::VerifyKey verify{token::JwkThumbprint(key->PublicKey()), key->PublicKey()};
    ServiceOptions options;
    options.turn_urls = {"turn:relay.test:3478?transport=udp"};
    calls_ = std::make_unique<CallService>(
        *store_, clock_, metrics_, KeyRing{token::SigningKey{verify.kid, *key}, {verify}, {}},
        auth::Plans::Defaults(), std::vector<auth::Secret>{{"k1", "turn-secret-0123456789", 0}},
        options);
    ASSERT_TRUE(calls_->Start(&error)) << error;
    FleetOptions fleet_options;
    fleet_options.resync_interval_ms = 0;
    fleet_ = std::make_unique<RelayFleet>(std::vector<RelayEndpoint>{relay_.Endpoint()},
                                          fleet_options, [this] { return clock_.UnixNowMs(); });
    admin_ = std::make_unique<AdminService>(*store_, *calls_, clock_, metrics_, fleet_.get(),
                                            nullptr, AdminServiceOptions{});
    ASSERT_TRUE(admin_->Start(&error)) << error;
  }

  void Create(const std::string& id, const std::string& tier) {
    Reply r = admin_->CreateUser({{"id", id}, {"tier", tier}}, "test");
    ASSERT_EQ(r.status, 201) << (r.refusal ? r.refusal->detail : "");
  }
  std::optional<Revocation> RevocationOf(const std::string& id) {
    Revocation r;
    std::string error;
    if (store_->FindRevocation("user", id, &r, &error) != StoreStatus::kOk) return std::nullopt;
    return r;
  }
  static std::string Code(const Reply& r) { return r.refusal ? r.refusal->code : "OK"; }

  TempDir dir_;
  SimulatedClock clock_{kStart};
  AdminMetrics metrics_;
  std::unique_ptr<AdminStore> store_;
  std::unique_ptr<CallService> calls_;
  FakeRelay relay_;
  std::unique_ptr<RelayFleet> fleet_;
  std::unique_ptr<AdminService> admin_;
};

TEST_F(AdminServiceTest, DowngradeRevokesOnTheRelaysAndAnUpgradeLiftsIt) {
  Create("pat", "pro");
  const int64_t now_ms = clock_.UnixNowMs();
  Reply down = admin_->SetTier("pat", {{"tier", "free"}}, "ops");
  ASSERT_TRUE(down.ok());
  ASSERT_EQ(down.body["relays"].size(), 1u);
  EXPECT_EQ(down.body["relays"][0]["ended_allocations"], 1);
  auto revocation = RevocationOf("pat");
  ASSERT_TRUE(revocation);
  EXPECT_EQ(revocation->reason, "downgrade");
  // The TURN credential lifetime (600 s) plus a minute.
  EXPECT_EQ(revocation->until_ms, now_ms + 660 * 1000);
  EXPECT_EQ(relay_.requests(), std::vector<std::string>{"POST /v1/revocations"});

  Reply up = admin_->SetTier("pat", {{"tier", "business"}}, "ops");
  ASSERT_TRUE(up.ok());
  EXPECT_FALSE(RevocationOf("pat"));
  EXPECT_EQ(relay_.requests().back(), "DELETE /v1/revocations/user/pat");
  // A change that keeps relay use tells the relays nothing.
  ASSERT_TRUE(admin_->SetTier("pat", {{"tier", "pro"}}, "ops").ok());
  EXPECT_EQ(relay_.requests().size(), 2u);
}

TEST_F(AdminServiceTest, AGrantedTierRelaysUntilTheGrantEndsThenTheSweepRevokes) {
  Create("tia", "free");
  Reply grant =
      admin_->AddGrant("tia", {{"key", "tier"}, {"value", "pro"}, {"duration_s", 60}}, "ops");
  ASSERT_EQ(grant.status, 201) << (grant.refusal ? grant.refusal->detail : "");
  EXPECT_EQ(admin_->Entitlements("tia").body["values"]["turn_relay"]["source"], "grant");
  EXPECT_TRUE(relay_.requests().empty());  // gaining relay revokes nothing
  clock_.Advance(std::chrono::seconds(59));
  admin_->Sweep();
  EXPECT_FALSE(RevocationOf("tia"));
  clock_.Advance(std::chrono::seconds(1));
  admin_->Sweep();
  auto revocation = RevocationOf("tia");
  ASSERT_TRUE(revocation);
  EXPECT_EQ(revocation->reason, "downgrade");
  EXPECT_EQ(revocation->actor, "clock");
  EXPECT_EQ(relay_.requests(), std::vector<std::string>{"POST /v1/revocations"});
  EXPECT_EQ(admin_->Entitlements("tia").body["values"]["turn_relay"]["source"], "plan");
}

TEST_F(AdminServiceTest, ATrialEndsAtItsEndAndCountsAsFree) {
  Create("tom", "free");
  ASSERT_TRUE(
      admin_->SetTier("tom", {{"tier", "trial"}, {"trial_ends_at", clock_.UnixNow() + 3600}}, "ops")
          .ok());
  EXPECT_EQ(admin_->Entitlements("tom").body["plan"], "trial");
  clock_.Advance(std::chrono::seconds(3600));
  admin_->Sweep();
  json e = admin_->Entitlements("tom").body;
  EXPECT_EQ(e["plan"], "free");
  EXPECT_EQ(e["trial_ended"], true);
  ASSERT_TRUE(RevocationOf("tom"));
  // Without an end, a trial lasts the default 14 days.
  ASSERT_TRUE(admin_->SetTier("tom", {{"tier", "trial"}}, "ops").ok());
  EXPECT_EQ(admin_->GetUser("tom").body["trial_ends_at"], clock_.UnixNow() + 14 * 86400);
  EXPECT_FALSE(RevocationOf("tom"));  // relay is back: the downgrade revocation is lifted
}

TEST_F(AdminServiceTest, ABanEndsLiveCallsAndRefusesNewOnesUntilLifted) {
  Create("max", "pro");
  Create("mia", "pro");
  User max;
  std::string error;
  ASSERT_EQ(store_->FindUser("max", &max, &error), StoreStatus::kOk);
  Reply call = calls_->StartCall(max, {{"call_id", "l1"}, {"callee", "mia"}});
  ASSERT_EQ(call.status, 201);
  Reply ban = admin_->Revoke("user", "max", {{"ttl_s", 600}}, "ops");
  ASSERT_TRUE(ban.ok());
  EXPECT_EQ(ban.body["ended_sessions"], 1);
  EXPECT_EQ(ban.body["revocation"]["reason"], "revoked");
  EXPECT_EQ(Code(calls_->StartCall(max, {{"call_id", "l1"}, {"callee", "mia"}})), "USER_REVOKED");
  // A downgrade during a ban keeps it a ban (for the longer of the two).
  ASSERT_TRUE(admin_->SetTier("max", {{"tier", "free"}}, "ops").ok());
  EXPECT_EQ(RevocationOf("max")->reason, "revoked");
  EXPECT_EQ(RevocationOf("max")->until_ms, clock_.UnixNowMs() + 660 * 1000);
  ASSERT_TRUE(admin_->Lift("user", "max").ok());
  EXPECT_EQ(Code(admin_->Lift("user", "max")), "NOT_FOUND");
  EXPECT_EQ(Code(admin_->Revoke("user", "nobody", json::object(), "ops")), "NOT_FOUND");
  EXPECT_EQ(Code(admin_->Revoke("user", "max", {{"ttl_s", 0}}, "ops")), "BAD_REQUEST");
}

TEST_F(AdminServiceTest, SettingsAreValidatedAndShowTheirSource) {
  Create("vic", "free");
  EXPECT_EQ(Code(admin_->PutSetting("vic", SettingKind::kOverride, "turn_relay", {{"value", true}},
                                    "ops")),
            "BAD_SETTING");
  EXPECT_EQ(
      Code(admin_->PutSetting("vic", SettingKind::kFlag, "teleport", {{"enabled", true}}, "ops")),
      "BAD_SETTING");
  EXPECT_EQ(Code(admin_->PutSetting("vic", SettingKind::kFlag, "recording", {{"value", 1}}, "ops")),
            "BAD_REQUEST");
  ASSERT_TRUE(
      admin_->PutSetting("vic", SettingKind::kOverride, "calls_per_day", {{"value", 5}}, "ops")
          .ok());
  ASSERT_TRUE(
      admin_->PutSetting("vic", SettingKind::kFlag, "recording", {{"enabled", true}}, "ops").ok());
  json values = admin_->Entitlements("vic").body["values"];
  EXPECT_EQ(values["calls_per_day"]["value"], 5);
  EXPECT_EQ(values["calls_per_day"]["source"], "override");
  EXPECT_EQ(values["features.recording"]["source"], "flag");
  EXPECT_EQ(admin_->ListSettings("vic", SettingKind::kOverride).body["overrides"][0]["actor"],
            "ops");
  EXPECT_EQ(admin_->RemoveSetting("vic", SettingKind::kFlag, "recording").status, 204);
  EXPECT_EQ(Code(admin_->RemoveSetting("vic", SettingKind::kFlag, "recording")), "NOT_FOUND");
  EXPECT_EQ(Code(admin_->AddGrant("vic", {{"key", "tier"}, {"value", "pro"}}, "ops")),
            "BAD_REQUEST");  // neither ends_at nor duration_s
  EXPECT_EQ(Code(admin_->AddGrant(
                "vic", {{"key", "tier"}, {"value", "pro"}, {"duration_s", 400 * 86400}}, "ops")),
            "BAD_REQUEST");
  EXPECT_EQ(Code(admin_->SetMode("vic", {{"mode", "party"}})), "BAD_REQUEST");
  EXPECT_EQ(Code(admin_->SetTier("vic", {{"tier", "platinum"}}, "ops")), "UNKNOWN_TIER");
  EXPECT_EQ(Code(admin_->SetTier("vic", {{"tier", "pro"}, {"trial_ends_at", clock_.UnixNow() + 60}},
                                 "ops")),
            "BAD_REQUEST");
}

TEST_F(AdminServiceTest, CallIdsStayWithinTheEffectiveCount) {
  Create("lou", "free");  // one Call ID
  EXPECT_EQ(admin_->AddLine("lou", {{"call_id", "home"}}).status, 201);
  EXPECT_EQ(admin_->AddLine("lou", {{"call_id", "home"}}).status, 200);
  EXPECT_EQ(Code(admin_->AddLine("lou", {{"call_id", "work"}})), "LINES_FULL");
  ASSERT_TRUE(
      admin_->PutSetting("lou", SettingKind::kOverride, "call_ids", {{"value", 2}}, "ops").ok());
  EXPECT_EQ(admin_->AddLine("lou", {{"call_id", "work"}}).status, 201);
  Create("ann", "pro");
  EXPECT_EQ(Code(admin_->AddLine("ann", {{"call_id", "work"}})), "CALL_ID_TAKEN");
  EXPECT_EQ(admin_->RemoveLine("lou", "work").status, 204);
  EXPECT_EQ(admin_->AddLine("ann", {{"call_id", "work"}}).status, 201);
  EXPECT_EQ(admin_->ListLines("lou").body["max"], 2);
}

TEST_F(AdminServiceTest, ReportsRefuseBadWindows) {
  EXPECT_EQ(Code(admin_->Report("call-quality", {{"from", "yesterday"}})), "BAD_REQUEST");
  EXPECT_EQ(Code(admin_->Report("call-quality", {{"from", "2025-11-22"}, {"to", "2025-11-21"}})),
            "BAD_REQUEST");
  EXPECT_EQ(Code(admin_->Report("usage", {{"period", "week"}})), "BAD_REQUEST");
  EXPECT_EQ(Code(admin_->Report("nope", {})), "NOT_FOUND");
  Reply q = admin_->Report("call-quality", {{"from", "2025-11-20"}});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q.body["from"], 1763596800);  // 2025-11-20 00:00 UTC
  EXPECT_EQ(q.body["usage_ledger"], false);
}

}  // namespace
}  // namespace cv::admin
