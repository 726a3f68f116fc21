// Integration: entitlement-aware credentials against the real cvrelay binary — plan refusals,
// tampering and key ids, rotation through the secrets file, duration, allocation and bandwidth
// caps, rate limits and bans, and the control endpoint (listing, ending, revocation).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/support/credentials.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/turn_client.h"

namespace cv::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr char kToken[] = "control-token-0123456789";

class EntitlementsTest : public ::testing::Test {
 protected:
  static constexpr char kSecret[] = "entitlement-secret-0123456789";

  // Starts cvrelay with REST secrets from a secrets file (kid "k1"), the control endpoint on,
  // and `extra` flags; `plans` (JSON) replaces the built-in table when given.
  void Start(std::vector<std::string> extra = {}, const std::string& plans = "") {
    secrets_ = dir_.path() + "/secrets";
    if (!std::ifstream(secrets_)) WriteFile(secrets_, std::string("k1 ") + kSecret + "\n");
    WriteFile(dir_.path() + "/token", kToken);
    std::vector<std::string> args = {"--listening-ip=127.0.0.1",
                                     "--listening-port=0",
                                     "--relay-ip=127.0.0.1",
                                     "--min-port=44000",
                                     "--max-port=44999",
                                     "--relay-threads=2",
                                     "--realm=ent.test",
                                     "--allow-loopback-peers",
                                     "--auth-secrets-file=" + secrets_,
                                     "--admin-port=0",
                                     "--admin-token-file=" + dir_.path() + "/token"};
    if (!plans.empty()) {
      WriteFile(dir_.path() + "/plans.json", plans);
      args.push_back("--plans-file=" + dir_.path() + "/plans.json");
    }
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(relay_.Start(args)) << relay_.process().Output();
    ASSERT_TRUE(relay_.control_address()) << relay_.process().Output();
  }

  std::optional<HttpResponse> Control(const std::string& method, const std::string& target,
                                      const std::string& body = "") {
    return HttpRequest(
        *relay_.control_address(), method, target, body,
        {{"Authorization", std::string("Bearer ") + kToken}, {"Content-Type", "application/json"}});
  }

  nlohmann::json Allocations() {
    auto r = Control("GET", "/v1/allocations");
    EXPECT_TRUE(r && r->status == 200);
    return r ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json();
  }

  uint16_t Allocate(TurnClient& client, const Credential& c) {
    return client.Allocate(c.username, c.password).error;
  }

  TempDir dir_;
  std::string secrets_;
  RelayProcess relay_;
};

TEST_F(EntitlementsTest, FreePlanIsRefusedWith403EvenWithAValidHmac) {
  Start();
  TurnClient client(relay_.address());
  EXPECT_EQ(Allocate(client, Mint(kSecret, "k1", "fred", "free")), 403);
  TurnClient unknown_plan(relay_.address());
  EXPECT_EQ(Allocate(unknown_plan, Mint(kSecret, "k1", "fred", "platinum")), 403)
      << "an unknown plan is treated as free";
  ASSERT_TRUE(relay_.process().WaitForOutput("reason=plan_may_not_relay", seconds(2)));
  TurnClient paid(relay_.address());
  EXPECT_EQ(Allocate(paid, Mint(kSecret, "k1", "tina", "trial")), 0);
  auto counters = Control("GET", "/v1/counters");
  ASSERT_TRUE(counters);
  auto j = nlohmann::json::parse(counters->body)["counters"];
  EXPECT_EQ(j["auth_plan_may_not_relay"], 2);
  EXPECT_EQ(j["allocations_created"], 1);
}

TEST_F(EntitlementsTest, TamperedClaimOrUnknownKeyIdGets401) {
  Start();
  Credential c = Mint(kSecret, "k1", "mallory", "free");
  Credential tampered = c;
  tampered.username.replace(tampered.username.find("p=free"), 6, "p=pro");
  TurnClient a(relay_.address());
  EXPECT_EQ(Allocate(a, tampered), 401) << "the HMAC covers the claims";
  TurnClient b(relay_.address());
  EXPECT_EQ(Allocate(b, Mint(kSecret, "k9", "mallory", "pro")), 401);
  ASSERT_TRUE(relay_.process().WaitForOutput("reason=unknown_key", seconds(2)));
}

TEST_F(EntitlementsTest, RotatedSecretWorksDuringTheOverlapAndNotAfter) {
  Start();
  const Credential old_cred = Mint(kSecret, "k1", "rita", "pro", "s-old");
  TurnClient before(relay_.address());
  ASSERT_EQ(Allocate(before, old_cred), 0);

  // Rotate: k2 is the new secret; k1 verifies for three more seconds. No signal: the relay
  // notices the file change by itself.
  const int64_t not_after = time(nullptr) + 3;
  WriteFile(secrets_, "k2 second-secret-0123456789\nk1 " + std::string(kSecret) + " " +
                          std::to_string(not_after) + "\n");
  ASSERT_TRUE(relay_.process().WaitForOutput("server.reloaded", seconds(5)))
      << relay_.process().Output();
  TurnClient overlap(relay_.address());
  EXPECT_EQ(Allocate(overlap, old_cred), 0) << "old credentials work during the overlap";
  TurnClient fresh(relay_.address());
  EXPECT_EQ(Allocate(fresh, Mint("second-secret-0123456789", "k2", "rita", "pro", "s-new")), 0);

  while (time(nullptr) <= not_after) std::this_thread::sleep_for(milliseconds(100));
  TurnClient after(relay_.address());
  EXPECT_EQ(Allocate(after, old_cred), 401) << "and not after";
  TurnClient still(relay_.address());
  EXPECT_EQ(Allocate(still, Mint("second-secret-0123456789", "k2", "rita", "pro", "s-3")), 0);
}

TEST_F(EntitlementsTest, BrokenSecretsFileKeepsTheRunningSecrets) {
  Start();
  WriteFile(secrets_, "k1 short\n");
  ASSERT_TRUE(relay_.process().WaitForOutput("server.reload_failed", seconds(5)));
  TurnClient client(relay_.address());
  EXPECT_EQ(Allocate(client, Mint(kSecret, "k1", "rita", "pro")), 0);
  EXPECT_EQ(relay_.process().Output().find(kSecret), std::string::npos);
}

TEST_F(EntitlementsTest, DurationCapEndsTheAllocationWhileTheClientKeepsRefreshing) {
  Start({}, R"({"version": 1, "plans": {"pro": {"max_call_duration_s": 2}}})");
  TurnClient client(relay_.address());
  TurnClient::Reply r = client.Allocate(Mint(kSecret, "k1", "dora", "pro").username,
                                        Mint(kSecret, "k1", "dora", "pro").password);
  // (Two mints in the same second give the same credential.)
  ASSERT_EQ(r.error, 0);
  EXPECT_LE(r.lifetime.value_or(0), 2u);
  const auto start = Clock::now();
  uint16_t refresh = 0;
  while (Clock::now() - start < seconds(5)) {
    refresh = client.Refresh(600).error;
    if (refresh != 0) break;
    std::this_thread::sleep_for(milliseconds(250));
  }
  EXPECT_EQ(refresh, 437) << "the allocation is gone although refreshed every 250 ms";
  const auto ended = Clock::now() - start;
  EXPECT_GE(ended, milliseconds(1500));
  EXPECT_LE(ended, milliseconds(3500));
  EXPECT_NE(relay_.process().Output().find("reason=duration_cap"), std::string::npos);
}

TEST_F(EntitlementsTest, AllocationCapsPerUserAndPerCallSessionGet486) {
  Start({}, R"({"version": 1, "plans": {"pro": {"relay": {
      "max_allocations_per_user": 3, "allocations_per_peer": 1}}}})");
  // A 1:1 call (group 2) may hold one allocation per peer: one.
  TurnClient a(relay_.address()), b(relay_.address());
  EXPECT_EQ(Allocate(a, Mint(kSecret, "k1", "ursula", "pro", "call-1")), 0);
  EXPECT_EQ(Allocate(b, Mint(kSecret, "k1", "ursula", "pro", "call-1")), 486);
  // A group call of 3 may hold two; the user's third overall is still within 3.
  TurnClient c(relay_.address()), d(relay_.address()), e(relay_.address());
  EXPECT_EQ(Allocate(c, Mint(kSecret, "k1", "ursula", "pro", "call-2", 600, 0, 3)), 0);
  EXPECT_EQ(Allocate(d, Mint(kSecret, "k1", "ursula", "pro", "call-2", 600, 0, 3)), 0);
  EXPECT_EQ(Allocate(e, Mint(kSecret, "k1", "ursula", "pro", "call-3")), 486) << "per user";
  EXPECT_NE(relay_.process().Output().find("reason=session-quota"), std::string::npos);
  EXPECT_NE(relay_.process().Output().find("reason=user-quota"), std::string::npos);
}

// A UDP peer on loopback that counts what it receives.
class CountingPeer {
 public:
  CountingPeer() { fd_ = BindLoopbackUdp(&address_, 8 << 20); }
  ~CountingPeer() {
    if (reader_.joinable()) reader_.join();
    close(fd_);
  }
  const SocketAddress& address() const { return address_; }
  // Reads on a thread (a loopback socket buffer would overflow otherwise) until nothing arrives
  // for `quiet`; Total() then gives the payload bytes received.
  void StartReading(milliseconds quiet = milliseconds(500)) {
    reader_ = std::thread([this, quiet] {
      char buf[4096];
      pollfd p{fd_, POLLIN, 0};
      while (poll(&p, 1, static_cast<int>(quiet.count())) > 0) {
        ssize_t n = recv(fd_, buf, sizeof(buf), 0);
        if (n > 0) total_ += static_cast<size_t>(n);
      }
    });
  }
  size_t Total() {
    reader_.join();
    return total_;
  }

 private:
  int fd_ = -1;
  SocketAddress address_;
  std::thread reader_;
  size_t total_ = 0;
};

TEST_F(EntitlementsTest, BandwidthCapHoldsTheMeasuredRateWithinTenPercent) {
  Start();
  CountingPeer peer;
  TurnClient client(relay_.address());
  // 800 kbit/s = 100,000 payload bytes per second (a video call: the plan's audio-only cap, 256
  // kbit/s, would otherwise be the tighter one).
  ASSERT_EQ(Allocate(client, Mint(kSecret, "k1", "bea", "pro", "s1", 600, 800, 2, true)), 0);
  ASSERT_EQ(client.ChannelBind(0x4000, peer.address()).error, 0);
  // Offer 1000-byte payloads every millisecond (~1 MB/s, ten times the cap) for 4 seconds.
  const std::vector<uint8_t> payload(1000, 0x42);
  peer.StartReading();
  const auto start = Clock::now();
  auto next = start;
  while (Clock::now() - start < seconds(4)) {
    client.SendChannelData(0x4000, payload);
    next += milliseconds(1);
    std::this_thread::sleep_until(next);
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double rate = peer.Total() / elapsed;
  // The bucket lets 200 ms at the cap through at once (5% over 4 s); the rest is the cap.
  EXPECT_GT(rate, 100'000 * 0.9) << rate;
  EXPECT_LT(rate, 100'000 * 1.1) << rate;
}

TEST_F(EntitlementsTest, AllocateRateAndAuthFailureBanPerSource) {
  Start({"--allocate-rate=0.5", "--allocate-burst=2", "--auth-failure-limit=3",
         "--auth-ban-time=30"});
  TurnClient a(relay_.address()), b(relay_.address()), c(relay_.address());
  EXPECT_EQ(Allocate(a, Mint(kSecret, "k1", "u1", "pro", "x1")), 0);
  EXPECT_EQ(Allocate(b, Mint(kSecret, "k1", "u2", "pro", "x2")), 0);
  EXPECT_EQ(Allocate(c, Mint(kSecret, "k1", "u3", "pro", "x3")), 486) << "third within a second";

  Credential wrong = Mint("not-the-right-secret-012345", "k1", "u4", "pro");
  for (int i = 0; i < 3; ++i) {
    TurnClient guesser(relay_.address());
    EXPECT_EQ(Allocate(guesser, wrong), 401);
  }
  TurnClient banned(relay_.address());
  EXPECT_EQ(Allocate(banned, Mint(kSecret, "k1", "u4", "pro", "x4")), 403);
  EXPECT_NE(relay_.process().Output().find("auth.banned scope=source"), std::string::npos);
}

TEST_F(EntitlementsTest, ControlEndpointListsEndsAndRevokes) {
  Start();
  TurnClient alice1(relay_.address()), alice2(relay_.address()), bob(relay_.address());
  ASSERT_EQ(Allocate(alice1, Mint(kSecret, "k1", "alice", "pro", "a-call")), 0);
  ASSERT_EQ(Allocate(alice2, Mint(kSecret, "k1", "alice", "pro", "a-call-2")), 0);
  ASSERT_EQ(Allocate(bob, Mint(kSecret, "k1", "bob", "business", "b-call")), 0);

  auto health = Control("GET", "/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto ready = Control("GET", "/v1/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  auto unauthorized = HttpRequest(*relay_.control_address(), "GET", "/v1/allocations");
  ASSERT_TRUE(unauthorized);
  EXPECT_EQ(unauthorized->status, 401);

  nlohmann::json list = Allocations();
  ASSERT_EQ(list["count"], 3) << list.dump();
  std::string bob_id;
  for (const auto& a : list["allocations"]) {
    if (a["user"] == "bob") {
      bob_id = a["id"];
      EXPECT_EQ(a["session"], "b-call");
      EXPECT_EQ(a["plan"], "business");
      EXPECT_EQ(a["transport"], "udp");
      EXPECT_NE(a["client"].get<std::string>().find(":" + std::to_string(bob.local().port)),
                std::string::npos);
    }
  }
  ASSERT_FALSE(bob_id.empty());
  auto ended = Control("DELETE", "/v1/allocations/" + bob_id);
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->status, 204);
  EXPECT_EQ(bob.Refresh(600).error, 437);

  // Revoking a user ends their live allocations within a second and refuses new ones.
  const auto t0 = Clock::now();
  auto revoked = Control("POST", "/v1/revocations", R"({"user":"alice","ttl_s":60})");
  ASSERT_TRUE(revoked);
  ASSERT_EQ(revoked->status, 201) << revoked->body;
  EXPECT_EQ(nlohmann::json::parse(revoked->body)["ended_allocations"], 2);
  EXPECT_EQ(Allocations()["count"], 0);
  EXPECT_LT(Clock::now() - t0, seconds(1));
  EXPECT_EQ(alice1.Refresh(600).error, 403) << "a revoked user is told it is final";
  TurnClient again(relay_.address());
  EXPECT_EQ(Allocate(again, Mint(kSecret, "k1", "alice", "pro", "a-call-3")), 403);
  auto listed = Control("GET", "/v1/revocations");
  ASSERT_TRUE(listed);
  EXPECT_NE(listed->body.find("\"alice\""), std::string::npos);

  // Lifting it lets alice relay again.
  auto lifted = Control("DELETE", "/v1/revocations/user/alice");
  ASSERT_TRUE(lifted);
  EXPECT_EQ(lifted->status, 204);
  TurnClient after(relay_.address());
  EXPECT_EQ(Allocate(after, Mint(kSecret, "k1", "alice", "pro", "a-call-4")), 0);
}

TEST_F(EntitlementsTest, SessionRevocationEndsOnlyThatCall) {
  Start();
  TurnClient one(relay_.address()), two(relay_.address());
  ASSERT_EQ(Allocate(one, Mint(kSecret, "k1", "carl", "pro", "call-a")), 0);
  ASSERT_EQ(Allocate(two, Mint(kSecret, "k1", "carl", "pro", "call-b")), 0);
  auto r = Control("POST", "/v1/revocations", R"({"session":"call-a"})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201);
  EXPECT_EQ(one.Refresh(600).error, 403);
  EXPECT_EQ(two.Refresh(600).error, 0);
}

TEST_F(EntitlementsTest, ClaimlessCredentialsFollowTheClaimlessPlan) {
  Start({"--claimless-plan=none"});
  const std::string username = std::to_string(time(nullptr) + 600) + ":legacy";
  TurnClient client(relay_.address());
  EXPECT_EQ(client.Allocate(username, RestPassword(kSecret, username)).error, 403);
}

TEST_F(EntitlementsTest, ClaimlessCredentialsWorkByDefaultAsCoturnsDo) {
  Start();
  const std::string username = std::to_string(time(nullptr) + 600) + ":legacy";
  TurnClient client(relay_.address());
  EXPECT_EQ(client.Allocate(username, RestPassword(kSecret, username)).error, 0);
  nlohmann::json list = Allocations();
  ASSERT_EQ(list["count"], 1);
  EXPECT_EQ(list["allocations"][0]["user"], "legacy");
  EXPECT_EQ(list["allocations"][0]["plan"], "pro");
}

TEST_F(EntitlementsTest, ControlEndpointNeedsAPrivateTokenFile) {
  WriteFile(dir_.path() + "/open-token", kToken, 0644);
  RunResult r = RunCommand(
      {BinaryPath("cvrelay"), "--listening-ip=127.0.0.1", "--listening-port=0",
       "--relay-ip=127.0.0.1", "--realm=x", "--static-auth-secret=abc",
       "--admin-token-file=" + dir_.path() + "/open-token", "--admin-port=0", "--no-usage-ledger"},
      seconds(10));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("chmod 600"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(kToken), std::string::npos);
}

}  // namespace
}  // namespace cv::testing
