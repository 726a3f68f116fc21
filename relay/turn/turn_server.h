// The TURN protocol state machine of one worker (RFC 8656 over RFC 8489). No sockets and no
// threads: the net layer feeds it packets and time, and it answers through TurnCallbacks.
//
// Threading: a TurnServer and every Allocation in it belong to one worker thread; only that
// thread may call its methods. The QuotaTracker and RequestLimits it is given are shared and
// thread-safe; the Authenticator and PeerPolicy are shared read-only.
//
// What a credential's entitlement makes it enforce (auth::Entitlement):
//   - a refused grant (plan may not relay, claimless refused) → 403;
//   - a revoked user or call session → 403 for new allocations; live ones end at once;
//   - concurrent allocations per user and per call session → 486; Allocate rate per source and
//     per user → 486; repeated failed authentication → a short ban (403);
//   - bandwidth: payload bytes per direction over the cap are dropped (counted);
//   - duration: an allocation ends at creation + max_duration_s however often it is refreshed;
//   - with a UsageSink: monthly relay minutes used up → 486 and live allocations end (quota);
//     the relay-abuse guard caps the duration of new and live allocations.
// With a UsageSink it also meters: a snapshot of every allocation that moved at each Checkpoint()
// and a final record when one ends.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "cv/auth/authenticator.h"
#include "relay/common/clock.h"
#include "relay/common/rate_limiter.h"
#include "relay/stun/message.h"
#include "relay/turn/allocation.h"
#include "relay/turn/counters.h"
#include "relay/turn/five_tuple.h"
#include "relay/turn/nonce.h"
#include "relay/turn/peer_policy.h"
#include "relay/turn/quota.h"
#include "relay/turn/request_limits.h"
#include "relay/turn/revocations.h"
#include "relay/turn/timer_wheel.h"
#include "relay/turn/transaction_cache.h"
#include "relay/turn/usage_sink.h"

namespace cv::turn {

struct TurnConfig {
  uint32_t default_lifetime_s = 600;  // RFC 8656 §3.2
  uint32_t max_lifetime_s = 3600;     // max-allocate-lifetime
  uint32_t permission_lifetime_s = 300;
  uint32_t channel_lifetime_s = 600;
  size_t max_permissions = 64;  // per allocation; more → 508
  size_t max_channels = 64;     // per allocation; more → 508
  bool fingerprint = false;     // FINGERPRINT on every response (always when the request had one)
  bool software = true;         // SOFTWARE on responses to authenticated requests only
  std::string software_name = "CallVault cvrelay";
  double unauth_rate = 20;  // unauthenticated replies per second per source IP (0 = unlimited)
  double unauth_burst = 40;
  // Relayed transports. no-udp-relay clears udp_relay: REQUESTED-TRANSPORT UDP → 403 (RFC 6062
  // §5.1 step 1: UDP forbidden by local policy). tcp-relay sets tcp_relay: RFC 6062 allocations.
  bool udp_relay = true;
  bool tcp_relay = false;
  uint32_t tcp_connect_timeout_s = 30;  // RFC 6062 §5.2: a Connect not done by then → 447
  uint32_t tcp_bind_timeout_s = 30;  // RFC 6062 §5.2/§5.3: a peer connection left unbound closes
  size_t max_tcp_connections = 64;   // peer connections per allocation; more → 508 or refused
};

// What an Allocate asks of the net layer.
struct RelayRequest {
  bool want_v4 = true;
  bool want_v6 = false;
  bool even_port = false;
  bool reserve_next = false;                  // EVEN-PORT with R: keep port+1 for a later Allocate
  std::optional<uint64_t> reservation_token;  // RESERVATION-TOKEN: use the kept port
  bool dont_fragment = false;
  // RFC 6062: a TCP listening socket on the relayed address instead of a UDP one (never with
  // EVEN-PORT, RESERVATION-TOKEN or DONT-FRAGMENT). RelayOpenResult is the same for both.
  bool tcp = false;
};

struct RelayOpenResult {
  uint16_t error = 0;                         // 0, or the STUN error for the whole request
  uint16_t v6_error = 0;                      // ADDITIONAL-ADDRESS-FAMILY failed alone (440/508)
  std::array<Relay, 2> relays{};              // [0] IPv4, [1] IPv6
  std::optional<uint64_t> reservation_token;  // set when reserve_next was honoured
};

// Events flowing up to the net layer. Called on the owning worker thread, synchronously. None of
// them may call back into the TurnServer before returning: the net layer reports what follows
// (OnPeerConnected, OnPeerConnectionClosed, OnClientClosed...) from its event loop afterwards.
class TurnCallbacks {
 public:
  virtual ~TurnCallbacks() = default;
  virtual void SendToClient(const FiveTuple& tuple, std::span<const uint8_t> data) = 0;
  virtual void SendToPeer(const Relay& relay, const SocketAddress& peer,
                          std::span<const uint8_t> data) = 0;
  // Binds relay sockets for `owner`; packets arriving on them come back through OnPeerPacket.
  virtual RelayOpenResult OpenRelays(const RelayRequest& request, Allocation* owner) = 0;
  // Closes the allocation's relay sockets. No OnPeerPacket for it happens afterwards.
  virtual void CloseRelays(Allocation& allocation) = 0;

  // RFC 6062 TCP allocations. A peer connection id is 32-bit, made by the net layer, unique within
  // the process (the top 8 bits are the worker's id) and never 0.
  //
  // Connect: starts a TCP connection from a's TCP relayed address (a.relays[] of the peer's
  // family) to `peer`. The outcome comes back later through TurnServer::OnPeerConnected(id, ok).
  // Returns 0 when no connection could be started.
  virtual uint32_t ConnectPeer(Allocation& a, const SocketAddress& peer) = 0;
  // A successful ConnectionBind: from now on the net layer pipes bytes between the client's data
  // connection `data` and peer connection `id`, and closes each when the other closes; TurnServer
  // no longer sees data on either (it is told their byte counts through OnTcpRelayed).
  virtual void BindPeerConnection(uint32_t id, const FiveTuple& data) = 0;
  // Closes peer connection `id` (or abandons its connect attempt), and its data connection if it
  // was bound. TurnServer has already forgotten the id: no OnPeerConnectionClosed is needed.
  virtual void ClosePeerConnection(uint32_t id) = 0;
};

// Room the net layer leaves around a peer datagram handed to OnPeerPacket, so the TURN header
// (ChannelData or Data indication) is written in place instead of copying the payload.
inline constexpr size_t kPeerHeadroom = 48;
inline constexpr size_t kPeerTailroom = 12;

class TurnServer {
 public:
  TurnServer(const TurnConfig& config, const Clock& clock, TurnCallbacks& callbacks,
             QuotaTracker& quotas, RequestLimits& limits, std::shared_ptr<const PeerPolicy> policy,
             std::shared_ptr<const auth::Authenticator> authenticator,
             std::span<const uint8_t> nonce_key, uint32_t nonce_lifetime_s, uint32_t worker_id);
  ~TurnServer();
  TurnServer(const TurnServer&) = delete;
  TurnServer& operator=(const TurnServer&) = delete;

  // Takes effect for requests that arrive afterwards (SIGHUP reload).
  void SetAuthenticator(std::shared_ptr<const auth::Authenticator> authenticator);
  // While draining (SIGTERM), new allocations are refused with 508 so clients pick another relay;
  // existing ones keep working until they end.
  void SetDraining(bool draining) { draining_ = draining; }
  // Meter into `sink` (which must outlive this server); nullptr stops metering.
  void SetUsageSink(UsageSink* sink, UsageOrigin origin);

  // A datagram or stream frame from a client: STUN or ChannelData.
  void OnClientPacket(const FiveTuple& tuple, std::span<const uint8_t> data, MonoTime now);
  // A datagram from a peer to one of `allocation`'s relayed addresses. `data` has kPeerHeadroom
  // writable bytes before it and kPeerTailroom after it.
  void OnPeerPacket(Allocation* allocation, const SocketAddress& peer, std::span<uint8_t> data,
                    MonoTime now);
  // Expires allocations, permissions, channels, and TCP connect and bind deadlines that are due.
  void OnTimer(MonoTime now);

  // RFC 6062 (TCP allocations). Unknown or stale connection ids are ignored everywhere.
  //
  // Connect's outcome (RFC 6062 §5.2): success with CONNECTION-ID, or 447. After a failure the
  // net layer has already released the id.
  void OnPeerConnected(uint32_t id, bool ok, MonoTime now);
  // A peer connected to a's TCP relayed address (passive open, RFC 6062 §5.3). True: accepted,
  // and a ConnectionAttempt indication went to the client; false: refused (not a TCP allocation,
  // peer denied by policy, no permission for the peer's IP, allocation at max_tcp_connections)
  // and the net layer closes it.
  bool OnPeerAccepted(Allocation* a, uint32_t id, const SocketAddress& peer, MonoTime now);
  // The net layer saw peer connection `id` close (or fail); it closes the bound data connection
  // itself. A Connect still waiting for it is answered 447.
  void OnPeerConnectionClosed(uint32_t id, MonoTime now);
  // Metering of a bound pair, once per read batch: `bytes` moved to the peer (to_peer) or to the
  // client. Counts as one packet. The bandwidth cap is not applied: the bytes have already moved.
  void OnTcpRelayed(uint32_t id, size_t bytes, bool to_peer, MonoTime now);
  // A TCP/TLS client connection closed. An allocation on it ends (its 5-tuple is gone: an
  // allocation over a stream lives as long as its connection), with usage end reason client; if
  // it was a data connection, its peer connection is closed.
  void OnClientClosed(const FiveTuple& tuple, MonoTime now);
  // For the net layer's "connections that never authenticate time out": true once the stream
  // connection `tuple` holds an allocation or is a bound data connection.
  bool IsAuthenticated(const FiveTuple& tuple) const;
  // Frees allocations deleted during this loop iteration. The net layer calls it once no event it
  // already fetched can still name one of them.
  void CollectGarbage();
  // Deletes every allocation (shutdown).
  void DeleteAll(MonoTime now);

  // Revokes a user or call session until `until` (Unix seconds): ends their live allocations and
  // refuses new ones. Returns how many allocations ended.
  size_t Revoke(RevocationKind kind, std::string_view id, int64_t until);
  bool LiftRevocation(RevocationKind kind, std::string_view id);
  // Ends the allocation with this id (operator request). False when there is none.
  bool EndAllocation(uint64_t id);
  void VisitAllocations(const std::function<void(const Allocation&)>& visit) const;

  // Hands the usage sink a snapshot of every live allocation that relayed a packet since its
  // last snapshot (one that has not has nothing new to bill; its peers wait for the next one).
  void Checkpoint();
  // Applies a user's new standing to their live allocations: ends them when the month's relay
  // minutes are used up (reason quota), or caps their duration under the abuse guard. Returns
  // how many ended.
  size_t ApplyStanding(std::string_view user, const auth::Standing& standing, MonoTime now);

  // Allocations created and traffic of ended allocations, by plan and transport, since start.
  struct PlanStats {
    uint64_t created = 0;
    TrafficCounters ended;
  };
  using PlanStatsMap = std::map<std::pair<std::string, Transport>, PlanStats>;
  const PlanStatsMap& plan_stats() const { return plan_stats_; }

  size_t allocation_count() const { return allocations_.size(); }
  uint32_t worker_id() const { return worker_id_; }
  const TurnCounters& counters() const { return counters_; }
  // For the net layer, which counts its own drops in the same set (same thread).
  TurnCounters& counters() { return counters_; }
  const Allocation* FindAllocation(const FiveTuple& tuple) const;

 private:
  struct AuthResult {
    auth::Key key;
    auth::Entitlement entitlement;  // filled for a new allocation only
    bool sha256 = false;
  };

  void HandleRequest(const FiveTuple& tuple, const stun::MessageView& msg, MonoTime now);
  void HandleBinding(const FiveTuple& tuple, const stun::MessageView& msg);
  void HandleAllocate(const FiveTuple& tuple, const stun::MessageView& msg, MonoTime now);
  void HandleRefresh(const FiveTuple& tuple, const stun::MessageView& msg, Allocation& a,
                     const AuthResult& auth, MonoTime now);
  void HandleCreatePermission(const FiveTuple& tuple, const stun::MessageView& msg, Allocation& a,
                              const AuthResult& auth, MonoTime now);
  void HandleChannelBind(const FiveTuple& tuple, const stun::MessageView& msg, Allocation& a,
                         const AuthResult& auth, MonoTime now);
  void HandleConnect(const FiveTuple& tuple, const stun::MessageView& msg, Allocation& a,
                     const AuthResult& auth, MonoTime now);
  void HandleConnectionBind(const FiveTuple& tuple, const stun::MessageView& msg, MonoTime now);
  void HandleSend(const FiveTuple& tuple, const stun::MessageView& msg, MonoTime now);
  void HandleChannelData(const FiveTuple& tuple, std::span<const uint8_t> data, MonoTime now);

  // Long-term credential check (RFC 8489 §9.2.4). On failure it has already answered (or
  // dropped) and returns false. With `existing`, the allocation's own credentials are used.
  bool Authenticate(const FiveTuple& tuple, const stun::MessageView& msg,
                    const Allocation* existing, MonoTime now, AuthResult* out);

  // Response writers. `auth` null → an unauthenticated reply (no SOFTWARE, no reason phrase,
  // rate-limited per source).
  stun::MessageBuilder StartResponse(const stun::MessageView& req, bool success);
  void FinishAndSend(const FiveTuple& tuple, const stun::MessageView& req, stun::MessageBuilder& b,
                     const AuthResult* auth, MonoTime now);
  // The same for a response built away from its request (a Connect answered later).
  void FinishAndSend(const FiveTuple& tuple, const stun::TransactionId& id, bool fingerprint,
                     stun::MessageBuilder& b, const AuthResult* auth, MonoTime now);
  void SendError(const FiveTuple& tuple, const stun::MessageView& req, uint16_t code,
                 const AuthResult* auth, MonoTime now);
  void SendChallenge(const FiveTuple& tuple, const stun::MessageView& req, uint16_t code,
                     MonoTime now);
  bool AllowUnauthenticated(const FiveTuple& tuple, MonoTime now);

  // Refuses an authenticated requester the authenticator would let in: revocations. On refusal
  // it has answered 403 and returns false.
  bool Admit(const FiveTuple& tuple, const stun::MessageView& msg, const AuthResult& auth,
             MonoTime now);
  // Counts a failed authentication toward a ban of the source and the claimed user.
  void RecordAuthFailure(const FiveTuple& tuple, std::string_view claimed, MonoTime now);

  void Schedule(Allocation& a, MonoTime now);
  // Sets a's lifetime to `lifetime_s` from now, but never past its hard end; returns the
  // seconds granted (rounded up), for the LIFETIME attribute.
  uint32_t SetExpiry(Allocation& a, uint32_t lifetime_s, MonoTime now);
  void DeleteAllocation(Allocation& a, Counter reason);

  // RFC 6062 peer connections.
  // Answers a's pending Connect for `c`: success with CONNECTION-ID (error 0), or `error`.
  void AnswerConnect(Allocation& a, const TcpConnection& c, uint16_t error, MonoTime now);
  // Forgets connection `id` of `a` (its record, owner and data-connection entries); returns the
  // record removed, if any.
  std::optional<TcpConnection> ForgetTcpConnection(Allocation& a, uint32_t id);
  // Answers Connects and closes unbound peer connections whose deadline has passed.
  void ExpireTcpConnections(Allocation& a, MonoTime now);
  void CloseTcpConnections(Allocation& a);
  Allocation* TcpOwner(uint32_t id) const;
  bool PeerAllowed(const IpAddress& peer);
  // 0 when `a` may reach `peer`; else 403 (policy) or 443 (no relay of that family).
  uint16_t PeerError(const Allocation& a, const IpAddress& peer);
  // The bandwidth cap, then per-allocation (for metering) and per-worker traffic counts. False
  // (and counted as a drop) when the packet is over the cap.
  bool AdmitToPeer(Allocation& a, size_t bytes, MonoTime now);
  bool AdmitToClient(Allocation& a, size_t bytes, MonoTime now);
  // One direction of the above: `cap`, then the allocation's and the worker's counts.
  bool Admit(Allocation& a, BandwidthCap& cap, uint64_t& packets, uint64_t& total,
             Counter packets_counter, Counter bytes_counter, size_t bytes, MonoTime now);
  // The counting half of Admit(), without the cap.
  void Meter(Allocation& a, uint64_t& packets, uint64_t& total, Counter packets_counter,
             Counter bytes_counter, size_t bytes, MonoTime now);
  // The allocation as a usage record at Unix ms `now_ms`.
  auth::UsageRecord Snapshot(const Allocation& a, auth::EndReason reason, int64_t now_ms) const;
  // Caps a's duration at `max_s` from its creation; ends it when that is already past. True
  // when it ended.
  bool CapDuration(Allocation& a, uint32_t max_s, MonoTime now);
  void NotePeer(Allocation& a, const IpAddress& peer);
  uint32_t ClampLifetime(std::optional<uint32_t> requested) const;

  TurnConfig config_;
  const Clock& clock_;
  TurnCallbacks& callbacks_;
  QuotaTracker& quotas_;
  RequestLimits& limits_;
  std::shared_ptr<const PeerPolicy> policy_;
  std::shared_ptr<const auth::Authenticator> authenticator_;
  NonceFactory nonces_;
  SourceRateLimiter unauth_limiter_;
  TimerWheel timers_;
  TransactionCache transactions_;
  RevocationTable revocations_;
  TurnCounters counters_;
  std::unordered_map<FiveTuple, std::unique_ptr<Allocation>, FiveTupleHash> allocations_;
  std::vector<std::unique_ptr<Allocation>> graveyard_;
  // RFC 6062: the allocation owning each live peer connection id, and the bound data connections.
  std::unordered_map<uint32_t, Allocation*> tcp_owners_;
  std::unordered_map<FiveTuple, uint32_t, FiveTupleHash> data_connections_;
  const uint32_t worker_id_;
  uint64_t next_allocation_id_;
  uint64_t indication_seq_ = 0;
  bool draining_ = false;
  UsageSink* usage_ = nullptr;
  UsageOrigin origin_;
  PlanStatsMap plan_stats_;
  alignas(8) std::array<uint8_t, 1500> out_{};
};

}  // namespace cv::turn
