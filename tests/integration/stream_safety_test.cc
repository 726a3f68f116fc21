// Integration: what a real cvrelay does with hostile TCP, TLS and DTLS clients (SECURITY.md,
// "Flood and exhaustion"). Handshakes that never finish time out; a frame header announcing more
// than the largest stream message (4100 bytes) closes the connection at once; unauthenticated
// connections per source address are capped and time out; a DTLS ClientHello flood is answered
// statelessly. Memory is cvrelay's VmRSS from /proc/<pid>/status, before and after each flood.
#include <gtest/gtest.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/tls_files.h"
#include "tests/support/tls_stun_client.h"

namespace cv::testing {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kSecret[] = "stream-safety-secret-5d9e";
constexpr char kRealm[] = "safety.test";
constexpr long kRssSlackKiB = 2048;
constexpr size_t kFloodConnections = 1000;
constexpr size_t kUnauthCap = 32;
constexpr int kAuthTimeoutS = 3;

// An owned socket descriptor.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { Reset(); }
  Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Socket& operator=(Socket&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

int RemainingMs(Clock::time_point deadline) {
  const auto left = duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

// A non-blocking TCP connection to `to`, from `source_ip` when given; invalid when the connect
// does not complete within 2 s.
Socket ConnectTcp(const SocketAddress& to, const char* source_ip = nullptr) {
  Socket s(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!s.valid() || !BindSource(s.get(), source_ip)) return Socket();
  sockaddr_storage ss;
  socklen_t len = to.ToSockaddr(&ss);
  if (connect(s.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 && errno != EINPROGRESS) {
    return Socket();
  }
  pollfd p{s.get(), POLLOUT, 0};
  if (poll(&p, 1, 2000) != 1) return Socket();
  int error = 0;
  socklen_t error_len = sizeof(error);
  if (getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &error, &error_len) != 0 || error != 0) {
    return Socket();
  }
  return s;
}

bool SendAll(int fd, const std::vector<uint8_t>& data) {
  size_t sent = 0;
  const auto deadline = Clock::now() + seconds(2);
  while (sent < data.size()) {
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, RemainingMs(deadline)) != 1) return false;
  }
  return true;
}

// Reads and discards whatever has arrived; true when the server has closed the connection (EOF,
// or a reset).
bool DrainSeesClose(int fd) {
  std::array<uint8_t, 4096> buf;
  for (;;) {
    const ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) return true;
    if (errno == EINTR) continue;
    return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

// How long the server took to close `fd`, or nullopt when it is still open after `timeout`.
std::optional<milliseconds> WaitForClose(int fd, milliseconds timeout) {
  const auto start = Clock::now();
  const auto deadline = start + timeout;
  for (;;) {
    if (DrainSeesClose(fd)) return duration_cast<milliseconds>(Clock::now() - start);
    if (Clock::now() >= deadline) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, RemainingMs(deadline));
  }
}

bool ReadExactly(int fd, uint8_t* out, size_t n, Clock::time_point deadline) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = recv(fd, out + got, n - got, MSG_DONTWAIT);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) return false;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, RemainingMs(deadline)) != 1) return false;
  }
  return true;
}

// A Binding request over a fresh TCP connection (from `source_ip` when given); true when the
// success response comes back within 3 s.
bool TcpBinding(const SocketAddress& server, const char* source_ip = nullptr) {
  Socket s = ConnectTcp(server, source_ip);
  if (!s.valid()) return false;
  const std::vector<uint8_t> request = BindingHeader(0);
  if (!SendAll(s.get(), request)) return false;
  const auto deadline = Clock::now() + seconds(3);
  std::vector<uint8_t> response(20);
  if (!ReadExactly(s.get(), response.data(), 20, deadline)) return false;
  const size_t body = (size_t{response[2]} << 8) | response[3];
  response.resize(20 + body);
  if (!ReadExactly(s.get(), response.data() + 20, body, deadline)) return false;
  return IsBindingSuccessFor(request, response);
}

bool TlsBinding(const SocketAddress& server, const char* source_ip = nullptr) {
  TlsStunClient client;
  return client.Connect(server, source_ip) && client.Binding();
}

// The first flight of a real OpenSSL client, its ClientHello, taken from a memory BIO: TLS over
// TCP, or a DTLS 1.2 datagram.
std::vector<uint8_t> ClientHello(bool dtls) {
  std::vector<uint8_t> out;
  SSL_CTX* ctx = SSL_CTX_new(dtls ? DTLS_client_method() : TLS_client_method());
  if (ctx == nullptr) return out;
  if (dtls) SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION);
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* wire = BIO_new(BIO_s_mem());
  if (ssl != nullptr && in != nullptr && wire != nullptr) {
    SSL_set_bio(ssl, in, wire);  // ssl owns both now
    in = wire = nullptr;
    if (dtls) {
      SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
      DTLS_set_link_mtu(ssl, 1400);
    }
    SSL_set_connect_state(ssl);
    SSL_do_handshake(ssl);  // writes the ClientHello, then wants to read
    char* data = nullptr;
    const long n = BIO_get_mem_data(SSL_get_wbio(ssl), &data);
    if (n > 0) out.assign(data, data + n);
  }
  BIO_free(in);
  BIO_free(wire);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return out;
}

// DTLS record (RFC 6347 §4.1): type 22 = handshake, then 12 bytes of version, epoch, sequence and
// length; the handshake message type follows: 3 = HelloVerifyRequest, 2 = ServerHello.
constexpr size_t kDtlsRecordHeader = 13;
int DtlsHandshakeType(const uint8_t* d, size_t n) {
  if (n <= kDtlsRecordHeader || d[0] != 22) return -1;
  return d[kDtlsRecordHeader];
}

// cvrelay's resident set size, KiB; -1 when unreadable.
long RssKiB(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

class StreamSafetyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The floods hold 1000 descriptors at once.
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
      limit.rlim_cur = limit.rlim_max;
      setrlimit(RLIMIT_NOFILE, &limit);
    }
  }

  void SetUp() override {
    if (access(kOpensslPath, X_OK) != 0) {
      GTEST_SKIP() << kOpensslPath << " is not installed (Debian package openssl)";
    }
    std::string error;
    cert_ = MakeSelfSignedCert(dir_, "safety.test", "server", &error);
    ASSERT_TRUE(cert_) << error;
  }

  void StartRelay(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--listening-ip=127.0.0.1",
                                     "--listening-port=0",
                                     "--tls-listening-port=0",
                                     "--relay-ip=127.0.0.1",
                                     "--min-port=63000",
                                     "--max-port=63999",
                                     "--realm=" + std::string(kRealm),
                                     "--relay-threads=2",
                                     "--use-auth-secret",
                                     "--static-auth-secret=" + std::string(kSecret),
                                     "--cert=" + cert_->cert,
                                     "--pkey=" + cert_->key};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_TRUE(relay_.Start(args)) << relay_.process().Output();
    const std::string log = relay_.process().Output();
    auto tcp = LoggedAddress(log, "tcp");
    auto tls = LoggedAddress(log, "tls");
    auto dtls = LoggedAddress(log, "dtls");
    ASSERT_TRUE(tcp && tls && dtls) << "expected tcp, tls and dtls listeners in the log:\n" << log;
    tcp_ = *tcp;
    tls_ = *tls;
    dtls_ = *dtls;
  }

  long RelayRssKiB() { return RssKiB(relay_.process().pid()); }

  void ReportRss(const char* what, long baseline, long after) {
    RecordProperty(std::string(what) + "_rss_baseline_kib", std::to_string(baseline));
    RecordProperty(std::string(what) + "_rss_after_kib", std::to_string(after));
    std::printf("%s: cvrelay VmRSS baseline %ld KiB, after %ld KiB (%+ld KiB)\n", what, baseline,
                after, after - baseline);
  }

  // 1000 idle connections from 127.0.0.1 to `target`: at most kUnauthCap stay open (the rest
  // are closed at once), 127.0.0.2 is still served meanwhile, the server closes those within the
  // cap after kAuthTimeoutS, and memory returns to the baseline. `binding(source_ip)` is one
  // complete Binding exchange over the target's protocol.
  void ExpectIdleFloodCappedAndTimedOut(const SocketAddress& target, const char* what,
                                        const std::function<bool(const char*)>& binding) {
    // Warm-up: a whole exchange first, so what the first client costs is in the baseline.
    ASSERT_TRUE(binding("127.0.0.1")) << relay_.process().Output();
    std::this_thread::sleep_for(milliseconds(300));
    const long baseline = RelayRssKiB();
    ASSERT_GT(baseline, 0);

    std::vector<Socket> conns;
    std::vector<bool> closed;
    size_t failed_connects = 0;
    for (size_t i = 0; i < kFloodConnections && failed_connects < 20; ++i) {
      Socket s = ConnectTcp(target);
      if (!s.valid()) {
        ++failed_connects;
        continue;
      }
      conns.push_back(std::move(s));
      closed.push_back(false);
    }
    const auto flood_end = Clock::now();
    EXPECT_EQ(failed_connects, 0u) << "the listener must keep accepting (and closing)";

    // Polls every connection still open until `until`; returns how many are still open.
    auto open_until = [&](Clock::time_point until) {
      for (;;) {
        std::vector<pollfd> fds;
        for (size_t i = 0; i < conns.size(); ++i) {
          if (closed[i]) continue;
          if (DrainSeesClose(conns[i].get())) {
            closed[i] = true;
            continue;
          }
          fds.push_back({conns[i].get(), POLLIN, 0});
        }
        if (fds.empty() || Clock::now() >= until) return fds.size();
        poll(fds.data(), fds.size(), std::min(50, RemainingMs(until)));
      }
    };

    // Beyond the cap, connections are closed right after accept.
    const size_t open = open_until(flood_end + seconds(1));
    EXPECT_LE(open, kUnauthCap) << "of " << conns.size() << " idle connections from one address";
    EXPECT_GE(open, 1u) << "connections within the cap wait for the auth timeout";

    // Another source address is not held back by the first one's cap.
    EXPECT_TRUE(binding("127.0.0.2")) << "a client from 127.0.0.2 during the flood";

    // Those within the cap time out: the server closes them too.
    const size_t left = open_until(flood_end + seconds(kAuthTimeoutS + 2));
    EXPECT_EQ(left, 0u) << "still open " << kAuthTimeoutS + 2 << " s after the flood";
    RecordProperty(std::string(what) + "_open_after_1s", std::to_string(open));
    std::printf("%s: %zu connections, %zu open 1 s after the last, %zu open %d s later\n", what,
                conns.size(), open, left, kAuthTimeoutS + 2);

    conns.clear();
    std::this_thread::sleep_for(milliseconds(500));
    const long after = RelayRssKiB();
    ReportRss(what, baseline, after);
    EXPECT_LE(after, baseline + kRssSlackKiB);
    EXPECT_TRUE(binding("127.0.0.1")) << "the first address is served again";
    EXPECT_TRUE(relay_.process().running()) << relay_.process().Output();
  }

  TempDir dir_;
  std::optional<TlsFiles> cert_;
  RelayProcess relay_;
  SocketAddress tcp_, tls_, dtls_;
};

TEST_F(StreamSafetyTest, TlsHandshakeNotFinishedInTimeIsClosed) {
  ASSERT_NO_FATAL_FAILURE(StartRelay({"--tls-handshake-timeout=2"}));
  const std::vector<uint8_t> hello = ClientHello(/*dtls=*/false);
  ASSERT_GT(hello.size(), 100u);

  // One client sends nothing; the other trickles a real ClientHello, one byte per 500 ms.
  Socket silent = ConnectTcp(tls_);
  Socket trickle = ConnectTcp(tls_);
  ASSERT_TRUE(silent.valid() && trickle.valid());
  const auto start = Clock::now();
  std::optional<milliseconds> silent_closed, trickle_closed;
  size_t trickled = 0;
  auto next_byte = start;
  while (Clock::now() < start + seconds(6) && (!silent_closed || !trickle_closed)) {
    if (!trickle_closed && Clock::now() >= next_byte && trickled < hello.size() &&
        send(trickle.get(), &hello[trickled], 1, MSG_NOSIGNAL) == 1) {
      ++trickled;
      next_byte += milliseconds(500);
    }
    if (!silent_closed && DrainSeesClose(silent.get())) {
      silent_closed = duration_cast<milliseconds>(Clock::now() - start);
    }
    if (!trickle_closed && DrainSeesClose(trickle.get())) {
      trickle_closed = duration_cast<milliseconds>(Clock::now() - start);
    }
    pollfd fds[2] = {{silent.get(), POLLIN, 0}, {trickle.get(), POLLIN, 0}};
    poll(fds, 2, 20);
  }
  ASSERT_TRUE(silent_closed) << "a client that never starts its handshake is open after 6 s";
  ASSERT_TRUE(trickle_closed) << "a client trickling its ClientHello is open after 6 s";
  EXPECT_GE(silent_closed->count(), 1500);
  EXPECT_LE(silent_closed->count(), 4000);
  EXPECT_GE(trickle_closed->count(), 1500);
  EXPECT_LE(trickle_closed->count(), 4000);
  EXPECT_LT(trickled, hello.size()) << "the trickled handshake must not have completed";
  EXPECT_TRUE(TlsBinding(tls_)) << "a prompt TLS client is still served";
}

TEST_F(StreamSafetyTest, FrameAnnouncingMoreThanAStreamMessageClosesTheConnectionAtOnce) {
  ASSERT_NO_FATAL_FAILURE(StartRelay({}));
  // ChannelData (RFC 8656 §12.4): channel 0x4000, length 0xFFFF.
  const std::vector<uint8_t> channel_data = {0x40, 0x00, 0xFF, 0xFF};
  // A STUN header (RFC 8489 §5) announcing 0xFFF0 bytes of attributes.
  const std::vector<uint8_t> stun = BindingHeader(0xFFF0);
  for (const auto* frame : {&channel_data, &stun}) {
    const char* name = frame == &stun ? "STUN length 0xFFF0" : "ChannelData length 0xFFFF";
    Socket s = ConnectTcp(tcp_);
    ASSERT_TRUE(s.valid());
    ASSERT_TRUE(SendAll(s.get(), *frame)) << name;
    EXPECT_TRUE(WaitForClose(s.get(), seconds(1))) << name << ": still open after 1 s";
  }
  EXPECT_TRUE(TcpBinding(tcp_)) << "the relay keeps serving TCP";
  EXPECT_TRUE(relay_.process().running()) << relay_.process().Output();
}

TEST_F(StreamSafetyTest, OversizedFrameInsideTlsClosesTheConnectionAtOnce) {
  ASSERT_NO_FATAL_FAILURE(StartRelay({}));
  TlsStunClient client;
  ASSERT_TRUE(client.Connect(tls_));
  ASSERT_TRUE(client.Send({0x40, 0x00, 0xFF, 0xFF}));
  EXPECT_TRUE(client.ClosedWithin(seconds(1)));
  EXPECT_TRUE(TlsBinding(tls_)) << "the relay keeps serving TLS";
}

TEST_F(StreamSafetyTest, GarbageOnTheTcpPortIsClosed) {
  ASSERT_NO_FATAL_FAILURE(StartRelay({}));
  const std::string http = "GET / HTTP/1.1\r\n\r\n";
  const std::vector<uint8_t> request(http.begin(), http.end());
  // The shape of a Binding request, but not STUN: the magic cookie is wrong.
  const std::vector<uint8_t> bad_cookie = BindingHeader(0, 0xDEADBEEF);
  for (const auto* garbage : {&request, &bad_cookie}) {
    const char* name = garbage == &request ? "an HTTP request" : "a header with a bad cookie";
    Socket s = ConnectTcp(tcp_);
    ASSERT_TRUE(s.valid());
    ASSERT_TRUE(SendAll(s.get(), *garbage)) << name;
    EXPECT_TRUE(WaitForClose(s.get(), seconds(2))) << name << ": still open after 2 s";
  }
  EXPECT_TRUE(TcpBinding(tcp_)) << "the relay keeps serving TCP";
}

TEST_F(StreamSafetyTest, IdleTcpConnectionsFromOneAddressAreCappedAndTimedOut) {
  ASSERT_NO_FATAL_FAILURE(
      StartRelay({"--stream-auth-timeout=" + std::to_string(kAuthTimeoutS),
                  "--max-unauth-connections-per-ip=" + std::to_string(kUnauthCap)}));
  ExpectIdleFloodCappedAndTimedOut(tcp_, "tcp_idle_flood", [this](const char* source_ip) {
    return TcpBinding(tcp_, source_ip);
  });
}

TEST_F(StreamSafetyTest, TlsConnectionsThatNeverHandshakeAreCappedAndTimedOut) {
  ASSERT_NO_FATAL_FAILURE(
      StartRelay({"--stream-auth-timeout=" + std::to_string(kAuthTimeoutS),
                  "--tls-handshake-timeout=" + std::to_string(kAuthTimeoutS),
                  "--max-unauth-connections-per-ip=" + std::to_string(kUnauthCap)}));
  ExpectIdleFloodCappedAndTimedOut(tls_, "tls_idle_flood", [this](const char* source_ip) {
    return TlsBinding(tls_, source_ip);
  });
}

TEST_F(StreamSafetyTest, DtlsClientHelloFloodIsAnsweredStatelesslyWithFlatMemory) {
  ASSERT_NO_FATAL_FAILURE(StartRelay({}));
  const std::vector<uint8_t> hello = ClientHello(/*dtls=*/true);
  ASSERT_GT(hello.size(), kDtlsRecordHeader);
  ASSERT_EQ(hello[0], 22) << "a DTLS handshake record";

  // 50 sockets, each connected to the DTLS port so only the relay's answers come in.
  std::vector<Socket> sockets;
  for (int i = 0; i < 50; ++i) {
    SocketAddress bound;
    Socket s(BindLoopbackUdp(&bound, 1 << 20));
    ASSERT_TRUE(s.valid());
    sockaddr_storage ss;
    socklen_t len = dtls_.ToSockaddr(&ss);
    ASSERT_EQ(connect(s.get(), reinterpret_cast<sockaddr*>(&ss), len), 0);
    sockets.push_back(std::move(s));
  }
  size_t verify_requests = 0, server_hellos = 0;
  std::array<uint8_t, 2048> buf;
  auto drain = [&](int fd) {
    for (;;) {
      const ssize_t n = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (n <= 0) return;
      const int type = DtlsHandshakeType(buf.data(), static_cast<size_t>(n));
      verify_requests += type == 3;
      server_hellos += type == 2;
    }
  };

  // Warm-up: one ClientHello and its HelloVerifyRequest.
  ASSERT_EQ(send(sockets[0].get(), hello.data(), hello.size(), 0),
            static_cast<ssize_t>(hello.size()));
  pollfd p{sockets[0].get(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 3000), 1) << "no answer to a DTLS ClientHello";
  drain(sockets[0].get());
  ASSERT_EQ(verify_requests, 1u) << "a ClientHello without a cookie gets a HelloVerifyRequest";
  std::this_thread::sleep_for(milliseconds(300));
  const long baseline = RelayRssKiB();
  ASSERT_GT(baseline, 0);

  for (int i = 0; i < 20000; ++i) {
    send(sockets[static_cast<size_t>(i) % sockets.size()].get(), hello.data(), hello.size(),
         MSG_DONTWAIT);
    if (i % 50 == 49) {
      for (const Socket& s : sockets) drain(s.get());
    }
  }
  const auto deadline = Clock::now() + milliseconds(500);
  while (Clock::now() < deadline) {
    for (const Socket& s : sockets) drain(s.get());
    std::this_thread::sleep_for(milliseconds(20));
  }
  const long after = RelayRssKiB();
  ReportRss("dtls_hello_flood", baseline, after);
  RecordProperty("dtls_hello_verify_requests", std::to_string(verify_requests));
  EXPECT_GT(verify_requests, 1u);
  EXPECT_EQ(server_hellos, 0u) << "a ServerHello to a cookie-less ClientHello means state was kept";
  EXPECT_LE(after, baseline + kRssSlackKiB);
  EXPECT_TRUE(relay_.process().running()) << relay_.process().Output();
}

}  // namespace
}  // namespace cv::testing
