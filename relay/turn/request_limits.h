// Limits on what one source address or one user may make the relay do, shared by every worker:
//   - Allocate requests that passed authentication, per source address and per user (a token
//     bucket each) → the relay answers 486;
//   - failed authentication (bad MESSAGE-INTEGRITY, unknown user or key id), per source address
//     and per user: `auth_failures` within `auth_failure_window_s` bans that source or that user
//     for `auth_ban_s` → 403 until the ban ends.
// Only requests that carry a valid nonce are counted, so a spoofed source address — which never
// sees the nonce sent to the real one — cannot get its victim banned. A per-user ban can be
// triggered by anyone holding a nonce and naming that user; it is short and its threshold is
// higher than the per-source one for that reason (docs/auth.md).
//
// Threading: any worker may call any method. Touched only on the control path (authenticated
// Allocates and failed authentications), never per relayed packet; each table is split into
// shards with their own mutex so that workers rarely meet. Memory is fixed at construction.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

#include "relay/common/address.h"
#include "relay/common/clock.h"
#include "relay/common/rate_limiter.h"

namespace cv::turn {

struct RequestLimitsConfig {
  double allocate_rate_per_source = 20;  // Allocates per second; 0 = unlimited
  uint32_t allocate_burst_per_source = 60;
  double allocate_rate_per_user = 5;
  uint32_t allocate_burst_per_user = 30;
  uint32_t auth_failures_per_source = 10;  // within the window, then a ban; 0 = never ban
  uint32_t auth_failures_per_user = 20;
  uint32_t auth_failure_window_s = 60;
  uint32_t auth_ban_s = 60;
  size_t slots_per_table = 8192;
};

enum class LimitScope : uint8_t { kNone, kSource, kUser };

class RequestLimits {
 public:
  explicit RequestLimits(const RequestLimitsConfig& config, uint64_t seed = 0);

  // Counts one authenticated Allocate; the scope that is over its rate, else kNone.
  LimitScope AllowAllocate(const IpAddress& source, std::string_view user, MonoTime now);
  // Whether `source` or `user` (may be empty) is banned now. Counts nothing.
  LimitScope Banned(const IpAddress& source, std::string_view user, MonoTime now);
  // Counts one failed authentication; returns the scope a ban was imposed on by this failure.
  LimitScope RecordAuthFailure(const IpAddress& source, std::string_view user, MonoTime now);

 private:
  static constexpr size_t kShards = 8;
  // One RateTable split into mutex-guarded shards by key.
  class SharedTable {
   public:
    SharedTable(double rate, uint32_t burst, size_t slots);
    bool Allow(uint64_t key, MonoTime now);
    bool Limited(uint64_t key, MonoTime now);
    void Block(uint64_t key, MonoTime until, MonoTime now);

   private:
    struct Shard {
      std::mutex mu;
      std::unique_ptr<RateTable> table;
    };
    Shard& ShardFor(uint64_t key) { return shards_[(key >> 59) % kShards]; }
    std::array<Shard, kShards> shards_;
  };
  // Counts a failure in `table`; bans `key` once the failures fill its bucket.
  bool Fail(SharedTable& table, uint64_t key, MonoTime now);

  const RequestLimitsConfig config_;
  SourceKey key_;
  SharedTable allocate_source_, allocate_user_;
  SharedTable fail_source_, fail_user_;
};

}  // namespace cv::turn
