// Which peers the relay may talk to: the SSRF defence that guards CreatePermission, ChannelBind,
// Send, Connect (RFC 6062) and the data path.
//
// Every IPv6 spelling of an IPv4 address is reduced to that IPv4 address, which is then checked
// like any IPv4 peer:
//   ::ffff:a.b.c.d            IPv4-mapped (RFC 4291 §2.5.5.2)
//   ::a.b.c.d                 IPv4-compatible, deprecated (RFC 4291 §2.5.5.1); not :: or ::1
//   ::ffff:0:a.b.c.d          IPv4-translated (RFC 2765 §2.1)
//   64:ff9b::a.b.c.d          NAT64 well-known prefix (RFC 6052 §2.1)
//   64:ff9b:1::/48            NAT64 local-use prefix (RFC 8215); the IPv4 address is read from
//                             the last 32 bits, and the prefix is not globally reachable, so it is
//                             denied as reserved unless allowed-peer-ip names it
//   2002:AABB:CCDD::/48       6to4 (RFC 3056): AA.BB.CC.DD
//   2001:0:SSSS:SSSS:f:p:CCCC:CCCC  Teredo (RFC 4380 §4): server S and client ~C; both checked
//   <prefix>:0:5efe:a.b.c.d   ISATAP (RFC 5214 §6.1), also with the u bit (200:5efe); the IPv6
//                             address is checked as well
// A NAT64 network-specific prefix (RFC 6052) cannot be recognised; deny it with denied-peer-ip.
//
// Precedence, per address (the IPv4 address for an embedded form):
//   1. allowed-peer-ip           → allowed (as coturn: "specified as both allowed and denied …
//                                  considered to be allowed")
//   2. the relay's own addresses → kDeniedSelf
//   3. built-in special-purpose ranges (IANA registries) → the range's verdict; allow_loopback
//      lifts 127/8 and ::1 only, allow_multicast lifts 224/4 and ff00::/8
//   4. denied-peer-ip            → kDeniedConfig
//   5. otherwise                 → kAllowed
// For an embedded form, the IPv6 address itself must also not be the relay's own address nor in
// denied-peer-ip (unless in allowed-peer-ip); allowing the IPv6 spelling never lifts a denial of
// the embedded IPv4 address — allow the IPv4 address instead.
//
// Threading: immutable after construction; Check() is const, thread-safe, allocation-free and
// never throws, so it may run on the data path of every worker.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "relay/common/address.h"
#include "relay/common/ip_range.h"

namespace cv::turn {

enum class PeerVerdict : uint8_t {
  kAllowed,
  kDeniedLoopback,       // 127/8, ::1
  kDeniedUnspecified,    // 0/8 ("this network": Linux connects 0.0.0.0 to itself), ::
  kDeniedPrivate,        // RFC 1918, fc00::/7, fec0::/10
  kDeniedLinkLocal,      // 169.254/16, fe80::/10
  kDeniedCgnat,          // 100.64/10
  kDeniedMulticast,      // 224/4, ff00::/8
  kDeniedBroadcast,      // 255.255.255.255
  kDeniedReserved,       // 240/4, 192.0.0/24, IETF-reserved IPv6 space, ORCHID, discard…
  kDeniedDocumentation,  // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
  kDeniedBenchmark,      // 198.18/15, 2001:2::/48
  kDeniedMetadata,       // cloud instance metadata endpoints
  kDeniedConfig,         // denied-peer-ip
  kDeniedSelf,           // one of the relay's own addresses
};
inline constexpr size_t kPeerVerdictCount = static_cast<size_t>(PeerVerdict::kDeniedSelf) + 1;

// A stable lower-case label for counters and logs: "allowed", "loopback", "metadata"…
const char* PeerVerdictName(PeerVerdict v);

struct PeerPolicyConfig {
  std::vector<IpRange> denied;   // denied-peer-ip
  std::vector<IpRange> allowed;  // allowed-peer-ip: wins over everything else
  bool allow_loopback = false;
  // coturn's no-multicast-peers is a no-op here: multicast is denied unless this is set.
  bool allow_multicast = false;
  // The relay's own addresses (listening, relay and external IPs): always denied unless allowed.
  std::vector<IpAddress> relay_addresses;
};

// The IPv4 address an IPv6 address carries in one of the forms above (for Teredo, the client's
// address), or nullopt for a plain IPv6 address or an IPv4 address.
std::optional<IpAddress> EmbeddedIpv4(const IpAddress& a);

class PeerPolicy {
 public:
  PeerPolicy() : PeerPolicy(PeerPolicyConfig{}) {}
  explicit PeerPolicy(const PeerPolicyConfig& config);

  PeerVerdict Check(const IpAddress& peer) const;
  bool Allows(const IpAddress& peer) const { return Check(peer) == PeerVerdict::kAllowed; }

 private:
  struct V4Range {
    uint32_t first;
    uint32_t last;
  };
  using V6Bytes = std::array<uint8_t, 16>;
  struct V6Range {
    V6Bytes first;
    V6Bytes last;
  };

  PeerVerdict CheckV4(uint32_t a) const;
  PeerVerdict CheckNativeV6(const V6Bytes& a) const;
  // The checks that still apply to the IPv6 spelling of an embedded IPv4 address.
  PeerVerdict CheckSpelling(const V6Bytes& a, bool local_use_nat64) const;
  static bool InV4(const std::vector<V4Range>& list, uint32_t a);
  static bool InV6(const std::vector<V6Range>& list, const V6Bytes& a);

  std::vector<V4Range> allowed4_;
  std::vector<V4Range> denied4_;
  std::vector<V6Range> allowed6_;
  std::vector<V6Range> denied6_;
  std::vector<uint32_t> self4_;
  std::vector<V6Bytes> self6_;
  bool allow_loopback_ = false;
  bool allow_multicast_ = false;
};

}  // namespace cv::turn
