#include "relay/net/connection_limit.h"

#include <gtest/gtest.h>

namespace cv::net {
namespace {

IpAddress Ip(const char* text) { return *IpAddress::Parse(text); }

TEST(ConnectionLimitTest, EachAddressHoldsAtMostItsCapAndReleasingFreesASlot) {
  ConnectionLimit limit(2);
  EXPECT_TRUE(limit.TryAcquire(Ip("192.0.2.1")));
  EXPECT_TRUE(limit.TryAcquire(Ip("192.0.2.1")));
  EXPECT_FALSE(limit.TryAcquire(Ip("192.0.2.1")));
  EXPECT_TRUE(limit.TryAcquire(Ip("192.0.2.2"))) << "another address has its own slots";
  EXPECT_EQ(limit.held(Ip("192.0.2.1")), 2u);
  limit.Release(Ip("192.0.2.1"));
  EXPECT_TRUE(limit.TryAcquire(Ip("192.0.2.1")));
}

TEST(ConnectionLimitTest, ReleasingTheLastSlotForgetsTheAddressAndStrayReleasesAreIgnored) {
  ConnectionLimit limit(1);
  ASSERT_TRUE(limit.TryAcquire(Ip("2001:db8::1")));
  limit.Release(Ip("2001:db8::1"));
  limit.Release(Ip("2001:db8::1"));
  EXPECT_EQ(limit.held(Ip("2001:db8::1")), 0u);
  EXPECT_TRUE(limit.TryAcquire(Ip("2001:db8::1")));
  EXPECT_FALSE(limit.TryAcquire(Ip("2001:db8::1")));
}

TEST(ConnectionLimitTest, ZeroMeansNoCap) {
  ConnectionLimit limit(0);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(limit.TryAcquire(Ip("192.0.2.9")));
  EXPECT_EQ(limit.held(Ip("192.0.2.9")), 1000u);
}

}  // namespace
}  // namespace cv::net
