// Integration: cvadmin's relay fleet (admin/fleet) against the real cvrelay binary's control
// endpoint — a revocation ends a live TURN allocation and refuses new ones, lifting it lets the
// user back in, and the resync thread puts revocations back on a relay that restarted.
#include "admin/fleet/relay_fleet.h"

#include <gtest/gtest.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/credentials.h"
#include "tests/support/process.h"
#include "tests/support/turn_client.h"

namespace cv::testing {
namespace {

using admin::FleetOptions;
using admin::RelayAnswer;
using admin::RelayEndpoint;
using admin::RelayFleet;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr char kToken[] = "fleet-control-token-0123456789";
constexpr char kSecret[] = "fleet-secret-0123456789abcdef";

class FleetRevocationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(dir_.path() + "/secrets", std::string("k1 ") + kSecret + "\n");
    WriteFile(dir_.path() + "/token", kToken);
  }

  // Starts (or restarts) cvrelay with its control endpoint on `admin_port` (0: the kernel picks).
  void StartRelay(uint16_t admin_port = 0) {
    relay_ = std::make_unique<RelayProcess>();
    ASSERT_TRUE(
        relay_->Start({"--listening-ip=127.0.0.1", "--listening-port=0", "--relay-ip=127.0.0.1",
                       "--min-port=47000", "--max-port=47999", "--relay-threads=2",
                       "--realm=fleet.test", "--auth-secrets-file=" + dir_.path() + "/secrets",
                       "--admin-port=" + std::to_string(admin_port),
                       "--admin-token-file=" + dir_.path() + "/token", "--no-usage-ledger"}))
        << relay_->process().Output();
    ASSERT_TRUE(relay_->control_address()) << relay_->process().Output();
  }

  RelayEndpoint Endpoint() const {
    RelayEndpoint endpoint;
    endpoint.name = "relay-1";
    endpoint.url.host = relay_->control_address()->ip.ToString();
    endpoint.url.port = relay_->control_address()->port;
    endpoint.token = kToken;
    return endpoint;
  }

  std::unique_ptr<RelayFleet> Fleet(int resync_interval_ms = 0) {
    FleetOptions options;
    options.timeout_ms = 3000;
    options.resync_interval_ms = resync_interval_ms;
    return std::make_unique<RelayFleet>(std::vector<RelayEndpoint>{Endpoint()}, options);
  }

  uint16_t Allocate(TurnClient& client, const std::string& user, const std::string& session) {
    Credential c = Mint(kSecret, "k1", user, "pro", session);
    return client.Allocate(c.username, c.password).error;
  }

  // GET on the relay's control endpoint through the fleet; the JSON body.
  static nlohmann::json Get(const RelayFleet& fleet, const std::string& target) {
    std::vector<RelayAnswer> answers = fleet.Broadcast("GET", target);
    EXPECT_EQ(answers.size(), 1u);
    if (answers.empty()) return nullptr;
    EXPECT_TRUE(answers[0].ok) << target << ": " << answers[0].error;
    return answers[0].body;
  }

  // Polls `done` every 20 ms until it holds or `timeout` passes.
  template <typename F>
  static bool WaitUntil(F done, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!done()) {
      if (Clock::now() >= deadline) return false;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return true;
  }

  TempDir dir_;
  std::unique_ptr<RelayProcess> relay_;
};

TEST_F(FleetRevocationTest, RevokingAUserEndsHerAllocationAndLiftingLetsHerBackIn) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  TurnClient alice(relay_->address());
  ASSERT_EQ(Allocate(alice, "alice", "a-call"), 0);
  std::unique_ptr<RelayFleet> fleet = Fleet();
  ASSERT_EQ(Get(*fleet, "/v1/allocations")["count"], 1);

  const auto start = Clock::now();
  std::vector<RelayAnswer> answers = fleet->Revoke({"user", "alice", UnixNowMs() + 60'000});
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].relay, "relay-1");
  ASSERT_TRUE(answers[0].ok) << answers[0].error;
  EXPECT_EQ(answers[0].status, 201);
  EXPECT_EQ(answers[0].body["kind"], "user");
  EXPECT_EQ(answers[0].body["id"], "alice");
  EXPECT_EQ(answers[0].body["ended_allocations"], 1) << answers[0].body.dump();
  const int64_t until_s = answers[0].body["until"].get<int64_t>();
  EXPECT_NEAR(until_s, UnixNowMs() / 1000 + 60, 2);

  EXPECT_TRUE(
      WaitUntil([&] { return Get(*fleet, "/v1/allocations")["count"] == 0; }, milliseconds(1000)))
      << Get(*fleet, "/v1/allocations").dump();
  const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  std::cout << "[ timing   ] revoke to an empty allocation list: " << took.count() << " ms\n";
  EXPECT_LT(took, seconds(1));
  EXPECT_EQ(alice.Refresh(600).error, 403) << "her allocation is gone for good";
  TurnClient again(relay_->address());
  EXPECT_EQ(Allocate(again, "alice", "a-call-2"), 403);

  std::vector<RelayAnswer> lifted = fleet->Lift("user", "alice");
  ASSERT_EQ(lifted.size(), 1u);
  EXPECT_TRUE(lifted[0].ok) << lifted[0].error;
  EXPECT_EQ(lifted[0].status, 204);
  TurnClient after(relay_->address());
  EXPECT_EQ(Allocate(after, "alice", "a-call-3"), 0);

  // Lifting again finds nothing to lift, which is fine.
  std::vector<RelayAnswer> again_lifted = fleet->Lift("user", "alice");
  ASSERT_EQ(again_lifted.size(), 1u);
  EXPECT_TRUE(again_lifted[0].ok) << again_lifted[0].error;
  EXPECT_EQ(again_lifted[0].status, 404);
}

TEST_F(FleetRevocationTest, TheResyncThreadPutsRevocationsBackOnARestartedRelay) {
  const uint16_t admin_port = FreeTcpPort();
  ASSERT_NO_FATAL_FAILURE(StartRelay(admin_port));
  std::unique_ptr<RelayFleet> fleet = Fleet(/*resync_interval_ms=*/200);
  fleet->SetWanted(
      {{"user", "mallory", UnixNowMs() + 60'000}, {"session", "over", UnixNowMs() - 1}});
  auto revoked = [&] {
    nlohmann::json list = Get(*fleet, "/v1/revocations");
    return list.is_object() && list["revocations"].dump().find("\"mallory\"") != std::string::npos;
  };
  ASSERT_TRUE(WaitUntil(revoked, seconds(3)));
  TurnClient refused(relay_->address());
  EXPECT_EQ(Allocate(refused, "mallory", "m-call"), 403);
  EXPECT_EQ(Get(*fleet, "/v1/revocations")["revocations"].size(), 1u) << "not the expired one";

  // A restart forgets every revocation (they live in memory) ...
  relay_->process().Kill();
  ASSERT_NO_FATAL_FAILURE(StartRelay(admin_port));
  TurnClient before_resync(relay_->address());
  const uint16_t first = Allocate(before_resync, "mallory", "m-call-2");
  // ... until the next pass, at most one interval later. (If the pass won the race to the new
  // relay, the allocation was refused already.)
  EXPECT_TRUE(first == 0 || first == 403) << first;
  ASSERT_TRUE(WaitUntil(revoked, seconds(3)));
  EXPECT_TRUE(WaitUntil([&] { return Get(*fleet, "/v1/allocations")["count"] == 0; }, seconds(1)));
  TurnClient after_resync(relay_->address());
  EXPECT_EQ(Allocate(after_resync, "mallory", "m-call-3"), 403);
}

}  // namespace
}  // namespace cv::testing
