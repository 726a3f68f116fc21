#include "relay/turn/request_limits.h"

namespace cv::turn {
namespace {

// A failure budget of `failures` per `window_s`, as a rate and a burst; 0 failures = no limit.
double FailureRate(uint32_t failures, uint32_t window_s) {
  return failures == 0 || window_s == 0 ? 0.0 : static_cast<double>(failures) / window_s;
}

}  // namespace

RequestLimits::SharedTable::SharedTable(double rate, uint32_t burst, size_t slots) {
  for (Shard& s : shards_) s.table = std::make_unique<RateTable>(rate, burst, slots / kShards);
}

bool RequestLimits::SharedTable::Allow(uint64_t key, MonoTime now) {
  Shard& s = ShardFor(key);
  std::lock_guard lock(s.mu);
  return s.table->Allow(key, now);
}

bool RequestLimits::SharedTable::Limited(uint64_t key, MonoTime now) {
  Shard& s = ShardFor(key);
  std::lock_guard lock(s.mu);
  return s.table->Limited(key, now);
}

void RequestLimits::SharedTable::Block(uint64_t key, MonoTime until, MonoTime now) {
  Shard& s = ShardFor(key);
  std::lock_guard lock(s.mu);
  s.table->Block(key, until, now);
}

RequestLimits::RequestLimits(const RequestLimitsConfig& config, uint64_t seed)
    : config_(config),
      key_(64, seed),
      allocate_source_(config.allocate_rate_per_source, config.allocate_burst_per_source,
                       config.slots_per_table),
      allocate_user_(config.allocate_rate_per_user, config.allocate_burst_per_user,
                     config.slots_per_table),
      fail_source_(FailureRate(config.auth_failures_per_source, config.auth_failure_window_s),
                   config.auth_failures_per_source, config.slots_per_table),
      fail_user_(FailureRate(config.auth_failures_per_user, config.auth_failure_window_s),
                 config.auth_failures_per_user, config.slots_per_table) {}

LimitScope RequestLimits::AllowAllocate(const IpAddress& source, std::string_view user,
                                        MonoTime now) {
  if (!allocate_source_.Allow(key_(source), now)) return LimitScope::kSource;
  if (!allocate_user_.Allow(key_(user), now)) return LimitScope::kUser;
  return LimitScope::kNone;
}

LimitScope RequestLimits::Banned(const IpAddress& source, std::string_view user, MonoTime now) {
  if (fail_source_.Limited(key_(source), now)) return LimitScope::kSource;
  if (!user.empty() && fail_user_.Limited(key_(user), now)) return LimitScope::kUser;
  return LimitScope::kNone;
}

bool RequestLimits::Fail(SharedTable& table, uint64_t key, MonoTime now) {
  // The failure that empties the bucket (or one past it) starts the ban.
  if (table.Allow(key, now) && !table.Limited(key, now)) return false;
  table.Block(key, now + seconds(config_.auth_ban_s), now);
  return true;
}

LimitScope RequestLimits::RecordAuthFailure(const IpAddress& source, std::string_view user,
                                            MonoTime now) {
  LimitScope banned = LimitScope::kNone;
  if (config_.auth_failures_per_source != 0 && Fail(fail_source_, key_(source), now)) {
    banned = LimitScope::kSource;
  }
  if (config_.auth_failures_per_user != 0 && !user.empty() && Fail(fail_user_, key_(user), now) &&
      banned == LimitScope::kNone) {
    banned = LimitScope::kUser;
  }
  return banned;
}

}  // namespace cv::turn
