// The worker's streams: TURN over TCP and TLS (RFC 8656 §3.1), DTLS, and RFC 6062 peer and data
// connections. See worker.h for the threading model; everything here runs on the worker thread.
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "relay/common/log.h"
#include "relay/net/socket.h"
#include "relay/net/worker.h"
#include "relay/stun/constants.h"
#include "relay/stun/message.h"

namespace cv::net {
namespace {

constexpr int kBacklog = 1024;
constexpr int kAcceptsPerEvent = 64;
// A connection whose allocation ended (or a DTLS session without one) is closed when two sweeps
// this far apart find it without one.
constexpr Duration kSweep = seconds(30);
constexpr uint32_t kStreamEvents = EPOLLIN | EPOLLRDHUP;

bool IsConnectionBind(std::span<const uint8_t> message, uint32_t* id) {
  stun::MessageView msg;
  if (stun::MessageView::Parse(message, &msg) != stun::ParseError::kOk ||
      msg.method() != stun::Method::kConnectionBind ||
      msg.message_class() != stun::MessageClass::kRequest) {
    return false;
  }
  auto value = msg.GetU32(stun::attr::kConnectionId);
  if (!value) return false;
  *id = *value;
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Listeners

bool Worker::OpenStreams(std::string* error) {
  auto add_stream = [&](SocketAddress address, turn::Transport transport) {
    int fd = OpenTcpSocket(address, true, kBacklog, error);
    if (fd < 0) return false;
    auto l = std::make_unique<StreamListener>();
    l->worker = this;
    l->fd = fd;
    l->local = LocalAddress(fd);
    l->transport = transport;
    if (!loop_.Add(fd, EPOLLIN, l.get())) {
      *error = "epoll_ctl: " + std::string(strerror(errno));
      close(fd);
      return false;
    }
    stream_listeners_.push_back(std::move(l));
    return true;
  };
  for (size_t i = 0; i < shared_.tcp_listeners.size(); ++i) {
    SocketAddress a = shared_.tcp_listeners[i];
    // TCP serves the UDP listener's port: with port 0, the one the kernel gave UDP.
    if (a.port == 0 && i < listeners_.size()) a.port = listeners_[i]->local.port;
    if (!add_stream(a, turn::Transport::kTcp)) return false;
  }
  const size_t first_tls = stream_listeners_.size();
  for (const SocketAddress& a : shared_.tls_listeners) {
    if (!add_stream(a, turn::Transport::kTls)) return false;
  }
  UdpSocketOptions options;
  options.reuse_port = true;
  options.receive_buffer = shared_.listener_buffer_bytes;
  options.send_buffer = shared_.listener_buffer_bytes;
  for (size_t i = 0; i < shared_.dtls_listeners.size(); ++i) {
    SocketAddress a = shared_.dtls_listeners[i];
    if (a.port == 0 && first_tls + i < stream_listeners_.size()) {
      a.port = stream_listeners_[first_tls + i]->local.port;
    }
    int fd = OpenUdpSocket(a, options, error);
    if (fd < 0) return false;
    auto l = std::make_unique<DtlsListener>();
    l->worker = this;
    l->fd = fd;
    l->id = static_cast<uint32_t>(dtls_listeners_.size());
    l->local = LocalAddress(fd);
    if (!loop_.Add(fd, EPOLLIN, l.get())) {
      *error = "epoll_ctl: " + std::string(strerror(errno));
      close(fd);
      return false;
    }
    dtls_listeners_.push_back(std::move(l));
  }
  return true;
}

std::vector<std::pair<turn::Transport, SocketAddress>> Worker::stream_addresses() const {
  std::vector<std::pair<turn::Transport, SocketAddress>> out;
  for (const auto& l : stream_listeners_) out.emplace_back(l->transport, l->local);
  for (const auto& l : dtls_listeners_) out.emplace_back(turn::Transport::kDtls, l->local);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Client connections

uint32_t Worker::NewConn() {
  uint32_t index;
  if (!free_conns_.empty()) {
    index = free_conns_.back();
    free_conns_.pop_back();
    *conns_[index] = Conn{};
  } else {
    index = static_cast<uint32_t>(conns_.size());
    conns_.push_back(std::make_unique<Conn>());
  }
  Conn& c = *conns_[index];
  c.worker = this;
  c.index = index;
  connection_count_.fetch_add(1, std::memory_order_relaxed);
  return index;
}

void Worker::Accept(StreamListener& listener) {
  const MonoTime now = shared_.clock->Now();
  for (int i = 0; i < kAcceptsPerEvent; ++i) {
    sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd =
        accept4(listener.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or EMFILE and friends: the next wake-up tries again
    auto from = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    const bool tls = listener.transport == turn::Transport::kTls;
    if (!from || (tls && tls_ == nullptr)) {
      close(fd);
      continue;
    }
    // One address may not hold more than max-unauth-connections-per-ip connections that have
    // not authenticated yet: the next is closed before it costs a buffer or a TLS state.
    if (!shared_.unauth->TryAcquire(from->ip)) {
      turn_->counters().Add(turn::Counter::kStreamRefusedCap);
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    SSL* ssl = nullptr;
    if (tls && (ssl = SSL_new(tls_->tls())) == nullptr) {
      shared_.unauth->Release(from->ip);
      close(fd);
      continue;
    }
    const uint32_t index = NewConn();
    Conn& c = *conns_[index];
    c.stream = std::make_unique<StreamConn>(fd, ssl, shared_.stream_limits);
    c.counted = true;
    c.pending = true;
    c.accepted = now;
    c.deadline = now + (tls ? shared_.handshake_timeout : shared_.auth_timeout);
    c.tuple.client = *from;
    c.tuple.server = listener.local;
    c.tuple.transport = listener.transport;
    c.tuple.socket_id = index;
    if (!loop_.Add(fd, kStreamEvents, &c)) {
      CloseClient(c, false);
      continue;
    }
    pending_conns_.push_back(index);
    turn_->counters().Add(turn::Counter::kStreamAccepted);
  }
}

void Worker::OnConnEvent(Conn& conn, uint32_t events) {
  if (conn.closed) return;
  const MonoTime now = shared_.clock->Now();
  if (conn.peer && conn.connecting) {
    // RFC 6062 §5.2: the outcome of the connect() a Connect request started.
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    const bool ok = SocketError(conn.stream->fd()) == 0 && !(events & EPOLLHUP);
    conn.connecting = false;
    const uint32_t id = conn.peer_id;
    if (!ok) {
      conn.unreported = true;  // TurnServer releases the id with the failure
      ClosePeer(conn);
    } else {
      WatchOutput(conn, false);
      loop_.Modify(conn.stream->fd(), 0, &conn);  // no reading before ConnectionBind
    }
    turn_->OnPeerConnected(id, ok, now);
    return;
  }
  // Writable again: the end of this batch flushes it with the others.
  if (events & EPOLLOUT) MarkDirty(conn);
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
    if (conn.stream->raw()) {
      ReadRaw(conn, now);
    } else if (!conn.peer) {
      ReadClient(conn, now);
    } else if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      // A peer connection that closed before its ConnectionBind.
      const uint32_t id = conn.peer_id;
      ClosePeer(conn);
      turn_->OnPeerConnectionClosed(id, now);
    }
  }
}

void Worker::ReadClient(Conn& conn, MonoTime now) {
  const bool handshaking = !conn.stream->handshake_done();
  const StreamConn::Status status =
      conn.stream->OnReadable([&](std::span<const uint8_t> m) { DeliverFromClient(conn, m, now); });
  if (conn.closed) return;
  if (handshaking && conn.stream->handshake_done()) {
    // TLS is up: the authentication deadline runs from the accept, as for plain TCP.
    conn.deadline = conn.accepted + shared_.auth_timeout;
  }
  if (conn.stream->wants_write()) MarkDirty(conn);
  if (conn.hand_off_to != kNone) {
    StartHandOff(conn);
    return;
  }
  switch (status) {
    case StreamConn::Status::kOk:
      // A ConnectionBind just made this a data connection: what followed it is the client's
      // first data for the peer.
      if (conn.stream->raw() && conn.partner != kNone) ReadRaw(conn, now);
      return;
    case StreamConn::Status::kTooLarge:
      turn_->counters().Add(turn::Counter::kStreamTooLarge);
      break;
    case StreamConn::Status::kInvalid:
      turn_->counters().Add(turn::Counter::kStreamInvalid);
      break;
    case StreamConn::Status::kTlsFailed:
      turn_->counters().Add(turn::Counter::kStreamTlsFailed);
      break;
    case StreamConn::Status::kOverflow:
      turn_->counters().Add(turn::Counter::kStreamOverflow);
      break;
    case StreamConn::Status::kClosed:
      break;
  }
  CV_DEBUG("stream.closed", "client=%s transport=%s status=%d",
           conn.tuple.client.ToString().c_str(), turn::TransportName(conn.tuple.transport),
           static_cast<int>(status));
  CloseClient(conn, true);
}

void Worker::DeliverFromClient(Conn& conn, std::span<const uint8_t> message, MonoTime now) {
  if (conn.hand_off_to != kNone) {
    // Read after a ConnectionBind for another worker, in the same read: goes along with it.
    conn.held.emplace_back(message.begin(), message.end());
    return;
  }
  uint32_t id;
  if (conn.pending && IsConnectionBind(message, &id)) {
    // RFC 6062 §5.4: the CONNECTION-ID names the worker that holds the allocation.
    const uint32_t owner = id >> 24;
    if (owner != id_ && owner < shared_.workers.size()) {
      conn.hand_off_to = owner;
      conn.held.emplace_back(message.begin(), message.end());
      return;
    }
  }
  turn_->OnClientPacket(conn.tuple, message, now);
}

void Worker::StartHandOff(Conn& conn) {
  auto h = std::make_shared<HandOff>();
  loop_.Remove(conn.stream->fd());
  h->stream = std::move(conn.stream);
  h->tuple = conn.tuple;
  h->accepted = conn.accepted;
  h->deadline = conn.deadline;
  h->counted = conn.counted;
  h->messages = std::move(conn.held);
  Worker* target = shared_.workers[conn.hand_off_to];
  conn.counted = false;  // the slot goes along
  conn.closed = true;
  closing_conns_.push_back(conn.index);
  connection_count_.fetch_sub(1, std::memory_order_relaxed);
  target->ReceiveHandOff(std::move(h));
}

void Worker::AdoptHandOff(std::shared_ptr<HandOff> h) {
  const MonoTime now = shared_.clock->Now();
  const uint32_t index = NewConn();
  Conn& c = *conns_[index];
  c.stream = std::move(h->stream);
  c.tuple = h->tuple;
  c.tuple.socket_id = index;
  c.accepted = h->accepted;
  c.deadline = h->deadline;
  c.counted = h->counted;
  c.pending = true;
  if (!loop_.Add(c.stream->fd(), kStreamEvents, &c)) {
    CloseClient(c, false);
    return;
  }
  pending_conns_.push_back(index);
  for (const auto& m : h->messages) {
    if (c.closed) break;
    turn_->OnClientPacket(c.tuple, m, now);
  }
  if (c.closed) return;
  // Bytes the stream or OpenSSL already hold would not wake epoll again.
  if (c.stream->raw()) {
    if (c.partner != kNone) ReadRaw(c, now);
  } else {
    ReadClient(c, now);
  }
  FlushSends();
}

void Worker::MarkDirty(Conn& conn) {
  if (conn.dirty || conn.closed) return;
  conn.dirty = true;
  dirty_conns_.push_back(conn.index);
}

void Worker::FlushConns() {
  // Closing a connection may mark others dirty (a data connection's partner) or flush the
  // datagram queue (CloseRelays), which comes back here: the outer call loops until done.
  if (flushing_conns_) return;
  flushing_conns_ = true;
  std::vector<uint32_t>& batch = flush_batch_;  // kept between calls: no allocation per batch
  while (!dirty_conns_.empty()) {
    batch.swap(dirty_conns_);
    for (uint32_t i : batch) {
      Conn& c = *conns_[i];
      c.dirty = false;
      if (c.closed || c.stream == nullptr) continue;
      const StreamConn::Status status = c.stream->Flush();
      if (status != StreamConn::Status::kOk) {
        if (c.peer) {
          const uint32_t id = c.peer_id;
          ClosePeer(c);
          if (!c.unreported) turn_->OnPeerConnectionClosed(id, shared_.clock->Now());
        } else {
          if (status == StreamConn::Status::kTlsFailed) {
            turn_->counters().Add(turn::Counter::kStreamTlsFailed);
          }
          CloseClient(c, true);
        }
        continue;
      }
      WatchOutput(c, c.stream->wants_write());
      // Room again: the partner that filled this buffer may read again.
      if (c.partner != kNone && c.stream->pending_tx() < shared_.stream_limits.max_tx / 4) {
        Conn& p = *conns_[c.partner];
        if (!p.closed && p.paused) Pause(p, false);
      }
    }
    batch.clear();
  }
  flushing_conns_ = false;
}

void Worker::WatchOutput(Conn& conn, bool want) {
  if (conn.want_out == want || conn.closed) return;
  conn.want_out = want;
  uint32_t events = conn.paused ? 0 : kStreamEvents;
  if (conn.peer && conn.partner == kNone) events = 0;  // not bound yet: not reading
  if (want) events |= EPOLLOUT;
  loop_.Modify(conn.stream->fd(), events, &conn);
}

void Worker::Pause(Conn& conn, bool paused) {
  if (conn.paused == paused || conn.closed) return;
  conn.paused = paused;
  uint32_t events = (paused ? 0 : kStreamEvents) | (conn.want_out ? uint32_t{EPOLLOUT} : 0u);
  loop_.Modify(conn.stream->fd(), events, &conn);
  if (!paused) ReadRaw(conn, shared_.clock->Now());  // what arrived meanwhile
}

void Worker::ReleaseConn(Conn& conn) {
  conn.closed = true;
  if (conn.counted) {
    shared_.unauth->Release(conn.tuple.client.ip);
    conn.counted = false;
  }
  if (conn.stream) loop_.Remove(conn.stream->fd());
  // The StreamConn (and its socket) goes at the end of the batch: an event already fetched for
  // it still finds this object, marked closed. The descriptor itself is closed now so that a
  // peer sees the close at once.
  if (conn.stream) shutdown(conn.stream->fd(), SHUT_RDWR);
  closing_conns_.push_back(conn.index);
  connection_count_.fetch_sub(1, std::memory_order_relaxed);
  ++closed_since_trim_;
}

void Worker::CloseClient(Conn& conn, bool notify) {
  if (conn.closed) return;
  // Whatever is queued for it (a last error response) leaves first.
  if (conn.stream && conn.stream->pending_tx() > 0) conn.stream->Flush();
  const uint32_t partner = conn.partner;
  ReleaseConn(conn);
  if (notify) turn_->OnClientClosed(conn.tuple, shared_.clock->Now());
  // A data connection's peer connection: TurnServer closes it through ClosePeerConnection when
  // it knew the pair; if it is still open (hand-off races), close it here.
  if (partner != kNone && !conns_[partner]->closed) {
    const uint32_t id = conns_[partner]->peer_id;
    ClosePeer(*conns_[partner]);
    if (notify) turn_->OnPeerConnectionClosed(id, shared_.clock->Now());
  }
}

// ---------------------------------------------------------------------------------------------
// RFC 6062 peer connections and piping

uint32_t Worker::NewPeerId() {
  // The top 8 bits name this worker (a data connection finds its way here with them); the rest
  // is a serial that skips ids still in use and 0.
  for (;;) {
    next_peer_serial_ = (next_peer_serial_ + 1) & 0xFFFFFF;
    const uint32_t id = (id_ << 24) | next_peer_serial_;
    if (id != 0 && peer_conns_.count(id) == 0) return id;
  }
}

void Worker::AcceptPeers(RelaySocket& socket) {
  const MonoTime now = shared_.clock->Now();
  for (int i = 0; i < kAcceptsPerEvent && socket.owner != nullptr; ++i) {
    sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int fd =
        accept4(socket.fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    auto from = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
    if (!from) {
      close(fd);
      continue;
    }
    const uint32_t index = NewConn();
    Conn& c = *conns_[index];
    c.peer = true;
    c.stream = std::make_unique<StreamConn>(fd, nullptr, shared_.stream_limits);
    c.stream->SetRaw();
    c.tuple.client = *from;
    c.accepted = now;
    c.peer_id = NewPeerId();
    peer_conns_[c.peer_id] = index;
    // Not read before the client binds it; hang-ups are reported anyway.
    if (!loop_.Add(fd, 0, &c)) {
      c.unreported = true;
      ClosePeer(c);
      continue;
    }
    // RFC 6062 §5.3: a permission for the peer, else the connection is refused.
    if (!turn_->OnPeerAccepted(socket.owner, c.peer_id, *from, now)) {
      c.unreported = true;
      ClosePeer(c);
    }
  }
}

uint32_t Worker::ConnectPeer(turn::Allocation& a, const SocketAddress& peer) {
  const turn::Relay* relay = a.RelayFor(peer.ip);
  if (relay == nullptr || static_cast<size_t>(relay->handle) >= relays_.size()) return 0;
  const RelaySocket& listener = *relays_[relay->handle];
  if (!listener.tcp || listener.fd < 0) return 0;
  // RFC 6062 §5.2: from the relayed transport address (the listener's own address and port).
  int fd = OpenTcpSocket(LocalAddress(listener.fd), true, 0, nullptr);
  if (fd < 0) return 0;
  if (!StartConnect(fd, peer)) {
    close(fd);
    return 0;
  }
  const uint32_t index = NewConn();
  Conn& c = *conns_[index];
  c.peer = true;
  c.connecting = true;
  c.stream = std::make_unique<StreamConn>(fd, nullptr, shared_.stream_limits);
  c.stream->SetRaw();
  c.tuple.client = peer;
  c.accepted = shared_.clock->Now();
  c.peer_id = NewPeerId();
  peer_conns_[c.peer_id] = index;
  if (!loop_.Add(fd, EPOLLOUT, &c)) {
    c.unreported = true;
    ClosePeer(c);
    return 0;
  }
  c.want_out = true;
  return c.peer_id;
}

void Worker::BindPeerConnection(uint32_t id, const turn::FiveTuple& data) {
  auto it = peer_conns_.find(id);
  if (it == peer_conns_.end() || data.socket_id >= conns_.size()) return;
  Conn& peer = *conns_[it->second];
  Conn& client = *conns_[data.socket_id];
  if (peer.closed || client.closed || client.peer || !(client.tuple == data)) return;
  // RFC 6062 §5.4: from here on the data connection carries the peer's bytes as they are.
  client.stream->SetRaw();
  client.partner = peer.index;
  client.peer_id = id;
  peer.partner = client.index;
  if (client.counted) {
    shared_.unauth->Release(client.tuple.client.ip);
    client.counted = false;
  }
  client.pending = false;
  loop_.Modify(peer.stream->fd(), kStreamEvents | (peer.want_out ? uint32_t{EPOLLOUT} : 0u), &peer);
}

void Worker::ClosePeerConnection(uint32_t id) {
  auto it = peer_conns_.find(id);
  if (it == peer_conns_.end()) return;
  ClosePeer(*conns_[it->second]);
}

void Worker::ClosePeer(Conn& conn) {
  if (conn.closed) return;
  peer_conns_.erase(conn.peer_id);
  const uint32_t partner = conn.partner;
  ReleaseConn(conn);
  // The data connection goes with it (RFC 6062 §5.5); it has no allocation to end.
  if (partner != kNone && !conns_[partner]->closed) {
    Conn& data = *conns_[partner];
    if (data.stream->pending_tx() > 0) data.stream->Flush();
    ReleaseConn(data);
  }
}

void Worker::ReadRaw(Conn& conn, MonoTime now) {
  if (conn.closed || conn.partner == kNone || conn.paused) return;
  Conn& to = *conns_[conn.partner];
  size_t bytes = 0;
  bool overflow = false;
  const StreamConn::Status status = conn.stream->OnReadable([&](std::span<const uint8_t> b) {
    if (!to.stream->Append(b, false)) overflow = true;
    bytes += b.size();
  });
  if (bytes > 0) {
    MarkDirty(to);
    turn_->OnTcpRelayed(conn.peer ? conn.peer_id : to.peer_id, bytes, !conn.peer, now);
  }
  if (overflow || status != StreamConn::Status::kOk) {
    if (overflow) turn_->counters().Add(turn::Counter::kStreamOverflow);
    Conn& peer = conn.peer ? conn : to;
    const uint32_t id = peer.peer_id;
    ClosePeer(peer);  // closes both
    turn_->OnPeerConnectionClosed(id, now);
    return;
  }
  // Backpressure: stop reading while the other side's send buffer is half full.
  if (to.stream->pending_tx() > shared_.stream_limits.max_tx / 2) Pause(conn, true);
}

// ---------------------------------------------------------------------------------------------
// DTLS

void Worker::ReadDtls(DtlsListener& listener) {
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  int n = ReceiveBatch(listener.fd, 0, msgs, iov);
  if (n <= 0) return;
  const MonoTime now = shared_.clock->Now();
  for (int i = 0; i < n; ++i) {
    if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) continue;
    auto from = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&rx_[i].from),
                                            msgs[i].msg_hdr.msg_namelen);
    if (!from) continue;
    const std::span<const uint8_t> datagram(rx_[i].buffer, msgs[i].msg_len);
    auto it = dtls_by_address_.find(*from);
    if (it == dtls_by_address_.end()) {
      if (tls_ == nullptr || tls_->dtls() == nullptr) continue;
      // Stateless until the client proves its address with the cookie (RFC 6347 §4.2.1).
      auto session = DtlsSession::Accept(tls_->dtls(), shared_.dtls_cookies, *from, datagram,
                                         shared_.dtls_mtu, &dtls_out_);
      if (session == nullptr) {
        SendDtlsOutput(listener.fd, *from);
        continue;
      }
      if (!shared_.unauth->TryAcquire(from->ip)) {
        turn_->counters().Add(turn::Counter::kStreamRefusedCap);
        dtls_out_.clear();
        continue;
      }
      SendDtlsOutput(listener.fd, *from);
      uint32_t index;
      if (!free_dtls_.empty()) {
        index = free_dtls_.back();
        free_dtls_.pop_back();
      } else {
        index = static_cast<uint32_t>(dtls_.size());
        dtls_.emplace_back();
      }
      auto d = std::make_unique<DtlsClient>();
      d->session = std::move(session);
      d->tuple.client = *from;
      d->tuple.server = listener.local;
      d->tuple.transport = turn::Transport::kDtls;
      d->tuple.socket_id = index;
      d->fd = listener.fd;
      d->deadline = now + shared_.handshake_timeout;
      d->counted = true;
      dtls_[index] = std::move(d);
      dtls_by_address_[*from] = index;
      pending_dtls_.push_back(index);
      connection_count_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    const uint32_t index = it->second;
    DtlsClient& d = *dtls_[index];
    const bool was_open = d.session->open();
    const DtlsResult result = d.session->OnDatagram(
        datagram, &dtls_out_,
        [&](std::span<const uint8_t> record) { turn_->OnClientPacket(d.tuple, record, now); });
    SendDtlsOutput(d.fd, d.tuple.client);
    if (!was_open && d.session->open()) {
      turn_->counters().Add(turn::Counter::kDtlsSessions);
      d.deadline = now + shared_.auth_timeout;
    }
    if (result == DtlsResult::kClosed || result == DtlsResult::kFailed) {
      if (result == DtlsResult::kFailed) turn_->counters().Add(turn::Counter::kStreamTlsFailed);
      CloseDtls(index, true);
    }
  }
}

void Worker::SendDtlsOutput(int fd, const SocketAddress& to) {
  for (size_t i = 0; i < dtls_out_.count; ++i) Queue(fd, to, dtls_out_.datagrams[i]);
  dtls_out_.clear();
}

void Worker::CloseDtls(uint32_t index, bool notify) {
  DtlsClient& d = *dtls_[index];
  if (d.closed) return;
  d.closed = true;
  if (d.session->open()) {
    d.session->Close(&dtls_out_);
    SendDtlsOutput(d.fd, d.tuple.client);
  }
  if (d.counted) shared_.unauth->Release(d.tuple.client.ip);
  dtls_by_address_.erase(d.tuple.client);
  const turn::FiveTuple tuple = d.tuple;
  dtls_[index].reset();
  free_dtls_.push_back(index);
  connection_count_.fetch_sub(1, std::memory_order_relaxed);
  ++closed_since_trim_;
  if (notify) turn_->OnClientClosed(tuple, shared_.clock->Now());
}

// ---------------------------------------------------------------------------------------------
// Deadlines

void Worker::TickStreams(MonoTime now) {
  // Connections in their handshake or not authenticated yet: a short list, checked every tick.
  size_t kept = 0;
  for (uint32_t index : pending_conns_) {
    Conn& c = *conns_[index];
    if (c.closed || !c.pending) continue;
    if (c.stream->raw() || turn_->IsAuthenticated(c.tuple)) {
      c.pending = false;
      if (c.counted) {
        shared_.unauth->Release(c.tuple.client.ip);
        c.counted = false;
      }
      continue;
    }
    if (now >= c.deadline) {
      turn_->counters().Add(c.stream->handshake_done() ? turn::Counter::kStreamAuthTimeouts
                                                       : turn::Counter::kStreamHandshakeTimeouts);
      CloseClient(c, true);
      continue;
    }
    pending_conns_[kept++] = index;
  }
  pending_conns_.resize(kept);

  kept = 0;
  for (uint32_t index : pending_dtls_) {
    if (!dtls_[index] || dtls_[index]->closed) continue;
    DtlsClient& d = *dtls_[index];
    if (d.session->open() && turn_->IsAuthenticated(d.tuple)) {
      d.pending = false;
      if (d.counted) {
        shared_.unauth->Release(d.tuple.client.ip);
        d.counted = false;
      }
      continue;
    }
    if (now >= d.deadline) {
      turn_->counters().Add(d.session->open() ? turn::Counter::kStreamAuthTimeouts
                                              : turn::Counter::kStreamHandshakeTimeouts);
      CloseDtls(index, true);
      continue;
    }
    if (!d.session->open()) {
      d.session->OnTick(&dtls_out_);  // handshake retransmission
      SendDtlsOutput(d.fd, d.tuple.client);
    }
    pending_dtls_[kept++] = index;
  }
  pending_dtls_.resize(kept);

  if (now >= next_sweep_) {
    next_sweep_ = now + kSweep;
    // Authenticated connections whose allocation has since ended (expired, revoked): closed
    // when two sweeps in a row find them without one. O(connections) every 30 s.
    for (auto& c : conns_) {
      if (c->closed || c->pending || c->peer || c->partner != kNone || c->stream == nullptr) {
        continue;
      }
      if (turn_->IsAuthenticated(c->tuple)) {
        c->idle_once = false;
        // A quiet connection (a call on hold) gives its buffers back until it speaks again.
        c->stream->ReleaseIdleBuffers();
        continue;
      }
      if (c->idle_once) {
        CloseClient(*c, true);
      } else {
        c->idle_once = true;
      }
    }
    for (size_t i = 0; i < dtls_.size(); ++i) {
      if (!dtls_[i] || dtls_[i]->closed || dtls_[i]->pending) continue;
      DtlsClient& d = *dtls_[i];
      if (turn_->IsAuthenticated(d.tuple)) {
        d.idle_once = false;
      } else if (d.idle_once) {
        CloseDtls(static_cast<uint32_t>(i), true);
      } else {
        d.idle_once = true;
      }
    }
  }
  if (closed_since_trim_ >= 256) {
    // Many connections just went (a flood, a network change): give their memory back.
    closed_since_trim_ = 0;
    malloc_trim(0);
  }
}

}  // namespace cv::net
