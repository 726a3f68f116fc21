// Allocation quotas that span workers: per user (user-quota) and in total (total-quota).
// Touched only when an allocation is created or deleted (never per packet). The total is one
// atomic; per-user counts are split over shards with their own mutex so that workers rarely meet.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cv::turn {

enum class QuotaResult : uint8_t { kOk, kUserFull, kTotalFull };

// Thread-safe: any worker may call any method.
class QuotaTracker {
 public:
  // 0 means unlimited.
  QuotaTracker(uint32_t per_user, uint32_t total) : per_user_(per_user), total_limit_(total) {}

  QuotaResult Acquire(std::string_view user);
  void Release(std::string_view user);
  uint32_t total() const { return total_.load(std::memory_order_relaxed); }
  uint32_t ForUser(std::string_view user) const;

 private:
  static constexpr size_t kShards = 16;
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, uint32_t> counts;
  };
  Shard& ShardFor(std::string_view user) const;

  const uint32_t per_user_;
  const uint32_t total_limit_;
  std::atomic<uint32_t> total_{0};
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace cv::turn
