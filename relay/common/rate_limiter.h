// Per-source rate limit for what strangers may make the relay do (unauthenticated requests,
// 401 challenges): a token bucket per source address, in a table of fixed size, so memory stays
// flat however many addresses a flood spoofs.
//
// Each bucket is kept as GCRA's "theoretical arrival time" (one timestamp): a request is allowed
// when the bucket would not run past `burst` requests ahead of the `rate`. The table is
// set-associative (4 ways per set); a new source takes, within its set, a free entry, else the
// one with the least debt — entries that have refilled completely carry no state, and a hot
// source that is being limited carries the most, so a flood of new addresses evicts itself
// rather than the source it is supposed to limit.
//
// The key is the source IP only, so a changing source port does not reset the limit. An
// IPv4-mapped IPv6 address counts as its IPv4 address, and an IPv6 address counts as its /64
// (configurable): one end site gets at least a /64, and could otherwise rotate addresses.
//
// Threading: one instance per worker; not thread-safe. Allow() never allocates nor throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "relay/common/address.h"
#include "relay/common/clock.h"

namespace cv {

// The GCRA table itself, keyed by a 64-bit fingerprint of whatever is limited (an address, a
// user). Not thread-safe; never allocates after construction.
class RateTable {
 public:
  static constexpr size_t kWays = 4;

  // rate_per_second <= 0 (or not finite) = unlimited. `slots` is rounded up to a power of two.
  RateTable(double rate_per_second, uint32_t burst, size_t slots);

  // True if one more event for `key` at `now` is within its limit (and counts it).
  bool Allow(uint64_t key, MonoTime now);
  // True if the next Allow(key, now) would be refused. Counts nothing.
  bool Limited(uint64_t key, MonoTime now) const;
  // How long until the next Allow(key, …) would succeed; zero when it would now (Retry-After).
  Duration RetryAfter(uint64_t key, MonoTime now) const;
  // Refuses `key` until `until` (then it starts again with a full bucket).
  void Block(uint64_t key, MonoTime until, MonoTime now);

  bool unlimited() const { return interval_ == Duration::zero(); }
  size_t capacity() const { return slot_count_; }
  // Entries replaced while they still held a partly drained bucket (a sign of a flood).
  uint64_t evictions() const { return evictions_; }

 private:
  struct Slot {
    uint64_t key = 0;
    bool used = false;
    MonoTime tat{};  // when the bucket will be full again
  };
  const Slot* Find(uint64_t key) const;
  Slot& FindOrInsert(uint64_t key, MonoTime now);

  Duration interval_{};   // time to earn one event
  Duration tolerance_{};  // burst × interval
  size_t slot_count_;
  size_t set_mask_;
  std::unique_ptr<Slot[]> slots_;
  uint64_t evictions_ = 0;
};

struct SourceRateLimitConfig {
  double rate_per_second = 0;  // 0 (or less) = unlimited
  uint32_t burst = 1;          // requests allowed at once; at least 1
  size_t slots = 4096;         // rounded up to a power of two, at least 4
  int ipv6_prefix_bits = 64;   // IPv6 sources are keyed by this prefix (1..128)
  uint64_t seed = 0;           // hash seed; 0 = random
};

// Fingerprints of source addresses for RateTable: IPv4-mapped IPv6 counts as IPv4, and IPv6 as
// its prefix. Seeded, so a flood cannot aim at one set of the table.
class SourceKey {
 public:
  SourceKey(int ipv6_prefix_bits, uint64_t seed);  // seed 0 = random
  uint64_t operator()(const IpAddress& ip) const;
  // For other keys (user names), with the same seed.
  uint64_t operator()(std::string_view text) const;

 private:
  int ipv6_prefix_bits_;
  uint64_t seed_;
};

class SourceRateLimiter {
 public:
  explicit SourceRateLimiter(const SourceRateLimitConfig& config);
  SourceRateLimiter(double rate_per_second, uint32_t burst)
      : SourceRateLimiter(SourceRateLimitConfig{rate_per_second, burst}) {}

  // True if a request from `ip` at `now` is within its limit (and counts it).
  bool Allow(const IpAddress& ip, MonoTime now) { return table_.Allow(key_(ip), now); }

  bool unlimited() const { return table_.unlimited(); }
  size_t capacity() const { return table_.capacity(); }
  uint64_t evictions() const { return table_.evictions(); }

 private:
  SourceKey key_;
  RateTable table_;
};

}  // namespace cv
