// Where usage records live. The embedded default is one SQLite file (WAL, synchronous=FULL) that
// cvrelay writes and cvadmin reads on the same host; see docs/usage.md for the schema.
//
// Aggregates are kept by the store itself, so any writer gets them right: every upsert adds what
// it changed (new totals minus stored totals, never negative) to per-user hourly and daily rows,
// dated by the snapshot's last_ms in UTC. A replayed record changes nothing, so it adds nothing.
// Month totals are sums of at most 31 daily rows; the rolling 24 h sums the 24 hourly rows that
// start after now - 24 h, the current hour included (hourly rows older than 3 days are pruned).
//
// "Calls" are distinct call sessions with relayed traffic (relayed_ms > 0 or bytes either way);
// an allocation without a session (claimless credential) counts as a call of its own.
//
// Threading: one UsageStore is one connection, for one thread at a time. Open one per thread
// (the ledger's writer has its own, readers another). Busy waits are bounded by busy_timeout and
// retried, so a concurrent writer in another process delays a call instead of failing it.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cv/auth/usage.h"

namespace cv::auth {

struct UsageTotals {
  uint64_t relayed_ms = 0;
  uint64_t bytes_to_peer = 0, bytes_to_client = 0;
  uint64_t packets_to_peer = 0, packets_to_client = 0;
  uint64_t allocations = 0;  // allocations with usage in the period
  uint64_t calls = 0;        // distinct relayed calls in the period (see above)

  friend bool operator==(const UsageTotals&, const UsageTotals&) = default;
};

// The relay-abuse guard on one user: from since_ms to until_ms every relayed call of theirs is
// capped at capped_duration_s.
struct AbuseGuard {
  std::string user;
  int64_t since_ms = 0;
  int64_t until_ms = 0;
  uint32_t capped_duration_s = 0;
  uint32_t relayed_calls = 0;  // calls seen in the window when it started

  friend bool operator==(const AbuseGuard&, const AbuseGuard&) = default;
};

struct UserUsage {
  std::string user;
  std::string plan;                 // plan of the user's latest record; empty when they have none
  UsageTotals day;                  // the UTC day of `now`
  UsageTotals month;                // the UTC month of `now`
  UsageTotals last_24h;             // the 24 hours before `now` (hour granularity)
  std::optional<AbuseGuard> guard;  // the guard in force at `now`, if any
};

// A user's relay time this UTC month, and the plan of their latest record.
struct UserMonth {
  std::string user;
  std::string plan;
  uint64_t relayed_ms = 0;
};

// One user's totals on one UTC day (the daily aggregate rows; `calls` stays 0 there).
struct DailyUsage {
  std::string user;
  int64_t day_ms = 0;  // the UTC day's start
  UsageTotals totals;

  friend bool operator==(const DailyUsage&, const DailyUsage&) = default;
};

// One call session's relay totals over the allocations that started in a window.
struct SessionUsage {
  std::string session;  // empty for allocations without a session (claimless credentials)
  std::string user;     // of the session's first record
  std::string plan;     // of the session's first record
  UsageTotals totals;   // calls = 1 when relayed_ms or bytes > 0

  friend bool operator==(const SessionUsage&, const SessionUsage&) = default;
};

struct RecordFilter {
  std::string user;     // empty = any
  std::string session;  // empty = any
  std::string node;     // empty = any
  int64_t from_ms = 0;  // records whose [start_ms, last_ms] overlaps [from_ms, to_ms]
  int64_t to_ms = std::numeric_limits<int64_t>::max();
  bool live_only = false;
  size_t limit = 100;  // at most 10000
};

class UsageStore {
 public:
  virtual ~UsageStore() = default;

  // Upserts the batch in one durable transaction. Per record (node, run, allocation): totals and
  // last_ms only grow, peers accumulate (up to kMaxRecordPeers), and the first end reason wins.
  // False with `error` when nothing was written (the caller keeps the batch and retries).
  virtual bool Write(std::span<const UsageRecord> records, std::string* error) = 0;

  // Ends every live record of `node` from a run other than `current_run`: its end is its last
  // checkpoint and its reason "interrupted". Returns how many it closed.
  virtual std::optional<size_t> CloseInterrupted(std::string_view node,
                                                 std::string_view current_run,
                                                 std::string* error) = 0;

  // One user's day, month and rolling 24 h totals and the guard in force, as of `now_ms`.
  virtual std::optional<UserUsage> User(std::string_view user, int64_t now_ms,
                                        std::string* error) = 0;
  // Every user with relay time in the UTC month of `now_ms`.
  virtual std::optional<std::vector<UserMonth>> Month(int64_t now_ms, std::string* error) = 0;
  // Distinct relayed calls of `user` with traffic after `since_ms` (records whose last_ms is
  // later). Used for the abuse guard's window.
  virtual std::optional<uint64_t> RelayedCalls(std::string_view user, int64_t since_ms,
                                               std::string* error) = 0;
  // The `n` users with the most relay time in the UTC month of `now_ms`, most first.
  virtual std::optional<std::vector<UserMonth>> TopUsers(int64_t now_ms, size_t n,
                                                         std::string* error) = 0;
  // Totals of one call session (every allocation, every node); all zero for an empty session.
  virtual std::optional<UsageTotals> Session(std::string_view session, std::string* error) = 0;
  virtual std::optional<std::vector<UsageRecord>> Records(const RecordFilter& filter,
                                                          std::string* error) = 0;

  // Reports (cvadmin). Daily rows with day_ms in [from_ms, to_ms), `user` only when non-empty,
  // ordered by day then user.
  virtual std::optional<std::vector<DailyUsage>> Daily(int64_t from_ms, int64_t to_ms,
                                                       std::string_view user,
                                                       std::string* error) = 0;
  // Per call session: the allocations with start_ms in [from_ms, to_ms), summed (ordered by
  // session, then user). Claimless allocations (empty session) are summed per user.
  virtual std::optional<std::vector<SessionUsage>> Sessions(int64_t from_ms, int64_t to_ms,
                                                            std::string* error) = 0;

  virtual bool AddGuard(const AbuseGuard& guard, std::string* error) = 0;
  // Guards in force at `now_ms` (until_ms later than it), one per user: the latest-ending.
  virtual std::optional<std::vector<AbuseGuard>> ActiveGuards(int64_t now_ms,
                                                              std::string* error) = 0;

  virtual int schema_version() const = 0;
};

// The schema version this build writes. A file with a newer version is refused.
inline constexpr int kUsageSchemaVersion = 1;

struct SqliteStoreOptions {
  int busy_timeout_ms = 5000;
  bool read_only = false;      // for readers: never creates or migrates the file
  bool create_parent = false;  // create the file's directory (one level, mode 0750) if missing
};

// Opens (creating and migrating when allowed) the SQLite ledger at `path`. A new file gets mode
// 0640. nullptr with `error` ("usage-db /x/usage.db: unable to open database file") on failure.
std::unique_ptr<UsageStore> OpenSqliteUsageStore(const std::string& path,
                                                 const SqliteStoreOptions& options,
                                                 std::string* error);

}  // namespace cv::auth
