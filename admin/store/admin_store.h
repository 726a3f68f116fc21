// cvadmin's durable state: users (tier, identity key), their Call IDs, contacts, call sessions,
// call attempts, and the one-time values (request nonces, token ids) that must be accepted once.
// The embedded default is one SQLite file (WAL); several cvadmin processes may share it, and a
// one-time value is accepted exactly once even when two of them see it at the same moment (a
// primary key decides, not a read-then-write).
//
// Every method reports store failure as StoreStatus::kError with a message; callers fail closed
// (a request whose nonce cannot be recorded is refused, never let through).
//
// Time is passed in (Unix milliseconds), never read here. Ids are validated by callers (the
// claims id charset), and every value goes in as an SQL parameter.
//
// Threading: an AdminStore may be used from one thread at a time (cvadmin uses it from its event
// loop thread only). Separate stores on the same file, in any processes, are safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cv::admin {

enum class StoreStatus {
  kOk,
  kNotFound,  // no such row
  kConflict,  // already exists / already used / already ended
  kError,     // the database failed; see the message
};

struct User {
  std::string id;
  std::string tier;        // a plan name: free, trial, pro, business, founder, …
  std::string public_key;  // Ed25519, 32 raw bytes; empty when none is registered
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  std::string mode = "PERSONAL";  // PERSONAL, CREATOR, BUSINESS or STAGE (checked by callers)
  int64_t trial_ends_ms = 0;      // when tier is "trial": the trial's end; 0 = none

  friend bool operator==(const User&, const User&) = default;
};

enum class CallKind { kDirect, kGroup, kExternalLink };
const char* CallKindName(CallKind kind);  // "direct", "group", "external_link"
std::optional<CallKind> ParseCallKind(std::string_view name);

struct CallSession {
  std::string id;  // random, [A-Za-z0-9_-]
  std::string user;
  std::string line;  // Call ID used
  CallKind kind = CallKind::kDirect;
  std::string callee;  // direct calls; empty otherwise
  uint32_t group_size = 2;
  std::string plan;  // the caller's plan at start
  bool allow_turn = false;
  bool allow_video = false;
  uint32_t max_duration_s = 0;  // 0 = none
  int64_t started_ms = 0;
  int64_t connected_ms = 0;   // first "connected"; 0 = never
  int64_t ended_ms = 0;       // 0 = live
  std::string end_reason;     // empty while live
  uint32_t call_seconds = 0;  // written once, at the end
  std::string route;          // last route report: "host", "srflx", "prflx", "relay", or empty
  std::string network;        // "wifi", "cellular", "ethernet", "unknown", or empty
  uint32_t reconnects = 0;
  bool relayed = false;  // a route report said "relay" at least once

  friend bool operator==(const CallSession&, const CallSession&) = default;
};

// Counts for a user's plan limits at `now_ms`. Days and months are UTC.
struct CallCounts {
  uint32_t calls_started_today = 0;       // call sessions started this UTC day
  uint32_t failed_starts_today = 0;       // refused starts this UTC day
  uint32_t attempts_last_hour = 0;        // starts (refused or not) in the last 3600 s
  int64_t oldest_attempt_in_hour_ms = 0;  // when the oldest of those was; 0 when none
  uint64_t call_seconds_month = 0;        // call_seconds of ended sessions started this UTC month
};

enum class LineClaim { kOwned, kClaimed, kTaken, kFull };

// A permanent per-user setting: a feature flag ("recording" → "true") or a limit override
// ("calls_per_day" → "5"). Values are text; admin/service/entitlements.h validates and reads them.
struct Setting {
  std::string key;
  std::string value;
  int64_t updated_ms = 0;
  std::string actor;  // who set it (an admin token's name)

  friend bool operator==(const Setting&, const Setting&) = default;
};
enum class SettingKind { kFlag, kOverride };

// A temporary grant: `key` takes `value` from starts_ms until ends_ms (exclusive).
struct Grant {
  int64_t id = 0;  // assigned by AddGrant, increasing
  std::string user;
  std::string key;
  std::string value;
  int64_t starts_ms = 0;
  int64_t ends_ms = 0;
  std::string reason;  // free text from the operator, at most 200 bytes (checked by callers)
  std::string actor;

  friend bool operator==(const Grant&, const Grant&) = default;
};

// A revocation cvadmin keeps in force on every relay: kind "user" or "session".
struct Revocation {
  std::string kind;
  std::string id;
  int64_t until_ms = 0;
  std::string reason;  // "revoked" (an operator's ban) or "downgrade" (the plan stopped relaying)
  std::string actor;
  int64_t created_ms = 0;

  friend bool operator==(const Revocation&, const Revocation&) = default;
};

// One change made through the admin API.
struct AuditEntry {
  int64_t id = 0;  // assigned by AppendAudit, increasing
  int64_t at_ms = 0;
  std::string actor;   // the admin token's name
  std::string role;    // viewer, operator, admin
  std::string action;  // "POST /admin/users/{id}/tier"
  std::string target;  // the user, session or key concerned; may be empty
  std::string detail;  // the request body or a summary, as JSON text (never a secret)
  int status = 0;      // the HTTP status answered

  friend bool operator==(const AuditEntry&, const AuditEntry&) = default;
};

struct AuditFilter {
  int64_t since_ms = 0;  // entries at or after
  std::string actor;     // empty = any
  std::string target;    // empty = any
  size_t limit = 100;    // at most 10000; newest first
};

class AdminStore {
 public:
  virtual ~AdminStore() = default;

  // Users. CreateUser: kConflict when the id exists.
  virtual StoreStatus CreateUser(const User& user, std::string* error) = 0;
  virtual StoreStatus FindUser(std::string_view id, User* out, std::string* error) = 0;
  // kNotFound when there is no such user.
  // trial_ends_ms: 0 unless tier is "trial".
  virtual StoreStatus SetTier(std::string_view id, std::string_view tier, int64_t trial_ends_ms,
                              int64_t now_ms, std::string* error) = 0;
  virtual StoreStatus SetMode(std::string_view id, std::string_view mode, int64_t now_ms,
                              std::string* error) = 0;
  // Users ordered by id, those after `after_id` (empty: from the first), at most `limit`
  // (1-10000); `tier` non-empty keeps only that tier.
  virtual StoreStatus ListUsers(std::string_view after_id, std::string_view tier, size_t limit,
                                std::vector<User>* out, std::string* error) = 0;
  virtual StoreStatus SetPublicKey(std::string_view id, std::string_view public_key, int64_t now_ms,
                                   std::string* error) = 0;

  // Call IDs (lines). A line belongs to at most one user. ClaimLine: kOwned when `user` has it
  // already; kClaimed when it was free and the user had fewer than `max_lines` (0 = no limit), and
  // is now theirs; kTaken when another user has it; kFull when the user is at max_lines.
  virtual StoreStatus ClaimLine(std::string_view user, std::string_view line, uint32_t max_lines,
                                int64_t now_ms, LineClaim* out, std::string* error) = 0;
  virtual StoreStatus Lines(std::string_view user, std::vector<std::string>* out,
                            std::string* error) = 0;
  // kNotFound when `user` does not hold `line`.
  virtual StoreStatus ReleaseLine(std::string_view user, std::string_view line,
                                  std::string* error) = 0;

  // Flags and overrides. PutSetting inserts or replaces; RemoveSetting of a missing key is
  // kNotFound. Settings: the user's settings of that kind, ordered by key.
  virtual StoreStatus PutSetting(std::string_view user, SettingKind kind, const Setting& setting,
                                 std::string* error) = 0;
  virtual StoreStatus RemoveSetting(std::string_view user, SettingKind kind, std::string_view key,
                                    std::string* error) = 0;
  virtual StoreStatus Settings(std::string_view user, SettingKind kind, std::vector<Setting>* out,
                               std::string* error) = 0;

  // Grants. AddGrant sets grant->id. Grants: `user`'s grants with ends_ms > now_ms (all of them
  // when include_ended), ordered by id. RemoveGrant: kNotFound unless `user` has grant `id`.
  virtual StoreStatus AddGrant(Grant* grant, std::string* error) = 0;
  virtual StoreStatus Grants(std::string_view user, int64_t now_ms, bool include_ended,
                             std::vector<Grant>* out, std::string* error) = 0;
  virtual StoreStatus RemoveGrant(std::string_view user, int64_t id, std::string* error) = 0;
  // Users whose entitlements change by the clock in (from_ms, to_ms]: a grant ends or starts, or
  // a trial ends. Distinct, ordered by id.
  virtual StoreStatus UsersChanging(int64_t from_ms, int64_t to_ms, std::vector<std::string>* out,
                                    std::string* error) = 0;

  // Revocations, one per (kind, id). PutRevocation inserts or replaces (callers keep the later
  // until_ms). RemoveRevocation: kNotFound when missing. ActiveRevocations: until_ms > now_ms.
  virtual StoreStatus PutRevocation(const Revocation& revocation, std::string* error) = 0;
  virtual StoreStatus RemoveRevocation(std::string_view kind, std::string_view id,
                                       std::string* error) = 0;
  virtual StoreStatus FindRevocation(std::string_view kind, std::string_view id, Revocation* out,
                                     std::string* error) = 0;
  virtual StoreStatus ActiveRevocations(int64_t now_ms, std::vector<Revocation>* out,
                                        std::string* error) = 0;

  // The audit log: append-only. AppendAudit sets entry->id.
  virtual StoreStatus AppendAudit(AuditEntry* entry, std::string* error) = 0;
  virtual StoreStatus Audit(const AuditFilter& filter, std::vector<AuditEntry>* out,
                            std::string* error) = 0;

  // Contacts: one row per (user, contact) approval. Approve is idempotent; Remove of a missing row
  // is kNotFound. MutuallyApproved: both directions exist. `max_contacts` bounds a user's rows
  // (kConflict when full).
  virtual StoreStatus Approve(std::string_view user, std::string_view contact,
                              uint32_t max_contacts, int64_t now_ms, std::string* error) = 0;
  virtual StoreStatus Remove(std::string_view user, std::string_view contact,
                             std::string* error) = 0;
  virtual StoreStatus MutuallyApproved(std::string_view a, std::string_view b, bool* out,
                                       std::string* error) = 0;
  struct Contact {
    std::string id;
    bool mutual = false;
  };
  virtual StoreStatus Contacts(std::string_view user, std::vector<Contact>* out,
                               std::string* error) = 0;

  // One-time values. kOk the first time (scope, value) is offered, kConflict every later time
  // until it expires; rows past expires_ms are pruned by Prune.
  virtual StoreStatus UseOnce(std::string_view scope, std::string_view value, int64_t expires_ms,
                              std::string* error) = 0;

  // Call start attempts (the hourly attempt and daily failure limits).
  virtual StoreStatus RecordAttempt(std::string_view user, int64_t at_ms, bool failed,
                                    std::string_view code, std::string* error) = 0;
  virtual StoreStatus Counts(std::string_view user, int64_t now_ms, CallCounts* out,
                             std::string* error) = 0;

  // Call sessions. InsertSession: kConflict on a duplicate id. EndSession writes the end fields
  // (ended_ms, end_reason, call_seconds, connected_ms, route, network, reconnects, relayed) of a
  // live session once: kConflict when it has ended already, kNotFound when unknown.
  virtual StoreStatus InsertSession(const CallSession& session, std::string* error) = 0;
  virtual StoreStatus FindSession(std::string_view id, CallSession* out, std::string* error) = 0;
  virtual StoreStatus EndSession(const CallSession& ended, std::string* error) = 0;
  virtual StoreStatus LiveSessions(std::vector<CallSession>* out, std::string* error) = 0;
  // Calls `visit` for every session with started_ms in [from_ms, to_ms), oldest first (reports;
  // nothing is held in memory but one row).
  virtual StoreStatus ForEachSession(int64_t from_ms, int64_t to_ms,
                                     const std::function<void(const CallSession&)>& visit,
                                     std::string* error) = 0;

  // Deletes one-time values past their expiry and attempts older than 2 days.
  virtual StoreStatus Prune(int64_t now_ms, std::string* error) = 0;
};

struct AdminStoreOptions {
  int busy_timeout_ms = 5000;
  bool create_parent = true;  // make the directory (mode 750) when missing
};

inline constexpr int kAdminSchemaVersion = 2;

// Opens (creating when missing: mode 640) the SQLite file at `path`, in WAL mode with
// synchronous=FULL, and migrates its schema (PRAGMA user_version; a file from a newer build is
// refused). nullptr with `error` ("<path>: …").
std::unique_ptr<AdminStore> OpenSqliteAdminStore(const std::string& path,
                                                 const AdminStoreOptions& options,
                                                 std::string* error);

}  // namespace cv::admin
