// Integration: cvrelay's /metrics as a real Prometheus server sees it. Each test starts cvrelay and
// the Debian `prometheus` binary (scraping the relay every second, with the admin token as its
// bearer credential), drives the relay with our TURN client and a UDP peer on loopback, and reads
// the outcome back through Prometheus' HTTP query API: the figures operators will chart.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/credentials.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/turn_client.h"

namespace cv::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr char kPrometheusBinary[] = "/usr/bin/prometheus";
constexpr char kSecret[] = "prometheus-test-secret-0123456789";
constexpr char kToken[] = "metrics-token-0123456789abcdef";
constexpr uint16_t kChannel = 0x4000;

// Percent-encodes everything but RFC 3986's unreserved characters (for a query string).
std::string UrlEncode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 0xF]};
    }
  }
  return out;
}

// A claims credential for `plan`, signed with the relay's static-auth-secret (no key id).
Credential MintFor(const std::string& user, const std::string& plan) {
  return Mint(kSecret, "", user, plan, "call-" + user);
}

// A UDP peer on loopback that answers each datagram it gets with `reply_size` bytes, sent back to
// where the datagram came from (the relayed address), on a thread of its own.
class EchoPeer {
 public:
  explicit EchoPeer(size_t reply_size) : reply_(reply_size, 0x5A) {
    fd_ = BindLoopbackUdp(&address_);
  }
  ~EchoPeer() {
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  const SocketAddress& address() const { return address_; }

  // Echoes up to `count` datagrams; gives up after 3 s without one.
  void Start(int count) {
    thread_ = std::thread([this, count] {
      char buf[2048];
      pollfd p{fd_, POLLIN, 0};
      for (int i = 0; i < count && poll(&p, 1, 3000) > 0; ++i) {
        sockaddr_storage from;
        socklen_t from_len = sizeof(from);
        ssize_t n =
            recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
        if (n < 0) break;
        received_bytes_ += static_cast<size_t>(n);
        sendto(fd_, reply_.data(), reply_.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
      }
    });
  }
  // Payload bytes received; waits for the thread.
  size_t Join() {
    if (thread_.joinable()) thread_.join();
    return received_bytes_;
  }

 private:
  int fd_ = -1;
  SocketAddress address_;
  std::vector<uint8_t> reply_;
  std::thread thread_;
  size_t received_bytes_ = 0;
};

class PrometheusTest : public ::testing::Test {
 protected:
  // What a scripted call sent, to compare with what Prometheus reports.
  struct Call {
    int packets = 0;            // each way
    size_t to_peer = 0;         // payload bytes per packet, client to peer
    size_t to_client = 0;       // and back
    double wall_s = 0;          // from the first packet to the end of the allocation
    int64_t ended_unix_ms = 0;  // just before the Refresh with lifetime 0
  };

  void SetUp() override {
    if (access(kPrometheusBinary, X_OK) != 0) {
      GTEST_SKIP() << kPrometheusBinary
                   << " is missing: scripts/setup.sh installs the Debian prometheus package "
                      "(CI runs this test)";
    }
    token_file_ = dir_.Write("admin-token", kToken);
    chmod(token_file_.c_str(), 0600);
  }

  void TearDown() override {
    if (prometheus_) {
      prometheus_->Signal(SIGTERM);
      if (!prometheus_->Wait(seconds(5))) prometheus_->Kill();
    }
  }

  // cvrelay with /metrics on its control listener (behind the admin token), then Prometheus
  // scraping it with that token.
  void StartWithToken() {
    ASSERT_NO_FATAL_FAILURE(StartRelay({"--admin-port=0", "--admin-token-file=" + token_file_}));
    ASSERT_TRUE(relay_.control_address()) << relay_.process().Output();
    EXPECT_FALSE(relay_.metrics_address()) << "/metrics shares the control listener";
    ASSERT_NO_FATAL_FAILURE(StartPrometheus(*relay_.control_address(), /*bearer=*/true));
  }

  void StartRelay(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--listening-ip=127.0.0.1",
                                     "--listening-port=0",
                                     "--relay-ip=127.0.0.1",
                                     "--min-port=46000",
                                     "--max-port=46999",
                                     "--relay-threads=2",
                                     "--realm=prom.test",
                                     "--allow-loopback-peers",
                                     "--use-auth-secret",
                                     std::string("--static-auth-secret=") + kSecret,
                                     "--prometheus"};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(relay_.Start(args)) << relay_.process().Output();
  }

  // Starts Prometheus scraping `target` every second as job "cvrelay", and waits until it is
  // ready. A port taken between FreeTcpPort() and Prometheus' bind gets another try.
  void StartPrometheus(const SocketAddress& target, bool bearer) {
    std::string config =
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "scrape_configs:\n"
        "  - job_name: cvrelay\n"
        "    metrics_path: /metrics\n";
    if (bearer) {
      config +=
          "    authorization:\n"
          "      type: Bearer\n"
          "      credentials_file: " +
          token_file_ + "\n";
    }
    config += "    static_configs:\n      - targets: [\"" + target.ToString() + "\"]\n";
    const std::string config_file = dir_.Write("prometheus.yml", config);
    for (int attempt = 0; attempt < 3; ++attempt) {
      prometheus_address_ = *SocketAddress::Parse("127.0.0.1", FreeTcpPort());
      prometheus_.emplace();
      ASSERT_TRUE(prometheus_->Start({kPrometheusBinary, "--config.file=" + config_file,
                                      "--storage.tsdb.path=" + dir_.path() + "/data",
                                      "--web.listen-address=" + prometheus_address_.ToString(),
                                      "--log.level=warn"}));
      const auto deadline = Clock::now() + seconds(20);
      while (Clock::now() < deadline && prometheus_->running()) {
        auto ready = HttpRequest(prometheus_address_, "GET", "/-/ready", "", {}, seconds(1));
        if (ready && ready->status == 200) return;
        std::this_thread::sleep_for(milliseconds(50));
      }
      if (prometheus_->running()) break;  // up but never ready: no point in another port
    }
    FAIL() << "prometheus did not become ready within 20 s:\n" << prometheus_->Output();
  }

  // The value of an instant query that selects exactly one series; nullopt otherwise (the body
  // is kept in last_answer_ for the failure message).
  std::optional<double> Query(const std::string& promql) {
    auto r = HttpRequest(prometheus_address_, "GET", "/api/v1/query?query=" + UrlEncode(promql), "",
                         {}, seconds(2));
    if (!r) {
      last_answer_ = "(no answer from prometheus)";
      return std::nullopt;
    }
    last_answer_ = r->body;
    nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
    if (j.is_discarded() || j.value("status", "") != "success") return std::nullopt;
    const nlohmann::json& result = j["data"]["result"];
    if (!result.is_array() || result.size() != 1) return std::nullopt;
    const nlohmann::json& value = result[0]["value"];  // [unix time, "value"]
    if (!value.is_array() || value.size() != 2 || !value[1].is_string()) return std::nullopt;
    return std::stod(value[1].get<std::string>());
  }

  // Polls `promql` until `done` holds for its value; returns the last value seen, -1 when there
  // never was one. One 15 s deadline, from the test's first Await, bounds them all: Prometheus'
  // first scrape comes some 6 s after it starts (its target discovery hands over targets every
  // 5 s), then one every second; once the deadline has passed, an Await queries once.
  double Await(const std::string& promql, const std::function<bool(double)>& done) {
    if (!poll_deadline_) poll_deadline_ = Clock::now() + seconds(15);
    std::optional<double> v;
    for (;;) {
      v = Query(promql);
      if ((v && done(*v)) || Clock::now() >= *poll_deadline_) break;
      std::this_thread::sleep_for(milliseconds(200));
    }
    return v.value_or(-1);
  }
  double AwaitEq(const std::string& promql, double want) {
    return Await(promql, [want](double v) { return v == want; });
  }
  double AwaitAtLeast(const std::string& promql, double min) {
    return Await(promql, [min](double v) { return v >= min; });
  }

  // A relayed call: Allocate, ChannelBind to a UDP peer on loopback, `packets` ChannelData
  // messages of 160 payload bytes 10 ms apart, each answered by the peer with 120 bytes, then
  // Refresh with lifetime 0.
  void RelayCall(const Credential& credential, int packets, Call* call) {
    call->packets = packets;
    call->to_peer = 160;
    call->to_client = 120;
    EchoPeer peer(call->to_client);
    TurnClient client(relay_.address());
    ASSERT_EQ(client.Allocate(credential.username, credential.password).error, 0);
    ASSERT_EQ(client.ChannelBind(kChannel, peer.address()).error, 0);
    peer.Start(packets);

    std::vector<uint8_t> frame(4 + call->to_peer, 0xA5);
    frame[0] = kChannel >> 8;
    frame[1] = kChannel & 0xFF;
    frame[2] = static_cast<uint8_t>(call->to_peer >> 8);
    frame[3] = static_cast<uint8_t>(call->to_peer);
    const auto start = Clock::now();
    for (int i = 0; i < packets; ++i) {
      // SendRaw returns the next datagram: the peer's answer, relayed as ChannelData.
      auto echo = client.SendRaw(frame, 2000);
      ASSERT_TRUE(echo) << "no answer to packet " << i;
      ASSERT_GE(echo->size(), 4 + call->to_client);
      EXPECT_EQ(((*echo)[0] << 8) | (*echo)[1], kChannel);
      EXPECT_EQ(static_cast<size_t>(((*echo)[2] << 8) | (*echo)[3]), call->to_client);
      std::this_thread::sleep_for(milliseconds(10));
    }
    EXPECT_EQ(peer.Join(), static_cast<size_t>(packets) * call->to_peer);
    call->ended_unix_ms = UnixNowMs();
    ASSERT_EQ(client.Refresh(0).error, 0);
    call->wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  }

  TempDir dir_;  // declared first: removed after both processes are gone
  std::string token_file_;
  RelayProcess relay_;
  std::optional<Process> prometheus_;
  SocketAddress prometheus_address_;
  std::string last_answer_;
  std::optional<Clock::time_point> poll_deadline_;
};

TEST_F(PrometheusTest, ProCallIsCountedByPlanDirectionAndEndReason) {
  ASSERT_NO_FATAL_FAILURE(StartWithToken());
  Call call;
  ASSERT_NO_FATAL_FAILURE(RelayCall(MintFor("paula", "pro"), 20, &call));

  const double packets = call.packets;
  const double bytes_to_peer = packets * static_cast<double>(call.to_peer);
  const double bytes_to_client = packets * static_cast<double>(call.to_client);

  // The end reason first: the scrape that sees it also sees the finished call's traffic.
  EXPECT_EQ(AwaitEq(R"(cvrelay_allocations_ended_total{reason="client"})", 1), 1) << last_answer_;
  EXPECT_EQ(
      AwaitEq(R"(cvrelay_relayed_bytes_total{plan="pro",direction="to_peer"})", bytes_to_peer),
      bytes_to_peer)
      << last_answer_;
  EXPECT_EQ(
      AwaitEq(R"(cvrelay_relayed_bytes_total{plan="pro",direction="to_client"})", bytes_to_client),
      bytes_to_client)
      << last_answer_;
  EXPECT_EQ(AwaitEq(R"(cvrelay_relayed_packets_total{plan="pro",direction="to_peer"})", packets),
            packets)
      << last_answer_;
  EXPECT_EQ(AwaitEq(R"(cvrelay_relayed_packets_total{plan="pro",direction="to_client"})", packets),
            packets)
      << last_answer_;
  EXPECT_EQ(AwaitEq(R"(cvrelay_allocations_created_total{plan="pro",transport="udp"})", 1), 1)
      << last_answer_;
  // Relay time: the packets flowed for about packets x 10 ms, never longer than the call.
  const double relayed_s =
      Await(R"(cvrelay_relayed_seconds_total{plan="pro"})", [](double v) { return v > 0; });
  EXPECT_GT(relayed_s, 0) << last_answer_;
  EXPECT_LE(relayed_s, call.wall_s) << last_answer_;
  // The workers' own figures add up to the same packets.
  EXPECT_EQ(AwaitEq(R"(sum(cvrelay_worker_relayed_packets_total{direction="to_peer"}))", packets),
            packets)
      << last_answer_;
  // No other end reason and no refusal.
  EXPECT_EQ(AwaitEq("sum(cvrelay_allocations_ended_total)", 1), 1) << last_answer_;
  EXPECT_EQ(AwaitEq("sum(cvrelay_allocations_refused_total)", 0), 0) << last_answer_;
}

TEST_F(PrometheusTest, FreePlanRefusalIsCountedAndTheBearerScrapeIsUp) {
  ASSERT_NO_FATAL_FAILURE(StartWithToken());
  TurnClient client(relay_.address());
  const Credential free_user = MintFor("fred", "free");
  ASSERT_EQ(client.Allocate(free_user.username, free_user.password).error, 403);

  EXPECT_EQ(AwaitEq(R"(up{job="cvrelay"})", 1), 1) << last_answer_;
  EXPECT_EQ(AwaitEq(R"(cvrelay_auth_results_total{result="plan_may_not_relay"})", 1), 1)
      << last_answer_;
  // A refused credential creates nothing, for any plan.
  EXPECT_EQ(AwaitEq("sum(cvrelay_allocations_created_total) or vector(0)", 0), 0) << last_answer_;
}

TEST_F(PrometheusTest, BindingRequestsAreCounted) {
  ASSERT_NO_FATAL_FAILURE(StartWithToken());
  TurnClient client(relay_.address());
  for (int i = 0; i < 3; ++i) {
    TurnClient::Reply reply = client.Binding();
    ASSERT_EQ(reply.error, 0);
    ASSERT_TRUE(reply.mapped);
    EXPECT_EQ(reply.mapped->port, client.local().port);
  }
  EXPECT_EQ(AwaitEq("cvrelay_stun_binding_requests_total", 3), 3) << last_answer_;
  EXPECT_EQ(AwaitEq(R"(cvrelay_requests_total{method="binding"})", 3), 3) << last_answer_;
}

TEST_F(PrometheusTest, EndedAllocationIsCommittedToTheLedger) {
  ASSERT_NO_FATAL_FAILURE(StartWithToken());
  Call call;
  ASSERT_NO_FATAL_FAILURE(RelayCall(MintFor("lena", "pro"), 3, &call));

  // Nothing is written before an allocation ends (or a 10 s checkpoint), so a commit after the
  // Refresh is this allocation's final record.
  EXPECT_GE(AwaitAtLeast("cvrelay_ledger_commits_total", 1), 1) << last_answer_;
  EXPECT_GE(AwaitAtLeast("cvrelay_ledger_records_written_total", 1), 1) << last_answer_;
  EXPECT_GE(AwaitAtLeast("cvrelay_ledger_last_commit_timestamp_seconds",
                         static_cast<double>(call.ended_unix_ms) / 1000.0),
            static_cast<double>(call.ended_unix_ms) / 1000.0)
      << last_answer_;
  EXPECT_EQ(AwaitEq("cvrelay_ledger_queued_records", 0), 0) << last_answer_;
  EXPECT_EQ(AwaitEq("cvrelay_ledger_write_errors_total", 0), 0) << last_answer_;
}

TEST_F(PrometheusTest, MetricsListenerWithoutAdminTokenIsScrapedWithoutAuthorization) {
  const uint16_t port = FreeTcpPort();
  ASSERT_NO_FATAL_FAILURE(StartRelay({"--prometheus-port=" + std::to_string(port)}));
  EXPECT_FALSE(relay_.control_address()) << "no admin token, no control API";
  ASSERT_TRUE(relay_.metrics_address()) << relay_.process().Output();
  EXPECT_EQ(relay_.metrics_address()->port, port);
  ASSERT_NO_FATAL_FAILURE(StartPrometheus(*relay_.metrics_address(), /*bearer=*/false));

  EXPECT_EQ(AwaitEq(R"(up{job="cvrelay"})", 1), 1) << last_answer_;
  EXPECT_EQ(AwaitEq("cvrelay_build_info", 1), 1) << last_answer_;
}

}  // namespace
}  // namespace cv::testing
