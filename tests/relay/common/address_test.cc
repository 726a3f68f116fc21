#include "relay/common/address.h"

#include <gtest/gtest.h>

#include "relay/common/log.h"

namespace cv {
namespace {

TEST(IpAddressTest, ParsesAndPrintsBothFamilies) {
  auto v4 = IpAddress::Parse("192.0.2.7");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->is_v4());
  EXPECT_EQ(v4->v4(), 0xC0000207u);
  EXPECT_EQ(v4->ToString(), "192.0.2.7");
  auto v6 = IpAddress::Parse("2001:db8::1");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->is_v6());
  EXPECT_EQ(v6->ToString(), "2001:db8::1");
  EXPECT_FALSE(IpAddress::Parse("300.1.1.1"));
  EXPECT_FALSE(IpAddress::Parse(""));
  EXPECT_FALSE(IpAddress::Parse("1.2.3.4 "));
}

TEST(SocketAddressTest, ParsesPortsAndBrackets) {
  auto a = SocketAddress::Parse("10.1.2.3:3478");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, 3478);
  auto b = SocketAddress::Parse("[::1]:5");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->ip.is_v6());
  EXPECT_EQ(b->ToString(), "[::1]:5");
  auto c = SocketAddress::Parse("::1", 9);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->port, 9);
  EXPECT_FALSE(SocketAddress::Parse("1.2.3.4:70000"));
  EXPECT_FALSE(SocketAddress::Parse("1.2.3.4:"));
  EXPECT_FALSE(SocketAddress::Parse("[::1"));
}

TEST(SocketAddressTest, RoundTripsThroughSockaddr) {
  for (const char* text : {"203.0.113.9:65535", "[2001:db8::42]:1"}) {
    auto a = SocketAddress::Parse(text);
    ASSERT_TRUE(a);
    sockaddr_storage ss;
    socklen_t len = a->ToSockaddr(&ss);
    auto back = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, *a);
    EXPECT_EQ(SocketAddressHash{}(*back), SocketAddressHash{}(*a));
  }
}

TEST(LogQuoteTest, EscapesControlBytesQuotesAndFormatDirectives) {
  EXPECT_EQ(log::Quote("alice"), "\"alice\"");
  EXPECT_EQ(log::Quote(std::string_view("a\n\"%s\0", 6)), "\"a\\x0a\\x22\\x25s\\x00\"");
  std::string long_name(500, 'x');
  std::string q = log::Quote(long_name, 10);
  EXPECT_EQ(q, "\"xxxxxxxxxx\"...(+490)");
}

}  // namespace
}  // namespace cv
