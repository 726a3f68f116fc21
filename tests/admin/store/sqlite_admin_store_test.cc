// The SQLite AdminStore against real files in a temp dir. The tests also open the file with
// cvauth's SqliteDb directly: to look at what the API does not show, set a schema version, hold
// the write lock, or corrupt a row.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
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
// A stand-in for the store's one migration: SqliteDb then opens a file at version 1 as current.
constexpr const char* kVersion1[] = {"SELECT 1"};
static_assert(kAdminSchemaVersion == 1, "Raw() expects schema version 1");

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
    std::unique_ptr<SqliteDb> db = SqliteDb::Open(path_, options, kVersion1, &error);
    if (db == nullptr) return "open failed: " + error;
    SqliteDb::Statement s = db->Prepare(sql);
    if (!s) return "prepare failed: " + db->ErrorMessage();
    return s.Step() == SQLITE_ROW ? s.Text(0) : "no row";
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
    std::unique_ptr<SqliteDb> db = SqliteDb::Open(path_, options, kVersion1, &error_);
    ASSERT_NE(db, nullptr) << error_;
    ASSERT_EQ(db->Exec("PRAGMA user_version = 2"), SQLITE_OK) << db->ErrorMessage();
  }
  EXPECT_EQ(OpenSqliteAdminStore(path_, {}, &error_), nullptr);
  EXPECT_EQ(error_, path_ + ": schema version 2 is newer than this build (1); upgrade cvadmin");
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
  EXPECT_EQ(store->SetTier("nobody", "pro", kNov21, &error_), StoreStatus::kNotFound);
  EXPECT_EQ(store->SetPublicKey("nobody", std::string(32, 'k'), kNov21, &error_),
            StoreStatus::kNotFound);
  EXPECT_EQ(store->FindUser("nobody", &found, &error_), StoreStatus::kNotFound);  // not created
}

TEST_F(AdminStoreTest, SetTierAndSetPublicKeyUpdateTheUser) {
  std::unique_ptr<AdminStore> store = Open();
  ASSERT_EQ(store->CreateUser({"alice", "free", "", kNov21, kNov21}, &error_), StoreStatus::kOk);
  EXPECT_EQ(store->SetTier("alice", "business", kNov21 + kHourMs, &error_), StoreStatus::kOk)
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
  std::unique_ptr<SqliteDb> holder = SqliteDb::Open(path_, db_options, kVersion1, &error_);
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
    std::unique_ptr<SqliteDb> db = SqliteDb::Open(path_, {}, kVersion1, &error_);
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
