#include "cv/auth/usage_ledger.h"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <utility>

namespace cv::auth {

UsageVerdict Judge(uint32_t monthly_relay_minutes, bool guarded, const Standing& standing,
                   int64_t now_ms) {
  UsageVerdict v;
  if (monthly_relay_minutes != 0 && standing.month_start_ms == UtcMonthStartMs(now_ms)) {
    v.quota_exhausted = standing.month_relayed_ms >= uint64_t{monthly_relay_minutes} * 60'000;
  }
  if (guarded && standing.guard_until_ms > now_ms) v.capped_duration_s = standing.guard_capped_s;
  return v;
}

Standing StandingOf(const UserUsage& usage, int64_t now_ms) {
  Standing s;
  s.month_start_ms = UtcMonthStartMs(now_ms);
  s.month_relayed_ms = usage.month.relayed_ms;
  if (usage.guard) s.SetGuard(*usage.guard);
  return s;
}

namespace {

using namespace std::chrono_literals;

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Standings by user, sharded so that workers looking up different users rarely meet.
class StandingView {
 public:
  Standing Get(std::string_view user) const {
    const Shard& s = ShardOf(user);
    std::shared_lock lock(s.mu);
    auto it = s.map.find(user);
    return it == s.map.end() ? Standing{} : it->second;
  }
  void Put(const std::string& user, const Standing& standing) {
    Shard& s = ShardOf(user);
    std::unique_lock lock(s.mu);
    s.map.insert_or_assign(user, standing);
  }
  // Calls `visit` for every standing (shard by shard, under its read lock).
  void ForEach(const std::function<void(const std::string&, const Standing&)>& visit) const {
    for (const Shard& s : shards_) {
      std::shared_lock lock(s.mu);
      for (const auto& [user, standing] : s.map) visit(user, standing);
    }
  }

 private:
  struct Shard {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, Standing, StringHash, std::equal_to<>> map;
  };
  Shard& ShardOf(std::string_view user) { return shards_[StringHash{}(user) % shards_.size()]; }
  const Shard& ShardOf(std::string_view user) const {
    return shards_[StringHash{}(user) % shards_.size()];
  }
  std::array<Shard, 16> shards_;
};

// A snapshot's identity in the queue. Every record of one ledger has the same node.
struct RecordKey {
  std::string run;
  uint64_t allocation;
  bool operator==(const RecordKey&) const = default;
};
struct RecordKeyHash {
  size_t operator()(const RecordKey& k) const {
    return std::hash<std::string>{}(k.run) ^ (std::hash<uint64_t>{}(k.allocation) * 31);
  }
};
using Queue = std::unordered_map<RecordKey, UsageRecord, RecordKeyHash>;

// Keeps whichever snapshot of the same allocation is later.
void Merge(Queue& queue, UsageRecord record) {
  RecordKey key{record.run, record.allocation};
  auto [it, inserted] = queue.try_emplace(std::move(key), std::move(record));
  if (inserted) return;
  UsageRecord& held = it->second;
  if (record.last_ms > held.last_ms || (record.ended() && !held.ended())) {
    held = std::move(record);
  }
}

class Ledger final : public UsageLedger {
 public:
  Ledger(std::unique_ptr<UsageStore> writer, std::unique_ptr<UsageStore> reader,
         LedgerOptions options, std::shared_ptr<const Plans> plans, LedgerCallbacks* callbacks)
      : writer_(std::move(writer)),
        reader_(std::move(reader)),
        options_(std::move(options)),
        callbacks_(callbacks),
        plans_(std::move(plans)) {
    if (!options_.now_ms) {
      options_.now_ms = [] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
      };
    }
  }
  ~Ledger() override { Stop(5s); }

  bool Open(std::string* error) {
    auto closed = writer_->CloseInterrupted(options_.node, options_.run, error);
    if (!closed) return false;
    stats_.interrupted_closed = *closed;
    const int64_t now = options_.now_ms();
    auto month = writer_->Month(now, error);
    if (!month) return false;
    auto guards = writer_->ActiveGuards(now, error);
    if (!guards) return false;
    const int64_t month_start = UtcMonthStartMs(now);
    for (const UserMonth& m : *month) {
      if (plans_->Find(m.plan).relay.monthly_relay_minutes == 0) continue;
      view_.Put(m.user, Standing{month_start, m.relayed_ms, 0, 0});
    }
    for (const AbuseGuard& g : *guards) {
      Standing s = view_.Get(g.user);
      s.SetGuard(g);
      view_.Put(g.user, s);
    }
    RefreshTopUsers(now);
    thread_ = std::thread([this] { Loop(); });
    return true;
  }

  void Submit(std::vector<UsageRecord> records) override {
    if (records.empty()) return;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      for (UsageRecord& r : records) Merge(queue_, std::move(r));
      ++submitted_;
    }
    wake_.notify_one();
  }

  void SetPlans(std::shared_ptr<const Plans> plans) override {
    std::lock_guard lock(mu_);
    plans_ = std::move(plans);
  }

  Standing Lookup(std::string_view user) const override { return view_.Get(user); }

  bool Flush(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    const uint64_t target = submitted_;
    return committed_cv_.wait_for(lock, timeout, [&] { return committed_ >= target; });
  }

  void Stop(std::chrono::milliseconds timeout) override {
    {
      std::lock_guard lock(mu_);
      if (!thread_.joinable()) return;
      stopping_ = true;
      stop_deadline_ = std::chrono::steady_clock::now() + timeout;
    }
    wake_.notify_one();
    thread_.join();
  }

  LedgerStats stats() const override {
    LedgerStats s;
    {
      std::lock_guard lock(mu_);
      s = stats_;
      s.queued = queue_.size() + in_flight_;
    }
    const int64_t now = options_.now_ms();
    view_.ForEach([&](const std::string&, const Standing& st) {
      if (st.guard_until_ms > now) ++s.guards_active;
    });
    s.quota_exhausted_users = exhausted_users_.load(std::memory_order_relaxed);
    return s;
  }

  std::vector<UserMonth> TopUsers() const override {
    std::lock_guard lock(mu_);
    return top_users_;
  }

  std::optional<UserUsage> User(std::string_view user, std::string* error) override {
    std::lock_guard lock(reader_mu_);
    return reader_->User(user, options_.now_ms(), error);
  }
  std::optional<UsageTotals> Session(std::string_view session, std::string* error) override {
    std::lock_guard lock(reader_mu_);
    return reader_->Session(session, error);
  }
  std::optional<std::vector<UsageRecord>> Records(const RecordFilter& filter,
                                                  std::string* error) override {
    std::lock_guard lock(reader_mu_);
    return reader_->Records(filter, error);
  }

 private:
  void Loop() {
    auto retry_delay = 1s;
    std::unique_lock lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping, and nothing left to write
      Queue batch = std::move(queue_);
      queue_.clear();
      const uint64_t covers = submitted_;
      in_flight_ = batch.size();
      lock.unlock();

      std::vector<UsageRecord> records;
      records.reserve(batch.size());
      for (auto& [key, record] : batch) records.push_back(std::move(record));
      std::string error;
      const auto started = std::chrono::steady_clock::now();
      const bool ok = writer_->Write(records, &error);
      const double took =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

      lock.lock();
      in_flight_ = 0;
      if (!ok) {
        ++stats_.write_errors;
        // Put the batch back under anything newer that arrived meanwhile, then wait.
        for (UsageRecord& r : records) Merge(queue_, std::move(r));
        lock.unlock();
        if (callbacks_ != nullptr) callbacks_->OnWriteError(error);
        lock.lock();
        if (stopping_ && std::chrono::steady_clock::now() >= stop_deadline_) break;
        auto until = std::chrono::steady_clock::now() + retry_delay;
        if (stopping_) until = std::min(until, stop_deadline_);
        // A Stop() whose deadline comes sooner cuts the wait short.
        wake_.wait_until(lock, until, [&] { return stopping_ && stop_deadline_ < until; });
        retry_delay = std::min<std::chrono::seconds>(retry_delay * 2, 30s);
        continue;
      }
      retry_delay = 1s;
      stats_.records_written += records.size();
      ++stats_.commits;
      stats_.last_commit_seconds = took;
      stats_.last_commit_unix_ms = options_.now_ms();
      std::shared_ptr<const Plans> plans = plans_;
      lock.unlock();
      Evaluate(records, *plans);
      lock.lock();
      // Flush() returns once the records are committed and their standings judged.
      committed_ = covers;
      committed_cv_.notify_all();
    }
  }

  // Standings of the users in a committed batch; reports verdicts that turned worse.
  void Evaluate(const std::vector<UsageRecord>& records, const Plans& plans) {
    const int64_t now = options_.now_ms();
    std::unordered_map<std::string, const UsageRecord*> latest;  // user → latest record
    for (const UsageRecord& r : records) {
      const UsageRecord*& slot = latest[r.user];
      if (slot == nullptr || r.last_ms > slot->last_ms) slot = &r;
    }
    for (const auto& [user, record] : latest) {
      const RelayPolicy& relay = plans.Find(record->plan).relay;
      const AbuseGuardPolicy& guard = relay.abuse_guard;
      if (relay.monthly_relay_minutes == 0 && !guard.enabled) continue;
      std::string error;
      auto usage = writer_->User(user, now, &error);
      if (!usage) continue;
      const Standing before = view_.Get(user);
      Standing after = StandingOf(*usage, now);
      bool guard_started = false;
      if (guard.enabled && after.guard_until_ms <= now) {
        std::optional<uint64_t> calls =
            writer_->RelayedCalls(user, now - int64_t{guard.window_s} * 1000, &error);
        if (calls && *calls >= guard.relayed_calls) {
          AbuseGuard g{user, now, now + int64_t{guard.penalty_s} * 1000, guard.capped_duration_s,
                       static_cast<uint32_t>(*calls)};
          if (writer_->AddGuard(g, &error)) {
            after.SetGuard(g);
            guard_started = true;
          }
        }
      }
      view_.Put(user, after);
      const UsageVerdict was = Judge(relay.monthly_relay_minutes, guard.enabled, before, now);
      const UsageVerdict is = Judge(relay.monthly_relay_minutes, guard.enabled, after, now);
      if (is.quota_exhausted && !was.quota_exhausted) {
        exhausted_users_.fetch_add(1, std::memory_order_relaxed);
      } else if (!is.quota_exhausted && was.quota_exhausted) {
        exhausted_users_.fetch_sub(1, std::memory_order_relaxed);
      }
      if (callbacks_ != nullptr &&
          ((is.quota_exhausted && !was.quota_exhausted) || guard_started)) {
        callbacks_->OnStandingChanged(user, after);
      }
    }
    RefreshTopUsers(now);
  }

  // Top users at most every 5 s of wall time (writer thread, or Open before it starts).
  void RefreshTopUsers(int64_t now) {
    if (options_.top_users == 0 || now - top_users_at_ < 5000) return;
    std::string error;
    auto top = writer_->TopUsers(now, options_.top_users, &error);
    if (!top) return;
    top_users_at_ = now;
    std::lock_guard lock(mu_);
    top_users_ = std::move(*top);
  }

  std::unique_ptr<UsageStore> writer_;  // writer thread (and Open, before it starts)
  std::unique_ptr<UsageStore> reader_;  // control path, under reader_mu_
  std::mutex reader_mu_;
  LedgerOptions options_;
  LedgerCallbacks* callbacks_;
  StandingView view_;
  std::atomic<uint64_t> exhausted_users_{0};
  int64_t top_users_at_ = INT64_MIN / 2;  // writer thread

  mutable std::mutex mu_;  // guards everything below
  std::shared_ptr<const Plans> plans_;
  Queue queue_;
  size_t in_flight_ = 0;
  uint64_t submitted_ = 0;  // Submit calls so far
  uint64_t committed_ = 0;  // Submit calls whose records are all committed
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_deadline_;
  LedgerStats stats_;
  std::vector<UserMonth> top_users_;
  std::condition_variable wake_, committed_cv_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<UsageLedger> UsageLedger::Start(std::unique_ptr<UsageStore> writer,
                                                std::unique_ptr<UsageStore> reader,
                                                LedgerOptions options,
                                                std::shared_ptr<const Plans> plans,
                                                LedgerCallbacks* callbacks, std::string* error) {
  if (!plans) plans = std::make_shared<const Plans>(Plans::Defaults());
  auto ledger = std::make_unique<Ledger>(std::move(writer), std::move(reader), std::move(options),
                                         std::move(plans), callbacks);
  if (!ledger->Open(error)) return nullptr;
  return ledger;
}

}  // namespace cv::auth
