#include "relay/net/worker.h"

#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "relay/common/log.h"
#include "relay/net/socket.h"
#include "relay/stun/constants.h"

namespace cv::net {
namespace {

constexpr Duration kTick = milliseconds(250);

}  // namespace

Worker::Worker(uint32_t id, WorkerShared& shared, std::shared_ptr<const auth::Authenticator> auth)
    : id_(id),
      shared_(shared),
      rx_(std::make_unique<RxSlot[]>(kBatch)),
      tx_(std::make_unique<TxSlot[]>(kTxSlots)),
      next_tick_(shared.clock->Now()),
      next_checkpoint_(shared.clock->Now() + shared.checkpoint),
      tls_(shared.tls),
      next_sweep_(shared.clock->Now()) {
  turn_ = std::make_unique<turn::TurnServer>(shared.turn, *shared.clock, *this, *shared.quotas,
                                             *shared.limits, shared.policy, std::move(auth),
                                             shared.nonce_key, shared.nonce_lifetime_s, id);
  if (shared.usage != nullptr) turn_->SetUsageSink(shared.usage, shared.usage_origin);
}

Worker::~Worker() {
  turn_.reset();  // deletes allocations, which calls CloseRelays() on this still-whole object
  for (auto& c : conns_) {
    if (c->counted) shared_.unauth->Release(c->tuple.client.ip);
  }
  conns_.clear();  // StreamConn closes its socket
  for (auto& d : dtls_) {
    if (d && d->counted) shared_.unauth->Release(d->tuple.client.ip);
  }
  for (auto& l : stream_listeners_) close(l->fd);
  for (auto& l : dtls_listeners_) close(l->fd);
  for (auto& l : listeners_) close(l->fd);
  for (auto& r : relays_) {
    if (r->fd >= 0) close(r->fd);
  }
}

bool Worker::Open(std::string* error) {
  UdpSocketOptions options;
  options.reuse_port = true;
  options.receive_buffer = shared_.listener_buffer_bytes;
  options.send_buffer = shared_.listener_buffer_bytes;
  for (const SocketAddress& address : shared_.listeners) {
    int fd = OpenUdpSocket(address, options, error);
    if (fd < 0) return false;
    auto listener = std::make_unique<Listener>();
    listener->worker = this;
    listener->fd = fd;
    listener->id = static_cast<uint32_t>(listeners_.size());
    listener->local = LocalAddress(fd);
    if (!loop_.Add(fd, EPOLLIN, listener.get())) {
      *error = "epoll_ctl: " + std::string(strerror(errno));
      close(fd);
      return false;
    }
    listeners_.push_back(std::move(listener));
  }
  return OpenStreams(error) && loop_.ok();
}

std::vector<SocketAddress> Worker::listening_addresses() const {
  std::vector<SocketAddress> out;
  for (const auto& l : listeners_) out.push_back(l->local);
  return out;
}

void Worker::Run() {
  loop_.Run(kTick, [this] { AfterBatch(); });
  FlushSends();
}

void Worker::SetAuthenticator(std::shared_ptr<const auth::Authenticator> auth) {
  loop_.Post(
      [this, auth = std::move(auth)]() mutable { turn_->SetAuthenticator(std::move(auth)); });
}

void Worker::SetTls(std::shared_ptr<const TlsContexts> tls) {
  loop_.Post([this, tls = std::move(tls)]() mutable { tls_ = std::move(tls); });
}

void Worker::ReceiveHandOff(std::shared_ptr<HandOff> hand_off) {
  loop_.Post(
      [this, hand_off = std::move(hand_off)]() mutable { AdoptHandOff(std::move(hand_off)); });
}

void Worker::Post(std::function<void(turn::TurnServer&)> task) {
  loop_.Post([this, task = std::move(task)] { task(*turn_); });
}

void Worker::Drain() {
  loop_.Post([this] { turn_->SetDraining(true); });
}

// ---------------------------------------------------------------------------------------------
// Receive

int Worker::ReceiveBatch(int fd, size_t headroom, mmsghdr* msgs, iovec* iov) {
  for (size_t i = 0; i < kBatch; ++i) {
    iov[i] = {rx_[i].buffer + headroom, kMaxDatagram};
    msgs[i] = {};
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &rx_[i].from;
    msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
  }
  return recvmmsg(fd, msgs, kBatch, MSG_DONTWAIT, nullptr);
}

void Worker::ReadListener(Listener& listener) {
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  int n = ReceiveBatch(listener.fd, 0, msgs, iov);
  if (n <= 0) return;
  const MonoTime now = shared_.clock->Now();
  turn::FiveTuple tuple;
  tuple.server = listener.local;
  tuple.transport = turn::Transport::kUdp;
  tuple.socket_id = listener.id;
  for (int i = 0; i < n; ++i) {
    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) continue;
    auto from = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&rx_[i].from),
                                            msgs[i].msg_hdr.msg_namelen);
    if (!from) continue;
    tuple.client = *from;
    turn_->OnClientPacket(tuple, {rx_[i].buffer, msgs[i].msg_len}, now);
  }
}

void Worker::ReadRelay(RelaySocket& socket) {
  if (socket.owner == nullptr) return;
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  int n = ReceiveBatch(socket.fd, turn::kPeerHeadroom, msgs, iov);
  if (n <= 0) return;
  const MonoTime now = shared_.clock->Now();
  for (int i = 0; i < n && socket.owner != nullptr; ++i) {
    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) continue;
    auto from = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&rx_[i].from),
                                            msgs[i].msg_hdr.msg_namelen);
    if (!from) continue;
    turn_->OnPeerPacket(socket.owner, *from, {rx_[i].buffer + turn::kPeerHeadroom, msgs[i].msg_len},
                        now);
  }
}

// ---------------------------------------------------------------------------------------------
// Send

void Worker::SendToClient(const turn::FiveTuple& tuple, std::span<const uint8_t> data) {
  switch (tuple.transport) {
    case turn::Transport::kUdp:
      if (tuple.socket_id >= listeners_.size()) return;
      Queue(listeners_[tuple.socket_id]->fd, tuple.client, data);
      return;
    case turn::Transport::kTcp:
    case turn::Transport::kTls: {
      if (tuple.socket_id >= conns_.size() || data.empty()) return;
      Conn& conn = *conns_[tuple.socket_id];
      if (conn.closed || conn.peer || !(conn.tuple == tuple)) return;
      // ChannelData (first byte 0x40-0x7F) is padded to 4 bytes on a stream (RFC 8656 §12.5).
      if (!conn.stream->Append(data, (data[0] & 0xC0) == 0x40)) {
        turn_->counters().Add(turn::Counter::kDropSendFailed);
        return;
      }
      MarkDirty(conn);
      return;
    }
    case turn::Transport::kDtls: {
      if (tuple.socket_id >= dtls_.size() || !dtls_[tuple.socket_id]) return;
      DtlsClient& d = *dtls_[tuple.socket_id];
      if (d.closed || !(d.tuple.client == tuple.client)) return;
      if (!d.session->Send(data, &dtls_out_)) {
        turn_->counters().Add(turn::Counter::kDropSendFailed);
        dtls_out_.clear();
        return;
      }
      SendDtlsOutput(d.fd, d.tuple.client);
      return;
    }
  }
}

void Worker::SendToPeer(const turn::Relay& relay, const SocketAddress& peer,
                        std::span<const uint8_t> data) {
  if (relay.handle < 0 || static_cast<size_t>(relay.handle) >= relays_.size()) return;
  Queue(relays_[relay.handle]->fd, peer, data);
}

void Worker::Queue(int fd, const SocketAddress& to, std::span<const uint8_t> data) {
  if (fd < 0 || data.size() > sizeof(TxSlot::data)) return;
  if (tx_count_ == kTxSlots) FlushSends();
  TxSlot& slot = tx_[tx_count_++];
  slot.fd = fd;
  slot.to_len = to.ToSockaddr(&slot.to);
  slot.length = static_cast<uint16_t>(data.size());
  std::memcpy(slot.data, data.data(), data.size());
}

void Worker::FlushSends() {
  // Publish the count before any reply leaves: once a client has seen its Allocate succeed, a
  // drain started by the main thread must see that allocation. One store per batch.
  allocation_count_.store(turn_->allocation_count(), std::memory_order_release);
  mmsghdr msgs[kTxSlots];
  iovec iov[kTxSlots];
  size_t start = 0;
  while (start < tx_count_) {
    // One sendmmsg per run of packets leaving through the same socket.
    size_t end = start;
    while (end < tx_count_ && tx_[end].fd == tx_[start].fd) {
      size_t k = end - start;
      iov[k] = {tx_[end].data, tx_[end].length};
      msgs[k] = {};
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
      msgs[k].msg_hdr.msg_name = &tx_[end].to;
      msgs[k].msg_hdr.msg_namelen = tx_[end].to_len;
      ++end;
    }
    size_t count = end - start;
    size_t sent = 0;
    while (sent < count) {
      int r =
          sendmmsg(tx_[start].fd, msgs + sent, static_cast<unsigned>(count - sent), MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        // A datagram the kernel refuses (full buffer, unreachable) is dropped, not retried.
        turn_->counters().Add(turn::Counter::kDropSendFailed);
        ++sent;
        continue;
      }
      sent += static_cast<size_t>(r);
    }
    start = end;
  }
  tx_count_ = 0;
  if (!dirty_conns_.empty()) FlushConns();
}

void Worker::AfterBatch() {
  FlushSends();
  const MonoTime now = shared_.clock->Now();
  if (now >= next_tick_) {
    turn_->OnTimer(now);
    TickStreams(now);
    FlushSends();
    if (id_ == 0) shared_.reservations->Expire(now);
    if (now >= next_checkpoint_) {
      turn_->Checkpoint();
      next_checkpoint_ = now + shared_.checkpoint;
    }
    next_tick_ = now + kTick;
  }
  turn_->CollectGarbage();
  for (turn::RelayHandle h : closing_relays_) free_relays_.push_back(h);
  closing_relays_.clear();
  for (uint32_t i : closing_conns_) {
    conns_[i]->stream.reset();
    free_conns_.push_back(i);
  }
  closing_conns_.clear();
}

// ---------------------------------------------------------------------------------------------
// Relay sockets

turn::RelayHandle Worker::AdoptRelaySocket(int fd, turn::Allocation* owner) {
  turn::RelayHandle handle;
  if (!free_relays_.empty()) {
    handle = free_relays_.back();
    free_relays_.pop_back();
  } else {
    handle = static_cast<turn::RelayHandle>(relays_.size());
    relays_.push_back(std::make_unique<RelaySocket>());
  }
  RelaySocket& s = *relays_[handle];
  s.worker = this;
  s.fd = fd;
  s.owner = owner;
  s.tcp = false;
  if (!loop_.Add(fd, EPOLLIN, &s)) {
    s.fd = -1;
    s.owner = nullptr;
    close(fd);
    free_relays_.push_back(handle);
    return turn::kNoRelay;
  }
  return handle;
}

uint16_t Worker::BindRelay(const RelayIp& ip, const turn::RelayRequest& request, turn::Relay* out,
                           std::optional<uint64_t>* token) {
  PortPool& ports = *shared_.ports;
  UdpSocketOptions options;
  options.dont_fragment = request.dont_fragment;
  const uint32_t attempts = std::min<uint32_t>(ports.size(), 512);
  for (uint32_t i = 0; i < attempts; ++i) {
    uint16_t port = ports.Next();
    if (request.even_port && (port & 1)) {
      if (port == ports.max_port() || port + 1 > ports.max_port()) continue;
      ++port;
    }
    if (request.reserve_next && port + 1 > ports.max_port()) continue;
    int fd = OpenUdpSocket({ip.bind, port}, options, nullptr);
    if (fd < 0) continue;
    if (request.reserve_next) {
      uint16_t next = static_cast<uint16_t>(port + 1);
      int reserved = OpenUdpSocket({ip.bind, next}, options, nullptr);
      if (reserved < 0) {
        close(fd);
        continue;
      }
      // The token is a capability for the reserved port: it must not be guessable from the
      // tokens a client has seen, so each one comes from the kernel's CSPRNG (control path).
      uint64_t t;
      if (getrandom(&t, sizeof(t), 0) != sizeof(t)) {
        close(reserved);
        close(fd);
        return stun::error::kServerError;
      }
      shared_.reservations->Put(t, reserved, {ip.advertised, next}, shared_.clock->Now());
      *token = t;
    }
    turn::RelayHandle handle = AdoptRelaySocket(fd, nullptr);
    if (handle == turn::kNoRelay) return stun::error::kInsufficientCapacity;
    out->handle = handle;
    out->address = {ip.advertised, port};
    return 0;
  }
  return stun::error::kInsufficientCapacity;
}

uint16_t Worker::BindTcpRelay(const RelayIp& ip, turn::Relay* out) {
  PortPool& ports = *shared_.ports;
  const uint32_t attempts = std::min<uint32_t>(ports.size(), 512);
  for (uint32_t i = 0; i < attempts; ++i) {
    const uint16_t port = ports.Next();
    // SO_REUSEPORT: the connections Connect opens bind the same address (RFC 6062 §5.2).
    int fd = OpenTcpSocket({ip.bind, port}, true, 16, nullptr);
    if (fd < 0) continue;
    turn::RelayHandle handle = AdoptRelaySocket(fd, nullptr);
    if (handle == turn::kNoRelay) return stun::error::kInsufficientCapacity;
    relays_[handle]->tcp = true;
    out->handle = handle;
    out->address = {ip.advertised, port};
    return 0;
  }
  return stun::error::kInsufficientCapacity;
}

turn::RelayOpenResult Worker::OpenRelays(const turn::RelayRequest& request,
                                         turn::Allocation* owner) {
  turn::RelayOpenResult result;
  if (request.reservation_token) {
    // RFC 8656 §7.2: a token that is unknown or expired → 508.
    auto taken = shared_.reservations->Take(*request.reservation_token, shared_.clock->Now());
    if (!taken) {
      result.error = stun::error::kInsufficientCapacity;
      return result;
    }
    turn::RelayHandle handle = AdoptRelaySocket(taken->first, owner);
    if (handle == turn::kNoRelay) {
      result.error = stun::error::kInsufficientCapacity;
      return result;
    }
    result.relays[taken->second.ip.is_v4() ? 0 : 1] = {handle, taken->second};
    return result;
  }
  if (request.tcp) {
    // RFC 6062 §5.1: one TCP relayed address (no EVEN-PORT, RESERVATION-TOKEN or second family).
    const bool v6 = request.want_v6 && !request.want_v4;
    const auto& family = v6 ? shared_.relay_v6 : shared_.relay_v4;
    if (family.empty()) {
      result.error = stun::error::kAddressFamilyNotSupported;
      return result;
    }
    const RelayIp& ip = family[relay_cursor_++ % family.size()];
    turn::Relay& relay = result.relays[v6 ? 1 : 0];
    result.error = BindTcpRelay(ip, &relay);
    if (result.error == 0) relays_[relay.handle]->owner = owner;
    return result;
  }
  const bool v6_only = request.want_v6 && !request.want_v4;
  if (request.want_v4) {
    if (shared_.relay_v4.empty()) {
      result.error = stun::error::kAddressFamilyNotSupported;
      return result;
    }
    const RelayIp& ip = shared_.relay_v4[relay_cursor_++ % shared_.relay_v4.size()];
    result.error = BindRelay(ip, request, &result.relays[0], &result.reservation_token);
    if (result.error != 0) return result;
  }
  if (request.want_v6) {
    uint16_t err = stun::error::kAddressFamilyNotSupported;
    if (!shared_.relay_v6.empty()) {
      const RelayIp& ip = shared_.relay_v6[relay_cursor_++ % shared_.relay_v6.size()];
      turn::RelayRequest v6_request = request;
      if (!v6_only) v6_request.reserve_next = false;  // the token belongs to the IPv4 relay
      std::optional<uint64_t>* token = v6_only ? &result.reservation_token : nullptr;
      std::optional<uint64_t> unused;
      err = BindRelay(ip, v6_request, &result.relays[1], token ? token : &unused);
    }
    if (err != 0) {
      if (v6_only) {
        result.error = err;
        return result;
      }
      // ADDITIONAL-ADDRESS-FAMILY: the IPv4 relay stands; report the IPv6 failure alone.
      result.v6_error = err;
    }
  }
  for (turn::Relay& r : result.relays) {
    if (r.handle != turn::kNoRelay) relays_[r.handle]->owner = owner;
  }
  return result;
}

void Worker::CloseRelays(turn::Allocation& allocation) {
  // Datagrams queued for these sockets leave first: after close() the descriptor number may be
  // reused by the next relay socket opened in this batch, and they must not leave from that one.
  // (While the worker is destroyed, turn_ is already gone and nothing is sent any more.)
  if (tx_count_ > 0 && turn_ != nullptr) FlushSends();
  for (turn::Relay& r : allocation.relays) {
    if (r.handle == turn::kNoRelay) continue;
    RelaySocket& s = *relays_[r.handle];
    if (s.fd >= 0) {
      loop_.Remove(s.fd);
      close(s.fd);
    }
    s.fd = -1;
    s.owner = nullptr;
    closing_relays_.push_back(r.handle);
  }
}

}  // namespace cv::net
