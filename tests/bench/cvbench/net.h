// The bench's sockets and I/O: non-blocking UDP sockets with sized buffers, batches for
// sendmmsg/recvmmsg with preallocated slots (nothing is allocated per packet), the epoll loop
// and the monotonic clock every timestamp comes from.
//
// Threading: everything here belongs to the one bench thread.
#pragma once

#include <sys/socket.h>
#include <time.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "relay/common/address.h"

namespace cv::bench {

// CLOCK_MONOTONIC in nanoseconds: the one clock of send and receive timestamps.
inline uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

inline constexpr size_t kBatch = 64;       // datagrams per sendmmsg / recvmmsg
inline constexpr size_t kSlotSize = 2048;  // bytes per datagram slot

// A non-blocking UDP socket bound to `ip` (port 0: the kernel picks), with SO_RCVBUF and
// SO_SNDBUF of `buffer_bytes` (SO_*BUFFORCE first, which root may use beyond rmem_max) and
// SO_RXQ_OVFL on, so that recvmmsg reports the socket's own drops. -1 and `error` on failure.
int OpenUdpSocket(const IpAddress& ip, uint32_t buffer_bytes, SocketAddress* bound,
                  std::string* error);

// The local address the kernel would use to reach `destination` (a connected UDP socket's name).
std::optional<IpAddress> RouteSourceFor(const SocketAddress& destination);

// Raises RLIMIT_NOFILE to at least `needed` (the hard limit too when allowed). False and `error`
// when impossible.
bool RaiseFileLimit(uint64_t needed, std::string* error);

// Datagrams to send with one sendmmsg. Fill Slot(i) for i < kBatch, then Add(size, to).
class SendBatch {
 public:
  SendBatch();
  SendBatch(const SendBatch&) = delete;
  SendBatch& operator=(const SendBatch&) = delete;

  bool full() const { return count_ == kBatch; }
  bool empty() const { return count_ == 0; }
  size_t count() const { return count_; }
  // The next free slot (valid while !full()).
  uint8_t* NextSlot() { return slots_[count_].data(); }
  // Queues the next slot's first `size` bytes for `to` (which must outlive Flush).
  void Add(size_t size, const sockaddr* to, socklen_t to_len);
  // Sends everything queued on `fd`; returns how many datagrams the kernel took. Datagrams the
  // kernel refused (a full send buffer) are dropped and counted in `*refused`.
  size_t Flush(int fd, uint64_t* refused);

 private:
  std::array<std::array<uint8_t, kSlotSize>, kBatch> slots_;
  std::array<mmsghdr, kBatch> headers_;
  std::array<iovec, kBatch> iov_;
  size_t count_ = 0;
};

// Datagrams received with one recvmmsg, with their sources and the socket's drop counter.
class RecvBatch {
 public:
  RecvBatch();
  RecvBatch(const RecvBatch&) = delete;
  RecvBatch& operator=(const RecvBatch&) = delete;

  // One recvmmsg (MSG_DONTWAIT); the number of datagrams, 0 when none is waiting.
  size_t Receive(int fd);
  const uint8_t* data(size_t i) const { return slots_[i].data(); }
  size_t size(size_t i) const { return headers_[i].msg_len; }
  // The socket's SO_RXQ_OVFL drop counter as of the last datagram of the last Receive; nullopt
  // when not reported (the kernel reports it only once the socket has dropped something).
  std::optional<uint32_t> drops() const { return drops_; }

 private:
  static constexpr size_t kControlSize = 64;
  std::array<std::array<uint8_t, kSlotSize>, kBatch> slots_;
  std::array<mmsghdr, kBatch> headers_;
  std::array<iovec, kBatch> iov_;
  std::array<sockaddr_storage, kBatch> from_;
  std::array<std::array<uint8_t, kControlSize>, kBatch> control_;
  std::optional<uint32_t> drops_;
};

// Something that owns sockets registered with the loop.
class ReadableCallbacks {
 public:
  virtual ~ReadableCallbacks() = default;
  // Socket number `index` of this owner is readable.
  virtual void OnReadable(uint32_t index) = 0;
};

// Level-triggered epoll over every socket of the run; sub-millisecond waits (epoll_pwait2).
class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  bool ok() const { return epfd_ >= 0; }
  // `owner` must stay registered (it is looked up by a small id) for as long as fd is added.
  bool Add(int fd, ReadableCallbacks* owner, uint32_t index);
  void Remove(int fd);
  // `owner` is going away (its sockets are closed already).
  void Forget(ReadableCallbacks* owner);
  // Waits up to `timeout_ns` for readiness and dispatches; returns the number of events.
  int Poll(uint64_t timeout_ns);

 private:
  uint32_t OwnerId(ReadableCallbacks* owner);
  int epfd_ = -1;
  std::vector<ReadableCallbacks*> owners_;
  bool have_pwait2_ = true;
};

}  // namespace cv::bench
