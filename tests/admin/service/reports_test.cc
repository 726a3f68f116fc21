// The admin reports (docs/admin-api.md "Reports") over real SQLite files in a temp dir: cvadmin's
// store with scripted call sessions, and a usage ledger written with UsageStore::Write the way
// cvrelay writes it. Every figure is worked out by hand in the comments.
#include "admin/service/reports.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cv/auth/sqlite_db.h"
#include "tests/support/process.h"

namespace cv::admin {
namespace {

using json = nlohmann::json;

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 60 * kMinuteMs;
constexpr int64_t kDayMs = 24 * kHourMs;
constexpr int64_t kNov20 = 1'795'132'800'000;  // 2026-11-20T00:00:00Z
constexpr int64_t kNov21 = kNov20 + kDayMs;
constexpr int64_t kNov22 = kNov20 + 2 * kDayMs;
constexpr int64_t kNov30 = kNov20 + 10 * kDayMs;
constexpr int64_t kDec1 = kNov20 + 11 * kDayMs;
constexpr int64_t kDec2 = kNov20 + 12 * kDayMs;
constexpr int64_t kDec10 = kNov20 + 20 * kDayMs;
// The main window: 2026-11-20 and 2026-11-21.
constexpr ReportWindow kWindow{kNov20, kNov22};

// Compares the text of both, so that an integer (0) and a float (0.0) differ too.
void ExpectJson(const json& actual, std::string_view expected) {
  EXPECT_EQ(actual.dump(1), json::parse(expected).dump(1));
}

struct Call {
  std::string id, user, plan;
  CallKind kind = CallKind::kDirect;
  uint32_t group_size = 2;
  int64_t started_ms = 0;
  bool connected = false;
  uint32_t call_seconds = 0;
  std::string route, network;
  bool relayed = false;
  bool live = false;
};

struct Relay {
  uint64_t allocation = 0;
  std::string session, user, plan;
  int64_t start_ms = 0, last_ms = 0;
  uint64_t relayed_ms = 0, bytes_to_peer = 0, bytes_to_client = 0;
};

// The calls. Window [Nov 20, Nov 22) holds s1-s11; b0, b1 (before) and b2 (at `to`) are outside.
//   id   user   plan      kind    size start        connected secs route  network  relayed
//   b0   alice  pro       direct  2    Nov20 - 1 ms  yes       100  relay  cellular yes
//   b1   dave   business  group   6    Nov20 - 2 h   yes       3000 relay  ethernet yes
//   s1   alice  pro       direct  2    Nov20 00:00   yes       600  relay  cellular yes
//   s2   alice  pro       direct  2    Nov20 02:00   yes       300  host   cellular yes (once)
//   s3   bob    pro       direct  2    Nov20 03:00   yes       120  srflx  wifi     no
//   s4   carol  free      direct  2    Nov20 04:00   yes       60   host   wifi     no
//   s5   carol  free      direct  2    Nov20 05:00   yes       30   -      -        no
//   s6   carol  free      direct  2    Nov20 06:00   no        0    -      -        no
//   s7   dave   business  group   6    Nov21 01:00   yes       1800 relay  ethernet yes
//   s8   dave   business  group   4    Nov21 02:00   yes       900  prflx  wifi     no
//   s9   erin   business  group   6    Nov21 03:00   no        0    -      -        no
//   s10  alice  pro       direct  2    Nov21 04:00   live
//   s11  fay    pro       group   3    Nov21 05:00   yes       240  host   wifi     no
//   b2   bob    pro       direct  2    Nov22 00:00   yes       500  relay  wifi     yes
// And for the month test: m1 (zed, Nov30 23:00, 100 s), m2 (amy, Dec1 01:00, 200 s), m3 (zed,
// Dec1 02:00, 50 s).
const std::vector<Call>& Calls() {
  static const std::vector<Call> calls = {
      {"b0", "alice", "pro", CallKind::kDirect, 2, kNov20 - 1, true, 100, "relay", "cellular",
       true},
      {"b1", "dave", "business", CallKind::kGroup, 6, kNov20 - 2 * kHourMs, true, 3000, "relay",
       "ethernet", true},
      {"s1", "alice", "pro", CallKind::kDirect, 2, kNov20, true, 600, "relay", "cellular", true},
      {"s2", "alice", "pro", CallKind::kDirect, 2, kNov20 + 2 * kHourMs, true, 300, "host",
       "cellular", true},
      {"s3", "bob", "pro", CallKind::kDirect, 2, kNov20 + 3 * kHourMs, true, 120, "srflx", "wifi"},
      {"s4", "carol", "free", CallKind::kDirect, 2, kNov20 + 4 * kHourMs, true, 60, "host", "wifi"},
      {"s5", "carol", "free", CallKind::kDirect, 2, kNov20 + 5 * kHourMs, true, 30, "", ""},
      {"s6", "carol", "free", CallKind::kDirect, 2, kNov20 + 6 * kHourMs, false, 0, "", ""},
      {"s7", "dave", "business", CallKind::kGroup, 6, kNov21 + kHourMs, true, 1800, "relay",
       "ethernet", true},
      {"s8", "dave", "business", CallKind::kGroup, 4, kNov21 + 2 * kHourMs, true, 900, "prflx",
       "wifi"},
      {"s9", "erin", "business", CallKind::kGroup, 6, kNov21 + 3 * kHourMs, false, 0, "", ""},
      {"s10", "alice", "pro", CallKind::kDirect, 2, kNov21 + 4 * kHourMs, false, 0, "", "", false,
       true},
      {"s11", "fay", "pro", CallKind::kGroup, 3, kNov21 + 5 * kHourMs, true, 240, "host", "wifi"},
      {"b2", "bob", "pro", CallKind::kDirect, 2, kNov22, true, 500, "relay", "wifi", true},
      {"m1", "zed", "pro", CallKind::kDirect, 2, kNov30 + 23 * kHourMs, true, 100, "relay", "wifi",
       true},
      {"m2", "amy", "pro", CallKind::kDirect, 2, kDec1 + kHourMs, true, 200, "relay", "cellular",
       true},
      {"m3", "zed", "pro", CallKind::kDirect, 2, kDec1 + 2 * kHourMs, true, 50, "host", "wifi"},
  };
  return calls;
}

// The ledger: one ended snapshot per allocation, so each is dated (daily rows) by its last_ms.
//   #   session     user    plan      start            last             relayed_ms  bytes
//   1   s1          alice   pro       Nov20 00:01      Nov20 00:11      300000      1000/2000
//   2   s1          alice   pro       Nov20 00:02      Nov20 00:12      120000      500/700
//   3   s2          alice   pro       Nov20 02:01      Nov20 02:11      145500      100/200
//   4   s7          dave    business  Nov21 01:01      Nov21 01:31      1215000     5000/6000
//   5   zz-foreign  frank   pro       Nov20 05:00      Nov20 05:02      60000       10/20
//   6   (claimless) gina    free      Nov20 07:00      Nov20 07:01      30000       30/40
//   7   b0          alice   pro       Nov20 00:10      Nov20 00:15      45000       50/60
//   8   b0          alice   pro       Nov20 - 1 ms     Nov20 00:10      500000      70/80
//   9   b2          bob     pro       Nov22 00:01      Nov22 00:05      200000      90/100
//   10  b1          dave    business  Nov20 00:03      Nov20 00:13      90000       300/400
//   11  m1          zed     pro       Nov30 23:50      Dec1 00:10       20000       11/12
//   12  m2          amy     pro       Dec1 01:01       Dec1 01:06       40000       21/22
//   13  (claimless) we,ird"one free   Dec10 01:00      Dec10 01:01      1000        1/2
// "zz-foreign" is a session cvadmin does not know.
const std::vector<Relay>& Relays() {
  static const std::vector<Relay> relays = {
      {1, "s1", "alice", "pro", kNov20 + kMinuteMs, kNov20 + 11 * kMinuteMs, 300000, 1000, 2000},
      {2, "s1", "alice", "pro", kNov20 + 2 * kMinuteMs, kNov20 + 12 * kMinuteMs, 120000, 500, 700},
      {3, "s2", "alice", "pro", kNov20 + 2 * kHourMs + kMinuteMs,
       kNov20 + 2 * kHourMs + 11 * kMinuteMs, 145500, 100, 200},
      {4, "s7", "dave", "business", kNov21 + kHourMs + kMinuteMs, kNov21 + kHourMs + 31 * kMinuteMs,
       1215000, 5000, 6000},
      {5, "zz-foreign", "frank", "pro", kNov20 + 5 * kHourMs, kNov20 + 5 * kHourMs + 2 * kMinuteMs,
       60000, 10, 20},
      {6, "", "gina", "free", kNov20 + 7 * kHourMs, kNov20 + 7 * kHourMs + kMinuteMs, 30000, 30,
       40},
      {7, "b0", "alice", "pro", kNov20 + 10 * kMinuteMs, kNov20 + 15 * kMinuteMs, 45000, 50, 60},
      {8, "b0", "alice", "pro", kNov20 - 1, kNov20 + 10 * kMinuteMs, 500000, 70, 80},
      {9, "b2", "bob", "pro", kNov22 + kMinuteMs, kNov22 + 5 * kMinuteMs, 200000, 90, 100},
      {10, "b1", "dave", "business", kNov20 + 3 * kMinuteMs, kNov20 + 13 * kMinuteMs, 90000, 300,
       400},
      {11, "m1", "zed", "pro", kNov30 + 23 * kHourMs + 50 * kMinuteMs, kDec1 + 10 * kMinuteMs,
       20000, 11, 12},
      {12, "m2", "amy", "pro", kDec1 + kHourMs + kMinuteMs, kDec1 + kHourMs + 6 * kMinuteMs, 40000,
       21, 22},
      {13, "", "we,ird\"one", "free", kDec10 + kHourMs, kDec10 + kHourMs + kMinuteMs, 1000, 1, 2},
  };
  return relays;
}

// The store and the ledger are written once for the suite (every durable write is an fsync);
// the reports only read them. The failure tests break stores of their own.
class ReportsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new cv::testing::TempDir();
    std::string error;
    store_ = OpenSqliteAdminStore(dir_->path() + "/admin.db", {}, &error).release();
    ASSERT_NE(store_, nullptr) << error;
    usage_ = auth::OpenSqliteUsageStore(dir_->path() + "/usage.db", {}, &error).release();
    ASSERT_NE(usage_, nullptr) << error;
    for (const Call& c : Calls()) AddCall(*store_, c);
    std::vector<auth::UsageRecord> records;
    for (const Relay& r : Relays()) records.push_back(Record(r));
    ASSERT_TRUE(usage_->Write(records, &error)) << error;
  }

  static void TearDownTestSuite() {
    delete usage_;
    delete store_;
    delete dir_;
    usage_ = nullptr;
    store_ = nullptr;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(store_, nullptr);
    ASSERT_NE(usage_, nullptr);
  }

  static void AddCall(AdminStore& store, const Call& c) {
    CallSession s;
    s.id = c.id;
    s.user = c.user;
    s.line = c.user + "-line";
    s.kind = c.kind;
    s.group_size = c.group_size;
    s.plan = c.plan;
    s.allow_turn = c.plan != "free";
    s.started_ms = c.started_ms;
    std::string error;
    ASSERT_EQ(store.InsertSession(s, &error), StoreStatus::kOk) << error;
    if (c.live) return;
    s.connected_ms = c.connected ? c.started_ms + 2000 : 0;
    s.ended_ms = c.started_ms + (c.call_seconds + 5) * 1000;
    s.end_reason = "hangup";
    s.call_seconds = c.call_seconds;
    s.route = c.route;
    s.network = c.network;
    s.relayed = c.relayed;
    ASSERT_EQ(store.EndSession(s, &error), StoreStatus::kOk) << error;
  }

  static auth::UsageRecord Record(const Relay& r) {
    auth::UsageRecord u;
    u.node = "relay-a";
    u.run = "00000000000000a1";
    u.allocation = r.allocation;
    u.user = r.user;
    u.session = r.session;
    u.line = r.session.empty() ? "" : r.user + "-line";
    u.plan = r.plan;
    u.transport = "udp";
    u.client = "198.51.100.7:50000";
    u.peers = {"203.0.113.9"};
    u.start_ms = r.start_ms;
    u.last_ms = r.last_ms;
    u.reason = auth::EndReason::kClient;
    u.relayed_ms = r.relayed_ms;
    u.bytes_to_peer = r.bytes_to_peer;
    u.bytes_to_client = r.bytes_to_client;
    u.packets_to_peer = r.bytes_to_peer / 10;
    u.packets_to_client = r.bytes_to_client / 10;
    return u;
  }

  static std::string Csv(const Reply& r) {
    EXPECT_TRUE(r.ok());
    return r.body.value("csv", "");
  }

  static cv::testing::TempDir* dir_;
  static AdminStore* store_;
  static auth::UsageStore* usage_;
};

cv::testing::TempDir* ReportsTest::dir_ = nullptr;
AdminStore* ReportsTest::store_ = nullptr;
auth::UsageStore* ReportsTest::usage_ = nullptr;

// Sessions started in [Nov 20, Nov 22): s1-s11, 11 calls; connected: all but s6, s9, s10 = 8.
// Relayed s1, s2 (relay once, host last), s7 = 3; direct s3 (srflx), s4 (host), s8 (prflx),
// s11 (host) = 4; unknown route s5 = 1. Shares 3/7 = 0.428571 -> 0.4286 and 4/7 -> 0.5714.
//
// Relay time of the allocations that started in the window: #1-#7 and #10 (#8 started 1 ms
// before, #9 at `to`): 300000 + 120000 + 145500 + 1215000 + 60000 + 30000 + 45000 + 90000
// = 2005500 ms = 2005.5 s = 33.425 min -> 33.43 (half up).
// Top users: dave #4 + #10 = 1305000 ms = 21.75 min, 2 calls (s7, b1); alice #1 + #2 + #3 + #7
// = 610500 ms = 10.175 -> 10.18 min, 3 calls (s1, s2, b0); frank 60000 = 1.0, 1; gina 30000
// = 0.5, 1 (claimless).
// by_plan (sessions; relay time by the ledger's plan), most calls first, then by name:
//   pro      s1 s2 s3 s10 s11: 5 calls, 4 connected, 2 relayed, 2 direct (s3, s11), share 0.5;
//            relay #1 #2 #3 #5 #7 = 670500 ms = 11.175 -> 11.18
//   business s7 s8 s9: 3, 2, 1, 1, 0.5; relay #4 #10 = 1305000 = 21.75
//   free     s4 s5 s6: 3, 2, 0, 1 (s4), 0.0; relay #6 = 30000 = 0.5
// by_network (relay time joined by session id; b0 and b1 started before the window and are
// found in the store):
//   unknown  s5 s6 s9 s10: 4, 1 connected (s5, no route), no routed call: share null;
//            relay #5 (foreign) + #6 (claimless) = 90000 = 1.5
//   wifi     s3 s4 s8 s11: 4, 4, 0, 4, share 0.0; relay 0.0
//   cellular s1 s2: 2, 2, 2, 0, share 1.0; relay #1 #2 #3 + #7 (b0) = 610500 = 10.18
//   ethernet s7: 1, 1, 1, 0, share 1.0; relay #4 + #10 (b1) = 1305000 = 21.75
TEST_F(ReportsTest, CallQualityCountsRoutesAndJoinsRelayTime) {
  Reply r = CallQualityReport(*store_, usage_, kWindow, 10);
  ASSERT_TRUE(r.ok()) << r.refusal->detail;
  EXPECT_EQ(r.status, 200);
  ExpectJson(r.body, R"({"from": 1795132800, "to": 1795305600, "usage_ledger": true,
    "calls": 11, "connected": 8, "relayed": 3, "direct": 4, "unknown_route": 1,
    "relayed_share": 0.4286, "direct_share": 0.5714,
    "relay_seconds": 2005.5, "relay_minutes": 33.43,
    "top_users": [{"user": "dave", "relay_minutes": 21.75, "relayed_calls": 2},
                  {"user": "alice", "relay_minutes": 10.18, "relayed_calls": 3},
                  {"user": "frank", "relay_minutes": 1.0, "relayed_calls": 1},
                  {"user": "gina", "relay_minutes": 0.5, "relayed_calls": 1}],
    "by_plan": [
      {"plan": "pro", "calls": 5, "connected": 4, "relayed": 2, "direct": 2,
       "relayed_share": 0.5, "relay_minutes": 11.18},
      {"plan": "business", "calls": 3, "connected": 2, "relayed": 1, "direct": 1,
       "relayed_share": 0.5, "relay_minutes": 21.75},
      {"plan": "free", "calls": 3, "connected": 2, "relayed": 0, "direct": 1,
       "relayed_share": 0.0, "relay_minutes": 0.5}],
    "by_network": [
      {"network": "unknown", "calls": 4, "connected": 1, "relayed": 0, "direct": 0,
       "relayed_share": null, "relay_minutes": 1.5},
      {"network": "wifi", "calls": 4, "connected": 4, "relayed": 0, "direct": 4,
       "relayed_share": 0.0, "relay_minutes": 0.0},
      {"network": "cellular", "calls": 2, "connected": 2, "relayed": 2, "direct": 0,
       "relayed_share": 1.0, "relay_minutes": 10.18},
      {"network": "ethernet", "calls": 1, "connected": 1, "relayed": 1, "direct": 0,
       "relayed_share": 1.0, "relay_minutes": 21.75}]})");
}

TEST_F(ReportsTest, CallQualityTopUsersAreTheMostRelayedUpToTheLimit) {
  Reply r = CallQualityReport(*store_, usage_, kWindow, 2);
  ASSERT_TRUE(r.ok());
  // dave 21.75 before alice 10.18; frank and gina are cut.
  ExpectJson(r.body["top_users"], R"([
    {"user": "dave", "relay_minutes": 21.75, "relayed_calls": 2},
    {"user": "alice", "relay_minutes": 10.18, "relayed_calls": 3}])");
  EXPECT_EQ(r.body["relay_minutes"], 33.43);  // the limit cuts the list, not the totals
}

TEST_F(ReportsTest, CallQualityWindowIsFromInclusiveToExclusive) {
  // [Nov20 - 1 ms, Nov20): b0 only (s1 starts at Nov20, `to` itself), and #8, which started at
  // Nov20 - 1 ms: 500000 ms = 8.333 min -> 8.33, in b0's network (cellular).
  Reply before = CallQualityReport(*store_, usage_, {kNov20 - 1, kNov20}, 10);
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before.body["calls"], 1);
  EXPECT_EQ(before.body["relayed"], 1);
  EXPECT_EQ(before.body["relay_minutes"], 8.33);
  ExpectJson(before.body["by_network"], R"([{"network": "cellular", "calls": 1,
    "connected": 1, "relayed": 1, "direct": 0, "relayed_share": 1.0, "relay_minutes": 8.33}])");

  // [Nov22, Nov22 + 1 ms): b2 only; its allocation #9 started a minute later, outside.
  Reply after = CallQualityReport(*store_, usage_, {kNov22, kNov22 + 1}, 10);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after.body["calls"], 1);
  EXPECT_EQ(after.body["relay_seconds"], 0.0);
  ExpectJson(after.body["top_users"], "[]");
}

// [Nov20 05:00, Nov20 07:00): s5 (connected, no route report) and s6 (never connected): no routed
// call, so both shares are null. The ledger has #5 (frank's foreign session, pro, 1 min); #6
// starts at 07:00, `to`. Pro has relay time but no calls: a row with 0 calls, after free's 2.
TEST_F(ReportsTest, CallQualitySharesAreNullWithoutRoutedCalls) {
  Reply r = CallQualityReport(*store_, usage_, {kNov20 + 5 * kHourMs, kNov20 + 7 * kHourMs}, 10);
  ASSERT_TRUE(r.ok());
  ExpectJson(r.body, R"({"from": 1795150800, "to": 1795158000, "usage_ledger": true,
    "calls": 2, "connected": 1, "relayed": 0, "direct": 0, "unknown_route": 1,
    "relayed_share": null, "direct_share": null, "relay_seconds": 60.0, "relay_minutes": 1.0,
    "top_users": [{"user": "frank", "relay_minutes": 1.0, "relayed_calls": 1}],
    "by_plan": [
      {"plan": "free", "calls": 2, "connected": 1, "relayed": 0, "direct": 0,
       "relayed_share": null, "relay_minutes": 0.0},
      {"plan": "pro", "calls": 0, "connected": 0, "relayed": 0, "direct": 0,
       "relayed_share": null, "relay_minutes": 1.0}],
    "by_network": [
      {"network": "unknown", "calls": 2, "connected": 1, "relayed": 0, "direct": 0,
       "relayed_share": null, "relay_minutes": 1.0}]})");

  // A window with nothing at all.
  Reply empty = CallQualityReport(*store_, usage_, {kDec10 + kDayMs, kDec10 + 2 * kDayMs}, 10);
  ASSERT_TRUE(empty.ok());
  ExpectJson(empty.body, R"({"from": 1796947200, "to": 1797033600, "usage_ledger": true,
    "calls": 0, "connected": 0, "relayed": 0, "direct": 0, "unknown_route": 0,
    "relayed_share": null, "direct_share": null, "relay_seconds": 0.0, "relay_minutes": 0.0,
    "top_users": [], "by_plan": [], "by_network": []})");
}

// Without a ledger: the same counts (see CallQualityCountsRoutesAndJoinsRelayTime), every relay
// field null.
TEST_F(ReportsTest, CallQualityWithoutLedgerHasNullRelayFields) {
  Reply r = CallQualityReport(*store_, nullptr, kWindow, 10);
  ASSERT_TRUE(r.ok());
  ExpectJson(r.body, R"({"from": 1795132800, "to": 1795305600, "usage_ledger": false,
    "calls": 11, "connected": 8, "relayed": 3, "direct": 4, "unknown_route": 1,
    "relayed_share": 0.4286, "direct_share": 0.5714,
    "relay_seconds": null, "relay_minutes": null, "top_users": null,
    "by_plan": [
      {"plan": "pro", "calls": 5, "connected": 4, "relayed": 2, "direct": 2,
       "relayed_share": 0.5, "relay_minutes": null},
      {"plan": "business", "calls": 3, "connected": 2, "relayed": 1, "direct": 1,
       "relayed_share": 0.5, "relay_minutes": null},
      {"plan": "free", "calls": 3, "connected": 2, "relayed": 0, "direct": 1,
       "relayed_share": 0.0, "relay_minutes": null}],
    "by_network": [
      {"network": "unknown", "calls": 4, "connected": 1, "relayed": 0, "direct": 0,
       "relayed_share": null, "relay_minutes": null},
      {"network": "wifi", "calls": 4, "connected": 4, "relayed": 0, "direct": 4,
       "relayed_share": 0.0, "relay_minutes": null},
      {"network": "cellular", "calls": 2, "connected": 2, "relayed": 2, "direct": 0,
       "relayed_share": 1.0, "relay_minutes": null},
      {"network": "ethernet", "calls": 1, "connected": 1, "relayed": 1, "direct": 0,
       "relayed_share": 1.0, "relay_minutes": null}]})");
}

// Per UTC day. cvadmin's calls (started that day; seconds of the ended ones):
//   Nov20 alice s1 + s2 = 2 calls, 600 + 300 = 900 s; bob s3 = 1, 120; carol s4 s5 s6 = 3,
//         60 + 30 + 0 = 90
//   Nov21 alice s10 (live) = 1, 0; dave s7 s8 = 2, 1800 + 900 = 2700; erin s9 = 1, 0;
//         fay s11 = 1, 240
// The ledger's daily rows (dated by last_ms; #8 started before the window but reported on Nov20):
//   Nov20 alice #1 #2 #3 #7 #8 = 300000 + 120000 + 145500 + 45000 + 500000 = 1110500 ms
//         = 1110.5 s, to peer 1000 + 500 + 100 + 50 + 70 = 1720, to client 2000 + 700 + 200 + 60
//         + 80 = 3040, 5 allocations; dave #10 = 90.0 s, 300, 400, 1; frank #5 = 60.0, 10, 20, 1;
//         gina #6 = 30.0, 30, 40, 1
//   Nov21 dave #4 = 1215.0, 5000, 6000, 1 (#9 is on Nov22, outside)
TEST_F(ReportsTest, UsageByDayHasRowsByDayThenUser) {
  Reply r = UsageReport(*store_, usage_, kWindow, UsagePeriod::kDay, "", false);
  ASSERT_TRUE(r.ok()) << r.refusal->detail;
  ExpectJson(r.body, R"({"period": "day", "from": 1795132800, "to": 1795305600, "rows": [
    {"period": "2026-11-20", "user": "alice", "calls": 2, "call_seconds": 900,
     "relayed_seconds": 1110.5, "bytes_to_peer": 1720, "bytes_to_client": 3040, "allocations": 5},
    {"period": "2026-11-20", "user": "bob", "calls": 1, "call_seconds": 120,
     "relayed_seconds": 0.0, "bytes_to_peer": 0, "bytes_to_client": 0, "allocations": 0},
    {"period": "2026-11-20", "user": "carol", "calls": 3, "call_seconds": 90,
     "relayed_seconds": 0.0, "bytes_to_peer": 0, "bytes_to_client": 0, "allocations": 0},
    {"period": "2026-11-20", "user": "dave", "calls": 0, "call_seconds": 0,
     "relayed_seconds": 90.0, "bytes_to_peer": 300, "bytes_to_client": 400, "allocations": 1},
    {"period": "2026-11-20", "user": "frank", "calls": 0, "call_seconds": 0,
     "relayed_seconds": 60.0, "bytes_to_peer": 10, "bytes_to_client": 20, "allocations": 1},
    {"period": "2026-11-20", "user": "gina", "calls": 0, "call_seconds": 0,
     "relayed_seconds": 30.0, "bytes_to_peer": 30, "bytes_to_client": 40, "allocations": 1},
    {"period": "2026-11-21", "user": "alice", "calls": 1, "call_seconds": 0,
     "relayed_seconds": 0.0, "bytes_to_peer": 0, "bytes_to_client": 0, "allocations": 0},
    {"period": "2026-11-21", "user": "dave", "calls": 2, "call_seconds": 2700,
     "relayed_seconds": 1215.0, "bytes_to_peer": 5000, "bytes_to_client": 6000,
     "allocations": 1},
    {"period": "2026-11-21", "user": "erin", "calls": 1, "call_seconds": 0,
     "relayed_seconds": 0.0, "bytes_to_peer": 0, "bytes_to_client": 0, "allocations": 0},
    {"period": "2026-11-21", "user": "fay", "calls": 1, "call_seconds": 240,
     "relayed_seconds": 0.0, "bytes_to_peer": 0, "bytes_to_client": 0, "allocations": 0}]})");
}

// The same window by month: one period, the days above summed per user (dave: 90.0 + 1215.0
// = 1305.0 s, 300 + 5000, 400 + 6000, 2 allocations; carol 3 calls, 90 s).
TEST_F(ReportsTest, UsageByMonthSumsTheDays) {
  Reply r = UsageReport(*store_, usage_, kWindow, UsagePeriod::kMonth, "", false);
  ASSERT_TRUE(r.ok());
  ExpectJson(r.body, R"({"period": "month", "from": 1795132800, "to": 1795305600, "rows": [
    {"period": "2026-11", "user": "alice", "calls": 3, "call_seconds": 900,
     "relayed_seconds": 1110.5, "bytes_to_peer": 1720, "bytes_to_client": 3040, "allocations": 5},
    {"period": "2026-11", "user": "bob", "calls": 1, "call_seconds": 120,
     "relayed_seconds": 0.0, "bytes_to_peer": 0, "bytes_to_client": 0, "allocations": 0},
    {"period": "2026-11", "user": "carol", "calls": 3, "call_seconds": 90,
     "relayed_seconds": 0.0, "bytes_to_peer": 0, "bytes_to_client": 0, "allocations": 0},
    {"period": "2026-11", "user": "dave", "calls": 2, "call_seconds": 2700,
     "relayed_seconds": 1305.0, "bytes_to_peer": 5300, "bytes_to_client": 6400,
     "allocations": 2},
    {"period": "2026-11", "user": "erin", "calls": 1, "call_seconds": 0,
     "relayed_seconds": 0.0, "bytes_to_peer": 0, "bytes_to_client": 0, "allocations": 0},
    {"period": "2026-11", "user": "fay", "calls": 1, "call_seconds": 240,
     "relayed_seconds": 0.0, "bytes_to_peer": 0, "bytes_to_client": 0, "allocations": 0},
    {"period": "2026-11", "user": "frank", "calls": 0, "call_seconds": 0,
     "relayed_seconds": 60.0, "bytes_to_peer": 10, "bytes_to_client": 20, "allocations": 1},
    {"period": "2026-11", "user": "gina", "calls": 0, "call_seconds": 0,
     "relayed_seconds": 30.0, "bytes_to_peer": 30, "bytes_to_client": 40, "allocations": 1}]})");
}

// [Nov30, Dec2) by month: m1 (zed, Nov30 23:00, 100 s); m2 (amy, Dec1, 200 s) and m3 (zed, Dec1,
// 50 s). #11 (m1's, over midnight) is dated Dec1 by its last snapshot: 20.0 s, 11, 12; #12 (m2's)
// 40.0 s, 21, 22. Ordered by period first: Nov's zed before Dec's amy.
TEST_F(ReportsTest, UsageByMonthOrdersByPeriodThenUser) {
  Reply r = UsageReport(*store_, usage_, {kNov30, kDec2}, UsagePeriod::kMonth, "", false);
  ASSERT_TRUE(r.ok());
  ExpectJson(r.body["rows"], R"([
    {"period": "2026-11", "user": "zed", "calls": 1, "call_seconds": 100,
     "relayed_seconds": 0.0, "bytes_to_peer": 0, "bytes_to_client": 0, "allocations": 0},
    {"period": "2026-12", "user": "amy", "calls": 1, "call_seconds": 200,
     "relayed_seconds": 40.0, "bytes_to_peer": 21, "bytes_to_client": 22, "allocations": 1},
    {"period": "2026-12", "user": "zed", "calls": 1, "call_seconds": 50,
     "relayed_seconds": 20.0, "bytes_to_peer": 11, "bytes_to_client": 12, "allocations": 1}])");
}

TEST_F(ReportsTest, UsageForOneUser) {
  // dave: Nov20 only relay (#10, for b1 that started the day before), Nov21 s7 s8 and #4.
  Reply r = UsageReport(*store_, usage_, kWindow, UsagePeriod::kDay, "dave", false);
  ASSERT_TRUE(r.ok());
  ExpectJson(r.body["rows"], R"([
    {"period": "2026-11-20", "user": "dave", "calls": 0, "call_seconds": 0,
     "relayed_seconds": 90.0, "bytes_to_peer": 300, "bytes_to_client": 400, "allocations": 1},
    {"period": "2026-11-21", "user": "dave", "calls": 2, "call_seconds": 2700,
     "relayed_seconds": 1215.0, "bytes_to_peer": 5000, "bytes_to_client": 6000,
     "allocations": 1}])");

  Reply nobody = UsageReport(*store_, usage_, kWindow, UsagePeriod::kDay, "zoe", false);
  ASSERT_TRUE(nobody.ok());
  ExpectJson(nobody.body["rows"], "[]");
}

// A window that starts mid-day counts the sessions from its start (s1 at 00:00 is out, s2 in)
// but takes that whole day's ledger totals: the ledger's daily rows are the finest it keeps.
TEST_F(ReportsTest, UsageWindowStartingMidDayTakesTheWholeDaysLedgerTotals) {
  Reply r =
      UsageReport(*store_, usage_, {kNov20 + kHourMs, kNov21}, UsagePeriod::kDay, "alice", false);
  ASSERT_TRUE(r.ok());
  ExpectJson(r.body["rows"], R"([
    {"period": "2026-11-20", "user": "alice", "calls": 1, "call_seconds": 300,
     "relayed_seconds": 1110.5, "bytes_to_peer": 1720, "bytes_to_client": 3040,
     "allocations": 5}])");
}

TEST_F(ReportsTest, UsageWithoutLedgerHasNullRelayFields) {
  Reply r = UsageReport(*store_, nullptr, kWindow, UsagePeriod::kDay, "", false);
  ASSERT_TRUE(r.ok());
  // Only cvadmin's (day, user) pairs: Nov20 alice bob carol, Nov21 alice dave erin fay.
  ASSERT_EQ(r.body["rows"].size(), 7u);
  ExpectJson(r.body["rows"][0], R"({"period": "2026-11-20", "user": "alice", "calls": 2,
    "call_seconds": 900, "relayed_seconds": null, "bytes_to_peer": null,
    "bytes_to_client": null, "allocations": null})");
  ExpectJson(r.body["rows"][4], R"({"period": "2026-11-21", "user": "dave", "calls": 2,
    "call_seconds": 2700, "relayed_seconds": null, "bytes_to_peer": null,
    "bytes_to_client": null, "allocations": null})");
}

TEST_F(ReportsTest, UsageCsvHasTheHeaderAndOneLinePerRow) {
  EXPECT_EQ(Csv(UsageReport(*store_, usage_, kWindow, UsagePeriod::kDay, "alice", true)),
            "period,user,calls,call_seconds,relayed_seconds,bytes_to_peer,bytes_to_client,"
            "allocations\n"
            "2026-11-20,alice,2,900,1110.5,1720,3040,5\n"
            "2026-11-21,alice,1,0,0.0,0,0,0\n");
  EXPECT_EQ(Csv(UsageReport(*store_, usage_, {kNov30, kDec2}, UsagePeriod::kMonth, "", true)),
            "period,user,calls,call_seconds,relayed_seconds,bytes_to_peer,bytes_to_client,"
            "allocations\n"
            "2026-11,zed,1,100,0.0,0,0,0\n"
            "2026-12,amy,1,200,40.0,21,22,1\n"
            "2026-12,zed,1,50,20.0,11,12,1\n");
  // Without a ledger the relay fields are empty.
  EXPECT_EQ(Csv(UsageReport(*store_, nullptr, kWindow, UsagePeriod::kDay, "alice", true)),
            "period,user,calls,call_seconds,relayed_seconds,bytes_to_peer,bytes_to_client,"
            "allocations\n"
            "2026-11-20,alice,2,900,,,,\n"
            "2026-11-21,alice,1,0,,,,\n");
  // Nothing: the header alone.
  EXPECT_EQ(Csv(UsageReport(*store_, usage_, kWindow, UsagePeriod::kDay, "zoe", true)),
            "period,user,calls,call_seconds,relayed_seconds,bytes_to_peer,bytes_to_client,"
            "allocations\n");
}

TEST_F(ReportsTest, UsageCsvQuotesAUserWithACommaOrQuote) {
  // #13: a claimless user `we,ird"one` on Dec10, 1000 ms.
  EXPECT_EQ(
      Csv(UsageReport(*store_, usage_, {kDec10, kDec10 + kDayMs}, UsagePeriod::kDay, "", true)),
      "period,user,calls,call_seconds,relayed_seconds,bytes_to_peer,bytes_to_client,"
      "allocations\n"
      "2026-12-10,\"we,ird\"\"one\",0,0,1.0,1,2,1\n");
}

// Group sessions started in the window: s7 (business, 6, connected, relayed, 1800 s), s8
// (business, 4, connected, direct, 900 s), s9 (business, 6, never connected), s11 (pro, 3,
// connected, direct, 240 s).
// calls 4, connected 3, participants 6 + 4 + 6 + 3 = 19, average 19 / 4 = 4.75, call minutes
// (1800 + 900 + 240) / 60 = 49.0, relayed 1 (s7). Relay time of group sessions: #4 (s7) 1215000
// + #10 (b1, a group call that started before the window) 90000 = 1305000 ms = 21.75 min.
// by_plan: business 3 calls, 2700 s = 45.0 min, 21.75, 16 / 3 = 5.333 -> 5.33; pro 1, 4.0, 0.0,
// 3.0. by_size, most calls first: 6 (s7, s9) = 2, then 3 and 4 with 1 each.
TEST_F(ReportsTest, GroupCallsCountsParticipantsAndRelayTime) {
  Reply r = GroupCallsReport(*store_, usage_, kWindow);
  ASSERT_TRUE(r.ok()) << r.refusal->detail;
  ExpectJson(r.body, R"({"from": 1795132800, "to": 1795305600, "calls": 4, "connected": 3,
    "participants": 19, "average_group_size": 4.75, "call_minutes": 49.0, "relayed": 1,
    "relay_minutes": 21.75,
    "by_plan": [
      {"plan": "business", "calls": 3, "call_minutes": 45.0, "relay_minutes": 21.75,
       "average_group_size": 5.33},
      {"plan": "pro", "calls": 1, "call_minutes": 4.0, "relay_minutes": 0.0,
       "average_group_size": 3.0}],
    "by_size": [{"group_size": 6, "calls": 2}, {"group_size": 3, "calls": 1},
                {"group_size": 4, "calls": 1}]})");
}

TEST_F(ReportsTest, GroupCallsWithoutLedgerOrCalls) {
  Reply r = GroupCallsReport(*store_, nullptr, kWindow);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.body["calls"], 4);
  EXPECT_TRUE(r.body["relay_minutes"].is_null());
  EXPECT_TRUE(r.body["by_plan"][0]["relay_minutes"].is_null());

  // Nov20 has no group call: the average is undefined. Its relay time is #10's, 90000 ms = 1.5
  // min, for b1 (a business group call of the day before).
  Reply none = GroupCallsReport(*store_, usage_, {kNov20, kNov21});
  ASSERT_TRUE(none.ok());
  ExpectJson(none.body, R"({"from": 1795132800, "to": 1795219200, "calls": 0, "connected": 0,
    "participants": 0, "average_group_size": null, "call_minutes": 0.0, "relayed": 0,
    "relay_minutes": 1.5, "by_plan": [
      {"plan": "business", "calls": 0, "call_minutes": 0.0, "relay_minutes": 1.5,
       "average_group_size": null}],
    "by_size": []})");
}

// The doc's reasons are always there; counts add up across sources; a reason or source outside
// the lists shows when it has a count.
TEST_F(ReportsTest, TokenHealthListsEveryKnownReasonAndEveryCountedOne) {
  std::map<std::pair<std::string, std::string>, uint64_t> counts = {
      {{"request", "skew"}, 3},   {{"request", "replay"}, 1},  {{"request", "unknown_key"}, 2},
      {{"token", "expired"}, 0},  {{"token", "not_yours"}, 5}, {{"service", "revoked_key"}, 4},
      {{"cluster", "expired"}, 1}};
  // total 3 + 1 + 2 + 5 + 4 + 1 = 16
  Reply r = TokenHealthReport(counts, 1763712000);
  ASSERT_TRUE(r.ok());
  ExpectJson(r.body, R"({"since": 1763712000,
    "reasons": {"expired": 1, "skew": 3, "replay": 1, "bad_signature": 0, "unknown_key": 2,
                "malformed": 0, "missing": 0, "not_yours": 5, "revoked_key": 4},
    "by_source": {"request": {"skew": 3, "replay": 1, "unknown_key": 2},
                  "token": {"not_yours": 5}, "service": {"revoked_key": 4},
                  "cluster": {"expired": 1}},
    "total": 16})");

  ExpectJson(TokenHealthReport({}, 1763712000).body, R"({"since": 1763712000,
    "reasons": {"expired": 0, "skew": 0, "replay": 0, "bad_signature": 0, "unknown_key": 0,
                "malformed": 0, "missing": 0, "not_yours": 0},
    "by_source": {"request": {}, "token": {}, "service": {}}, "total": 0})");
}

void ExpectStoreUnavailable(const Reply& r) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.refusal->code, code::kStoreUnavailable);
}

// A store and a ledger of this test's own, one of whose tables is dropped behind the store's back
// (SqliteDb opens a file at `version` as current), so the next read of it fails as a broken
// database would.
class ReportsFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    store_ = OpenSqliteAdminStore(dir_.path() + "/admin.db", {}, &error);
    ASSERT_TRUE(store_) << error;
    usage_ = auth::OpenSqliteUsageStore(dir_.path() + "/usage.db", {}, &error);
    ASSERT_TRUE(usage_) << error;
  }

  void DropTable(const std::string& file, int version, const char* table) {
    std::vector<const char*> current(static_cast<size_t>(version), "SELECT 1");
    std::string error;
    auto db = auth::SqliteDb::Open(dir_.path() + "/" + file, {}, current, &error);
    ASSERT_TRUE(db) << error;
    ASSERT_EQ(db->Exec((std::string("DROP TABLE ") + table).c_str()), 0) << db->ErrorMessage();
  }

  cv::testing::TempDir dir_;
  std::unique_ptr<AdminStore> store_;
  std::unique_ptr<auth::UsageStore> usage_;
};

TEST_F(ReportsFailureTest, StoreFailureIsStoreUnavailable) {
  DropTable("admin.db", kAdminSchemaVersion, "call_sessions");
  ExpectStoreUnavailable(CallQualityReport(*store_, usage_.get(), kWindow, 10));
  ExpectStoreUnavailable(CallQualityReport(*store_, nullptr, kWindow, 10));
  ExpectStoreUnavailable(UsageReport(*store_, usage_.get(), kWindow, UsagePeriod::kDay, "", false));
  ExpectStoreUnavailable(UsageReport(*store_, nullptr, kWindow, UsagePeriod::kMonth, "", true));
  ExpectStoreUnavailable(GroupCallsReport(*store_, usage_.get(), kWindow));
  ExpectStoreUnavailable(GroupCallsReport(*store_, nullptr, kWindow));
}

TEST_F(ReportsFailureTest, LedgerFailureIsStoreUnavailable) {
  DropTable("usage.db", auth::kUsageSchemaVersion, "allocations");
  ExpectStoreUnavailable(CallQualityReport(*store_, usage_.get(), kWindow, 10));
  ExpectStoreUnavailable(GroupCallsReport(*store_, usage_.get(), kWindow));
  DropTable("usage.db", auth::kUsageSchemaVersion, "usage_daily");
  ExpectStoreUnavailable(UsageReport(*store_, usage_.get(), kWindow, UsagePeriod::kDay, "", false));
}

}  // namespace
}  // namespace cv::admin
