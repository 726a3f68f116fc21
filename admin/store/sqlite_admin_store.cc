// The SQLite AdminStore, on cvauth's SqliteDb (WAL, synchronous=FULL, user_version migrations,
// BEGIN IMMEDIATE writes retried while another connection holds the lock).
//
// Schema version 2:
//   users          id (PK), tier, public_key (BLOB: 32 bytes or empty), created_ms, updated_ms,
//                  mode (default 'PERSONAL'), trial_ends_ms (0 unless tier is 'trial'); partial
//                  index (trial_ends_ms) of the trials, for UsersChanging.
//   lines          line (PK), user, claimed_ms; index (user, claimed_ms). A line's primary key is
//                  what makes it one user's: ClaimLine reads and inserts in one BEGIN IMMEDIATE.
//   contacts       (user, contact) (PK), approved_ms: `user` approved `contact`. Mutual when the
//                  row (contact, user) exists too.
//   one_time       (scope, value) (PK), expires_ms; index (expires_ms). UseOnce is one INSERT:
//                  when the key exists the insert does nothing and the value counts as used, so
//                  of two connections offering the same value at once exactly one gets kOk. A row
//                  stays "used" until Prune deletes it (after expires_ms), never earlier: replay
//                  protection does not depend on when Prune runs.
//   attempts       user, at_ms, failed (0/1), code; indexes (user, at_ms) and (at_ms)
//   call_sessions  id (PK) and every CallSession field (kind by CallKindName, booleans 0/1,
//                  ended_ms 0 while live); indexes (user, started_ms), (started_ms) of the live
//                  ones, and (started_ms, id) of all (ForEachSession walks it in that order).
//                  EndSession updates only a row whose ended_ms is 0.
//   settings       (user, kind 'flag' or 'override', key) (PK), value, updated_ms, actor
//   grants         id (INTEGER PRIMARY KEY AUTOINCREMENT: increasing, never reused, even after the
//                  newest grant is removed), user, key, value, starts_ms, ends_ms, reason, actor;
//                  indexes (user, ends_ms), (starts_ms) and (ends_ms): the last two serve
//                  UsersChanging, which looks for grants starting or ending in a time range.
//   revocations    (kind, id) (PK), until_ms, reason, actor, created_ms; index (until_ms)
//   audit          id (INTEGER PRIMARY KEY: increasing, as rows are never deleted), at_ms, actor,
//                  role, action, target, detail, status; indexes (at_ms), (actor, at_ms) and
//                  (target, at_ms). Nothing updates or deletes its rows.
// No foreign keys: that a line's, a contact's, a setting's or a grant's user exists is the
// service's business.
//
// Version 1 had the first six tables without users.mode and users.trial_ends_ms; the step to 2
// adds those columns (existing users read as PERSONAL, no trial), the four new tables and the
// new indexes.
//
// Counts at now_ms (UTC, cv::auth's calendar helpers):
//   calls_started_today   sessions with started_ms in [day start, now]
//   failed_starts_today   failed attempts with at_ms in [day start, now]
//   attempts_last_hour    attempts with at_ms in (now - 3600 s, now]; the oldest of them too
//   call_seconds_month    call_seconds of ended sessions with started_ms in [month start, next)
// Prune deletes one-time values with expires_ms < now and attempts with at_ms < now - 2 days (the
// daily count looks back at most one day).
#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "admin/store/admin_store.h"
#include "cv/auth/sqlite_db.h"
#include "cv/auth/usage.h"

namespace cv::admin {

namespace {

using Db = auth::SqliteDb;
using Stmt = auth::SqliteDb::Statement;

constexpr int64_t kHourMs = 3'600'000;
constexpr int64_t kAttemptKeepMs = 2 * 24 * kHourMs;

// kMigrations[v] takes the file from schema version v to v + 1; an entry is never edited once
// released.
constexpr const char* kMigrations[] = {
    // 0 → 1: everything.
    R"sql(
CREATE TABLE users (
  id          TEXT    NOT NULL PRIMARY KEY,
  tier        TEXT    NOT NULL,
  public_key  BLOB    NOT NULL,
  created_ms  INTEGER NOT NULL,
  updated_ms  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE lines (
  line        TEXT    NOT NULL PRIMARY KEY,
  user        TEXT    NOT NULL,
  claimed_ms  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX lines_by_user ON lines (user, claimed_ms);

CREATE TABLE contacts (
  user        TEXT    NOT NULL,
  contact     TEXT    NOT NULL,
  approved_ms INTEGER NOT NULL,
  PRIMARY KEY (user, contact)
) WITHOUT ROWID;

CREATE TABLE one_time (
  scope       TEXT    NOT NULL,
  value       TEXT    NOT NULL,
  expires_ms  INTEGER NOT NULL,
  PRIMARY KEY (scope, value)
) WITHOUT ROWID;
CREATE INDEX one_time_by_expiry ON one_time (expires_ms);

CREATE TABLE attempts (
  user        TEXT    NOT NULL,
  at_ms       INTEGER NOT NULL,
  failed      INTEGER NOT NULL,
  code        TEXT    NOT NULL
);
CREATE INDEX attempts_by_user ON attempts (user, at_ms);
CREATE INDEX attempts_by_time ON attempts (at_ms);

CREATE TABLE call_sessions (
  id             TEXT    NOT NULL PRIMARY KEY,
  user           TEXT    NOT NULL,
  line           TEXT    NOT NULL,
  kind           TEXT    NOT NULL,
  callee         TEXT    NOT NULL,
  group_size     INTEGER NOT NULL,
  plan           TEXT    NOT NULL,
  allow_turn     INTEGER NOT NULL,
  allow_video    INTEGER NOT NULL,
  max_duration_s INTEGER NOT NULL,
  started_ms     INTEGER NOT NULL,
  connected_ms   INTEGER NOT NULL,
  ended_ms       INTEGER NOT NULL,
  end_reason     TEXT    NOT NULL,
  call_seconds   INTEGER NOT NULL,
  route          TEXT    NOT NULL,
  network        TEXT    NOT NULL,
  reconnects     INTEGER NOT NULL,
  relayed        INTEGER NOT NULL
);
CREATE INDEX call_sessions_by_user ON call_sessions (user, started_ms);
CREATE INDEX call_sessions_live ON call_sessions (started_ms) WHERE ended_ms = 0;
)sql",
    // 1 → 2: modes and trials, settings, grants, revocations, the audit log, and sessions by start
    // time. Existing users get the column defaults: PERSONAL, no trial.
    R"sql(
ALTER TABLE users ADD COLUMN mode TEXT NOT NULL DEFAULT 'PERSONAL';
ALTER TABLE users ADD COLUMN trial_ends_ms INTEGER NOT NULL DEFAULT 0;
CREATE INDEX users_trial_end ON users (trial_ends_ms) WHERE tier = 'trial';

CREATE TABLE settings (
  user        TEXT    NOT NULL,
  kind        TEXT    NOT NULL CHECK (kind IN ('flag', 'override')),
  key         TEXT    NOT NULL,
  value       TEXT    NOT NULL,
  updated_ms  INTEGER NOT NULL,
  actor       TEXT    NOT NULL,
  PRIMARY KEY (user, kind, key)
) WITHOUT ROWID;

CREATE TABLE grants (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  user        TEXT    NOT NULL,
  key         TEXT    NOT NULL,
  value       TEXT    NOT NULL,
  starts_ms   INTEGER NOT NULL,
  ends_ms     INTEGER NOT NULL,
  reason      TEXT    NOT NULL,
  actor       TEXT    NOT NULL
);
CREATE INDEX grants_by_user ON grants (user, ends_ms);
CREATE INDEX grants_by_start ON grants (starts_ms);
CREATE INDEX grants_by_end ON grants (ends_ms);

CREATE TABLE revocations (
  kind        TEXT    NOT NULL,
  id          TEXT    NOT NULL,
  until_ms    INTEGER NOT NULL,
  reason      TEXT    NOT NULL,
  actor       TEXT    NOT NULL,
  created_ms  INTEGER NOT NULL,
  PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX revocations_by_until ON revocations (until_ms);

CREATE TABLE audit (
  id          INTEGER PRIMARY KEY,
  at_ms       INTEGER NOT NULL,
  actor       TEXT    NOT NULL,
  role        TEXT    NOT NULL,
  action      TEXT    NOT NULL,
  target      TEXT    NOT NULL,
  detail      TEXT    NOT NULL,
  status      INTEGER NOT NULL
);
CREATE INDEX audit_by_time ON audit (at_ms);
CREATE INDEX audit_by_actor ON audit (actor, at_ms);
CREATE INDEX audit_by_target ON audit (target, at_ms);

CREATE INDEX call_sessions_by_start ON call_sessions (started_ms, id);
)sql",
};
static_assert(std::size(kMigrations) == kAdminSchemaVersion, "one migration per schema version");

constexpr const char kSessionColumns[] =
    "id, user, line, kind, callee, group_size, plan, allow_turn, allow_video, max_duration_s, "
    "started_ms, connected_ms, ended_ms, end_reason, call_seconds, route, network, reconnects, "
    "relayed";

constexpr const char kUserColumns[] =
    "id, tier, public_key, created_ms, updated_ms, mode, trial_ends_ms";
constexpr const char kSettingColumns[] = "key, value, updated_ms, actor";
constexpr const char kGrantColumns[] = "id, user, key, value, starts_ms, ends_ms, reason, actor";
constexpr const char kRevocationColumns[] = "kind, id, until_ms, reason, actor, created_ms";
constexpr const char kAuditColumns[] = "id, at_ms, actor, role, action, target, detail, status";

// ListUsers and Audit return at least one row and at most this many.
constexpr size_t kMaxListLimit = 10000;

size_t ClampLimit(size_t limit) { return std::clamp<size_t>(limit, 1, kMaxListLimit); }

const char* SettingKindName(SettingKind kind) {
  return kind == SettingKind::kFlag ? "flag" : "override";
}

// A trial's end is kept with the trial tier only, so that User::trial_ends_ms is 0 otherwise.
int64_t TrialEnd(std::string_view tier, int64_t trial_ends_ms) {
  return tier == "trial" ? trial_ends_ms : 0;
}

int64_t SaturatingSub(int64_t a, int64_t b) {  // b >= 0
  return a < std::numeric_limits<int64_t>::min() + b ? std::numeric_limits<int64_t>::min() : a - b;
}

uint32_t U32(const Stmt& s, int column) {
  return static_cast<uint32_t>(std::min<uint64_t>(s.UInt(column), UINT32_MAX));
}

std::string Quoted(std::string_view id) { return "'" + std::string(id) + "'"; }

// Readers of one row of kUserColumns, kSettingColumns, kGrantColumns, kRevocationColumns,
// kAuditColumns, or of a single text column.
User ReadUser(const Stmt& s) {
  return User{s.Text(0), s.Text(1), s.Blob(2), s.Int(3), s.Int(4), s.Text(5), s.Int(6)};
}

Setting ReadSetting(const Stmt& s) { return Setting{s.Text(0), s.Text(1), s.Int(2), s.Text(3)}; }

Grant ReadGrant(const Stmt& s) {
  return Grant{s.Int(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4), s.Int(5), s.Text(6), s.Text(7)};
}

Revocation ReadRevocation(const Stmt& s) {
  return Revocation{s.Text(0), s.Text(1), s.Int(2), s.Text(3), s.Text(4), s.Int(5)};
}

AuditEntry ReadAudit(const Stmt& s) {
  return AuditEntry{s.Int(0),  s.Int(1),  s.Text(2), s.Text(3),
                    s.Text(4), s.Text(5), s.Text(6), static_cast<int>(s.Int(7))};
}

std::string ReadText(const Stmt& s) { return s.Text(0); }

// Reads a row of kSessionColumns; SQLITE_CORRUPT with `what` when the kind is unknown.
int ReadSession(const Stmt& s, CallSession* out, std::string* what) {
  CallSession c;
  c.id = s.Text(0);
  c.user = s.Text(1);
  c.line = s.Text(2);
  const std::optional<CallKind> kind = ParseCallKind(s.TextView(3));
  if (!kind) {
    *what = "session " + Quoted(c.id) + " has an unknown kind " + Quoted(s.TextView(3));
    return SQLITE_CORRUPT;
  }
  c.kind = *kind;
  c.callee = s.Text(4);
  c.group_size = U32(s, 5);
  c.plan = s.Text(6);
  c.allow_turn = s.Int(7) != 0;
  c.allow_video = s.Int(8) != 0;
  c.max_duration_s = U32(s, 9);
  c.started_ms = s.Int(10);
  c.connected_ms = s.Int(11);
  c.ended_ms = s.Int(12);
  c.end_reason = s.Text(13);
  c.call_seconds = U32(s, 14);
  c.route = s.Text(15);
  c.network = s.Text(16);
  c.reconnects = U32(s, 17);
  c.relayed = s.Int(18) != 0;
  *out = std::move(c);
  return SQLITE_OK;
}

// Steps a statement that yields one row; SQLITE_OK, or the result code when it did not.
int StepRow(Stmt& s) {
  const int rc = s.Step();
  return rc == SQLITE_ROW ? SQLITE_OK : rc == SQLITE_DONE ? SQLITE_CORRUPT : rc;
}

// Steps a statement that yields no row (INSERT, UPDATE, DELETE).
int StepDone(Stmt& s) {
  const int rc = s.Step();
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

class SqliteAdminStore final : public AdminStore {
 public:
  explicit SqliteAdminStore(std::unique_ptr<Db> db) : db_(std::move(db)) {}

  StoreStatus CreateUser(const User& user, std::string* error) override;
  StoreStatus FindUser(std::string_view id, User* out, std::string* error) override;
  StoreStatus SetTier(std::string_view id, std::string_view tier, int64_t trial_ends_ms,
                      int64_t now_ms, std::string* error) override;
  StoreStatus SetMode(std::string_view id, std::string_view mode, int64_t now_ms,
                      std::string* error) override;
  StoreStatus ListUsers(std::string_view after_id, std::string_view tier, size_t limit,
                        std::vector<User>* out, std::string* error) override;
  StoreStatus SetPublicKey(std::string_view id, std::string_view public_key, int64_t now_ms,
                           std::string* error) override;
  StoreStatus ClaimLine(std::string_view user, std::string_view line, uint32_t max_lines,
                        int64_t now_ms, LineClaim* out, std::string* error) override;
  StoreStatus Lines(std::string_view user, std::vector<std::string>* out,
                    std::string* error) override;
  StoreStatus ReleaseLine(std::string_view user, std::string_view line,
                          std::string* error) override;
  StoreStatus PutSetting(std::string_view user, SettingKind kind, const Setting& setting,
                         std::string* error) override;
  StoreStatus RemoveSetting(std::string_view user, SettingKind kind, std::string_view key,
                            std::string* error) override;
  StoreStatus Settings(std::string_view user, SettingKind kind, std::vector<Setting>* out,
                       std::string* error) override;
  StoreStatus AddGrant(Grant* grant, std::string* error) override;
  StoreStatus Grants(std::string_view user, int64_t now_ms, bool include_ended,
                     std::vector<Grant>* out, std::string* error) override;
  StoreStatus RemoveGrant(std::string_view user, int64_t id, std::string* error) override;
  StoreStatus UsersChanging(int64_t from_ms, int64_t to_ms, std::vector<std::string>* out,
                            std::string* error) override;
  StoreStatus PutRevocation(const Revocation& revocation, std::string* error) override;
  StoreStatus RemoveRevocation(std::string_view kind, std::string_view id,
                               std::string* error) override;
  StoreStatus FindRevocation(std::string_view kind, std::string_view id, Revocation* out,
                             std::string* error) override;
  StoreStatus ActiveRevocations(int64_t now_ms, std::vector<Revocation>* out,
                                std::string* error) override;
  StoreStatus AppendAudit(AuditEntry* entry, std::string* error) override;
  StoreStatus Audit(const AuditFilter& filter, std::vector<AuditEntry>* out,
                    std::string* error) override;
  StoreStatus Approve(std::string_view user, std::string_view contact, uint32_t max_contacts,
                      int64_t now_ms, std::string* error) override;
  StoreStatus Remove(std::string_view user, std::string_view contact, std::string* error) override;
  StoreStatus MutuallyApproved(std::string_view a, std::string_view b, bool* out,
                               std::string* error) override;
  StoreStatus Contacts(std::string_view user, std::vector<Contact>* out,
                       std::string* error) override;
  StoreStatus UseOnce(std::string_view scope, std::string_view value, int64_t expires_ms,
                      std::string* error) override;
  StoreStatus RecordAttempt(std::string_view user, int64_t at_ms, bool failed,
                            std::string_view code, std::string* error) override;
  StoreStatus Counts(std::string_view user, int64_t now_ms, CallCounts* out,
                     std::string* error) override;
  StoreStatus InsertSession(const CallSession& session, std::string* error) override;
  StoreStatus FindSession(std::string_view id, CallSession* out, std::string* error) override;
  StoreStatus EndSession(const CallSession& ended, std::string* error) override;
  StoreStatus LiveSessions(std::vector<CallSession>* out, std::string* error) override;
  StoreStatus ForEachSession(int64_t from_ms, int64_t to_ms,
                             const std::function<void(const CallSession&)>& visit,
                             std::string* error) override;
  StoreStatus Prune(int64_t now_ms, std::string* error) override;

 private:
  // Runs `body` in a transaction (see SqliteDb::Transact). `body` returns SQLITE_OK and sets the
  // status it decided on (kOk unless it says otherwise); any other result is kError.
  using Body = std::function<int(StoreStatus* status, std::string* what)>;
  StoreStatus Run(bool write, const Body& body, std::string_view what, std::string* error);
  StoreStatus UpdateUser(std::string_view id, const char* column, std::string_view value, bool blob,
                         int64_t now_ms, const char* what, std::string* error);

  // Binds a statement's parameters; the values bound must outlive the call that runs it.
  using Binder = std::function<void(Stmt&)>;
  // Runs one INSERT, UPDATE or DELETE in a write transaction: kOk, or `if_unchanged` when it
  // changed no row.
  StoreStatus Change(const std::string& sql, const Binder& bind, StoreStatus if_unchanged,
                     std::string_view what, std::string* error);
  // Runs one INSERT in a write transaction and sets *id to the new row's rowid.
  StoreStatus Insert(const std::string& sql, const Binder& bind, int64_t* id, std::string_view what,
                     std::string* error);
  // Reads every row of `sql` with `read`; *out is replaced only on kOk.
  template <typename T>
  StoreStatus Select(const std::string& sql, const Binder& bind, T (*read)(const Stmt&),
                     std::vector<T>* out, std::string_view what, std::string* error);
  // The first row of `sql`, read with `read`: kNotFound (and *out untouched) when there is none.
  template <typename T>
  StoreStatus SelectOne(const std::string& sql, const Binder& bind, T (*read)(const Stmt&), T* out,
                        std::string_view what, std::string* error);

  // Prepares `sql`; the body returns db_->ErrorCode() when it is null.
  Stmt Prepare(const std::string& sql) { return db_->Prepare(sql); }

  const std::unique_ptr<Db> db_;
};

StoreStatus SqliteAdminStore::Run(bool write, const Body& body, std::string_view what,
                                  std::string* error) {
  StoreStatus status = StoreStatus::kOk;
  const bool ok = db_->Transact(
      write,
      [&](std::string* failure) {
        status = StoreStatus::kOk;  // a retried body starts again
        return body(&status, failure);
      },
      what, error);
  return ok ? status : StoreStatus::kError;
}

StoreStatus SqliteAdminStore::Change(const std::string& sql, const Binder& bind,
                                     StoreStatus if_unchanged, std::string_view what,
                                     std::string* error) {
  return Run(
      true,
      [&](StoreStatus* status, std::string*) {
        Stmt s = Prepare(sql);
        if (!s) return db_->ErrorCode();
        bind(s);
        if (const int rc = StepDone(s); rc != SQLITE_OK) return rc;
        if (db_->Changes() == 0) *status = if_unchanged;
        return SQLITE_OK;
      },
      what, error);
}

StoreStatus SqliteAdminStore::Insert(const std::string& sql, const Binder& bind, int64_t* id,
                                     std::string_view what, std::string* error) {
  int64_t rowid = 0;
  const StoreStatus status = Run(
      true,
      [&](StoreStatus*, std::string*) {
        Stmt s = Prepare(sql);
        if (!s) return db_->ErrorCode();
        bind(s);
        if (const int rc = StepDone(s); rc != SQLITE_OK) return rc;
        rowid = sqlite3_last_insert_rowid(db_->handle());
        return SQLITE_OK;
      },
      what, error);
  if (status == StoreStatus::kOk) *id = rowid;
  return status;
}

template <typename T>
StoreStatus SqliteAdminStore::Select(const std::string& sql, const Binder& bind,
                                     T (*read)(const Stmt&), std::vector<T>* out,
                                     std::string_view what, std::string* error) {
  std::vector<T> rows;
  const StoreStatus status = Run(
      false,
      [&](StoreStatus*, std::string*) {
        rows.clear();
        Stmt s = Prepare(sql);
        if (!s) return db_->ErrorCode();
        bind(s);
        int rc;
        while ((rc = s.Step()) == SQLITE_ROW) rows.push_back(read(s));
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
      },
      what, error);
  if (status == StoreStatus::kOk) *out = std::move(rows);
  return status;
}

template <typename T>
StoreStatus SqliteAdminStore::SelectOne(const std::string& sql, const Binder& bind,
                                        T (*read)(const Stmt&), T* out, std::string_view what,
                                        std::string* error) {
  std::optional<T> row;
  const StoreStatus status = Run(
      false,
      [&](StoreStatus* found, std::string*) {
        row.reset();
        Stmt s = Prepare(sql);
        if (!s) return db_->ErrorCode();
        bind(s);
        const int rc = s.Step();
        if (rc == SQLITE_DONE) {
          *found = StoreStatus::kNotFound;
          return SQLITE_OK;
        }
        if (rc != SQLITE_ROW) return rc;
        row = read(s);
        return SQLITE_OK;
      },
      what, error);
  if (status == StoreStatus::kOk) *out = std::move(*row);
  return status;
}

// Users

StoreStatus SqliteAdminStore::CreateUser(const User& user, std::string* error) {
  return Run(
      true,
      [&](StoreStatus* status, std::string*) {
        Stmt s = Prepare(std::string("INSERT INTO users (") + kUserColumns +
                         ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING");
        if (!s) return db_->ErrorCode();
        s.Bind(1, user.id);
        s.Bind(2, user.tier);
        s.BindBlob(3, user.public_key);
        s.Bind(4, user.created_ms);
        s.Bind(5, user.updated_ms);
        s.Bind(6, user.mode);
        s.Bind(7, TrialEnd(user.tier, user.trial_ends_ms));
        if (const int rc = StepDone(s); rc != SQLITE_OK) return rc;
        if (db_->Changes() == 0) *status = StoreStatus::kConflict;
        return SQLITE_OK;
      },
      "creating user " + Quoted(user.id), error);
}

StoreStatus SqliteAdminStore::FindUser(std::string_view id, User* out, std::string* error) {
  return SelectOne(
      std::string("SELECT ") + kUserColumns + " FROM users WHERE id = ?1",
      [&](Stmt& s) { s.Bind(1, id); }, ReadUser, out, "reading user " + Quoted(id), error);
}

StoreStatus SqliteAdminStore::SetTier(std::string_view id, std::string_view tier,
                                      int64_t trial_ends_ms, int64_t now_ms, std::string* error) {
  const int64_t trial_end = TrialEnd(tier, trial_ends_ms);
  return Change(
      "UPDATE users SET tier = ?2, trial_ends_ms = ?3, updated_ms = ?4 WHERE id = ?1",
      [&](Stmt& s) {
        s.Bind(1, id);
        s.Bind(2, tier);
        s.Bind(3, trial_end);
        s.Bind(4, now_ms);
      },
      StoreStatus::kNotFound, "setting the tier of user " + Quoted(id), error);
}

StoreStatus SqliteAdminStore::SetMode(std::string_view id, std::string_view mode, int64_t now_ms,
                                      std::string* error) {
  return UpdateUser(id, "mode", mode, /*blob=*/false, now_ms, "setting the mode of user ", error);
}

StoreStatus SqliteAdminStore::ListUsers(std::string_view after_id, std::string_view tier,
                                        size_t limit, std::vector<User>* out, std::string* error) {
  // One statement with and one without the tier, so that neither tests an unused parameter.
  std::string sql = std::string("SELECT ") + kUserColumns + " FROM users WHERE id > ?1";
  if (!tier.empty()) sql += " AND tier = ?2";
  sql += " ORDER BY id LIMIT ?3";
  return Select(
      sql,
      [&](Stmt& s) {
        s.Bind(1, after_id);
        s.Bind(2, tier);
        s.Bind(3, static_cast<int64_t>(ClampLimit(limit)));
      },
      ReadUser, out, "listing users", error);
}

StoreStatus SqliteAdminStore::SetPublicKey(std::string_view id, std::string_view public_key,
                                           int64_t now_ms, std::string* error) {
  return UpdateUser(id, "public_key", public_key, /*blob=*/true, now_ms,
                    "setting the public key of user ", error);
}

// One column of one user (`column` is ours, never input); kNotFound when there is no such user.
StoreStatus SqliteAdminStore::UpdateUser(std::string_view id, const char* column,
                                         std::string_view value, bool blob, int64_t now_ms,
                                         const char* what, std::string* error) {
  const std::string sql =
      std::string("UPDATE users SET ") + column + " = ?2, updated_ms = ?3 WHERE id = ?1";
  return Run(
      true,
      [&](StoreStatus* status, std::string*) {
        Stmt s = Prepare(sql);
        if (!s) return db_->ErrorCode();
        s.Bind(1, id);
        if (blob) {
          s.BindBlob(2, value);
        } else {
          s.Bind(2, value);
        }
        s.Bind(3, now_ms);
        if (const int rc = StepDone(s); rc != SQLITE_OK) return rc;
        if (db_->Changes() == 0) *status = StoreStatus::kNotFound;
        return SQLITE_OK;
      },
      what + Quoted(id), error);
}

// Lines

StoreStatus SqliteAdminStore::ClaimLine(std::string_view user, std::string_view line,
                                        uint32_t max_lines, int64_t now_ms, LineClaim* out,
                                        std::string* error) {
  LineClaim claim = LineClaim::kTaken;
  const StoreStatus status = Run(
      true,
      [&](StoreStatus*, std::string*) {
        {
          Stmt s = Prepare("SELECT user FROM lines WHERE line = ?1");
          if (!s) return db_->ErrorCode();
          s.Bind(1, line);
          const int rc = s.Step();
          if (rc == SQLITE_ROW) {
            claim = s.TextView(0) == user ? LineClaim::kOwned : LineClaim::kTaken;
            return SQLITE_OK;
          }
          if (rc != SQLITE_DONE) return rc;
        }
        if (max_lines > 0) {
          Stmt s = Prepare("SELECT count(*) FROM lines WHERE user = ?1");
          if (!s) return db_->ErrorCode();
          s.Bind(1, user);
          if (const int rc = StepRow(s); rc != SQLITE_OK) return rc;
          if (s.UInt(0) >= max_lines) {
            claim = LineClaim::kFull;
            return SQLITE_OK;
          }
        }
        Stmt s = Prepare("INSERT INTO lines (line, user, claimed_ms) VALUES (?1, ?2, ?3)");
        if (!s) return db_->ErrorCode();
        s.Bind(1, line);
        s.Bind(2, user);
        s.Bind(3, now_ms);
        if (const int rc = StepDone(s); rc != SQLITE_OK) return rc;
        claim = LineClaim::kClaimed;
        return SQLITE_OK;
      },
      "claiming line " + Quoted(line) + " for user " + Quoted(user), error);
  if (status == StoreStatus::kOk) *out = claim;
  return status;
}

StoreStatus SqliteAdminStore::Lines(std::string_view user, std::vector<std::string>* out,
                                    std::string* error) {
  std::vector<std::string> lines;
  const StoreStatus status = Run(
      false,
      [&](StoreStatus*, std::string*) {
        lines.clear();
        Stmt s = Prepare("SELECT line FROM lines WHERE user = ?1 ORDER BY claimed_ms, line");
        if (!s) return db_->ErrorCode();
        s.Bind(1, user);
        int rc;
        while ((rc = s.Step()) == SQLITE_ROW) lines.push_back(s.Text(0));
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
      },
      "listing the lines of user " + Quoted(user), error);
  if (status == StoreStatus::kOk) *out = std::move(lines);
  return status;
}

StoreStatus SqliteAdminStore::ReleaseLine(std::string_view user, std::string_view line,
                                          std::string* error) {
  return Change(
      "DELETE FROM lines WHERE line = ?1 AND user = ?2",
      [&](Stmt& s) {
        s.Bind(1, line);
        s.Bind(2, user);
      },
      StoreStatus::kNotFound, "releasing line " + Quoted(line) + " of user " + Quoted(user), error);
}

// Flags and overrides

StoreStatus SqliteAdminStore::PutSetting(std::string_view user, SettingKind kind,
                                         const Setting& setting, std::string* error) {
  const std::string_view kind_name = SettingKindName(kind);
  return Change(
      "INSERT INTO settings (user, kind, key, value, updated_ms, actor) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (user, kind, key) DO UPDATE SET "
      "value = excluded.value, updated_ms = excluded.updated_ms, actor = excluded.actor",
      [&](Stmt& s) {
        s.Bind(1, user);
        s.Bind(2, kind_name);
        s.Bind(3, setting.key);
        s.Bind(4, setting.value);
        s.Bind(5, setting.updated_ms);
        s.Bind(6, setting.actor);
      },
      StoreStatus::kOk,
      "setting " + std::string(kind_name) + " " + Quoted(setting.key) + " of user " + Quoted(user),
      error);
}

StoreStatus SqliteAdminStore::RemoveSetting(std::string_view user, SettingKind kind,
                                            std::string_view key, std::string* error) {
  const std::string_view kind_name = SettingKindName(kind);
  return Change(
      "DELETE FROM settings WHERE user = ?1 AND kind = ?2 AND key = ?3",
      [&](Stmt& s) {
        s.Bind(1, user);
        s.Bind(2, kind_name);
        s.Bind(3, key);
      },
      StoreStatus::kNotFound,
      "removing " + std::string(kind_name) + " " + Quoted(key) + " of user " + Quoted(user), error);
}

StoreStatus SqliteAdminStore::Settings(std::string_view user, SettingKind kind,
                                       std::vector<Setting>* out, std::string* error) {
  const std::string_view kind_name = SettingKindName(kind);
  return Select(
      std::string("SELECT ") + kSettingColumns +
          " FROM settings WHERE user = ?1 AND kind = ?2 ORDER BY key",
      [&](Stmt& s) {
        s.Bind(1, user);
        s.Bind(2, kind_name);
      },
      ReadSetting, out, "listing the " + std::string(kind_name) + "s of user " + Quoted(user),
      error);
}

// Grants

StoreStatus SqliteAdminStore::AddGrant(Grant* grant, std::string* error) {
  const Grant& g = *grant;
  return Insert(
      "INSERT INTO grants (user, key, value, starts_ms, ends_ms, reason, actor) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
      [&](Stmt& s) {
        s.Bind(1, g.user);
        s.Bind(2, g.key);
        s.Bind(3, g.value);
        s.Bind(4, g.starts_ms);
        s.Bind(5, g.ends_ms);
        s.Bind(6, g.reason);
        s.Bind(7, g.actor);
      },
      &grant->id, "adding a grant of " + Quoted(g.key) + " to user " + Quoted(g.user), error);
}

StoreStatus SqliteAdminStore::Grants(std::string_view user, int64_t now_ms, bool include_ended,
                                     std::vector<Grant>* out, std::string* error) {
  std::string sql = std::string("SELECT ") + kGrantColumns + " FROM grants WHERE user = ?1";
  if (!include_ended) sql += " AND ends_ms > ?2";
  sql += " ORDER BY id";
  return Select(
      sql,
      [&](Stmt& s) {
        s.Bind(1, user);
        if (!include_ended) s.Bind(2, now_ms);
      },
      ReadGrant, out, "listing the grants of user " + Quoted(user), error);
}

StoreStatus SqliteAdminStore::RemoveGrant(std::string_view user, int64_t id, std::string* error) {
  return Change(
      "DELETE FROM grants WHERE id = ?1 AND user = ?2",
      [&](Stmt& s) {
        s.Bind(1, id);
        s.Bind(2, user);
      },
      StoreStatus::kNotFound, "removing grant " + std::to_string(id) + " of user " + Quoted(user),
      error);
}

StoreStatus SqliteAdminStore::UsersChanging(int64_t from_ms, int64_t to_ms,
                                            std::vector<std::string>* out, std::string* error) {
  // Each part is a range on one index: grants_by_end, grants_by_start, users_trial_end (whose
  // partial-index condition the tier test repeats word for word). UNION keeps each user once.
  return Select(
      "SELECT user FROM grants WHERE ends_ms > ?1 AND ends_ms <= ?2 "
      "UNION SELECT user FROM grants WHERE starts_ms > ?1 AND starts_ms <= ?2 "
      "UNION SELECT id FROM users WHERE tier = 'trial' AND trial_ends_ms > ?1 "
      "AND trial_ends_ms <= ?2 AND trial_ends_ms <> 0 "
      "ORDER BY 1",
      [&](Stmt& s) {
        s.Bind(1, from_ms);
        s.Bind(2, to_ms);
      },
      ReadText, out,
      "listing users whose entitlements change in (" + std::to_string(from_ms) + ", " +
          std::to_string(to_ms) + "]",
      error);
}

// Revocations

StoreStatus SqliteAdminStore::PutRevocation(const Revocation& r, std::string* error) {
  return Change(
      std::string("INSERT INTO revocations (") + kRevocationColumns +
          ") VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (kind, id) DO UPDATE SET "
          "until_ms = excluded.until_ms, reason = excluded.reason, actor = excluded.actor, "
          "created_ms = excluded.created_ms",
      [&](Stmt& s) {
        s.Bind(1, r.kind);
        s.Bind(2, r.id);
        s.Bind(3, r.until_ms);
        s.Bind(4, r.reason);
        s.Bind(5, r.actor);
        s.Bind(6, r.created_ms);
      },
      StoreStatus::kOk, "recording the revocation of " + r.kind + " " + Quoted(r.id), error);
}

StoreStatus SqliteAdminStore::RemoveRevocation(std::string_view kind, std::string_view id,
                                               std::string* error) {
  return Change(
      "DELETE FROM revocations WHERE kind = ?1 AND id = ?2",
      [&](Stmt& s) {
        s.Bind(1, kind);
        s.Bind(2, id);
      },
      StoreStatus::kNotFound, "removing the revocation of " + std::string(kind) + " " + Quoted(id),
      error);
}

StoreStatus SqliteAdminStore::FindRevocation(std::string_view kind, std::string_view id,
                                             Revocation* out, std::string* error) {
  return SelectOne(
      std::string("SELECT ") + kRevocationColumns + " FROM revocations WHERE kind = ?1 AND id = ?2",
      [&](Stmt& s) {
        s.Bind(1, kind);
        s.Bind(2, id);
      },
      ReadRevocation, out, "reading the revocation of " + std::string(kind) + " " + Quoted(id),
      error);
}

StoreStatus SqliteAdminStore::ActiveRevocations(int64_t now_ms, std::vector<Revocation>* out,
                                                std::string* error) {
  return Select(
      std::string("SELECT ") + kRevocationColumns +
          " FROM revocations WHERE until_ms > ?1 ORDER BY kind, id",
      [&](Stmt& s) { s.Bind(1, now_ms); }, ReadRevocation, out, "listing active revocations",
      error);
}

// The audit log

StoreStatus SqliteAdminStore::AppendAudit(AuditEntry* entry, std::string* error) {
  const AuditEntry& e = *entry;
  return Insert(
      "INSERT INTO audit (at_ms, actor, role, action, target, detail, status) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
      [&](Stmt& s) {
        s.Bind(1, e.at_ms);
        s.Bind(2, e.actor);
        s.Bind(3, e.role);
        s.Bind(4, e.action);
        s.Bind(5, e.target);
        s.Bind(6, e.detail);
        s.Bind(7, int64_t{e.status});
      },
      &entry->id, "appending to the audit log", error);
}

StoreStatus SqliteAdminStore::Audit(const AuditFilter& filter, std::vector<AuditEntry>* out,
                                    std::string* error) {
  // One statement per combination of filters (four), so each can use its index.
  std::string sql = std::string("SELECT ") + kAuditColumns + " FROM audit WHERE at_ms >= ?1";
  if (!filter.actor.empty()) sql += " AND actor = ?2";
  if (!filter.target.empty()) sql += " AND target = ?3";
  sql += " ORDER BY at_ms DESC, id DESC LIMIT ?4";
  return Select(
      sql,
      [&](Stmt& s) {
        s.Bind(1, filter.since_ms);
        s.Bind(2, filter.actor);
        s.Bind(3, filter.target);
        s.Bind(4, static_cast<int64_t>(ClampLimit(filter.limit)));
      },
      ReadAudit, out, "reading the audit log", error);
}

// Contacts

StoreStatus SqliteAdminStore::Approve(std::string_view user, std::string_view contact,
                                      uint32_t max_contacts, int64_t now_ms, std::string* error) {
  return Run(
      true,
      [&](StoreStatus* status, std::string*) {
        {
          Stmt s = Prepare("SELECT 1 FROM contacts WHERE user = ?1 AND contact = ?2");
          if (!s) return db_->ErrorCode();
          s.Bind(1, user);
          s.Bind(2, contact);
          const int rc = s.Step();
          if (rc == SQLITE_ROW) return SQLITE_OK;  // approved already: nothing changes
          if (rc != SQLITE_DONE) return rc;
        }
        if (max_contacts > 0) {
          Stmt s = Prepare("SELECT count(*) FROM contacts WHERE user = ?1");
          if (!s) return db_->ErrorCode();
          s.Bind(1, user);
          if (const int rc = StepRow(s); rc != SQLITE_OK) return rc;
          if (s.UInt(0) >= max_contacts) {
            *status = StoreStatus::kConflict;
            return SQLITE_OK;
          }
        }
        Stmt s = Prepare("INSERT INTO contacts (user, contact, approved_ms) VALUES (?1, ?2, ?3)");
        if (!s) return db_->ErrorCode();
        s.Bind(1, user);
        s.Bind(2, contact);
        s.Bind(3, now_ms);
        return StepDone(s);
      },
      "approving contact " + Quoted(contact) + " of user " + Quoted(user), error);
}

StoreStatus SqliteAdminStore::Remove(std::string_view user, std::string_view contact,
                                     std::string* error) {
  return Run(
      true,
      [&](StoreStatus* status, std::string*) {
        Stmt s = Prepare("DELETE FROM contacts WHERE user = ?1 AND contact = ?2");
        if (!s) return db_->ErrorCode();
        s.Bind(1, user);
        s.Bind(2, contact);
        if (const int rc = StepDone(s); rc != SQLITE_OK) return rc;
        if (db_->Changes() == 0) *status = StoreStatus::kNotFound;
        return SQLITE_OK;
      },
      "removing contact " + Quoted(contact) + " of user " + Quoted(user), error);
}

StoreStatus SqliteAdminStore::MutuallyApproved(std::string_view a, std::string_view b, bool* out,
                                               std::string* error) {
  bool mutual = false;
  const StoreStatus status = Run(
      false,
      [&](StoreStatus*, std::string*) {
        Stmt s = Prepare(
            "SELECT EXISTS (SELECT 1 FROM contacts WHERE user = ?1 AND contact = ?2) AND "
            "EXISTS (SELECT 1 FROM contacts WHERE user = ?2 AND contact = ?1)");
        if (!s) return db_->ErrorCode();
        s.Bind(1, a);
        s.Bind(2, b);
        if (const int rc = StepRow(s); rc != SQLITE_OK) return rc;
        mutual = s.Int(0) != 0;
        return SQLITE_OK;
      },
      "reading contacts " + Quoted(a) + " and " + Quoted(b), error);
  if (status == StoreStatus::kOk) *out = mutual;
  return status;
}

StoreStatus SqliteAdminStore::Contacts(std::string_view user, std::vector<Contact>* out,
                                       std::string* error) {
  std::vector<Contact> contacts;
  const StoreStatus status = Run(
      false,
      [&](StoreStatus*, std::string*) {
        contacts.clear();
        Stmt s = Prepare(
            "SELECT c.contact, EXISTS (SELECT 1 FROM contacts AS r "
            "WHERE r.user = c.contact AND r.contact = c.user) "
            "FROM contacts AS c WHERE c.user = ?1 ORDER BY c.contact");
        if (!s) return db_->ErrorCode();
        s.Bind(1, user);
        int rc;
        while ((rc = s.Step()) == SQLITE_ROW) contacts.push_back({s.Text(0), s.Int(1) != 0});
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
      },
      "listing the contacts of user " + Quoted(user), error);
  if (status == StoreStatus::kOk) *out = std::move(contacts);
  return status;
}

// One-time values

StoreStatus SqliteAdminStore::UseOnce(std::string_view scope, std::string_view value,
                                      int64_t expires_ms, std::string* error) {
  return Run(
      true,
      [&](StoreStatus* status, std::string*) {
        // The primary key decides: of two writers the second inserts nothing.
        Stmt s = Prepare(
            "INSERT INTO one_time (scope, value, expires_ms) VALUES (?1, ?2, ?3) "
            "ON CONFLICT (scope, value) DO NOTHING");
        if (!s) return db_->ErrorCode();
        s.Bind(1, scope);
        s.Bind(2, value);
        s.Bind(3, expires_ms);
        if (const int rc = StepDone(s); rc != SQLITE_OK) return rc;
        if (db_->Changes() == 0) *status = StoreStatus::kConflict;
        return SQLITE_OK;
      },
      // The value itself (a nonce, a token id) stays out of messages.
      "recording a one-time value in " + Quoted(scope), error);
}

// Attempts and counts

StoreStatus SqliteAdminStore::RecordAttempt(std::string_view user, int64_t at_ms, bool failed,
                                            std::string_view code, std::string* error) {
  return Run(
      true,
      [&](StoreStatus*, std::string*) {
        Stmt s =
            Prepare("INSERT INTO attempts (user, at_ms, failed, code) VALUES (?1, ?2, ?3, ?4)");
        if (!s) return db_->ErrorCode();
        s.Bind(1, user);
        s.Bind(2, at_ms);
        s.Bind(3, int64_t{failed ? 1 : 0});
        s.Bind(4, code);
        return StepDone(s);
      },
      "recording an attempt of user " + Quoted(user), error);
}

StoreStatus SqliteAdminStore::Counts(std::string_view user, int64_t now_ms, CallCounts* out,
                                     std::string* error) {
  const int64_t day_start = auth::UtcDayStartMs(now_ms);
  const int64_t month_start = auth::UtcMonthStartMs(now_ms);
  const int64_t month_end = auth::UtcNextMonthStartMs(now_ms);
  const int64_t hour_ago = SaturatingSub(now_ms, kHourMs);
  CallCounts counts;
  const StoreStatus status = Run(
      false,
      [&](StoreStatus*, std::string*) {
        counts = CallCounts();
        {
          Stmt s = Prepare(
              "SELECT"
              " count(CASE WHEN started_ms >= ?2 AND started_ms <= ?3 THEN 1 END),"
              " coalesce(sum(CASE WHEN started_ms >= ?4 AND started_ms < ?5 AND ended_ms <> 0"
              " THEN call_seconds END), 0)"
              " FROM call_sessions WHERE user = ?1 AND started_ms >= min(?2, ?4)");
          if (!s) return db_->ErrorCode();
          s.Bind(1, user);
          s.Bind(2, day_start);
          s.Bind(3, now_ms);
          s.Bind(4, month_start);
          s.Bind(5, month_end);
          if (const int rc = StepRow(s); rc != SQLITE_OK) return rc;
          counts.calls_started_today = U32(s, 0);
          counts.call_seconds_month = s.UInt(1);
        }
        Stmt s = Prepare(
            "SELECT"
            " count(CASE WHEN failed <> 0 AND at_ms >= ?2 THEN 1 END),"
            " count(CASE WHEN at_ms > ?3 THEN 1 END),"
            " coalesce(min(CASE WHEN at_ms > ?3 THEN at_ms END), 0)"
            " FROM attempts WHERE user = ?1 AND at_ms >= min(?2, ?3) AND at_ms <= ?4");
        if (!s) return db_->ErrorCode();
        s.Bind(1, user);
        s.Bind(2, day_start);
        s.Bind(3, hour_ago);
        s.Bind(4, now_ms);
        if (const int rc = StepRow(s); rc != SQLITE_OK) return rc;
        counts.failed_starts_today = U32(s, 0);
        counts.attempts_last_hour = U32(s, 1);
        counts.oldest_attempt_in_hour_ms = s.Int(2);
        return SQLITE_OK;
      },
      "counting the calls of user " + Quoted(user), error);
  if (status == StoreStatus::kOk) *out = counts;
  return status;
}

// Sessions

StoreStatus SqliteAdminStore::InsertSession(const CallSession& c, std::string* error) {
  return Run(
      true,
      [&](StoreStatus* status, std::string*) {
        Stmt s = Prepare(std::string("INSERT INTO call_sessions (") + kSessionColumns +
                         ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                         "?15, ?16, ?17, ?18, ?19) ON CONFLICT (id) DO NOTHING");
        if (!s) return db_->ErrorCode();
        s.Bind(1, c.id);
        s.Bind(2, c.user);
        s.Bind(3, c.line);
        s.Bind(4, std::string_view(CallKindName(c.kind)));
        s.Bind(5, c.callee);
        s.Bind(6, int64_t{c.group_size});
        s.Bind(7, c.plan);
        s.Bind(8, int64_t{c.allow_turn ? 1 : 0});
        s.Bind(9, int64_t{c.allow_video ? 1 : 0});
        s.Bind(10, int64_t{c.max_duration_s});
        s.Bind(11, c.started_ms);
        s.Bind(12, c.connected_ms);
        s.Bind(13, c.ended_ms);
        s.Bind(14, c.end_reason);
        s.Bind(15, int64_t{c.call_seconds});
        s.Bind(16, c.route);
        s.Bind(17, c.network);
        s.Bind(18, int64_t{c.reconnects});
        s.Bind(19, int64_t{c.relayed ? 1 : 0});
        if (const int rc = StepDone(s); rc != SQLITE_OK) return rc;
        if (db_->Changes() == 0) *status = StoreStatus::kConflict;
        return SQLITE_OK;
      },
      "inserting session " + Quoted(c.id), error);
}

StoreStatus SqliteAdminStore::FindSession(std::string_view id, CallSession* out,
                                          std::string* error) {
  return Run(
      false,
      [&](StoreStatus* status, std::string* what) {
        Stmt s =
            Prepare(std::string("SELECT ") + kSessionColumns + " FROM call_sessions WHERE id = ?1");
        if (!s) return db_->ErrorCode();
        s.Bind(1, id);
        const int rc = s.Step();
        if (rc == SQLITE_DONE) {
          *status = StoreStatus::kNotFound;
          return SQLITE_OK;
        }
        if (rc != SQLITE_ROW) return rc;
        return ReadSession(s, out, what);
      },
      "reading session " + Quoted(id), error);
}

StoreStatus SqliteAdminStore::EndSession(const CallSession& c, std::string* error) {
  const std::string what = "ending session " + Quoted(c.id);
  if (c.ended_ms == 0) {  // it would stay live, and could be ended again
    if (error != nullptr) *error = db_->Describe() + ": " + what + ": ended_ms is 0";
    return StoreStatus::kError;
  }
  return Run(
      true,
      [&](StoreStatus* status, std::string*) {
        {
          Stmt s = Prepare(
              "UPDATE call_sessions SET ended_ms = ?2, end_reason = ?3, call_seconds = ?4, "
              "connected_ms = ?5, route = ?6, network = ?7, reconnects = ?8, relayed = ?9 "
              "WHERE id = ?1 AND ended_ms = 0");
          if (!s) return db_->ErrorCode();
          s.Bind(1, c.id);
          s.Bind(2, c.ended_ms);
          s.Bind(3, c.end_reason);
          s.Bind(4, int64_t{c.call_seconds});
          s.Bind(5, c.connected_ms);
          s.Bind(6, c.route);
          s.Bind(7, c.network);
          s.Bind(8, int64_t{c.reconnects});
          s.Bind(9, int64_t{c.relayed ? 1 : 0});
          if (const int rc = StepDone(s); rc != SQLITE_OK) return rc;
          if (db_->Changes() != 0) return SQLITE_OK;
        }
        // Nothing live by that id: ended already, or never started. Same transaction, so the
        // answer matches what the update saw.
        Stmt s = Prepare("SELECT 1 FROM call_sessions WHERE id = ?1");
        if (!s) return db_->ErrorCode();
        s.Bind(1, c.id);
        const int rc = s.Step();
        if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
        *status = rc == SQLITE_ROW ? StoreStatus::kConflict : StoreStatus::kNotFound;
        return SQLITE_OK;
      },
      what, error);
}

StoreStatus SqliteAdminStore::LiveSessions(std::vector<CallSession>* out, std::string* error) {
  std::vector<CallSession> sessions;
  const StoreStatus status = Run(
      false,
      [&](StoreStatus*, std::string* what) {
        sessions.clear();
        Stmt s = Prepare(std::string("SELECT ") + kSessionColumns +
                         " FROM call_sessions WHERE ended_ms = 0 ORDER BY started_ms, id");
        if (!s) return db_->ErrorCode();
        int rc;
        while ((rc = s.Step()) == SQLITE_ROW) {
          CallSession c;
          if (const int read = ReadSession(s, &c, what); read != SQLITE_OK) return read;
          sessions.push_back(std::move(c));
        }
        return rc == SQLITE_DONE ? SQLITE_OK : rc;
      },
      "listing live sessions", error);
  if (status == StoreStatus::kOk) *out = std::move(sessions);
  return status;
}

// `visit` runs inside the read transaction, one row at a time, so it must not call this store.
// Once a session has been visited a busy database is not retried: the retry would visit it again.
StoreStatus SqliteAdminStore::ForEachSession(int64_t from_ms, int64_t to_ms,
                                             const std::function<void(const CallSession&)>& visit,
                                             std::string* error) {
  return Run(
      false,
      [&](StoreStatus*, std::string* what) {
        Stmt s = Prepare(std::string("SELECT ") + kSessionColumns +
                         " FROM call_sessions WHERE started_ms >= ?1 AND started_ms < ?2 "
                         "ORDER BY started_ms, id");
        if (!s) return db_->ErrorCode();
        s.Bind(1, from_ms);
        s.Bind(2, to_ms);
        uint64_t visited = 0;
        int rc;
        while ((rc = s.Step()) == SQLITE_ROW) {
          CallSession c;
          if (const int read = ReadSession(s, &c, what); read != SQLITE_OK) return read;
          visit(c);
          ++visited;
        }
        if (rc == SQLITE_DONE) return SQLITE_OK;
        if (visited > 0 && ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)) {
          *what = db_->ErrorMessage() + " after " + std::to_string(visited) + " sessions";
          return SQLITE_ABORT;  // not retried
        }
        return rc;
      },
      "reading the sessions started in [" + std::to_string(from_ms) + ", " + std::to_string(to_ms) +
          ")",
      error);
}

// Housekeeping

StoreStatus SqliteAdminStore::Prune(int64_t now_ms, std::string* error) {
  return Run(
      true,
      [&](StoreStatus*, std::string*) {
        {
          Stmt s = Prepare("DELETE FROM one_time WHERE expires_ms < ?1");
          if (!s) return db_->ErrorCode();
          s.Bind(1, now_ms);
          if (const int rc = StepDone(s); rc != SQLITE_OK) return rc;
        }
        Stmt s = Prepare("DELETE FROM attempts WHERE at_ms < ?1");
        if (!s) return db_->ErrorCode();
        s.Bind(1, SaturatingSub(now_ms, kAttemptKeepMs));
        return StepDone(s);
      },
      "pruning", error);
}

}  // namespace

std::unique_ptr<AdminStore> OpenSqliteAdminStore(const std::string& path,
                                                 const AdminStoreOptions& options,
                                                 std::string* error) {
  auth::SqliteDbOptions db_options;
  db_options.busy_timeout_ms = options.busy_timeout_ms;
  db_options.create_parent = options.create_parent;
  db_options.kind = "cvadmin store";
  db_options.program = "cvadmin";
  std::unique_ptr<Db> db = Db::Open(path, db_options, kMigrations, error);
  if (db == nullptr) return nullptr;
  return std::make_unique<SqliteAdminStore>(std::move(db));
}

}  // namespace cv::admin
