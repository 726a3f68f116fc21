// Relay ports, shared by all workers. The kernel is the arbiter of which ports are free (bind()
// fails on a taken one); the pool only spreads the workers' attempts over the range so they rarely
// collide, and keeps the sockets of ports reserved by EVEN-PORT (RFC 8656 §7.2, R bit) until the
// matching RESERVATION-TOKEN claims them — possibly on another worker, since the client's second
// socket may hash to another SO_REUSEPORT listener.
//
// Thread-safe. Touched only when allocations are created (control path), never per packet.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "relay/common/address.h"
#include "relay/common/clock.h"

namespace cv::net {

class PortPool {
 public:
  PortPool(uint16_t min_port, uint16_t max_port);

  uint16_t min_port() const { return min_; }
  uint16_t max_port() const { return max_; }
  uint32_t size() const { return static_cast<uint32_t>(max_) - min_ + 1; }
  // The next port to try, round-robin over the range from a random start.
  uint16_t Next();

 private:
  const uint16_t min_;
  const uint16_t max_;
  std::atomic<uint32_t> cursor_;
};

class ReservationTable {
 public:
  static constexpr Duration kLifetime = seconds(30);

  ~ReservationTable();
  // Keeps `fd` (bound to `address`) for the holder of `token`.
  void Put(uint64_t token, int fd, const SocketAddress& address, MonoTime now);
  // Hands over the socket for `token`, if it is still reserved. The caller owns the fd.
  std::optional<std::pair<int, SocketAddress>> Take(uint64_t token, MonoTime now);
  // Closes reservations nobody claimed in time.
  void Expire(MonoTime now);
  size_t size() const;

 private:
  struct Entry {
    int fd;
    SocketAddress address;
    MonoTime expires;
  };
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Entry> entries_;
};

}  // namespace cv::net
