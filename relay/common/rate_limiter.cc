#include "relay/common/rate_limiter.h"

#include <openssl/rand.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>

namespace cv {

RateTable::RateTable(double rate_per_second, uint32_t burst, size_t slots) {
  if (rate_per_second > 0 && std::isfinite(rate_per_second)) {
    // Capped at ~31 years so that time arithmetic cannot overflow; below a nanosecond per
    // event there is nothing left to limit.
    constexpr double kMaxNs = 1e18;
    const double ns = std::min(1e9 / rate_per_second, kMaxNs);
    const double b = std::max<uint32_t>(burst, 1);
    interval_ =
        std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(static_cast<int64_t>(ns)));
    tolerance_ = std::chrono::duration_cast<Duration>(
        std::chrono::nanoseconds(static_cast<int64_t>(std::min(ns * b, kMaxNs))));
  }
  slot_count_ = std::bit_ceil(std::clamp<size_t>(slots, kWays, size_t{1} << 24));
  set_mask_ = slot_count_ / kWays - 1;
  slots_ = std::make_unique<Slot[]>(slot_count_);
}

const RateTable::Slot* RateTable::Find(uint64_t key) const {
  const Slot* ways = &slots_[(key & set_mask_) * kWays];
  for (size_t i = 0; i < kWays; ++i) {
    if (ways[i].used && ways[i].key == key) return &ways[i];
  }
  return nullptr;
}

// Within the key's set: its entry, else a free one, else the one with the least debt — entries
// that have refilled completely carry no state, and a hot key that is being limited carries the
// most, so a flood of new keys evicts itself rather than the key it is supposed to limit.
RateTable::Slot& RateTable::FindOrInsert(uint64_t key, MonoTime now) {
  Slot* ways = &slots_[(key & set_mask_) * kWays];
  Slot* victim = nullptr;
  for (size_t i = 0; i < kWays; ++i) {
    Slot& s = ways[i];
    if (s.used && s.key == key) return s;
    if (victim == nullptr || (victim->used && (!s.used || s.tat < victim->tat))) victim = &s;
  }
  if (victim->used && victim->tat > now) ++evictions_;
  victim->key = key;
  victim->used = true;
  victim->tat = now;
  return *victim;
}

bool RateTable::Allow(uint64_t key, MonoTime now) {
  if (unlimited()) return true;
  Slot& entry = FindOrInsert(key, now);
  // GCRA: each event pushes the bucket's "full again" time one interval further; refuse when
  // that would be more than `burst` intervals ahead of now.
  const MonoTime next = std::max(entry.tat, now) + interval_;
  if (next - now > tolerance_) return false;
  entry.tat = next;
  return true;
}

bool RateTable::Limited(uint64_t key, MonoTime now) const {
  if (unlimited()) return false;
  const Slot* entry = Find(key);
  return entry != nullptr && std::max(entry->tat, now) + interval_ - now > tolerance_;
}

Duration RateTable::RetryAfter(uint64_t key, MonoTime now) const {
  if (unlimited()) return Duration::zero();
  const Slot* entry = Find(key);
  if (entry == nullptr) return Duration::zero();
  const Duration ahead = std::max(entry->tat, now) + interval_ - now - tolerance_;
  return std::max(ahead, Duration::zero());
}

void RateTable::Block(uint64_t key, MonoTime until, MonoTime now) {
  if (unlimited()) return;
  Slot& entry = FindOrInsert(key, now);
  // Limited() holds while tat - now > tolerance - interval, i.e. until `until`.
  entry.tat = std::max(entry.tat, until + tolerance_ - interval_);
}

SourceKey::SourceKey(int ipv6_prefix_bits, uint64_t seed)
    : ipv6_prefix_bits_(std::clamp(ipv6_prefix_bits, 1, 128)), seed_(seed) {
  if (seed_ == 0 && RAND_bytes(reinterpret_cast<unsigned char*>(&seed_), sizeof(seed_)) != 1) {
    seed_ = reinterpret_cast<uintptr_t>(this) ^ 0x9E3779B97F4A7C15ull;
  }
}

uint64_t SourceKey::operator()(const IpAddress& ip) const {
  const uint8_t* b = ip.data();
  if (ip.is_v4()) return HashBytes(b, 4, seed_ ^ 4);
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(b, kMapped, sizeof(kMapped)) == 0) return HashBytes(b + 12, 4, seed_ ^ 4);
  uint8_t masked[16] = {};
  const int whole = ipv6_prefix_bits_ / 8;
  std::memcpy(masked, b, static_cast<size_t>(whole));
  if (ipv6_prefix_bits_ % 8 != 0) {
    masked[whole] = b[whole] & static_cast<uint8_t>(0xff00u >> (ipv6_prefix_bits_ % 8));
  }
  return HashBytes(masked, sizeof(masked), seed_ ^ 16);
}

uint64_t SourceKey::operator()(std::string_view text) const {
  // A different seed tweak than addresses, so a name can never collide with an address on purpose.
  return HashBytes(reinterpret_cast<const uint8_t*>(text.data()), text.size(), ~seed_);
}

SourceRateLimiter::SourceRateLimiter(const SourceRateLimitConfig& config)
    : key_(config.ipv6_prefix_bits, config.seed),
      table_(config.rate_per_second, config.burst, config.slots) {}

}  // namespace cv
