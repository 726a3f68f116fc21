// Concurrent-allocation quotas that span workers: per user (user-quota and the plan's
// max_allocations_per_user), per call session (the plan's per-session cap) and in total
// (total-quota). Touched only when an allocation is created or deleted (never per packet). The
// total is one atomic; per-user and per-session counts are split over shards with their own
// mutex so that workers rarely meet.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cv::turn {

enum class QuotaResult : uint8_t { kOk, kUserFull, kSessionFull, kTotalFull };

struct QuotaClaim {
  std::string_view user;
  std::string_view session;  // empty: not counted per session
  uint32_t user_limit = 0;   // 0 = only the tracker's own per-user limit applies
  uint32_t session_limit = 0;
};

// Thread-safe: any worker may call any method.
class QuotaTracker {
 public:
  // 0 means unlimited.
  QuotaTracker(uint32_t per_user, uint32_t total) : per_user_(per_user), total_limit_(total) {}

  // Counts one allocation for the claim, or nothing when a limit is reached. The per-user limit
  // is the smaller non-zero one of the tracker's and the claim's.
  QuotaResult Acquire(const QuotaClaim& claim);
  // Undoes one successful Acquire with the same user and session.
  void Release(std::string_view user, std::string_view session);

  uint32_t total() const { return total_.load(std::memory_order_relaxed); }
  uint32_t ForUser(std::string_view user) const;
  uint32_t ForSession(std::string_view user, std::string_view session) const;

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, uint32_t> counts;
  };
  // Users and sessions share the shards: "u<user>" and "s<user>\n<session>" (claims ids cannot
  // contain a newline; a claimless name may, but only ever as a user key).
  static std::string UserKey(std::string_view user);
  static std::string SessionKey(std::string_view user, std::string_view session);
  bool Increment(const std::string& key, uint32_t limit);
  void Decrement(const std::string& key);
  uint32_t Get(const std::string& key) const;
  Shard& ShardFor(std::string_view key) const;

  const uint32_t per_user_;
  const uint32_t total_limit_;
  std::atomic<uint32_t> total_{0};
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace cv::turn
