#include "tests/support/turn_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>

#include "relay/stun/crypto.h"

namespace cv::testing {

using stun::MessageBuilder;
using stun::MessageClass;
using stun::MessageView;
using stun::Method;
namespace attr = stun::attr;

TurnClient::TurnClient(const SocketAddress& server) : server_(server) {
  fd_ = socket(server.ip.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  txn_ = std::random_device{}();
}

TurnClient::~TurnClient() {
  if (fd_ >= 0) close(fd_);
}

SocketAddress TurnClient::local() const {
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len)
      .value_or(SocketAddress{});
}

std::optional<std::vector<uint8_t>> TurnClient::SendRaw(const std::vector<uint8_t>& bytes,
                                                        int timeout_ms) {
  sockaddr_storage to;
  socklen_t to_len = server_.ToSockaddr(&to);
  sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), to_len);
  return Receive(timeout_ms);
}

std::optional<std::vector<uint8_t>> TurnClient::Receive(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
  std::vector<uint8_t> buf(4096);
  ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
  if (n < 0) return std::nullopt;
  buf.resize(static_cast<size_t>(n));
  return buf;
}

void TurnClient::SendChannelData(uint16_t channel, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> frame(4 + payload.size());
  frame[0] = static_cast<uint8_t>(channel >> 8);
  frame[1] = static_cast<uint8_t>(channel);
  frame[2] = static_cast<uint8_t>(payload.size() >> 8);
  frame[3] = static_cast<uint8_t>(payload.size());
  std::memcpy(frame.data() + 4, payload.data(), payload.size());
  sockaddr_storage to;
  socklen_t to_len = server_.ToSockaddr(&to);
  sendto(fd_, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), to_len);
}

TurnClient::Reply TurnClient::Transact(
    Method method, const std::vector<std::pair<uint16_t, std::vector<uint8_t>>>& attrs,
    bool authenticate) {
  stun::TransactionId id{};
  uint64_t n = ++txn_;
  std::memcpy(id.data(), &n, sizeof(n));
  std::vector<uint8_t> buf(1500);
  MessageBuilder b(buf);
  b.Start(method, MessageClass::kRequest, id);
  for (const auto& [type, value] : attrs) b.AddBytes(type, value);
  if (authenticate) {
    b.AddString(attr::kUsername, username_);
    b.AddString(attr::kRealm, realm_);
    b.AddString(attr::kNonce, nonce_);
    b.AddMessageIntegrity(stun::LongTermKeyMd5(username_, realm_, password_));
  }
  buf.resize(b.size());
  Reply reply;
  reply.error = kNoReply;
  // The answer is the next STUN message with our transaction id; relayed data (ChannelData, Data
  // indications) arriving meanwhile is skipped.
  auto raw = SendRaw(buf);
  MessageView v;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (raw && (MessageView::Parse(*raw, &v) != stun::ParseError::kOk ||
                 v.message_class() == MessageClass::kIndication || v.transaction_id() != id)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return reply;
    raw = Receive(static_cast<int>(left.count()));
  }
  if (!raw) return reply;
  reply.received = true;
  reply.bytes = *raw;
  reply.error = v.GetErrorCode().value_or(0);
  reply.relayed = v.GetXorAddress(attr::kXorRelayedAddress);
  reply.mapped = v.GetXorAddress(attr::kXorMappedAddress);
  reply.lifetime = v.GetU32(attr::kLifetime);
  if (auto token = v.FindValue(attr::kReservationToken); token && token->size() == 8) {
    uint64_t t;  // opaque 8 bytes; read as the relay wrote them
    std::memcpy(&t, token->data(), sizeof(t));
    reply.reservation_token = t;
  }
  if (auto realm = v.GetString(attr::kRealm)) realm_ = std::string(*realm);
  if (auto nonce = v.GetString(attr::kNonce)) nonce_ = std::string(*nonce);
  return reply;
}

TurnClient::Reply TurnClient::Binding() { return Transact(Method::kBinding, {}, false); }

TurnClient::Reply TurnClient::Allocate(const std::string& username, const std::string& password,
                                       bool reserve_next) {
  username_ = username;
  password_ = password;
  std::vector<std::pair<uint16_t, std::vector<uint8_t>>> attrs = {
      {attr::kRequestedTransport, {stun::kTransportUdp, 0, 0, 0}}};
  if (reserve_next) attrs.push_back({attr::kEvenPort, {0x80}});
  Reply first = Transact(Method::kAllocate, attrs, false);
  if (!first.received || first.error != 401) return first;
  Reply second = Transact(Method::kAllocate, attrs, true);
  if (second.error == 438) second = Transact(Method::kAllocate, attrs, true);
  return second;
}

TurnClient::Reply TurnClient::Refresh(uint32_t lifetime) {
  std::vector<uint8_t> v = {static_cast<uint8_t>(lifetime >> 24),
                            static_cast<uint8_t>(lifetime >> 16),
                            static_cast<uint8_t>(lifetime >> 8), static_cast<uint8_t>(lifetime)};
  return Transact(Method::kRefresh, {{attr::kLifetime, v}}, true);
}

namespace {
std::vector<uint8_t> XorPeer(const SocketAddress& peer) {
  uint8_t buf[64];
  MessageBuilder b(buf);
  b.Start(Method::kBinding, MessageClass::kRequest, stun::TransactionId{});
  b.AddXorAddress(attr::kXorPeerAddress, peer);
  // The attribute value follows the 20-byte header and the 4-byte attribute header.
  return std::vector<uint8_t>(buf + 24, buf + b.size());
}
}  // namespace

TurnClient::Reply TurnClient::CreatePermission(const SocketAddress& peer) {
  return Transact(Method::kCreatePermission, {{attr::kXorPeerAddress, XorPeer(peer)}}, true);
}

TurnClient::Reply TurnClient::ChannelBind(uint16_t channel, const SocketAddress& peer) {
  std::vector<uint8_t> number = {static_cast<uint8_t>(channel >> 8), static_cast<uint8_t>(channel),
                                 0, 0};
  return Transact(Method::kChannelBind,
                  {{attr::kChannelNumber, number}, {attr::kXorPeerAddress, XorPeer(peer)}}, true);
}

}  // namespace cv::testing
