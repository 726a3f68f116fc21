#include "relay/turn/request_limits.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "relay/common/rate_limiter.h"
#include "relay/turn/bandwidth_cap.h"
#include "relay/turn/quota.h"
#include "relay/turn/revocations.h"

namespace cv::turn {
namespace {

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

// --- RateTable::Block / Limited ---------------------------------------------------------------

TEST(RateTableTest, LimitedPeeksWithoutCounting) {
  RateTable t(1, 2, 64);
  const MonoTime now{};
  EXPECT_FALSE(t.Limited(7, now));
  EXPECT_TRUE(t.Allow(7, now));
  EXPECT_FALSE(t.Limited(7, now));
  EXPECT_TRUE(t.Allow(7, now));
  EXPECT_TRUE(t.Limited(7, now));
  EXPECT_TRUE(t.Limited(7, now)) << "peeking twice does not change the answer";
  EXPECT_FALSE(t.Limited(7, now + seconds(1)));
}

TEST(RateTableTest, BlockRefusesUntilItsEndThenAllowsAgain) {
  RateTable t(1, 5, 64);
  const MonoTime now{};
  t.Block(9, now + seconds(30), now);
  EXPECT_TRUE(t.Limited(9, now + seconds(29)));
  EXPECT_FALSE(t.Allow(9, now + seconds(29)));
  EXPECT_FALSE(t.Limited(9, now + seconds(31)));
  EXPECT_TRUE(t.Allow(9, now + seconds(31)));
  EXPECT_FALSE(t.Limited(10, now)) << "other keys are untouched";
}

// --- RequestLimits ------------------------------------------------------------------------------

RequestLimitsConfig Strict() {
  RequestLimitsConfig c;
  c.allocate_rate_per_source = 1;
  c.allocate_burst_per_source = 3;
  c.allocate_rate_per_user = 1;
  c.allocate_burst_per_user = 2;
  c.auth_failures_per_source = 3;
  c.auth_failures_per_user = 5;
  c.auth_failure_window_s = 60;
  c.auth_ban_s = 30;  // longer than a refill (60 s / 3), so the ban is what counts
  return c;
}

TEST(RequestLimitsTest, AllocateRateNamesTheScopeThatIsOver) {
  RequestLimits limits(Strict(), 1);
  const MonoTime now{};
  EXPECT_EQ(limits.AllowAllocate(Ip("192.0.2.1"), "alice", now), LimitScope::kNone);
  EXPECT_EQ(limits.AllowAllocate(Ip("192.0.2.2"), "alice", now), LimitScope::kNone);
  EXPECT_EQ(limits.AllowAllocate(Ip("192.0.2.3"), "alice", now), LimitScope::kUser);
  EXPECT_EQ(limits.AllowAllocate(Ip("192.0.2.1"), "bob", now), LimitScope::kNone);
  EXPECT_EQ(limits.AllowAllocate(Ip("192.0.2.1"), "carol", now), LimitScope::kNone);
  EXPECT_EQ(limits.AllowAllocate(Ip("192.0.2.1"), "dave", now), LimitScope::kSource);
}

TEST(RequestLimitsTest, FailuresBanTheSourceOnceTheBudgetIsSpent) {
  RequestLimits limits(Strict(), 1);
  const MonoTime now{};
  const IpAddress src = Ip("198.51.100.4");
  EXPECT_EQ(limits.RecordAuthFailure(src, "", now), LimitScope::kNone);
  EXPECT_EQ(limits.RecordAuthFailure(src, "", now), LimitScope::kNone);
  EXPECT_EQ(limits.Banned(src, "", now), LimitScope::kNone);
  EXPECT_EQ(limits.RecordAuthFailure(src, "", now), LimitScope::kSource);
  EXPECT_EQ(limits.Banned(src, "", now + seconds(29)), LimitScope::kSource);
  EXPECT_EQ(limits.Banned(src, "", now + seconds(31)), LimitScope::kNone);
  EXPECT_EQ(limits.Banned(Ip("198.51.100.5"), "", now), LimitScope::kNone);
}

TEST(RequestLimitsTest, FailuresForOneUserFromManySourcesBanTheUser) {
  RequestLimits limits(Strict(), 1);
  const MonoTime now{};
  LimitScope last = LimitScope::kNone;
  for (int i = 1; i <= 5; ++i) {
    last = limits.RecordAuthFailure(Ip(("203.0.113." + std::to_string(i)).c_str()), "eve", now);
  }
  EXPECT_EQ(last, LimitScope::kUser);
  EXPECT_EQ(limits.Banned(Ip("203.0.113.200"), "eve", now), LimitScope::kUser);
  EXPECT_EQ(limits.Banned(Ip("203.0.113.200"), "alice", now), LimitScope::kNone);
}

TEST(RequestLimitsTest, ZeroMeansNoLimitAndNoBan) {
  RequestLimitsConfig c;
  c.allocate_rate_per_source = 0;
  c.allocate_rate_per_user = 0;
  c.auth_failures_per_source = 0;
  c.auth_failures_per_user = 0;
  RequestLimits limits(c, 1);
  const MonoTime now{};
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(limits.AllowAllocate(Ip("192.0.2.1"), "alice", now), LimitScope::kNone);
    ASSERT_EQ(limits.RecordAuthFailure(Ip("192.0.2.1"), "alice", now), LimitScope::kNone);
  }
  EXPECT_EQ(limits.Banned(Ip("192.0.2.1"), "alice", now), LimitScope::kNone);
}

TEST(RequestLimitsTest, WorkersSharingTheLimitsCountEveryRequestOnce) {
  RequestLimitsConfig c = Strict();
  c.allocate_rate_per_source = 0;
  c.allocate_rate_per_user = 0.001;
  c.allocate_burst_per_user = 1000;
  RequestLimits limits(c, 1);
  const MonoTime now{};
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (limits.AllowAllocate(Ip("192.0.2.1"), "alice", now) == LimitScope::kNone) ++allowed;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(allowed.load(), 1000);
}

// --- QuotaTracker
// ---------------------------------------------------------------------------------

TEST(QuotaTrackerTest, TheTighterPerUserLimitWins) {
  QuotaTracker q(/*per_user=*/3, /*total=*/0);
  EXPECT_EQ(q.Acquire({"alice", "", 2, 0}), QuotaResult::kOk);
  EXPECT_EQ(q.Acquire({"alice", "", 2, 0}), QuotaResult::kOk);
  EXPECT_EQ(q.Acquire({"alice", "", 2, 0}), QuotaResult::kUserFull);
  EXPECT_EQ(q.Acquire({"bob", "", 0, 0}), QuotaResult::kOk) << "0 leaves the tracker's limit";
  EXPECT_EQ(q.Acquire({"bob", "", 0, 0}), QuotaResult::kOk);
  EXPECT_EQ(q.Acquire({"bob", "", 0, 0}), QuotaResult::kOk);
  EXPECT_EQ(q.Acquire({"bob", "", 0, 0}), QuotaResult::kUserFull);
  EXPECT_EQ(q.total(), 5u);
}

TEST(QuotaTrackerTest, SessionsAreCountedPerUserAndReleasedWithTheirUser) {
  QuotaTracker q(0, 0);
  EXPECT_EQ(q.Acquire({"alice", "s1", 0, 1}), QuotaResult::kOk);
  EXPECT_EQ(q.Acquire({"alice", "s1", 0, 1}), QuotaResult::kSessionFull);
  EXPECT_EQ(q.ForUser("alice"), 1u) << "a refused session leaves the user count as it was";
  EXPECT_EQ(q.Acquire({"alice", "s2", 0, 1}), QuotaResult::kOk);
  EXPECT_EQ(q.Acquire({"bob", "s1", 0, 1}), QuotaResult::kOk) << "sessions belong to a user";
  q.Release("alice", "s1");
  EXPECT_EQ(q.ForSession("alice", "s1"), 0u);
  EXPECT_EQ(q.Acquire({"alice", "s1", 0, 1}), QuotaResult::kOk);
  q.Release("alice", "s1");
  q.Release("alice", "s2");
  q.Release("bob", "s1");
  EXPECT_EQ(q.total(), 0u);
  EXPECT_EQ(q.ForUser("alice"), 0u);
}

TEST(QuotaTrackerTest, AUserNamedLikeASessionKeyDoesNotShareItsCount) {
  QuotaTracker q(0, 0);
  EXPECT_EQ(q.Acquire({"alice", "s1", 0, 1}), QuotaResult::kOk);
  EXPECT_EQ(q.Acquire({"alice\ns1", "", 1, 0}), QuotaResult::kOk);
  EXPECT_EQ(q.ForUser("alice\ns1"), 1u);
  EXPECT_EQ(q.ForSession("alice", "s1"), 1u);
}

// --- BandwidthCap
// ---------------------------------------------------------------------------------

TEST(BandwidthCapTest, ZeroIsUncapped) {
  BandwidthCap cap(0);
  EXPECT_FALSE(cap.capped());
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(cap.Allow(65535, MonoTime{}));
}

TEST(BandwidthCapTest, BurstIsTwoHundredMillisecondsOrSixteenKilobytes) {
  BandwidthCap slow(64);  // 8000 bytes/s: 200 ms = 1600 bytes < 16 KiB
  size_t passed = 0;
  while (slow.Allow(100, MonoTime{})) passed += 100;
  EXPECT_GE(passed, BandwidthCap::kMinBurstBytes - 100);
  EXPECT_LE(passed, BandwidthCap::kMinBurstBytes + 100);

  BandwidthCap fast(8000);  // 1,000,000 bytes/s: 200 ms = 200,000 bytes
  passed = 0;
  while (fast.Allow(1000, MonoTime{})) passed += 1000;
  EXPECT_GE(passed, 199'000u);
  EXPECT_LE(passed, 201'000u);
}

TEST(BandwidthCapTest, LongRunRateMatchesTheCap) {
  BandwidthCap cap(2000);  // 250,000 bytes/s
  MonoTime now{};
  size_t passed = 0;
  for (int i = 0; i < 100'000; ++i) {  // 10 s of 1200-byte packets every 100 µs
    if (cap.Allow(1200, now)) passed += 1200;
    now += std::chrono::microseconds(100);
  }
  const double rate = passed / 10.0;
  EXPECT_NEAR(rate, 250'000, 250'000 * 0.03);
}

// --- RevocationTable
// ------------------------------------------------------------------------------

TEST(RevocationTableTest, RevokesByUserOrSessionUntilTheEnd) {
  RevocationTable t;
  auth::Entitlement e;
  e.user = "alice";
  e.session = "s1";
  EXPECT_FALSE(t.Revoked(e, 100));
  t.Add(RevocationKind::kSession, "s1", 200, 100);
  EXPECT_TRUE(t.Revoked(e, 200));
  EXPECT_FALSE(t.Revoked(e, 201));
  t.Add(RevocationKind::kUser, "alice", 500, 100);
  t.Add(RevocationKind::kUser, "alice", 300, 100);
  EXPECT_TRUE(t.Revoked(e, 450)) << "a shorter revocation does not shorten a longer one";
  EXPECT_TRUE(t.Lift(RevocationKind::kUser, "alice"));
  EXPECT_FALSE(t.Revoked(e, 450));
  auth::Entitlement claimless;
  claimless.user = "bob";
  t.Add(RevocationKind::kSession, "", 900, 100);
  EXPECT_FALSE(t.Revoked(claimless, 150)) << "an empty session never matches";
}

TEST(RevocationTableTest, ExpiredEntriesAreDroppedWhenOthersAreAdded) {
  RevocationTable t;
  for (int i = 0; i < 100; ++i) t.Add(RevocationKind::kUser, "u" + std::to_string(i), 10, 0);
  EXPECT_EQ(t.size(), 100u);
  t.Add(RevocationKind::kUser, "fresh", 100, 50);
  EXPECT_EQ(t.size(), 1u);
}

}  // namespace
}  // namespace cv::turn
