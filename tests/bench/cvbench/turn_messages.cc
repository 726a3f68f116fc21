#include "tests/bench/cvbench/turn_messages.h"

#include <cstring>

#include "relay/stun/constants.h"

namespace cv::bench {

using stun::MessageBuilder;
using stun::MessageClass;
using stun::Method;
namespace attr = stun::attr;

namespace {

void Put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
uint32_t Get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

bool AddAuth(MessageBuilder& b, const LongTermAuth& auth) {
  return b.AddString(attr::kUsername, auth.username) && b.AddString(attr::kRealm, auth.realm) &&
         b.AddString(attr::kNonce, auth.nonce);
}

size_t Done(MessageBuilder& b) { return b.ok() ? b.size() : 0; }

}  // namespace

stun::TransactionId MakeTransactionId(uint32_t owner, uint32_t counter, uint32_t salt) {
  stun::TransactionId id{};
  Put32(id.data(), owner);
  Put32(id.data() + 4, counter);
  Put32(id.data() + 8, salt);
  return id;
}

uint32_t TransactionOwner(const stun::TransactionId& id) { return Get32(id.data()); }
uint32_t TransactionCounter(const stun::TransactionId& id) { return Get32(id.data() + 4); }

size_t BuildAllocate(std::span<uint8_t> out, const stun::TransactionId& id,
                     const LongTermAuth* auth, bool ipv6) {
  MessageBuilder b(out);
  b.Start(Method::kAllocate, MessageClass::kRequest, id);
  b.AddRequestedTransport(stun::kTransportUdp);
  if (ipv6) b.AddFamily(attr::kRequestedAddressFamily, stun::kFamilyIPv6);
  if (auth != nullptr) {
    AddAuth(b, *auth);
    b.AddMessageIntegrity(auth->key->bytes);
  }
  return Done(b);
}

size_t BuildCreatePermission(std::span<uint8_t> out, const stun::TransactionId& id,
                             const SocketAddress& peer, const LongTermAuth& auth) {
  MessageBuilder b(out);
  b.Start(Method::kCreatePermission, MessageClass::kRequest, id);
  b.AddXorAddress(attr::kXorPeerAddress, peer);
  AddAuth(b, auth);
  b.AddMessageIntegrity(auth.key->bytes);
  return Done(b);
}

size_t BuildChannelBind(std::span<uint8_t> out, const stun::TransactionId& id, uint16_t channel,
                        const SocketAddress& peer, const LongTermAuth& auth) {
  MessageBuilder b(out);
  b.Start(Method::kChannelBind, MessageClass::kRequest, id);
  b.AddChannelNumber(channel);
  b.AddXorAddress(attr::kXorPeerAddress, peer);
  AddAuth(b, auth);
  b.AddMessageIntegrity(auth.key->bytes);
  return Done(b);
}

size_t BuildRefresh(std::span<uint8_t> out, const stun::TransactionId& id, uint32_t lifetime,
                    const LongTermAuth& auth) {
  MessageBuilder b(out);
  b.Start(Method::kRefresh, MessageClass::kRequest, id);
  b.AddU32(attr::kLifetime, lifetime);
  AddAuth(b, auth);
  b.AddMessageIntegrity(auth.key->bytes);
  return Done(b);
}

size_t BuildBinding(std::span<uint8_t> out, const stun::TransactionId& id, bool fingerprint) {
  MessageBuilder b(out);
  b.Start(Method::kBinding, MessageClass::kRequest, id);
  if (fingerprint) b.AddFingerprint();
  return Done(b);
}

bool ParseReply(std::span<const uint8_t> datagram, Reply* out) {
  stun::MessageView m;
  if (stun::MessageView::Parse(datagram, &m) != stun::ParseError::kOk) return false;
  if (m.message_class() != MessageClass::kSuccessResponse &&
      m.message_class() != MessageClass::kErrorResponse) {
    return false;
  }
  *out = Reply{};
  out->method = m.method();
  out->message_class = m.message_class();
  out->id = m.transaction_id();
  if (m.message_class() == MessageClass::kErrorResponse) {
    out->error = m.GetErrorCode().value_or(500);
    if (out->error == 0) out->error = 500;
    out->realm = m.GetString(attr::kRealm);
    out->nonce = m.GetString(attr::kNonce);
    return true;
  }
  out->relayed = m.GetXorAddress(attr::kXorRelayedAddress);
  out->mapped = m.GetXorAddress(attr::kXorMappedAddress);
  if (!out->mapped) out->mapped = m.GetAddress(attr::kMappedAddress);
  out->lifetime = m.GetU32(attr::kLifetime);
  return true;
}

std::string Credentials::Username(int64_t expiry, std::string_view phase, uint64_t n) {
  std::string rest = "cvbench-";
  rest.append(phase);
  rest += '-';
  rest += std::to_string(n);
  return auth::MintRestUsername(expiry, rest, ':');
}

const char* ErrorReason(uint16_t code) {
  switch (code) {
    case 300:
      return "Try Alternate";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthenticated";
    case 403:
      return "Forbidden";
    case 420:
      return "Unknown Attribute";
    case 437:
      return "Allocation Mismatch";
    case 438:
      return "Stale Nonce";
    case 440:
      return "Address Family not Supported";
    case 441:
      return "Wrong Credentials";
    case 442:
      return "Unsupported Transport Protocol";
    case 443:
      return "Peer Address Family Mismatch";
    case 486:
      return "Allocation Quota Reached";
    case 500:
      return "Server Error";
    case 508:
      return "Insufficient Capacity";
    default:
      return "error";
  }
}

std::string ErrorHint(std::string_view step, uint16_t code, bool authenticated) {
  std::string s(step);
  s += ": ";
  s += std::to_string(code);
  s += ' ';
  s += ErrorReason(code);
  if (code == 401 && authenticated) {
    s += " after authentication — wrong secret or realm?";
  } else if (code == 401) {
    s += " without REALM and NONCE — not a long-term-credential TURN server?";
  } else if (code == 403 && (step == "CreatePermission" || step == "ChannelBind")) {
    s += " — the server refuses the peer address (cvrelay: allowed-peer-ip=<peer-ip> or "
         "allow-loopback-peers; coturn: allow-loopback-peers)";
  } else if (code == 403) {
    s += " — the credential's plan may not relay, or the source is banned (cvrelay: "
         "claimless-plan, auth-failure-limit)";
  } else if (code == 486) {
    s += " — a quota or allocate rate limit (cvrelay: allocate-rate=0, user-allocate-rate=0, "
         "user-quota, total-quota)";
  } else if (code == 508) {
    s += " — the relay's port range is exhausted (min-port/max-port)";
  } else if (code == 437) {
    s += " — the allocation is gone";
  }
  return s;
}

}  // namespace cv::bench
