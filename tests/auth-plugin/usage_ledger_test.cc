#include "cv/auth/usage_ledger.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace cv::auth {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kNow = 1'763'700'000'000;  // 2025-11-21, mid-month
constexpr int64_t kMinute = 60'000;

class RecordingCallbacks final : public LedgerCallbacks {
 public:
  void OnStandingChanged(const std::string& user, const Standing& standing) override {
    std::lock_guard lock(mu);
    changes.emplace_back(user, standing);
  }
  void OnWriteError(const std::string& error) override {
    std::lock_guard lock(mu);
    errors.push_back(error);
  }
  std::vector<std::pair<std::string, Standing>> Changes() {
    std::lock_guard lock(mu);
    return changes;
  }
  std::vector<std::string> Errors() {
    std::lock_guard lock(mu);
    return errors;
  }

 private:
  std::mutex mu;
  std::vector<std::pair<std::string, Standing>> changes;
  std::vector<std::string> errors;
};

class UsageLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "usage_ledger_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/usage.db";
  }
  void TearDown() override {
    ledger_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<UsageStore> Open() {
    std::string error;
    auto store = OpenSqliteUsageStore(path_, {}, &error);
    EXPECT_NE(store, nullptr) << error;
    return store;
  }

  std::unique_ptr<UsageLedger> StartLedger(const std::string& run,
                                           std::unique_ptr<UsageStore> writer = nullptr) {
    LedgerOptions options;
    options.node = "node-a";
    options.run = run;
    options.top_users = 3;
    options.now_ms = [this] { return now_.load(); };
    std::string error;
    auto ledger =
        UsageLedger::Start(writer ? std::move(writer) : Open(), Open(), options,
                           std::make_shared<const Plans>(Plans::Defaults()), &callbacks_, &error);
    EXPECT_NE(ledger, nullptr) << error;
    return ledger;
  }

  UsageRecord Record(uint64_t id, const std::string& user, const std::string& plan,
                     const std::string& session, uint64_t relayed_ms,
                     EndReason reason = EndReason::kLive, const std::string& run = "run-1") {
    UsageRecord r;
    r.node = "node-a";
    r.run = run;
    r.allocation = id;
    r.user = user;
    r.session = session;
    r.plan = plan;
    r.transport = "udp";
    r.client = "192.0.2.1:4000";
    r.start_ms = now_.load() - static_cast<int64_t>(relayed_ms) - 1000;
    r.last_ms = now_.load();
    r.reason = reason;
    r.relayed_ms = relayed_ms;
    r.bytes_to_peer = relayed_ms * 10;
    r.packets_to_peer = relayed_ms / 20;
    return r;
  }

  std::string dir_, path_;
  std::atomic<int64_t> now_{kNow};
  RecordingCallbacks callbacks_;
  std::unique_ptr<UsageLedger> ledger_;
};

TEST_F(UsageLedgerTest, SubmittedRecordsAreCommittedAndReadable) {
  ledger_ = StartLedger("run-1");
  ledger_->Submit({Record(1, "pat", "pro", "s1", 5000)});
  ASSERT_TRUE(ledger_->Flush(5s));
  std::string error;
  auto records = ledger_->Records({}, &error);
  ASSERT_TRUE(records) << error;
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].relayed_ms, 5000u);
  EXPECT_EQ(ledger_->stats().records_written, 1u);
  EXPECT_GE(ledger_->stats().commits, 1u);
  auto user = ledger_->User("pat", &error);
  ASSERT_TRUE(user) << error;
  EXPECT_EQ(user->month.relayed_ms, 5000u);
  EXPECT_EQ(user->plan, "pro");
}

TEST_F(UsageLedgerTest, ALaterSnapshotOfTheSameAllocationSupersedesAnEarlierOne) {
  ledger_ = StartLedger("run-1");
  ledger_->Submit({Record(1, "pat", "pro", "s1", 1000)});
  ledger_->Submit({Record(1, "pat", "pro", "s1", 3000, EndReason::kClient)});
  ledger_->Submit({Record(1, "pat", "pro", "s1", 2000)});  // late delivery of an older one
  ASSERT_TRUE(ledger_->Flush(5s));
  std::string error;
  auto records = ledger_->Records({}, &error);
  ASSERT_TRUE(records) << error;
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].relayed_ms, 3000u);
  EXPECT_EQ((*records)[0].reason, EndReason::kClient);
  EXPECT_EQ(ledger_->User("pat", &error)->month.relayed_ms, 3000u);
}

TEST_F(UsageLedgerTest, UsingUpTheMonthReportsTheUserOnce) {
  ledger_ = StartLedger("run-1");
  // Trial: 600 relay minutes a month.
  ledger_->Submit({Record(1, "tia", "trial", "s1", 599 * kMinute)});
  ASSERT_TRUE(ledger_->Flush(5s));
  EXPECT_TRUE(callbacks_.Changes().empty());
  EXPECT_EQ(ledger_->Lookup("tia").month_relayed_ms, 599u * kMinute);
  EXPECT_FALSE(Judge(600, true, ledger_->Lookup("tia"), kNow).quota_exhausted);

  ledger_->Submit({Record(1, "tia", "trial", "s1", 600 * kMinute)});
  ASSERT_TRUE(ledger_->Flush(5s));
  auto changes = callbacks_.Changes();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].first, "tia");
  EXPECT_TRUE(Judge(600, true, changes[0].second, kNow).quota_exhausted);
  EXPECT_EQ(ledger_->stats().quota_exhausted_users, 1u);

  ledger_->Submit({Record(1, "tia", "trial", "s1", 601 * kMinute)});
  ASSERT_TRUE(ledger_->Flush(5s));
  EXPECT_EQ(callbacks_.Changes().size(), 1u) << "already reported";
}

TEST_F(UsageLedgerTest, UnlimitedPlansAreNeitherTrackedNorReported) {
  ledger_ = StartLedger("run-1");
  // Business: no monthly limit, no guard.
  ledger_->Submit({Record(1, "pat", "business", "s1", 100'000 * kMinute)});
  ledger_->Submit({Record(2, "pat", "business", "s2", 1000)});
  ASSERT_TRUE(ledger_->Flush(5s));
  EXPECT_TRUE(callbacks_.Changes().empty());
  EXPECT_EQ(ledger_->Lookup("pat"), Standing{});
}

TEST_F(UsageLedgerTest, ASecondRelayedCallWithin24HoursStartsTheAbuseGuard) {
  ledger_ = StartLedger("run-1");
  ledger_->Submit({Record(1, "tia", "trial", "call-1", 60'000, EndReason::kClient)});
  ASSERT_TRUE(ledger_->Flush(5s));
  EXPECT_TRUE(callbacks_.Changes().empty()) << "one call is fine";

  now_ += 3600'000;
  ledger_->Submit({Record(2, "tia", "trial", "call-2", 5000)});
  ASSERT_TRUE(ledger_->Flush(5s));
  auto changes = callbacks_.Changes();
  ASSERT_EQ(changes.size(), 1u);
  const Standing& s = changes[0].second;
  EXPECT_EQ(s.guard_until_ms, now_.load() + 7LL * 86'400'000);
  EXPECT_EQ(s.guard_capped_s, 300u);
  EXPECT_EQ(Judge(600, true, s, now_.load()).capped_duration_s, 300u);
  EXPECT_EQ(ledger_->stats().guards_active, 1u);
  std::string error;
  auto user = ledger_->User("tia", &error);
  ASSERT_TRUE(user && user->guard) << error;
  EXPECT_EQ(user->guard->relayed_calls, 2u);

  // More allocations of a guarded user do not start another guard.
  ledger_->Submit({Record(3, "tia", "trial", "call-3", 5000)});
  ASSERT_TRUE(ledger_->Flush(5s));
  EXPECT_EQ(callbacks_.Changes().size(), 1u);
}

TEST_F(UsageLedgerTest, TwoAllocationsOfOneCallAreOneCall) {
  ledger_ = StartLedger("run-1");
  ledger_->Submit(
      {Record(1, "tia", "trial", "call-1", 5000), Record(2, "tia", "trial", "call-1", 4000)});
  ASSERT_TRUE(ledger_->Flush(5s));
  EXPECT_TRUE(callbacks_.Changes().empty());
  EXPECT_EQ(ledger_->Lookup("tia").guard_until_ms, 0);
}

TEST_F(UsageLedgerTest, ARestartClosesTheLastRunsLiveRecordsAndRemembersStandings) {
  ledger_ = StartLedger("run-1");
  ledger_->Submit({Record(1, "tia", "trial", "s1", 600 * kMinute)});
  ledger_->Submit({Record(2, "pat", "pro", "s2", 1000, EndReason::kLive)});
  ASSERT_TRUE(ledger_->Flush(5s));
  ledger_.reset();  // as if killed after the commit: records stay live

  ledger_ = StartLedger("run-2");
  EXPECT_EQ(ledger_->stats().interrupted_closed, 2u);
  std::string error;
  auto records = ledger_->Records({}, &error);
  ASSERT_TRUE(records) << error;
  ASSERT_EQ(records->size(), 2u);
  for (const UsageRecord& r : *records) EXPECT_EQ(r.reason, EndReason::kInterrupted);
  EXPECT_TRUE(Judge(600, true, ledger_->Lookup("tia"), kNow).quota_exhausted)
      << "a used-up month is known before any new record arrives";
}

TEST_F(UsageLedgerTest, TopUsersAreTheMostRelayTimeThisMonth) {
  ledger_ = StartLedger("run-1");
  ledger_->Submit({Record(1, "a", "pro", "s1", 3000), Record(2, "b", "pro", "s2", 9000),
                   Record(3, "c", "pro", "s3", 1000), Record(4, "d", "pro", "s4", 5000)});
  ASSERT_TRUE(ledger_->Flush(5s));
  now_ += 10'000;  // top users refresh at most every 5 s
  ledger_->Submit({Record(5, "e", "pro", "s5", 10)});
  ASSERT_TRUE(ledger_->Flush(5s));
  auto top = ledger_->TopUsers();
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].user, "b");
  EXPECT_EQ(top[1].user, "d");
  EXPECT_EQ(top[2].user, "a");
}

// A store that fails its first writes: the ledger keeps the records and retries.
class FlakyStore final : public UsageStore {
 public:
  FlakyStore(std::unique_ptr<UsageStore> real, int failures)
      : real_(std::move(real)), failures_(failures) {}
  bool Write(std::span<const UsageRecord> records, std::string* error) override {
    if (failures_-- > 0) {
      *error = "disk I/O error";
      return false;
    }
    return real_->Write(records, error);
  }
  std::optional<size_t> CloseInterrupted(std::string_view n, std::string_view r,
                                         std::string* e) override {
    return real_->CloseInterrupted(n, r, e);
  }
  std::optional<UserUsage> User(std::string_view u, int64_t now, std::string* e) override {
    return real_->User(u, now, e);
  }
  std::optional<std::vector<UserMonth>> Month(int64_t now, std::string* e) override {
    return real_->Month(now, e);
  }
  std::optional<uint64_t> RelayedCalls(std::string_view u, int64_t s, std::string* e) override {
    return real_->RelayedCalls(u, s, e);
  }
  std::optional<std::vector<UserMonth>> TopUsers(int64_t now, size_t n, std::string* e) override {
    return real_->TopUsers(now, n, e);
  }
  std::optional<UsageTotals> Session(std::string_view s, std::string* e) override {
    return real_->Session(s, e);
  }
  std::optional<std::vector<UsageRecord>> Records(const RecordFilter& f, std::string* e) override {
    return real_->Records(f, e);
  }
  std::optional<std::vector<DailyUsage>> Daily(int64_t from, int64_t to, std::string_view u,
                                               std::string* e) override {
    return real_->Daily(from, to, u, e);
  }
  std::optional<std::vector<SessionUsage>> Sessions(int64_t from, int64_t to,
                                                    std::string* e) override {
    return real_->Sessions(from, to, e);
  }
  bool AddGuard(const AbuseGuard& g, std::string* e) override { return real_->AddGuard(g, e); }
  std::optional<std::vector<AbuseGuard>> ActiveGuards(int64_t now, std::string* e) override {
    return real_->ActiveGuards(now, e);
  }
  int schema_version() const override { return real_->schema_version(); }

 private:
  std::unique_ptr<UsageStore> real_;
  std::atomic<int> failures_;
};

TEST_F(UsageLedgerTest, AFailedCommitKeepsTheRecordsAndRetries) {
  ledger_ = StartLedger("run-1", std::make_unique<FlakyStore>(Open(), 1));
  ledger_->Submit({Record(1, "pat", "pro", "s1", 1000)});
  ASSERT_TRUE(ledger_->Flush(10s)) << "retried within the first backoff (1 s)";
  EXPECT_EQ(ledger_->stats().write_errors, 1u);
  ASSERT_EQ(callbacks_.Errors().size(), 1u);
  EXPECT_EQ(callbacks_.Errors()[0], "disk I/O error");
  std::string error;
  EXPECT_EQ(ledger_->Records({}, &error)->size(), 1u);
}

TEST_F(UsageLedgerTest, StopWritesWhatIsQueued) {
  ledger_ = StartLedger("run-1");
  std::vector<UsageRecord> batch;
  for (uint64_t i = 1; i <= 500; ++i) batch.push_back(Record(i, "pat", "pro", "s1", 100));
  ledger_->Submit(std::move(batch));
  ledger_->Stop(5s);
  ledger_->Submit({Record(999, "pat", "pro", "s1", 100)});  // dropped: stopped
  auto store = Open();
  std::string error;
  RecordFilter all;
  all.limit = 10000;
  auto records = store->Records(all, &error);
  ASSERT_TRUE(records) << error;
  EXPECT_EQ(records->size(), 500u);
}

TEST(JudgeTest, QuotaCountsOnlyThisMonthAndGuardOnlyWhileInForce) {
  const int64_t month = UtcMonthStartMs(kNow);
  EXPECT_TRUE(Judge(10, false, {month, 10 * kMinute, 0, 0}, kNow).quota_exhausted);
  EXPECT_FALSE(Judge(10, false, {month, 10 * kMinute - 1, 0, 0}, kNow).quota_exhausted);
  EXPECT_FALSE(Judge(0, false, {month, 1'000'000 * kMinute, 0, 0}, kNow).quota_exhausted);
  EXPECT_FALSE(Judge(10, false, {month - 1, 10 * kMinute, 0, 0}, kNow).quota_exhausted);
  EXPECT_EQ(Judge(0, true, {0, 0, kNow + 1, 300}, kNow).capped_duration_s, 300u);
  EXPECT_EQ(Judge(0, true, {0, 0, kNow, 300}, kNow).capped_duration_s, 0u);
  EXPECT_EQ(Judge(0, false, {0, 0, kNow + 1, 300}, kNow).capped_duration_s, 0u);
}

}  // namespace
}  // namespace cv::auth
