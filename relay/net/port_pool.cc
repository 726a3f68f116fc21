#include "relay/net/port_pool.h"

#include <unistd.h>

#include <random>

namespace cv::net {

PortPool::PortPool(uint16_t min_port, uint16_t max_port)
    : min_(min_port), max_(max_port), cursor_(std::random_device{}()) {}

uint16_t PortPool::Next() {
  uint32_t n = cursor_.fetch_add(1, std::memory_order_relaxed);
  return static_cast<uint16_t>(min_ + n % size());
}

ReservationTable::~ReservationTable() {
  for (auto& [token, e] : entries_) close(e.fd);
}

void ReservationTable::Put(uint64_t token, int fd, const SocketAddress& address, MonoTime now) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = entries_.try_emplace(token, Entry{fd, address, now + kLifetime});
  if (!inserted) close(fd);  // 64 random bits colliding: keep the first, drop this one
}

std::optional<std::pair<int, SocketAddress>> ReservationTable::Take(uint64_t token, MonoTime now) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(token);
  if (it == entries_.end()) return std::nullopt;
  Entry e = it->second;
  entries_.erase(it);
  if (e.expires <= now) {
    close(e.fd);
    return std::nullopt;
  }
  return std::make_pair(e.fd, e.address);
}

void ReservationTable::Expire(MonoTime now) {
  std::lock_guard lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.expires <= now) {
      close(it->second.fd);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
}

size_t ReservationTable::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace cv::net
