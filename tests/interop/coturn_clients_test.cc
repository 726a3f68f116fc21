// Interop: a real cvrelay driven by coturn's own clients (Debian package `coturn`):
// turnutils_stunclient, and turnutils_uclient relaying to turnutils_peer, in the modes WebRTC
// stacks and operators rely on. Every relayed message must come back: 0 lost.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/uclient.h"

namespace cv::testing {
namespace {

using std::chrono::seconds;

constexpr char kSecret[] = "interop-secret-4f1e";
constexpr char kRealm[] = "interop.test";

bool HaveCoturnClients() {
  return access("/usr/bin/turnutils_uclient", X_OK) == 0 &&
         access("/usr/bin/turnutils_peer", X_OK) == 0 &&
         access("/usr/bin/turnutils_stunclient", X_OK) == 0;
}

bool HaveIpv6Loopback() {
  int fd = socket(AF_INET6, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  auto a = SocketAddress::Parse("[::1]:0");
  sockaddr_storage ss;
  socklen_t len = a->ToSockaddr(&ss);
  bool ok = bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0;
  close(fd);
  return ok;
}

class CoturnClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveCoturnClients())
      GTEST_SKIP() << "coturn's clients are not installed (scripts/setup.sh)";
  }

  void StartRelay(std::vector<std::string> extra = {}, bool rest = true) {
    std::vector<std::string> args = {"--listening-ip=127.0.0.1", "--listening-port=0",
                                     "--relay-ip=127.0.0.1",     "--min-port=42000",
                                     "--max-port=42999",         "--realm=" + std::string(kRealm),
                                     "--relay-threads=2",        "--unauth-rate=0"};
    if (rest) {
      args.push_back("--use-auth-secret");
      args.push_back("--static-auth-secret=" + std::string(kSecret));
    }
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(relay_.Start(args)) << relay_.process().Output();
  }

  void StartPeer(const char* ip = "127.0.0.1") {
    peer_port_ = FreeUdpPort(ip);
    ASSERT_TRUE(
        peer_.Start({"/usr/bin/turnutils_peer", "-L", ip, "-p", std::to_string(peer_port_)}));
    usleep(200 * 1000);
  }

  RunResult Uclient(std::vector<std::string> flags, const char* peer_ip = "127.0.0.1") {
    std::vector<std::string> argv = {"/usr/bin/turnutils_uclient"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    for (const std::string& f :
         {std::string("-e"), std::string(peer_ip), std::string("-r"), std::to_string(peer_port_),
          std::string("-p"), std::to_string(relay_.port())}) {
      argv.push_back(f);
    }
    argv.push_back("127.0.0.1");
    return RunCommand(argv, std::chrono::seconds(60));
  }

  // Several clients, hundreds of messages, nothing lost.
  void ExpectLossless(const RunResult& r, long min_messages) {
    ASSERT_FALSE(r.timed_out) << r.output.substr(r.output.size() > 3000 ? r.output.size() - 3000
                                                                        : 0);
    UclientStats s = ParseUclient(r.output);
    EXPECT_GE(s.sent, min_messages)
        << r.output.substr(r.output.size() > 3000 ? r.output.size() - 3000 : 0);
    EXPECT_EQ(s.received, s.sent);
    EXPECT_EQ(s.lost, 0);
    EXPECT_TRUE(relay_.process().running()) << relay_.process().Output();
  }

  // uclient could not allocate and relayed nothing. It does not print the code, so the relay's
  // log says why it answered 401.
  void ExpectAuthRefused(const RunResult& r, const std::string& reason) {
    EXPECT_LE(ParseUclient(r.output).received, 0) << r.output;
    EXPECT_NE(r.output.find("Cannot complete Allocation"), std::string::npos) << r.output;
    EXPECT_NE(relay_.process().Output().find("auth.refused reason=" + reason), std::string::npos)
        << relay_.process().Output();
  }

  RelayProcess relay_;
  Process peer_;
  uint16_t peer_port_ = 0;
};

TEST_F(CoturnClientsTest, StunClientGetsItsReflexiveAddress) {
  StartRelay();
  RunResult r = RunCommand(
      {"/usr/bin/turnutils_stunclient", "-p", std::to_string(relay_.port()), "127.0.0.1"},
      std::chrono::seconds(20));
  ASSERT_FALSE(r.timed_out);
  EXPECT_NE(r.output.find("UDP reflexive addr: 127.0.0.1:"), std::string::npos) << r.output;
}

TEST_F(CoturnClientsTest, DefaultModeRtpRtcpPairsWithEvenPortRelayLosslessly) {
  StartRelay({"--allow-loopback-peers"});
  StartPeer();
  ExpectLossless(Uclient({"-W", kSecret, "-m", "4", "-n", "200", "-l", "120", "-z", "5"}), 800);
}

TEST_F(CoturnClientsTest, NoRtcpModeRelaysLosslessly) {
  StartRelay({"--allow-loopback-peers"});
  StartPeer();
  ExpectLossless(Uclient({"-W", kSecret, "-c", "-m", "5", "-n", "200", "-z", "5"}), 1000);
}

TEST_F(CoturnClientsTest, SendIndicationModeRelaysLosslessly) {
  StartRelay({"--allow-loopback-peers"});
  StartPeer();
  ExpectLossless(Uclient({"-W", kSecret, "-s", "-c", "-m", "4", "-n", "200", "-z", "5"}), 800);
}

TEST_F(CoturnClientsTest, ClientToClientThroughTwoAllocationsIsLossless) {
  StartRelay({"--allow-loopback-peers"});
  StartPeer();
  ExpectLossless(Uclient({"-W", kSecret, "-y", "-c", "-m", "4", "-n", "200", "-z", "5"}), 800);
}

TEST_F(CoturnClientsTest, ExtraPermissionAndChannelRequestsAreLossless) {
  StartRelay({"--allow-loopback-peers"});
  StartPeer();
  ExpectLossless(Uclient({"-W", kSecret, "-G", "-m", "4", "-n", "200", "-z", "5"}), 800);
}

TEST_F(CoturnClientsTest, DontFragmentAndFingerprintAreAccepted) {
  StartRelay({"--allow-loopback-peers", "--fingerprint"});
  StartPeer();
  ExpectLossless(Uclient({"-W", kSecret, "-g", "-c", "-m", "3", "-n", "200", "-z", "5"}), 600);
}

TEST_F(CoturnClientsTest, Ipv6RelayAddressRelaysLosslessly) {
  if (!HaveIpv6Loopback()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  StartRelay({"--allow-loopback-peers", "--relay-ip=::1"});
  StartPeer("::1");
  ExpectLossless(Uclient({"-W", kSecret, "-x", "-c", "-m", "3", "-n", "200", "-z", "5"}, "::1"),
                 600);
}

TEST_F(CoturnClientsTest, WrongSecretIsRefusedAndRelaysNothing) {
  StartRelay({"--allow-loopback-peers"});
  StartPeer();
  RunResult r = Uclient({"-W", "not-the-secret", "-c", "-m", "1", "-n", "20"});
  // uclient keeps retrying with the wrong key; after auth-failure-limit (10) failures its
  // address is banned and it gets 403 instead of 401.
  EXPECT_LE(ParseUclient(r.output).received, 0) << r.output;
  const std::string log = relay_.process().Output();
  EXPECT_NE(log.find("auth.refused reason=integrity"), std::string::npos) << log;
  EXPECT_NE(log.find("auth.banned scope=source"), std::string::npos) << log;
  EXPECT_NE(r.output.find("error 403"), std::string::npos) << r.output;
}

TEST_F(CoturnClientsTest, ExpiredRestCredentialIsRefusedWith401) {
  StartRelay({"--allow-loopback-peers"});
  StartPeer();
  std::string username = std::to_string(time(nullptr) - 60) + ":expired-user";
  RunResult r =
      Uclient({"-u", username, "-w", RestPassword(kSecret, username), "-c", "-m", "1", "-n", "20"});
  ExpectAuthRefused(r, "expired");
}

TEST_F(CoturnClientsTest, LoopbackPeerIsRefusedWith403ByDefault) {
  StartRelay();  // no allow-loopback-peers: 127.0.0.1 is not a peer anyone may reach
  StartPeer();
  RunResult r = Uclient({"-W", kSecret, "-c", "-m", "1", "-n", "20"});
  UclientStats s = ParseUclient(r.output);
  EXPECT_LE(s.received, 0) << r.output;
  EXPECT_NE(r.output.find("403"), std::string::npos) << r.output;
}

TEST_F(CoturnClientsTest, StaticLongTermUserRelaysLosslessly) {
  StartRelay({"--allow-loopback-peers", "--lt-cred-mech", "--user=operator:op-pass"},
             /*rest=*/false);
  StartPeer();
  ExpectLossless(
      Uclient({"-u", "operator", "-w", "op-pass", "-c", "-m", "2", "-n", "200", "-z", "5"}), 400);
}

// ---------------------------------------------------------------------------------------------
// Entitlement-aware credentials, minted by `cvctl mint`, in coturn's clients and in coturn itself.

struct Minted {
  std::string username, credential;
};

Minted CvctlMint(std::vector<std::string> flags) {
  std::vector<std::string> argv = {BinaryPath("cvctl"), "mint", "--secret", kSecret};
  argv.insert(argv.end(), flags.begin(), flags.end());
  RunResult r = RunCommand(argv, seconds(10));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output, nullptr, false);
  if (j.is_discarded()) return {};
  return {j["username"].get<std::string>(), j["credential"].get<std::string>()};
}

TEST_F(CoturnClientsTest, FreePlanCredentialGets403FromCvrelay) {
  StartRelay({"--allow-loopback-peers"});
  StartPeer();
  Minted m = CvctlMint({"--user", "fiona", "--plan", "free", "--ttl", "600"});
  RunResult r = Uclient({"-u", m.username, "-w", m.credential, "-c", "-m", "1", "-n", "20"});
  EXPECT_LE(ParseUclient(r.output).received, 0) << r.output;
  EXPECT_NE(r.output.find("error 403"), std::string::npos) << r.output;
  EXPECT_NE(relay_.process().Output().find("reason=plan_may_not_relay"), std::string::npos)
      << relay_.process().Output();
  EXPECT_EQ(relay_.process().Output().find("allocation.created"), std::string::npos);
}

TEST_F(CoturnClientsTest, TrialAndProCredentialsRelayLosslessly) {
  StartRelay({"--allow-loopback-peers"});
  StartPeer();
  for (const char* plan : {"trial", "pro"}) {
    Minted m = CvctlMint({"--user", "paula", "--plan", plan, "--video", "--group", "6"});
    ExpectLossless(
        Uclient({"-u", m.username, "-w", m.credential, "-c", "-m", "3", "-n", "200", "-z", "5"}),
        600);
  }
}

TEST_F(CoturnClientsTest, StockCoturnAcceptsTheSameCredential) {
  // coturn checks only the expiry and the HMAC of a REST username, so a CallVault credential
  // with claims works there unchanged.
  const uint16_t port = FreeUdpPort();
  Process coturn;
  ASSERT_TRUE(coturn.Start(
      {"/usr/bin/turnserver", "-n", "--listening-ip=127.0.0.1",
       "--listening-port=" + std::to_string(port), "--relay-ip=127.0.0.1", "--min-port=41000",
       "--max-port=41999", "--use-auth-secret", "--static-auth-secret=" + std::string(kSecret),
       "--realm=" + std::string(kRealm), "--allow-loopback-peers", "--no-tls", "--no-dtls",
       "--no-tcp", "--no-cli", "--log-file=stdout", "--simple-log"}));
  ASSERT_TRUE(coturn.WaitForOutput("Total General servers", seconds(10)) ||
              coturn.WaitForOutput("listener opened on", seconds(1)))
      << coturn.Output();
  StartPeer();
  Minted m = CvctlMint({"--user", "carla", "--plan", "pro", "--session", "c1", "--kid", "k1"});
  std::vector<std::string> argv = {"/usr/bin/turnutils_uclient",
                                   "-u",
                                   m.username,
                                   "-w",
                                   m.credential,
                                   "-c",
                                   "-m",
                                   "2",
                                   "-n",
                                   "100",
                                   "-z",
                                   "5",
                                   "-e",
                                   "127.0.0.1",
                                   "-r",
                                   std::to_string(peer_port_),
                                   "-p",
                                   std::to_string(port),
                                   "127.0.0.1"};
  RunResult r = RunCommand(argv, seconds(60));
  UclientStats s = ParseUclient(r.output);
  EXPECT_GE(s.sent, 200) << r.output << coturn.Output();
  EXPECT_EQ(s.received, s.sent);
  EXPECT_EQ(s.lost, 0);
}

}  // namespace
}  // namespace cv::testing
