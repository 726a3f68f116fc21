#include "relay/turn/rate_limiter.h"

#include <openssl/rand.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>

namespace cv::turn {
SourceRateLimiter::SourceRateLimiter(const SourceRateLimitConfig& config)
    : ipv6_prefix_bits_(std::clamp(config.ipv6_prefix_bits, 1, 128)), seed_(config.seed) {
  if (config.rate_per_second > 0 && std::isfinite(config.rate_per_second)) {
    // Capped at ~31 years so that time arithmetic cannot overflow; below a nanosecond per
    // request there is nothing left to limit.
    constexpr double kMaxNs = 1e18;
    const double ns = std::min(1e9 / config.rate_per_second, kMaxNs);
    const double burst = std::max<uint32_t>(config.burst, 1);
    interval_ =
        std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(static_cast<int64_t>(ns)));
    tolerance_ = std::chrono::duration_cast<Duration>(
        std::chrono::nanoseconds(static_cast<int64_t>(std::min(ns * burst, kMaxNs))));
  }
  if (seed_ == 0 && RAND_bytes(reinterpret_cast<unsigned char*>(&seed_), sizeof(seed_)) != 1) {
    seed_ = reinterpret_cast<uintptr_t>(this) ^ 0x9E3779B97F4A7C15ull;
  }
  slot_count_ = std::bit_ceil(std::clamp<size_t>(config.slots, kWays, size_t{1} << 24));
  set_mask_ = slot_count_ / kWays - 1;
  slots_ = std::make_unique<Slot[]>(slot_count_);
}

IpAddress SourceRateLimiter::KeyOf(const IpAddress& ip) const {
  if (ip.is_v4()) return ip;
  const uint8_t* b = ip.data();
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, kMapped, sizeof(kMapped)) == 0) return IpAddress::V4FromBytes(b + 12);
  uint8_t masked[16] = {};
  const int whole = ipv6_prefix_bits_ / 8;
  std::memcpy(masked, b, static_cast<size_t>(whole));
  if (ipv6_prefix_bits_ % 8 != 0) {
    masked[whole] = b[whole] & static_cast<uint8_t>(0xff00u >> (ipv6_prefix_bits_ % 8));
  }
  return IpAddress::V6FromBytes(masked);
}

bool SourceRateLimiter::Allow(const IpAddress& ip, MonoTime now) {
  if (unlimited()) return true;
  const IpAddress key = KeyOf(ip);
  const size_t set = HashBytes(key.data(), key.size(), seed_ ^ key.size()) & set_mask_;
  Slot* ways = &slots_[set * kWays];

  Slot* entry = nullptr;
  Slot* victim = nullptr;
  for (size_t i = 0; i < kWays; ++i) {
    Slot& s = ways[i];
    if (s.used && s.key == key) {
      entry = &s;
      break;
    }
    if (victim == nullptr || (victim->used && (!s.used || s.tat < victim->tat))) victim = &s;
  }
  if (entry == nullptr) {
    if (victim->used && victim->tat > now) ++evictions_;
    victim->key = key;
    victim->used = true;
    victim->tat = now;
    entry = victim;
  }

  // GCRA: each request pushes the bucket's "full again" time one interval further; refuse when
  // that would be more than `burst` intervals ahead of now.
  const MonoTime next = std::max(entry->tat, now) + interval_;
  if (next - now > tolerance_) return false;
  entry->tat = next;
  return true;
}

}  // namespace cv::turn
