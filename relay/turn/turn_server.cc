#include "relay/turn/turn_server.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <utility>

#include "relay/common/log.h"
#include "relay/stun/channel_data.h"
#include "relay/stun/crypto.h"

namespace cv::turn {
namespace {

// What a nonce is bound to. On UDP the client's address and port: the source of a datagram is
// all a relay knows of its sender. On TCP and TLS the address only: a completed handshake
// already proves the address, and RFC 6062 clients open data connections from new ports and
// authenticate their ConnectionBind with the nonce their control connection got.
SocketAddress NonceAddress(const FiveTuple& tuple) {
  if (tuple.transport == Transport::kTcp || tuple.transport == Transport::kTls) {
    return {tuple.client.ip, 0};
  }
  return tuple.client;
}

using stun::MessageBuilder;
using stun::MessageClass;
using stun::MessageView;
using stun::Method;
namespace attr = stun::attr;
namespace error = stun::error;

// Comprehension-required attributes this server understands in requests and indications.
constexpr uint16_t kKnownAttributes[] = {
    attr::kMappedAddress,
    attr::kUsername,
    attr::kMessageIntegrity,
    attr::kErrorCode,
    attr::kUnknownAttributes,
    attr::kChannelNumber,
    attr::kLifetime,
    attr::kXorPeerAddress,
    attr::kData,
    attr::kRealm,
    attr::kNonce,
    attr::kXorRelayedAddress,
    attr::kRequestedAddressFamily,
    attr::kEvenPort,
    attr::kRequestedTransport,
    attr::kDontFragment,
    attr::kMessageIntegritySha256,
    attr::kPasswordAlgorithm,
    attr::kUserhash,
    attr::kXorMappedAddress,
    attr::kReservationToken,
    attr::kPriority,
    attr::kUseCandidate,
    attr::kConnectionId,
};

bool IsTurnMethod(Method m) {
  switch (m) {
    case Method::kAllocate:
    case Method::kRefresh:
    case Method::kCreatePermission:
    case Method::kChannelBind:
    case Method::kConnect:
      return true;
    default:
      return false;
  }
}

const char* ReasonPhrase(uint16_t code) {
  static constexpr std::pair<uint16_t, const char*> kPhrases[] = {
      {error::kBadRequest, "Bad Request"},
      {error::kForbidden, "Forbidden"},
      {error::kAllocationMismatch, "Allocation Mismatch"},
      {error::kAddressFamilyNotSupported, "Address Family not Supported"},
      {error::kWrongCredentials, "Wrong Credentials"},
      {error::kUnsupportedTransportProtocol, "Unsupported Transport Protocol"},
      {error::kPeerAddressFamilyMismatch, "Peer Address Family Mismatch"},
      {error::kConnectionAlreadyExists, "Connection Already Exists"},
      {error::kConnectionTimeoutOrFailure, "Connection Timeout or Failure"},
      {error::kAllocationQuotaReached, "Allocation Quota Reached"},
      {error::kInsufficientCapacity, "Insufficient Capacity"},
  };
  for (const auto& [c, phrase] : kPhrases) {
    if (c == code) return phrase;
  }
  return "";
}

void PutU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The usage ledger's end reason for the counter an allocation ended with.
auth::EndReason EndReasonOf(Counter c) {
  switch (c) {
    case Counter::kAllocationsDeleted:
    case Counter::kEndedConnectionClosed:
      return auth::EndReason::kClient;
    case Counter::kAllocationsExpired:
      return auth::EndReason::kLifetime;
    case Counter::kEndedDurationCap:
      return auth::EndReason::kDurationCap;
    case Counter::kEndedQuota:
      return auth::EndReason::kQuota;
    case Counter::kEndedRevoked:
      return auth::EndReason::kRevoked;
    case Counter::kEndedByOperator:
      return auth::EndReason::kOperator;
    default:
      return auth::EndReason::kShutdown;
  }
}

bool IsStream(Transport t) { return t == Transport::kTcp || t == Transport::kTls; }

// A transaction id for a server-made indication: any unique value will do.
stun::TransactionId IndicationId(uint64_t allocation_id, uint64_t seq) {
  stun::TransactionId id;
  std::memcpy(id.data(), &allocation_id, 4);
  std::memcpy(id.data() + 4, &seq, 8);
  return id;
}

}  // namespace

TurnServer::TurnServer(const TurnConfig& config, const Clock& clock, TurnCallbacks& callbacks,
                       QuotaTracker& quotas, RequestLimits& limits,
                       std::shared_ptr<const PeerPolicy> policy,
                       std::shared_ptr<const auth::Authenticator> authenticator,
                       std::span<const uint8_t> nonce_key, uint32_t nonce_lifetime_s,
                       uint32_t worker_id)
    : config_(config),
      clock_(clock),
      callbacks_(callbacks),
      quotas_(quotas),
      limits_(limits),
      policy_(std::move(policy)),
      authenticator_(std::move(authenticator)),
      nonces_(nonce_key, nonce_lifetime_s),
      unauth_limiter_(config.unauth_rate, static_cast<uint32_t>(config.unauth_burst)),
      timers_(clock.Now()),
      worker_id_(worker_id),
      next_allocation_id_(static_cast<uint64_t>(worker_id) << 48) {}

TurnServer::~TurnServer() { DeleteAll(clock_.Now()); }

void TurnServer::SetAuthenticator(std::shared_ptr<const auth::Authenticator> authenticator) {
  authenticator_ = std::move(authenticator);
}

const Allocation* TurnServer::FindAllocation(const FiveTuple& tuple) const {
  auto it = allocations_.find(tuple);
  return it == allocations_.end() ? nullptr : it->second.get();
}

// ---------------------------------------------------------------------------------------------
// Entry points

void TurnServer::OnClientPacket(const FiveTuple& tuple, std::span<const uint8_t> data,
                                MonoTime now) {
  if (data.empty()) return;
  if (stun::LooksLikeChannelData(data[0])) {
    HandleChannelData(tuple, data, now);
    return;
  }
  MessageView msg;
  stun::ParseError err = MessageView::Parse(data, &msg);
  if (err != stun::ParseError::kOk) {
    // RFC 8489 §6.3: a message that fails these checks is discarded silently.
    counters_.Add(err == stun::ParseError::kBadFingerprint ? Counter::kDropBadFingerprint
                                                           : Counter::kDropMalformed);
    CV_DEBUG("packet.drop", "reason=%s client=%s", stun::ParseErrorName(err),
             tuple.client.ToString().c_str());
    return;
  }
  switch (msg.message_class()) {
    case MessageClass::kRequest:
      HandleRequest(tuple, msg, now);
      return;
    case MessageClass::kIndication:
      if (msg.method() == Method::kSend) {
        HandleSend(tuple, msg, now);
      } else {
        counters_.Add(Counter::kDropUnexpectedClass);
      }
      return;
    default:
      // Responses are not expected from clients.
      counters_.Add(Counter::kDropUnexpectedClass);
      return;
  }
}

void TurnServer::OnPeerPacket(Allocation* a, const SocketAddress& peer, std::span<uint8_t> data,
                              MonoTime now) {
  if (a == nullptr || a->deleted) return;
  const size_t len = data.size();
  uint8_t* payload = data.data();
  if (ChannelBinding* ch = a->FindChannelByPeer(peer, now)) {
    // RFC 8656 §12.5: ChannelData to the client; padded to 4 bytes on streams only.
    uint8_t* frame = payload - stun::kChannelDataHeaderSize;
    stun::WriteChannelDataHeader(ch->number, static_cast<uint16_t>(len), frame);
    size_t total = stun::kChannelDataHeaderSize + len;
    if (a->tuple.transport != Transport::kUdp) {
      size_t padded = stun::ChannelDataStreamSize(len);
      std::memset(frame + total, 0, padded - total);
      total = padded;
    }
    if (!AdmitToClient(*a, len, now)) return;
    callbacks_.SendToClient(a->tuple, {frame, total});
    return;
  }
  if (a->FindPermission(peer.ip, now) == nullptr) {
    // RFC 8656 §10.3: no permission, the datagram is discarded.
    counters_.Add(Counter::kDropNoPermission);
    return;
  }
  if (!AdmitToClient(*a, len, now)) return;
  // RFC 8656 §11.3: a Data indication with XOR-PEER-ADDRESS and DATA, built around the payload.
  uint8_t prefix[64];
  MessageBuilder b(prefix);
  b.Start(Method::kData, MessageClass::kIndication, IndicationId(a->id, ++indication_seq_));
  b.AddXorAddress(attr::kXorPeerAddress, peer);
  const size_t head = b.size() + 4;  // + DATA attribute header
  const size_t padded = (len + 3) & ~size_t{3};
  const bool fingerprint = config_.fingerprint;
  size_t total = head + padded + (fingerprint ? 8 : 0);
  uint8_t* msg = payload - head;
  std::memcpy(msg, prefix, b.size());
  PutU16(msg + b.size(), attr::kData);
  PutU16(msg + b.size() + 2, static_cast<uint16_t>(len));
  std::memset(payload + len, 0, padded - len);
  PutU16(msg + 2, static_cast<uint16_t>(total - stun::kHeaderSize));
  if (fingerprint) {
    uint8_t* fp = msg + head + padded;
    uint32_t crc = stun::Crc32({msg, head + padded}) ^ stun::kFingerprintXor;
    PutU16(fp, attr::kFingerprint);
    PutU16(fp + 2, 4);
    PutU16(fp + 4, static_cast<uint16_t>(crc >> 16));
    PutU16(fp + 6, static_cast<uint16_t>(crc));
  }
  callbacks_.SendToClient(a->tuple, {msg, total});
}

void TurnServer::OnTimer(MonoTime now) {
  timers_.Advance(now, [this, now](TimerNode* node) {
    Allocation& a = *static_cast<Allocation*>(node->owner);
    if (a.expires <= now) {
      // An allocation that reached its hard end was refreshed up to the duration cap.
      const bool capped = a.expires >= a.hard_end;
      CV_INFO("allocation.ended", "alloc=%llx user=%s session=%s reason=%s",
              static_cast<unsigned long long>(a.id), log::Quote(a.user()).c_str(),
              log::Quote(a.entitlement.session).c_str(), capped ? "duration_cap" : "lifetime");
      DeleteAllocation(a, capped ? Counter::kEndedDurationCap : Counter::kAllocationsExpired);
      return;
    }
    ExpireTcpConnections(a, now);
    if (!a.deleted) Schedule(a, now);
  });
}

void TurnServer::CollectGarbage() { graveyard_.clear(); }

void TurnServer::DeleteAll(MonoTime /*now*/) {
  while (!allocations_.empty()) {
    DeleteAllocation(*allocations_.begin()->second, Counter::kEndedShutdown);
  }
  CollectGarbage();
}

// ---------------------------------------------------------------------------------------------
// Requests

void TurnServer::HandleRequest(const FiveTuple& tuple, const MessageView& msg, MonoTime now) {
  if (auto cached = transactions_.Find(tuple, msg.transaction_id(), now)) {
    counters_.Add(Counter::kRetransmissions);
    callbacks_.SendToClient(tuple, *cached);
    return;
  }
  // RFC 8489 §6.3.1.1: unknown comprehension-required attributes → 420 listing them.
  uint16_t unknown[16];
  size_t n_unknown = msg.UnknownRequired(kKnownAttributes, unknown, std::size(unknown));
  if (n_unknown > 0) {
    if (!AllowUnauthenticated(tuple, now)) return;
    MessageBuilder b = StartResponse(msg, false);
    b.AddErrorCode(error::kUnknownAttribute, "");
    b.AddUnknownAttributes({unknown, n_unknown});
    counters_.Add(Counter::kErrorResponses);
    FinishAndSend(tuple, msg, b, nullptr, now);
    return;
  }

  switch (msg.method()) {
    case Method::kBinding:
      counters_.Add(Counter::kBindingRequests);
      if (AllowUnauthenticated(tuple, now)) HandleBinding(tuple, msg);
      return;
    case Method::kAllocate:
      HandleAllocate(tuple, msg, now);
      return;
    case Method::kConnectionBind:
      // RFC 6062 §5.4: on a new connection, which holds no allocation of its own.
      HandleConnectionBind(tuple, msg, now);
      return;
    default:
      break;
  }
  if (!IsTurnMethod(msg.method())) {
    SendError(tuple, msg, error::kBadRequest, nullptr, now);
    return;
  }

  // Refresh, CreatePermission, ChannelBind, Connect: on an existing allocation, with its
  // credentials (RFC 6062 §5.2: a Connect without one → 437 as well).
  auto it = allocations_.find(tuple);
  Allocation* a = it == allocations_.end() ? nullptr : it->second.get();
  AuthResult auth;
  if (!Authenticate(tuple, msg, a, now, &auth)) return;
  if (a == nullptr) {
    // RFC 8656 §7.3, §9.2, §12.2: no allocation on this 5-tuple → 437.
    counters_.Add(Counter::kDropNoAllocation);
    SendError(tuple, msg, error::kAllocationMismatch, &auth, now);
    return;
  }
  switch (msg.method()) {
    case Method::kRefresh:
      HandleRefresh(tuple, msg, *a, auth, now);
      return;
    case Method::kCreatePermission:
      HandleCreatePermission(tuple, msg, *a, auth, now);
      return;
    case Method::kChannelBind:
      HandleChannelBind(tuple, msg, *a, auth, now);
      return;
    case Method::kConnect:
      HandleConnect(tuple, msg, *a, auth, now);
      return;
    default:
      return;
  }
}

void TurnServer::HandleBinding(const FiveTuple& tuple, const MessageView& msg) {
  // RFC 8489 §6.3.1: a Binding request needs no authentication; answer with the reflexive address.
  MessageBuilder b = StartResponse(msg, true);
  b.AddXorAddress(attr::kXorMappedAddress, tuple.client);
  if (msg.has_fingerprint() || config_.fingerprint) b.AddFingerprint();
  if (b.ok()) callbacks_.SendToClient(tuple, b.Finish());
}

void TurnServer::HandleAllocate(const FiveTuple& tuple, const MessageView& msg, MonoTime now) {
  counters_.Add(Counter::kAllocateRequests);
  AuthResult auth;
  // RFC 8656 §7.2, step 1: authenticate with the long-term credential mechanism.
  if (!Authenticate(tuple, msg, nullptr, now, &auth)) return;
  auth::Entitlement& ent = auth.entitlement;
  // Allocate rate per source address and per user: 486, as for any other allocation quota.
  if (LimitScope scope = limits_.AllowAllocate(tuple.client.ip, ent.user, now);
      scope != LimitScope::kNone) {
    const bool source = scope == LimitScope::kSource;
    counters_.Add(source ? Counter::kRateLimitedSource : Counter::kRateLimitedUser);
    CV_INFO("allocation.refused", "reason=%s user=%s client=%s",
            source ? "source-rate" : "user-rate", log::Quote(ent.user).c_str(),
            tuple.client.ToString().c_str());
    SendError(tuple, msg, error::kAllocationQuotaReached, &auth, now);
    return;
  }
  // Step 2: one allocation per 5-tuple (a retransmission was answered from the cache above).
  if (allocations_.count(tuple) != 0) {
    SendError(tuple, msg, error::kAllocationMismatch, &auth, now);
    return;
  }
  // Step 3: REQUESTED-TRANSPORT must be present: UDP (RFC 8656) or TCP (RFC 6062).
  auto transport = msg.GetRequestedTransport();
  if (!transport) {
    SendError(tuple, msg, error::kBadRequest, &auth, now);
    return;
  }
  RelayRequest request;
  request.dont_fragment = msg.Find(attr::kDontFragment) != nullptr;
  auto token = msg.FindValue(attr::kReservationToken);
  const bool has_even = msg.Find(attr::kEvenPort) != nullptr;
  if (*transport == stun::kTransportUdp) {
    // RFC 6062 §5.1 step 1: UDP forbidden by local policy → 403.
    if (!config_.udp_relay) {
      SendError(tuple, msg, error::kForbidden, &auth, now);
      return;
    }
  } else if (*transport == stun::kTransportTcp && config_.tcp_relay) {
    // RFC 6062 §5.1 step 2: only over a TCP or TLS client connection → else 400; step 3:
    // DONT-FRAGMENT, EVEN-PORT and RESERVATION-TOKEN have no meaning for TCP → 400.
    if (!IsStream(tuple.transport) || request.dont_fragment || has_even || token) {
      SendError(tuple, msg, error::kBadRequest, &auth, now);
      return;
    }
    request.tcp = true;
  } else {
    // RFC 6062 §5.1 step 1 (and TCP when tcp-relay is off): any other protocol → 442.
    SendError(tuple, msg, error::kUnsupportedTransportProtocol, &auth, now);
    return;
  }
  // Steps 5-7: RESERVATION-TOKEN, EVEN-PORT and the address-family attributes.
  const bool has_requested_family = msg.Find(attr::kRequestedAddressFamily) != nullptr;
  const bool has_additional_family = msg.Find(attr::kAdditionalAddressFamily) != nullptr;
  auto even = msg.GetEvenPort();
  auto requested_family = msg.GetFamily(attr::kRequestedAddressFamily);
  auto additional_family = msg.GetFamily(attr::kAdditionalAddressFamily);
  if ((has_even && !even) || (token && token->size() != 8) || (token && has_even) ||
      (token && (has_requested_family || has_additional_family)) ||
      (has_requested_family && has_additional_family) ||
      (has_requested_family && !requested_family) ||
      (has_additional_family && additional_family != stun::kFamilyIPv6)) {
    SendError(tuple, msg, error::kBadRequest, &auth, now);
    return;
  }
  if (requested_family && *requested_family != stun::kFamilyIPv4 &&
      *requested_family != stun::kFamilyIPv6) {
    SendError(tuple, msg, error::kAddressFamilyNotSupported, &auth, now);
    return;
  }
  request.want_v4 = !requested_family || *requested_family == stun::kFamilyIPv4;
  request.want_v6 = requested_family == stun::kFamilyIPv6 || has_additional_family;
  if (even) {
    request.even_port = true;
    request.reserve_next = *even;
  }
  if (token) {
    uint64_t t;
    std::memcpy(&t, token->data(), 8);
    request.reservation_token = t;
  }

  if (draining_) {
    counters_.Add(Counter::kRefusedDraining);
    SendError(tuple, msg, error::kInsufficientCapacity, &auth, now);
    return;
  }
  // Usage (the ledger's view): the month's relay minutes used up → 486; under the relay-abuse
  // guard the call is capped at the guard's duration.
  if (usage_ != nullptr) {
    const auth::UsageVerdict verdict = auth::Judge(ent.monthly_relay_minutes, ent.abuse_guard,
                                                   usage_->Lookup(ent.user), clock_.UnixNowMs());
    if (verdict.quota_exhausted) {
      counters_.Add(Counter::kQuotaMonthly);
      CV_INFO("allocation.refused", "reason=monthly-relay-minutes user=%s session=%s client=%s",
              log::Quote(ent.user).c_str(), log::Quote(ent.session).c_str(),
              tuple.client.ToString().c_str());
      SendError(tuple, msg, error::kAllocationQuotaReached, &auth, now);
      return;
    }
    ent.max_duration_s = auth::TighterLimit(ent.max_duration_s, verdict.capped_duration_s);
  }
  // Quotas (RFC 8656 §7.2 step 8): per user or per call session → 486; relay full → 508.
  QuotaClaim claim{ent.user, ent.session, ent.max_allocations_per_user,
                   ent.max_allocations_per_session};
  if (QuotaResult quota = quotas_.Acquire(claim); quota != QuotaResult::kOk) {
    struct QuotaRefusal {
      Counter counter;
      const char* reason;
      uint16_t code;
    };
    const QuotaRefusal r =
        quota == QuotaResult::kTotalFull
            ? QuotaRefusal{Counter::kQuotaTotal, "total-quota", error::kInsufficientCapacity}
        : quota == QuotaResult::kSessionFull
            ? QuotaRefusal{Counter::kQuotaSession, "session-quota", error::kAllocationQuotaReached}
            : QuotaRefusal{Counter::kQuotaUser, "user-quota", error::kAllocationQuotaReached};
    counters_.Add(r.counter);
    CV_INFO("allocation.refused", "reason=%s user=%s session=%s client=%s", r.reason,
            log::Quote(ent.user).c_str(), log::Quote(ent.session).c_str(),
            tuple.client.ToString().c_str());
    SendError(tuple, msg, r.code, &auth, now);
    return;
  }

  auto owned = std::make_unique<Allocation>();
  Allocation& a = *owned;
  a.id = ++next_allocation_id_;
  a.tuple = tuple;
  a.username = std::string(*msg.GetString(attr::kUsername));
  a.entitlement = std::move(auth.entitlement);
  a.key = auth.key;
  a.created = now;
  a.created_unix_ms = clock_.UnixNowMs();
  if (a.entitlement.max_duration_s != 0) a.hard_end = now + seconds(a.entitlement.max_duration_s);
  a.cap_to_peer = BandwidthCap(a.entitlement.bandwidth_kbps);
  a.cap_to_client = BandwidthCap(a.entitlement.bandwidth_kbps);
  a.dont_fragment = request.dont_fragment;
  a.tcp = request.tcp;
  a.timer.owner = &a;

  RelayOpenResult opened = callbacks_.OpenRelays(request, &a);
  if (opened.error != 0) {
    quotas_.Release(a.user(), a.entitlement.session);
    if (opened.error == error::kInsufficientCapacity) counters_.Add(Counter::kNoRelayPort);
    SendError(tuple, msg, opened.error, &auth, now);
    return;
  }
  a.relays = opened.relays;
  const uint32_t lifetime = SetExpiry(a, ClampLifetime(msg.GetU32(attr::kLifetime)), now);
  allocations_.emplace(tuple, std::move(owned));
  Schedule(a, now);
  counters_.Add(Counter::kAllocationsCreated);
  plan_stats_[{a.entitlement.plan, tuple.transport}].created++;

  MessageBuilder b = StartResponse(msg, true);
  for (const Relay& r : a.relays) {
    if (r.handle != kNoRelay) b.AddXorAddress(attr::kXorRelayedAddress, r.address);
  }
  if (opened.v6_error != 0) {
    // RFC 8656 §18.14 ADDRESS-ERROR-CODE: family, reserved, then an ERROR-CODE body.
    uint8_t v[8] = {stun::kFamilyIPv6, 0, 0, 0, 0, 0, 0, 0};
    v[6] = static_cast<uint8_t>(opened.v6_error / 100);
    v[7] = static_cast<uint8_t>(opened.v6_error % 100);
    b.AddBytes(attr::kAddressErrorCode, {v, 8});
  }
  b.AddU32(attr::kLifetime, lifetime);
  if (opened.reservation_token) {
    uint8_t t[8];
    std::memcpy(t, &*opened.reservation_token, 8);
    b.AddBytes(attr::kReservationToken, {t, 8});
  }
  b.AddXorAddress(attr::kXorMappedAddress, tuple.client);
  FinishAndSend(tuple, msg, b, &auth, now);
  CV_INFO("allocation.created",
          "alloc=%llx user=%s session=%s line=%s plan=%s client=%s transport=%s relay=%s "
          "relay_transport=%s lifetime=%u max_duration_s=%u bandwidth_kbps=%u",
          static_cast<unsigned long long>(a.id), log::Quote(a.user()).c_str(),
          log::Quote(a.entitlement.session).c_str(), log::Quote(a.entitlement.line).c_str(),
          log::Quote(a.entitlement.plan).c_str(), tuple.client.ToString().c_str(),
          TransportName(tuple.transport),
          (a.relays[0].handle != kNoRelay ? a.relays[0] : a.relays[1]).address.ToString().c_str(),
          a.tcp ? "tcp" : "udp", lifetime, a.entitlement.max_duration_s,
          a.entitlement.bandwidth_kbps);
}

void TurnServer::HandleRefresh(const FiveTuple& tuple, const MessageView& msg, Allocation& a,
                               const AuthResult& auth, MonoTime now) {
  counters_.Add(Counter::kRefreshRequests);
  // RFC 8656 §7.3: REQUESTED-ADDRESS-FAMILY must match the allocation's family.
  if (auto family = msg.GetFamily(attr::kRequestedAddressFamily)) {
    size_t index = *family == stun::kFamilyIPv6 ? 1 : 0;
    if (a.relays[index].handle == kNoRelay) {
      SendError(tuple, msg, error::kPeerAddressFamilyMismatch, &auth, now);
      return;
    }
  }
  // A refresh extends the allocation up to its duration cap, never past it.
  auto requested = msg.GetU32(attr::kLifetime);
  const bool remove = requested && *requested == 0;
  const uint32_t lifetime = remove ? 0 : SetExpiry(a, ClampLifetime(requested), now);
  MessageBuilder b = StartResponse(msg, true);
  b.AddU32(attr::kLifetime, lifetime);
  FinishAndSend(tuple, msg, b, &auth, now);
  if (remove) {
    CV_INFO("allocation.ended", "alloc=%llx user=%s session=%s reason=client",
            static_cast<unsigned long long>(a.id), log::Quote(a.user()).c_str(),
            log::Quote(a.entitlement.session).c_str());
    DeleteAllocation(a, Counter::kAllocationsDeleted);
    return;
  }
  Schedule(a, now);
}

void TurnServer::HandleCreatePermission(const FiveTuple& tuple, const MessageView& msg,
                                        Allocation& a, const AuthResult& auth, MonoTime now) {
  counters_.Add(Counter::kPermissionRequests);
  // RFC 8656 §9.2: every XOR-PEER-ADDRESS must be acceptable, or none is installed.
  IpAddress peers[16];
  size_t count = 0;
  for (const stun::Attribute& at : msg.attributes()) {
    if (at.type != attr::kXorPeerAddress) continue;
    auto peer = msg.DecodeXorAddress(at);
    if (!peer || count == std::size(peers)) {
      SendError(tuple, msg, error::kBadRequest, &auth, now);
      return;
    }
    if (uint16_t code = PeerError(a, peer->ip); code != 0) {
      SendError(tuple, msg, code, &auth, now);
      return;
    }
    peers[count++] = peer->ip;
  }
  if (count == 0) {
    SendError(tuple, msg, error::kBadRequest, &auth, now);
    return;
  }
  size_t new_ones = 0;
  for (size_t i = 0; i < count; ++i) {
    if (a.FindPermission(peers[i], now) == nullptr) ++new_ones;
  }
  a.Sweep(now);
  if (a.permissions.size() + new_ones > config_.max_permissions) {
    SendError(tuple, msg, error::kInsufficientCapacity, &auth, now);
    return;
  }
  MonoTime expires = now + seconds(config_.permission_lifetime_s);
  for (size_t i = 0; i < count; ++i) {
    if (Permission* p = a.FindPermission(peers[i], now)) {
      p->expires = expires;
    } else {
      a.permissions.push_back({peers[i], expires});
      NotePeer(a, peers[i]);
    }
  }
  Schedule(a, now);
  MessageBuilder b = StartResponse(msg, true);
  FinishAndSend(tuple, msg, b, &auth, now);
}

void TurnServer::HandleChannelBind(const FiveTuple& tuple, const MessageView& msg, Allocation& a,
                                   const AuthResult& auth, MonoTime now) {
  counters_.Add(Counter::kChannelBindRequests);
  // RFC 6062: a TCP allocation relays over peer data connections only; it has no channels.
  if (a.tcp) {
    SendError(tuple, msg, error::kBadRequest, &auth, now);
    return;
  }
  // RFC 8656 §12.2.
  auto number = msg.GetChannelNumber();
  auto peer = msg.GetXorAddress(attr::kXorPeerAddress);
  if (!number || !peer || *number < stun::kMinChannel || *number > stun::kMaxChannel) {
    CV_DEBUG("channel_bind.refused", "alloc=%llx channel=%#x peer=%s",
             static_cast<unsigned long long>(a.id), number.value_or(0),
             peer ? peer->ToString().c_str() : "none");
    SendError(tuple, msg, error::kBadRequest, &auth, now);
    return;
  }
  if (uint16_t code = PeerError(a, peer->ip); code != 0) {
    SendError(tuple, msg, code, &auth, now);
    return;
  }
  // A channel is bound to one peer and a peer to one channel; rebinding the same pair refreshes.
  ChannelBinding* by_number = a.FindChannel(*number, now);
  ChannelBinding* by_peer = a.FindChannelByPeer(*peer, now);
  if ((by_number && !(by_number->peer == *peer)) || (by_peer && by_peer->number != *number)) {
    SendError(tuple, msg, error::kBadRequest, &auth, now);
    return;
  }
  a.Sweep(now);
  bool new_permission = a.FindPermission(peer->ip, now) == nullptr;
  if ((!by_number && a.channels.size() >= config_.max_channels) ||
      (new_permission && a.permissions.size() >= config_.max_permissions)) {
    SendError(tuple, msg, error::kInsufficientCapacity, &auth, now);
    return;
  }
  MonoTime channel_expires = now + seconds(config_.channel_lifetime_s);
  if (by_number) {
    by_number->expires = channel_expires;
  } else {
    a.channels.push_back({*number, *peer, channel_expires});
  }
  // The binding also installs or refreshes the permission for the peer's IP.
  MonoTime permission_expires = now + seconds(config_.permission_lifetime_s);
  if (Permission* p = a.FindPermission(peer->ip, now)) {
    p->expires = std::max(p->expires, permission_expires);
  } else {
    a.permissions.push_back({peer->ip, permission_expires});
    NotePeer(a, peer->ip);
  }
  Schedule(a, now);
  MessageBuilder b = StartResponse(msg, true);
  FinishAndSend(tuple, msg, b, &auth, now);
}

// ---------------------------------------------------------------------------------------------
// RFC 6062: TCP allocations

void TurnServer::HandleConnect(const FiveTuple& tuple, const MessageView& msg, Allocation& a,
                               const AuthResult& auth, MonoTime now) {
  counters_.Add(Counter::kTcpConnectRequests);
  // RFC 6062 §5.2. Only a TCP allocation has a relayed address to connect from.
  if (!a.tcp) {
    SendError(tuple, msg, error::kBadRequest, &auth, now);
    return;
  }
  // No or an invalid XOR-PEER-ADDRESS (a TCP peer needs a port) → 400.
  auto peer = msg.GetXorAddress(attr::kXorPeerAddress);
  if (!peer || peer->port == 0) {
    SendError(tuple, msg, error::kBadRequest, &auth, now);
    return;
  }
  // Forbidden by local policy → 403 (the same address policy as everywhere); no relay of the
  // peer's family → 443.
  if (uint16_t code = PeerError(a, peer->ip); code != 0) {
    SendError(tuple, msg, code, &auth, now);
    return;
  }
  // A Connect to this peer in progress, or its connection pending or bound → 446. A copy of the
  // Connect in progress (its transaction id) is left to the answer that is coming.
  if (const TcpConnection* c = a.FindTcpConnectionByPeer(*peer)) {
    if (c->state == TcpConnection::State::kConnecting && c->transaction == msg.transaction_id()) {
      counters_.Add(Counter::kRetransmissions);
      return;
    }
    SendError(tuple, msg, error::kConnectionAlreadyExists, &auth, now);
    return;
  }
  if (a.tcp_connections.size() >= config_.max_tcp_connections) {
    SendError(tuple, msg, error::kInsufficientCapacity, &auth, now);
    return;
  }
  // RFC 6062 asks for no permission before a Connect and installs none: the peer can only answer
  // on this connection. Passive connections from the peer still need one (§5.3).
  const uint32_t id = callbacks_.ConnectPeer(a, *peer);
  if (id == 0 || tcp_owners_.count(id) != 0) {
    if (id != 0) {
      // The net layer reused a live id: an invariant broken below us.
      assert(false && "ConnectPeer returned a connection id in use");
      CV_ERROR("tcp.connect_id_reused", "alloc=%llx id=%u", static_cast<unsigned long long>(a.id),
               id);
    }
    counters_.Add(Counter::kTcpConnectFailed);
    SendError(tuple, msg, error::kConnectionTimeoutOrFailure, &auth, now);
    return;
  }
  // The answer waits for OnPeerConnected or the timeout (RFC 6062 §5.2: at least 30 s).
  TcpConnection& c = a.tcp_connections.emplace_back();
  c.id = id;
  c.peer = *peer;
  c.state = TcpConnection::State::kConnecting;
  c.deadline = now + seconds(config_.tcp_connect_timeout_s);
  c.transaction = msg.transaction_id();
  c.sha256 = auth.sha256;
  c.fingerprint = msg.has_fingerprint();
  tcp_owners_.emplace(id, &a);
  NotePeer(a, peer->ip);
  Schedule(a, now);
  CV_DEBUG("tcp.connect", "alloc=%llx id=%u peer=%s", static_cast<unsigned long long>(a.id), id,
           peer->ToString().c_str());
}

void TurnServer::AnswerConnect(Allocation& a, const TcpConnection& c, uint16_t error,
                               MonoTime now) {
  MessageBuilder b(out_);
  b.Start(Method::kConnect,
          error == 0 ? MessageClass::kSuccessResponse : MessageClass::kErrorResponse,
          c.transaction);
  if (error == 0) {
    // RFC 6062 §5.2: the success response carries the CONNECTION-ID of the peer data connection.
    b.AddU32(attr::kConnectionId, c.id);
  } else {
    counters_.Add(Counter::kErrorResponses);
    b.AddErrorCode(error, ReasonPhrase(error));
  }
  // Signed with the allocation's key, as the Connect was.
  AuthResult auth;
  auth.key = a.key;
  auth.sha256 = c.sha256;
  FinishAndSend(a.tuple, c.transaction, c.fingerprint, b, &auth, now);
}

void TurnServer::OnPeerConnected(uint32_t id, bool ok, MonoTime now) {
  Allocation* a = TcpOwner(id);
  if (a == nullptr) return;  // timed out, or its allocation ended: already answered or moot
  TcpConnection* c = a->FindTcpConnection(id);
  if (c == nullptr || c->state != TcpConnection::State::kConnecting) return;
  if (!ok) {
    // RFC 6062 §5.2: the connection attempt failed → 447. The net layer has released the id.
    counters_.Add(Counter::kTcpConnectFailed);
    const TcpConnection failed = *c;
    ForgetTcpConnection(*a, id);
    AnswerConnect(*a, failed, error::kConnectionTimeoutOrFailure, now);
    return;
  }
  // Now a peer data connection. The client must bind it within the bind timeout (RFC 6062 §5.2,
  // 30 s) or it is closed.
  c->state = TcpConnection::State::kPendingBind;
  c->deadline = now + seconds(config_.tcp_bind_timeout_s);
  AnswerConnect(*a, *c, 0, now);
  Schedule(*a, now);
}

bool TurnServer::OnPeerAccepted(Allocation* a, uint32_t id, const SocketAddress& peer,
                                MonoTime now) {
  if (a == nullptr || a->deleted || !a->tcp || id == 0 || tcp_owners_.count(id) != 0) {
    counters_.Add(Counter::kTcpPeerRefused);
    return false;
  }
  // RFC 6062 §5.3: no permission for the peer's IP → the connection is closed at once. The
  // address policy applies too, whatever the permissions say.
  const char* refusal = nullptr;
  if (PeerError(*a, peer.ip) != 0) {
    refusal = "policy";
  } else if (a->FindPermission(peer.ip, now) == nullptr) {
    refusal = "no_permission";
  } else if (a->tcp_connections.size() >= config_.max_tcp_connections) {
    refusal = "full";
  }
  if (refusal != nullptr) {
    counters_.Add(Counter::kTcpPeerRefused);
    CV_DEBUG("tcp.peer_refused", "alloc=%llx peer=%s reason=%s",
             static_cast<unsigned long long>(a->id), peer.ToString().c_str(), refusal);
    return false;
  }
  TcpConnection& c = a->tcp_connections.emplace_back();
  c.id = id;
  c.peer = peer;
  c.state = TcpConnection::State::kPendingBind;
  c.deadline = now + seconds(config_.tcp_bind_timeout_s);  // RFC 6062 §5.3: 30 s to bind
  tcp_owners_.emplace(id, a);
  counters_.Add(Counter::kTcpPeerAccepted);
  // A ConnectionAttempt indication on the control connection, with XOR-PEER-ADDRESS and the
  // CONNECTION-ID to bind.
  MessageBuilder b(out_);
  b.Start(Method::kConnectionAttempt, MessageClass::kIndication,
          IndicationId(a->id, ++indication_seq_));
  b.AddXorAddress(attr::kXorPeerAddress, peer);
  b.AddU32(attr::kConnectionId, id);
  if (config_.fingerprint) b.AddFingerprint();
  if (b.ok()) callbacks_.SendToClient(a->tuple, b.Finish());
  Schedule(*a, now);
  return true;
}

void TurnServer::HandleConnectionBind(const FiveTuple& tuple, const MessageView& msg,
                                      MonoTime now) {
  // RFC 6062 §5.4: over TCP or TLS only → else 400 (before anything else, and no state).
  if (!IsStream(tuple.transport)) {
    counters_.Add(Counter::kConnectionBindFailed);
    SendError(tuple, msg, error::kBadRequest, nullptr, now);
    return;
  }
  // The owner of the CONNECTION-ID decides whose credentials authenticate the request. The RFC
  // has the client use the control connection's credentials (§4.3, §4.4) without making the
  // server check it; this server does: a guessed or leaked connection id must not let another
  // user take over someone's peer connection. A different USERNAME → 441. Without an owner
  // (unknown id) the credentials are checked as for a new allocation, and the answer is 400.
  const std::optional<uint32_t> id = msg.GetU32(attr::kConnectionId);
  Allocation* owner = id ? TcpOwner(*id) : nullptr;
  AuthResult auth;
  if (!Authenticate(tuple, msg, owner, now, &auth)) {
    if (owner != nullptr && msg.GetString(attr::kUsername) != owner->username) {
      counters_.Add(Counter::kConnectionBindFailed);  // 441 (or 438 first)
    }
    return;
  }
  // The CONNECTION-ID must name a connection pending bind (§5.4) → else 400. And the connection
  // must be a new one: neither a control connection (it has an allocation) nor bound already.
  TcpConnection* c = owner != nullptr ? owner->FindTcpConnection(*id) : nullptr;
  const char* refusal = c == nullptr                                    ? "unknown_id"
                        : c->state == TcpConnection::State::kConnecting ? "not_connected"
                        : c->state == TcpConnection::State::kBound      ? "bound"
                        : allocations_.count(tuple) != 0                ? "control_connection"
                        : data_connections_.count(tuple) != 0           ? "data_connection"
                                                                        : nullptr;
  if (refusal != nullptr) {
    counters_.Add(Counter::kConnectionBindFailed);
    CV_DEBUG("connection_bind.refused", "client=%s id=%u reason=%s",
             tuple.client.ToString().c_str(), id.value_or(0), refusal);
    SendError(tuple, msg, error::kBadRequest, &auth, now);
    return;
  }
  // Success: this connection is now the client data connection of `c`; the net layer pipes
  // the two from here on.
  c->state = TcpConnection::State::kBound;
  c->data = tuple;
  data_connections_.emplace(tuple, c->id);
  counters_.Add(Counter::kConnectionBindOk);
  MessageBuilder b = StartResponse(msg, true);
  FinishAndSend(tuple, msg, b, &auth, now);
  CV_DEBUG("connection_bind.ok", "alloc=%llx id=%u client=%s",
           static_cast<unsigned long long>(owner->id), c->id, tuple.client.ToString().c_str());
  callbacks_.BindPeerConnection(c->id, tuple);
}

void TurnServer::OnPeerConnectionClosed(uint32_t id, MonoTime now) {
  Allocation* a = TcpOwner(id);
  if (a == nullptr) return;
  std::optional<TcpConnection> c = ForgetTcpConnection(*a, id);
  // A Connect still waiting for this connection learns it failed.
  if (c && c->state == TcpConnection::State::kConnecting) {
    counters_.Add(Counter::kTcpConnectFailed);
    AnswerConnect(*a, *c, error::kConnectionTimeoutOrFailure, now);
  }
}

void TurnServer::OnTcpRelayed(uint32_t id, size_t bytes, bool to_peer, MonoTime now) {
  Allocation* a = TcpOwner(id);
  if (a == nullptr) return;
  // The bytes have already moved: the bandwidth cap cannot drop part of a TCP stream. Holding a
  // stream to the cap takes pausing reads in the net layer; here they are only counted.
  if (to_peer) {
    Meter(*a, a->traffic.packets_to_peer, a->traffic.bytes_to_peer, Counter::kClientToPeerPackets,
          Counter::kClientToPeerBytes, bytes, now);
  } else {
    Meter(*a, a->traffic.packets_to_client, a->traffic.bytes_to_client,
          Counter::kPeerToClientPackets, Counter::kPeerToClientBytes, bytes, now);
  }
}

void TurnServer::OnClientClosed(const FiveTuple& tuple, MonoTime /*now*/) {
  if (auto it = allocations_.find(tuple); it != allocations_.end()) {
    // The control connection: the allocation's 5-tuple is gone, so is the allocation (and with
    // it every peer connection).
    Allocation& a = *it->second;
    CV_INFO("allocation.ended", "alloc=%llx user=%s session=%s reason=connection_closed",
            static_cast<unsigned long long>(a.id), log::Quote(a.user()).c_str(),
            log::Quote(a.entitlement.session).c_str());
    DeleteAllocation(a, Counter::kEndedConnectionClosed);
    return;
  }
  auto it = data_connections_.find(tuple);
  if (it == data_connections_.end()) return;
  // A client data connection: its peer connection goes with it.
  const uint32_t id = it->second;
  if (Allocation* a = TcpOwner(id)) ForgetTcpConnection(*a, id);
  data_connections_.erase(tuple);
  callbacks_.ClosePeerConnection(id);
}

bool TurnServer::IsAuthenticated(const FiveTuple& tuple) const {
  return allocations_.count(tuple) != 0 || data_connections_.count(tuple) != 0;
}

Allocation* TurnServer::TcpOwner(uint32_t id) const {
  auto it = tcp_owners_.find(id);
  return it == tcp_owners_.end() ? nullptr : it->second;
}

std::optional<TcpConnection> TurnServer::ForgetTcpConnection(Allocation& a, uint32_t id) {
  tcp_owners_.erase(id);
  auto it = std::find_if(a.tcp_connections.begin(), a.tcp_connections.end(),
                         [id](const TcpConnection& c) { return c.id == id; });
  if (it == a.tcp_connections.end()) return std::nullopt;
  TcpConnection c = *it;
  a.tcp_connections.erase(it);
  if (c.state == TcpConnection::State::kBound) data_connections_.erase(c.data);
  return c;
}

void TurnServer::ExpireTcpConnections(Allocation& a, MonoTime now) {
  // Few connections per allocation, and only when the allocation's timer fires: a scan will do.
  std::vector<TcpConnection> due;
  for (const TcpConnection& c : a.tcp_connections) {
    if (c.state != TcpConnection::State::kBound && c.deadline <= now) due.push_back(c);
  }
  for (const TcpConnection& c : due) ForgetTcpConnection(a, c.id);
  for (const TcpConnection& c : due) {
    if (c.state == TcpConnection::State::kConnecting) {
      // RFC 6062 §5.2: the connection attempt timed out → 447.
      counters_.Add(Counter::kTcpConnectFailed);
      AnswerConnect(a, c, error::kConnectionTimeoutOrFailure, now);
    } else {
      // RFC 6062 §5.2/§5.3: no ConnectionBind in time → the peer data connection is closed.
      counters_.Add(Counter::kTcpBindTimeouts);
      CV_DEBUG("tcp.bind_timeout", "alloc=%llx id=%u peer=%s",
               static_cast<unsigned long long>(a.id), c.id, c.peer.ToString().c_str());
    }
    callbacks_.ClosePeerConnection(c.id);
  }
}

void TurnServer::CloseTcpConnections(Allocation& a) {
  // Forgotten first, so whatever the net layer reports about them afterwards is ignored.
  std::vector<TcpConnection> all = std::move(a.tcp_connections);
  a.tcp_connections.clear();
  for (const TcpConnection& c : all) {
    tcp_owners_.erase(c.id);
    if (c.state == TcpConnection::State::kBound) data_connections_.erase(c.data);
  }
  for (const TcpConnection& c : all) callbacks_.ClosePeerConnection(c.id);
}

// ---------------------------------------------------------------------------------------------
// Data from the client

void TurnServer::HandleSend(const FiveTuple& tuple, const MessageView& msg, MonoTime now) {
  counters_.Add(Counter::kSendIndications);
  // RFC 8656 §11.2: indications are never answered; anything wrong drops the packet.
  uint16_t unknown[1];
  if (msg.UnknownRequired(kKnownAttributes, unknown, 1) > 0) {
    counters_.Add(Counter::kDropMalformed);
    return;
  }
  auto it = allocations_.find(tuple);
  if (it == allocations_.end()) {
    counters_.Add(Counter::kDropNoAllocation);
    return;
  }
  Allocation& a = *it->second;
  if (a.tcp) {
    // RFC 6062: data to a TCP allocation's peers goes over a data connection, never in Send.
    counters_.Add(Counter::kDropSendOnTcpAllocation);
    return;
  }
  auto peer = msg.GetXorAddress(attr::kXorPeerAddress);
  auto data = msg.FindValue(attr::kData);
  if (!peer || !data) {
    counters_.Add(Counter::kDropMalformed);
    return;
  }
  const Relay* relay = a.RelayFor(peer->ip);
  if (relay == nullptr || a.FindPermission(peer->ip, now) == nullptr) {
    counters_.Add(Counter::kDropNoPermission);
    return;
  }
  if (!PeerAllowed(peer->ip)) {
    counters_.Add(Counter::kDropPeerPolicy);
    return;
  }
  if (!AdmitToPeer(a, data->size(), now)) return;
  callbacks_.SendToPeer(*relay, *peer, *data);
}

void TurnServer::HandleChannelData(const FiveTuple& tuple, std::span<const uint8_t> data,
                                   MonoTime now) {
  auto frame = stun::ParseChannelData(data);
  if (!frame) {
    counters_.Add(Counter::kDropMalformed);
    return;
  }
  auto it = allocations_.find(tuple);
  if (it == allocations_.end()) {
    counters_.Add(Counter::kDropNoAllocation);
    return;
  }
  Allocation& a = *it->second;
  ChannelBinding* ch = a.FindChannel(frame->channel, now);
  if (ch == nullptr) {
    counters_.Add(Counter::kDropNoChannel);
    return;
  }
  const Relay* relay = a.RelayFor(ch->peer.ip);
  if (relay == nullptr) {
    counters_.Add(Counter::kDropNoChannel);
    return;
  }
  if (!PeerAllowed(ch->peer.ip)) {
    counters_.Add(Counter::kDropPeerPolicy);
    return;
  }
  if (!AdmitToPeer(a, frame->data.size(), now)) return;
  callbacks_.SendToPeer(*relay, ch->peer, frame->data);
}

// ---------------------------------------------------------------------------------------------
// Authentication

bool TurnServer::Authenticate(const FiveTuple& tuple, const MessageView& msg,
                              const Allocation* existing, MonoTime now, AuthResult* out) {
  // RFC 8489 §9.2.4. No MESSAGE-INTEGRITY: challenge with REALM and a fresh NONCE, keep no state.
  if (!msg.has_message_integrity() && !msg.has_message_integrity_sha256()) {
    counters_.Add(Counter::kChallenges);
    SendChallenge(tuple, msg, error::kUnauthenticated, now);
    return false;
  }
  auto username = msg.GetString(attr::kUsername);
  auto realm = msg.GetString(attr::kRealm);
  auto nonce = msg.GetString(attr::kNonce);
  if (!username || !realm || !nonce) {
    counters_.Add(Counter::kAuthMalformed);
    SendError(tuple, msg, error::kBadRequest, nullptr, now);
    return false;
  }
  const int64_t unix_now = clock_.UnixNow();
  switch (nonces_.Verify(*nonce, NonceAddress(tuple), unix_now)) {
    case NonceCheck::kValid:
      break;
    case NonceCheck::kStale:
      counters_.Add(Counter::kAuthStaleNonce);
      SendChallenge(tuple, msg, error::kStaleNonce, now);
      return false;
    case NonceCheck::kForged:
      counters_.Add(Counter::kAuthForgedNonce);
      SendChallenge(tuple, msg, error::kStaleNonce, now);
      return false;
  }
  out->sha256 = msg.has_message_integrity_sha256();

  if (existing != nullptr) {
    // RFC 8656 §5: requests on an allocation must use the credentials that created it.
    if (*username != existing->username) {
      counters_.Add(Counter::kWrongCredentials);
      SendError(tuple, msg, error::kWrongCredentials, nullptr, now);
      return false;
    }
    if (!msg.VerifyIntegrity(existing->key.bytes)) {
      counters_.Add(Counter::kAuthBadIntegrity);
      SendChallenge(tuple, msg, error::kUnauthenticated, now);
      return false;
    }
    out->key = existing->key;
    counters_.Add(Counter::kAuthOk);
    return true;
  }

  const auth::Authenticator* authenticator = authenticator_.get();
  if (authenticator == nullptr) {
    // STUN only: no credentials are configured, so nobody may allocate.
    counters_.Add(Counter::kAuthUnknownUser);
    SendChallenge(tuple, msg, error::kUnauthenticated, now);
    return false;
  }
  // A source or user banned after repeated failures learns nothing more: 403 before any check.
  const std::string claimed = authenticator->ClaimedUser(*username);
  if (LimitScope ban = limits_.Banned(tuple.client.ip, claimed, now); ban != LimitScope::kNone) {
    counters_.Add(ban == LimitScope::kSource ? Counter::kAuthBannedSource
                                             : Counter::kAuthBannedUser);
    SendError(tuple, msg, error::kForbidden, nullptr, now);
    return false;
  }
  auth::Candidates candidates;
  const auth::LookupStatus status = authenticator->Lookup(*username, unix_now, &candidates);
  if (status != auth::LookupStatus::kOk) {
    switch (status) {
      case auth::LookupStatus::kExpired:
        counters_.Add(Counter::kAuthExpired);
        break;
      case auth::LookupStatus::kMalformed:
        counters_.Add(Counter::kAuthMalformed);
        break;
      case auth::LookupStatus::kUnknownKey:
        counters_.Add(Counter::kAuthUnknownKey);
        RecordAuthFailure(tuple, claimed, now);
        break;
      default:
        counters_.Add(Counter::kAuthUnknownUser);
        RecordAuthFailure(tuple, claimed, now);
        break;
    }
    CV_INFO("auth.refused", "reason=%s user=%s client=%s", auth::LookupStatusName(status),
            log::Quote(*username).c_str(), tuple.client.ToString().c_str());
    SendChallenge(tuple, msg, error::kUnauthenticated, now);
    return false;
  }
  size_t match = candidates.count;
  for (size_t i = 0; i < candidates.count; ++i) {
    if (msg.VerifyIntegrity(candidates.keys[i].bytes)) {
      match = i;
      break;
    }
  }
  if (match == candidates.count) {
    counters_.Add(Counter::kAuthBadIntegrity);
    CV_INFO("auth.refused", "reason=integrity user=%s client=%s", log::Quote(*username).c_str(),
            tuple.client.ToString().c_str());
    RecordAuthFailure(tuple, claimed, now);
    SendChallenge(tuple, msg, error::kUnauthenticated, now);
    return false;
  }
  out->key = candidates.keys[match];
  auth::Grant grant = authenticator->Authorize(*username, match, unix_now);
  if (!grant.allowed()) {
    // The credential is genuine but its plan may not relay (or claimless ones are refused):
    // 403, answered with integrity so the client knows it is final.
    counters_.Add(grant.refusal == auth::Refusal::kPlanMayNotRelay ? Counter::kAuthPlanRefused
                  : grant.refusal == auth::Refusal::kClaimlessRefused
                      ? Counter::kAuthClaimlessRefused
                      : Counter::kAuthForbidden);
    CV_INFO("auth.refused", "reason=%s plan=%s user=%s client=%s", auth::RefusalName(grant.refusal),
            log::Quote(grant.entitlement.plan).c_str(), log::Quote(*username).c_str(),
            tuple.client.ToString().c_str());
    SendError(tuple, msg, error::kForbidden, out, now);
    return false;
  }
  out->entitlement = std::move(grant.entitlement);
  if (!Admit(tuple, msg, *out, now)) return false;
  counters_.Add(Counter::kAuthOk);
  return true;
}

bool TurnServer::Admit(const FiveTuple& tuple, const MessageView& msg, const AuthResult& auth,
                       MonoTime now) {
  if (!revocations_.Revoked(auth.entitlement, clock_.UnixNow())) return true;
  counters_.Add(Counter::kAuthRevoked);
  CV_INFO("auth.refused", "reason=revoked user=%s session=%s client=%s",
          log::Quote(auth.entitlement.user).c_str(), log::Quote(auth.entitlement.session).c_str(),
          tuple.client.ToString().c_str());
  SendError(tuple, msg, error::kForbidden, &auth, now);
  return false;
}

void TurnServer::RecordAuthFailure(const FiveTuple& tuple, std::string_view claimed, MonoTime now) {
  LimitScope banned = limits_.RecordAuthFailure(tuple.client.ip, claimed, now);
  if (banned == LimitScope::kNone) return;
  counters_.Add(Counter::kAuthBansImposed);
  CV_WARN("auth.banned", "scope=%s user=%s client=%s",
          banned == LimitScope::kSource ? "source" : "user", log::Quote(claimed).c_str(),
          tuple.client.ToString().c_str());
}

// ---------------------------------------------------------------------------------------------
// Responses

MessageBuilder TurnServer::StartResponse(const MessageView& req, bool success) {
  MessageBuilder b(out_);
  b.Start(req.method(), success ? MessageClass::kSuccessResponse : MessageClass::kErrorResponse,
          req.transaction_id());
  return b;
}

void TurnServer::FinishAndSend(const FiveTuple& tuple, const MessageView& req, MessageBuilder& b,
                               const AuthResult* auth, MonoTime now) {
  FinishAndSend(tuple, req.transaction_id(), req.has_fingerprint(), b, auth, now);
}

void TurnServer::FinishAndSend(const FiveTuple& tuple, const stun::TransactionId& id,
                               bool fingerprint, MessageBuilder& b, const AuthResult* auth,
                               MonoTime now) {
  if (auth != nullptr) {
    if (config_.software) b.AddString(attr::kSoftware, config_.software_name);
    if (auth->sha256) {
      b.AddMessageIntegritySha256(auth->key.bytes);
    } else {
      b.AddMessageIntegrity(auth->key.bytes);
    }
  }
  if (fingerprint || config_.fingerprint) b.AddFingerprint();
  if (!b.ok()) {
    CV_ERROR("response.overflow", "client=%s", tuple.client.ToString().c_str());
    return;
  }
  auto bytes = b.Finish();
  if (auth != nullptr) transactions_.Store(tuple, id, bytes, now);
  callbacks_.SendToClient(tuple, bytes);
}

void TurnServer::SendError(const FiveTuple& tuple, const MessageView& req, uint16_t code,
                           const AuthResult* auth, MonoTime now) {
  if (auth == nullptr && !AllowUnauthenticated(tuple, now)) return;
  counters_.Add(Counter::kErrorResponses);
  MessageBuilder b = StartResponse(req, false);
  // Reason phrases only for authenticated clients: strangers get the smallest possible reply.
  const char* reason = auth != nullptr ? ReasonPhrase(code) : "";
  b.AddErrorCode(code, reason);
  FinishAndSend(tuple, req, b, auth, now);
}

void TurnServer::SendChallenge(const FiveTuple& tuple, const MessageView& req, uint16_t code,
                               MonoTime now) {
  if (!AllowUnauthenticated(tuple, now)) return;
  counters_.Add(Counter::kErrorResponses);
  const auth::Authenticator* authenticator = authenticator_.get();
  std::string_view realm = authenticator != nullptr ? authenticator->realm() : std::string_view();
  auto nonce = nonces_.Make(NonceAddress(tuple), clock_.UnixNow());
  MessageBuilder b = StartResponse(req, false);
  b.AddErrorCode(code, "");
  b.AddString(attr::kRealm, realm);
  b.AddString(attr::kNonce, {nonce.data(), nonce.size()});
  FinishAndSend(tuple, req, b, nullptr, now);
}

bool TurnServer::AllowUnauthenticated(const FiveTuple& tuple, MonoTime now) {
  if (unauth_limiter_.Allow(tuple.client.ip, now)) return true;
  counters_.Add(Counter::kDropRateLimited);
  return false;
}

// ---------------------------------------------------------------------------------------------
// Lifetimes

uint32_t TurnServer::ClampLifetime(std::optional<uint32_t> requested) const {
  // RFC 8656 §7.2/§7.3: min(requested, maximum), but never below the default.
  if (!requested) return config_.default_lifetime_s;
  uint32_t v = std::min(*requested, config_.max_lifetime_s);
  return std::max(v, std::min(config_.default_lifetime_s, config_.max_lifetime_s));
}

void TurnServer::Schedule(Allocation& a, MonoTime now) { timers_.Schedule(&a.timer, a.Sweep(now)); }

uint32_t TurnServer::SetExpiry(Allocation& a, uint32_t lifetime_s, MonoTime now) {
  a.expires = std::min(now + seconds(lifetime_s), a.hard_end);
  const auto left = std::chrono::ceil<seconds>(a.expires - now).count();
  return static_cast<uint32_t>(std::max<int64_t>(left, 0));
}

size_t TurnServer::Revoke(RevocationKind kind, std::string_view id, int64_t until) {
  revocations_.Add(kind, id, until, clock_.UnixNow());
  std::vector<Allocation*> doomed;
  for (auto& [tuple, a] : allocations_) {
    if (revocations_.Matches(kind, id, a->entitlement)) doomed.push_back(a.get());
  }
  for (Allocation* a : doomed) {
    CV_INFO("allocation.ended", "alloc=%llx user=%s session=%s reason=revoked",
            static_cast<unsigned long long>(a->id), log::Quote(a->user()).c_str(),
            log::Quote(a->entitlement.session).c_str());
    DeleteAllocation(*a, Counter::kEndedRevoked);
  }
  return doomed.size();
}

bool TurnServer::LiftRevocation(RevocationKind kind, std::string_view id) {
  return revocations_.Lift(kind, id);
}

bool TurnServer::EndAllocation(uint64_t id) {
  for (auto& [tuple, a] : allocations_) {
    if (a->id != id) continue;
    CV_INFO("allocation.ended", "alloc=%llx user=%s session=%s reason=operator",
            static_cast<unsigned long long>(a->id), log::Quote(a->user()).c_str(),
            log::Quote(a->entitlement.session).c_str());
    DeleteAllocation(*a, Counter::kEndedByOperator);
    return true;
  }
  return false;
}

void TurnServer::VisitAllocations(const std::function<void(const Allocation&)>& visit) const {
  for (const auto& [tuple, a] : allocations_) visit(*a);
}

// ---------------------------------------------------------------------------------------------
// Metering

void TurnServer::SetUsageSink(UsageSink* sink, UsageOrigin origin) {
  usage_ = sink;
  origin_ = std::move(origin);
}

auth::UsageRecord TurnServer::Snapshot(const Allocation& a, auth::EndReason reason,
                                       int64_t now_ms) const {
  auth::UsageRecord r;
  r.node = origin_.node;
  r.run = origin_.run;
  r.allocation = a.id;
  r.user = a.entitlement.user;
  r.session = a.entitlement.session;
  r.line = a.entitlement.line;
  r.plan = a.entitlement.plan;
  r.transport = TransportName(a.tuple.transport);
  r.client = a.tuple.client.ToString();
  r.peers.reserve(a.peers_seen.size());
  for (const IpAddress& ip : a.peers_seen) r.peers.push_back(ip.ToString());
  r.start_ms = a.created_unix_ms;
  r.last_ms = std::max(now_ms, a.created_unix_ms);
  r.reason = reason;
  r.relayed_ms = static_cast<uint64_t>(a.traffic.relayed_ms());
  r.bytes_to_peer = a.traffic.bytes_to_peer;
  r.bytes_to_client = a.traffic.bytes_to_client;
  r.packets_to_peer = a.traffic.packets_to_peer;
  r.packets_to_client = a.traffic.packets_to_client;
  return r;
}

void TurnServer::NotePeer(Allocation& a, const IpAddress& peer) {
  if (a.peers_seen.size() >= auth::kMaxRecordPeers) return;
  for (const IpAddress& ip : a.peers_seen) {
    if (ip == peer) return;
  }
  a.peers_seen.push_back(peer);
}

void TurnServer::Checkpoint() {
  if (usage_ == nullptr || allocations_.empty()) return;
  const int64_t now_ms = clock_.UnixNowMs();
  std::vector<auth::UsageRecord> records;
  for (const auto& [tuple, a] : allocations_) {
    const uint64_t activity = a->activity();
    if (activity == a->checkpointed_activity) continue;  // idle: the stored snapshot still holds
    a->checkpointed_activity = activity;
    records.push_back(Snapshot(*a, auth::EndReason::kLive, now_ms));
  }
  if (!records.empty()) usage_->Submit(std::move(records));
}

size_t TurnServer::ApplyStanding(std::string_view user, const auth::Standing& standing,
                                 MonoTime now) {
  const int64_t now_ms = clock_.UnixNowMs();
  std::vector<Allocation*> over_quota, capped;
  for (auto& [tuple, a] : allocations_) {
    if (a->user() != user) continue;
    const auth::UsageVerdict v = auth::Judge(a->entitlement.monthly_relay_minutes,
                                             a->entitlement.abuse_guard, standing, now_ms);
    if (v.quota_exhausted) {
      over_quota.push_back(a.get());
    } else if (v.capped_duration_s != 0) {
      capped.push_back(a.get());
    }
  }
  size_t ended = over_quota.size();
  for (Allocation* a : over_quota) {
    CV_INFO("allocation.ended", "alloc=%llx user=%s session=%s reason=quota",
            static_cast<unsigned long long>(a->id), log::Quote(a->user()).c_str(),
            log::Quote(a->entitlement.session).c_str());
    DeleteAllocation(*a, Counter::kEndedQuota);
  }
  for (Allocation* a : capped) {
    if (CapDuration(*a, standing.guard_capped_s, now)) ++ended;
  }
  return ended;
}

bool TurnServer::CapDuration(Allocation& a, uint32_t max_s, MonoTime now) {
  a.entitlement.max_duration_s = auth::TighterLimit(a.entitlement.max_duration_s, max_s);
  a.hard_end = std::min(a.hard_end, a.created + seconds(max_s));
  if (a.hard_end <= now) {
    CV_INFO("allocation.ended", "alloc=%llx user=%s session=%s reason=duration_cap",
            static_cast<unsigned long long>(a.id), log::Quote(a.user()).c_str(),
            log::Quote(a.entitlement.session).c_str());
    DeleteAllocation(a, Counter::kEndedDurationCap);
    return true;
  }
  a.expires = std::min(a.expires, a.hard_end);
  Schedule(a, now);
  return false;
}

void TurnServer::DeleteAllocation(Allocation& a, Counter reason) {
  auto it = allocations_.find(a.tuple);
  if (it == allocations_.end() || it->second.get() != &a) return;
  timers_.Cancel(&a.timer);
  CloseTcpConnections(a);
  callbacks_.CloseRelays(a);
  for (Relay& r : a.relays) r.handle = kNoRelay;
  a.deleted = true;
  quotas_.Release(a.user(), a.entitlement.session);
  counters_.Add(reason);
  plan_stats_[{a.entitlement.plan, a.tuple.transport}].ended += a.traffic;
  if (usage_ != nullptr) usage_->Submit({Snapshot(a, EndReasonOf(reason), clock_.UnixNowMs())});
  graveyard_.push_back(std::move(it->second));
  allocations_.erase(it);
}

uint16_t TurnServer::PeerError(const Allocation& a, const IpAddress& peer) {
  // The policy speaks first, so a refused peer learns nothing about the allocation.
  if (!PeerAllowed(peer)) return error::kForbidden;
  if (a.RelayFor(peer) == nullptr) return error::kPeerAddressFamilyMismatch;
  return 0;
}

bool TurnServer::AdmitToPeer(Allocation& a, size_t bytes, MonoTime now) {
  return Admit(a, a.cap_to_peer, a.traffic.packets_to_peer, a.traffic.bytes_to_peer,
               Counter::kClientToPeerPackets, Counter::kClientToPeerBytes, bytes, now);
}

bool TurnServer::AdmitToClient(Allocation& a, size_t bytes, MonoTime now) {
  return Admit(a, a.cap_to_client, a.traffic.packets_to_client, a.traffic.bytes_to_client,
               Counter::kPeerToClientPackets, Counter::kPeerToClientBytes, bytes, now);
}

bool TurnServer::Admit(Allocation& a, BandwidthCap& cap, uint64_t& packets, uint64_t& total,
                       Counter packets_counter, Counter bytes_counter, size_t bytes, MonoTime now) {
  if (!cap.Allow(bytes, now)) {
    counters_.Add(Counter::kDropBandwidth);
    return false;
  }
  Meter(a, packets, total, packets_counter, bytes_counter, bytes, now);
  return true;
}

void TurnServer::Meter(Allocation& a, uint64_t& packets, uint64_t& total, Counter packets_counter,
                       Counter bytes_counter, size_t bytes, MonoTime now) {
  packets++;
  total += bytes;
  a.traffic.Touch(now);
  counters_.Add(packets_counter);
  counters_.Add(bytes_counter, bytes);
}

bool TurnServer::PeerAllowed(const IpAddress& peer) {
  PeerVerdict verdict = policy_->Check(peer);
  if (verdict == PeerVerdict::kAllowed) return true;
  counters_.Add(Counter::kPeerDenied);
  CV_DEBUG("peer.denied", "peer=%s reason=%s", peer.ToString().c_str(), PeerVerdictName(verdict));
  return false;
}

}  // namespace cv::turn
