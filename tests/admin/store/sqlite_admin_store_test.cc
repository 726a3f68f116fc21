// The SQLite AdminStore against real files in a temp dir. The tests also open the file with
// cvauth's SqliteDb directly: to look at what the API does not show, set a schema version, hold
// the write lock, or corrupt a row.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "admin/store/admin_store.h"
#include "cv/auth/sqlite_db.h"
#include "tests/support/process.h"

namespace cv::admin {
namespace {

using auth::SqliteDb;
using auth::SqliteDbOptions;

constexpr int64_t kSecondMs = 1000;
constexpr int64_t kMinuteMs = 60 * kSecondMs;
constexpr int64_t kHourMs = 60 * kMinuteMs;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kNov21 = 1'795'262'400'000;      // 2026-11-21T12:00:00Z
constexpr int64_t kNov30Last = 1'796'083'199'000;  // 2026-11-30T23:59:59Z
constexpr int64_t kDec1 = 1'796'083'200'000;       // 2026-12-01T00:00:00Z
// Stand-ins for the store's migrations: SqliteDb then opens a file at the current version as
// current.
constexpr const char* kCurrent[] = {"SELECT 1", "SELECT 1"};
static_assert(std::size(kCurrent) == kAdminSchemaVersion, "Raw() expects the current version");

// Schema version 1 as released (the store's first migration, copied): files made by it exist.
constexpr const char* kReleasedVersion1[] = {R"sql(
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
)sql"};

CallSession Session(std::string id, std::string user, int64_t started_ms) {
  CallSession c;
  c.id = std::move(id);
  c.user = std::move(user);
  c.line = "line-" + c.user;
  c.kind = CallKind::kDirect;
  c.callee = "bob";
  c.plan = "pro";
  c.allow_turn = true;
  c.max_duration_s = 3600;
  c.started_ms = started_ms;
  return c;
}

CallSession Ended(CallSession c, int64_t ended_ms, uint32_t call_seconds) {
  c.connected_ms = c.started_ms + kSecondMs;
  c.ended_ms = ended_ms;
  c.end_reason = "hangup";
  c.call_seconds = call_seconds;
  c.route = "relay";
  c.network = "wifi";
  c.reconnects = 2;
  c.relayed = true;
  return c;
}

class AdminStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<AdminStore> Open(AdminStoreOptions options = {}) {
    std::string error;
    std::unique_ptr<AdminStore> store = OpenSqliteAdminStore(path_, options, &error);
    EXPECT_NE(store, nullptr) << error;
    return store;
  }

  // The first column of the first row of `sql` run on the file directly.
  std::string Raw(const std::string& sql) {
    SqliteDbOptions options;
    options.read_only = true;
    std::string error;
    std::unique_ptr<SqliteDb> db = SqliteDb::Open(path_, options, kCurrent, &error);
    if (db == nullptr) return "open failed: " + error;
    SqliteDb::Statement s = db->Prepare(sql);
    if (!s) return "prepare failed: " + db->ErrorMessage();
    return s.Step() == SQLITE_ROW ? s.Text(0) : "no row";
  }

  // Runs one statement on the file directly.
  void Exec(const std::string& sql) {
    std::unique_ptr<SqliteDb> db = SqliteDb::Open(path_, {}, kCurrent, &error_);
    ASSERT_NE(db, nullptr) << error_;
    ASSERT_EQ(db->Exec(sql.c_str()), SQLITE_OK) << db->ErrorMessage() << "\n" << sql;
  }

  // The ids of ForEachSession's visits, or "error: …".
  std::vector<std::string> SessionsStarted(AdminStore& store, int64_t from_ms, int64_t to_ms) {
    std::vector<std::string> ids;
    if (store.ForEachSession(
            from_ms, to_ms, [&](const CallSession& c) { ids.push_back(c.id); }, &error_) !=
        StoreStatus::kOk) {
      return {"error: " + error_};
    }
    return ids;
  }

  testing::TempDir dir_;
  const std::string path_ = dir_.path() + "/state/admin.db";
  std::string error_;
};

TEST(CallKindTest, NamesParseBack) {
  for (CallKind kind : {CallKind::kDirect, CallKind::kGroup, CallKind::kExternalLink}) {
    EXPECT_EQ(ParseCallKind(CallKindName(kind)), kind);
  }
  EXPECT_STREQ(CallKindName(CallKind::kDirect), "direct");
  EXPECT_STREQ(CallKindName(CallKind::kGroup), "group");
  EXPECT_STREQ(CallKindName(CallKind::kExternalLink), "external_link");
  EXPECT_EQ(ParseCallKind(""), std::nullopt);
  EXPECT_EQ(ParseCallKind("Direct"), std::nullopt);
  EXPECT_EQ(ParseCallKind("external-link"), std::nullopt);
  EXPECT_EQ(ParseCallKind(CallKindName(static_cast<CallKind>(7))), std::nullopt);
}

// --- Opening ---

TEST_F(AdminStoreTest, NewFileIsMode0640InDirectory0750AtTheCurrentSchemaInWalMode) {
  const mode_t old_umask = ::umask(077);  // the modes must not depend on the umask
  std::unique_ptr<AdminStore> store = Open();
  ::umask(old_umask);
  ASSERT_NE(store, nullptr);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  ASSERT_EQ(::stat((dir_.path() + "/state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  EXPECT_EQ(Raw("PRAGMA user_version"), std::to_string(kAdminSchemaVersion));
  EXPECT_EQ(Raw("PRAGMA journal_mode"), "wal");
}

TEST_F(AdminStoreTest, MissingDirectoryWithoutCreateParentFailsNamingThePath) {
  AdminStoreOptions options;
  options.create_parent = false;
  EXPECT_EQ(OpenSqliteAdminStore(path_, options, &error_), nullptr);
  EXPECT_EQ(error_.rfind(path_ + ": ", 0), 0u) << error_;
}

TEST_F(AdminStoreTest, FileFromANewerBuildIsRefusedAndLeftAlone) {
  ASSERT_NE(Open(), nullptr);
  {
    SqliteDbOptions options;
    std::unique_ptr<SqliteDb> db = SqliteDb::Open(path_, options, kCurrent, &error_);
    ASSERT_NE(db, nullptr) << error_;
    ASSERT_EQ(db->Exec("PRAGMA user_version = 3"), SQLITE_OK) << db->ErrorMessage();
  }
  EXPECT_EQ(OpenSqliteAdminStore(path_, {}, &error_), nullptr);
  EXPECT_EQ(error_, path_ + ": schema version 3 is newer than this build (2); upgrade cvadmin");
  struct stat st {};
  EXPECT_EQ(::stat(path_.c_str(), &st), 0);  // refused, not removed
}

TEST_F(AdminStoreTest, DataSurvivesReopening) {
  {
    std::unique_ptr<AdminStore> store = Open();
    ASSERT_EQ(store->CreateUser({"alice", "pro", "", kNov21, kNov21}, &error_), StoreStatus::kOk);
  }
  std::unique_ptr<AdminStore> store = Open();
  User user;
  EXPECT_EQ(store->FindUser("alice", &user, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(user.tier, "pro");
}

TEST_F(AdminStoreTest, Version1FileMigratesKeepingItsRowsWithUsersAsPersonalWithoutTrial) {
  {
    SqliteDbOptions options;
    options.create_parent = true;
    std::unique_ptr<SqliteDb> db = SqliteDb::Open(path_, options, kReleasedVersion1, &error_);
    ASSERT_NE(db, nullptr) << error_;
    ASSERT_EQ(db->schema_version(), 1);
    ASSERT_EQ(db->Exec("INSERT INTO users VALUES ('alice', 'trial', x'4242', 10, 20)"), SQLITE_OK)
        << db->ErrorMessage();
    ASSERT_EQ(db->Exec("INSERT INTO lines VALUES ('100', 'alice', 30)"), SQLITE_OK);
  }
  std::unique_ptr<AdminStore> store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(Raw("PRAGMA user_version"), "2");
  User found;
  ASSERT_EQ(store->FindUser("alice", &found, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(found, (User{"alice", "trial", "BB", 10, 20, "PERSONAL", 0}));
  std::vector<std::string> lines;
  ASSERT_EQ(store->Lines("alice", &lines, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(lines, (std::vector<std::string>{"100"}));

  // Everything version 2 added works on the migrated file.
  ASSERT_EQ(store->SetMode("alice", "STAGE", kNov21, &error_), StoreStatus::kOk) << error_;
  ASSERT_EQ(
      store->PutSetting("alice", SettingKind::kFlag, {"recording", "true", kNov21, "ops"}, &error_),
      StoreStatus::kOk)
      << error_;
  Grant grant{0, "alice", "relay", "true", kNov21, kDec1, "", "ops"};
  ASSERT_EQ(store->AddGrant(&grant, &error_), StoreStatus::kOk) << error_;
  ASSERT_EQ(store->PutRevocation({"user", "bob", kDec1, "revoked", "ops", kNov21}, &error_),
            StoreStatus::kOk)
      << error_;
  AuditEntry entry{0, kNov21, "ops", "admin", "POST /admin/users/alice/mode", "alice", "{}", 200};
  ASSERT_EQ(store->AppendAudit(&entry, &error_), StoreStatus::kOk) << error_;
  ASSERT_EQ(store->InsertSession(Session("s1", "alice", kNov21), &error_), StoreStatus::kOk);
  EXPECT_EQ(SessionsStarted(*store, kNov21, kDec1), (std::vector<std::string>{"s1"}));
  for (const char* index : {"users_trial_end", "grants_by_user", "grants_by_start", "grants_by_end",
                            "revocations_by_until", "audit_by_time", "audit_by_actor",
                            "audit_by_target", "call_sessions_by_start"}) {
    EXPECT_EQ(Raw(std::string("SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND "
                              "name = '") +
                  index + "'"),
              "1")
        << index;
  }

  // A file migrated from version 1 has the schema of a new one (which also shows that the copy of
  // version 1 above is the store's).
  const std::string schema =
      "SELECT group_concat(name || ':' || sql, char(10)) FROM "
      "(SELECT name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY name)";
  const std::string migrated = Raw(schema);
  store.reset();
  ASSERT_EQ(::unlink(path_.c_str()), 0);
  ::unlink((path_ + "-wal").c_str());
  ::unlink((path_ + "-shm").c_str());
  ASSERT_NE(Open(), nullptr);
  EXPECT_EQ(Raw(schema), migrated);
}

// --- Users ---

TEST_F(AdminStoreTest, CreatedUserIsFoundWithItsKey) {
  std::unique_ptr<AdminStore> store = Open();
  const std::string key("\x00\x01\xff key bytes with a NUL \x00 inside", 32);
  const User alice{"alice", "pro", key, kNov21, kNov21 + 1};
  ASSERT_EQ(store->CreateUser(alice, &error_), StoreStatus::kOk) << error_;
  User found;
  ASSERT_EQ(store->FindUser("alice", &found, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(found, alice);
  EXPECT_EQ(found.public_key.size(), 32u);

  const User bob{"bob", "free", "", kNov21, kNov21};
  ASSERT_EQ(store->CreateUser(bob, &error_), StoreStatus::kOk) << error_;
  ASSERT_EQ(store->FindUser("bob", &found, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(found, bob);
  EXPECT_EQ(Raw("SELECT typeof(public_key) FROM users WHERE id = 'bob'"), "blob");  // not NULL
}

TEST_F(AdminStoreTest, DuplicateUserIsAConflictAndChangesNothing) {
  std::unique_ptr<AdminStore> store = Open();
  ASSERT_EQ(store->CreateUser({"alice", "pro", "", kNov21, kNov21}, &error_), StoreStatus::kOk);
  EXPECT_EQ(store->CreateUser({"alice", "free", "", kDec1, kDec1}, &error_),
            StoreStatus::kConflict);
  User found;
  ASSERT_EQ(store->FindUser("alice", &found, &error_), StoreStatus::kOk);
  EXPECT_EQ(found.tier, "pro");
  EXPECT_EQ(found.created_ms, kNov21);
}

TEST_F(AdminStoreTest, UnknownUserIsNotFound) {
  std::unique_ptr<AdminStore> store = Open();
  User found;
  found.id = "untouched";
  EXPECT_EQ(store->FindUser("nobody", &found, &error_), StoreStatus::kNotFound);
  EXPECT_EQ(found.id, "untouched");
  EXPECT_EQ(store->SetTier("nobody", "pro", 0, kNov21, &error_), StoreStatus::kNotFound);
  EXPECT_EQ(store->SetMode("nobody", "CREATOR", kNov21, &error_), StoreStatus::kNotFound);
  EXPECT_EQ(store->SetPublicKey("nobody", std::string(32, 'k'), kNov21, &error_),
            StoreStatus::kNotFound);
  EXPECT_EQ(store->FindUser("nobody", &found, &error_), StoreStatus::kNotFound);  // not created
}

TEST_F(AdminStoreTest, SetTierAndSetPublicKeyUpdateTheUser) {
  std::unique_ptr<AdminStore> store = Open();
  ASSERT_EQ(store->CreateUser({"alice", "free", "", kNov21, kNov21}, &error_), StoreStatus::kOk);
  EXPECT_EQ(store->SetTier("alice", "business", 0, kNov21 + kHourMs, &error_), StoreStatus::kOk)
      << error_;
  const std::string key(32, '\x42');
  EXPECT_EQ(store->SetPublicKey("alice", key, kNov21 + 2 * kHourMs, &error_), StoreStatus::kOk)
      << error_;
  User found;
  ASSERT_EQ(store->FindUser("alice", &found, &error_), StoreStatus::kOk);
  EXPECT_EQ(found, (User{"alice", "business", key, kNov21, kNov21 + 2 * kHourMs}));

  // Removing the key: an empty key, not a NULL.
  EXPECT_EQ(store->SetPublicKey("alice", "", kNov21 + 3 * kHourMs, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->FindUser("alice", &found, &error_), StoreStatus::kOk);
  EXPECT_EQ(found.public_key, "");
  EXPECT_EQ(found.updated_ms, kNov21 + 3 * kHourMs);
}

TEST_F(AdminStoreTest, ModeAndTrialEndAreStoredWithTheUser) {
  std::unique_ptr<AdminStore> store = Open();
  const User trial{"alice", "trial", "", kNov21, kNov21, "CREATOR", kDec1};
  ASSERT_EQ(store->CreateUser(trial, &error_), StoreStatus::kOk) << error_;
  User found;
  ASSERT_EQ(store->FindUser("alice", &found, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(found, trial);

  // A trial's end is kept with the trial tier only.
  ASSERT_EQ(store->CreateUser({"bob", "pro", "", kNov21, kNov21, "BUSINESS", kDec1}, &error_),
            StoreStatus::kOk);
  ASSERT_EQ(store->FindUser("bob", &found, &error_), StoreStatus::kOk);
  EXPECT_EQ(found, (User{"bob", "pro", "", kNov21, kNov21, "BUSINESS", 0}));
}

TEST_F(AdminStoreTest, SetTierWritesTheTrialEndOnlyForTheTrialTier) {
  std::unique_ptr<AdminStore> store = Open();
  ASSERT_EQ(store->CreateUser({"alice", "free", "", kNov21, kNov21}, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->SetTier("alice", "trial", kDec1, kNov21 + 1, &error_), StoreStatus::kOk)
      << error_;
  User found;
  ASSERT_EQ(store->FindUser("alice", &found, &error_), StoreStatus::kOk);
  EXPECT_EQ(found, (User{"alice", "trial", "", kNov21, kNov21 + 1, "PERSONAL", kDec1}));

  ASSERT_EQ(store->SetTier("alice", "pro", kDec1 + kDayMs, kNov21 + 2, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->FindUser("alice", &found, &error_), StoreStatus::kOk);
  EXPECT_EQ(found.tier, "pro");
  EXPECT_EQ(found.trial_ends_ms, 0);  // the trial is over
  EXPECT_EQ(found.updated_ms, kNov21 + 2);

  ASSERT_EQ(store->SetMode("alice", "STAGE", kNov21 + 3, &error_), StoreStatus::kOk) << error_;
  ASSERT_EQ(store->FindUser("alice", &found, &error_), StoreStatus::kOk);
  EXPECT_EQ(found, (User{"alice", "pro", "", kNov21, kNov21 + 3, "STAGE", 0}));
}

TEST_F(AdminStoreTest, ListUsersPagesByIdAndKeepsOneTier) {
  std::unique_ptr<AdminStore> store = Open();
  for (const auto& [id, tier] :
       std::vector<std::pair<std::string, std::string>>{{"dave", "pro"},
                                                        {"alice", "free"},
                                                        {"erin", "free"},
                                                        {"bob", "pro"},
                                                        {"carol", "trial"}}) {
    ASSERT_EQ(store->CreateUser({id, tier, "", kNov21, kNov21}, &error_), StoreStatus::kOk);
  }
  auto ids = [&](std::string_view after, std::string_view tier, size_t limit) {
    std::vector<User> users;
    EXPECT_EQ(store->ListUsers(after, tier, limit, &users, &error_), StoreStatus::kOk) << error_;
    std::vector<std::string> out;
    for (const User& u : users) out.push_back(u.id);
    return out;
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(ids("", "", 2), (Ids{"alice", "bob"}));
  EXPECT_EQ(ids("bob", "", 2), (Ids{"carol", "dave"}));
  EXPECT_EQ(ids("dave", "", 2), (Ids{"erin"}));
  EXPECT_EQ(ids("erin", "", 2), Ids{});
  EXPECT_EQ(ids("b", "", 1), (Ids{"bob"}));  // after a string that is no user's id
  EXPECT_EQ(ids("", "pro", 100), (Ids{"bob", "dave"}));
  EXPECT_EQ(ids("bob", "pro", 100), (Ids{"dave"}));
  EXPECT_EQ(ids("", "founder", 100), Ids{});
  EXPECT_EQ(ids("", "", 0), (Ids{"alice"}));  // at least one

  std::vector<User> users;
  ASSERT_EQ(store->ListUsers("", "trial", 10, &users, &error_), StoreStatus::kOk);
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0], (User{"carol", "trial", "", kNov21, kNov21}));
}

TEST_F(AdminStoreTest, ListUsersReturnsAtMost10000) {
  std::unique_ptr<AdminStore> store = Open();
  Exec(
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10005) "
      "INSERT INTO users (id, tier, public_key, created_ms, updated_ms) "
      "SELECT printf('u%05d', i), 'free', x'', 0, 0 FROM n");
  std::vector<User> users;
  ASSERT_EQ(store->ListUsers("", "", 1'000'000, &users, &error_), StoreStatus::kOk) << error_;
  ASSERT_EQ(users.size(), 10000u);
  EXPECT_EQ(users.back().id, "u10000");
  ASSERT_EQ(store->ListUsers(users.back().id, "", 1'000'000, &users, &error_), StoreStatus::kOk);
  EXPECT_EQ(users.size(), 5u);
}

// --- Lines ---

TEST_F(AdminStoreTest, ClaimLineClaimsOwnsTakesAndFills) {
  std::unique_ptr<AdminStore> store = Open();
  LineClaim claim;
  ASSERT_EQ(store->ClaimLine("alice", "100", 2, kNov21, &claim, &error_), StoreStatus::kOk)
      << error_;
  EXPECT_EQ(claim, LineClaim::kClaimed);
  ASSERT_EQ(store->ClaimLine("alice", "100", 2, kNov21 + 1, &claim, &error_), StoreStatus::kOk);
  EXPECT_EQ(claim, LineClaim::kOwned);
  ASSERT_EQ(store->ClaimLine("bob", "100", 2, kNov21 + 2, &claim, &error_), StoreStatus::kOk);
  EXPECT_EQ(claim, LineClaim::kTaken);
  ASSERT_EQ(store->ClaimLine("alice", "200", 2, kNov21 + 3, &claim, &error_), StoreStatus::kOk);
  EXPECT_EQ(claim, LineClaim::kClaimed);
  ASSERT_EQ(store->ClaimLine("alice", "300", 2, kNov21 + 4, &claim, &error_), StoreStatus::kOk);
  EXPECT_EQ(claim, LineClaim::kFull);
  // At the limit, a line the user has is still theirs, and another user's is still taken.
  ASSERT_EQ(store->ClaimLine("alice", "200", 2, kNov21 + 5, &claim, &error_), StoreStatus::kOk);
  EXPECT_EQ(claim, LineClaim::kOwned);
  ASSERT_EQ(store->ClaimLine("bob", "900", 1, kNov21 + 6, &claim, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->ClaimLine("alice", "900", 2, kNov21 + 7, &claim, &error_), StoreStatus::kOk);
  EXPECT_EQ(claim, LineClaim::kTaken);

  std::vector<std::string> lines;
  ASSERT_EQ(store->Lines("alice", &lines, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(lines, (std::vector<std::string>{"100", "200"}));
  ASSERT_EQ(store->Lines("bob", &lines, &error_), StoreStatus::kOk);
  EXPECT_EQ(lines, (std::vector<std::string>{"900"}));
  ASSERT_EQ(store->Lines("nobody", &lines, &error_), StoreStatus::kOk);
  EXPECT_TRUE(lines.empty());
}

TEST_F(AdminStoreTest, MaxLinesZeroIsNoLimit) {
  std::unique_ptr<AdminStore> store = Open();
  for (int i = 0; i < 20; ++i) {
    LineClaim claim = LineClaim::kFull;
    ASSERT_EQ(store->ClaimLine("alice", "line" + std::to_string(i), 0, kNov21 + i, &claim, &error_),
              StoreStatus::kOk)
        << error_;
    EXPECT_EQ(claim, LineClaim::kClaimed) << i;
  }
  std::vector<std::string> lines;
  ASSERT_EQ(store->Lines("alice", &lines, &error_), StoreStatus::kOk);
  EXPECT_EQ(lines.size(), 20u);
  EXPECT_EQ(lines.front(), "line0");  // in the order claimed
  EXPECT_EQ(lines.back(), "line19");
}

TEST_F(AdminStoreTest, TwoUsersRacingForOneLineFromTwoStoresOneGetsIt) {
  std::unique_ptr<AdminStore> first = Open();
  std::unique_ptr<AdminStore> second = Open();
  constexpr int kLines = 200;
  std::array<std::vector<LineClaim>, 2> claims;
  std::array<std::string, 2> errors;
  auto claim_all = [&](AdminStore* store, const char* user, int index) {
    for (int i = 0; i < kLines; ++i) {
      LineClaim claim;
      if (store->ClaimLine(user, "line" + std::to_string(i), 0, kNov21, &claim, &errors[index]) !=
          StoreStatus::kOk) {
        return;
      }
      claims[index].push_back(claim);
    }
  };
  std::thread a(claim_all, first.get(), "alice", 0);
  std::thread b(claim_all, second.get(), "bob", 1);
  a.join();
  b.join();
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");
  ASSERT_EQ(claims[0].size(), size_t{kLines});
  ASSERT_EQ(claims[1].size(), size_t{kLines});
  for (int i = 0; i < kLines; ++i) {
    const bool alice = claims[0][i] == LineClaim::kClaimed;
    const bool bob = claims[1][i] == LineClaim::kClaimed;
    EXPECT_NE(alice, bob) << i;  // exactly one claimed it, the other found it taken
    EXPECT_EQ(claims[alice ? 1 : 0][i], LineClaim::kTaken) << i;
  }
}

TEST_F(AdminStoreTest, ReleasedLineIsFreeForAnotherUser) {
  std::unique_ptr<AdminStore> store = Open();
  LineClaim claim;
  ASSERT_EQ(store->ClaimLine("alice", "100", 1, kNov21, &claim, &error_), StoreStatus::kOk);
  EXPECT_EQ(store->ReleaseLine("bob", "100", &error_), StoreStatus::kNotFound);  // not bob's
  EXPECT_EQ(store->ReleaseLine("alice", "200", &error_), StoreStatus::kNotFound);
  EXPECT_EQ(store->ReleaseLine("alice", "100", &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(store->ReleaseLine("alice", "100", &error_), StoreStatus::kNotFound);  // once
  std::vector<std::string> lines;
  ASSERT_EQ(store->Lines("alice", &lines, &error_), StoreStatus::kOk);
  EXPECT_TRUE(lines.empty());
  ASSERT_EQ(store->ClaimLine("bob", "100", 1, kNov21 + 1, &claim, &error_), StoreStatus::kOk);
  EXPECT_EQ(claim, LineClaim::kClaimed);
  // Alice is below her limit again.
  ASSERT_EQ(store->ClaimLine("alice", "300", 1, kNov21 + 2, &claim, &error_), StoreStatus::kOk);
  EXPECT_EQ(claim, LineClaim::kClaimed);
}

// --- Flags and overrides ---

TEST_F(AdminStoreTest, SettingsArePerUserAndKindOrderedByKeyAndReplaced) {
  std::unique_ptr<AdminStore> store = Open();
  const Setting recording{"recording", "true", kNov21, "ops"};
  const Setting beta{"beta", "false", kNov21 + 1, "ops"};
  const Setting calls{"calls_per_day", "5", kNov21 + 2, "root"};
  ASSERT_EQ(store->PutSetting("alice", SettingKind::kFlag, recording, &error_), StoreStatus::kOk)
      << error_;
  ASSERT_EQ(store->PutSetting("alice", SettingKind::kFlag, beta, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->PutSetting("alice", SettingKind::kOverride, calls, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->PutSetting("bob", SettingKind::kFlag, recording, &error_), StoreStatus::kOk);
  // The same key as a flag and as an override: two settings.
  ASSERT_EQ(store->PutSetting("alice", SettingKind::kOverride, recording, &error_),
            StoreStatus::kOk);

  std::vector<Setting> settings;
  ASSERT_EQ(store->Settings("alice", SettingKind::kFlag, &settings, &error_), StoreStatus::kOk)
      << error_;
  EXPECT_EQ(settings, (std::vector<Setting>{beta, recording}));
  ASSERT_EQ(store->Settings("alice", SettingKind::kOverride, &settings, &error_), StoreStatus::kOk);
  EXPECT_EQ(settings, (std::vector<Setting>{calls, recording}));
  ASSERT_EQ(store->Settings("carol", SettingKind::kFlag, &settings, &error_), StoreStatus::kOk);
  EXPECT_TRUE(settings.empty());
  EXPECT_EQ(Raw("SELECT group_concat(kind, ',') FROM (SELECT DISTINCT kind FROM settings "
                "ORDER BY kind)"),
            "flag,override");

  // Put replaces value, time and actor.
  const Setting off{"recording", "false", kDec1, "root"};
  ASSERT_EQ(store->PutSetting("alice", SettingKind::kFlag, off, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->Settings("alice", SettingKind::kFlag, &settings, &error_), StoreStatus::kOk);
  EXPECT_EQ(settings, (std::vector<Setting>{beta, off}));

  EXPECT_EQ(store->RemoveSetting("alice", SettingKind::kFlag, "beta", &error_), StoreStatus::kOk)
      << error_;
  EXPECT_EQ(store->RemoveSetting("alice", SettingKind::kFlag, "beta", &error_),
            StoreStatus::kNotFound);
  EXPECT_EQ(store->RemoveSetting("alice", SettingKind::kOverride, "beta", &error_),
            StoreStatus::kNotFound);
  EXPECT_EQ(store->RemoveSetting("carol", SettingKind::kFlag, "recording", &error_),
            StoreStatus::kNotFound);
  ASSERT_EQ(store->Settings("alice", SettingKind::kFlag, &settings, &error_), StoreStatus::kOk);
  EXPECT_EQ(settings, (std::vector<Setting>{off}));
  ASSERT_EQ(store->Settings("bob", SettingKind::kFlag, &settings, &error_), StoreStatus::kOk);
  EXPECT_EQ(settings, (std::vector<Setting>{recording}));  // bob's is his own
}

// --- Grants ---

TEST_F(AdminStoreTest, GrantsGetIncreasingIdsAndListEndedOnesOnlyWhenAsked) {
  std::unique_ptr<AdminStore> store = Open();
  Grant ended{0, "alice", "relay", "true", kNov21 - kDayMs, kNov21, "apology", "ops"};
  Grant current{0, "alice", "calls_per_day", "10", kNov21 - kHourMs, kDec1, "", "ops"};
  Grant future{0, "alice", "group_size", "8", kDec1, kDec1 + kDayMs, "event", "root"};
  Grant bobs{0, "bob", "relay", "true", kNov21, kDec1, "", "ops"};
  for (Grant* g : {&current, &ended, &bobs, &future}) {
    ASSERT_EQ(store->AddGrant(g, &error_), StoreStatus::kOk) << error_;
  }
  EXPECT_GT(current.id, 0);
  EXPECT_GT(ended.id, current.id);
  EXPECT_GT(bobs.id, ended.id);
  EXPECT_GT(future.id, bobs.id);

  std::vector<Grant> grants;
  ASSERT_EQ(store->Grants("alice", kNov21, false, &grants, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(grants, (std::vector<Grant>{current, future}));  // ends_ms == now has ended
  ASSERT_EQ(store->Grants("alice", kNov21 - 1, false, &grants, &error_), StoreStatus::kOk);
  EXPECT_EQ(grants, (std::vector<Grant>{current, ended, future}));  // by id
  ASSERT_EQ(store->Grants("alice", kDec1 + kDayMs, true, &grants, &error_), StoreStatus::kOk);
  EXPECT_EQ(grants, (std::vector<Grant>{current, ended, future}));
  ASSERT_EQ(store->Grants("alice", kDec1 + kDayMs, false, &grants, &error_), StoreStatus::kOk);
  EXPECT_TRUE(grants.empty());
  ASSERT_EQ(store->Grants("carol", 0, true, &grants, &error_), StoreStatus::kOk);
  EXPECT_TRUE(grants.empty());

  EXPECT_EQ(store->RemoveGrant("bob", future.id, &error_), StoreStatus::kNotFound);  // alice's
  EXPECT_EQ(store->RemoveGrant("alice", future.id + 100, &error_), StoreStatus::kNotFound);
  EXPECT_EQ(store->RemoveGrant("alice", future.id, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(store->RemoveGrant("alice", future.id, &error_), StoreStatus::kNotFound);
  ASSERT_EQ(store->Grants("alice", 0, true, &grants, &error_), StoreStatus::kOk);
  EXPECT_EQ(grants, (std::vector<Grant>{current, ended}));

  // The newest grant was removed; its id is not given out again.
  Grant next{0, "alice", "relay", "true", kDec1, kDec1 + kDayMs, "", "ops"};
  ASSERT_EQ(store->AddGrant(&next, &error_), StoreStatus::kOk);
  EXPECT_GT(next.id, future.id);
}

TEST_F(AdminStoreTest, UsersChangingFindsGrantsStartingOrEndingAndTrialsEndingAfterFromUpToTo) {
  std::unique_ptr<AdminStore> store = Open();
  const int64_t t = kDec1;
  auto add = [&](const char* user, int64_t starts_ms, int64_t ends_ms) {
    Grant g{0, user, "relay", "true", starts_ms, ends_ms, "", "ops"};
    ASSERT_EQ(store->AddGrant(&g, &error_), StoreStatus::kOk) << error_;
  };
  add("erin", t - kDayMs, t);            // ends at t
  add("bob", t, t + kDayMs);             // starts at t
  add("alice", t - 5, t - 1);            // starts and ends in (t - 10, t]: listed once
  add("frank", t - kDayMs, t + kDayMs);  // neither
  ASSERT_EQ(store->CreateUser({"carol", "trial", "", kNov21, kNov21, "PERSONAL", t}, &error_),
            StoreStatus::kOk);
  ASSERT_EQ(store->CreateUser({"dave", "pro", "", kNov21, kNov21}, &error_), StoreStatus::kOk);
  Exec("UPDATE users SET trial_ends_ms = " + std::to_string(t) +
       " WHERE id = 'dave'");  // not a trial
  ASSERT_EQ(store->CreateUser({"gina", "trial", "", kNov21, kNov21, "PERSONAL", 0}, &error_),
            StoreStatus::kOk);  // a trial without an end

  auto changing = [&](int64_t from_ms, int64_t to_ms) {
    std::vector<std::string> users;
    EXPECT_EQ(store->UsersChanging(from_ms, to_ms, &users, &error_), StoreStatus::kOk) << error_;
    return users;
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(changing(t - 10, t), (Ids{"alice", "bob", "carol", "erin"}));
  EXPECT_EQ(changing(t - 1, t), (Ids{"bob", "carol", "erin"}));  // alice's end at t - 1 is out
  EXPECT_EQ(changing(t, t + 1), Ids{});                          // t itself is out
  EXPECT_EQ(changing(t - 2, t - 1), (Ids{"alice"}));
  EXPECT_EQ(changing(t, t + kDayMs), (Ids{"bob", "frank"}));
  EXPECT_EQ(changing(t, t), Ids{});
  EXPECT_EQ(changing(-kDayMs, 0), Ids{});  // gina's "no end" is no change

  // A trial that became another tier ends no more.
  ASSERT_EQ(store->SetTier("carol", "pro", 0, kNov21, &error_), StoreStatus::kOk);
  EXPECT_EQ(changing(t - 1, t), (Ids{"bob", "erin"}));
}

// --- Revocations ---

TEST_F(AdminStoreTest, RevocationsAreReplacedFoundRemovedAndActiveUntilTheirEnd) {
  std::unique_ptr<AdminStore> store = Open();
  const Revocation alice{"user", "alice", kDec1, "revoked", "ops", kNov21};
  const Revocation session{"session", "s1", kNov21 + kHourMs, "downgrade", "cvadmin", kNov21};
  const Revocation same_id{"session", "alice", kDec1, "revoked", "ops", kNov21};
  ASSERT_EQ(store->PutRevocation(alice, &error_), StoreStatus::kOk) << error_;
  ASSERT_EQ(store->PutRevocation(session, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->PutRevocation(same_id, &error_), StoreStatus::kOk);  // another kind

  Revocation found;
  ASSERT_EQ(store->FindRevocation("user", "alice", &found, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(found, alice);
  const Revocation later{"user", "alice", kDec1 + kDayMs, "downgrade", "root", kNov21 + 1};
  ASSERT_EQ(store->PutRevocation(later, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->FindRevocation("user", "alice", &found, &error_), StoreStatus::kOk);
  EXPECT_EQ(found, later);
  EXPECT_EQ(Raw("SELECT count(*) FROM revocations"), "3");

  std::vector<Revocation> active;
  ASSERT_EQ(store->ActiveRevocations(kNov21, &active, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(active, (std::vector<Revocation>{same_id, session, later}));  // by kind, then id
  ASSERT_EQ(store->ActiveRevocations(kNov21 + kHourMs, &active, &error_), StoreStatus::kOk);
  EXPECT_EQ(active, (std::vector<Revocation>{same_id, later}));  // until_ms == now has lapsed

  EXPECT_EQ(store->RemoveRevocation("user", "alice", &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(store->RemoveRevocation("user", "alice", &error_), StoreStatus::kNotFound);
  EXPECT_EQ(store->RemoveRevocation("user", "s1", &error_), StoreStatus::kNotFound);
  found.id = "untouched";
  EXPECT_EQ(store->FindRevocation("user", "alice", &found, &error_), StoreStatus::kNotFound);
  EXPECT_EQ(found.id, "untouched");
  ASSERT_EQ(store->FindRevocation("session", "alice", &found, &error_), StoreStatus::kOk);
  EXPECT_EQ(found, same_id);
}

// --- The audit log ---

TEST_F(AdminStoreTest, AuditIsNewestFirstFilteredAndLimited) {
  std::unique_ptr<AdminStore> store = Open();
  std::vector<AuditEntry> entries = {
      {0, kNov21, "ops", "operator", "POST /admin/users/alice/tier", "alice", R"({"tier":"pro"})",
       200},
      {0, kNov21 + 1, "root", "admin", "POST /admin/keys/rotate", "", "{}", 200},
      {0, kNov21 + 2, "ops", "operator", "POST /admin/users/bob/tier", "bob", "{}", 404},
      {0, kNov21 + 2, "root", "admin", "DELETE /admin/users/alice/grants/1", "alice", "{}", 200},
      // Appended later, but it happened earlier (another cvadmin's clock, a slow request).
      {0, kNov21 - 1, "ops", "operator", "GET /admin/audit", "", "", 200},
  };
  int64_t last_id = 0;
  for (AuditEntry& e : entries) {
    ASSERT_EQ(store->AppendAudit(&e, &error_), StoreStatus::kOk) << error_;
    EXPECT_GT(e.id, last_id);
    last_id = e.id;
  }
  auto audit = [&](AuditFilter filter) {
    std::vector<AuditEntry> out;
    EXPECT_EQ(store->Audit(filter, &out, &error_), StoreStatus::kOk) << error_;
    return out;
  };
  const AuditEntry &tier_alice = entries[0], &rotate = entries[1], &tier_bob = entries[2],
                   &ungrant = entries[3], &read = entries[4];
  using Entries = std::vector<AuditEntry>;
  // By time, newest first; at the same time, the later appended first.
  EXPECT_EQ(audit({}), (Entries{ungrant, tier_bob, rotate, tier_alice, read}));
  EXPECT_EQ(audit({kNov21 + 1, "", "", 100}), (Entries{ungrant, tier_bob, rotate}));  // at or after
  EXPECT_EQ(audit({0, "ops", "", 100}), (Entries{tier_bob, tier_alice, read}));
  EXPECT_EQ(audit({0, "", "alice", 100}), (Entries{ungrant, tier_alice}));
  EXPECT_EQ(audit({0, "ops", "alice", 100}), (Entries{tier_alice}));
  EXPECT_EQ(audit({kNov21 + 3, "", "", 100}), Entries{});
  EXPECT_EQ(audit({0, "nobody", "", 100}), Entries{});
  EXPECT_EQ(audit({0, "", "", 2}), (Entries{ungrant, tier_bob}));
  EXPECT_EQ(audit({0, "", "", 0}), (Entries{ungrant}));  // at least one
}

TEST_F(AdminStoreTest, AuditReturnsAtMost10000Entries) {
  std::unique_ptr<AdminStore> store = Open();
  Exec(
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10002) "
      "INSERT INTO audit (at_ms, actor, role, action, target, detail, status) "
      "SELECT i, 'ops', 'operator', 'GET /admin/users', '', '', 200 FROM n");
  std::vector<AuditEntry> out;
  AuditFilter filter;
  filter.limit = 50'000;
  ASSERT_EQ(store->Audit(filter, &out, &error_), StoreStatus::kOk) << error_;
  ASSERT_EQ(out.size(), 10000u);
  EXPECT_EQ(out.front().at_ms, 10002);
  EXPECT_EQ(out.back().at_ms, 3);
}

// --- Contacts ---

TEST_F(AdminStoreTest, ApproveIsIdempotentAndMutualOnlyBothWays) {
  std::unique_ptr<AdminStore> store = Open();
  bool mutual = true;
  ASSERT_EQ(store->MutuallyApproved("alice", "bob", &mutual, &error_), StoreStatus::kOk) << error_;
  EXPECT_FALSE(mutual);

  ASSERT_EQ(store->Approve("alice", "bob", 10, kNov21, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(store->Approve("alice", "bob", 10, kNov21 + 1, &error_), StoreStatus::kOk);
  EXPECT_EQ(Raw("SELECT count(*) FROM contacts"), "1");
  EXPECT_EQ(Raw("SELECT approved_ms FROM contacts"), std::to_string(kNov21));  // first kept
  ASSERT_EQ(store->MutuallyApproved("alice", "bob", &mutual, &error_), StoreStatus::kOk);
  EXPECT_FALSE(mutual);  // one way only
  ASSERT_EQ(store->MutuallyApproved("bob", "alice", &mutual, &error_), StoreStatus::kOk);
  EXPECT_FALSE(mutual);

  ASSERT_EQ(store->Approve("bob", "alice", 10, kNov21 + 2, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->MutuallyApproved("alice", "bob", &mutual, &error_), StoreStatus::kOk);
  EXPECT_TRUE(mutual);
  ASSERT_EQ(store->MutuallyApproved("bob", "alice", &mutual, &error_), StoreStatus::kOk);
  EXPECT_TRUE(mutual);

  ASSERT_EQ(store->Approve("alice", "carol", 10, kNov21 + 3, &error_), StoreStatus::kOk);
  std::vector<AdminStore::Contact> contacts;
  ASSERT_EQ(store->Contacts("alice", &contacts, &error_), StoreStatus::kOk) << error_;
  ASSERT_EQ(contacts.size(), 2u);
  EXPECT_EQ(contacts[0].id, "bob");
  EXPECT_TRUE(contacts[0].mutual);
  EXPECT_EQ(contacts[1].id, "carol");
  EXPECT_FALSE(contacts[1].mutual);
  ASSERT_EQ(store->Contacts("nobody", &contacts, &error_), StoreStatus::kOk);
  EXPECT_TRUE(contacts.empty());
}

TEST_F(AdminStoreTest, RemoveEndsMutualityAndAMissingRowIsNotFound) {
  std::unique_ptr<AdminStore> store = Open();
  ASSERT_EQ(store->Approve("alice", "bob", 0, kNov21, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->Approve("bob", "alice", 0, kNov21, &error_), StoreStatus::kOk);
  EXPECT_EQ(store->Remove("bob", "alice", &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(store->Remove("bob", "alice", &error_), StoreStatus::kNotFound);
  EXPECT_EQ(store->Remove("alice", "carol", &error_), StoreStatus::kNotFound);
  bool mutual = true;
  ASSERT_EQ(store->MutuallyApproved("alice", "bob", &mutual, &error_), StoreStatus::kOk);
  EXPECT_FALSE(mutual);
  std::vector<AdminStore::Contact> contacts;
  ASSERT_EQ(store->Contacts("alice", &contacts, &error_), StoreStatus::kOk);
  ASSERT_EQ(contacts.size(), 1u);
  EXPECT_EQ(contacts[0].id, "bob");
  EXPECT_FALSE(contacts[0].mutual);
}

TEST_F(AdminStoreTest, MaxContactsBoundsNewRowsOnly) {
  std::unique_ptr<AdminStore> store = Open();
  ASSERT_EQ(store->Approve("alice", "bob", 2, kNov21, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->Approve("alice", "carol", 2, kNov21, &error_), StoreStatus::kOk);
  EXPECT_EQ(store->Approve("alice", "dave", 2, kNov21, &error_), StoreStatus::kConflict);
  EXPECT_EQ(store->Approve("alice", "bob", 2, kNov21, &error_), StoreStatus::kOk);   // has it
  EXPECT_EQ(store->Approve("dave", "alice", 2, kNov21, &error_), StoreStatus::kOk);  // per user
  std::vector<AdminStore::Contact> contacts;
  ASSERT_EQ(store->Contacts("alice", &contacts, &error_), StoreStatus::kOk);
  EXPECT_EQ(contacts.size(), 2u);
  // After a removal there is room again; 0 means no limit.
  ASSERT_EQ(store->Remove("alice", "carol", &error_), StoreStatus::kOk);
  EXPECT_EQ(store->Approve("alice", "dave", 2, kNov21, &error_), StoreStatus::kOk);
  EXPECT_EQ(store->Approve("alice", "erin", 0, kNov21, &error_), StoreStatus::kOk);
}

// --- One-time values ---

TEST_F(AdminStoreTest, UseOnceAcceptsAValueOncePerScope) {
  std::unique_ptr<AdminStore> store = Open();
  EXPECT_EQ(store->UseOnce("nonce", "n1", kNov21 + kMinuteMs, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(store->UseOnce("nonce", "n1", kNov21 + kMinuteMs, &error_), StoreStatus::kConflict);
  EXPECT_EQ(store->UseOnce("nonce", "n1", kNov21 + kHourMs, &error_), StoreStatus::kConflict);
  EXPECT_EQ(store->UseOnce("jti", "n1", kNov21 + kMinuteMs, &error_), StoreStatus::kOk);
  EXPECT_EQ(store->UseOnce("nonce", "n2", kNov21 + kMinuteMs, &error_), StoreStatus::kOk);
  // A second store on the same file sees the same.
  std::unique_ptr<AdminStore> other = Open();
  EXPECT_EQ(other->UseOnce("nonce", "n1", kNov21 + kMinuteMs, &error_), StoreStatus::kConflict);
}

TEST_F(AdminStoreTest, UsedValueStaysUsedUntilPrunedAfterItsExpiry) {
  std::unique_ptr<AdminStore> store = Open();
  ASSERT_EQ(store->UseOnce("nonce", "n1", kNov21, &error_), StoreStatus::kOk);
  // Expired but not pruned: still used (replay protection never depends on Prune's timing).
  EXPECT_EQ(store->UseOnce("nonce", "n1", kNov21 + kDayMs, &error_), StoreStatus::kConflict);
  ASSERT_EQ(store->Prune(kNov21, &error_), StoreStatus::kOk) << error_;  // not past it yet
  EXPECT_EQ(store->UseOnce("nonce", "n1", kNov21 + kDayMs, &error_), StoreStatus::kConflict);
  ASSERT_EQ(store->Prune(kNov21 + 1, &error_), StoreStatus::kOk);
  EXPECT_EQ(store->UseOnce("nonce", "n1", kNov21 + kDayMs, &error_), StoreStatus::kOk);
}

TEST_F(AdminStoreTest, TwoStoresRacingOnTheSameValuesAcceptEachExactlyOnce) {
  std::unique_ptr<AdminStore> first = Open();
  std::unique_ptr<AdminStore> second = Open();
  constexpr int kValues = 1000;
  std::atomic<int> ok{0}, conflict{0}, failed{0};
  std::array<std::string, 2> errors;
  auto use_all = [&](AdminStore* store, int index) {
    for (int i = 0; i < kValues; ++i) {
      switch (
          store->UseOnce("nonce", "value-" + std::to_string(i), kNov21 + kHourMs, &errors[index])) {
        case StoreStatus::kOk:
          ++ok;
          break;
        case StoreStatus::kConflict:
          ++conflict;
          break;
        default:
          ++failed;
          break;
      }
    }
  };
  std::thread a(use_all, first.get(), 0);
  std::thread b(use_all, second.get(), 1);
  a.join();
  b.join();
  EXPECT_EQ(failed.load(), 0) << errors[0] << " / " << errors[1];
  EXPECT_EQ(ok.load(), kValues);
  EXPECT_EQ(conflict.load(), kValues);
  EXPECT_EQ(Raw("SELECT count(*) FROM one_time"), std::to_string(kValues));
}

TEST_F(AdminStoreTest, LockedDatabaseFailsClosedWithTheReason) {
  AdminStoreOptions options;
  options.busy_timeout_ms = 50;
  std::unique_ptr<AdminStore> store = Open(options);
  SqliteDbOptions db_options;
  std::unique_ptr<SqliteDb> holder = SqliteDb::Open(path_, db_options, kCurrent, &error_);
  ASSERT_NE(holder, nullptr) << error_;
  ASSERT_EQ(holder->Exec("BEGIN IMMEDIATE"), SQLITE_OK) << holder->ErrorMessage();
  EXPECT_EQ(store->UseOnce("nonce", "n1", kNov21, &error_), StoreStatus::kError);
  EXPECT_EQ(error_.rfind(path_ + ": recording a one-time value in 'nonce': ", 0), 0u) << error_;
  EXPECT_NE(error_.find("database is locked"), std::string::npos) << error_;
  EXPECT_EQ(error_.find("n1"), std::string::npos) << error_;  // the value stays out of logs
  ASSERT_EQ(holder->Exec("ROLLBACK"), SQLITE_OK);
  EXPECT_EQ(store->UseOnce("nonce", "n1", kNov21, &error_), StoreStatus::kOk) << error_;
}

// --- Attempts and counts ---

TEST_F(AdminStoreTest, CountsAreZeroForAUserWithNothing) {
  std::unique_ptr<AdminStore> store = Open();
  ASSERT_EQ(store->RecordAttempt("bob", kNov21, true, "limit", &error_), StoreStatus::kOk);
  ASSERT_EQ(store->InsertSession(Session("s1", "bob", kNov21), &error_), StoreStatus::kOk);
  CallCounts counts;
  counts.calls_started_today = 99;
  ASSERT_EQ(store->Counts("alice", kNov21, &counts, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(counts.calls_started_today, 0u);
  EXPECT_EQ(counts.failed_starts_today, 0u);
  EXPECT_EQ(counts.attempts_last_hour, 0u);
  EXPECT_EQ(counts.oldest_attempt_in_hour_ms, 0);
  EXPECT_EQ(counts.call_seconds_month, 0u);
}

TEST_F(AdminStoreTest, DailyAndMonthlyCountsSplitAtUtcMidnight) {
  std::unique_ptr<AdminStore> store = Open();
  // Last second of November and first of December.
  ASSERT_EQ(
      store->InsertSession(Ended(Session("nov-a", "alice", kNov30Last), kNov30Last, 100), &error_),
      StoreStatus::kOk)
      << error_;
  ASSERT_EQ(store->InsertSession(Ended(Session("nov-b", "alice", kNov21), kNov21 + 1, 20), &error_),
            StoreStatus::kOk);
  ASSERT_EQ(store->InsertSession(Session("nov-live", "alice", kNov30Last - 1), &error_),
            StoreStatus::kOk);
  ASSERT_EQ(
      store->InsertSession(Ended(Session("dec-a", "alice", kDec1), kDec1 + 60'000, 50), &error_),
      StoreStatus::kOk);
  ASSERT_EQ(store->InsertSession(Ended(Session("dec-bob", "bob", kDec1), kDec1 + 1, 7), &error_),
            StoreStatus::kOk);
  ASSERT_EQ(store->RecordAttempt("alice", kNov30Last, true, "limit", &error_), StoreStatus::kOk);
  ASSERT_EQ(store->RecordAttempt("alice", kDec1, true, "limit", &error_), StoreStatus::kOk);
  ASSERT_EQ(store->RecordAttempt("alice", kDec1 + 1, false, "", &error_), StoreStatus::kOk);
  ASSERT_EQ(store->RecordAttempt("bob", kDec1 + 1, true, "limit", &error_), StoreStatus::kOk);

  CallCounts counts;
  ASSERT_EQ(store->Counts("alice", kNov30Last, &counts, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(counts.calls_started_today, 2u);  // nov-a and nov-live; dec-a is after now
  EXPECT_EQ(counts.failed_starts_today, 1u);
  EXPECT_EQ(counts.attempts_last_hour, 1u);
  EXPECT_EQ(counts.oldest_attempt_in_hour_ms, kNov30Last);
  EXPECT_EQ(counts.call_seconds_month, 120u);  // ended November sessions only

  ASSERT_EQ(store->Counts("alice", kDec1, &counts, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(counts.calls_started_today, 1u);  // dec-a
  EXPECT_EQ(counts.failed_starts_today, 1u);
  EXPECT_EQ(counts.attempts_last_hour, 2u);  // the hour spans midnight
  EXPECT_EQ(counts.oldest_attempt_in_hour_ms, kNov30Last);
  EXPECT_EQ(counts.call_seconds_month, 50u);

  ASSERT_EQ(store->Counts("alice", kDec1 + kDayMs - 1, &counts, &error_), StoreStatus::kOk);
  EXPECT_EQ(counts.calls_started_today, 1u);
  EXPECT_EQ(counts.failed_starts_today, 1u);
  EXPECT_EQ(counts.attempts_last_hour, 0u);
  EXPECT_EQ(counts.oldest_attempt_in_hour_ms, 0);
  EXPECT_EQ(counts.call_seconds_month, 50u);

  ASSERT_EQ(store->Counts("alice", kDec1 + kDayMs, &counts, &error_), StoreStatus::kOk);
  EXPECT_EQ(counts.calls_started_today, 0u);  // the next day
  EXPECT_EQ(counts.failed_starts_today, 0u);
  EXPECT_EQ(counts.call_seconds_month, 50u);
}

TEST_F(AdminStoreTest, HourlyWindowIsTheLast3600Seconds) {
  std::unique_ptr<AdminStore> store = Open();
  const int64_t t0 = kNov21;
  ASSERT_EQ(store->RecordAttempt("alice", t0, false, "", &error_), StoreStatus::kOk) << error_;
  ASSERT_EQ(store->RecordAttempt("alice", t0 + 10 * kMinuteMs, true, "busy", &error_),
            StoreStatus::kOk);
  CallCounts counts;
  ASSERT_EQ(store->Counts("alice", t0 + kHourMs - 1, &counts, &error_), StoreStatus::kOk);
  EXPECT_EQ(counts.attempts_last_hour, 2u);
  EXPECT_EQ(counts.oldest_attempt_in_hour_ms, t0);
  ASSERT_EQ(store->Counts("alice", t0 + kHourMs, &counts, &error_), StoreStatus::kOk);
  EXPECT_EQ(counts.attempts_last_hour, 1u);  // exactly 3600 s ago is out
  EXPECT_EQ(counts.oldest_attempt_in_hour_ms, t0 + 10 * kMinuteMs);
  ASSERT_EQ(store->Counts("alice", t0 + 10 * kMinuteMs + kHourMs, &counts, &error_),
            StoreStatus::kOk);
  EXPECT_EQ(counts.attempts_last_hour, 0u);
  EXPECT_EQ(counts.oldest_attempt_in_hour_ms, 0);
  EXPECT_EQ(counts.failed_starts_today, 1u);  // still the same UTC day
}

// --- Sessions ---

TEST_F(AdminStoreTest, SessionIsInsertedFoundEndedOnce) {
  std::unique_ptr<AdminStore> store = Open();
  CallSession group = Session("s-group", "alice", kNov21);
  group.kind = CallKind::kGroup;
  group.callee = "";
  group.group_size = 5;
  group.allow_video = true;
  group.max_duration_s = 0;
  CallSession link = Session("s-link", "bob", kNov21 - kMinuteMs);
  link.kind = CallKind::kExternalLink;
  ASSERT_EQ(store->InsertSession(group, &error_), StoreStatus::kOk) << error_;
  ASSERT_EQ(store->InsertSession(link, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(store->InsertSession(Session("s-group", "mallory", kDec1), &error_),
            StoreStatus::kConflict);

  CallSession found;
  ASSERT_EQ(store->FindSession("s-group", &found, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(found, group);
  EXPECT_EQ(store->FindSession("s-none", &found, &error_), StoreStatus::kNotFound);

  std::vector<CallSession> live;
  ASSERT_EQ(store->LiveSessions(&live, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(live, (std::vector<CallSession>{link, group}));  // oldest first

  // The end fields are written; the start fields stay as they were.
  CallSession end = Ended(group, kNov21 + 90 * kSecondMs, 89);
  end.plan = "free";  // not an end field
  ASSERT_EQ(store->EndSession(end, &error_), StoreStatus::kOk) << error_;
  ASSERT_EQ(store->FindSession("s-group", &found, &error_), StoreStatus::kOk);
  CallSession expected = Ended(group, kNov21 + 90 * kSecondMs, 89);
  EXPECT_EQ(found, expected);

  CallSession again = Ended(group, kNov21 + 200 * kSecondMs, 199);
  EXPECT_EQ(store->EndSession(again, &error_), StoreStatus::kConflict);
  ASSERT_EQ(store->FindSession("s-group", &found, &error_), StoreStatus::kOk);
  EXPECT_EQ(found, expected);  // the first end stands
  EXPECT_EQ(store->EndSession(Ended(Session("s-none", "alice", kNov21), kDec1, 1), &error_),
            StoreStatus::kNotFound);

  ASSERT_EQ(store->LiveSessions(&live, &error_), StoreStatus::kOk);
  EXPECT_EQ(live, (std::vector<CallSession>{link}));
}

TEST_F(AdminStoreTest, EndingWithoutAnEndTimeIsRefused) {
  std::unique_ptr<AdminStore> store = Open();
  const CallSession live = Session("s1", "alice", kNov21);
  ASSERT_EQ(store->InsertSession(live, &error_), StoreStatus::kOk);
  CallSession end = Ended(live, 0, 10);
  EXPECT_EQ(store->EndSession(end, &error_), StoreStatus::kError);
  EXPECT_EQ(error_, path_ + ": ending session 's1': ended_ms is 0");
  CallSession found;
  ASSERT_EQ(store->FindSession("s1", &found, &error_), StoreStatus::kOk);
  EXPECT_EQ(found, live);
}

TEST_F(AdminStoreTest, UnknownKindInTheFileIsAnError) {
  std::unique_ptr<AdminStore> store = Open();
  ASSERT_EQ(store->InsertSession(Session("s1", "alice", kNov21), &error_), StoreStatus::kOk);
  {
    std::unique_ptr<SqliteDb> db = SqliteDb::Open(path_, {}, kCurrent, &error_);
    ASSERT_NE(db, nullptr) << error_;
    ASSERT_EQ(db->Exec("UPDATE call_sessions SET kind = 'hologram'"), SQLITE_OK)
        << db->ErrorMessage();
  }
  CallSession found;
  EXPECT_EQ(store->FindSession("s1", &found, &error_), StoreStatus::kError);
  EXPECT_NE(error_.find("session 's1' has an unknown kind 'hologram'"), std::string::npos)
      << error_;
  std::vector<CallSession> live;
  EXPECT_EQ(store->LiveSessions(&live, &error_), StoreStatus::kError);
}

TEST_F(AdminStoreTest, ForEachSessionVisitsThoseStartedFromFromUntilToOldestFirst) {
  std::unique_ptr<AdminStore> store = Open();
  const int64_t from = kNov21, to = kDec1;
  ASSERT_EQ(store->InsertSession(Session("before", "alice", from - 1), &error_), StoreStatus::kOk);
  ASSERT_EQ(store->InsertSession(Session("last", "bob", to - 1), &error_), StoreStatus::kOk);
  ASSERT_EQ(store->InsertSession(Session("b-first", "alice", from), &error_), StoreStatus::kOk);
  ASSERT_EQ(store->InsertSession(Session("a-first", "carol", from), &error_), StoreStatus::kOk);
  ASSERT_EQ(store->InsertSession(Session("at-to", "alice", to), &error_), StoreStatus::kOk);
  const CallSession ended = Ended(Session("ended", "bob", from + kHourMs), from + 2 * kHourMs, 60);
  ASSERT_EQ(store->InsertSession(ended, &error_), StoreStatus::kOk);

  using Ids = std::vector<std::string>;
  // Live and ended alike; at the same start, by id.
  EXPECT_EQ(SessionsStarted(*store, from, to), (Ids{"a-first", "b-first", "ended", "last"}));
  EXPECT_EQ(SessionsStarted(*store, from + 1, to - 1), (Ids{"ended"}));
  EXPECT_EQ(SessionsStarted(*store, to, to + 1), (Ids{"at-to"}));
  EXPECT_EQ(SessionsStarted(*store, from, from), Ids{});

  // Each visit sees the whole session.
  std::vector<CallSession> visited;
  ASSERT_EQ(store->ForEachSession(
                from + 1, to - 1, [&](const CallSession& c) { visited.push_back(c); }, &error_),
            StoreStatus::kOk)
      << error_;
  EXPECT_EQ(visited, (std::vector<CallSession>{ended}));

  // The store is usable again once the walk is over.
  CallSession found;
  EXPECT_EQ(store->FindSession("ended", &found, &error_), StoreStatus::kOk) << error_;
}

TEST_F(AdminStoreTest, ForEachSessionStopsAtASessionOfUnknownKind) {
  std::unique_ptr<AdminStore> store = Open();
  ASSERT_EQ(store->InsertSession(Session("s1", "alice", kNov21), &error_), StoreStatus::kOk);
  ASSERT_EQ(store->InsertSession(Session("s2", "alice", kNov21 + 1), &error_), StoreStatus::kOk);
  Exec("UPDATE call_sessions SET kind = 'hologram' WHERE id = 's2'");
  std::vector<std::string> visited;
  EXPECT_EQ(store->ForEachSession(
                kNov21, kDec1, [&](const CallSession& c) { visited.push_back(c.id); }, &error_),
            StoreStatus::kError);
  EXPECT_NE(error_.find("session 's2' has an unknown kind 'hologram'"), std::string::npos)
      << error_;
  EXPECT_EQ(visited, (std::vector<std::string>{"s1"}));
}

// --- Prune ---

TEST_F(AdminStoreTest, PruneDeletesExpiredValuesAndAttemptsOlderThanTwoDays) {
  std::unique_ptr<AdminStore> store = Open();
  const int64_t now = kDec1;
  ASSERT_EQ(store->UseOnce("nonce", "expired", now - 1, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->UseOnce("nonce", "expiring-now", now, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->UseOnce("nonce", "later", now + kMinuteMs, &error_), StoreStatus::kOk);
  ASSERT_EQ(store->RecordAttempt("alice", now - 2 * kDayMs - 1, true, "x", &error_),
            StoreStatus::kOk);
  ASSERT_EQ(store->RecordAttempt("alice", now - 2 * kDayMs, true, "x", &error_), StoreStatus::kOk);
  ASSERT_EQ(store->RecordAttempt("alice", now - kMinuteMs, false, "", &error_), StoreStatus::kOk);

  ASSERT_EQ(store->Prune(now, &error_), StoreStatus::kOk) << error_;
  EXPECT_EQ(Raw("SELECT group_concat(value, ',') FROM (SELECT value FROM one_time ORDER BY value)"),
            "expiring-now,later");
  EXPECT_EQ(Raw("SELECT count(*) FROM attempts"), "2");
  EXPECT_EQ(Raw("SELECT min(at_ms) FROM attempts"), std::to_string(now - 2 * kDayMs));
  EXPECT_EQ(store->UseOnce("nonce", "expired", now + kMinuteMs, &error_), StoreStatus::kOk);
  EXPECT_EQ(store->UseOnce("nonce", "later", now + kMinuteMs, &error_), StoreStatus::kConflict);
}

}  // namespace
}  // namespace cv::admin
