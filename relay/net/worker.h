// One worker: an event loop thread with its own SO_REUSEPORT listening sockets, so the kernel
// keeps every client 5-tuple on one worker, and the TurnServer that owns those clients'
// allocations and relay sockets. The data path takes no lock: everything below belongs to the
// worker's thread. I/O is batched: recvmmsg on every readable socket, and every datagram out (to
// clients and to peers) is queued and sent with sendmmsg once per batch of events; bytes for a
// TCP or TLS connection are appended to its buffer and written once per batch.
//
// Streams (worker_streams.cc): TURN over TCP and TLS connections, DTLS sessions on a shared UDP
// socket, and RFC 6062 peer and data connections. A connection and its allocation live on one
// worker; the one exception is an RFC 6062 data connection, which the kernel may hand to any
// worker: its ConnectionBind names the owning worker in the CONNECTION-ID, and the connection
// moves there (HandOff) before the TURN layer sees it.
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cv/auth/authenticator.h"
#include "relay/common/address.h"
#include "relay/common/clock.h"
#include "relay/net/connection_limit.h"
#include "relay/net/dtls_session.h"
#include "relay/net/event_loop.h"
#include "relay/net/port_pool.h"
#include "relay/net/stream_conn.h"
#include "relay/net/tls_context.h"
#include "relay/turn/peer_policy.h"
#include "relay/turn/quota.h"
#include "relay/turn/turn_server.h"

namespace cv::net {

// A relay address the server binds relay sockets on, and the address it tells clients (they
// differ behind 1:1 NAT: external-ip=public/private).
struct RelayIp {
  IpAddress bind;
  IpAddress advertised;
};

class Worker;

// State shared by every worker. Immutable after start except where a member says otherwise.
struct WorkerShared {
  const Clock* clock = nullptr;
  turn::TurnConfig turn;
  std::vector<SocketAddress> listeners;  // resolved addresses to bind (port 0 allowed for worker 0)
  std::vector<RelayIp> relay_v4;
  std::vector<RelayIp> relay_v6;
  std::shared_ptr<const turn::PeerPolicy> policy;
  std::array<uint8_t, 32> nonce_key{};
  uint32_t nonce_lifetime_s = 600;
  int listener_buffer_bytes = 4 << 20;
  std::unique_ptr<turn::QuotaTracker> quotas;      // thread-safe
  std::unique_ptr<turn::RequestLimits> limits;     // thread-safe
  std::unique_ptr<PortPool> ports;                 // thread-safe
  std::unique_ptr<ReservationTable> reservations;  // thread-safe
  // Usage metering: null when the ledger is off. Every worker hands a snapshot of its
  // allocations to `usage` each `checkpoint`, and a final record when one ends.
  turn::UsageSink* usage = nullptr;  // thread-safe
  turn::UsageOrigin usage_origin;
  Duration checkpoint = seconds(10);
  // TURN over TCP, TLS and DTLS (docs/tls.md). tcp_listeners[i] pairs with listeners[i], and
  // dtls_listeners[i] with tls_listeners[i]: a port 0 there takes its pair's port.
  std::vector<SocketAddress> tcp_listeners, tls_listeners, dtls_listeners;
  std::shared_ptr<const TlsContexts> tls;  // null without cert; SIGHUP posts a new one (SetTls)
  DtlsCookieKey dtls_cookies;              // thread-safe
  size_t dtls_mtu = 1400;                  // largest datagram the DTLS handshake writes
  StreamLimits stream_limits;
  Duration handshake_timeout = seconds(10);
  Duration auth_timeout = seconds(30);
  std::unique_ptr<ConnectionLimit> unauth;  // thread-safe
  std::vector<Worker*> workers;             // by id, for RFC 6062 data connection hand-offs
};

class Worker final : public turn::TurnCallbacks {
 public:
  static constexpr size_t kMaxDatagram = 4096;
  static constexpr size_t kBatch = 32;
  // Datagrams queued between two flushes: replies to clients and relayed data both ways.
  static constexpr size_t kTxSlots = kBatch * 2;

  Worker(uint32_t id, WorkerShared& shared, std::shared_ptr<const auth::Authenticator> auth);
  ~Worker() override;

  // Binds the listening sockets (main thread, before Run).
  bool Open(std::string* error);
  std::vector<SocketAddress> listening_addresses() const;
  // TCP, TLS and DTLS listening addresses, in the order of WorkerShared's lists.
  std::vector<std::pair<turn::Transport, SocketAddress>> stream_addresses() const;
  // The thread body; returns after Stop().
  void Run();

  // Any thread.
  void Stop() { loop_.Stop(); }
  void SetAuthenticator(std::shared_ptr<const auth::Authenticator> auth);
  // New TLS contexts (SIGHUP): connections accepted afterwards use them; open ones keep theirs.
  void SetTls(std::shared_ptr<const TlsContexts> tls);
  void Drain();
  // Runs `task` on the worker thread, between batches of I/O (control path: listing, ending and
  // revoking allocations). The task must not block.
  void Post(std::function<void(turn::TurnServer&)> task);
  size_t allocation_count() const { return allocation_count_.load(std::memory_order_acquire); }
  const turn::TurnCounters& counters() const { return turn_->counters(); }

  // turn::TurnCallbacks (worker thread).
  void SendToClient(const turn::FiveTuple& tuple, std::span<const uint8_t> data) override;
  void SendToPeer(const turn::Relay& relay, const SocketAddress& peer,
                  std::span<const uint8_t> data) override;
  turn::RelayOpenResult OpenRelays(const turn::RelayRequest& request,
                                   turn::Allocation* owner) override;
  void CloseRelays(turn::Allocation& allocation) override;
  uint32_t ConnectPeer(turn::Allocation& a, const SocketAddress& peer) override;
  void BindPeerConnection(uint32_t id, const turn::FiveTuple& data) override;
  void ClosePeerConnection(uint32_t id) override;

  // Connections of this worker now: TCP/TLS client and peer connections, DTLS sessions.
  size_t connection_count() const { return connection_count_.load(std::memory_order_relaxed); }

  // A client connection moving here from another worker (RFC 6062 ConnectionBind).
  struct HandOff {
    std::unique_ptr<StreamConn> stream;
    turn::FiveTuple tuple;  // socket_id is reassigned here
    MonoTime accepted, deadline;
    bool counted = false;                        // holds a ConnectionLimit slot
    std::vector<std::vector<uint8_t>> messages;  // read on the other worker, not yet handled
  };
  // Any thread: adopts `hand_off` on this worker's thread.
  void ReceiveHandOff(std::shared_ptr<HandOff> hand_off);

 private:
  struct Listener final : IoHandler {
    Worker* worker = nullptr;
    int fd = -1;
    uint32_t id = 0;
    SocketAddress local;
    void OnIoEvent(uint32_t) override { worker->ReadListener(*this); }
  };
  struct RelaySocket final : IoHandler {
    Worker* worker = nullptr;
    int fd = -1;
    turn::Allocation* owner = nullptr;
    bool tcp = false;  // an RFC 6062 relayed address: a listening TCP socket
    void OnIoEvent(uint32_t) override {
      if (tcp) {
        worker->AcceptPeers(*this);
      } else {
        worker->ReadRelay(*this);
      }
    }
  };
  // A TCP or TLS listening socket.
  struct StreamListener final : IoHandler {
    Worker* worker = nullptr;
    int fd = -1;
    SocketAddress local;
    turn::Transport transport = turn::Transport::kTcp;
    void OnIoEvent(uint32_t) override { worker->Accept(*this); }
  };
  // A UDP socket serving DTLS.
  struct DtlsListener final : IoHandler {
    Worker* worker = nullptr;
    int fd = -1;
    uint32_t id = 0;
    SocketAddress local;
    void OnIoEvent(uint32_t) override { worker->ReadDtls(*this); }
  };
  static constexpr uint32_t kNone = UINT32_MAX;
  // A TCP connection: a client's (TURN over TCP/TLS, or an RFC 6062 data connection) or a peer's
  // (RFC 6062). Index = FiveTuple::socket_id for clients.
  struct Conn final : IoHandler {
    Worker* worker = nullptr;
    uint32_t index = 0;
    bool peer = false;  // an RFC 6062 peer connection
    bool closed = false;
    bool pending = false;     // handshaking or not authenticated yet (deadline applies)
    bool counted = false;     // holds a ConnectionLimit slot
    bool dirty = false;       // in dirty_conns_: bytes to flush
    bool want_out = false;    // EPOLLOUT registered
    bool paused = false;      // not reading: its partner's send buffer is full
    bool connecting = false;  // peer: connect() in progress
    bool unreported = false;  // peer: TurnServer does not know it (refused, or never told)
    bool idle_once = false;   // client: found without an allocation at the last sweep
    std::unique_ptr<StreamConn> stream;
    turn::FiveTuple tuple;  // clients: the 5-tuple; peers: client = the peer's address
    MonoTime accepted, deadline;
    uint32_t peer_id = 0;          // RFC 6062 connection id (peers, and bound data connections)
    uint32_t partner = kNone;      // the connection bytes are piped to
    uint32_t hand_off_to = kNone;  // ConnectionBind for another worker's allocation
    std::vector<std::vector<uint8_t>> held;  // messages read before the hand-off
    void OnIoEvent(uint32_t events) override { worker->OnConnEvent(*this, events); }
  };
  struct DtlsClient {
    std::unique_ptr<DtlsSession> session;
    turn::FiveTuple tuple;
    int fd = -1;  // the DTLS listener's socket
    MonoTime deadline;
    bool pending = true;
    bool counted = false;
    bool closed = false;
    bool idle_once = false;  // found without an allocation at the last sweep
  };
  struct RxSlot {
    alignas(8) uint8_t buffer[turn::kPeerHeadroom + kMaxDatagram + turn::kPeerTailroom];
    sockaddr_storage from;
  };
  struct TxSlot {
    int fd;
    socklen_t to_len;
    uint16_t length;
    sockaddr_storage to;
    alignas(8) uint8_t data[kMaxDatagram + 64];
  };

  // One recvmmsg into rx_, leaving `headroom` bytes before each datagram.
  int ReceiveBatch(int fd, size_t headroom, mmsghdr* msgs, iovec* iov);
  void ReadListener(Listener& listener);
  void ReadRelay(RelaySocket& socket);
  // Queues one datagram on `fd`; FlushSends sends queued datagrams with one sendmmsg per run
  // of consecutive datagrams on the same socket (a client's burst to its peer is one call).
  void Queue(int fd, const SocketAddress& to, std::span<const uint8_t> data);
  void FlushSends();
  void AfterBatch();
  // Binds one relay socket on `ip` (even port and the next one reserved when asked).
  uint16_t BindRelay(const RelayIp& ip, const turn::RelayRequest& request, turn::Relay* out,
                     std::optional<uint64_t>* token);
  turn::RelayHandle AdoptRelaySocket(int fd, turn::Allocation* owner);
  uint16_t BindTcpRelay(const RelayIp& ip, turn::Relay* out);

  // Streams (worker_streams.cc).
  bool OpenStreams(std::string* error);
  void Accept(StreamListener& listener);
  uint32_t NewConn();
  void OnConnEvent(Conn& conn, uint32_t events);
  void ReadClient(Conn& conn, MonoTime now);
  void ReadRaw(Conn& conn, MonoTime now);
  void DeliverFromClient(Conn& conn, std::span<const uint8_t> message, MonoTime now);
  void StartHandOff(Conn& conn);
  void AdoptHandOff(std::shared_ptr<HandOff> hand_off);
  void MarkDirty(Conn& conn);
  void FlushConns();
  void WatchOutput(Conn& conn, bool want);
  void Pause(Conn& conn, bool paused);
  // Closes a client connection; with notify, the TURN layer hears of it (ends its allocation).
  void CloseClient(Conn& conn, bool notify);
  // Closes an RFC 6062 peer connection and its data connection, without telling the TURN layer.
  void ClosePeer(Conn& conn);
  void ReleaseConn(Conn& conn);
  void AcceptPeers(RelaySocket& socket);
  uint32_t NewPeerId();
  void ReadDtls(DtlsListener& listener);
  void SendDtlsOutput(int fd, const SocketAddress& to);
  void CloseDtls(uint32_t index, bool notify);
  // Deadlines and sweeps, on the worker's tick.
  void TickStreams(MonoTime now);

  const uint32_t id_;
  WorkerShared& shared_;
  EventLoop loop_;
  std::unique_ptr<turn::TurnServer> turn_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<RelaySocket>> relays_;  // index = RelayHandle
  std::vector<turn::RelayHandle> free_relays_;
  std::vector<turn::RelayHandle> closing_relays_;  // reusable after the current batch
  std::unique_ptr<RxSlot[]> rx_;
  std::unique_ptr<TxSlot[]> tx_;
  size_t tx_count_ = 0;
  MonoTime next_tick_;
  MonoTime next_checkpoint_;
  size_t relay_cursor_ = 0;
  std::atomic<size_t> allocation_count_{0};

  // Streams.
  std::shared_ptr<const TlsContexts> tls_;
  std::vector<std::unique_ptr<StreamListener>> stream_listeners_;
  std::vector<std::unique_ptr<DtlsListener>> dtls_listeners_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<uint32_t> free_conns_, closing_conns_, dirty_conns_, pending_conns_;
  std::vector<uint32_t> flush_batch_;  // FlushConns' working copy of dirty_conns_
  bool flushing_conns_ = false;
  std::unordered_map<uint32_t, uint32_t> peer_conns_;  // RFC 6062 connection id → conns_ index
  uint32_t next_peer_serial_ = 0;
  std::vector<std::unique_ptr<DtlsClient>> dtls_;
  std::vector<uint32_t> free_dtls_, pending_dtls_;
  std::unordered_map<SocketAddress, uint32_t, SocketAddressHash> dtls_by_address_;
  DtlsOutput dtls_out_;
  MonoTime next_sweep_;
  size_t closed_since_trim_ = 0;
  std::atomic<size_t> connection_count_{0};
};

}  // namespace cv::net
