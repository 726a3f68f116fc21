#include "relay/common/ip_range.h"

#include <gtest/gtest.h>

namespace cv {
namespace {

IpAddress Ip(const char* text) {
  auto a = IpAddress::Parse(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(IpAddress{});
}

TEST(IpRangeTest, ParsesSingleAddress) {
  auto r = IpRange::Parse("10.0.0.1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, Ip("10.0.0.1"));
  EXPECT_EQ(r->last, Ip("10.0.0.1"));
  EXPECT_TRUE(r->Contains(Ip("10.0.0.1")));
  EXPECT_FALSE(r->Contains(Ip("10.0.0.0")));
  EXPECT_FALSE(r->Contains(Ip("10.0.0.2")));
  EXPECT_EQ(r->ToString(), "10.0.0.1");
}

TEST(IpRangeTest, ParsesDashRangeInclusive) {
  auto r = IpRange::Parse("10.0.0.0-10.255.255.255");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->Contains(Ip("10.0.0.0")));
  EXPECT_TRUE(r->Contains(Ip("10.255.255.255")));
  EXPECT_FALSE(r->Contains(Ip("9.255.255.255")));
  EXPECT_FALSE(r->Contains(Ip("11.0.0.0")));
  EXPECT_EQ(r->ToString(), "10.0.0.0/8");

  auto odd = IpRange::Parse("192.168.1.10-192.168.1.20");
  ASSERT_TRUE(odd);
  EXPECT_EQ(odd->ToString(), "192.168.1.10-192.168.1.20");
}

TEST(IpRangeTest, ParsesCidrForBothFamilies) {
  auto v4 = IpRange::Parse("100.64.0.0/10");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->first, Ip("100.64.0.0"));
  EXPECT_EQ(v4->last, Ip("100.127.255.255"));
  EXPECT_FALSE(v4->Contains(Ip("100.128.0.0")));
  EXPECT_EQ(v4->ToString(), "100.64.0.0/10");

  auto v6 = IpRange::Parse("fe80::/10");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->first, Ip("fe80::"));
  EXPECT_EQ(v6->last, Ip("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
  EXPECT_TRUE(v6->Contains(Ip("fe80::1")));
  EXPECT_FALSE(v6->Contains(Ip("fec0::")));
  EXPECT_EQ(v6->ToString(), "fe80::/10");
}

TEST(IpRangeTest, CidrIgnoresHostBits) {
  auto r = IpRange::Parse("10.1.2.3/8");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->first, Ip("10.0.0.0"));
  EXPECT_EQ(r->last, Ip("10.255.255.255"));
}

TEST(IpRangeTest, CidrEdgeLengths) {
  auto all4 = IpRange::Parse("0.0.0.0/0");
  ASSERT_TRUE(all4);
  EXPECT_TRUE(all4->Contains(Ip("255.255.255.255")));
  EXPECT_FALSE(all4->Contains(Ip("::")));  // never across families
  EXPECT_EQ(all4->ToString(), "0.0.0.0/0");
  auto host = IpRange::Parse("::1/128");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->first, host->last);
  EXPECT_EQ(host->ToString(), "::1");
  auto all6 = IpRange::Parse("::/0");
  ASSERT_TRUE(all6);
  EXPECT_TRUE(all6->Contains(Ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  EXPECT_FALSE(all6->Contains(Ip("1.2.3.4")));
}

TEST(IpRangeTest, RejectsMalformedText) {
  for (const char* bad : {"",
                          "-",
                          "/",
                          "10.0.0.0/",
                          "10.0.0.0/33",
                          "::/129",
                          "10.0.0.0/-1",
                          "10.0.0.0/+8",
                          "10.0.0.0/0008",
                          "10.0.0.0/8/8",
                          "10.0.0.0-",
                          "-10.0.0.0",
                          "10.0.0.2-10.0.0.1",
                          "10.0.0.0-::1",
                          "::1-10.0.0.0",
                          "10.0.0.0 - 10.0.0.5",
                          " 10.0.0.1",
                          "10.0.0.1 ",
                          "fe80::1%eth0",
                          "10.0.0.0-10.0.0.5-10.0.0.9",
                          "example.com",
                          "1.2.3"}) {
    EXPECT_FALSE(IpRange::Parse(bad)) << bad;
  }
}

TEST(IpRangeTest, FamiliesNeverMatchEachOther) {
  auto mapped = IpRange::Parse("::ffff:10.0.0.0/104");
  ASSERT_TRUE(mapped);
  EXPECT_TRUE(mapped->Contains(Ip("::ffff:10.1.2.3")));
  // An IPv4 address is a different family; PeerPolicy normalises before comparing.
  EXPECT_FALSE(mapped->Contains(Ip("10.1.2.3")));
}

TEST(IpRangeTest, SingleHelperAndRoundTrip) {
  IpRange r = IpRange::Single(Ip("2001:db8::5"));
  EXPECT_TRUE(r.Contains(Ip("2001:db8::5")));
  EXPECT_FALSE(r.Contains(Ip("2001:db8::6")));
  for (const char* text : {"10.0.0.0/8", "1.2.3.4", "1.2.3.4-1.2.3.6", "2001:db8::/32",
                           "2001:db8::1-2001:db8::3", "0.0.0.0/0", "::/0"}) {
    auto parsed = IpRange::Parse(text);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(parsed->ToString(), text);
    auto again = IpRange::Parse(parsed->ToString());
    ASSERT_TRUE(again);
    EXPECT_EQ(again->first, parsed->first);
    EXPECT_EQ(again->last, parsed->last);
  }
}

}  // namespace
}  // namespace cv
