#include "relay/common/rate_limiter.h"

#include <gtest/gtest.h>

#include <string>

namespace cv {
namespace {

IpAddress Ip(const std::string& text) {
  auto a = IpAddress::Parse(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(IpAddress{});
}

class SourceRateLimiterTest : public ::testing::Test {
 protected:
  MonoTime t0_ = MonoTime{} + seconds(1000);

  static int CountAllowed(SourceRateLimiter& l, const IpAddress& ip, MonoTime at, int tries) {
    int n = 0;
    for (int i = 0; i < tries; ++i) n += l.Allow(ip, at) ? 1 : 0;
    return n;
  }
};

TEST_F(SourceRateLimiterTest, BurstThenRefillAtRate) {
  SourceRateLimiter l(10.0, 5);  // 10/s, burst 5
  const IpAddress a = Ip("203.0.113.1");
  EXPECT_EQ(CountAllowed(l, a, t0_, 20), 5);
  EXPECT_FALSE(l.Allow(a, t0_ + milliseconds(99)));
  EXPECT_TRUE(l.Allow(a, t0_ + milliseconds(100)));  // one earned
  EXPECT_FALSE(l.Allow(a, t0_ + milliseconds(100)));
  EXPECT_EQ(CountAllowed(l, a, t0_ + milliseconds(350), 10), 2);  // 2.5 earned since
  // After a long quiet time, the bucket is full again but never more than the burst.
  EXPECT_EQ(CountAllowed(l, a, t0_ + seconds(60), 20), 5);
}

TEST_F(SourceRateLimiterTest, RetryAfterSaysWhenTheNextEventIsAllowed) {
  RateTable table(2.0, 2, 16);                            // 2/s, burst 2
  EXPECT_EQ(table.RetryAfter(7, t0_), Duration::zero());  // never seen
  EXPECT_TRUE(table.Allow(7, t0_));
  EXPECT_EQ(table.RetryAfter(7, t0_), Duration::zero());  // one left in the burst
  EXPECT_TRUE(table.Allow(7, t0_));
  EXPECT_EQ(table.RetryAfter(7, t0_), milliseconds(500));
  EXPECT_FALSE(table.Allow(7, t0_ + milliseconds(499)));
  EXPECT_EQ(table.RetryAfter(7, t0_ + milliseconds(400)), milliseconds(100));
  EXPECT_TRUE(table.Allow(7, t0_ + milliseconds(500)));
  EXPECT_EQ(RateTable(0, 1, 16).RetryAfter(7, t0_), Duration::zero());  // unlimited
}

TEST_F(SourceRateLimiterTest, SteadyRateIsSustained) {
  SourceRateLimiter l(5.0, 1);
  const IpAddress a = Ip("203.0.113.1");
  int allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += l.Allow(a, t0_ + milliseconds(200) * i) ? 1 : 0;
  EXPECT_EQ(allowed, 100);
  // Twice the rate: half gets through.
  SourceRateLimiter m(5.0, 1);
  allowed = 0;
  for (int i = 0; i < 100; ++i) allowed += m.Allow(a, t0_ + milliseconds(100) * i) ? 1 : 0;
  EXPECT_EQ(allowed, 50);
}

TEST_F(SourceRateLimiterTest, SourcesAreIndependent) {
  SourceRateLimiter l(1.0, 3);
  EXPECT_EQ(CountAllowed(l, Ip("203.0.113.1"), t0_, 10), 3);
  EXPECT_EQ(CountAllowed(l, Ip("203.0.113.2"), t0_, 10), 3);
  EXPECT_EQ(CountAllowed(l, Ip("2001:db8:1::1"), t0_, 10), 3);
  EXPECT_EQ(CountAllowed(l, Ip("2001:db8:2::1"), t0_, 10), 3);
  EXPECT_FALSE(l.Allow(Ip("203.0.113.1"), t0_));
}

TEST_F(SourceRateLimiterTest, KeyIsTheAddressNotThePort) {
  // Allow() takes an IpAddress: whatever the port, the same address drains one bucket.
  SourceRateLimiter l(1.0, 2);
  auto a = SocketAddress::Parse("203.0.113.9:1000");
  auto b = SocketAddress::Parse("203.0.113.9:2000");
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(l.Allow(a->ip, t0_));
  EXPECT_TRUE(l.Allow(b->ip, t0_));
  for (uint16_t port = 1; port < 500; ++port) {
    SocketAddress s{a->ip, port};
    EXPECT_FALSE(l.Allow(s.ip, t0_));
  }
}

TEST_F(SourceRateLimiterTest, MappedAddressCountsAsIpv4) {
  SourceRateLimiter l(1.0, 2);
  EXPECT_TRUE(l.Allow(Ip("203.0.113.9"), t0_));
  EXPECT_TRUE(l.Allow(Ip("::ffff:203.0.113.9"), t0_));
  EXPECT_FALSE(l.Allow(Ip("203.0.113.9"), t0_));
  EXPECT_FALSE(l.Allow(Ip("::ffff:203.0.113.9"), t0_));
}

TEST_F(SourceRateLimiterTest, Ipv6SourcesShareTheirSlash64) {
  SourceRateLimiter l(1.0, 2);
  EXPECT_TRUE(l.Allow(Ip("2001:db8:1:2::1"), t0_));
  EXPECT_TRUE(l.Allow(Ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), t0_));
  EXPECT_FALSE(l.Allow(Ip("2001:db8:1:2:1234::5"), t0_));
  EXPECT_TRUE(l.Allow(Ip("2001:db8:1:3::1"), t0_));  // next /64

  SourceRateLimitConfig per_address;
  per_address.rate_per_second = 1;
  per_address.burst = 1;
  per_address.ipv6_prefix_bits = 128;
  SourceRateLimiter m(per_address);
  EXPECT_TRUE(m.Allow(Ip("2001:db8:1:2::1"), t0_));
  EXPECT_TRUE(m.Allow(Ip("2001:db8:1:2::2"), t0_));
  EXPECT_FALSE(m.Allow(Ip("2001:db8:1:2::1"), t0_));
}

TEST_F(SourceRateLimiterTest, ZeroRateIsUnlimited) {
  SourceRateLimiter l(0.0, 1);
  EXPECT_TRUE(l.unlimited());
  EXPECT_EQ(CountAllowed(l, Ip("203.0.113.1"), t0_, 10000), 10000);
  SourceRateLimiter negative(-5.0, 1);
  EXPECT_TRUE(negative.unlimited());
}

TEST_F(SourceRateLimiterTest, BurstZeroMeansOne) {
  SourceRateLimiter l(1.0, 0);
  EXPECT_EQ(CountAllowed(l, Ip("203.0.113.1"), t0_, 10), 1);
}

TEST_F(SourceRateLimiterTest, FractionalRate) {
  SourceRateLimiter l(0.5, 1);  // one every two seconds
  const IpAddress a = Ip("203.0.113.1");
  EXPECT_TRUE(l.Allow(a, t0_));
  EXPECT_FALSE(l.Allow(a, t0_ + seconds(1)));
  EXPECT_TRUE(l.Allow(a, t0_ + seconds(2)));
}

TEST_F(SourceRateLimiterTest, FloodOfDistinctSourcesStaysBoundedAndKeepsLimitingHotSource) {
  SourceRateLimitConfig c;
  c.rate_per_second = 1;
  c.burst = 5;
  c.slots = 4096;
  c.seed = 42;
  SourceRateLimiter l(c);
  EXPECT_EQ(l.capacity(), 4096u);
  const IpAddress hot = Ip("198.51.100.77");
  EXPECT_EQ(CountAllowed(l, hot, t0_, 5), 5);

  // 200k spoofed sources, each sending once, interleaved with the hot source, over 20 s.
  int hot_allowed = 0;
  int spoofed_allowed = 0;
  for (uint32_t i = 0; i < 200'000; ++i) {
    const MonoTime now = t0_ + std::chrono::microseconds(100) * i;
    spoofed_allowed += l.Allow(IpAddress::V4(0x0B000000u + i), now) ? 1 : 0;
    if (i % 100 == 0) hot_allowed += l.Allow(hot, now) ? 1 : 0;
  }
  EXPECT_EQ(l.capacity(), 4096u);
  EXPECT_EQ(spoofed_allowed, 200'000);  // each new source has its own burst
  // 2000 attempts over 20 s at 1/s: about 20 get through, as without the flood.
  EXPECT_GE(hot_allowed, 19);
  EXPECT_LE(hot_allowed, 21);
}

TEST_F(SourceRateLimiterTest, RefilledEntriesAreReusedWithoutCountingEvictions) {
  SourceRateLimitConfig c;
  c.rate_per_second = 100;
  c.burst = 1;
  c.slots = 4;  // a single set of four ways
  c.seed = 1;
  SourceRateLimiter l(c);
  for (uint32_t i = 0; i < 100; ++i) {
    // 100 ms apart: every older entry has refilled, so nothing is lost by replacing it.
    EXPECT_TRUE(l.Allow(IpAddress::V4(0x0B000000u + i), t0_ + milliseconds(100) * i));
  }
  EXPECT_EQ(l.evictions(), 0u);
  for (uint32_t i = 0; i < 100; ++i) l.Allow(IpAddress::V4(0x0C000000u + i), t0_ + seconds(20));
  EXPECT_GT(l.evictions(), 0u);
}

}  // namespace
}  // namespace cv
