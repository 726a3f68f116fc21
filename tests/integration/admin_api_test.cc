// Issue #7's acceptance, end to end with real processes: cvrelay (control endpoint and SQLite
// usage ledger), cvadmin steering it (relay=…, usage-db=…), and cvctl driving every operator
// action. Apps are AppUsers signing requests; relaying is a real TURN client through the relay.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "cv/auth/usage_store.h"
#include "tests/support/admin_client.h"
#include "tests/support/credentials.h"
#include "tests/support/turn_client.h"

namespace cv::testing {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr char kSecret[] = "shared-turn-secret-0123456789";
constexpr char kRelayToken[] = "relay-control-token-0123456789";
constexpr char kAdminToken[] = "admin-token-0123456789abcdef";
constexpr char kOperatorToken[] = "operator-token-0123456789abcdef";
constexpr char kViewerToken[] = "viewer-token-0123456789abcdef";

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct Ctl {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
  json Json() const { return json::parse(out, nullptr, false); }
};

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() + "/relay-token", kRelayToken);
    relay_ = std::make_unique<RelayProcess>();
    ASSERT_TRUE(relay_->Start(
        {"--listening-ip=127.0.0.1", "--listening-port=0", "--relay-ip=127.0.0.1",
         "--min-port=47000", "--max-port=47999", "--realm=admin.test", "--allow-loopback-peers",
         "--static-auth-secret=" + std::string(kSecret), "--admin-port=0",
         "--admin-token-file=" + dir_.path() + "/relay-token", "--usage-db=" + Ledger()}))
        << relay_->process().Output();
    const std::string tokens = dir_.path() + "/admin-tokens";
    WriteFile(tokens, std::string("admin ops ") + kAdminToken + "\noperator support " +
                          kOperatorToken + "\nviewer grafana " + kViewerToken + "\n");
    const std::string at = relay_->address().ToString();
    ASSERT_TRUE(admin_.Start(
        {"--admin-token-file=" + tokens, "--static-auth-secret=" + std::string(kSecret),
         "--stun-url=stun:" + at, "--turn-url=turn:" + at + "?transport=udp",
         "--relay=relay-a=http://" + relay_->control_address()->ToString(),
         "--relay-token-file=" + dir_.path() + "/relay-token", "--usage-db=" + Ledger(),
         "--heartbeat-interval=5", "--heartbeat-timeout=60"}))
        << admin_.process().Output();
  }

  std::string Ledger() const { return dir_.path() + "/usage.db"; }

  // Runs cvctl with the admin URL and a token, JSON output; stdout and stderr apart.
  Ctl Run(const std::string& token, const std::vector<std::string>& args) {
    std::string command = ShellQuote(BinaryPath("cvctl")) + " --url " +
                          ShellQuote("http://" + admin_.admin().ToString()) + " --token " +
                          ShellQuote(token) + " -o json";
    for (const std::string& a : args) command += " " + ShellQuote(a);
    const std::string err_file = dir_.path() + "/cvctl.err";
    RunResult r =
        RunCommand({"/bin/sh", "-c", command + " 2>" + ShellQuote(err_file)}, seconds(20));
    Ctl out;
    out.exit_code = r.exit_code;
    out.out = r.output;
    std::ifstream in(err_file);
    out.err.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return out;
  }
  Ctl Op(const std::vector<std::string>& args) { return Run(kOperatorToken, args); }

  AppUser& User(const std::string& id, const std::string& tier) {
    users_.push_back(std::make_unique<AppUser>(id, admin_.client()));
    Ctl created = Op(
        {"users", "create", id, "--tier", tier, "--public-key", users_.back()->public_key_b64()});
    EXPECT_EQ(created.exit_code, 0) << created.out << created.err;
    return *users_.back();
  }

  static void Befriend(AppUser& a, AppUser& b) {
    EXPECT_EQ(a.Send("POST", "/v1/contacts", {{"contact", b.id()}})->status, 200);
    EXPECT_EQ(b.Send("POST", "/v1/contacts", {{"contact", a.id()}})->status, 200);
  }

  static json Call(AppUser& from, const std::string& to, const std::string& line = "line-1") {
    auto r = from.Send("POST", "/v1/call-sessions",
                       {{"call_id", line}, {"kind", "direct"}, {"callee", to}});
    EXPECT_EQ(r ? r->status : 0, 201) << (r ? r->body : "");
    return JsonBody(r);
  }

  // TURN credentials for a call: the HTTP status and the TURN username/password when 200.
  static int Turn(AppUser& user, const json& call, std::string* username = nullptr,
                  std::string* password = nullptr) {
    auto r = user.Send("POST", "/v1/turn-credentials", {{"token", call["token"]}});
    if (r && r->status == 200 && username != nullptr) {
      json servers = JsonBody(r)["iceServers"];
      *username = servers.back()["username"];
      *password = servers.back()["credential"];
    }
    return r ? r->status : 0;
  }

  size_t RelayAllocations(const std::string& user) {
    auto r = HttpRequest(*relay_->control_address(), "GET", "/v1/allocations?user=" + user, "",
                         {{"Authorization", std::string("Bearer ") + kRelayToken}});
    return JsonBody(r)["allocations"].size();
  }

  // Waits until the relay has no allocation of `user`; the time it took.
  milliseconds WaitForNoAllocation(const std::string& user, Clock::time_point since) {
    while (Clock::now() - since < seconds(5)) {
      if (RelayAllocations(user) == 0) {
        return std::chrono::duration_cast<milliseconds>(Clock::now() - since);
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return seconds(5);
  }

  TempDir dir_;
  std::unique_ptr<RelayProcess> relay_;
  AdminProcess admin_;
  std::vector<std::unique_ptr<AppUser>> users_;
};

TEST_F(AdminApiTest, UpgradeGivesTurnAndDowngradeEndsTheRelayAllocationWithinOneSecond) {
  AppUser& pat = User("pat", "free");
  AppUser& pam = User("pam", "pro");
  Befriend(pat, pam);
  EXPECT_EQ(Turn(pat, Call(pat, "pam")), 403);  // Free: never TURN

  Ctl upgraded = Op({"users", "set-tier", "pat", "pro"});
  ASSERT_EQ(upgraded.exit_code, 0) << upgraded.err;
  EXPECT_EQ(upgraded.Json()["tier"], "pro");
  std::string username, password;
  json call = Call(pat, "pam", "line-1");
  ASSERT_EQ(Turn(pat, call, &username, &password), 200);
  TurnClient client(relay_->address());
  ASSERT_EQ(client.Allocate(username, password).error, 0);
  Ctl live = Run(kViewerToken, {"allocations", "--user", "pat"});
  ASSERT_EQ(live.exit_code, 0) << live.err;
  EXPECT_EQ(live.Json()["count"], 1);
  EXPECT_EQ(live.Json()["allocations"][0]["relay"], "relay-a");

  const auto before = Clock::now();
  Ctl downgraded = Op({"users", "set-tier", "pat", "free"});
  ASSERT_EQ(downgraded.exit_code, 0) << downgraded.err;
  const milliseconds took = WaitForNoAllocation("pat", before);
  EXPECT_LT(took, seconds(1)) << "the allocation outlived the downgrade";
  json relays = downgraded.Json()["relays"];
  ASSERT_EQ(relays.size(), 1u) << downgraded.out;
  EXPECT_EQ(relays[0]["ended_allocations"], 1);
  // The live call goes on, but without relay: a fresh token from "reconnected" gets no TURN.
  auto again =
      pat.Send("POST", "/v1/call-sessions/" + call["session_id"].get<std::string>() + "/events",
               {{"type", "reconnected"}});
  ASSERT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(Turn(pat, JsonBody(again)), 403);
  // And the relay itself refuses the credential minted while pat was Pro.
  TurnClient retry(relay_->address());
  EXPECT_EQ(retry.Allocate(username, password).error, 403);
}

TEST_F(AdminApiTest, TemporaryGrantGivesRelayUntilItEndsAndEntitlementsShowItsSource) {
  AppUser& tia = User("tia", "free");
  AppUser& tom = User("tom", "free");
  Befriend(tia, tom);
  Ctl granted = Op({"grants", "add", "tia", "tier", "pro", "--for", "3s", "--reason", "ticket 7"});
  ASSERT_EQ(granted.exit_code, 0) << granted.err;
  Ctl ent = Run(kViewerToken, {"users", "entitlements", "tia"});
  ASSERT_EQ(ent.exit_code, 0) << ent.err;
  json values = ent.Json()["values"];
  EXPECT_EQ(ent.Json()["plan"], "pro");
  EXPECT_EQ(values["turn_relay"]["value"], true);
  EXPECT_EQ(values["turn_relay"]["source"], "grant");
  EXPECT_EQ(values["tier"]["source"], "grant");

  std::string username, password;
  ASSERT_EQ(Turn(tia, Call(tia, "tom"), &username, &password), 200);
  TurnClient client(relay_->address());
  ASSERT_EQ(client.Allocate(username, password).error, 0);
  const auto granted_at = Clock::now();
  // The grant ends 3 s after it was made; cvadmin's clock check runs every second.
  const milliseconds took = WaitForNoAllocation("tia", granted_at);
  EXPECT_LT(took, milliseconds(4500));
  EXPECT_GT(took, milliseconds(1500));
  ent = Run(kViewerToken, {"users", "entitlements", "tia"});
  EXPECT_EQ(ent.Json()["plan"], "free");
  EXPECT_EQ(ent.Json()["values"]["turn_relay"]["value"], false);
  EXPECT_EQ(ent.Json()["values"]["turn_relay"]["source"], "plan");
  EXPECT_EQ(Turn(tia, Call(tia, "tom")), 403);
}

TEST_F(AdminApiTest, ViewerReadsButCannotChangeAndEveryChangeIsAudited) {
  User("vic", "pro");
  Ctl report = Run(kViewerToken, {"reports", "call-quality"});
  EXPECT_EQ(report.exit_code, 0) << report.err;
  Ctl refused = Run(kViewerToken, {"users", "set-tier", "vic", "free"});
  EXPECT_EQ(refused.exit_code, 4);
  EXPECT_NE(refused.err.find("FORBIDDEN"), std::string::npos) << refused.err;
  EXPECT_EQ(Run(kViewerToken, {"users", "show", "vic"}).Json()["tier"], "pro");
  EXPECT_EQ(Run(kViewerToken, {"flags", "set", "vic", "recording", "on"}).exit_code, 4);
  EXPECT_EQ(Run(kOperatorToken, {"keys", "rotate-token"}).exit_code, 4);  // admin only
  ASSERT_EQ(Op({"flags", "set", "vic", "recording", "on"}).exit_code, 0);
  ASSERT_EQ(Op({"overrides", "set", "vic", "calls_per_day", "5"}).exit_code, 0);
  ASSERT_EQ(Op({"users", "set-mode", "vic", "creator"}).exit_code, 0);

  Ctl audit = Run(kViewerToken, {"audit", "--target", "vic"});
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  json entries = audit.Json()["entries"];
  // Newest first: mode, override, flag (operator), the refused flag and tier (viewer), create.
  ASSERT_EQ(entries.size(), 6u) << audit.out;
  EXPECT_EQ(entries[0]["action"], "POST /admin/users/{id}/mode");
  EXPECT_EQ(entries[0]["actor"], "support");
  EXPECT_EQ(entries[0]["status"], 200);
  EXPECT_EQ(entries[1]["action"], "PUT /admin/users/{id}/overrides/{key}");
  EXPECT_EQ(entries[1]["detail"]["value"], 5);
  EXPECT_EQ(entries[3]["actor"], "grafana");
  EXPECT_EQ(entries[3]["status"], 403);
  EXPECT_EQ(entries[4]["action"], "POST /admin/users/{id}/tier");
  EXPECT_EQ(entries[4]["status"], 403);
  EXPECT_EQ(entries[5]["action"], "POST /admin/users");
  // The identity key is shortened in the record.
  EXPECT_LT(entries[5]["detail"]["public_key"].get<std::string>().size(), 16u);
  // The effective values say where they came from.
  json values = Run(kViewerToken, {"users", "entitlements", "vic"}).Json()["values"];
  EXPECT_EQ(values["features.recording"]["source"], "flag");
  EXPECT_EQ(values["features.external_links"]["source"], "mode");
  EXPECT_EQ(values["calls_per_day"]["value"], 5);
  EXPECT_EQ(values["calls_per_day"]["source"], "override");
}

TEST_F(AdminApiTest, CallQualityAndUsageReportsMatchHandComputedValues) {
  AppUser& ann = User("ann", "pro");
  AppUser& ben = User("ben", "pro");
  AppUser& dee = User("dee", "business");
  User("eve", "business");
  // Six scripted calls: (caller, callee, connected, route, network).
  struct Script {
    AppUser* from;
    std::string to;
    bool connected;
    std::string route, network;
    uint64_t relayed_ms;  // what the ledger says the relay carried for it
  };
  const std::vector<Script> script = {
      {&ann, "ben", true, "relay", "cellular", 120000},  // s1
      {&ann, "ben", true, "host", "wifi", 0},            // s2
      {&ben, "ann", true, "relay", "wifi", 60000},       // s3
      {&ben, "ann", true, "", "", 0},                    // s4: no route report
      {&ann, "ben", false, "", "", 0},                   // s5: never connected
  };
  std::vector<std::string> sessions;
  uint64_t call_seconds_ann = 0, call_seconds_ben = 0;
  auto end = [&](AppUser& u, const std::string& sid) {
    auto r = u.Send("POST", "/v1/call-sessions/" + sid + "/events", {{"type", "ended"}});
    EXPECT_EQ(r->status, 200) << r->body;
    return JsonBody(r)["session"]["call_seconds"].get<uint64_t>();
  };
  for (const Script& s : script) {
    const std::string sid = Call(*s.from, s.to, s.from->id() + "-line")["session_id"];
    sessions.push_back(sid);
    const std::string events = "/v1/call-sessions/" + sid + "/events";
    if (s.connected) {
      EXPECT_EQ(s.from->Send("POST", events, {{"type", "connected"}})->status, 200);
    }
    if (!s.route.empty()) {
      EXPECT_EQ(s.from
                    ->Send("POST", events,
                           {{"type", "route"}, {"route", s.route}, {"network", s.network}})
                    ->status,
                200);
    }
    (s.from == &ann ? call_seconds_ann : call_seconds_ben) += end(*s.from, sid);
  }
  // s6: a group call of 4 by dee (business), relayed on ethernet.
  auto group = dee.Send("POST", "/v1/call-sessions",
                        {{"call_id", "team"}, {"kind", "group"}, {"group_size", 4}});
  ASSERT_EQ(group->status, 201) << group->body;
  const std::string gid = JsonBody(group)["session_id"];
  const std::string gev = "/v1/call-sessions/" + gid + "/events";
  dee.Send("POST", gev, {{"type", "connected"}});
  dee.Send("POST", gev, {{"type", "route"}, {"route", "relay"}, {"network", "ethernet"}});
  const uint64_t call_seconds_dee = end(dee, gid);

  // What the relays carried, as cvrelay writes it to the shared ledger (a second writer here,
  // so the figures are exact): s1 120 s, s3 60 s, the group 30 s.
  std::string error;
  auto ledger = auth::OpenSqliteUsageStore(Ledger(), {}, &error);
  ASSERT_TRUE(ledger) << error;
  const int64_t now = UnixNowMs();
  std::vector<auth::UsageRecord> records;
  auto record = [&](uint64_t n, const std::string& user, const std::string& session,
                    const std::string& plan, uint64_t relayed_ms) {
    auth::UsageRecord r;
    r.node = "relay-a";
    r.run = "00000000000000aa";
    r.allocation = n;
    r.user = user;
    r.session = session;
    r.line = "line-1";
    r.plan = plan;
    r.transport = "udp";
    r.client = "127.0.0.1:5000";
    r.start_ms = now - 1000;
    r.last_ms = now;
    r.reason = auth::EndReason::kClient;
    r.relayed_ms = relayed_ms;
    r.bytes_to_peer = relayed_ms * 10;
    r.bytes_to_client = relayed_ms * 20;
    records.push_back(r);
  };
  record(1, "ann", sessions[0], "pro", 120000);
  record(2, "ben", sessions[2], "pro", 60000);
  record(3, "dee", gid, "business", 30000);
  ASSERT_TRUE(ledger->Write(records, &error)) << error;

  Ctl quality = Run(kViewerToken, {"reports", "call-quality"});
  ASSERT_EQ(quality.exit_code, 0) << quality.err;
  json q = quality.Json();
  // 6 calls, 5 connected; relayed s1 s3 s6 = 3, direct s2 = 1, s4 unknown.
  EXPECT_EQ(q["calls"], 6);
  EXPECT_EQ(q["connected"], 5);
  EXPECT_EQ(q["relayed"], 3);
  EXPECT_EQ(q["direct"], 1);
  EXPECT_EQ(q["unknown_route"], 1);
  EXPECT_DOUBLE_EQ(q["relayed_share"].get<double>(), 0.75);  // 3 / (3 + 1)
  EXPECT_DOUBLE_EQ(q["direct_share"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(q["relay_minutes"].get<double>(), 3.5);  // (120 + 60 + 30) s / 60
  ASSERT_EQ(q["top_users"].size(), 3u);
  EXPECT_EQ(q["top_users"][0]["user"], "ann");
  EXPECT_DOUBLE_EQ(q["top_users"][0]["relay_minutes"].get<double>(), 2.0);
  EXPECT_EQ(q["top_users"][2]["user"], "dee");
  EXPECT_DOUBLE_EQ(q["top_users"][2]["relay_minutes"].get<double>(), 0.5);
  for (const json& p : q["by_plan"]) {
    if (p["plan"] == "pro") {
      // s1..s5: 5 calls, 4 connected, relayed s1 s3, direct s2 → 2/3.
      EXPECT_EQ(p["calls"], 5);
      EXPECT_EQ(p["relayed"], 2);
      EXPECT_DOUBLE_EQ(p["relayed_share"].get<double>(), 0.6667);
      EXPECT_DOUBLE_EQ(p["relay_minutes"].get<double>(), 3.0);
    } else {
      EXPECT_EQ(p["plan"], "business");
      EXPECT_EQ(p["calls"], 1);
      EXPECT_DOUBLE_EQ(p["relay_minutes"].get<double>(), 0.5);
    }
  }
  std::map<std::string, json> by_network;
  for (const json& n : q["by_network"]) by_network[n["network"]] = n;
  // wifi: s2 (direct) and s3 (relay, 60 s).
  EXPECT_EQ(by_network["wifi"]["calls"], 2);
  EXPECT_DOUBLE_EQ(by_network["wifi"]["relayed_share"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(by_network["wifi"]["relay_minutes"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(by_network["cellular"]["relay_minutes"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(by_network["ethernet"]["relay_minutes"].get<double>(), 0.5);
  EXPECT_TRUE(by_network["unknown"]["relayed_share"].is_null());  // s4, s5: no routed call

  Ctl usage = Run(kViewerToken, {"reports", "usage", "--csv"});
  ASSERT_EQ(usage.exit_code, 0) << usage.err;
  const std::string day = auth::UtcDay(now);
  // ann: s1 s2 s5 (3 calls), 120 s relayed; ben: s3 s4, 60 s; dee: the group call, 30 s.
  const std::string expected =
      "period,user,calls,call_seconds,relayed_seconds,bytes_to_peer,bytes_to_client,"
      "allocations\n" +
      day + ",ann,3," + std::to_string(call_seconds_ann) + ",120.0,1200000,2400000,1\n" + day +
      ",ben,2," + std::to_string(call_seconds_ben) + ",60.0,600000,1200000,1\n" + day + ",dee,1," +
      std::to_string(call_seconds_dee) + ",30.0,300000,600000,1\n";
  EXPECT_EQ(usage.out, expected);

  Ctl groups = Run(kViewerToken, {"reports", "group-calls"});
  ASSERT_EQ(groups.exit_code, 0) << groups.err;
  EXPECT_EQ(groups.Json()["calls"], 1);
  EXPECT_EQ(groups.Json()["participants"], 4);
  EXPECT_DOUBLE_EQ(groups.Json()["relay_minutes"].get<double>(), 0.5);

  Ctl health = Run(kViewerToken, {"reports", "token-health"});
  ASSERT_EQ(health.exit_code, 0) << health.err;
  EXPECT_EQ(health.Json()["reasons"]["replay"], 0);
}

TEST_F(AdminApiTest, RevokingAUserEndsTheirCallAndRelayUseUntilLifted) {
  AppUser& max = User("max", "pro");
  User("mia", "pro");
  std::string username, password;
  json call = Call(max, "mia");
  ASSERT_EQ(Turn(max, call, &username, &password), 200);
  TurnClient client(relay_->address());
  ASSERT_EQ(client.Allocate(username, password).error, 0);
  const auto before = Clock::now();
  Ctl revoked = Op({"revoke", "user", "max", "--ttl", "1h", "--reason", "abuse report"});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_LT(WaitForNoAllocation("max", before), seconds(1));
  EXPECT_EQ(revoked.Json()["ended_sessions"], 1);
  EXPECT_EQ(revoked.Json()["relays"][0]["ok"], true);
  auto refused = max.Send("POST", "/v1/call-sessions",
                          {{"call_id", "line-1"}, {"kind", "direct"}, {"callee", "mia"}});
  EXPECT_EQ(JsonBody(refused)["code"], "USER_REVOKED");
  EXPECT_EQ(Run(kViewerToken, {"revocations", "list"}).Json()["revocations"].size(), 1u);
  ASSERT_EQ(Op({"revocations", "lift", "user", "max"}).exit_code, 0);
  std::string again_user, again_password;
  ASSERT_EQ(Turn(max, Call(max, "mia"), &again_user, &again_password), 200);
  TurnClient after(relay_->address());
  EXPECT_EQ(after.Allocate(again_user, again_password).error, 0);
  EXPECT_EQ(Op({"revocations", "lift", "user", "max"}).exit_code, 3);  // nothing to lift
}

TEST_F(AdminApiTest, TokenKeyRotatesWithoutARestartAndOldTokensStillWork) {
  AppUser& kim = User("kim", "pro");
  User("kai", "pro");
  json call = Call(kim, "kai");
  Ctl rotated = Run(kAdminToken, {"keys", "rotate-token", "--overlap", "10m"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  EXPECT_NE(rotated.Json()["kid"], rotated.Json()["previous_kid"]);
  auto jwks = HttpRequest(admin_.client(), "GET", "/.well-known/jwks.json");
  EXPECT_EQ(JsonBody(jwks)["keys"].size(), 2u);
  EXPECT_EQ(Turn(kim, call), 200);  // signed by the retired key, inside the overlap
  json fresh = Call(kim, "kai", "line-2");
  EXPECT_EQ(Turn(kim, fresh), 200);  // signed by the new key
  Ctl keys = Run(kViewerToken, {"keys", "list"});
  EXPECT_EQ(keys.Json()["token_keys"].size(), 2u);
}

TEST_F(AdminApiTest, CallIdsStayWithinThePlansCount) {
  User("lou", "pro");  // Pro: 2 Call IDs
  EXPECT_EQ(Op({"lines", "add", "lou", "home"}).exit_code, 0);
  EXPECT_EQ(Op({"lines", "add", "lou", "work"}).exit_code, 0);
  Ctl full = Op({"lines", "add", "lou", "third"});
  EXPECT_EQ(full.exit_code, 1);
  EXPECT_NE(full.err.find("LINES_FULL"), std::string::npos) << full.err;
  EXPECT_EQ(Op({"lines", "remove", "lou", "work"}).exit_code, 0);
  EXPECT_EQ(Op({"lines", "add", "lou", "third"}).exit_code, 0);
  json lines = Run(kViewerToken, {"lines", "list", "lou"}).Json();
  EXPECT_EQ(lines["lines"].size(), 2u);
  EXPECT_EQ(lines["max"], 2);
}

}  // namespace
}  // namespace cv::testing
