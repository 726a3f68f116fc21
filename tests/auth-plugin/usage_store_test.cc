#include "cv/auth/usage_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace cv::auth {
namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 60 * kMinuteMs;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kNov21 = 1'795'219'200'000;  // 2026-11-21T00:00:00Z
constexpr int64_t kDec1 = 1'796'083'200'000;   // 2026-12-01T00:00:00Z
constexpr char kRunA[] = "00000000000000a1";
constexpr char kRunB[] = "00000000000000b2";

// A live snapshot of allocation `allocation` on node-a, run A: `relayed_ms` of relay time and
// `bytes` to the peer (twice that to the client), taken at `last_ms`.
UsageRecord Snapshot(std::string user, std::string session, uint64_t allocation, int64_t start_ms,
                     int64_t last_ms, uint64_t relayed_ms, uint64_t bytes = 0) {
  UsageRecord r;
  r.node = "node-a";
  r.run = kRunA;
  r.allocation = allocation;
  r.user = std::move(user);
  r.session = std::move(session);
  r.line = "home";
  r.plan = "pro";
  r.transport = "udp";
  r.client = "192.0.2.1:50000";
  r.peers = {"198.51.100.7"};
  r.start_ms = start_ms;
  r.last_ms = last_ms;
  r.relayed_ms = relayed_ms;
  r.bytes_to_peer = bytes;
  r.bytes_to_client = 2 * bytes;
  r.packets_to_peer = bytes / 100;
  r.packets_to_client = bytes / 50;
  return r;
}

UsageRecord Ended(UsageRecord r, EndReason reason) {
  r.reason = reason;
  return r;
}

// Expected totals of records made by Snapshot().
UsageTotals Totals(uint64_t relayed_ms, uint64_t bytes, uint64_t allocations, uint64_t calls) {
  return {relayed_ms, bytes, 2 * bytes, bytes / 100, bytes / 50, allocations, calls};
}

class UsageStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "usage_store_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/usage.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<UsageStore> Open(const SqliteStoreOptions& options = {}) {
    std::string error;
    std::unique_ptr<UsageStore> store = OpenSqliteUsageStore(path_, options, &error);
    EXPECT_NE(store, nullptr) << error;
    return store;
  }
  // The error that opening `path` with `options` fails with.
  std::string OpenError(const std::string& path, const SqliteStoreOptions& options) {
    std::string error;
    EXPECT_EQ(OpenSqliteUsageStore(path, options, &error), nullptr) << path;
    return error;
  }
  static void Write(UsageStore& store, const std::vector<UsageRecord>& records) {
    std::string error;
    ASSERT_TRUE(store.Write(records, &error)) << error;
  }
  static UserUsage UserAt(UsageStore& store, const std::string& user, int64_t now_ms) {
    std::string error;
    std::optional<UserUsage> usage = store.User(user, now_ms, &error);
    EXPECT_TRUE(usage) << error;
    return usage.value_or(UserUsage());
  }
  static std::vector<UsageRecord> List(UsageStore& store, const RecordFilter& filter = {}) {
    std::string error;
    std::optional<std::vector<UsageRecord>> records = store.Records(filter, &error);
    EXPECT_TRUE(records) << error;
    return records.value_or(std::vector<UsageRecord>());
  }
  static std::vector<UserMonth> MonthOf(UsageStore& store, int64_t now_ms) {
    std::string error;
    std::optional<std::vector<UserMonth>> users = store.Month(now_ms, &error);
    EXPECT_TRUE(users) << error;
    return users.value_or(std::vector<UserMonth>());
  }

  // Runs SQL on the file through a connection of its own; returns every row, "|"-separated.
  std::string Raw(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    std::string out;
    char* message = nullptr;
    const int rc = sqlite3_exec(
        db, sql.c_str(),
        [](void* arg, int n, char** values, char**) {
          auto* text = static_cast<std::string*>(arg);
          for (int i = 0; i < n; ++i) {
            *text += values[i] == nullptr ? "NULL" : values[i];
            *text += i + 1 < n ? "|" : "\n";
          }
          return 0;
        },
        &out, &message);
    EXPECT_EQ(rc, SQLITE_OK) << (message != nullptr ? message : "") << "\n" << sql;
    sqlite3_free(message);
    sqlite3_close(db);
    return out;
  }
  std::string Aggregates() {
    return Raw("SELECT * FROM usage_daily ORDER BY user, day_ms") + "--\n" +
           Raw("SELECT * FROM usage_hourly ORDER BY user, hour_ms");
  }

  std::string dir_;
  std::string path_;
};

bool Same(const UserUsage& a, const UserUsage& b) {
  return a.user == b.user && a.plan == b.plan && a.day == b.day && a.month == b.month &&
         a.last_24h == b.last_24h && a.guard == b.guard;
}

// --- The file -------------------------------------------------------------------------------

TEST_F(UsageStoreTest, NewFileIsMode0640InWalModeAtTheCurrentSchema) {
  const mode_t old_umask = ::umask(077);  // the mode must not depend on the umask
  std::unique_ptr<UsageStore> store = Open();
  ::umask(old_umask);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), kUsageSchemaVersion);
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(Raw("PRAGMA user_version"), std::to_string(kUsageSchemaVersion) + "\n");
  EXPECT_EQ(Raw("PRAGMA journal_mode"), "wal\n");
}

TEST_F(UsageStoreTest, CreateParentMakesTheDirectory0750) {
  const std::string path = dir_ + "/ledger/usage.db";
  EXPECT_EQ(OpenError(path, {}).rfind("usage-db " + path + ": ", 0), 0u);

  SqliteStoreOptions options;
  options.create_parent = true;
  std::string error;
  std::unique_ptr<UsageStore> store = OpenSqliteUsageStore(path, options, &error);
  ASSERT_NE(store, nullptr) << error;
  struct stat st {};
  ASSERT_EQ(::stat((dir_ + "/ledger").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

TEST_F(UsageStoreTest, ReopeningKeepsTheDataAndDoesNotMigrateAgain) {
  {
    std::unique_ptr<UsageStore> store = Open();
    ASSERT_NE(store, nullptr);
    Write(*store, {Snapshot("alice", "s1", 1, kNov21, kNov21 + kMinuteMs, 30'000, 1000)});
  }
  const std::string schema = Raw("SELECT type, name, sql FROM sqlite_schema ORDER BY name");
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->schema_version(), kUsageSchemaVersion);
  EXPECT_EQ(Raw("SELECT type, name, sql FROM sqlite_schema ORDER BY name"), schema);
  EXPECT_EQ(List(*store).size(), 1u);
  EXPECT_EQ(UserAt(*store, "alice", kNov21 + kHourMs).day, Totals(30'000, 1000, 1, 1));
}

TEST_F(UsageStoreTest, NewerSchemaIsRefusedAndLeftAlone) {
  Raw("PRAGMA user_version = 99");
  const std::string expected = "usage-db " + path_ +
                               ": schema version 99 is newer than this build (" +
                               std::to_string(kUsageSchemaVersion) + "); upgrade cvrelay";
  EXPECT_EQ(OpenError(path_, {}), expected);
  SqliteStoreOptions read_only;
  read_only.read_only = true;
  EXPECT_EQ(OpenError(path_, read_only), expected);
  EXPECT_EQ(Raw("PRAGMA user_version"), "99\n");
  EXPECT_EQ(Raw("SELECT count(*) FROM sqlite_schema"), "0\n");
}

TEST_F(UsageStoreTest, ReadOnlyRefusesAMissingFileAndCreatesNothing) {
  SqliteStoreOptions read_only;
  read_only.read_only = true;
  const std::string error = OpenError(path_, read_only);
  EXPECT_EQ(error.rfind("usage-db " + path_ + ": unable to open database file", 0), 0u) << error;
  EXPECT_NE(::access(path_.c_str(), F_OK), 0);
}

TEST_F(UsageStoreTest, ReadOnlyRefusesAnUnmigratedFile) {
  Raw("CREATE TABLE unrelated (x)");
  SqliteStoreOptions read_only;
  read_only.read_only = true;
  const std::string error = OpenError(path_, read_only);
  EXPECT_NE(error.find("schema version 0 is older than this build"), std::string::npos) << error;
  EXPECT_EQ(Raw("PRAGMA user_version"), "0\n");
}

TEST_F(UsageStoreTest, ReadOnlyStoreReadsButDoesNotWrite) {
  std::unique_ptr<UsageStore> writer = Open();
  ASSERT_NE(writer, nullptr);
  Write(*writer, {Snapshot("alice", "s1", 1, kNov21, kNov21 + kMinuteMs, 30'000)});
  SqliteStoreOptions read_only;
  read_only.read_only = true;
  std::unique_ptr<UsageStore> reader = Open(read_only);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(List(*reader).size(), 1u);
  std::string error;
  EXPECT_FALSE(reader->Write(std::vector{Snapshot("bob", "s2", 2, kNov21, kNov21, 1)}, &error));
  EXPECT_EQ(error.rfind("usage-db " + path_ + ": ", 0), 0u) << error;
  EXPECT_EQ(List(*writer).size(), 1u);

  // The writer gone, -wal and -shm stay (a reader that may not create them can still open the
  // file), and a new reader sees everything.
  writer.reset();
  reader.reset();
  EXPECT_EQ(::access((path_ + "-wal").c_str(), F_OK), 0);
  EXPECT_EQ(::access((path_ + "-shm").c_str(), F_OK), 0);
  reader = Open(read_only);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(List(*reader).size(), 1u);
}

TEST_F(UsageStoreTest, NotADatabaseIsRefusedNamingThePath) {
  std::FILE* f = std::fopen(path_.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("this is not an SQLite database, not even close, and long enough to tell\n", f);
  std::fclose(f);
  const std::string error = OpenError(path_, {});
  EXPECT_EQ(error.rfind("usage-db " + path_ + ": ", 0), 0u) << error;
  EXPECT_EQ(::access(path_.c_str(), F_OK), 0);  // never deleted: it was not ours
}

// --- Upsert semantics -----------------------------------------------------------------------

TEST_F(UsageStoreTest, ReplayedRecordsChangeNothing) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  const UsageRecord checkpoint =
      Snapshot("alice", "s1", 1, kNov21, kNov21 + kMinuteMs, 40'000, 5000);
  const UsageRecord end = Ended(
      Snapshot("alice", "s1", 1, kNov21, kNov21 + 2 * kMinuteMs, 90'000, 9000), EndReason::kClient);
  Write(*store, {checkpoint});
  Write(*store, {end});
  const int64_t now = kNov21 + kHourMs;
  const UserUsage once = UserAt(*store, "alice", now);
  const std::string aggregates = Aggregates();
  const std::vector<UsageRecord> records = List(*store);
  EXPECT_EQ(once.day, Totals(90'000, 9000, 1, 1));

  Write(*store, {checkpoint});
  Write(*store, {end, end, checkpoint, end});
  Write(*store, {end});
  EXPECT_TRUE(Same(UserAt(*store, "alice", now), once));
  EXPECT_EQ(Aggregates(), aggregates);
  EXPECT_EQ(List(*store), records);
  EXPECT_EQ(*store->Session("s1", nullptr), Totals(90'000, 9000, 1, 1));
}

TEST_F(UsageStoreTest, AnOlderSnapshotAfterANewerOneDecreasesNothing) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  const UsageRecord newer =
      Snapshot("alice", "s1", 1, kNov21, kNov21 + 2 * kMinuteMs, 90'000, 9000);
  const UsageRecord older = Snapshot("alice", "s1", 1, kNov21, kNov21 + kMinuteMs, 40'000, 5000);
  Write(*store, {newer});
  const std::string aggregates = Aggregates();
  Write(*store, {older});
  EXPECT_EQ(Aggregates(), aggregates);
  const std::vector<UsageRecord> records = List(*store);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0], newer);
  EXPECT_EQ(UserAt(*store, "alice", kNov21 + kHourMs).day, Totals(90'000, 9000, 1, 1));
}

TEST_F(UsageStoreTest, EachTotalKeepsItsLargestValue) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  UsageRecord a = Snapshot("alice", "s1", 1, kNov21, kNov21 + kMinuteMs, 50'000, 0);
  a.bytes_to_peer = 700;
  UsageRecord b = Snapshot("alice", "s1", 1, kNov21, kNov21 + kMinuteMs, 20'000, 0);
  b.bytes_to_client = 300;
  Write(*store, {a, b});
  const UsageTotals day = UserAt(*store, "alice", kNov21 + kHourMs).day;
  EXPECT_EQ(day.relayed_ms, 50'000u);
  EXPECT_EQ(day.bytes_to_peer, 700u);
  EXPECT_EQ(day.bytes_to_client, 300u);
}

TEST_F(UsageStoreTest, TheFirstEndReasonWins) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  Write(*store,
        {Ended(Snapshot("alice", "s1", 1, kNov21, kNov21 + kMinuteMs, 40'000), EndReason::kQuota)});
  Write(*store, {Ended(Snapshot("alice", "s1", 1, kNov21, kNov21 + 2 * kMinuteMs, 50'000),
                       EndReason::kShutdown)});
  Write(*store, {Snapshot("alice", "s1", 1, kNov21, kNov21 + 3 * kMinuteMs, 60'000)});  // live
  std::vector<UsageRecord> records = List(*store);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].reason, EndReason::kQuota);
  EXPECT_EQ(records[0].relayed_ms, 60'000u);  // totals still grow
  EXPECT_EQ(records[0].last_ms, kNov21 + 3 * kMinuteMs);
  EXPECT_EQ(Raw("SELECT end_ms FROM allocations"), std::to_string(kNov21 + kMinuteMs) + "\n");
  RecordFilter live;
  live.live_only = true;
  EXPECT_TRUE(List(*store, live).empty());
}

TEST_F(UsageStoreTest, PeersAccumulateUpToTheBound) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  UsageRecord r = Snapshot("alice", "s1", 1, kNov21, kNov21 + kMinuteMs, 1000);
  r.peers = {"10.0.0.1", "", "10.0.0.2", "10.0.0.1", "bad,peer"};
  Write(*store, {r});
  EXPECT_EQ(List(*store)[0].peers, (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));

  r.last_ms += kMinuteMs;
  r.peers = {"10.0.0.2", "2001:db8::3"};
  Write(*store, {r});
  EXPECT_EQ(List(*store)[0].peers,
            (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "2001:db8::3"}));

  r.peers.clear();
  for (int i = 10; i < 20; ++i) r.peers.push_back("10.0.1." + std::to_string(i));
  Write(*store, {r});  // nothing but peers changed: still written
  const std::vector<std::string> peers = List(*store)[0].peers;
  ASSERT_EQ(peers.size(), kMaxRecordPeers);
  EXPECT_EQ(peers[0], "10.0.0.1");
  EXPECT_EQ(peers[3], "10.0.1.10");
  EXPECT_EQ(peers[7], "10.0.1.14");
}

TEST_F(UsageStoreTest, IdentityFieldsKeepTheirFirstValue) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  const UsageRecord first = Snapshot("alice", "s1", 1, kNov21, kNov21 + kMinuteMs, 1000, 100);
  UsageRecord later = Snapshot("mallory", "s9", 1, kNov21 + 5, kNov21 + 2 * kMinuteMs, 2000, 200);
  later.line = "work";
  later.plan = "free";
  later.transport = "tcp";
  later.client = "203.0.113.9:1";
  later.peers = {};
  Write(*store, {first});
  Write(*store, {later});
  UsageRecord expected = first;
  expected.last_ms = later.last_ms;
  expected.relayed_ms = 2000;
  expected.bytes_to_peer = 200;
  expected.bytes_to_client = 400;
  expected.packets_to_peer = 2;
  expected.packets_to_client = 4;
  EXPECT_EQ(List(*store), std::vector<UsageRecord>{expected});
  EXPECT_EQ(UserAt(*store, "alice", kNov21 + kHourMs).day, Totals(2000, 200, 1, 1));
  EXPECT_EQ(UserAt(*store, "mallory", kNov21 + kHourMs).day, UsageTotals());
  EXPECT_EQ(UserAt(*store, "alice", kNov21 + kHourMs).plan, "pro");
}

TEST_F(UsageStoreTest, RecordsRoundTripExactly) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  UsageRecord r = Ended(
      Snapshot("alice", "", 0xfedcba9876543210u, kNov21, kNov21 + 90'000, 80'000, 123'456'789),
      EndReason::kDurationCap);
  r.node = "fra-1";
  r.run = kRunB;
  r.transport = "tls";
  r.client = "[2001:db8::1]:443";
  r.peers = {"2001:db8::2", "198.51.100.1"};
  Write(*store, {r});
  EXPECT_EQ(List(*store), std::vector<UsageRecord>{r});
}

TEST_F(UsageStoreTest, AFailedBatchWritesNothing) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  Raw("CREATE TRIGGER refuse_boom BEFORE INSERT ON allocations WHEN NEW.user = 'boom' "
      "BEGIN SELECT RAISE(ABORT, 'boom refused'); END");
  std::string error;
  EXPECT_FALSE(store->Write(std::vector{Snapshot("alice", "s1", 1, kNov21, kNov21, 1000),
                                        Snapshot("boom", "s2", 2, kNov21, kNov21, 1000)},
                            &error));
  EXPECT_EQ(error.rfind("usage-db " + path_ + ": writing 2 records: ", 0), 0u) << error;
  EXPECT_NE(error.find("boom refused"), std::string::npos) << error;
  EXPECT_TRUE(List(*store).empty());
  EXPECT_EQ(Aggregates(), "--\n");
  // The connection is still usable.
  Write(*store, {Snapshot("alice", "s1", 1, kNov21, kNov21, 1000)});
  EXPECT_EQ(List(*store).size(), 1u);
}

TEST_F(UsageStoreTest, AWriterBlockedPastTheBusyTimeoutFailsCleanly) {
  SqliteStoreOptions options;
  options.busy_timeout_ms = 50;
  std::unique_ptr<UsageStore> store = Open(options);
  ASSERT_NE(store, nullptr);
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::string error;
  EXPECT_FALSE(store->Write(std::vector{Snapshot("alice", "s1", 1, kNov21, kNov21, 1000)}, &error));
  EXPECT_NE(error.find("database is locked"), std::string::npos) << error;
  ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  Write(*store, {Snapshot("alice", "s1", 1, kNov21, kNov21, 1000)});
  EXPECT_EQ(List(*store).size(), 1u);
}

// --- Aggregates -----------------------------------------------------------------------------

TEST_F(UsageStoreTest, UsageIsDatedBySnapshotTimeAcrossMidnight) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  const int64_t midnight = kNov21 + kDayMs;  // 2026-11-22T00:00:00Z
  const int64_t start = midnight - 20 * kMinuteMs;
  Write(*store, {Snapshot("alice", "s1", 1, start, midnight - 10 * kMinuteMs, 600'000, 1000)});
  Write(*store, {Snapshot("alice", "s1", 1, start, midnight + 10 * kMinuteMs, 1'500'000, 2500)});

  const UserUsage nov21 = UserAt(*store, "alice", midnight - 1);
  EXPECT_EQ(nov21.day, Totals(600'000, 1000, 1, 1));
  const UserUsage nov22 = UserAt(*store, "alice", midnight + kHourMs);
  EXPECT_EQ(nov22.day, Totals(900'000, 1500, 0, 1));  // counted once, where it started
  EXPECT_EQ(nov22.month, Totals(1'500'000, 2500, 1, 1));
  EXPECT_EQ(nov22.last_24h, Totals(1'500'000, 2500, 1, 1));
  // Before the second snapshot's day: a time before it was written sees only the first.
  EXPECT_EQ(nov21.month, Totals(1'500'000, 2500, 1, 1));  // the whole month's rows
  EXPECT_EQ(nov21.last_24h, Totals(600'000, 1000, 1, 1));
}

TEST_F(UsageStoreTest, AMonthBoundarySplitsUsageBySnapshotTime) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  const int64_t start = kDec1 - 30 * kMinuteMs;
  Write(*store, {Snapshot("alice", "s1", 1, start, kDec1 - kMinuteMs, 1'000'000, 100)});
  Write(*store, {Snapshot("alice", "s1", 1, start, kDec1 + 5 * kMinuteMs, 1'300'000, 400)});

  const UserUsage november = UserAt(*store, "alice", kDec1 - 1);
  EXPECT_EQ(november.month, Totals(1'000'000, 100, 1, 1));
  const UserUsage december = UserAt(*store, "alice", kDec1 + kHourMs);
  EXPECT_EQ(december.month, Totals(300'000, 300, 0, 1));
  EXPECT_EQ(december.day, Totals(300'000, 300, 0, 1));
  EXPECT_EQ(december.last_24h, Totals(1'300'000, 400, 1, 1));

  const std::vector<UserMonth> nov = MonthOf(*store, kDec1 - 1);
  ASSERT_EQ(nov.size(), 1u);
  EXPECT_EQ(nov[0].relayed_ms, 1'000'000u);
  const std::vector<UserMonth> dec = MonthOf(*store, kDec1);
  ASSERT_EQ(dec.size(), 1u);
  EXPECT_EQ(dec[0].relayed_ms, 300'000u);
  EXPECT_TRUE(MonthOf(*store, kDec1 + 31 * kDayMs).empty());
}

TEST_F(UsageStoreTest, TheRolling24HoursSumsTheHoursStartingAfterNowMinus24h) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  const int64_t now = kNov21 + 10 * kHourMs + 30 * kMinuteMs;  // 10:30
  // One allocation per hour from 08:xx the day before to 10:xx today, 1 s of relay time each.
  std::vector<UsageRecord> records;
  for (uint64_t i = 0; i <= 26; ++i) {
    const int64_t at = kNov21 - 16 * kHourMs + static_cast<int64_t>(i) * kHourMs + 15 * kMinuteMs;
    records.push_back(Snapshot("alice", "", i + 1, at, at, 1000));
  }
  Write(*store, records);
  // 11:00 yesterday … 10:00 today: 24 hourly rows. Yesterday's 10:15 is out (its hour began
  // before now - 24 h), so is 08:15 and 09:15.
  const UserUsage usage = UserAt(*store, "alice", now);
  EXPECT_EQ(usage.last_24h, Totals(24'000, 0, 24, 24));
  EXPECT_EQ(usage.day, Totals(11'000, 0, 11, 11));  // 00:15 … 10:15
  EXPECT_EQ(usage.month, Totals(27'000, 0, 27, 27));
}

TEST_F(UsageStoreTest, HourlyRowsOlderThanThreeDaysArePruned) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  const int64_t old_time = kNov21 + kHourMs;
  Write(*store, {Snapshot("alice", "s1", 1, old_time, old_time, 5000)});
  EXPECT_EQ(UserAt(*store, "alice", old_time).last_24h.relayed_ms, 5000u);
  const int64_t later = old_time + 3 * kDayMs + kHourMs;
  Write(*store, {Snapshot("bob", "s2", 2, later, later, 7000)});
  const UsageTotals pruned = UserAt(*store, "alice", old_time).last_24h;  // its hour is gone
  EXPECT_EQ(pruned.relayed_ms, 0u);
  EXPECT_EQ(pruned.allocations, 0u);
  EXPECT_EQ(UserAt(*store, "alice", old_time).day, Totals(5000, 0, 1, 1));  // its day is not
  EXPECT_EQ(UserAt(*store, "bob", later).last_24h, Totals(7000, 0, 1, 1));
  EXPECT_EQ(Raw("SELECT count(*) FROM usage_hourly"), "1\n");
}

TEST_F(UsageStoreTest, CallsCountSessionsOnceClaimlessAllocationsEachAndNeverUnrelayed) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  const int64_t t = kNov21 + 10 * kHourMs;
  UsageRecord on_b = Snapshot("alice", "s1", 7, t, t + kMinuteMs, 1000);
  on_b.node = "node-b";
  UsageRecord bytes_only = Snapshot("alice", "s3", 5, t, t + kMinuteMs, 0, 100);
  Write(*store, {
                    Snapshot("alice", "s1", 1, t, t + kMinuteMs, 1000),  // one call, two
                    on_b,                                                // allocations
                    Snapshot("alice", "", 2, t, t + kMinuteMs, 1000),    // claimless: a call
                    Snapshot("alice", "", 3, t, t + kMinuteMs, 1000),    // each
                    Snapshot("alice", "s2", 4, t, t + kMinuteMs, 0, 0),  // never relayed
                    bytes_only,                                          // relayed, 0 ms
                    Snapshot("bob", "s9", 6, t, t + kMinuteMs, 1000),    // someone else's
                });
  // Yesterday's call counts in the month, not today.
  Write(*store, {Snapshot("alice", "s0", 8, t - kDayMs - kHourMs, t - kDayMs - kHourMs, 1000)});

  const UserUsage usage = UserAt(*store, "alice", t + kHourMs);
  EXPECT_EQ(usage.day.calls, 4u);
  EXPECT_EQ(usage.day.allocations, 6u);
  EXPECT_EQ(usage.last_24h.calls, 4u);
  EXPECT_EQ(usage.month.calls, 5u);
  EXPECT_EQ(usage.month.allocations, 7u);
  std::string error;
  EXPECT_EQ(store->RelayedCalls("alice", t, &error), 4u) << error;
  EXPECT_EQ(store->RelayedCalls("alice", t - 2 * kDayMs, &error), 5u) << error;
  EXPECT_EQ(store->RelayedCalls("alice", t + kMinuteMs, &error), 0u) << error;  // strictly later
  EXPECT_EQ(store->RelayedCalls("nobody", 0, &error), 0u) << error;
}

TEST_F(UsageStoreTest, SessionTotalsSumEveryAllocation) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  UsageRecord on_b = Snapshot("alice", "s1", 1, kNov21, kNov21 + kMinuteMs, 2000, 300);
  on_b.node = "node-b";
  Write(*store, {Snapshot("alice", "s1", 1, kNov21, kNov21 + kMinuteMs, 1000, 100), on_b,
                 Snapshot("alice", "quiet", 2, kNov21, kNov21 + kMinuteMs, 0, 0),
                 Snapshot("alice", "", 3, kNov21, kNov21 + kMinuteMs, 5000, 500)});
  std::string error;
  EXPECT_EQ(store->Session("s1", &error), Totals(3000, 400, 2, 1)) << error;
  EXPECT_EQ(store->Session("quiet", &error), Totals(0, 0, 1, 0)) << error;
  EXPECT_EQ(store->Session("unknown", &error), UsageTotals()) << error;
  EXPECT_EQ(store->Session("", &error), UsageTotals()) << error;
}

TEST_F(UsageStoreTest, DailyRowsInTheWindowByDayThenUser) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  const int64_t nov22 = kNov21 + kDayMs, nov23 = kNov21 + 2 * kDayMs;
  UsageRecord across = Snapshot("alice", "s2", 3, nov22 - kHourMs, nov22 - kMinuteMs, 1000, 100);
  Write(*store, {Snapshot("bob", "b1", 1, kNov21, kNov21 + kHourMs, 4000, 200),
                 Snapshot("alice", "s1", 2, kNov21, kNov21 + kHourMs, 2000, 300), across,
                 Snapshot("carol", "c1", 4, nov23, nov23, 500)});  // on the day after the window
  // The rest of `across` is reported after midnight: it goes to the next day.
  across.last_ms = nov22 + kMinuteMs;
  across.relayed_ms = 1500;
  across.bytes_to_peer = 200;
  across.bytes_to_client = 400;
  across.packets_to_peer = 2;
  across.packets_to_client = 4;
  Write(*store, {across});

  std::string error;
  auto daily = [&](int64_t from_ms, int64_t to_ms, std::string_view user) {
    std::optional<std::vector<DailyUsage>> days = store->Daily(from_ms, to_ms, user, &error);
    EXPECT_TRUE(days) << error;
    return days.value_or(std::vector<DailyUsage>());
  };
  const DailyUsage alice21{"alice", kNov21, Totals(3000, 400, 2, 0)};  // calls stay 0
  const DailyUsage bob21{"bob", kNov21, Totals(4000, 200, 1, 0)};
  const DailyUsage alice22{"alice", nov22, Totals(500, 100, 0, 0)};  // no new allocation
  using Days = std::vector<DailyUsage>;
  EXPECT_EQ(daily(kNov21, nov23, ""), (Days{alice21, bob21, alice22}));
  EXPECT_EQ(daily(kNov21, nov23, "alice"), (Days{alice21, alice22}));
  EXPECT_EQ(daily(kNov21, nov22, ""), (Days{alice21, bob21}));  // to is excluded
  EXPECT_EQ(daily(kNov21 + 1, nov23, ""), (Days{alice22}));     // a day by its start
  EXPECT_EQ(daily(nov23, nov23 + 1, ""), (Days{{"carol", nov23, Totals(500, 0, 1, 0)}}));
  EXPECT_EQ(daily(kNov21, nov23, "nobody"), Days{});
  EXPECT_EQ(daily(nov22, nov22, ""), Days{});
}

TEST_F(UsageStoreTest, SessionsSumTheAllocationsStartedInTheWindowClaimlessOnesPerUser) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  const int64_t from = kNov21 + 10 * kHourMs, to = from + kHourMs;
  // s1: its first record (by start) is node-b's, of alice on trial; bob joined later.
  UsageRecord s1_first = Snapshot("alice", "s1", 1, from, from + kMinuteMs, 1000, 100);
  s1_first.node = "node-b";
  s1_first.plan = "trial";
  UsageRecord s1_second = Snapshot("bob", "s1", 1, from + 5, from + kMinuteMs, 2000, 300);
  UsageRecord s1_later = Snapshot("alice", "s1", 2, to, to + kMinuteMs, 9000, 900);  // at `to`
  UsageRecord quiet = Snapshot("carol", "s2", 3, from + 10, from + kMinuteMs, 0, 0);
  quiet.plan = "business";
  Write(*store, {s1_second, s1_first, s1_later, quiet,
                 Snapshot("alice", "", 4, from, from + kMinuteMs, 1000, 100),  // claimless:
                 Snapshot("alice", "", 5, to - 1, to, 500, 0),                 // each relayed
                 Snapshot("alice", "", 6, from, from + kMinuteMs, 0, 0),       // one a call
                 Snapshot("bob", "", 7, from, from + kMinuteMs, 700, 200),
                 Snapshot("dave", "s4", 8, from, from + kMinuteMs, 0, 100),  // bytes only: a call
                 Snapshot("erin", "s0", 9, from - 1, from + kMinuteMs, 100)});  // before `from`

  std::string error;
  auto sessions = [&](int64_t from_ms, int64_t to_ms) {
    std::optional<std::vector<SessionUsage>> out = store->Sessions(from_ms, to_ms, &error);
    EXPECT_TRUE(out) << error;
    return out.value_or(std::vector<SessionUsage>());
  };
  using Sessions = std::vector<SessionUsage>;
  EXPECT_EQ(sessions(from, to), (Sessions{
                                    {"", "alice", "pro", Totals(1500, 100, 3, 2)},
                                    {"", "bob", "pro", Totals(700, 200, 1, 1)},
                                    {"s1", "alice", "trial", Totals(3000, 400, 2, 1)},
                                    {"s2", "carol", "business", Totals(0, 0, 1, 0)},
                                    {"s4", "dave", "pro", Totals(0, 100, 1, 1)},
                                }));
  // The next window has only what started at its start: s1's later allocation, of alice on pro.
  EXPECT_EQ(sessions(to, to + kHourMs),
            (Sessions{{"s1", "alice", "pro", Totals(9000, 900, 1, 1)}}));
  EXPECT_EQ(sessions(from - 1, from), (Sessions{{"s0", "erin", "pro", Totals(100, 0, 1, 1)}}));
  EXPECT_EQ(sessions(from, from), Sessions{});
  EXPECT_EQ(sessions(to + kHourMs, to + 2 * kHourMs), Sessions{});
}

TEST_F(UsageStoreTest, ManyRecordsInBatchesAddUp) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  constexpr int kUsers = 50;
  constexpr int kRecords = 10'050;  // past the Records() limit
  auto record = [](int i, int64_t age_ms, uint64_t relayed_ms) {
    const int64_t at = kNov21 + i * 1000;
    return Snapshot("user" + std::to_string(i % kUsers), "s" + std::to_string(i / 2),
                    static_cast<uint64_t>(i), at, at + age_ms, relayed_ms, 1000);
  };
  std::vector<UsageRecord> batch;
  for (int i = 0; i < kRecords; ++i) {
    batch.push_back(record(i, 500, 100));
    if (batch.size() == 1000 || i + 1 == kRecords) {
      Write(*store, batch);
      batch.clear();
    }
  }
  // A second snapshot of the first 2000, each grown by 50 ms: updates, not inserts.
  for (int i = 0; i < 2000; ++i) batch.push_back(record(i, 900, 150));
  Write(*store, batch);

  const std::vector<UserMonth> month = MonthOf(*store, kNov21);
  ASSERT_EQ(month.size(), static_cast<size_t>(kUsers));
  uint64_t total = 0;
  for (const UserMonth& m : month) total += m.relayed_ms;
  EXPECT_EQ(total, 100u * kRecords + 50u * 2000);
  const UserUsage u0 = UserAt(*store, "user0", kNov21 + 3 * kHourMs);
  EXPECT_EQ(u0.day, Totals(100 * 201 + 50 * 40, 1000 * 201, 201, 201));
  RecordFilter all;
  all.limit = 1'000'000;
  EXPECT_EQ(List(*store, all).size(), 10'000u);  // the limit is clamped
}

// --- Queries --------------------------------------------------------------------------------

TEST_F(UsageStoreTest, MonthAndTopUsersRankByRelayTimeWithTheLatestPlan) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  UsageRecord carol_late = Snapshot("carol", "c2", 4, kNov21, kNov21 + 2 * kHourMs, 1000);
  carol_late.plan = "business";
  Write(*store, {Snapshot("alice", "a1", 1, kNov21, kNov21 + kHourMs, 5000),
                 Snapshot("bob", "b1", 2, kNov21, kNov21 + kHourMs, 9000),
                 Snapshot("carol", "c1", 3, kNov21, kNov21 + kHourMs, 7000), carol_late,
                 Snapshot("dave", "d1", 5, kNov21, kNov21 + kHourMs, 0, 100)});  // no relay time
  std::string error;
  const std::optional<std::vector<UserMonth>> top = store->TopUsers(kNov21, 2, &error);
  ASSERT_TRUE(top) << error;
  ASSERT_EQ(top->size(), 2u);
  EXPECT_EQ((*top)[0].user, "bob");
  EXPECT_EQ((*top)[0].relayed_ms, 9000u);
  EXPECT_EQ((*top)[1].user, "carol");
  EXPECT_EQ((*top)[1].relayed_ms, 8000u);
  EXPECT_EQ((*top)[1].plan, "business");
  EXPECT_EQ(store->TopUsers(kNov21, 0, &error)->size(), 0u);
  EXPECT_EQ(store->TopUsers(kNov21, 100, &error)->size(), 3u);

  const std::vector<UserMonth> month = MonthOf(*store, kNov21 + 5 * kDayMs);
  ASSERT_EQ(month.size(), 3u);
  EXPECT_EQ(month[0].user, "alice");
  EXPECT_EQ(month[0].plan, "pro");
  EXPECT_EQ(month[2].user, "carol");
  EXPECT_EQ(UserAt(*store, "carol", kNov21).plan, "business");
  EXPECT_EQ(UserAt(*store, "nobody", kNov21).plan, "");
}

TEST_F(UsageStoreTest, RecordsFilterByUserSessionNodeLivenessAndTime) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  const int64_t t = kNov21;
  UsageRecord b1 = Snapshot("bob", "s2", 1, t + 10, t + 500, 100);
  b1.node = "node-b";
  Write(*store, {
                    Snapshot("alice", "s1", 3, t + 30, t + 100, 100),  // started third
                    Snapshot("alice", "s1", 2, t + 20, t + 400, 100),
                    Ended(Snapshot("alice", "s3", 1, t, t + 50, 100), EndReason::kLifetime),
                    b1,
                });
  auto allocations = [&](const RecordFilter& filter) {
    std::vector<uint64_t> ids;
    for (const UsageRecord& r : List(*store, filter)) ids.push_back(r.allocation);
    return ids;
  };
  RecordFilter f;
  EXPECT_EQ(allocations(f), (std::vector<uint64_t>{1, 1, 2, 3}));  // by start_ms
  f.user = "alice";
  EXPECT_EQ(allocations(f), (std::vector<uint64_t>{1, 2, 3}));
  f.session = "s1";
  EXPECT_EQ(allocations(f), (std::vector<uint64_t>{2, 3}));
  f = {};
  f.node = "node-b";
  EXPECT_EQ(List(*store, f).size(), 1u);
  EXPECT_EQ(List(*store, f)[0].user, "bob");
  f = {};
  f.live_only = true;
  EXPECT_EQ(allocations(f), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(List(*store, f)[0].node, "node-b");
  f = {};
  f.from_ms = t + 200;  // overlaps [start_ms, last_ms] of 2 and bob's 1 only
  EXPECT_EQ(allocations(f), (std::vector<uint64_t>{1, 2}));
  f.to_ms = t + 15;
  EXPECT_EQ(allocations(f), (std::vector<uint64_t>{1}));
  f = {};
  f.to_ms = t + 20;  // starts at or before it
  EXPECT_EQ(allocations(f), (std::vector<uint64_t>{1, 1, 2}));
  f = {};
  f.limit = 2;
  EXPECT_EQ(allocations(f), (std::vector<uint64_t>{1, 1}));
  f.limit = 0;
  EXPECT_TRUE(List(*store, f).empty());
}

TEST_F(UsageStoreTest, CloseInterruptedClosesOnlyLiveRecordsOfOtherRunsOfThisNode) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  UsageRecord old_run = Snapshot("alice", "s1", 1, kNov21, kNov21 + kMinuteMs, 1000, 10);
  UsageRecord old_run_ended =
      Ended(Snapshot("alice", "s1", 2, kNov21, kNov21 + kMinuteMs, 1000), EndReason::kClient);
  UsageRecord current = Snapshot("alice", "s1", 3, kNov21, kNov21 + kMinuteMs, 1000);
  current.run = kRunB;
  UsageRecord other_node = Snapshot("alice", "s1", 1, kNov21, kNov21 + kMinuteMs, 1000);
  other_node.node = "node-b";
  Write(*store, {old_run, old_run_ended, current, other_node});
  const std::string aggregates = Aggregates();

  std::string error;
  EXPECT_EQ(store->CloseInterrupted("node-a", kRunB, &error), 1u) << error;
  EXPECT_EQ(store->CloseInterrupted("node-a", kRunB, &error), 0u) << error;  // already closed
  EXPECT_EQ(Aggregates(), aggregates);
  RecordFilter f;
  f.node = "node-a";
  const std::vector<UsageRecord> records = List(*store, f);
  ASSERT_EQ(records.size(), 3u);
  UsageRecord closed = old_run;
  closed.reason = EndReason::kInterrupted;
  EXPECT_EQ(records[0], closed);
  EXPECT_EQ(records[1], old_run_ended);
  EXPECT_EQ(records[2], current);
  f.node = "node-b";
  EXPECT_EQ(List(*store, f)[0].reason, EndReason::kLive);
  // A late final snapshot from the dead run cannot reopen or re-end it.
  Write(*store, {Ended(old_run, EndReason::kShutdown)});
  f.node = "node-a";
  EXPECT_EQ(List(*store, f)[0].reason, EndReason::kInterrupted);
}

TEST_F(UsageStoreTest, GuardsInForceAreTheLatestEndingPerUser) {
  std::unique_ptr<UsageStore> store = Open();
  ASSERT_NE(store, nullptr);
  const int64_t t = kNov21;
  const AbuseGuard alice_short{"alice", t, t + kHourMs, 300, 12};
  const AbuseGuard alice_long{"alice", t + kMinuteMs, t + 3 * kHourMs, 120, 20};
  const AbuseGuard bob_expired{"bob", t - kDayMs, t - kHourMs, 300, 11};
  const AbuseGuard carol{"carol", t, t + 2 * kHourMs, 600, 15};
  std::string error;
  for (const AbuseGuard& g : {alice_short, alice_long, bob_expired, carol}) {
    ASSERT_TRUE(store->AddGuard(g, &error)) << error;
  }
  std::optional<std::vector<AbuseGuard>> active = store->ActiveGuards(t + 2 * kMinuteMs, &error);
  ASSERT_TRUE(active) << error;
  EXPECT_EQ(*active, (std::vector<AbuseGuard>{alice_long, carol}));
  active = store->ActiveGuards(t + 2 * kHourMs, &error);  // carol's ends exactly now
  ASSERT_TRUE(active) << error;
  EXPECT_EQ(*active, std::vector<AbuseGuard>{alice_long});

  EXPECT_EQ(UserAt(*store, "alice", t + 2 * kMinuteMs).guard, alice_long);
  EXPECT_EQ(UserAt(*store, "bob", t).guard, std::nullopt);
  EXPECT_EQ(UserAt(*store, "alice", t + 4 * kHourMs).guard, std::nullopt);

  // The same (user, since) again replaces the guard: an extension.
  AbuseGuard extended = carol;
  extended.until_ms += kDayMs;
  ASSERT_TRUE(store->AddGuard(extended, &error)) << error;
  EXPECT_EQ(UserAt(*store, "carol", t + kDayMs).guard, extended);
}

// --- Concurrency ----------------------------------------------------------------------------

TEST_F(UsageStoreTest, AReaderNeverFailsWhileAWriterWrites) {
  std::unique_ptr<UsageStore> writer = Open();
  ASSERT_NE(writer, nullptr);
  SqliteStoreOptions read_only;
  read_only.read_only = true;
  std::unique_ptr<UsageStore> reader = Open(read_only);
  ASSERT_NE(reader, nullptr);

  std::atomic<bool> done{false};
  std::string write_error, read_error;
  uint64_t batches = 0, reads = 0;
  std::thread write_thread([&] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(400);
    while (std::chrono::steady_clock::now() < until && write_error.empty()) {
      std::vector<UsageRecord> batch;
      for (uint64_t i = 0; i < 50; ++i) {
        const int64_t at = kNov21 + static_cast<int64_t>(batches) * 1000;
        batch.push_back(Snapshot("user" + std::to_string(i % 5), "", batches * 50 + i, at, at, 10));
      }
      if (!writer->Write(batch, &write_error)) break;
      ++batches;
    }
    done = true;
  });
  std::thread read_thread([&] {
    while (!done && read_error.empty()) {
      if (!reader->User("user1", kNov21 + kHourMs, &read_error)) break;
      if (!reader->Month(kNov21, &read_error)) break;
      ++reads;
    }
  });
  write_thread.join();
  read_thread.join();
  EXPECT_EQ(write_error, "");
  EXPECT_EQ(read_error, "");
  EXPECT_GT(batches, 0u);
  EXPECT_GT(reads, 0u);
  uint64_t total = 0;
  for (const UserMonth& m : MonthOf(*reader, kNov21)) total += m.relayed_ms;
  EXPECT_EQ(total, batches * 50 * 10);
}

TEST_F(UsageStoreTest, TwoWritersOnDifferentNodesBothLand) {
  std::unique_ptr<UsageStore> first = Open();
  ASSERT_NE(first, nullptr);
  std::unique_ptr<UsageStore> second = Open();
  ASSERT_NE(second, nullptr);
  constexpr int kBatches = 8;
  constexpr uint64_t kPerBatch = 100;
  auto write = [&](UsageStore* store, const char* node, std::string* error) {
    for (int b = 0; b < kBatches; ++b) {
      std::vector<UsageRecord> batch;
      for (uint64_t i = 0; i < kPerBatch; ++i) {
        UsageRecord r = Snapshot("alice", "", b * kPerBatch + i, kNov21 + b, kNov21 + b, 7);
        r.node = node;
        batch.push_back(r);
      }
      if (!store->Write(batch, error)) return;
      // Every other batch grows the previous one's records too.
      for (UsageRecord& r : batch) r.relayed_ms = 9;
      if (!store->Write(batch, error)) return;
    }
  };
  std::string error_a, error_b;
  std::thread a(write, first.get(), "node-a", &error_a);
  std::thread b(write, second.get(), "node-b", &error_b);
  a.join();
  b.join();
  EXPECT_EQ(error_a, "");
  EXPECT_EQ(error_b, "");
  RecordFilter f;
  f.limit = 10000;
  f.node = "node-a";
  EXPECT_EQ(List(*first, f).size(), kBatches * kPerBatch);
  f.node = "node-b";
  EXPECT_EQ(List(*first, f).size(), kBatches * kPerBatch);
  EXPECT_EQ(
      UserAt(*second, "alice", kNov21).day,
      Totals(2 * kBatches * kPerBatch * 9, 0, 2 * kBatches * kPerBatch, 2 * kBatches * kPerBatch));
}

}  // namespace
}  // namespace cv::auth
