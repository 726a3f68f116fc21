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

#include "relay/common/address.h"
#include "relay/common/clock.h"

namespace cv::turn {

struct SourceRateLimitConfig {
  double rate_per_second = 0;  // 0 (or less) = unlimited
  uint32_t burst = 1;          // requests allowed at once; at least 1
  size_t slots = 4096;         // rounded up to a power of two, at least 4
  int ipv6_prefix_bits = 64;   // IPv6 sources are keyed by this prefix (1..128)
  uint64_t seed = 0;           // hash seed; 0 = random
};

class SourceRateLimiter {
 public:
  static constexpr size_t kWays = 4;

  explicit SourceRateLimiter(const SourceRateLimitConfig& config);
  SourceRateLimiter(double rate_per_second, uint32_t burst)
      : SourceRateLimiter(SourceRateLimitConfig{rate_per_second, burst}) {}

  // True if a request from `ip` at `now` is within its limit (and counts it).
  bool Allow(const IpAddress& ip, MonoTime now);

  bool unlimited() const { return interval_ == Duration::zero(); }
  size_t capacity() const { return slot_count_; }
  // Entries replaced while they still held a partly drained bucket (a sign of a flood).
  uint64_t evictions() const { return evictions_; }

 private:
  struct Slot {
    IpAddress key;
    bool used = false;
    MonoTime tat{};  // when the bucket will be full again
  };

  IpAddress KeyOf(const IpAddress& ip) const;

  Duration interval_{};   // time to earn one request
  Duration tolerance_{};  // burst × interval
  int ipv6_prefix_bits_;
  uint64_t seed_;
  size_t slot_count_;
  size_t set_mask_;
  std::unique_ptr<Slot[]> slots_;
  uint64_t evictions_ = 0;
};

}  // namespace cv::turn
