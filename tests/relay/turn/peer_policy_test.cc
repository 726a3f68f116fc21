#include "relay/turn/peer_policy.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace cv::turn {
namespace {

using V = PeerVerdict;

IpAddress Ip(const std::string& text) {
  auto a = IpAddress::Parse(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(IpAddress{});
}

IpRange Range(const std::string& text) {
  auto r = IpRange::Parse(text);
  EXPECT_TRUE(r) << text;
  return r.value_or(IpRange{});
}

void Put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

// Every IPv6 spelling of an IPv4 address the policy must see through.
std::vector<std::pair<std::string, IpAddress>> Spellings(const std::string& v4_text) {
  const uint32_t v4 = Ip(v4_text).v4();
  std::vector<std::pair<std::string, IpAddress>> out;
  auto add = [&](const char* name, std::array<uint8_t, 16> b) {
    out.emplace_back(name, IpAddress::V6FromBytes(b.data()));
  };
  std::array<uint8_t, 16> b{};
  b = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  Put32(&b[12], v4);
  add("mapped", b);
  b = {};
  Put32(&b[12], v4);
  add("compatible", b);
  b = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
  Put32(&b[12], v4);
  add("translated", b);
  b = {0x00, 0x64, 0xff, 0x9b};
  Put32(&b[12], v4);
  add("nat64", b);
  b = {0x20, 0x02};
  Put32(&b[2], v4);
  b[15] = 1;
  add("6to4", b);
  b = {0x20, 0x01, 0x00, 0x00, 8, 8, 8, 8, 0x80, 0x00, 0x63, 0xbf};  // server 8.8.8.8
  Put32(&b[12], ~v4);
  add("teredo", b);
  b = {0x26, 0x00, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0x5e, 0xfe};
  Put32(&b[12], v4);
  add("isatap", b);
  b = {0x26, 0x00, 0, 0, 0, 0, 0, 0, 0x02, 0x00, 0x5e, 0xfe};
  Put32(&b[12], v4);
  add("isatap-u", b);
  return out;
}

class PeerPolicyTest : public ::testing::Test {
 protected:
  PeerPolicy policy_;
};

TEST_F(PeerPolicyTest, EveryIpv4DefaultRangeAtBothEdgesAndJustOutside) {
  const std::vector<std::pair<const char*, V>> cases = {
      {"0.0.0.0", V::kDeniedUnspecified},
      {"0.255.255.255", V::kDeniedUnspecified},
      {"1.0.0.0", V::kAllowed},
      {"9.255.255.255", V::kAllowed},
      {"10.0.0.0", V::kDeniedPrivate},
      {"10.255.255.255", V::kDeniedPrivate},
      {"11.0.0.0", V::kAllowed},
      {"100.63.255.255", V::kAllowed},
      {"100.64.0.0", V::kDeniedCgnat},
      {"100.127.255.255", V::kDeniedCgnat},
      {"100.128.0.0", V::kAllowed},
      {"100.100.100.200", V::kDeniedMetadata},
      {"126.255.255.255", V::kAllowed},
      {"127.0.0.0", V::kDeniedLoopback},
      {"127.0.0.1", V::kDeniedLoopback},
      {"127.255.255.255", V::kDeniedLoopback},
      {"128.0.0.0", V::kAllowed},
      {"168.63.129.16", V::kDeniedMetadata},
      {"168.63.129.15", V::kAllowed},
      {"169.253.255.255", V::kAllowed},
      {"169.254.0.0", V::kDeniedLinkLocal},
      {"169.254.169.253", V::kDeniedLinkLocal},
      {"169.254.169.254", V::kDeniedMetadata},
      {"169.254.169.255", V::kDeniedLinkLocal},
      {"169.254.170.2", V::kDeniedMetadata},
      {"169.254.170.23", V::kDeniedMetadata},
      {"169.254.255.255", V::kDeniedLinkLocal},
      {"169.255.0.0", V::kAllowed},
      {"172.15.255.255", V::kAllowed},
      {"172.16.0.0", V::kDeniedPrivate},
      {"172.31.255.255", V::kDeniedPrivate},
      {"172.32.0.0", V::kAllowed},
      {"191.255.255.255", V::kAllowed},
      {"192.0.0.0", V::kDeniedReserved},
      {"192.0.0.192", V::kDeniedMetadata},
      {"192.0.0.255", V::kDeniedReserved},
      {"192.0.1.0", V::kAllowed},
      {"192.0.1.255", V::kAllowed},
      {"192.0.2.0", V::kDeniedDocumentation},
      {"192.0.2.255", V::kDeniedDocumentation},
      {"192.0.3.0", V::kAllowed},
      {"192.88.98.255", V::kAllowed},
      {"192.88.99.0", V::kDeniedReserved},
      {"192.88.99.255", V::kDeniedReserved},
      {"192.88.100.0", V::kAllowed},
      {"192.167.255.255", V::kAllowed},
      {"192.168.0.0", V::kDeniedPrivate},
      {"192.168.255.255", V::kDeniedPrivate},
      {"192.169.0.0", V::kAllowed},
      {"198.17.255.255", V::kAllowed},
      {"198.18.0.0", V::kDeniedBenchmark},
      {"198.19.255.255", V::kDeniedBenchmark},
      {"198.20.0.0", V::kAllowed},
      {"198.51.99.255", V::kAllowed},
      {"198.51.100.0", V::kDeniedDocumentation},
      {"198.51.100.255", V::kDeniedDocumentation},
      {"198.51.101.0", V::kAllowed},
      {"203.0.112.255", V::kAllowed},
      {"203.0.113.0", V::kDeniedDocumentation},
      {"203.0.113.255", V::kDeniedDocumentation},
      {"203.0.114.0", V::kAllowed},
      {"223.255.255.255", V::kAllowed},
      {"224.0.0.0", V::kDeniedMulticast},
      {"239.255.255.255", V::kDeniedMulticast},
      {"240.0.0.0", V::kDeniedReserved},
      {"255.255.255.254", V::kDeniedReserved},
      {"255.255.255.255", V::kDeniedBroadcast},
      {"8.8.8.8", V::kAllowed},
      {"1.1.1.1", V::kAllowed},
  };
  for (const auto& [text, want] : cases) {
    EXPECT_EQ(policy_.Check(Ip(text)), want)
        << text << " got " << PeerVerdictName(policy_.Check(Ip(text)));
  }
}

TEST_F(PeerPolicyTest, EveryIpv6DefaultRangeAtBothEdgesAndJustOutside) {
  const std::vector<std::pair<const char*, V>> cases = {
      {"::", V::kDeniedUnspecified},
      {"::1", V::kDeniedLoopback},
      {"::2", V::kDeniedUnspecified},  // IPv4-compatible 0.0.0.2
      {"ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedReserved},
      {"100::", V::kDeniedReserved},
      {"100::ffff:ffff:ffff:ffff", V::kDeniedReserved},
      {"100:0:0:1::", V::kDeniedReserved},
      {"1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedReserved},
      {"2000::", V::kAllowed},
      {"2001::", V::kDeniedBroadcast},  // Teredo: client ~00000000 = 255.255.255.255
      {"2001:1::1", V::kAllowed},
      {"2001:1::2", V::kAllowed},
      {"2001:1::3", V::kAllowed},
      {"2001:1::4", V::kDeniedReserved},
      {"2001:1::", V::kDeniedReserved},
      {"2001:2::", V::kDeniedBenchmark},
      {"2001:2:0:ffff:ffff:ffff:ffff:ffff", V::kDeniedBenchmark},
      {"2001:2:1::", V::kDeniedReserved},
      {"2001:3::", V::kAllowed},
      {"2001:3:ffff:ffff:ffff:ffff:ffff:ffff", V::kAllowed},
      {"2001:4:112::1", V::kAllowed},
      {"2001:4:113::1", V::kDeniedReserved},
      {"2001:f:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedReserved},
      {"2001:10::", V::kDeniedReserved},
      {"2001:1f:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedReserved},
      {"2001:20::", V::kDeniedReserved},
      {"2001:2f:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedReserved},
      {"2001:30::", V::kAllowed},
      {"2001:3f:ffff:ffff:ffff:ffff:ffff:ffff", V::kAllowed},
      {"2001:40::", V::kDeniedReserved},
      {"2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedReserved},
      {"2001:200::", V::kAllowed},
      {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", V::kAllowed},
      {"2001:db8::", V::kDeniedDocumentation},
      {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedDocumentation},
      {"2001:db9::", V::kAllowed},
      {"2001:4860:4860::8888", V::kAllowed},
      {"2606:4700:4700::1111", V::kAllowed},
      {"3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", V::kAllowed},
      {"3fff::", V::kDeniedDocumentation},
      {"3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedDocumentation},
      {"3fff:1000::", V::kAllowed},
      {"3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", V::kAllowed},
      {"4000::", V::kDeniedReserved},
      {"5f00::1", V::kDeniedReserved},  // SRv6 SIDs
      {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedReserved},
      {"fc00::", V::kDeniedPrivate},
      {"fd00:ec2::253", V::kDeniedPrivate},
      {"fd00:ec2::254", V::kDeniedMetadata},
      {"fd00:ec2::23", V::kDeniedMetadata},
      {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedPrivate},
      {"fe00::", V::kDeniedReserved},
      {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedReserved},
      {"fe80::", V::kDeniedLinkLocal},
      {"fe80::1", V::kDeniedLinkLocal},
      {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedLinkLocal},
      {"fec0::", V::kDeniedPrivate},
      {"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedPrivate},
      {"ff00::", V::kDeniedMulticast},
      {"ff02::1", V::kDeniedMulticast},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedMulticast},
      // Transition prefixes: just outside them is ordinary (reserved or global) space.
      {"64:ff9a:ffff:ffff:ffff:ffff:ffff:ffff", V::kDeniedReserved},
      {"64:ff9b::1:0:0", V::kDeniedReserved},  // in 64:ff9b::/32 but neither NAT64 prefix
      {"64:ff9b:2::808:808", V::kDeniedReserved},
      {"2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", V::kAllowed},
      {"2003::1", V::kAllowed},
  };
  for (const auto& [text, want] : cases) {
    EXPECT_EQ(policy_.Check(Ip(text)), want)
        << text << " got " << PeerVerdictName(policy_.Check(Ip(text)));
  }
}

TEST_F(PeerPolicyTest, EveryEmbeddedFormOfLoopbackIsLoopback) {
  for (const auto& [form, a] : Spellings("127.0.0.1")) {
    EXPECT_EQ(policy_.Check(a), V::kDeniedLoopback) << form << " " << a.ToString();
  }
  EXPECT_EQ(policy_.Check(Ip("64:ff9b:1::7f00:1")), V::kDeniedLoopback);
}

TEST_F(PeerPolicyTest, EveryEmbeddedFormOfPrivateIsPrivate) {
  for (const auto& [form, a] : Spellings("10.0.0.1")) {
    EXPECT_EQ(policy_.Check(a), V::kDeniedPrivate) << form << " " << a.ToString();
  }
  EXPECT_EQ(policy_.Check(Ip("64:ff9b:1::a00:1")), V::kDeniedPrivate);
}

TEST_F(PeerPolicyTest, EveryEmbeddedFormOfMetadataIsMetadata) {
  for (const auto& [form, a] : Spellings("169.254.169.254")) {
    EXPECT_EQ(policy_.Check(a), V::kDeniedMetadata) << form << " " << a.ToString();
  }
  EXPECT_EQ(policy_.Check(Ip("64:ff9b:1::a9fe:a9fe")), V::kDeniedMetadata);
}

TEST_F(PeerPolicyTest, EveryEmbeddedFormOfPublicAddressIsAllowed) {
  for (const auto& [form, a] : Spellings("8.8.8.8")) {
    EXPECT_EQ(policy_.Check(a), V::kAllowed) << form << " " << a.ToString();
  }
  // The local-use NAT64 prefix is not globally reachable and its layout is the translator's.
  EXPECT_EQ(policy_.Check(Ip("64:ff9b:1::808:808")), V::kDeniedReserved);
}

TEST_F(PeerPolicyTest, TextSpellingsAreSeenThrough) {
  EXPECT_EQ(policy_.Check(Ip("::ffff:127.0.0.1")), V::kDeniedLoopback);
  EXPECT_EQ(policy_.Check(Ip("::ffff:7f00:1")), V::kDeniedLoopback);
  EXPECT_EQ(policy_.Check(Ip("::127.0.0.1")), V::kDeniedLoopback);
  EXPECT_EQ(policy_.Check(Ip("::ffff:0:127.0.0.1")), V::kDeniedLoopback);
  EXPECT_EQ(policy_.Check(Ip("64:ff9b::127.0.0.1")), V::kDeniedLoopback);
  EXPECT_EQ(policy_.Check(Ip("64:ff9b::10.1.2.3")), V::kDeniedPrivate);
  EXPECT_EQ(policy_.Check(Ip("2002:7f00:1::")), V::kDeniedLoopback);
  EXPECT_EQ(policy_.Check(Ip("2002:a9fe:a9fe::1")), V::kDeniedMetadata);
  EXPECT_EQ(policy_.Check(Ip("2002:c0a8:101:1::1")), V::kDeniedPrivate);
  EXPECT_EQ(policy_.Check(Ip("::ffff:0.0.0.0")), V::kDeniedUnspecified);
  EXPECT_EQ(policy_.Check(Ip("::ffff:255.255.255.255")), V::kDeniedBroadcast);
  EXPECT_EQ(policy_.Check(Ip("::ffff:224.0.0.1")), V::kDeniedMulticast);
  EXPECT_EQ(policy_.Check(Ip("fe80::5efe:10.0.0.1")), V::kDeniedPrivate);
  // ISATAP with a public IPv4 inside link-local IPv6 space is still link-local.
  EXPECT_EQ(policy_.Check(Ip("fe80::200:5efe:8.8.8.8")), V::kDeniedLinkLocal);
  // RFC 4380 §4 example: server 65.54.227.120, client 192.0.2.45 (documentation).
  EXPECT_EQ(policy_.Check(Ip("2001:0:4136:e378:8000:63bf:3fff:fdd2")), V::kDeniedDocumentation);
  // Teredo whose server (not client) is private is denied too.
  EXPECT_EQ(policy_.Check(Ip("2001:0:a00:1:8000:63bf:f7f7:f7f7")), V::kDeniedPrivate);
}

TEST_F(PeerPolicyTest, EmbeddedIpv4ExtractsTheOperativeAddress) {
  EXPECT_EQ(EmbeddedIpv4(Ip("::ffff:1.2.3.4")), Ip("1.2.3.4"));
  EXPECT_EQ(EmbeddedIpv4(Ip("2002:102:304::")), Ip("1.2.3.4"));
  EXPECT_EQ(EmbeddedIpv4(Ip("2001:0:4136:e378:8000:63bf:3fff:fdd2")), Ip("192.0.2.45"));
  EXPECT_EQ(EmbeddedIpv4(Ip("64:ff9b::1.2.3.4")), Ip("1.2.3.4"));
  EXPECT_EQ(EmbeddedIpv4(Ip("2600::5efe:1.2.3.4")), Ip("1.2.3.4"));
  EXPECT_FALSE(EmbeddedIpv4(Ip("::")));
  EXPECT_FALSE(EmbeddedIpv4(Ip("::1")));
  EXPECT_FALSE(EmbeddedIpv4(Ip("2606:4700::1")));
  EXPECT_FALSE(EmbeddedIpv4(Ip("1.2.3.4")));
}

TEST_F(PeerPolicyTest, DeniedPeerIpDeniesEverySpelling) {
  PeerPolicyConfig c;
  c.denied = {Range("8.8.8.0/24"), Range("2606:4700::/32")};
  PeerPolicy p(c);
  EXPECT_EQ(p.Check(Ip("8.8.8.8")), V::kDeniedConfig);
  for (const auto& [form, a] : Spellings("8.8.8.8")) {
    EXPECT_EQ(p.Check(a), V::kDeniedConfig) << form;
  }
  EXPECT_EQ(p.Check(Ip("8.8.4.4")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("8.8.7.255")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("8.8.9.0")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("2606:4700::1111")), V::kDeniedConfig);
  EXPECT_EQ(p.Check(Ip("2606:4701::1")), V::kAllowed);
  // Built-in reasons keep their more specific label.
  EXPECT_EQ(p.Check(Ip("10.0.0.1")), V::kDeniedPrivate);
}

TEST_F(PeerPolicyTest, MappedFormConfigRangesMeanIpv4) {
  PeerPolicyConfig c;
  c.denied = {Range("::ffff:8.8.8.0/120")};
  c.allowed = {Range("::ffff:10.9.0.0-::ffff:10.9.255.255")};
  PeerPolicy p(c);
  EXPECT_EQ(p.Check(Ip("8.8.8.8")), V::kDeniedConfig);
  EXPECT_EQ(p.Check(Ip("2002:808:808::1")), V::kDeniedConfig);
  EXPECT_EQ(p.Check(Ip("10.9.1.1")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("10.8.1.1")), V::kDeniedPrivate);
}

TEST_F(PeerPolicyTest, DeniedIpv6SpellingOfPublicAddressIsDenied) {
  PeerPolicyConfig c;
  c.denied = {Range("2002::/16"), Range("2001::/32")};
  PeerPolicy p(c);
  EXPECT_EQ(p.Check(Ip("2002:808:808::1")), V::kDeniedConfig);
  EXPECT_EQ(p.Check(Ip("2001:0:808:808:8000:63bf:f7f7:f7f7")), V::kDeniedConfig);
  EXPECT_EQ(p.Check(Ip("8.8.8.8")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("::ffff:8.8.8.8")), V::kAllowed);
}

TEST_F(PeerPolicyTest, AllowedPeerIpWinsOverDefaultsAndDenied) {
  PeerPolicyConfig c;
  c.denied = {Range("10.0.0.0/8"), Range("8.8.8.8")};
  c.allowed = {Range("10.0.0.5"), Range("8.8.8.8"), Range("192.168.1.0/24"),
               Range("fd12:3456::/32")};
  PeerPolicy p(c);
  EXPECT_EQ(p.Check(Ip("10.0.0.5")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("10.0.0.4")), V::kDeniedPrivate);
  EXPECT_EQ(p.Check(Ip("10.0.0.6")), V::kDeniedPrivate);
  EXPECT_EQ(p.Check(Ip("8.8.8.8")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("192.168.1.77")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("192.168.2.77")), V::kDeniedPrivate);
  EXPECT_EQ(p.Check(Ip("fd12:3456::1")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("fd12:3457::1")), V::kDeniedPrivate);
  // Allowing an IPv4 address allows its IPv6 spellings.
  for (const auto& [form, a] : Spellings("10.0.0.5")) {
    EXPECT_EQ(p.Check(a), V::kAllowed) << form;
  }
}

TEST_F(PeerPolicyTest, AllowingATransitionPrefixDoesNotLiftTheEmbeddedAddress) {
  PeerPolicyConfig c;
  c.allowed = {Range("2002::/16"), Range("64:ff9b:1::/48")};
  PeerPolicy p(c);
  EXPECT_EQ(p.Check(Ip("2002:7f00:1::")), V::kDeniedLoopback);
  EXPECT_EQ(p.Check(Ip("2002:808:808::")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("64:ff9b:1::808:808")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("64:ff9b:1::a00:1")), V::kDeniedPrivate);
}

TEST_F(PeerPolicyTest, RelayOwnAddressesAreDeniedInEverySpelling) {
  PeerPolicyConfig c;
  c.relay_addresses = {Ip("52.1.2.3"), Ip("2600:1f18::1"), Ip("::ffff:52.9.9.9")};
  PeerPolicy p(c);
  EXPECT_EQ(p.Check(Ip("52.1.2.3")), V::kDeniedSelf);
  for (const auto& [form, a] : Spellings("52.1.2.3")) {
    EXPECT_EQ(p.Check(a), V::kDeniedSelf) << form;
  }
  EXPECT_EQ(p.Check(Ip("52.9.9.9")), V::kDeniedSelf);
  EXPECT_EQ(p.Check(Ip("52.1.2.4")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("2600:1f18::1")), V::kDeniedSelf);
  EXPECT_EQ(p.Check(Ip("2600:1f18::2")), V::kAllowed);
}

TEST_F(PeerPolicyTest, AllowedPeerIpLiftsOwnAddress) {
  PeerPolicyConfig c;
  c.relay_addresses = {Ip("52.1.2.3"), Ip("127.0.0.1")};
  c.allowed = {Range("52.1.2.3")};
  c.allow_loopback = true;
  PeerPolicy p(c);
  EXPECT_EQ(p.Check(Ip("52.1.2.3")), V::kAllowed);
  // allow_loopback lifts loopback, not the relay's own loopback address.
  EXPECT_EQ(p.Check(Ip("127.0.0.1")), V::kDeniedSelf);
  EXPECT_EQ(p.Check(Ip("127.0.0.2")), V::kAllowed);
}

TEST_F(PeerPolicyTest, AllowLoopbackLiftsOnlyLoopback) {
  PeerPolicyConfig c;
  c.allow_loopback = true;
  PeerPolicy p(c);
  EXPECT_EQ(p.Check(Ip("127.0.0.1")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("127.255.255.254")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("::1")), V::kAllowed);
  for (const auto& [form, a] : Spellings("127.0.0.1")) {
    EXPECT_EQ(p.Check(a), V::kAllowed) << form;
  }
  EXPECT_EQ(p.Check(Ip("0.0.0.0")), V::kDeniedUnspecified);
  EXPECT_EQ(p.Check(Ip("::")), V::kDeniedUnspecified);
  EXPECT_EQ(p.Check(Ip("10.0.0.1")), V::kDeniedPrivate);
  EXPECT_EQ(p.Check(Ip("169.254.169.254")), V::kDeniedMetadata);
  EXPECT_EQ(p.Check(Ip("fe80::1")), V::kDeniedLinkLocal);
  EXPECT_EQ(p.Check(Ip("224.0.0.1")), V::kDeniedMulticast);
}

TEST_F(PeerPolicyTest, DeniedPeerIpStillAppliesWithAllowLoopback) {
  PeerPolicyConfig c;
  c.allow_loopback = true;
  c.denied = {Range("127.0.0.53")};
  PeerPolicy p(c);
  EXPECT_EQ(p.Check(Ip("127.0.0.53")), V::kDeniedConfig);
  EXPECT_EQ(p.Check(Ip("127.0.0.1")), V::kAllowed);
}

TEST_F(PeerPolicyTest, MulticastIsDeniedUnlessAllowed) {
  EXPECT_EQ(policy_.Check(Ip("224.0.0.251")), V::kDeniedMulticast);
  EXPECT_EQ(policy_.Check(Ip("ff02::fb")), V::kDeniedMulticast);
  PeerPolicyConfig c;
  c.allow_multicast = true;
  PeerPolicy p(c);
  EXPECT_EQ(p.Check(Ip("224.0.0.251")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("239.255.255.255")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("ff02::fb")), V::kAllowed);
  EXPECT_EQ(p.Check(Ip("255.255.255.255")), V::kDeniedBroadcast);
  EXPECT_EQ(p.Check(Ip("240.0.0.1")), V::kDeniedReserved);
  EXPECT_EQ(p.Check(Ip("127.0.0.1")), V::kDeniedLoopback);
}

TEST_F(PeerPolicyTest, VerdictNamesAreDistinctLabels) {
  std::set<std::string> names;
  for (size_t i = 0; i < kPeerVerdictCount; ++i) {
    std::string name = PeerVerdictName(static_cast<V>(i));
    EXPECT_NE(name, "unknown");
    EXPECT_EQ(name.find(' '), std::string::npos);
    names.insert(name);
  }
  EXPECT_EQ(names.size(), kPeerVerdictCount);
  EXPECT_STREQ(PeerVerdictName(V::kAllowed), "allowed");
  EXPECT_STREQ(PeerVerdictName(V::kDeniedMetadata), "metadata");
  EXPECT_TRUE(policy_.Allows(Ip("8.8.8.8")));
  EXPECT_FALSE(policy_.Allows(Ip("127.0.0.1")));
}

}  // namespace
}  // namespace cv::turn
