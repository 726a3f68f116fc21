#include "relay/turn/quota.h"

#include <functional>

namespace cv::turn {

QuotaTracker::Shard& QuotaTracker::ShardFor(std::string_view user) const {
  return shards_[std::hash<std::string_view>{}(user) % kShards];
}

QuotaResult QuotaTracker::Acquire(std::string_view user) {
  uint32_t total = total_.fetch_add(1, std::memory_order_relaxed);
  if (total_limit_ != 0 && total >= total_limit_) {
    total_.fetch_sub(1, std::memory_order_relaxed);
    return QuotaResult::kTotalFull;
  }
  Shard& shard = ShardFor(user);
  std::lock_guard lock(shard.mu);
  auto [it, inserted] = shard.counts.try_emplace(std::string(user), 0);
  if (per_user_ != 0 && it->second >= per_user_) {
    if (it->second == 0) shard.counts.erase(it);
    total_.fetch_sub(1, std::memory_order_relaxed);
    return QuotaResult::kUserFull;
  }
  ++it->second;
  return QuotaResult::kOk;
}

void QuotaTracker::Release(std::string_view user) {
  total_.fetch_sub(1, std::memory_order_relaxed);
  Shard& shard = ShardFor(user);
  std::lock_guard lock(shard.mu);
  auto it = shard.counts.find(std::string(user));
  if (it == shard.counts.end()) return;
  if (--it->second == 0) shard.counts.erase(it);
}

uint32_t QuotaTracker::ForUser(std::string_view user) const {
  Shard& shard = ShardFor(user);
  std::lock_guard lock(shard.mu);
  auto it = shard.counts.find(std::string(user));
  return it == shard.counts.end() ? 0 : it->second;
}

}  // namespace cv::turn
