// The SQLite usage ledger. Schema, aggregates and backup: docs/usage.md ("The ledger file").
#include <sqlite3.h>

#include <algorithm>
#include <iterator>

#include "cv/auth/sqlite_db.h"
#include "cv/auth/usage_store.h"

namespace cv::auth {

namespace {

constexpr int64_t kMsPerHour = 3'600'000;
constexpr int64_t kMsPerDay = 24 * kMsPerHour;
// Hourly rows serve only the rolling 24 h; older ones are deleted, at most once an hour.
constexpr int64_t kHourlyKeepMs = 3 * kMsPerDay;
constexpr size_t kMaxRecordsLimit = 10000;

// kMigrations[v] takes a file from schema version v to v + 1 (SqliteDb runs them). Version 2 is
// one more entry here (and kUsageSchemaVersion = 2); an entry is never edited once released.
//
// Day and hour buckets are computed in SQL (not by an application function) so that any writer,
// the sqlite3 shell included, keeps the aggregates right: floor(last_ms / bucket) * bucket,
// written with a non-negative modulo so that times before 1970 round down like UtcDayStartMs().
constexpr const char* kMigrations[] = {
    // 0 → 1: everything.
    R"sql(
CREATE TABLE allocations (
  node              TEXT    NOT NULL,
  run               TEXT    NOT NULL,
  allocation        INTEGER NOT NULL,
  user              TEXT    NOT NULL,
  session           TEXT    NOT NULL,
  line              TEXT    NOT NULL,
  plan              TEXT    NOT NULL,
  transport         TEXT    NOT NULL,
  client            TEXT    NOT NULL,
  peers             TEXT    NOT NULL,
  start_ms          INTEGER NOT NULL,
  last_ms           INTEGER NOT NULL,
  end_ms            INTEGER,
  reason            TEXT    NOT NULL,
  relayed_ms        INTEGER NOT NULL,
  bytes_to_peer     INTEGER NOT NULL,
  bytes_to_client   INTEGER NOT NULL,
  packets_to_peer   INTEGER NOT NULL,
  packets_to_client INTEGER NOT NULL,
  PRIMARY KEY (node, run, allocation)
);
CREATE INDEX allocations_by_user ON allocations (user, last_ms);
CREATE INDEX allocations_by_session ON allocations (session);
CREATE INDEX allocations_by_start ON allocations (start_ms);
CREATE INDEX allocations_live ON allocations (node) WHERE end_ms IS NULL;

CREATE TABLE usage_daily (
  user              TEXT    NOT NULL,
  day_ms            INTEGER NOT NULL,
  relayed_ms        INTEGER NOT NULL,
  bytes_to_peer     INTEGER NOT NULL,
  bytes_to_client   INTEGER NOT NULL,
  packets_to_peer   INTEGER NOT NULL,
  packets_to_client INTEGER NOT NULL,
  allocations       INTEGER NOT NULL,
  PRIMARY KEY (user, day_ms)
) WITHOUT ROWID;
CREATE INDEX usage_daily_by_day ON usage_daily (day_ms);

CREATE TABLE usage_hourly (
  user              TEXT    NOT NULL,
  hour_ms           INTEGER NOT NULL,
  relayed_ms        INTEGER NOT NULL,
  bytes_to_peer     INTEGER NOT NULL,
  bytes_to_client   INTEGER NOT NULL,
  packets_to_peer   INTEGER NOT NULL,
  packets_to_client INTEGER NOT NULL,
  allocations       INTEGER NOT NULL,
  PRIMARY KEY (user, hour_ms)
) WITHOUT ROWID;
CREATE INDEX usage_hourly_by_hour ON usage_hourly (hour_ms);

CREATE TABLE abuse_guards (
  user              TEXT    NOT NULL,
  since_ms          INTEGER NOT NULL,
  until_ms          INTEGER NOT NULL,
  capped_duration_s INTEGER NOT NULL,
  relayed_calls     INTEGER NOT NULL,
  PRIMARY KEY (user, since_ms)
) WITHOUT ROWID;
CREATE INDEX abuse_guards_by_until ON abuse_guards (until_ms);

-- A new allocation: its totals so far, and the allocation itself, in the buckets of its first
-- snapshot.
CREATE TRIGGER allocations_insert_usage AFTER INSERT ON allocations
BEGIN
  INSERT INTO usage_daily (user, day_ms, relayed_ms, bytes_to_peer, bytes_to_client,
                           packets_to_peer, packets_to_client, allocations)
  VALUES (NEW.user, NEW.last_ms - ((NEW.last_ms % 86400000) + 86400000) % 86400000,
          NEW.relayed_ms, NEW.bytes_to_peer, NEW.bytes_to_client, NEW.packets_to_peer,
          NEW.packets_to_client, 1)
  ON CONFLICT (user, day_ms) DO UPDATE SET
    relayed_ms = relayed_ms + excluded.relayed_ms,
    bytes_to_peer = bytes_to_peer + excluded.bytes_to_peer,
    bytes_to_client = bytes_to_client + excluded.bytes_to_client,
    packets_to_peer = packets_to_peer + excluded.packets_to_peer,
    packets_to_client = packets_to_client + excluded.packets_to_client,
    allocations = allocations + 1;
  INSERT INTO usage_hourly (user, hour_ms, relayed_ms, bytes_to_peer, bytes_to_client,
                            packets_to_peer, packets_to_client, allocations)
  VALUES (NEW.user, NEW.last_ms - ((NEW.last_ms % 3600000) + 3600000) % 3600000,
          NEW.relayed_ms, NEW.bytes_to_peer, NEW.bytes_to_client, NEW.packets_to_peer,
          NEW.packets_to_client, 1)
  ON CONFLICT (user, hour_ms) DO UPDATE SET
    relayed_ms = relayed_ms + excluded.relayed_ms,
    bytes_to_peer = bytes_to_peer + excluded.bytes_to_peer,
    bytes_to_client = bytes_to_client + excluded.bytes_to_client,
    packets_to_peer = packets_to_peer + excluded.packets_to_peer,
    packets_to_client = packets_to_client + excluded.packets_to_client,
    allocations = allocations + 1;
END;

-- A later snapshot: what it added (NEW - OLD, never negative since the upsert keeps the larger
-- total) goes to the buckets of its last_ms.
CREATE TRIGGER allocations_update_usage
AFTER UPDATE OF relayed_ms, bytes_to_peer, bytes_to_client, packets_to_peer, packets_to_client
ON allocations
WHEN NEW.relayed_ms <> OLD.relayed_ms OR NEW.bytes_to_peer <> OLD.bytes_to_peer
  OR NEW.bytes_to_client <> OLD.bytes_to_client OR NEW.packets_to_peer <> OLD.packets_to_peer
  OR NEW.packets_to_client <> OLD.packets_to_client
BEGIN
  INSERT INTO usage_daily (user, day_ms, relayed_ms, bytes_to_peer, bytes_to_client,
                           packets_to_peer, packets_to_client, allocations)
  VALUES (NEW.user, NEW.last_ms - ((NEW.last_ms % 86400000) + 86400000) % 86400000,
          NEW.relayed_ms - OLD.relayed_ms, NEW.bytes_to_peer - OLD.bytes_to_peer,
          NEW.bytes_to_client - OLD.bytes_to_client, NEW.packets_to_peer - OLD.packets_to_peer,
          NEW.packets_to_client - OLD.packets_to_client, 0)
  ON CONFLICT (user, day_ms) DO UPDATE SET
    relayed_ms = relayed_ms + excluded.relayed_ms,
    bytes_to_peer = bytes_to_peer + excluded.bytes_to_peer,
    bytes_to_client = bytes_to_client + excluded.bytes_to_client,
    packets_to_peer = packets_to_peer + excluded.packets_to_peer,
    packets_to_client = packets_to_client + excluded.packets_to_client;
  INSERT INTO usage_hourly (user, hour_ms, relayed_ms, bytes_to_peer, bytes_to_client,
                            packets_to_peer, packets_to_client, allocations)
  VALUES (NEW.user, NEW.last_ms - ((NEW.last_ms % 3600000) + 3600000) % 3600000,
          NEW.relayed_ms - OLD.relayed_ms, NEW.bytes_to_peer - OLD.bytes_to_peer,
          NEW.bytes_to_client - OLD.bytes_to_client, NEW.packets_to_peer - OLD.packets_to_peer,
          NEW.packets_to_client - OLD.packets_to_client, 0)
  ON CONFLICT (user, hour_ms) DO UPDATE SET
    relayed_ms = relayed_ms + excluded.relayed_ms,
    bytes_to_peer = bytes_to_peer + excluded.bytes_to_peer,
    bytes_to_client = bytes_to_client + excluded.bytes_to_client,
    packets_to_peer = packets_to_peer + excluded.packets_to_peer,
    packets_to_client = packets_to_client + excluded.packets_to_client;
END;
)sql",
};
static_assert(std::size(kMigrations) == kUsageSchemaVersion, "one migration per schema version");

// A record carried traffic: it makes (part of) a relayed call.
#define CV_RELAYED "(relayed_ms > 0 OR bytes_to_peer > 0 OR bytes_to_client > 0)"
// What makes calls distinct: the session, or for a claimless allocation the allocation itself.
// Session ids cannot contain '|', so the two kinds never collide.
#define CV_CALL_KEY                                                                        \
  "(CASE WHEN session <> '' THEN 's' || session ELSE 'a' || node || '|' || run || '|' || " \
  "allocation END)"

// Per record, the snapshot only ever grows what is stored: totals and last_ms take the larger
// value, peers are unioned (the application function cv_peers_union, bounded), and end_ms/reason
// are set only while the stored row is live, so the first end wins. Identity columns keep their
// first value. The WHERE skips the write entirely when nothing would change (a replay).
constexpr const char kUpsertSql[] = R"sql(
INSERT INTO allocations (node, run, allocation, user, session, line, plan, transport, client,
                         peers, start_ms, last_ms, end_ms, reason, relayed_ms, bytes_to_peer,
                         bytes_to_client, packets_to_peer, packets_to_client)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
ON CONFLICT (node, run, allocation) DO UPDATE SET
  peers = cv_peers_union(peers, excluded.peers),
  last_ms = max(last_ms, excluded.last_ms),
  end_ms = coalesce(end_ms, excluded.end_ms),
  reason = CASE WHEN end_ms IS NULL THEN excluded.reason ELSE reason END,
  relayed_ms = max(relayed_ms, excluded.relayed_ms),
  bytes_to_peer = max(bytes_to_peer, excluded.bytes_to_peer),
  bytes_to_client = max(bytes_to_client, excluded.bytes_to_client),
  packets_to_peer = max(packets_to_peer, excluded.packets_to_peer),
  packets_to_client = max(packets_to_client, excluded.packets_to_client)
WHERE excluded.last_ms > last_ms OR excluded.relayed_ms > relayed_ms
   OR excluded.bytes_to_peer > bytes_to_peer OR excluded.bytes_to_client > bytes_to_client
   OR excluded.packets_to_peer > packets_to_peer
   OR excluded.packets_to_client > packets_to_client
   OR (end_ms IS NULL AND excluded.end_ms IS NOT NULL)
   OR cv_peers_union(peers, excluded.peers) <> peers
)sql";

constexpr const char kPruneHourlySql[] = "DELETE FROM usage_hourly WHERE hour_ms < ?1";

constexpr const char kRecordColumns[] =
    "node, run, allocation, user, session, line, plan, transport, client, peers, start_ms, "
    "last_ms, reason, relayed_ms, bytes_to_peer, bytes_to_client, packets_to_peer, "
    "packets_to_client";

constexpr const char kTotalsColumns[] =
    "coalesce(sum(relayed_ms), 0), coalesce(sum(bytes_to_peer), 0), "
    "coalesce(sum(bytes_to_client), 0), coalesce(sum(packets_to_peer), 0), "
    "coalesce(sum(packets_to_client), 0), coalesce(sum(allocations), 0)";

// The user's latest record decides their plan.
#define CV_PLAN_OF(user_expr)                                                       \
  "coalesce((SELECT plan FROM allocations AS latest WHERE latest.user = " user_expr \
  " ORDER BY latest.last_ms DESC LIMIT 1), '')"

// Every user with relay time in [?1, ?2), by user; TopUsers orders by relay time and limits.
#define CV_MONTH_SQL(order_and_limit) \
  "SELECT user, sum(relayed_ms) AS month_ms, " CV_PLAN_OF("usage_daily.user")           \
  " FROM usage_daily WHERE day_ms >= ?1 AND day_ms < ?2 GROUP BY user HAVING month_ms > 0 " \
  order_and_limit

// Totals are unsigned in C++ and signed 64-bit in SQLite: values past INT64_MAX (never reached
// by real traffic) are stored as INT64_MAX so that max() and sums stay meaningful; Stmt::UInt
// reads negative values as 0.
int64_t ToDb(uint64_t v) {
  return v > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(v);
}

int64_t SaturatingSub(int64_t a, int64_t b) {  // b >= 0
  return a < INT64_MIN + b ? INT64_MIN : a - b;
}

// Peers are stored comma-separated. Empty entries and entries containing a comma (not an IP) are
// dropped, duplicates are kept once, and at most kMaxRecordPeers survive, first seen first.
void AddPeer(std::string_view peer, std::string* joined, size_t* count) {
  if (peer.empty() || peer.find(',') != std::string_view::npos || *count >= kMaxRecordPeers) {
    return;
  }
  std::string_view rest = *joined;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    if (rest.substr(0, comma) == peer) return;
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  if (!joined->empty()) joined->push_back(',');
  joined->append(peer);
  ++*count;
}

void AddPeerList(std::string_view list, std::string* joined, size_t* count) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    AddPeer(list.substr(0, comma), joined, count);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
}

std::string JoinPeers(const std::vector<std::string>& peers) {
  std::string joined;
  size_t count = 0;
  for (const std::string& peer : peers) AddPeer(peer, &joined, &count);
  return joined;
}

std::vector<std::string> SplitPeers(std::string_view list) {
  std::vector<std::string> peers;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (comma != 0) peers.emplace_back(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  return peers;
}

// cv_peers_union(stored, snapshot): the stored list followed by the snapshot's new peers.
void PeersUnion(sqlite3_context* context, int, sqlite3_value** argv) {
  std::string joined;
  size_t count = 0;
  for (int i = 0; i < 2; ++i) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(argv[i]));
    if (text != nullptr) {
      AddPeerList(std::string_view(text, static_cast<size_t>(sqlite3_value_bytes(argv[i]))),
                  &joined, &count);
    }
  }
  sqlite3_result_text(context, joined.data(), static_cast<int>(joined.size()), SQLITE_TRANSIENT);
}

using Stmt = SqliteDb::Statement;

// Reads six aggregate columns (kTotalsColumns order) starting at `column`.
void ReadTotals(const Stmt& s, int column, UsageTotals* t) {
  t->relayed_ms = s.UInt(column);
  t->bytes_to_peer = s.UInt(column + 1);
  t->bytes_to_client = s.UInt(column + 2);
  t->packets_to_peer = s.UInt(column + 3);
  t->packets_to_client = s.UInt(column + 4);
  t->allocations = s.UInt(column + 5);
}

class SqliteUsageStore final : public UsageStore {
 public:
  explicit SqliteUsageStore(std::unique_ptr<SqliteDb> db) : db_(std::move(db)) {}
  SqliteUsageStore(const SqliteUsageStore&) = delete;
  SqliteUsageStore& operator=(const SqliteUsageStore&) = delete;

  bool Write(std::span<const UsageRecord> records, std::string* error) override;
  std::optional<size_t> CloseInterrupted(std::string_view node, std::string_view current_run,
                                         std::string* error) override;
  std::optional<UserUsage> User(std::string_view user, int64_t now_ms, std::string* error) override;
  std::optional<std::vector<UserMonth>> Month(int64_t now_ms, std::string* error) override;
  std::optional<uint64_t> RelayedCalls(std::string_view user, int64_t since_ms,
                                       std::string* error) override;
  std::optional<std::vector<UserMonth>> TopUsers(int64_t now_ms, size_t n,
                                                 std::string* error) override;
  std::optional<UsageTotals> Session(std::string_view session, std::string* error) override;
  std::optional<std::vector<UsageRecord>> Records(const RecordFilter& filter,
                                                  std::string* error) override;
  std::optional<std::vector<DailyUsage>> Daily(int64_t from_ms, int64_t to_ms,
                                               std::string_view user, std::string* error) override;
  std::optional<std::vector<SessionUsage>> Sessions(int64_t from_ms, int64_t to_ms,
                                                    std::string* error) override;
  bool AddGuard(const AbuseGuard& guard, std::string* error) override;
  std::optional<std::vector<AbuseGuard>> ActiveGuards(int64_t now_ms, std::string* error) override;
  int schema_version() const override { return db_->schema_version(); }

 private:
  // Transactions (SqliteDb::Transact) fail with "usage-db <path>: <what>: <why>".
  Stmt Prepare(const std::string& sql) { return db_->Prepare(sql); }
  bool Transact(bool write, const SqliteDb::Body& body, std::string_view what, std::string* error) {
    return db_->Transact(write, body, what, error);
  }
  std::optional<std::vector<UserMonth>> MonthUsers(const char* sql, int64_t now_ms, size_t n,
                                                   std::string* error);

  const std::unique_ptr<SqliteDb> db_;
  std::optional<int64_t> last_prune_ms_;  // newest last_ms at the last hourly prune
};

bool SqliteUsageStore::Write(std::span<const UsageRecord> records, std::string* error) {
  if (records.empty()) return true;
  int64_t newest = INT64_MIN;
  for (const UsageRecord& r : records) newest = std::max(newest, r.last_ms);
  const bool prune =
      !last_prune_ms_ || (newest > *last_prune_ms_ &&
                          static_cast<uint64_t>(newest) - static_cast<uint64_t>(*last_prune_ms_) >=
                              static_cast<uint64_t>(kMsPerHour));
  const bool ok = Transact(
      true,
      [&](std::string*) {
        Stmt s = Prepare(kUpsertSql);
        if (!s) return db_->ErrorCode();
        for (const UsageRecord& r : records) {
          const std::string peers = JoinPeers(r.peers);
          s.Bind(1, r.node);
          s.Bind(2, r.run);
          s.Bind(3, static_cast<int64_t>(r.allocation));  // bit pattern; read back as uint64_t
          s.Bind(4, r.user);
          s.Bind(5, r.session);
          s.Bind(6, r.line);
          s.Bind(7, r.plan);
          s.Bind(8, r.transport);
          s.Bind(9, r.client);
          s.Bind(10, peers);
          s.Bind(11, r.start_ms);
          s.Bind(12, r.last_ms);
          if (r.ended()) {
            s.Bind(13, r.last_ms);
          } else {
            s.BindNull(13);
          }
          s.Bind(14, std::string_view(EndReasonName(r.reason)));
          s.Bind(15, ToDb(r.relayed_ms));
          s.Bind(16, ToDb(r.bytes_to_peer));
          s.Bind(17, ToDb(r.bytes_to_client));
          s.Bind(18, ToDb(r.packets_to_peer));
          s.Bind(19, ToDb(r.packets_to_client));
          const int rc = s.Step();
          if (rc != SQLITE_DONE) return rc;
          s.Reset();
        }
        if (prune) {
          Stmt p = Prepare(kPruneHourlySql);
          if (!p) return db_->ErrorCode();
          p.Bind(1, SaturatingSub(newest, kHourlyKeepMs));
          if (const int rc = p.Step(); rc != SQLITE_DONE) return rc;
        }
        return SQLITE_OK;
      },
      "writing " + std::to_string(records.size()) + (records.size() == 1 ? " record" : " records"),
      error);
  if (ok && prune) last_prune_ms_ = newest;
  return ok;
}

std::optional<size_t> SqliteUsageStore::CloseInterrupted(std::string_view node,
                                                         std::string_view current_run,
                                                         std::string* error) {
  size_t closed = 0;
  const bool ok = Transact(
      true,
      [&](std::string*) {
        Stmt s = Prepare(
            "UPDATE allocations SET end_ms = last_ms, reason = 'interrupted' "
            "WHERE node = ?1 AND run <> ?2 AND end_ms IS NULL");
        if (!s) return db_->ErrorCode();
        s.Bind(1, node);
        s.Bind(2, current_run);
        const int rc = s.Step();
        if (rc != SQLITE_DONE) return rc;
        closed = static_cast<size_t>(db_->Changes());
        return SQLITE_OK;
      },
      "closing interrupted records", error);
  if (!ok) return std::nullopt;
  return closed;
}

std::optional<UserUsage> SqliteUsageStore::User(std::string_view user, int64_t now_ms,
                                                std::string* error) {
  UserUsage usage;
  const int64_t day_start = UtcDayStartMs(now_ms);
  const int64_t month_start = UtcMonthStartMs(now_ms);
  const int64_t month_end = UtcNextMonthStartMs(now_ms);
  const int64_t since_24h = SaturatingSub(now_ms, kMsPerDay);
  const bool ok = Transact(
      false,
      [&](std::string*) {
        usage = UserUsage();
        usage.user = std::string(user);
        // Totals of the user's rows of `table` whose `column` lies in [lo, hi).
        auto sum = [&](const char* table, const char* column, int64_t lo, int64_t hi,
                       UsageTotals* out) {
          Stmt s = Prepare(std::string("SELECT ") + kTotalsColumns + " FROM " + table +
                           " WHERE user = ?1 AND " + column + " >= ?2 AND " + column + " < ?3");
          if (!s) return db_->ErrorCode();
          s.Bind(1, user);
          s.Bind(2, lo);
          s.Bind(3, hi);
          const int rc = s.Step();
          if (rc == SQLITE_ROW) ReadTotals(s, 0, out);
          return rc;
        };
        if (int rc = sum("usage_daily", "day_ms", day_start, day_start + kMsPerDay, &usage.day);
            rc != SQLITE_ROW) {
          return rc;
        }
        if (int rc = sum("usage_daily", "day_ms", month_start, month_end, &usage.month);
            rc != SQLITE_ROW) {
          return rc;
        }
        // The hours after since_24h up to and including the one of now_ms.
        if (int rc = sum("usage_hourly", "hour_ms", since_24h + 1, now_ms + 1, &usage.last_24h);
            rc != SQLITE_ROW) {
          return rc;
        }
        {
          // A call counts in a period when one of its relayed allocations was alive in it: its
          // [start_ms, last_ms] overlaps the period.
          Stmt s = Prepare(
              "SELECT"
              " count(DISTINCT CASE WHEN last_ms >= ?2 AND start_ms < ?3 THEN " CV_CALL_KEY
              " END),"
              " count(DISTINCT CASE WHEN last_ms >= ?4 AND start_ms < ?5 THEN " CV_CALL_KEY
              " END),"
              " count(DISTINCT CASE WHEN last_ms > ?6 AND start_ms <= ?7 THEN " CV_CALL_KEY
              " END)"
              " FROM allocations WHERE user = ?1 AND last_ms >= min(?4, ?6 + 1) AND " CV_RELAYED);
          if (!s) return db_->ErrorCode();
          s.Bind(1, user);
          s.Bind(2, day_start);
          s.Bind(3, day_start + kMsPerDay);
          s.Bind(4, month_start);
          s.Bind(5, month_end);
          s.Bind(6, since_24h);
          s.Bind(7, now_ms);
          if (const int rc = s.Step(); rc != SQLITE_ROW) return rc;
          usage.day.calls = s.UInt(0);
          usage.month.calls = s.UInt(1);
          usage.last_24h.calls = s.UInt(2);
        }
        {
          Stmt s = Prepare("SELECT " CV_PLAN_OF("?1"));
          if (!s) return db_->ErrorCode();
          s.Bind(1, user);
          if (const int rc = s.Step(); rc != SQLITE_ROW) return rc;
          usage.plan = s.Text(0);
        }
        {
          Stmt s = Prepare(
              "SELECT since_ms, until_ms, capped_duration_s, relayed_calls FROM abuse_guards "
              "WHERE user = ?1 AND until_ms > ?2 ORDER BY until_ms DESC, since_ms DESC LIMIT 1");
          if (!s) return db_->ErrorCode();
          s.Bind(1, user);
          s.Bind(2, now_ms);
          const int rc = s.Step();
          if (rc == SQLITE_ROW) {
            usage.guard =
                AbuseGuard{usage.user, s.Int(0), s.Int(1), static_cast<uint32_t>(s.Int(2)),
                           static_cast<uint32_t>(s.Int(3))};
          } else if (rc != SQLITE_DONE) {
            return rc;
          }
        }
        return SQLITE_OK;
      },
      "reading usage of user '" + std::string(user) + "'", error);
  if (!ok) return std::nullopt;
  return usage;
}

std::optional<std::vector<UserMonth>> SqliteUsageStore::MonthUsers(const char* sql, int64_t now_ms,
                                                                   size_t n, std::string* error) {
  std::vector<UserMonth> users;
  const bool ok = Transact(
      false,
      [&](std::string*) {
        users.clear();
        Stmt s = Prepare(sql);
        if (!s) return db_->ErrorCode();
        s.Bind(1, UtcMonthStartMs(now_ms));
        s.Bind(2, UtcNextMonthStartMs(now_ms));
        s.Bind(3, ToDb(n));  // TopUsers' limit; binding a parameter Month() lacks is a no-op
        int rc;
        while ((rc = s.Step()) == SQLITE_ROW) users.push_back({s.Text(0), s.Text(2), s.UInt(1)});
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
      },
      "reading the month " + UtcMonth(now_ms), error);
  if (!ok) return std::nullopt;
  return users;
}

std::optional<std::vector<UserMonth>> SqliteUsageStore::Month(int64_t now_ms, std::string* error) {
  return MonthUsers(CV_MONTH_SQL("ORDER BY user"), now_ms, 0, error);
}

std::optional<std::vector<UserMonth>> SqliteUsageStore::TopUsers(int64_t now_ms, size_t n,
                                                                 std::string* error) {
  return MonthUsers(CV_MONTH_SQL("ORDER BY month_ms DESC, user LIMIT ?3"), now_ms, n, error);
}

std::optional<uint64_t> SqliteUsageStore::RelayedCalls(std::string_view user, int64_t since_ms,
                                                       std::string* error) {
  uint64_t calls = 0;
  const bool ok = Transact(
      false,
      [&](std::string*) {
        Stmt s = Prepare("SELECT count(DISTINCT " CV_CALL_KEY
                         ") FROM allocations WHERE user = ?1 AND last_ms > ?2 AND " CV_RELAYED);
        if (!s) return db_->ErrorCode();
        s.Bind(1, user);
        s.Bind(2, since_ms);
        if (const int rc = s.Step(); rc != SQLITE_ROW) return rc;
        calls = s.UInt(0);
        return SQLITE_OK;
      },
      "counting calls of user '" + std::string(user) + "'", error);
  if (!ok) return std::nullopt;
  return calls;
}

std::optional<UsageTotals> SqliteUsageStore::Session(std::string_view session, std::string* error) {
  UsageTotals totals;
  if (session.empty()) return totals;  // claimless allocations have no session to total
  const bool ok = Transact(
      false,
      [&](std::string*) {
        Stmt s = Prepare(
            "SELECT coalesce(sum(relayed_ms), 0), coalesce(sum(bytes_to_peer), 0), "
            "coalesce(sum(bytes_to_client), 0), coalesce(sum(packets_to_peer), 0), "
            "coalesce(sum(packets_to_client), 0), count(*), coalesce(max(" CV_RELAYED
            "), 0) FROM allocations WHERE session = ?1");
        if (!s) return db_->ErrorCode();
        s.Bind(1, session);
        if (const int rc = s.Step(); rc != SQLITE_ROW) return rc;
        ReadTotals(s, 0, &totals);
        totals.calls = s.UInt(6);
        return SQLITE_OK;
      },
      "reading session '" + std::string(session) + "'", error);
  if (!ok) return std::nullopt;
  return totals;
}

std::optional<std::vector<UsageRecord>> SqliteUsageStore::Records(const RecordFilter& filter,
                                                                  std::string* error) {
  // One statement per combination of filters (at most 16), so each can use its index.
  std::string sql = std::string("SELECT ") + kRecordColumns +
                    " FROM allocations WHERE start_ms <= ?1 AND last_ms >= ?2";
  if (!filter.user.empty()) sql += " AND user = ?3";
  if (!filter.session.empty()) sql += " AND session = ?4";
  if (!filter.node.empty()) sql += " AND node = ?5";
  if (filter.live_only) sql += " AND end_ms IS NULL";
  sql += " ORDER BY start_ms, node, run, allocation LIMIT ?6";
  std::vector<UsageRecord> records;
  const bool ok = Transact(
      false,
      [&](std::string* what) {
        records.clear();
        Stmt s = Prepare(sql);
        if (!s) return db_->ErrorCode();
        s.Bind(1, filter.to_ms);
        s.Bind(2, filter.from_ms);
        s.Bind(3, filter.user);
        s.Bind(4, filter.session);
        s.Bind(5, filter.node);
        s.Bind(6, static_cast<int64_t>(std::min(filter.limit, kMaxRecordsLimit)));
        int rc;
        while ((rc = s.Step()) == SQLITE_ROW) {
          UsageRecord r;
          r.node = s.Text(0);
          r.run = s.Text(1);
          r.allocation = static_cast<uint64_t>(s.Int(2));
          r.user = s.Text(3);
          r.session = s.Text(4);
          r.line = s.Text(5);
          r.plan = s.Text(6);
          r.transport = s.Text(7);
          r.client = s.Text(8);
          r.peers = SplitPeers(s.TextView(9));
          r.start_ms = s.Int(10);
          r.last_ms = s.Int(11);
          const std::optional<EndReason> reason = ParseEndReason(s.TextView(12));
          if (!reason) {
            *what = "record " + r.node + "/" + r.run + "/" + std::to_string(r.allocation) +
                    " has an unknown end reason '" + s.Text(12) + "'";
            return SQLITE_CORRUPT;
          }
          r.reason = *reason;
          r.relayed_ms = s.UInt(13);
          r.bytes_to_peer = s.UInt(14);
          r.bytes_to_client = s.UInt(15);
          r.packets_to_peer = s.UInt(16);
          r.packets_to_client = s.UInt(17);
          records.push_back(std::move(r));
        }
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
      },
      "listing records", error);
  if (!ok) return std::nullopt;
  return records;
}

std::optional<std::vector<DailyUsage>> SqliteUsageStore::Daily(int64_t from_ms, int64_t to_ms,
                                                               std::string_view user,
                                                               std::string* error) {
  // With a user: a range of the primary key; without: of usage_daily_by_day.
  std::string sql =
      "SELECT user, day_ms, relayed_ms, bytes_to_peer, bytes_to_client, packets_to_peer, "
      "packets_to_client, allocations FROM usage_daily WHERE day_ms >= ?1 AND day_ms < ?2";
  if (!user.empty()) sql += " AND user = ?3";
  sql += " ORDER BY day_ms, user";
  std::vector<DailyUsage> days;
  const bool ok = Transact(
      false,
      [&](std::string*) {
        days.clear();
        Stmt s = Prepare(sql);
        if (!s) return db_->ErrorCode();
        s.Bind(1, from_ms);
        s.Bind(2, to_ms);
        if (!user.empty()) s.Bind(3, user);
        int rc;
        while ((rc = s.Step()) == SQLITE_ROW) {
          DailyUsage day;
          day.user = s.Text(0);
          day.day_ms = s.Int(1);
          ReadTotals(s, 2, &day.totals);
          days.push_back(std::move(day));
        }
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
      },
      user.empty() ? std::string("reading daily usage")
                   : "reading daily usage of user '" + std::string(user) + "'",
      error);
  if (!ok) return std::nullopt;
  return days;
}

std::optional<std::vector<SessionUsage>> SqliteUsageStore::Sessions(int64_t from_ms, int64_t to_ms,
                                                                    std::string* error) {
  // The allocations that started in the window (allocations_by_start), grouped by session, or by
  // user for claimless ones (`owner` is '' for a session). Within a group, row_number() finds the
  // first record (by start, then primary key) whose user and plan the group takes. A session is
  // one call when any of it relayed; a claimless group has one call per relayed allocation, as
  // everywhere in the ledger (CV_CALL_KEY).
  static constexpr char kSql[] =
      "SELECT session, max(CASE WHEN nth = 1 THEN user END), max(CASE WHEN nth = 1 THEN plan END),"
      " sum(relayed_ms), sum(bytes_to_peer), sum(bytes_to_client), sum(packets_to_peer),"
      " sum(packets_to_client), count(*),"
      " count(DISTINCT CASE WHEN " CV_RELAYED " THEN " CV_CALL_KEY
      " END) AS calls"
      " FROM (SELECT *, CASE WHEN session = '' THEN user ELSE '' END AS owner,"
      " row_number() OVER (PARTITION BY session, CASE WHEN session = '' THEN user ELSE '' END"
      " ORDER BY start_ms, node, run, allocation) AS nth"
      " FROM allocations WHERE start_ms >= ?1 AND start_ms < ?2)"
      " GROUP BY session, owner ORDER BY session, 2";
  std::vector<SessionUsage> sessions;
  const bool ok = Transact(
      false,
      [&](std::string*) {
        sessions.clear();
        Stmt s = Prepare(kSql);
        if (!s) return db_->ErrorCode();
        s.Bind(1, from_ms);
        s.Bind(2, to_ms);
        int rc;
        while ((rc = s.Step()) == SQLITE_ROW) {
          SessionUsage usage;
          usage.session = s.Text(0);
          usage.user = s.Text(1);
          usage.plan = s.Text(2);
          ReadTotals(s, 3, &usage.totals);
          usage.totals.calls = s.UInt(9);
          sessions.push_back(std::move(usage));
        }
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
      },
      "reading the sessions started in [" + std::to_string(from_ms) + ", " + std::to_string(to_ms) +
          ")",
      error);
  if (!ok) return std::nullopt;
  return sessions;
}

bool SqliteUsageStore::AddGuard(const AbuseGuard& guard, std::string* error) {
  return Transact(
      true,
      [&](std::string*) {
        Stmt s = Prepare(
            "INSERT INTO abuse_guards (user, since_ms, until_ms, capped_duration_s, relayed_calls) "
            "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user, since_ms) DO UPDATE SET "
            "until_ms = excluded.until_ms, capped_duration_s = excluded.capped_duration_s, "
            "relayed_calls = excluded.relayed_calls");
        if (!s) return db_->ErrorCode();
        s.Bind(1, guard.user);
        s.Bind(2, guard.since_ms);
        s.Bind(3, guard.until_ms);
        s.Bind(4, static_cast<int64_t>(guard.capped_duration_s));
        s.Bind(5, static_cast<int64_t>(guard.relayed_calls));
        const int rc = s.Step();
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
      },
      "adding the guard on user '" + guard.user + "'", error);
}

std::optional<std::vector<AbuseGuard>> SqliteUsageStore::ActiveGuards(int64_t now_ms,
                                                                      std::string* error) {
  std::vector<AbuseGuard> guards;
  const bool ok = Transact(
      false,
      [&](std::string*) {
        guards.clear();
        Stmt s = Prepare(
            "SELECT user, since_ms, until_ms, capped_duration_s, relayed_calls FROM ("
            " SELECT *, row_number() OVER (PARTITION BY user ORDER BY until_ms DESC, since_ms DESC)"
            " AS latest FROM abuse_guards WHERE until_ms > ?1)"
            " WHERE latest = 1 ORDER BY user");
        if (!s) return db_->ErrorCode();
        s.Bind(1, now_ms);
        int rc;
        while ((rc = s.Step()) == SQLITE_ROW) {
          guards.push_back({s.Text(0), s.Int(1), s.Int(2), static_cast<uint32_t>(s.Int(3)),
                            static_cast<uint32_t>(s.Int(4))});
        }
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
      },
      "reading active guards", error);
  if (!ok) return std::nullopt;
  return guards;
}

#undef CV_MONTH_SQL
#undef CV_PLAN_OF
#undef CV_CALL_KEY
#undef CV_RELAYED

}  // namespace

std::unique_ptr<UsageStore> OpenSqliteUsageStore(const std::string& path,
                                                 const SqliteStoreOptions& options,
                                                 std::string* error) {
  SqliteDbOptions db_options;
  db_options.busy_timeout_ms = options.busy_timeout_ms;
  db_options.read_only = options.read_only;
  db_options.create_parent = options.create_parent;
  db_options.label = "usage-db";
  db_options.kind = "usage ledger";
  db_options.program = "cvrelay";
  db_options.setup = [](sqlite3* db) {
    return sqlite3_create_function(db, "cv_peers_union", 2,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, nullptr,
                                   PeersUnion, nullptr, nullptr);
  };
  std::unique_ptr<SqliteDb> db = SqliteDb::Open(path, db_options, kMigrations, error);
  if (db == nullptr) return nullptr;
  return std::make_unique<SqliteUsageStore>(std::move(db));
}

}  // namespace cv::auth
