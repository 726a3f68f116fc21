#include "relay/turn/peer_policy.h"

#include <cstring>

namespace cv::turn {
namespace {

using V6Bytes = std::array<uint8_t, 16>;

// ---- Built-in ranges (IANA IPv4 and IPv6 Special-Purpose Address Registries) -------------------

struct V4Default {
  uint32_t first;
  uint32_t last;
  PeerVerdict verdict;
};

constexpr V4Default Cidr4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, int len, PeerVerdict v) {
  const uint32_t addr = (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
  const uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  return {addr & mask, (addr & mask) | ~mask, v};
}

// First match wins, so single metadata addresses come before the ranges that hold them.
constexpr V4Default kV4Defaults[] = {
    Cidr4(0, 0, 0, 0, 8, PeerVerdict::kDeniedUnspecified),  // "this network"
    Cidr4(10, 0, 0, 0, 8, PeerVerdict::kDeniedPrivate),
    Cidr4(100, 100, 100, 200, 32, PeerVerdict::kDeniedMetadata),  // Alibaba Cloud
    Cidr4(100, 64, 0, 0, 10, PeerVerdict::kDeniedCgnat),
    Cidr4(127, 0, 0, 0, 8, PeerVerdict::kDeniedLoopback),
    Cidr4(168, 63, 129, 16, 32, PeerVerdict::kDeniedMetadata),    // Azure WireServer
    Cidr4(169, 254, 169, 254, 32, PeerVerdict::kDeniedMetadata),  // AWS, GCP, Azure, OpenStack…
    Cidr4(169, 254, 170, 2, 32, PeerVerdict::kDeniedMetadata),    // AWS ECS task credentials
    Cidr4(169, 254, 170, 23, 32, PeerVerdict::kDeniedMetadata),   // AWS EKS Pod Identity
    Cidr4(169, 254, 0, 0, 16, PeerVerdict::kDeniedLinkLocal),
    Cidr4(172, 16, 0, 0, 12, PeerVerdict::kDeniedPrivate),
    Cidr4(192, 0, 0, 192, 32, PeerVerdict::kDeniedMetadata),  // Oracle Cloud (legacy)
    Cidr4(192, 0, 0, 0, 24, PeerVerdict::kDeniedReserved),    // IETF protocol assignments
    Cidr4(192, 0, 2, 0, 24, PeerVerdict::kDeniedDocumentation),
    Cidr4(192, 88, 99, 0, 24, PeerVerdict::kDeniedReserved),  // 6to4 relay anycast (RFC 7526)
    Cidr4(192, 168, 0, 0, 16, PeerVerdict::kDeniedPrivate),
    Cidr4(198, 18, 0, 0, 15, PeerVerdict::kDeniedBenchmark),
    Cidr4(198, 51, 100, 0, 24, PeerVerdict::kDeniedDocumentation),
    Cidr4(203, 0, 113, 0, 24, PeerVerdict::kDeniedDocumentation),
    Cidr4(224, 0, 0, 0, 4, PeerVerdict::kDeniedMulticast),
    Cidr4(255, 255, 255, 255, 32, PeerVerdict::kDeniedBroadcast),
    Cidr4(240, 0, 0, 0, 4, PeerVerdict::kDeniedReserved),
};

struct V6Default {
  V6Bytes prefix;
  int len;
  PeerVerdict verdict;
};

constexpr V6Default Cidr6(std::array<uint16_t, 8> groups, int len, PeerVerdict v) {
  V6Default d{{}, len, v};
  for (size_t i = 0; i < 8; ++i) {
    d.prefix[2 * i] = static_cast<uint8_t>(groups[i] >> 8);
    d.prefix[2 * i + 1] = static_cast<uint8_t>(groups[i] & 0xff);
  }
  return d;
}

// For plain IPv6 addresses (embedded forms are recognised before this table). First match wins;
// kAllowed entries are globally reachable exceptions inside a denied block.
constexpr V6Default kV6Defaults[] = {
    Cidr6({0, 0, 0, 0, 0, 0, 0, 0}, 128, PeerVerdict::kDeniedUnspecified),
    Cidr6({0, 0, 0, 0, 0, 0, 0, 1}, 128, PeerVerdict::kDeniedLoopback),
    Cidr6({0x100, 0, 0, 0, 0, 0, 0, 0}, 64, PeerVerdict::kDeniedReserved),  // discard (RFC 6666)
    Cidr6({0x100, 0, 0, 1, 0, 0, 0, 0}, 64, PeerVerdict::kDeniedReserved),  // dummy (RFC 9780)
    Cidr6({0x2001, 1, 0, 0, 0, 0, 0, 1}, 128, PeerVerdict::kAllowed),       // PCP anycast
    Cidr6({0x2001, 1, 0, 0, 0, 0, 0, 2}, 128, PeerVerdict::kAllowed),       // TURN anycast
    Cidr6({0x2001, 1, 0, 0, 0, 0, 0, 3}, 128, PeerVerdict::kAllowed),       // DNS-SD SRP anycast
    Cidr6({0x2001, 2, 0, 0, 0, 0, 0, 0}, 48, PeerVerdict::kDeniedBenchmark),
    Cidr6({0x2001, 3, 0, 0, 0, 0, 0, 0}, 32, PeerVerdict::kAllowed),            // AMT
    Cidr6({0x2001, 4, 0x112, 0, 0, 0, 0, 0}, 48, PeerVerdict::kAllowed),        // AS112-v6
    Cidr6({0x2001, 0x10, 0, 0, 0, 0, 0, 0}, 28, PeerVerdict::kDeniedReserved),  // ORCHID
    Cidr6({0x2001, 0x20, 0, 0, 0, 0, 0, 0}, 28, PeerVerdict::kDeniedReserved),  // ORCHIDv2
    Cidr6({0x2001, 0x30, 0, 0, 0, 0, 0, 0}, 28, PeerVerdict::kAllowed),         // Drone Remote ID
    Cidr6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 0}, 32, PeerVerdict::kDeniedDocumentation),
    Cidr6({0x2001, 0, 0, 0, 0, 0, 0, 0}, 23, PeerVerdict::kDeniedReserved),  // IETF assignments
    Cidr6({0x3fff, 0, 0, 0, 0, 0, 0, 0}, 20, PeerVerdict::kDeniedDocumentation),
    Cidr6({0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254}, 128, PeerVerdict::kDeniedMetadata),  // AWS IMDS
    Cidr6({0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23}, 128, PeerVerdict::kDeniedMetadata),   // EKS
    Cidr6({0xfc00, 0, 0, 0, 0, 0, 0, 0}, 7, PeerVerdict::kDeniedPrivate),
    Cidr6({0xfe80, 0, 0, 0, 0, 0, 0, 0}, 10, PeerVerdict::kDeniedLinkLocal),
    Cidr6({0xfec0, 0, 0, 0, 0, 0, 0, 0}, 10, PeerVerdict::kDeniedPrivate),  // site-local
    Cidr6({0xff00, 0, 0, 0, 0, 0, 0, 0}, 8, PeerVerdict::kDeniedMulticast),
    Cidr6({0x2000, 0, 0, 0, 0, 0, 0, 0}, 3, PeerVerdict::kAllowed),    // global unicast
    Cidr6({0, 0, 0, 0, 0, 0, 0, 0}, 0, PeerVerdict::kDeniedReserved),  // the rest: IETF-reserved
};

bool PrefixMatches(const V6Bytes& a, const V6Bytes& prefix, int len) {
  const int whole = len / 8;
  if (std::memcmp(a.data(), prefix.data(), static_cast<size_t>(whole)) != 0) return false;
  if (len % 8 == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff00u >> (len % 8));
  return (a[whole] & mask) == (prefix[whole] & mask);
}

PeerVerdict DefaultV4(uint32_t a) {
  for (const V4Default& d : kV4Defaults) {
    if (a >= d.first && a <= d.last) return d.verdict;
  }
  return PeerVerdict::kAllowed;
}

PeerVerdict DefaultV6(const V6Bytes& a) {
  for (const V6Default& d : kV6Defaults) {
    if (PrefixMatches(a, d.prefix, d.len)) return d.verdict;
  }
  return PeerVerdict::kAllowed;
}

// ---- Embedded IPv4 ------------------------------------------------------------------------------

enum class Form : uint8_t {
  kNative,
  kMapped,
  kCompatible,
  kTranslated,
  kNat64,
  kNat64Local,
  kSixToFour,
  kTeredo,
  kIsatap,
};

struct Embedded {
  Form form = Form::kNative;
  uint32_t v4[2] = {0, 0};
  int count = 0;
};

bool AllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

uint32_t Load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

Embedded Classify(const V6Bytes& b) {
  Embedded e;
  auto one = [&e](Form form, uint32_t v4) {
    e.form = form;
    e.v4[0] = v4;
    e.count = 1;
    return e;
  };
  const uint8_t* p = b.data();
  // ::ffff:a.b.c.d
  if (AllZero(p, 10) && p[10] == 0xff && p[11] == 0xff) return one(Form::kMapped, Load32(p + 12));
  // ::ffff:0:a.b.c.d
  if (AllZero(p, 8) && p[8] == 0xff && p[9] == 0xff && p[10] == 0 && p[11] == 0) {
    return one(Form::kTranslated, Load32(p + 12));
  }
  // ::a.b.c.d, but not :: nor ::1
  if (AllZero(p, 12)) {
    if (Load32(p + 12) <= 1) return e;
    return one(Form::kCompatible, Load32(p + 12));
  }
  // 64:ff9b::/96 and 64:ff9b:1::/48
  if (p[0] == 0x00 && p[1] == 0x64 && p[2] == 0xff && p[3] == 0x9b) {
    if (AllZero(p + 4, 8)) return one(Form::kNat64, Load32(p + 12));
    if (p[4] == 0x00 && p[5] == 0x01) return one(Form::kNat64Local, Load32(p + 12));
    return e;
  }
  // 2002::/16
  if (p[0] == 0x20 && p[1] == 0x02) return one(Form::kSixToFour, Load32(p + 2));
  // 2001:0::/32: server address in bits 32-63, client address inverted in the last 32 bits.
  if (p[0] == 0x20 && p[1] == 0x01 && p[2] == 0x00 && p[3] == 0x00) {
    e.form = Form::kTeredo;
    e.v4[0] = ~Load32(p + 12);
    e.v4[1] = Load32(p + 4);
    e.count = 2;
    return e;
  }
  // ISATAP interface identifier 0000:5efe or 0200:5efe (u bit; the g bit is ignored too).
  if ((p[8] & 0xfc) == 0x00 && p[9] == 0x00 && p[10] == 0x5e && p[11] == 0xfe) {
    return one(Form::kIsatap, Load32(p + 12));
  }
  return e;
}

V6Bytes Bytes6(const IpAddress& a) {
  V6Bytes b;
  std::memcpy(b.data(), a.data(), 16);
  return b;
}

bool IsMapped(const IpAddress& a) {
  return a.is_v6() && AllZero(a.data(), 10) && a.data()[10] == 0xff && a.data()[11] == 0xff;
}

}  // namespace

const char* PeerVerdictName(PeerVerdict v) {
  switch (v) {
    case PeerVerdict::kAllowed:
      return "allowed";
    case PeerVerdict::kDeniedLoopback:
      return "loopback";
    case PeerVerdict::kDeniedUnspecified:
      return "unspecified";
    case PeerVerdict::kDeniedPrivate:
      return "private";
    case PeerVerdict::kDeniedLinkLocal:
      return "link_local";
    case PeerVerdict::kDeniedCgnat:
      return "cgnat";
    case PeerVerdict::kDeniedMulticast:
      return "multicast";
    case PeerVerdict::kDeniedBroadcast:
      return "broadcast";
    case PeerVerdict::kDeniedReserved:
      return "reserved";
    case PeerVerdict::kDeniedDocumentation:
      return "documentation";
    case PeerVerdict::kDeniedBenchmark:
      return "benchmark";
    case PeerVerdict::kDeniedMetadata:
      return "metadata";
    case PeerVerdict::kDeniedConfig:
      return "config";
    case PeerVerdict::kDeniedSelf:
      return "self";
  }
  return "unknown";
}

std::optional<IpAddress> EmbeddedIpv4(const IpAddress& a) {
  if (!a.is_v6()) return std::nullopt;
  Embedded e = Classify(Bytes6(a));
  if (e.count == 0) return std::nullopt;
  return IpAddress::V4(e.v4[0]);
}

PeerPolicy::PeerPolicy(const PeerPolicyConfig& config)
    : allow_loopback_(config.allow_loopback), allow_multicast_(config.allow_multicast) {
  // A range written in IPv4-mapped form ("::ffff:10.0.0.0/104") means those IPv4 addresses.
  auto add = [](const IpRange& r, std::vector<V4Range>* v4, std::vector<V6Range>* v6) {
    if (r.first.family() != r.last.family()) return;
    if (r.first.is_v4()) {
      v4->push_back({r.first.v4(), r.last.v4()});
    } else if (IsMapped(r.first) && IsMapped(r.last)) {
      v4->push_back({Load32(r.first.data() + 12), Load32(r.last.data() + 12)});
    } else {
      v6->push_back({Bytes6(r.first), Bytes6(r.last)});
    }
  };
  for (const IpRange& r : config.allowed) add(r, &allowed4_, &allowed6_);
  for (const IpRange& r : config.denied) add(r, &denied4_, &denied6_);
  for (const IpAddress& a : config.relay_addresses) {
    if (a.is_v4()) {
      self4_.push_back(a.v4());
    } else if (IsMapped(a)) {
      self4_.push_back(Load32(a.data() + 12));
    } else {
      self6_.push_back(Bytes6(a));
    }
  }
}

bool PeerPolicy::InV4(const std::vector<V4Range>& list, uint32_t a) {
  for (const V4Range& r : list) {
    if (a >= r.first && a <= r.last) return true;
  }
  return false;
}

bool PeerPolicy::InV6(const std::vector<V6Range>& list, const V6Bytes& a) {
  for (const V6Range& r : list) {
    if (std::memcmp(r.first.data(), a.data(), 16) <= 0 &&
        std::memcmp(a.data(), r.last.data(), 16) <= 0) {
      return true;
    }
  }
  return false;
}

PeerVerdict PeerPolicy::CheckV4(uint32_t a) const {
  if (InV4(allowed4_, a)) return PeerVerdict::kAllowed;
  for (uint32_t self : self4_) {
    if (a == self) return PeerVerdict::kDeniedSelf;
  }
  PeerVerdict v = DefaultV4(a);
  if (v == PeerVerdict::kDeniedLoopback && allow_loopback_) v = PeerVerdict::kAllowed;
  if (v == PeerVerdict::kDeniedMulticast && allow_multicast_) v = PeerVerdict::kAllowed;
  if (v != PeerVerdict::kAllowed) return v;
  if (InV4(denied4_, a)) return PeerVerdict::kDeniedConfig;
  return PeerVerdict::kAllowed;
}

PeerVerdict PeerPolicy::CheckNativeV6(const V6Bytes& a) const {
  if (InV6(allowed6_, a)) return PeerVerdict::kAllowed;
  for (const V6Bytes& self : self6_) {
    if (a == self) return PeerVerdict::kDeniedSelf;
  }
  PeerVerdict v = DefaultV6(a);
  if (v == PeerVerdict::kDeniedLoopback && allow_loopback_) v = PeerVerdict::kAllowed;
  if (v == PeerVerdict::kDeniedMulticast && allow_multicast_) v = PeerVerdict::kAllowed;
  if (v != PeerVerdict::kAllowed) return v;
  if (InV6(denied6_, a)) return PeerVerdict::kDeniedConfig;
  return PeerVerdict::kAllowed;
}

PeerVerdict PeerPolicy::CheckSpelling(const V6Bytes& a, bool local_use_nat64) const {
  if (InV6(allowed6_, a)) return PeerVerdict::kAllowed;
  for (const V6Bytes& self : self6_) {
    if (a == self) return PeerVerdict::kDeniedSelf;
  }
  // RFC 8215 local-use prefix: not globally reachable, translator-specific layout.
  if (local_use_nat64) return PeerVerdict::kDeniedReserved;
  if (InV6(denied6_, a)) return PeerVerdict::kDeniedConfig;
  return PeerVerdict::kAllowed;
}

PeerVerdict PeerPolicy::Check(const IpAddress& peer) const {
  if (peer.is_v4()) return CheckV4(peer.v4());
  const V6Bytes bytes = Bytes6(peer);
  const Embedded e = Classify(bytes);
  if (e.form == Form::kNative) return CheckNativeV6(bytes);
  for (int i = 0; i < e.count; ++i) {
    if (PeerVerdict v = CheckV4(e.v4[i]); v != PeerVerdict::kAllowed) return v;
  }
  // An ISATAP address is an ordinary IPv6 address as far as routing goes: check it fully.
  if (e.form == Form::kIsatap) return CheckNativeV6(bytes);
  return CheckSpelling(bytes, e.form == Form::kNat64Local);
}

}  // namespace cv::turn
