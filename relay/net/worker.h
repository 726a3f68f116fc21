// One worker: an event loop thread with its own SO_REUSEPORT listening sockets, so the kernel
// keeps every client 5-tuple on one worker, and the TurnServer that owns those clients'
// allocations and relay sockets. The data path takes no lock: everything below belongs to the
// worker's thread. I/O is batched: recvmmsg on every readable socket, and every datagram out (to
// clients and to peers) is queued and sent with sendmmsg once per batch of events.
#pragma once

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cv/auth/authenticator.h"
#include "relay/common/address.h"
#include "relay/common/clock.h"
#include "relay/net/event_loop.h"
#include "relay/net/port_pool.h"
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
  // The thread body; returns after Stop().
  void Run();

  // Any thread.
  void Stop() { loop_.Stop(); }
  void SetAuthenticator(std::shared_ptr<const auth::Authenticator> auth);
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
    void OnIoEvent(uint32_t) override { worker->ReadRelay(*this); }
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
};

}  // namespace cv::net
