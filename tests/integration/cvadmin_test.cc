// cvadmin end to end: the real binary on a real SQLite file, requests signed the way an app signs
// them (and once by Node's own Ed25519), tokens verified by jose from npm, and the TURN credential
// it hands a Pro user relaying through a real cvrelay.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>

#include "admin/store/admin_store.h"
#include "admin/token/base64url.h"
#include "admin/token/jwt.h"
#include "tests/support/admin_client.h"
#include "tests/support/credentials.h"
#include "tests/support/turn_client.h"

namespace cv::testing {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kSecret[] = "shared-turn-secret-0123456789";
constexpr char kRelayToken[] = "relay-control-token-0123456789";
// Free calls end after 3 s here instead of 600 s; every other Free limit is the product's.
constexpr char kTestPlans[] = R"({"version": 1, "plans": {"free": {"max_call_duration_s": 3}}})";

std::string Code(const std::optional<HttpResponse>& r) {
  json body = JsonBody(r);
  return body.is_object() && body.contains("code") ? body["code"].get<std::string>()
                                                   : "HTTP " + std::to_string(r ? r->status : 0);
}

class CvadminTest : public ::testing::Test {
 protected:
  void StartAdmin(std::vector<std::string> extra = {}) {
    WriteFile(admin_.state().path() + "/plans.json", kTestPlans);
    std::vector<std::string> args = {"--plans-file=" + admin_.state().path() + "/plans.json",
                                     "--static-auth-secret=" + std::string(kSecret),
                                     "--heartbeat-interval=1", "--heartbeat-timeout=5"};
    if (relay_) {
      const std::string at = relay_->address().ToString();
      args.push_back("--stun-url=stun:" + at);
      args.push_back("--turn-url=turn:" + at + "?transport=udp");
    } else {
      args.push_back("--stun-url=stun:127.0.0.1:3478");
    }
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(admin_.Start(args)) << admin_.process().Output();
  }

  void StartRelay() {
    relay_ = std::make_unique<RelayProcess>();
    WriteFile(dir_.path() + "/relay-token", kRelayToken);
    ASSERT_TRUE(
        relay_->Start({"--listening-ip=127.0.0.1", "--listening-port=0", "--relay-ip=127.0.0.1",
                       "--min-port=46000", "--max-port=46999", "--realm=cvadmin.test",
                       "--allow-loopback-peers", "--static-auth-secret=" + std::string(kSecret),
                       "--admin-port=0", "--admin-token-file=" + dir_.path() + "/relay-token"}))
        << relay_->process().Output();
  }

  AppUser& User(const std::string& id, const std::string& tier) {
    users_.push_back(std::make_unique<AppUser>(id, admin_.client()));
    EXPECT_TRUE(admin_.CreateUser(id, tier, users_.back()->public_key_b64()));
    return *users_.back();
  }

  static void Befriend(AppUser& a, AppUser& b) {
    EXPECT_EQ(a.Send("POST", "/v1/contacts", {{"contact", b.id()}})->status, 200);
    auto r = b.Send("POST", "/v1/contacts", {{"contact", a.id()}});
    EXPECT_TRUE(JsonBody(r)["mutual"].get<bool>());
  }

  static std::optional<HttpResponse> Call(AppUser& from, const std::string& to,
                                          const std::string& line = "line-1") {
    return from.Send("POST", "/v1/call-sessions",
                     {{"call_id", line}, {"kind", "direct"}, {"callee", to}});
  }

  TempDir dir_;
  AdminProcess admin_;
  std::unique_ptr<RelayProcess> relay_;
  std::vector<std::unique_ptr<AppUser>> users_;
};

TEST_F(CvadminTest, FreeUserIsHeldToEveryFreeLimitAndNeverGetsTurn) {
  ASSERT_NO_FATAL_FAILURE(StartAdmin());
  AppUser& alice = User("alice", "free");
  AppUser& bob = User("bob", "free");
  User("carol", "free");
  Befriend(alice, bob);

  EXPECT_EQ(Code(Call(alice, "carol")), "NOT_APPROVED_CONTACT");
  EXPECT_EQ(Code(alice.Send("POST", "/v1/call-sessions",
                            {{"call_id", "line-1"}, {"kind", "group"}, {"group_size", 3}})),
            "GROUP_CALLS_NOT_ALLOWED");

  auto first = Call(alice, "bob");
  ASSERT_EQ(first->status, 201) << first->body;
  json started = JsonBody(first);
  EXPECT_FALSE(started["allow_turn"].get<bool>());
  EXPECT_EQ(started["iceServers"], json::array({{{"urls", {"stun:127.0.0.1:3478"}}}}));
  EXPECT_EQ(started["entitlements"]["features"]["recording"], false);

  // TURN: refused with the app's message, and no credential anywhere.
  auto turn = alice.Send("POST", "/v1/turn-credentials", {{"token", started["token"]}});
  EXPECT_EQ(turn->status, 403);
  EXPECT_EQ(turn->headers["content-type"], "application/problem+json");
  json problem = JsonBody(turn);
  EXPECT_EQ(problem["code"], "TURN_NOT_ENTITLED");
  EXPECT_EQ(problem["message"],
            "This network blocks direct calling. Upgrade for Relay Mode (reliable on mobile "
            "data).");
  EXPECT_EQ(turn->body.find("username"), std::string::npos);
  EXPECT_EQ(turn->body.find("credential"), std::string::npos);
  EXPECT_EQ(
      admin_.Metric(R"(cvadmin_turn_credentials_total{plan="free",result="turn_not_entitled"})"),
      1);
  EXPECT_EQ(admin_.Metric(R"(cvadmin_turn_credentials_total{plan="free",result="issued"})"), -1);

  // The server ends the call at the plan's maximum (3 s in this test's plans file).
  const std::string sid = started["session_id"];
  const std::string events = "/v1/call-sessions/" + sid + "/events";
  ASSERT_EQ(alice.Send("POST", events, {{"type", "connected"}})->status, 200);
  std::optional<HttpResponse> beat;
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(milliseconds(700));
    beat = alice.Send("POST", events, {{"type", "heartbeat"}});
    if (beat->status != 200) break;
  }
  EXPECT_EQ(Code(beat), "LIMIT_CALL_DURATION");
  json ended = JsonBody(alice.Send("GET", "/v1/call-sessions/" + sid));
  EXPECT_EQ(ended["state"], "ended");
  EXPECT_EQ(ended["end_reason"], "duration_limit");
  EXPECT_EQ(ended["call_seconds"], 3);

  ASSERT_EQ(Call(alice, "bob")->status, 201);  // the second call of the UTC day
  auto third = Call(alice, "bob");
  EXPECT_EQ(third->status, 403);
  EXPECT_EQ(Code(third), "LIMIT_DAILY_CALLS");
  EXPECT_GT(std::stoi(third->headers["retry-after"]), 0);
}

TEST_F(CvadminTest, FreeUserWhoseMonthIsUsedUpGetsLimitMonthlyMinutes) {
  ASSERT_NO_FATAL_FAILURE(StartAdmin());
  AppUser& dave = User("dave", "free");
  AppUser& erin = User("erin", "free");
  Befriend(dave, erin);
  {
    // 1800 call seconds earlier this month, written to the same SQLite file by another writer.
    std::string error;
    auto store = admin::OpenSqliteAdminStore(admin_.db(), {}, &error);
    ASSERT_TRUE(store) << error;
    const int64_t now = UnixNowMs();
    admin::CallSession s;
    s.id = "seeded-session";
    s.user = "dave";
    s.line = "line-1";
    s.callee = "erin";
    s.plan = "free";
    s.started_ms = now - 1000;
    s.connected_ms = now - 1000;
    ASSERT_EQ(store->InsertSession(s, &error), admin::StoreStatus::kOk) << error;
    s.ended_ms = now;
    s.end_reason = "client";
    s.call_seconds = 1800;
    ASSERT_EQ(store->EndSession(s, &error), admin::StoreStatus::kOk) << error;
  }
  auto refused = Call(dave, "erin");
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(Code(refused), "LIMIT_MONTHLY_MINUTES");
  json entitlements = JsonBody(dave.Send("GET", "/v1/entitlements"));
  EXPECT_EQ(entitlements["call_seconds_left_this_month"], 0);
}

TEST_F(CvadminTest, ProUsersTurnCredentialRelaysThroughARealCvrelay) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  ASSERT_NO_FATAL_FAILURE(StartAdmin());
  AppUser& pat = User("pat", "pro");
  User("pam", "pro");
  auto started = Call(pat, "pam");
  ASSERT_EQ(started->status, 201) << started->body;
  json call = JsonBody(started);
  EXPECT_TRUE(call["allow_turn"].get<bool>());
  auto turn = pat.Send("POST", "/v1/turn-credentials", {{"token", call["token"]}});
  ASSERT_EQ(turn->status, 200) << turn->body;
  json servers = JsonBody(turn)["iceServers"];
  ASSERT_EQ(servers.size(), 2u);
  const std::string username = servers[1]["username"], password = servers[1]["credential"];
  EXPECT_NE(username.find(";u=pat;"), std::string::npos) << username;

  SocketAddress peer_address;
  const int peer = BindLoopbackUdp(&peer_address);
  ASSERT_GE(peer, 0);
  TurnClient client(relay_->address());
  TurnClient::Reply allocated = client.Allocate(username, password);
  ASSERT_EQ(allocated.error, 0);
  ASSERT_EQ(client.ChannelBind(0x4000, peer_address).error, 0);
  int delivered = 0;
  for (int i = 0; i < 20; ++i) {
    client.SendChannelData(0x4000, std::vector<uint8_t>(100, static_cast<uint8_t>(i)));
    char buf[2048];
    timeval tv{1, 0};
    setsockopt(peer, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (recv(peer, buf, sizeof(buf), 0) == 100) ++delivered;
  }
  close(peer);
  EXPECT_EQ(delivered, 20);
  // The relay attributes the allocation to the user, session and plan from cvadmin's claims.
  auto live = HttpRequest(*relay_->control_address(), "GET", "/v1/allocations?user=pat", "",
                          {{"Authorization", std::string("Bearer ") + kRelayToken}});
  json allocations = JsonBody(live)["allocations"];
  ASSERT_EQ(allocations.size(), 1u);
  EXPECT_EQ(allocations[0]["session"], call["session_id"]);
  EXPECT_EQ(allocations[0]["plan"], "pro");
}

TEST_F(CvadminTest, ReplaySkewTamperingAndUnknownKeysAreRefusedAndCounted) {
  ASSERT_NO_FATAL_FAILURE(StartAdmin());
  AppUser& pat = User("pat", "pro");
  User("pam", "pro");

  const std::string body = json{{"call_id", "l"}, {"callee", "pam"}}.dump();
  auto headers = pat.SignedHeaders("POST", "/v1/call-sessions", body);
  auto once = HttpRequest(admin_.client(), "POST", "/v1/call-sessions", body, headers);
  EXPECT_EQ(once->status, 201);
  auto replay = HttpRequest(admin_.client(), "POST", "/v1/call-sessions", body, headers);
  EXPECT_EQ(replay->status, 401);
  EXPECT_EQ(Code(replay), "TOKEN_REPLAYED");

  auto skewed = pat.Send("POST", "/v1/call-sessions", json::parse(body), /*skew_s=*/-180);
  EXPECT_EQ(Code(skewed), "CLOCK_SKEW");
  EXPECT_NEAR(JsonBody(skewed)["server_time"].get<double>(), UnixNowMs() / 1000.0, 5);

  AppUser stranger("mallory", admin_.client());
  EXPECT_EQ(Code(stranger.Send("POST", "/v1/call-sessions", json::parse(body))), "UNKNOWN_KEY");

  // A token with its plan edited, and one signed by a key cvadmin never had.
  const std::string token = JsonBody(once)["token"];
  const size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  json payload = json::parse(*token::Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1)));
  payload["plan"] = "founder";
  const std::string tampered =
      token.substr(0, dot1 + 1) + token::Base64UrlEncode(payload.dump()) + token.substr(dot2);
  EXPECT_EQ(Code(pat.Send("POST", "/v1/turn-credentials", {{"token", tampered}})), "BAD_SIGNATURE");
  auto other_key = token::Ed25519Key::Generate(nullptr);
  const std::string foreign = token::SignJwt(payload, token::SigningKey{"unknown-kid", *other_key});
  EXPECT_EQ(Code(pat.Send("POST", "/v1/turn-credentials", {{"token", foreign}})), "UNKNOWN_KEY");

  EXPECT_EQ(admin_.Metric(R"(cvadmin_auth_failures_total{reason="replay",source="request"})"), 1);
  EXPECT_EQ(admin_.Metric(R"(cvadmin_auth_failures_total{reason="skew",source="request"})"), 1);
  EXPECT_EQ(admin_.Metric(R"(cvadmin_auth_failures_total{reason="unknown_key",source="request"})"),
            1);
  EXPECT_EQ(admin_.Metric(R"(cvadmin_auth_failures_total{reason="bad_signature",source="token"})"),
            1);
  EXPECT_EQ(admin_.Metric(R"(cvadmin_auth_failures_total{reason="unknown_key",source="token"})"),
            1);
}

// Code that is not ours: jose verifies the token against the published JWKS, and a request signed
// by Node's own Ed25519 from the documented format is accepted.
TEST_F(CvadminTest, JoseVerifiesTheTokenAndNodeSignsRequestsCvadminAccepts) {
  const std::string js = CV_JS_DIR;
  ASSERT_EQ(access((js + "/node_modules/jose/package.json").c_str(), R_OK), 0)
      << "jose is missing: run `npm ci` in tests/integration/js (scripts/test.sh does)";
  ASSERT_NO_FATAL_FAILURE(StartAdmin());
  RunResult keygen =
      RunCommand({"/usr/bin/env", "node", js + "/sign_request.mjs", "keygen"}, seconds(20));
  ASSERT_EQ(keygen.exit_code, 0) << keygen.output;
  json key = json::parse(keygen.output);
  ASSERT_TRUE(admin_.CreateUser("nora", "pro", key["x"]));
  User("nick", "pro");

  const std::string body = json{{"call_id", "l"}, {"callee", "nick"}}.dump();
  const std::string ts = std::to_string(UnixNowMs() / 1000);
  const std::string nonce = "node-nonce-0123456789";
  RunResult signature =
      RunCommand({"/usr/bin/env", "node", js + "/sign_request.mjs", "sign", key["x"], key["d"],
                  "nora", ts, nonce, "POST", "/v1/call-sessions", body},
                 seconds(20));
  ASSERT_EQ(signature.exit_code, 0) << signature.output;
  auto started = HttpRequest(admin_.client(), "POST", "/v1/call-sessions", body,
                             {{"X-CV-User", "nora"},
                              {"X-CV-Timestamp", ts},
                              {"X-CV-Nonce", nonce},
                              {"X-CV-Signature", json::parse(signature.output)["signature"]}});
  ASSERT_EQ(started->status, 201) << started->body;
  const std::string token = JsonBody(started)["token"];

  const std::string jwks = "http://" + admin_.client().ToString() + "/.well-known/jwks.json";
  RunResult verified = RunCommand(
      {"/usr/bin/env", "node", js + "/verify_token.mjs", jwks, "cvadmin", token}, seconds(20));
  ASSERT_EQ(verified.exit_code, 0) << verified.output;
  json result = json::parse(verified.output);
  EXPECT_EQ(result["header"]["alg"], "EdDSA");
  EXPECT_FALSE(result["header"]["kid"].get<std::string>().empty());
  EXPECT_EQ(result["payload"]["sub"], "nora");
  EXPECT_EQ(result["payload"]["plan"], "pro");
  EXPECT_EQ(result["payload"]["sid"], JsonBody(started)["session_id"]);
  EXPECT_EQ(result["payload"]["allow_turn"], true);
  EXPECT_LE(result["payload"]["exp"].get<int64_t>() - result["payload"]["iat"].get<int64_t>(), 300);

  std::string tampered = token;
  tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
  RunResult refused = RunCommand(
      {"/usr/bin/env", "node", js + "/verify_token.mjs", jwks, "cvadmin", tampered}, seconds(20));
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.output.find("ERR_JWS_SIGNATURE_VERIFICATION_FAILED"), std::string::npos)
      << refused.output;
}

TEST_F(CvadminTest, RateLimitsAnswer429WithRetryAfterPerUserAndPerIp) {
  ASSERT_NO_FATAL_FAILURE(StartAdmin({"--rate-call-start-user=2", "--rate-public-ip=3"}));
  AppUser& pat = User("pat", "pro");
  User("pam", "pro");
  EXPECT_EQ(Call(pat, "pam")->status, 201);
  EXPECT_EQ(Call(pat, "pam")->status, 201);
  auto limited = Call(pat, "pam");
  EXPECT_EQ(limited->status, 429);
  EXPECT_EQ(Code(limited), "RATE_LIMITED");
  EXPECT_EQ(limited->headers["retry-after"], "30");  // 2 per minute: one every 30 s

  // Each request comes from a new source port; the address is what counts.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(HttpRequest(admin_.client(), "GET", "/healthz")->status, 200);
  }
  auto over = HttpRequest(admin_.client(), "GET", "/healthz");
  EXPECT_EQ(over->status, 429);
  EXPECT_EQ(over->headers["retry-after"], "20");
  EXPECT_EQ(admin_.Metric(R"(cvadmin_rate_limited_total{endpoint="call_start",scope="user"})"), 1);
  EXPECT_EQ(admin_.Metric(R"(cvadmin_rate_limited_total{endpoint="public",scope="ip"})"), 1);
}

TEST_F(CvadminTest, ClientApiServesTlsWithTheConfiguredCertificate) {
  const std::string cert = dir_.path() + "/cert.pem", key = dir_.path() + "/key.pem";
  RunResult made =
      RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                  "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert},
                 seconds(20));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  ASSERT_NO_FATAL_FAILURE(StartAdmin({"--cert=" + cert, "--pkey=" + key}));
  const std::string url = "https://" + admin_.client().ToString() + "/healthz";
  RunResult ok =
      RunCommand({"/usr/bin/curl", "-sS", "--max-time", "5", "--cacert", cert, url}, seconds(10));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("\"status\":\"ok\""), std::string::npos) << ok.output;
  RunResult plain = RunCommand({"/usr/bin/curl", "-sS", "--max-time", "5",
                                "http://" + admin_.client().ToString() + "/healthz"},
                               seconds(10));
  EXPECT_NE(plain.exit_code, 0);
}

TEST_F(CvadminTest, AdminApiNeedsItsTokenAndSetsTiers) {
  ASSERT_NO_FATAL_FAILURE(StartAdmin());
  auto anonymous =
      HttpRequest(admin_.admin(), "POST", "/admin/users", R"({"id":"x","tier":"pro"})");
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(anonymous->headers["www-authenticate"], "Bearer realm=\"cvadmin\"");
  User("tess", "trial");
  auto set = admin_.Admin("POST", "/admin/users/tess/tier", {{"tier", "business"}});
  ASSERT_EQ(set->status, 200);
  EXPECT_EQ(JsonBody(set)["entitlements"]["values"]["group_size"]["value"], 10);
  EXPECT_EQ(JsonBody(set)["limits"]["group_size"], 10);
  EXPECT_EQ(Code(admin_.Admin("POST", "/admin/users/tess/tier", {{"tier", "gold"}})),
            "UNKNOWN_TIER");
  EXPECT_EQ(Code(admin_.Admin("POST", "/admin/users/nobody/tier", {{"tier", "pro"}})), "NOT_FOUND");
  EXPECT_EQ(HttpRequest(admin_.admin(), "GET", "/readyz")->status, 200);
}

}  // namespace
}  // namespace cv::testing
