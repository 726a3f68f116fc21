// Integration: usage metering against the real cvrelay binary and a real SQLite ledger file —
// a scripted call metered as the client sent it, kill -9 mid-call, monthly relay minutes and
// the relay-abuse guard enforced end to end, and a second writer on the same file.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "cv/auth/usage_store.h"
#include "tests/support/credentials.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/turn_client.h"

namespace cv::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr char kToken[] = "usage-control-token-0123456789";
constexpr char kSecret[] = "usage-secret-0123456789abcdef";
constexpr uint16_t kChannel = 0x4000;

// A UDP peer on loopback: receives what the relay forwards and can answer the relayed address.
class Peer {
 public:
  Peer() { fd_ = BindLoopbackUdp(&address_); }
  ~Peer() { close(fd_); }
  const SocketAddress& address() const { return address_; }
  // One datagram's size (0 on timeout).
  size_t Receive(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return 0;
    char buf[2048];
    ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    return n > 0 ? static_cast<size_t>(n) : 0;
  }
  void SendTo(const SocketAddress& to, size_t size) {
    std::vector<uint8_t> payload(size, 0x42);
    sockaddr_storage ss;
    socklen_t len = to.ToSockaddr(&ss);
    sendto(fd_, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&ss), len);
  }

 private:
  int fd_ = -1;
  SocketAddress address_;
};

class UsageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = dir_.path() + "/usage.db";
    WriteFile(dir_.path() + "/secrets", std::string("k1 ") + kSecret + "\n");
    WriteFile(dir_.path() + "/token", kToken);
  }

  // Starts (or restarts) cvrelay on the test's ledger file, checkpointing every second.
  void Start(const std::string& plans = "") {
    std::vector<std::string> args = {"--listening-ip=127.0.0.1",
                                     "--listening-port=0",
                                     "--relay-ip=127.0.0.1",
                                     "--min-port=45000",
                                     "--max-port=45999",
                                     "--relay-threads=2",
                                     "--realm=usage.test",
                                     "--allow-loopback-peers",
                                     "--auth-secrets-file=" + dir_.path() + "/secrets",
                                     "--admin-port=0",
                                     "--admin-token-file=" + dir_.path() + "/token",
                                     "--usage-db=" + db_,
                                     "--usage-checkpoint-interval=1",
                                     "--node-id=node-t"};
    if (!plans.empty()) {
      WriteFile(dir_.path() + "/plans.json", plans);
      args.push_back("--plans-file=" + dir_.path() + "/plans.json");
    }
    relay_ = std::make_unique<RelayProcess>();
    ASSERT_TRUE(relay_->Start(args)) << relay_->process().Output();
    ASSERT_TRUE(relay_->control_address()) << relay_->process().Output();
  }

  std::optional<HttpResponse> Control(const std::string& target) {
    return HttpRequest(*relay_->control_address(), "GET", target, "",
                       {{"Authorization", std::string("Bearer ") + kToken}});
  }
  json ControlJson(const std::string& target) {
    auto r = Control(target);
    EXPECT_TRUE(r && r->status == 200) << target << ": " << (r ? r->body : "no reply");
    return r ? json::parse(r->body, nullptr, false) : json();
  }

  // A connection of our own to the ledger file, as cvadmin would have.
  std::unique_ptr<auth::UsageStore> Store() {
    std::string error;
    auto store = auth::OpenSqliteUsageStore(db_, {}, &error);
    EXPECT_NE(store, nullptr) << error;
    return store;
  }
  std::vector<auth::UsageRecord> Records(const std::string& user) {
    auth::RecordFilter f;
    f.user = user;
    std::string error;
    auto records = Store()->Records(f, &error);
    EXPECT_TRUE(records) << error;
    return records.value_or(std::vector<auth::UsageRecord>{});
  }
  // Waits until `user` has a record that satisfies `done`; returns the records then.
  template <typename F>
  std::vector<auth::UsageRecord> WaitForRecords(const std::string& user, F done,
                                                milliseconds timeout = seconds(10)) {
    const auto deadline = Clock::now() + timeout;
    std::vector<auth::UsageRecord> records;
    do {
      records = Records(user);
      for (const auto& r : records) {
        if (done(r)) return records;
      }
      std::this_thread::sleep_for(milliseconds(100));
    } while (Clock::now() < deadline);
    ADD_FAILURE() << "no matching record for " << user << " in time";
    return records;
  }

  // Writes a finished earlier call of `user` from another relay, ending `ago_ms` before now.
  void SeedCall(const std::string& user, const std::string& plan, const std::string& session,
                uint64_t relayed_ms, int64_t ago_ms) {
    auth::UsageRecord r;
    r.node = "node-elsewhere";
    r.run = "0000000000000001";
    r.allocation = seeded_++;
    r.user = user;
    r.session = session;
    r.plan = plan;
    r.transport = "udp";
    r.client = "192.0.2.7:5000";
    r.last_ms = UnixNowMs() - ago_ms;
    r.start_ms = r.last_ms - static_cast<int64_t>(relayed_ms);
    r.reason = auth::EndReason::kClient;
    r.relayed_ms = relayed_ms;
    r.bytes_to_peer = relayed_ms * 8;
    r.packets_to_peer = relayed_ms / 20;
    std::string error;
    ASSERT_TRUE(Store()->Write({&r, 1}, &error)) << error;
  }

  // Allocates for `user` and binds kChannel to the peer; returns the relayed address.
  SocketAddress Call(TurnClient& client, const std::string& user, const std::string& plan,
                     const std::string& session, uint32_t* lifetime = nullptr) {
    Credential c = Mint(kSecret, "k1", user, plan, session);
    TurnClient::Reply r = client.Allocate(c.username, c.password);
    EXPECT_EQ(r.error, 0) << "Allocate for " << user;
    if (lifetime != nullptr) *lifetime = r.lifetime.value_or(0);
    EXPECT_EQ(client.ChannelBind(kChannel, peer_.address()).error, 0);
    return r.relayed.value_or(SocketAddress{});
  }

  // Sends `size`-byte ChannelData frames every 20 ms for `duration`, or until `stop` says so.
  template <typename F>
  int Stream(TurnClient& client, size_t size, milliseconds duration, F stop) {
    std::vector<uint8_t> payload(size, 0x11);
    const auto start = Clock::now();
    int sent = 0;
    for (auto next = start; Clock::now() - start < duration && !stop(); next += milliseconds(20)) {
      client.SendChannelData(kChannel, payload);
      ++sent;
      while (peer_.Receive(0) != 0) {
      }
      std::this_thread::sleep_until(next + milliseconds(20));
    }
    return sent;
  }

  TempDir dir_;
  std::string db_;
  Peer peer_;
  std::unique_ptr<RelayProcess> relay_;
  uint64_t seeded_ = 1;
};

TEST_F(UsageTest, AScriptedCallIsMeteredAsTheClientSentIt) {
  Start();
  TurnClient client(relay_->address());
  const SocketAddress relayed = Call(client, "uma", "pro", "call-1");
  constexpr int kPackets = 250;  // 5 s of 20 ms frames
  constexpr size_t kUp = 160, kDown = 100;
  std::vector<uint8_t> payload(kUp, 0x33);
  int received_by_peer = 0, received_by_client = 0;
  Clock::time_point first, last;
  auto next = Clock::now();
  for (int i = 0; i < kPackets; ++i) {
    const auto now = Clock::now();
    if (i == 0) first = now;
    last = now;
    client.SendChannelData(kChannel, payload);
    if (peer_.Receive(1000) == kUp) ++received_by_peer;
    peer_.SendTo(relayed, kDown);
    if (auto data = client.Receive(1000); data && data->size() == 4 + kDown) ++received_by_client;
    next += milliseconds(20);
    std::this_thread::sleep_until(next);
  }
  ASSERT_EQ(client.Refresh(0).error, 0);
  const double sent_ms = std::chrono::duration<double, std::milli>(last - first).count();
  ASSERT_EQ(received_by_peer, kPackets) << "loopback should lose nothing";
  ASSERT_EQ(received_by_client, kPackets);

  auto records = WaitForRecords("uma", [](const auth::UsageRecord& r) { return r.ended(); });
  ASSERT_EQ(records.size(), 1u) << "one record per allocation";
  const auth::UsageRecord& r = records[0];
  EXPECT_EQ(r.reason, auth::EndReason::kClient);
  EXPECT_EQ(r.node, "node-t");
  EXPECT_EQ(r.session, "call-1");
  EXPECT_EQ(r.plan, "pro");
  EXPECT_EQ(r.peers, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(r.bytes_to_peer, kPackets * kUp);
  EXPECT_EQ(r.packets_to_peer, static_cast<uint64_t>(kPackets));
  EXPECT_EQ(r.bytes_to_client, kPackets * kDown);
  EXPECT_EQ(r.packets_to_client, static_cast<uint64_t>(kPackets));
  EXPECT_NEAR(static_cast<double>(r.relayed_ms), sent_ms, sent_ms * 0.01)
      << "relayed time within 1% of the time the client sent for";

  // The same figures through the control endpoint's aggregates.
  json user = ControlJson("/v1/usage/users/uma");
  EXPECT_EQ(user["month"]["relayed_ms"], r.relayed_ms);
  EXPECT_EQ(user["day"]["bytes_to_peer"], r.bytes_to_peer);
  EXPECT_EQ(user["last_24h"]["calls"], 1);
  json session = ControlJson("/v1/usage/sessions/call-1");
  EXPECT_EQ(session["relayed_ms"], r.relayed_ms);
  EXPECT_EQ(session["allocations"], 1);
}

TEST_F(UsageTest, KillNineLosesAtMostOneCheckpointAndTheRecordIsClosedAtRestart) {
  Start();
  TurnClient client(relay_->address());
  Call(client, "kim", "pro", "call-k");
  const int sent = Stream(client, 200, milliseconds(3500), [] { return false; });
  relay_->process().Signal(SIGKILL);
  ASSERT_TRUE(relay_->process().Wait(seconds(5)));

  auto before = Records("kim");
  ASSERT_EQ(before.size(), 1u);
  EXPECT_FALSE(before[0].ended()) << "nobody closed it";
  const uint64_t sent_bytes = static_cast<uint64_t>(sent) * 200;
  EXPECT_LE(before[0].bytes_to_peer, sent_bytes);
  // One checkpoint interval (1 s = 50 frames) plus the worker's 250 ms timer tick.
  EXPECT_GE(before[0].bytes_to_peer, sent_bytes - 63 * 200);
  EXPECT_GE(before[0].relayed_ms, 3500u - 1250u);

  Start();
  ASSERT_TRUE(relay_->process().WaitForOutput("interrupted_closed=1", seconds(2)))
      << relay_->process().Output();
  auto after = Records("kim");
  ASSERT_EQ(after.size(), 1u) << "no duplicate";
  EXPECT_EQ(after[0].reason, auth::EndReason::kInterrupted);
  EXPECT_EQ(after[0].bytes_to_peer, before[0].bytes_to_peer);
  EXPECT_EQ(after[0].relayed_ms, before[0].relayed_ms);
  json user = ControlJson("/v1/usage/users/kim");
  EXPECT_EQ(user["month"]["relayed_ms"], before[0].relayed_ms) << "counted once";
  EXPECT_EQ(user["month"]["allocations"], 1);
}

// A Trial-like plan with one relay minute a month and no abuse guard.
constexpr char kOneMinutePlans[] = R"({"version": 1, "plans": {"trial": {"relay": {
  "monthly_relay_minutes": 1, "abuse_guard": {"enabled": false}}}}})";

TEST_F(UsageTest, AUsedUpMonthEndsTheLiveCallWithinACheckpointAndRefusesTheNextWith486) {
  SeedCall("quinn", "trial", "earlier", 56'000, 3'600'000);  // 56 of 60 s used
  Start(kOneMinutePlans);
  TurnClient client(relay_->address());
  Call(client, "quinn", "trial", "now");
  auto ended = [&] {
    auto rs = Records("quinn");
    for (const auto& r : rs) {
      if (r.session == "now" && r.ended()) return true;
    }
    return false;
  };
  Stream(client, 100, seconds(12), ended);
  auto records = Records("quinn");
  const auth::UsageRecord* now = nullptr;
  for (const auto& r : records) {
    if (r.session == "now") now = &r;
  }
  ASSERT_NE(now, nullptr);
  EXPECT_EQ(now->reason, auth::EndReason::kQuota);
  // The month ran out after 4 s of relaying; the call ended within one checkpoint (1 s) and a
  // timer tick after that.
  EXPECT_GE(now->relayed_ms, 4000u);
  EXPECT_LE(now->relayed_ms, 4000u + 1500u);

  TurnClient next(relay_->address());
  Credential c = Mint(kSecret, "k1", "quinn", "trial", "later");
  EXPECT_EQ(next.Allocate(c.username, c.password).error, 486);
  json counters = ControlJson("/v1/counters")["counters"];
  EXPECT_EQ(counters["allocations_ended_quota"], 1);
  EXPECT_EQ(counters["quota_monthly_relay_minutes"], 1);
  json user = ControlJson("/v1/usage/users/quinn");
  EXPECT_EQ(user["effective"]["monthly_quota_exhausted"], true);
  EXPECT_EQ(user["effective"]["monthly_relay_minutes"], 1);
}

TEST_F(UsageTest, AUsedUpMonthIsKnownAtStartBeforeAnyTraffic) {
  SeedCall("rita", "trial", "earlier", 61'000, 60'000);
  Start(kOneMinutePlans);
  TurnClient client(relay_->address());
  Credential c = Mint(kSecret, "k1", "rita", "trial", "s");
  EXPECT_EQ(client.Allocate(c.username, c.password).error, 486);
}

// Trial with the abuse guard capping calls at 3 s (instead of 5 minutes) so the test is short.
constexpr char kGuardPlans[] = R"({"version": 1, "plans": {"trial": {"relay": {
  "monthly_relay_minutes": 0, "abuse_guard": {"enabled": true, "relayed_calls": 2,
  "window_s": 86400, "capped_duration_s": 3, "penalty_s": 604800}}}}})";

TEST_F(UsageTest, ASecondRelayedCallWithin24HoursPutsTheUserUnderTheAbuseGuard) {
  SeedCall("gus", "trial", "call-a", 30'000, 3'600'000);  // one relayed call an hour ago
  Start(kGuardPlans);
  TurnClient client(relay_->address());
  uint32_t lifetime = 0;
  Call(client, "gus", "trial", "call-b", &lifetime);
  EXPECT_EQ(lifetime, 600u) << "not guarded yet";
  auto ended = [&] {
    for (const auto& r : Records("gus")) {
      if (r.session == "call-b" && r.ended()) return true;
    }
    return false;
  };
  Stream(client, 100, seconds(10), ended);
  const auth::UsageRecord* b = nullptr;
  auto records = Records("gus");
  for (const auto& r : records) {
    if (r.session == "call-b") b = &r;
  }
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->reason, auth::EndReason::kDurationCap);
  EXPECT_LE(b->last_ms - b->start_ms, 3000 + 500) << "capped at 3 s from its creation";

  json user = ControlJson("/v1/usage/users/gus");
  ASSERT_TRUE(user["abuse_guard"].is_object()) << user.dump();
  EXPECT_EQ(user["abuse_guard"]["capped_duration_s"], 3);
  EXPECT_EQ(user["abuse_guard"]["relayed_calls"], 2);
  const int64_t until = user["abuse_guard"]["until_ms"];
  EXPECT_NEAR(static_cast<double>(until), static_cast<double>(UnixNowMs() + 604'800'000), 60'000);
  EXPECT_EQ(user["effective"]["max_call_duration_s"], 3) << "visible in the entitlements";

  TurnClient later(relay_->address());
  Credential c = Mint(kSecret, "k1", "gus", "trial", "call-c");
  TurnClient::Reply r = later.Allocate(c.username, c.password);
  ASSERT_EQ(r.error, 0);
  EXPECT_LE(r.lifetime.value_or(0), 3u);
}

TEST_F(UsageTest, AnotherWriterOnTheFileNeverSurfacesALockedDatabase) {
  Start();
  // cvadmin's stand-in: holds the write lock for 100 ms at a time, over and over.
  std::atomic<bool> stop{false};
  std::atomic<int> admin_writes{0};
  std::thread admin([&] {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(db_.c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    while (!stop) {
      if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK) {
        sqlite3_exec(db, "INSERT OR REPLACE INTO abuse_guards VALUES ('admin-probe', 1, 2, 300, 0)",
                     nullptr, nullptr, nullptr);
        std::this_thread::sleep_for(milliseconds(100));
        if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK) ++admin_writes;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    sqlite3_close(db);
  });
  TurnClient client(relay_->address());
  Call(client, "lou", "pro", "call-l");
  int reads = 0, failed_reads = 0;
  const auto start = Clock::now();
  Stream(client, 100, milliseconds(4000), [&] {
    if (Clock::now() - start > milliseconds(reads * 100)) {
      ++reads;
      auto r = Control("/v1/usage/users/lou");
      if (!r || r->status != 200) ++failed_reads;
    }
    return false;
  });
  ASSERT_EQ(client.Refresh(0).error, 0);
  stop = true;
  admin.join();
  EXPECT_GT(admin_writes.load(), 10);
  EXPECT_GT(reads, 20);
  EXPECT_EQ(failed_reads, 0);
  auto records = WaitForRecords("lou", [](const auth::UsageRecord& r) { return r.ended(); });
  ASSERT_EQ(records.size(), 1u);
  EXPECT_GT(records[0].bytes_to_peer, 0u);
  EXPECT_EQ(relay_->process().Output().find("usage.write_failed"), std::string::npos)
      << relay_->process().Output();
}

}  // namespace
}  // namespace cv::testing
