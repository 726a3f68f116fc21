#include "relay/turn/quota.h"

#include <algorithm>
#include <functional>

namespace cv::turn {
namespace {

uint32_t Tighter(uint32_t a, uint32_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

}  // namespace

QuotaTracker::Shard& QuotaTracker::ShardFor(std::string_view key) const {
  return shards_[std::hash<std::string_view>{}(key) % kShards];
}

std::string QuotaTracker::UserKey(std::string_view user) {
  std::string key;
  key.reserve(1 + user.size());
  key.push_back('u');
  key.append(user);
  return key;
}

std::string QuotaTracker::SessionKey(std::string_view user, std::string_view session) {
  std::string key;
  key.reserve(2 + user.size() + session.size());
  key.push_back('s');
  key.append(user).push_back('\n');
  key.append(session);
  return key;
}

bool QuotaTracker::Increment(const std::string& key, uint32_t limit) {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto [it, inserted] = shard.counts.try_emplace(key, 0);
  if (limit != 0 && it->second >= limit) {
    if (it->second == 0) shard.counts.erase(it);
    return false;
  }
  ++it->second;
  return true;
}

void QuotaTracker::Decrement(const std::string& key) {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.counts.find(key);
  if (it == shard.counts.end()) return;
  if (--it->second == 0) shard.counts.erase(it);
}

uint32_t QuotaTracker::Get(const std::string& key) const {
  Shard& shard = ShardFor(key);
  std::lock_guard lock(shard.mu);
  auto it = shard.counts.find(key);
  return it == shard.counts.end() ? 0 : it->second;
}

QuotaResult QuotaTracker::Acquire(const QuotaClaim& claim) {
  uint32_t total = total_.fetch_add(1, std::memory_order_relaxed);
  if (total_limit_ != 0 && total >= total_limit_) {
    total_.fetch_sub(1, std::memory_order_relaxed);
    return QuotaResult::kTotalFull;
  }
  const std::string user = UserKey(claim.user);
  if (!Increment(user, Tighter(per_user_, claim.user_limit))) {
    total_.fetch_sub(1, std::memory_order_relaxed);
    return QuotaResult::kUserFull;
  }
  if (!claim.session.empty() &&
      !Increment(SessionKey(claim.user, claim.session), claim.session_limit)) {
    Decrement(user);
    total_.fetch_sub(1, std::memory_order_relaxed);
    return QuotaResult::kSessionFull;
  }
  return QuotaResult::kOk;
}

void QuotaTracker::Release(std::string_view user, std::string_view session) {
  total_.fetch_sub(1, std::memory_order_relaxed);
  Decrement(UserKey(user));
  if (!session.empty()) Decrement(SessionKey(user, session));
}

uint32_t QuotaTracker::ForUser(std::string_view user) const { return Get(UserKey(user)); }

uint32_t QuotaTracker::ForSession(std::string_view user, std::string_view session) const {
  return Get(SessionKey(user, session));
}

}  // namespace cv::turn
