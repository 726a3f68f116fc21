// Interop over streams and DTLS: a real cvrelay driven by clients we did not write. coturn's
// turnutils_uclient speaks TURN over TCP, TLS and DTLS (RFC 8656 §§6.2, 12.5) relaying to
// turnutils_peer, and RFC 6062 TCP relays between its own clients; the system's
// `openssl s_client` checks the certificate and protocol versions the TLS listeners serve.
// Every relayed message must come back: 0 lost.
//
// How uclient's RFC 6062 modes reach their peers (found against coturn 4.6.1):
//   -T  no turnutils_peer: uclient pairs its own clients. Each allocates a TCP relay, grants
//       permission to the other's relayed address, one sends Connect to the other's relayed
//       address (the relay connects to itself over loopback), the other accepts the
//       ConnectionAttempt; both then ConnectionBind a data connection.
//   -P  no turnutils_peer either: uclient's "active peer" is a plain TCP socket of its own that
//       connects straight to the relayed address; the allocation's client accepts the
//       ConnectionAttempt. Against coturn 4.6.1 half the messages never come back, so that test
//       first runs coturn and skips when coturn fails too.
#include <gtest/gtest.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/tls_files.h"
#include "tests/support/tls_stun_client.h"
#include "tests/support/uclient.h"

namespace cv::testing {
namespace {

using std::chrono::seconds;

constexpr char kSecret[] = "stream-interop-secret-7a2c";
constexpr char kRealm[] = "interop.test";
constexpr char kUclient[] = "/usr/bin/turnutils_uclient";
constexpr char kPeer[] = "/usr/bin/turnutils_peer";
constexpr char kTurnserver[] = "/usr/bin/turnserver";
constexpr char kServerCn[] = "relay.interop.test";
// Relay ports above the kernel's ephemeral range (32768-60999 here), so a busy machine's client
// sockets never hold them.
constexpr char kMinRelayPort[] = "--min-port=63000";
constexpr char kMaxRelayPort[] = "--max-port=63999";

std::string Tail(const std::string& s, size_t n = 3000) {
  return s.substr(s.size() > n ? s.size() - n : 0);
}

// turnutils_uclient `flags` against 127.0.0.1:`server_port`, relaying to turnutils_peer on
// 127.0.0.1:`peer_port` when given (the RFC 6062 modes bring their own peers).
RunResult RunUclient(const std::vector<std::string>& flags, uint16_t server_port,
                     std::optional<uint16_t> peer_port) {
  std::vector<std::string> argv = {kUclient};
  argv.insert(argv.end(), flags.begin(), flags.end());
  if (peer_port) {
    argv.insert(argv.end(), {"-e", "127.0.0.1", "-r", std::to_string(*peer_port)});
  }
  argv.insert(argv.end(), {"-p", std::to_string(server_port), "127.0.0.1"});
  return RunCommand(argv, seconds(60));
}

// What `openssl s_client` saw: the negotiated protocol ("TLSv1.3"; empty when the handshake
// failed) and the subject CN of the certificate the server sent.
struct SClientResult {
  bool handshake_ok = false;
  std::string protocol;
  std::string subject_cn;
  std::string output;
};

// `openssl s_client -connect 127.0.0.1:<port> <flags>` with stdin at EOF: it handshakes, prints
// the session and exits. A server that neither answers nor closes counts as a failed handshake
// once `timeout` has passed (coturn does that to versions it refuses).
SClientResult RunSClient(uint16_t port, const std::vector<std::string>& flags,
                         seconds timeout = seconds(10)) {
  std::vector<std::string> argv = {kOpensslPath, "s_client", "-connect",
                                   "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), flags.begin(), flags.end());
  RunResult r = RunCommand(argv, timeout);
  SClientResult s;
  s.output = r.output;
  std::smatch m;
  // "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384"; a failed one: "New, (NONE), Cipher is
  // (NONE)".
  if (std::regex_search(r.output, m, std::regex(R"(\nNew, (TLSv1(\.[0-3])?), Cipher is (\S+))")) &&
      m[3] != "(NONE)" && !r.timed_out && r.exit_code == 0) {
    s.handshake_ok = true;
    s.protocol = m[1];
  }
  // OpenSSL 3 prints "subject=CN = relay.interop.test".
  if (std::regex_search(r.output, m, std::regex(R"(\nsubject=.*CN\s*=\s*([^,/\n]+))"))) {
    s.subject_cn = m[1];
  }
  return s;
}

bool HaveCoturnClients() { return access(kUclient, X_OK) == 0 && access(kPeer, X_OK) == 0; }

class StreamTransportsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveCoturnClients()) {
      GTEST_SKIP() << "coturn's clients (turnutils_uclient, turnutils_peer) are not installed "
                      "(scripts/setup.sh)";
    }
    if (access(kOpensslPath, X_OK) != 0) {
      GTEST_SKIP() << kOpensslPath << " is not installed (Debian package openssl)";
    }
    std::string error;
    cert_ = MakeSelfSignedCert(dir_, kServerCn, "server", &error);
    ASSERT_TRUE(cert_) << error;
  }

  // cvrelay on loopback with TCP on the UDP port, TLS and DTLS on a second port serving `cert`
  // (cert_ when null), REST credentials, and loopback peers allowed; `extra` flags are appended.
  void StartRelay(const std::vector<std::string>& extra = {}, const TlsFiles* cert = nullptr) {
    if (cert == nullptr) cert = &*cert_;
    std::vector<std::string> args = {"--listening-ip=127.0.0.1",
                                     "--listening-port=0",
                                     "--tls-listening-port=0",
                                     "--relay-ip=127.0.0.1",
                                     kMinRelayPort,
                                     kMaxRelayPort,
                                     "--realm=" + std::string(kRealm),
                                     "--relay-threads=2",
                                     "--unauth-rate=0",
                                     "--use-auth-secret",
                                     "--static-auth-secret=" + std::string(kSecret),
                                     "--allow-loopback-peers",
                                     "--cert=" + cert->cert,
                                     "--pkey=" + cert->key};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(relay_.Start(args)) << relay_.process().Output();
    const std::string log = relay_.process().Output();
    auto tcp = LoggedAddress(log, "tcp");
    auto tls = LoggedAddress(log, "tls");
    auto dtls = LoggedAddress(log, "dtls");
    ASSERT_TRUE(tcp && tls && dtls) << "expected tcp, tls and dtls listeners in the log:\n" << log;
    EXPECT_EQ(tcp->port, relay_.port()) << "TCP listens on the UDP port's number";
    EXPECT_EQ(dtls->port, tls->port) << "DTLS listens on the TLS port's number";
    tcp_port_ = tcp->port;
    tls_ = *tls;
    dtls_port_ = dtls->port;
  }

  void StartPeer() {
    peer_port_ = FreeUdpPort();
    ASSERT_TRUE(peer_.Start({kPeer, "-L", "127.0.0.1", "-p", std::to_string(peer_port_)}));
    usleep(200 * 1000);
  }

  // Several clients, hundreds of messages, nothing lost.
  void ExpectLossless(const RunResult& r, long min_messages) {
    ASSERT_FALSE(r.timed_out) << Tail(r.output);
    UclientStats s = ParseUclient(r.output);
    EXPECT_GE(s.sent, min_messages) << Tail(r.output) << Tail(relay_.process().Output());
    EXPECT_EQ(s.received, s.sent);
    EXPECT_EQ(s.lost, 0);
    EXPECT_TRUE(relay_.process().running()) << relay_.process().Output();
  }

  TempDir dir_;
  std::optional<TlsFiles> cert_;
  RelayProcess relay_;
  Process peer_;
  uint16_t peer_port_ = 0;
  uint16_t tcp_port_ = 0;
  uint16_t dtls_port_ = 0;
  SocketAddress tls_;
};

// ---------------------------------------------------------------------------------------------
// TURN over TCP, TLS and DTLS, relaying UDP to turnutils_peer.

TEST_F(StreamTransportsTest, TurnOverTcpRelaysUdpLosslessly) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  ASSERT_NO_FATAL_FAILURE(StartPeer());
  ExpectLossless(RunUclient({"-t", "-W", kSecret, "-c", "-m", "5", "-n", "200", "-z", "5"},
                            tcp_port_, peer_port_),
                 1000);
}

TEST_F(StreamTransportsTest, TurnOverTlsRelaysUdpLosslessly) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  ASSERT_NO_FATAL_FAILURE(StartPeer());
  ExpectLossless(RunUclient({"-S", "-t", "-W", kSecret, "-c", "-m", "5", "-n", "200", "-z", "5"},
                            tls_.port, peer_port_),
                 1000);
}

TEST_F(StreamTransportsTest, TurnOverDtlsRelaysUdpLosslessly) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  ASSERT_NO_FATAL_FAILURE(StartPeer());
  ExpectLossless(RunUclient({"-S", "-W", kSecret, "-c", "-m", "5", "-n", "200", "-z", "5"},
                            dtls_port_, peer_port_),
                 1000);
}

// ---------------------------------------------------------------------------------------------
// RFC 6062 TCP relays.

TEST_F(StreamTransportsTest, TcpRelayConnectBetweenClientsIsLossless) {
  ASSERT_NO_FATAL_FAILURE(StartRelay({"--tcp-relay"}));
  // -T implies -t -y -c: pairs of uclient's own clients Connect to each other's TCP relays.
  RunResult r =
      RunUclient({"-T", "-W", kSecret, "-m", "5", "-n", "200", "-z", "5"}, tcp_port_, std::nullopt);
  ExpectLossless(r, 1000);
  // Before sending, uclient waits (about 35 s) for every Connect to end in a bound data
  // connection; "N connections are completed, not enough" means some never did.
  EXPECT_NE(r.output.find("connections are completed"), std::string::npos) << Tail(r.output);
  EXPECT_EQ(r.output.find("not enough"), std::string::npos)
      << "some RFC 6062 Connects were not answered with a bindable connection:\n"
      << Tail(r.output);
}

TEST_F(StreamTransportsTest, TcpRelayAllocationIsRefusedWithoutTheTcpRelayFlag) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());  // tcp-relay is off by default
  RunResult r =
      RunUclient({"-T", "-W", kSecret, "-m", "2", "-n", "50", "-z", "5"}, tcp_port_, std::nullopt);
  ASSERT_FALSE(r.timed_out) << Tail(r.output);
  // uclient exits non-zero at the first refused Allocate and relays nothing.
  EXPECT_NE(r.exit_code, 0) << Tail(r.output);
  EXPECT_LE(ParseUclient(r.output).received, 0) << Tail(r.output);
  EXPECT_NE(r.output.find("error 442"), std::string::npos)
      << "REQUESTED-TRANSPORT TCP must get 442 (RFC 6062 §5.1):\n"
      << Tail(r.output);
  EXPECT_TRUE(relay_.process().running()) << relay_.process().Output();
}

TEST_F(StreamTransportsTest, PassiveTcpRelayWithActivePeerIsLosslessWhereCoturnsIs) {
  // -P: uclient's own plain TCP socket connects to the relayed address as the active peer.
  const std::vector<std::string> flags = {"-P", "-W", kSecret, "-m", "5", "-n", "100", "-z", "5"};
  if (access(kTurnserver, X_OK) == 0) {
    // The same run against coturn's own server first: where it fails there too, the limitation
    // is the client's, and this test documents it instead of hiding ours.
    const uint16_t port = FreeTcpPort();
    Process coturn;
    ASSERT_TRUE(coturn.Start(
        {kTurnserver, "-n", "--listening-ip=127.0.0.1", "--listening-port=" + std::to_string(port),
         "--relay-ip=127.0.0.1", "--min-port=64000", "--max-port=64999", "--use-auth-secret",
         "--static-auth-secret=" + std::string(kSecret), "--realm=" + std::string(kRealm),
         "--allow-loopback-peers", "--no-udp", "--no-tls", "--no-dtls", "--no-cli",
         "--pidfile=" + dir_.path() + "/turnserver.pid", "--log-file=stdout", "--simple-log"}));
    ASSERT_TRUE(coturn.WaitForOutput("Total General servers", seconds(10))) << coturn.Output();
    RunResult c = RunUclient(flags, port, std::nullopt);
    coturn.Kill();
    UclientStats s = ParseUclient(c.output);
    if (c.timed_out || s.sent <= 0 || s.received != s.sent || s.lost != 0) {
      GTEST_SKIP() << "turnutils_uclient -P is not lossless against coturn's own turnserver "
                      "either (sent "
                   << s.sent << ", received " << s.received << ", lost " << s.lost
                   << "): the client's passive mode is broken there too, so this run cannot "
                      "judge cvrelay";
    }
  }
  ASSERT_NO_FATAL_FAILURE(StartRelay({"--tcp-relay"}));
  ExpectLossless(RunUclient(flags, tcp_port_, std::nullopt), 500);
}

// ---------------------------------------------------------------------------------------------
// The TLS listeners seen by `openssl s_client`.

TEST_F(StreamTransportsTest, Tls13HandshakeServesTheConfiguredCertificate) {
  ASSERT_NO_FATAL_FAILURE(StartRelay());
  SClientResult s = RunSClient(tls_.port, {"-tls1_3"});
  EXPECT_TRUE(s.handshake_ok) << s.output;
  EXPECT_EQ(s.protocol, "TLSv1.3") << s.output;
  EXPECT_EQ(s.subject_cn, kServerCn) << s.output;
  EXPECT_NE(relay_.process().Output().find("server.tls"), std::string::npos)
      << relay_.process().Output();
}

TEST_F(StreamTransportsTest, TurnedOffTls10And11AreRefusedAndTls12Works) {
  ASSERT_NO_FATAL_FAILURE(StartRelay({"--no-tlsv1", "--no-tlsv1_1"}));
  // SECLEVEL=0 lets the client offer the old versions, so a refusal is the server's.
  for (const char* version : {"-tls1", "-tls1_1"}) {
    SClientResult s = RunSClient(tls_.port, {version, "-cipher", "DEFAULT@SECLEVEL=0"}, seconds(5));
    EXPECT_FALSE(s.handshake_ok) << version << " must be refused:\n" << s.output;
  }
  SClientResult s = RunSClient(tls_.port, {"-tls1_2"});
  EXPECT_TRUE(s.handshake_ok) << s.output;
  EXPECT_EQ(s.protocol, "TLSv1.2") << s.output;
  EXPECT_EQ(s.subject_cn, kServerCn) << s.output;
}

TEST_F(StreamTransportsTest, SighupReloadsTheCertificateAndOpenConnectionsKeepWorking) {
  std::string error;
  auto a = MakeSelfSignedCert(dir_, "a.test", "live", &error);
  ASSERT_TRUE(a) << error;
  ASSERT_NO_FATAL_FAILURE(StartRelay({}, &*a));

  TlsStunClient old_connection;
  ASSERT_TRUE(old_connection.Connect(tls_));
  EXPECT_EQ(old_connection.PeerCommonName(), "a.test");
  ASSERT_TRUE(old_connection.Binding());

  // Certificate B takes the files' place (rename: no reader ever sees half a file).
  auto b = MakeSelfSignedCert(dir_, "b.test", "next", &error);
  ASSERT_TRUE(b) << error;
  std::filesystem::rename(b->cert, a->cert);
  std::filesystem::rename(b->key, a->key);
  relay_.process().Signal(SIGHUP);
  ASSERT_TRUE(relay_.process().WaitForOutput("tls.reloaded", seconds(5)))
      << relay_.process().Output();

  SClientResult s = RunSClient(tls_.port, {});
  EXPECT_TRUE(s.handshake_ok) << s.output;
  EXPECT_EQ(s.subject_cn, "b.test") << s.output;
  EXPECT_TRUE(old_connection.Binding()) << "the connection opened before SIGHUP must keep going";
}

TEST_F(StreamTransportsTest, AltTlsListeningPortAnswersTlsToo) {
  const uint16_t alt = FreeTcpPort();
  ASSERT_NO_FATAL_FAILURE(StartRelay({"--alt-tls-listening-port=" + std::to_string(alt)}));
  SClientResult s = RunSClient(alt, {});
  EXPECT_TRUE(s.handshake_ok) << s.output;
  EXPECT_EQ(s.subject_cn, kServerCn) << s.output;
  TlsStunClient client;
  ASSERT_TRUE(client.Connect(*SocketAddress::Parse("127.0.0.1", alt)));
  EXPECT_TRUE(client.Binding()) << "the alternate port speaks STUN over TLS";
}

}  // namespace
}  // namespace cv::testing
