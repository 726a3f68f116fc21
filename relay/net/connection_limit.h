// How many TCP, TLS and DTLS connections each source IP holds that are still in their handshake
// or hold no allocation yet (max-unauth-connections-per-ip). Shared by every worker: SO_REUSEPORT
// spreads one address's connections over all of them. Called once per connection accepted and
// once when it authenticates or closes (connection setup, never per packet), so a mutex is fine.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "relay/common/address.h"

namespace cv::net {

class ConnectionLimit {
 public:
  explicit ConnectionLimit(uint32_t per_ip) : per_ip_(per_ip) {}

  // Takes a slot for `ip`; false (nothing taken) when it already holds per_ip. 0 = no cap.
  bool TryAcquire(const IpAddress& ip) {
    std::lock_guard lock(mu_);
    uint32_t& n = held_[ip];
    if (per_ip_ != 0 && n >= per_ip_) {
      if (n == 0) held_.erase(ip);
      return false;
    }
    ++n;
    return true;
  }
  void Release(const IpAddress& ip) {
    std::lock_guard lock(mu_);
    auto it = held_.find(ip);
    if (it == held_.end()) return;
    if (--it->second == 0) held_.erase(it);
  }
  uint32_t held(const IpAddress& ip) const {
    std::lock_guard lock(mu_);
    auto it = held_.find(ip);
    return it == held_.end() ? 0 : it->second;
  }

 private:
  const uint32_t per_ip_;
  mutable std::mutex mu_;
  std::unordered_map<IpAddress, uint32_t, IpAddressHash> held_;
};

}  // namespace cv::net
