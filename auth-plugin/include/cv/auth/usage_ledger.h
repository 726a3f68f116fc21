// The usage ledger as the relay uses it: a writer thread fed through a queue, so no worker ever
// waits on disk, and the standings (monthly relay time, abuse guard) the relay enforces, derived
// from what the store holds after each commit.
//
//   workers ──Submit(snapshots)──▶ queue (one latest snapshot per allocation)
//                                    │ writer thread: Write() one transaction per batch
//                                    ▼
//                                  store ──▶ standings of the users in the batch ──▶ view
//                                                 │ changed verdict (quota used up, guard started)
//                                                 ▼
//                                  LedgerCallbacks::OnStandingChanged (writer thread)
//
// A failed commit keeps the batch and retries (1 s, then up to 30 s apart); the queue holds one
// snapshot per allocation, so it stays bounded by the number of allocations however long the
// store is away.
//
// Threading: Submit, Lookup, stats and TopUsers may be called from any thread and never block on
// I/O (Lookup takes a shard's read lock). User/Session/Records read the store through a separate
// connection, serialised by a mutex: control path only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cv/auth/plans.h"
#include "cv/auth/usage.h"
#include "cv/auth/usage_store.h"

namespace cv::auth {

// What the ledger knows of one user that the relay enforces.
struct Standing {
  int64_t month_start_ms = 0;     // the UTC month month_relayed_ms belongs to
  uint64_t month_relayed_ms = 0;  // relay time this month, as of the latest commit
  int64_t guard_until_ms = 0;     // relay-abuse guard in force until then; 0 = none
  uint32_t guard_capped_s = 0;    // the guard's maximum call duration

  void SetGuard(const AbuseGuard& guard) {
    guard_until_ms = guard.until_ms;
    guard_capped_s = guard.capped_duration_s;
  }
  friend bool operator==(const Standing&, const Standing&) = default;
};

// The standing a user's usage (as the store reports it at `now_ms`) amounts to.
Standing StandingOf(const UserUsage& usage, int64_t now_ms);

struct UsageVerdict {
  bool quota_exhausted = false;    // the month's relay minutes are used up → refuse, end
  uint32_t capped_duration_s = 0;  // 0, or the guard's maximum call duration

  friend bool operator==(const UsageVerdict&, const UsageVerdict&) = default;
};

// What `standing` means at `now_ms` for a plan with `monthly_relay_minutes` (0 = no limit) and
// the abuse guard `guarded` (on or off). A standing from an earlier month counts as nothing used.
UsageVerdict Judge(uint32_t monthly_relay_minutes, bool guarded, const Standing& standing,
                   int64_t now_ms);

struct LedgerOptions {
  std::string node;                 // node-id
  std::string run;                  // this run's id (16 hex digits)
  size_t top_users = 0;             // keep the top N users by relay time this month (0 = don't)
  std::function<int64_t()> now_ms;  // Unix ms; the system clock when empty
};

struct LedgerStats {
  uint64_t queued = 0;
  uint64_t records_written = 0;
  uint64_t commits = 0;
  uint64_t write_errors = 0;
  double last_commit_seconds = 0;
  int64_t last_commit_unix_ms = 0;
  uint64_t guards_active = 0;
  uint64_t quota_exhausted_users = 0;
  size_t interrupted_closed = 0;  // records of earlier runs closed at start
};

class LedgerCallbacks {
 public:
  virtual ~LedgerCallbacks() = default;
  // A user's verdict changed for the worse (monthly minutes used up, or a guard started). Called
  // on the writer thread; must not block.
  virtual void OnStandingChanged(const std::string& user, const Standing& standing) = 0;
  // A commit failed; the batch is kept and retried. Writer thread.
  virtual void OnWriteError(const std::string& /*error*/) {}
};

class UsageLedger {
 public:
  // Takes the writer's and the readers' connections to the same store. Closes records of earlier
  // runs of this node ("interrupted"), loads the standings of the month, and starts the writer.
  // nullptr with `error` when the store cannot be read.
  static std::unique_ptr<UsageLedger> Start(std::unique_ptr<UsageStore> writer,
                                            std::unique_ptr<UsageStore> reader,
                                            LedgerOptions options,
                                            std::shared_ptr<const Plans> plans,
                                            LedgerCallbacks* callbacks, std::string* error);
  virtual ~UsageLedger() = default;

  // Any thread; never blocks on I/O. A later snapshot of an allocation replaces a queued one.
  virtual void Submit(std::vector<UsageRecord> records) = 0;
  // Plans used to judge standings (reload).
  virtual void SetPlans(std::shared_ptr<const Plans> plans) = 0;
  // The user's standing as of the latest commit (a default Standing when the ledger has none).
  virtual Standing Lookup(std::string_view user) const = 0;
  // Blocks until everything submitted before the call is committed, or `timeout` passes.
  virtual bool Flush(std::chrono::milliseconds timeout) = 0;
  // Flushes (bounded by `timeout`) and stops the writer. Submit afterwards drops records.
  virtual void Stop(std::chrono::milliseconds timeout) = 0;

  virtual LedgerStats stats() const = 0;
  // The top users by relay time this month, as of the latest commit (empty unless enabled).
  virtual std::vector<UserMonth> TopUsers() const = 0;

  // Control path: reads through the reader connection.
  virtual std::optional<UserUsage> User(std::string_view user, std::string* error) = 0;
  virtual std::optional<UsageTotals> Session(std::string_view session, std::string* error) = 0;
  virtual std::optional<std::vector<UsageRecord>> Records(const RecordFilter& filter,
                                                          std::string* error) = 0;
};

}  // namespace cv::auth
