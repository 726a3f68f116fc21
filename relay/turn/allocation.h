// One TURN allocation (RFC 8656 §5): its relayed transport address(es), permissions and channel
// bindings, each with an expiry. Owned by the worker that created it; never touched by another
// thread. Permissions and channels are few per allocation (WebRTC uses one or two), so they live
// in small vectors scanned linearly: cheaper than a hash lookup at these sizes.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cv/auth/authenticator.h"
#include "relay/common/address.h"
#include "relay/common/clock.h"
#include "relay/stun/message.h"
#include "relay/turn/bandwidth_cap.h"
#include "relay/turn/five_tuple.h"
#include "relay/turn/timer_wheel.h"

namespace cv::turn {

// Opaque handle of a relay socket, owned by the net layer.
using RelayHandle = int32_t;
inline constexpr RelayHandle kNoRelay = -1;

struct Permission {
  IpAddress peer;  // permissions match the peer's IP only (RFC 8656 §9)
  MonoTime expires;
};

struct ChannelBinding {
  uint16_t number = 0;
  SocketAddress peer;
  MonoTime expires;
};

// A TCP connection between a TCP allocation's relayed address and a peer (RFC 6062 §5.2, §5.3),
// named by the CONNECTION-ID the net layer gave it. Peer connections are few per allocation, so
// they too live in a small vector.
struct TcpConnection {
  enum class State : uint8_t {
    kConnecting,   // Connect sent, outcome not known yet: the Connect is unanswered
    kPendingBind,  // up, waiting for the client's ConnectionBind
    kBound,        // piped to the client data connection `data` by the net layer
  };
  uint32_t id = 0;
  SocketAddress peer;
  State state = State::kConnecting;
  // kConnecting: when the Connect is answered 447; kPendingBind: when the connection is closed.
  MonoTime deadline;
  // kConnecting: what the delayed Connect response needs.
  stun::TransactionId transaction{};
  bool sha256 = false;       // the Connect used MESSAGE-INTEGRITY-SHA256
  bool fingerprint = false;  // the Connect carried FINGERPRINT
  FiveTuple data;            // kBound: the client data connection
};

// A relayed transport address and the socket behind it. An allocation has one per address family
// it relays (two with ADDITIONAL-ADDRESS-FAMILY).
struct Relay {
  RelayHandle handle = kNoRelay;
  SocketAddress address;
};

// Payload bytes and packets relayed each way, and the relayed time: wall time during which
// packets flowed either way, leaving out gaps longer than kRelayGap (a call on hold is not billed
// for its silence). Updated per packet with one subtraction and one comparison.
inline constexpr Duration kRelayGap = seconds(2);

struct TrafficCounters {
  uint64_t packets_to_peer = 0;
  uint64_t bytes_to_peer = 0;
  uint64_t packets_to_client = 0;
  uint64_t bytes_to_client = 0;
  Duration relayed{};
  MonoTime last_relayed{};  // epoch: nothing relayed yet

  void Touch(MonoTime now) {
    const Duration gap = now - last_relayed;
    if (gap <= kRelayGap && last_relayed != MonoTime{}) relayed += gap;
    last_relayed = now;
  }
  int64_t relayed_ms() const { return std::chrono::duration_cast<milliseconds>(relayed).count(); }
  TrafficCounters& operator+=(const TrafficCounters& o) {
    packets_to_peer += o.packets_to_peer;
    bytes_to_peer += o.bytes_to_peer;
    packets_to_client += o.packets_to_client;
    bytes_to_client += o.bytes_to_client;
    relayed += o.relayed;
    return *this;
  }
};

struct Allocation {
  uint64_t id = 0;
  FiveTuple tuple;
  std::string username;           // exactly as authenticated: later requests must match (else 441)
  auth::Entitlement entitlement;  // who relays, for which call, on what terms
  auth::Key key;                  // long-term key that authenticated the Allocate
  std::array<Relay, 2> relays{};  // [0] IPv4, [1] IPv6; handle kNoRelay when absent
  MonoTime created;
  int64_t created_unix_ms = 0;  // for the usage ledger
  MonoTime expires;
  MonoTime hard_end = MonoTime::max();  // created + the maximum call duration, if any
  BandwidthCap cap_to_peer, cap_to_client;
  std::vector<Permission> permissions;
  std::vector<ChannelBinding> channels;
  bool tcp = false;  // an RFC 6062 TCP allocation: relays[] hold listening sockets
  std::vector<TcpConnection> tcp_connections;
  TrafficCounters traffic;
  std::vector<IpAddress> peers_seen;  // distinct peer IPs permitted (ledger), at most 8
  // activity() at the last checkpoint snapshot, so a checkpoint skips an allocation that has not
  // relayed since. Starting at 0, an allocation that never relays (most WebRTC relay candidates
  // are gathered and never used) is written once, when it ends.
  uint64_t checkpointed_activity = 0;
  bool dont_fragment = false;
  bool deleted = false;  // set when removed; its memory lives until the end of the loop iteration
  // owner = this; at the earliest expiry of the allocation, a permission, a channel or an unbound
  // TCP connection.
  TimerNode timer;

  const std::string& user() const { return entitlement.user; }
  // Grows with every packet relayed: equal values mean nothing new to bill.
  uint64_t activity() const { return traffic.packets_to_peer + traffic.packets_to_client; }

  const Relay* RelayFor(const IpAddress& peer) const {
    const Relay& r = relays[peer.is_v4() ? 0 : 1];
    return r.handle == kNoRelay ? nullptr : &r;
  }
  Permission* FindPermission(const IpAddress& peer, MonoTime now);
  ChannelBinding* FindChannel(uint16_t number, MonoTime now);
  ChannelBinding* FindChannelByPeer(const SocketAddress& peer, MonoTime now);
  TcpConnection* FindTcpConnection(uint32_t id);
  TcpConnection* FindTcpConnectionByPeer(const SocketAddress& peer);
  // Drops expired permissions and channels; returns the earliest remaining deadline, including the
  // allocation's own and those of unbound TCP connections (which the caller expires).
  MonoTime Sweep(MonoTime now);
};

}  // namespace cv::turn
