// DtlsSession and DtlsCookieKey. A test-side OpenSSL DTLS client on memory BIOs handshakes with
// DtlsSession::Accept / OnDatagram; the test carries the datagrams between them (and drops,
// repeats, forges or readdresses them).
#include "relay/net/dtls_session.h"

#include <malloc.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "relay/net/tls_context.h"
#include "tests/relay/net/tls_test_certs.h"

#if defined(__SANITIZE_ADDRESS__)
#define CV_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CV_TEST_ASAN 1
#endif
#endif

namespace cv::net {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr size_t kMtu = 1200;
constexpr size_t kSmallMtu = 600;
constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kHelloVerifyRequest = 3;
constexpr uint8_t kCertificate = 11;

SocketAddress Address(const char* text) { return *SocketAddress::Parse(text); }

Bytes Of(const std::string& text) { return Bytes(text.begin(), text.end()); }

void Ignore(std::span<const uint8_t>) {}

// One DTLS record as it appears in a datagram (RFC 6347 §4.1), with the handshake header of
// its first message when it is a plaintext (epoch 0) handshake record.
struct Record {
  uint8_t type = 0;
  uint16_t epoch = 0;
  size_t length = 0;
  int handshake_type = -1;
  size_t message_length = 0;
  size_t fragment_length = 0;
};

size_t Be(const Bytes& d, size_t at, size_t n) {
  size_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | d[at + i];
  return v;
}

// The records of a datagram; false when they do not exactly fill it (a record cut in two).
bool Records(const Bytes& d, std::vector<Record>* out) {
  size_t at = 0;
  while (at < d.size()) {
    if (d.size() - at < 13) return false;
    Record r;
    r.type = d[at];
    r.epoch = static_cast<uint16_t>(Be(d, at + 3, 2));
    r.length = Be(d, at + 11, 2);
    if (d.size() - at - 13 < r.length) return false;
    if (r.type == kHandshakeRecord && r.epoch == 0 && r.length >= 12) {
      r.handshake_type = d[at + 13];
      r.message_length = Be(d, at + 14, 3);
      r.fragment_length = Be(d, at + 22, 3);
    }
    out->push_back(r);
    at += 13 + r.length;
  }
  return true;
}

// The handshake message type of a datagram's first record, or -1.
int FirstHandshakeType(const Bytes& datagram) {
  std::vector<Record> records;
  if (!Records(datagram, &records) || records.empty()) return -1;
  return records[0].handshake_type;
}

// A DTLS client on memory BIOs. Each server datagram is written to its read BIO and processed
// before the next one, so the client sees datagram boundaries. What it writes during one call is
// returned as one datagram (a flight of several records, which DTLS allows in one datagram).
class TestClient {
 public:
  TestClient(SSL_CTX* ctx, size_t mtu) : ssl_(SSL_new(ctx)) {
    rbio_ = BIO_new(BIO_s_mem());
    wbio_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(rbio_, -1);
    SSL_set_bio(ssl_, rbio_, wbio_);
    SSL_set_options(ssl_, SSL_OP_NO_QUERY_MTU);
    SSL_set_mtu(ssl_, static_cast<long>(mtu));
    SSL_set_connect_state(ssl_);
  }
  ~TestClient() { SSL_free(ssl_); }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  SSL* ssl() const { return ssl_; }
  bool finished() const { return SSL_is_init_finished(ssl_) == 1; }

  // Advances the handshake, or reads application data once it is done; returns what it sent.
  Bytes Step() {
    if (!finished()) {
      const int r = SSL_do_handshake(ssl_);
      if (r <= 0) {
        const int error = SSL_get_error(ssl_, r);
        if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) failed = true;
      }
    }
    if (finished()) {
      uint8_t buffer[16384];
      for (;;) {
        const int n = SSL_read(ssl_, buffer, sizeof(buffer));
        if (n > 0) {
          received.emplace_back(buffer, buffer + n);
          continue;
        }
        if (SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN) closed = true;
        break;
      }
    }
    ERR_clear_error();
    return Take();
  }

  // One datagram from the server.
  Bytes Receive(const Bytes& datagram) {
    BIO_write(rbio_, datagram.data(), static_cast<int>(datagram.size()));
    return Step();
  }

  // Every datagram of `out`, one at a time; returns everything the client sent meanwhile.
  Bytes ReceiveAll(const DtlsOutput& out) {
    Bytes sent;
    for (size_t i = 0; i < out.count; ++i) {
      Bytes more = Receive(out.datagrams[i]);
      sent.insert(sent.end(), more.begin(), more.end());
    }
    return sent;
  }

  Bytes Write(const Bytes& message) {
    EXPECT_EQ(SSL_write(ssl_, message.data(), static_cast<int>(message.size())),
              static_cast<int>(message.size()));
    return Take();
  }

  Bytes Take() {
    Bytes out(BIO_ctrl_pending(wbio_));
    if (!out.empty()) BIO_read(wbio_, out.data(), static_cast<int>(out.size()));
    return out;
  }

  std::vector<Bytes> received;
  bool closed = false;
  bool failed = false;

 private:
  SSL* ssl_;
  BIO* rbio_ = nullptr;
  BIO* wbio_ = nullptr;
};

class DtlsSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Enough names that the certificate (~1 KB) cannot fit one 600-byte datagram.
    std::vector<std::string> names;
    for (int i = 0; i < 24; ++i) names.push_back("turn-" + std::to_string(i) + ".relay.test");
    const auto files = certs_.Make("server", "relay.test", names);
    TlsSettings settings;
    settings.cert = files.cert;
    settings.pkey = files.key;
    std::string error;
    contexts_ = TlsContexts::Load(settings, &error);
    ASSERT_NE(contexts_, nullptr) << error;
    ASSERT_NE(contexts_->dtls(), nullptr) << contexts_->dtls_error();
    client_ctx_ = SSL_CTX_new(DTLS_client_method());
    ASSERT_NE(client_ctx_, nullptr);
  }
  void TearDown() override { SSL_CTX_free(client_ctx_); }

  std::unique_ptr<DtlsSession> Accept(const SocketAddress& from, const Bytes& datagram,
                                      size_t mtu = kMtu) {
    out_.clear();
    auto session = DtlsSession::Accept(contexts_->dtls(), key_, from, datagram, mtu, &out_);
    Keep(out_);
    return session;
  }

  // Every datagram the server produced, for the MTU checks.
  void Keep(const DtlsOutput& out) {
    for (size_t i = 0; i < out.count; ++i) sent_.push_back(out.datagrams[i]);
  }

  // The client's ClientHello with the cookie from `from`'s HelloVerifyRequest.
  Bytes HelloWithCookie(TestClient& client, const SocketAddress& from) {
    const Bytes hello = client.Step();
    EXPECT_EQ(Accept(from, hello), nullptr);
    EXPECT_EQ(out_.count, 1u);
    return client.ReceiveAll(out_);
  }

  // Shuttles datagrams until both sides finish the handshake (or nobody has anything to say).
  void Finish(TestClient& client, DtlsSession& session) {
    for (int round = 0; round < 10; ++round) {
      const Bytes reply = client.ReceiveAll(out_);
      out_.clear();
      if ((session.open() && client.finished()) || reply.empty()) return;
      session.OnDatagram(reply, &out_, Ignore);
      Keep(out_);
    }
  }

  std::unique_ptr<DtlsSession> Connect(TestClient& client, const SocketAddress& from,
                                       size_t mtu = kMtu) {
    const Bytes hello = HelloWithCookie(client, from);
    auto session = Accept(from, hello, mtu);
    if (session == nullptr) return nullptr;
    Finish(client, *session);
    return session;
  }

  testing::TlsTestCerts certs_;
  std::shared_ptr<const TlsContexts> contexts_;
  SSL_CTX* client_ctx_ = nullptr;
  DtlsCookieKey key_;
  DtlsOutput out_;
  std::vector<Bytes> sent_;
  const SocketAddress alice_ = Address("198.51.100.7:40000");
};

TEST_F(DtlsSessionTest, FirstClientHelloGetsAHelloVerifyRequestAndNoSession) {
  TestClient client(client_ctx_, kMtu);
  const Bytes hello = client.Step();
  EXPECT_EQ(Accept(alice_, hello), nullptr);
  ASSERT_EQ(out_.count, 1u);
  EXPECT_EQ(FirstHandshakeType(out_.datagrams[0]), kHelloVerifyRequest);
  // No amplification: the answer to an unproven address is smaller than what it sent.
  EXPECT_LT(out_.datagrams[0].size(), hello.size());
}

TEST_F(DtlsSessionTest, ClientHelloWithTheCookieCreatesASessionThatCompletesTheHandshake) {
  TestClient client(client_ctx_, kMtu);
  auto session = Connect(client, alice_);
  ASSERT_NE(session, nullptr);
  EXPECT_TRUE(session->open());
  EXPECT_TRUE(client.finished());
  EXPECT_FALSE(client.failed);
  EXPECT_STREQ(session->version(), "DTLSv1.2");
  EXPECT_EQ(session->peer(), alice_);
  for (const Bytes& d : sent_) {
    std::vector<Record> records;
    EXPECT_LE(d.size(), kMtu);
    EXPECT_TRUE(Records(d, &records));
  }
}

TEST_F(DtlsSessionTest, EveryHandshakeDatagramFitsTheMtuAndTheCertificateIsFragmented) {
  TestClient client(client_ctx_, kSmallMtu);
  auto session = Connect(client, alice_, kSmallMtu);
  ASSERT_NE(session, nullptr);
  ASSERT_TRUE(session->open());
  size_t certificate_fragments = 0;
  for (const Bytes& d : sent_) {
    EXPECT_LE(d.size(), kSmallMtu);
    std::vector<Record> records;
    EXPECT_TRUE(Records(d, &records)) << "a datagram that is not whole records";
    for (const Record& r : records) {
      if (r.handshake_type == kCertificate && r.fragment_length < r.message_length) {
        ++certificate_fragments;
      }
    }
  }
  EXPECT_GE(certificate_fragments, 2u);
  // Once open, the handshake's MTU no longer limits relayed media: one record per message up
  // to a 4 KiB datagram, and nothing larger.
  const Bytes big(2000, 0xAB);
  out_.clear();
  EXPECT_TRUE(session->Send(big, &out_));
  ASSERT_EQ(out_.count, 1u);
  EXPECT_GT(out_.datagrams[0].size(), kSmallMtu);
  EXPECT_LE(out_.datagrams[0].size(), DtlsSession::kMaxApplicationDatagram);
  EXPECT_FALSE(session->Send(Bytes(DtlsSession::kMaxApplicationDatagram, 0xCD), &out_));
  EXPECT_EQ(out_.count, 1u);
}

TEST_F(DtlsSessionTest, ApplicationMessagesCrossByteExactBothWays) {
  TestClient client(client_ctx_, kMtu);
  auto session = Connect(client, alice_);
  ASSERT_NE(session, nullptr);

  Bytes binary(1000);
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<uint8_t>(i * 7);
  const std::vector<Bytes> upstream = {Of("x"), Of("a STUN Binding request, say"), binary};
  std::vector<Bytes> delivered;
  auto collect = [&](std::span<const uint8_t> m) { delivered.emplace_back(m.begin(), m.end()); };
  for (const Bytes& m : upstream) {
    out_.clear();
    EXPECT_EQ(session->OnDatagram(client.Write(m), &out_, collect), DtlsResult::kOpen);
    EXPECT_EQ(out_.count, 0u);
  }
  EXPECT_EQ(delivered, upstream);

  // Two records in one datagram: two deliveries, in order.
  delivered.clear();
  Bytes two = client.Write(Of("first"));
  const Bytes second = client.Write(Of("second"));
  two.insert(two.end(), second.begin(), second.end());
  EXPECT_EQ(session->OnDatagram(two, &out_, collect), DtlsResult::kOpen);
  EXPECT_EQ(delivered, (std::vector<Bytes>{Of("first"), Of("second")}));

  const std::vector<Bytes> downstream = {Of("y"), binary, Of("the reply")};
  out_.clear();
  for (const Bytes& m : downstream) EXPECT_TRUE(session->Send(m, &out_));
  EXPECT_EQ(out_.count, downstream.size());  // one record, one datagram each
  client.ReceiveAll(out_);
  EXPECT_EQ(client.received, downstream);
}

TEST_F(DtlsSessionTest, RepliesCanBeSentFromInsideDeliver) {
  TestClient client(client_ctx_, kMtu);
  auto session = Connect(client, alice_);
  ASSERT_NE(session, nullptr);
  out_.clear();
  auto echo = [&](std::span<const uint8_t> m) { EXPECT_TRUE(session->Send(m, &out_)); };
  EXPECT_EQ(session->OnDatagram(client.Write(Of("ping")), &out_, echo), DtlsResult::kOpen);
  client.ReceiveAll(out_);
  EXPECT_EQ(client.received, std::vector<Bytes>{Of("ping")});

  // A message and close_notify in one datagram: the echo and our close_notify both go out.
  Bytes last_words = client.Write(Of("bye"));
  SSL_shutdown(client.ssl());
  const Bytes close_notify = client.Take();
  last_words.insert(last_words.end(), close_notify.begin(), close_notify.end());
  out_.clear();
  EXPECT_EQ(session->OnDatagram(last_words, &out_, echo), DtlsResult::kClosed);
  EXPECT_EQ(out_.count, 2u);
  client.ReceiveAll(out_);
  EXPECT_EQ(client.received, (std::vector<Bytes>{Of("ping"), Of("bye")}));
}

TEST_F(DtlsSessionTest, SendFailsBeforeTheHandshakeIsDone) {
  TestClient client(client_ctx_, kMtu);
  auto session = Accept(alice_, HelloWithCookie(client, alice_));
  ASSERT_NE(session, nullptr);
  EXPECT_FALSE(session->open());
  DtlsOutput out;
  EXPECT_FALSE(session->Send(Of("too early"), &out));
  EXPECT_EQ(out.count, 0u);
}

TEST_F(DtlsSessionTest, CookieMadeForAnotherAddressGetsAFreshHelloVerifyRequest) {
  TestClient client(client_ctx_, kMtu);
  const Bytes hello = HelloWithCookie(client, alice_);
  const SocketAddress mallory = Address("203.0.113.9:40000");
  const SocketAddress alice_other_port = Address("198.51.100.7:40001");
  for (const SocketAddress& from : {mallory, alice_other_port}) {
    EXPECT_EQ(Accept(from, hello), nullptr) << from.ToString();
    ASSERT_EQ(out_.count, 1u);
    EXPECT_EQ(FirstHandshakeType(out_.datagrams[0]), kHelloVerifyRequest);
  }
  // The real owner of the cookie still gets in.
  EXPECT_NE(Accept(alice_, hello), nullptr);
}

TEST_F(DtlsSessionTest, RotateKeepsThePreviousCookieValidOnce) {
  TestClient client(client_ctx_, kMtu);
  const Bytes hello = HelloWithCookie(client, alice_);
  key_.Rotate();
  EXPECT_NE(Accept(alice_, hello), nullptr);
  key_.Rotate();
  EXPECT_EQ(Accept(alice_, hello), nullptr);
  EXPECT_EQ(out_.count, 1u);  // a HelloVerifyRequest with a cookie under the new secret
}

TEST_F(DtlsSessionTest, RetransmittedClientHelloWithTheCookieDoesNotDisturbTheHandshake) {
  TestClient client(client_ctx_, kMtu);
  const Bytes hello = HelloWithCookie(client, alice_);
  auto session = Accept(alice_, hello);
  ASSERT_NE(session, nullptr);
  DtlsOutput flight = out_;
  // The client did not hear back in time and repeats itself to the session.
  out_.clear();
  EXPECT_EQ(session->OnDatagram(hello, &out_, Ignore), DtlsResult::kHandshaking);
  out_ = flight;
  Finish(client, *session);
  EXPECT_TRUE(session->open());
  EXPECT_TRUE(client.finished());
}

// The client's retransmission timer. While the flag (the SSL's app data) is set, a timer that
// starts is due at once (OpenSSL treats under 15 ms left as expired), so the client retransmits
// its flight right after sending it, in the same call; the restarted timer then runs 1 s. The
// test never waits on the clock.
unsigned int TestTimer(SSL* ssl, unsigned int current_us) {
  const bool* fast = static_cast<const bool*>(SSL_get_app_data(ssl));
  return current_us == 0 && fast != nullptr && *fast ? 1000 : 1000000;
}

// Splits what a client sent into its first flight and the retransmission after it: the second
// starts where the first record type and epoch come round again.
std::pair<Bytes, Bytes> SplitRetransmission(const Bytes& sent) {
  std::vector<Record> records;
  if (!Records(sent, &records) || records.size() < 2) return {};
  size_t at = 13 + records[0].length;
  for (size_t i = 1; i < records.size(); ++i) {
    if (records[i].type == records[0].type && records[i].epoch == records[0].epoch) {
      return {Bytes(sent.begin(), sent.begin() + static_cast<std::ptrdiff_t>(at)),
              Bytes(sent.begin() + static_cast<std::ptrdiff_t>(at), sent.end())};
    }
    at += 13 + records[i].length;
  }
  return {};
}

TEST_F(DtlsSessionTest, LostFinalFlightIsResentWhenTheClientRetransmits) {
  TestClient client(client_ctx_, kMtu);
  bool fast_timer = false;
  SSL_set_app_data(client.ssl(), &fast_timer);
  DTLS_set_timer_cb(client.ssl(), &TestTimer);
  auto session = Accept(alice_, HelloWithCookie(client, alice_));
  ASSERT_NE(session, nullptr);
  fast_timer = true;
  const auto [flight, retransmission] = SplitRetransmission(client.ReceiveAll(out_));
  fast_timer = false;
  ASSERT_FALSE(flight.empty());
  ASSERT_FALSE(retransmission.empty());

  out_.clear();
  EXPECT_EQ(session->OnDatagram(flight, &out_, Ignore), DtlsResult::kOpen);
  EXPECT_GT(out_.count, 0u);
  out_.clear();  // the server's ChangeCipherSpec and Finished are lost
  ASSERT_FALSE(client.finished());

  EXPECT_EQ(session->OnDatagram(retransmission, &out_, Ignore), DtlsResult::kOpen);
  ASSERT_GT(out_.count, 0u);  // the server's last flight, again
  client.ReceiveAll(out_);
  EXPECT_TRUE(client.finished());
  EXPECT_FALSE(client.failed);
}

TEST_F(DtlsSessionTest, OnTickSendsNothingBeforeTheTimerIsDueOrOnceOpen) {
  TestClient client(client_ctx_, kMtu);
  auto session = Accept(alice_, HelloWithCookie(client, alice_));
  ASSERT_NE(session, nullptr);
  DtlsOutput tick;
  session->OnTick(&tick);  // the 1 s timer has just started
  EXPECT_EQ(tick.count, 0u);
  Finish(client, *session);
  ASSERT_TRUE(session->open());
  session->OnTick(&tick);
  EXPECT_EQ(tick.count, 0u);
  EXPECT_TRUE(session->open());
}

TEST_F(DtlsSessionTest, CloseNotifyFromTheClientClosesTheSession) {
  TestClient client(client_ctx_, kMtu);
  auto session = Connect(client, alice_);
  ASSERT_NE(session, nullptr);
  SSL_shutdown(client.ssl());
  const Bytes close_notify = client.Take();
  ASSERT_FALSE(close_notify.empty());
  out_.clear();
  EXPECT_EQ(session->OnDatagram(close_notify, &out_, Ignore), DtlsResult::kClosed);
  EXPECT_FALSE(session->open());
  EXPECT_EQ(out_.count, 1u);  // our close_notify in answer
  EXPECT_FALSE(session->Send(Of("after close"), &out_));
  EXPECT_EQ(session->OnDatagram(close_notify, &out_, Ignore), DtlsResult::kClosed);
}

TEST_F(DtlsSessionTest, CloseSendsCloseNotifyToTheClient) {
  TestClient client(client_ctx_, kMtu);
  auto session = Connect(client, alice_);
  ASSERT_NE(session, nullptr);
  out_.clear();
  session->Close(&out_);
  EXPECT_FALSE(session->open());
  ASSERT_EQ(out_.count, 1u);
  client.ReceiveAll(out_);
  EXPECT_TRUE(client.closed);
}

TEST_F(DtlsSessionTest, TenThousandCookielessClientHellosLeaveNoState) {
  TestClient client(client_ctx_, kMtu);
  const Bytes hello = client.Step();
  DtlsOutput out;
  auto flood = [&](uint32_t first, uint32_t count) {
    size_t sessions = 0;
    size_t answers = 0;
    for (uint32_t i = first; i < first + count; ++i) {
      const SocketAddress from{IpAddress::V4(0x0A000000u + i), static_cast<uint16_t>(1024 + i)};
      out.clear();
      if (DtlsSession::Accept(contexts_->dtls(), key_, from, hello, kMtu, &out) != nullptr) {
        ++sessions;
      }
      answers += out.count;
    }
    EXPECT_EQ(sessions, 0u);
    EXPECT_EQ(answers, count);  // exactly one HelloVerifyRequest each
  };
  flood(0, 200);  // warm up: OpenSSL's lazily built tables, the output vectors
#ifndef CV_TEST_ASAN
  const size_t before = mallinfo2().uordblks;
#endif
  flood(200, 10'000);
#ifndef CV_TEST_ASAN
  const size_t after = mallinfo2().uordblks;
  EXPECT_LT(after, before + 256 * 1024) << "heap in use grew from " << before << " to " << after;
#endif
}

TEST_F(DtlsSessionTest, GarbageIsDroppedWithoutStateOrCrash) {
  std::mt19937 rng(20240611);
  DtlsOutput out;
  auto accept = [&](const Bytes& d) {
    out.clear();
    return DtlsSession::Accept(contexts_->dtls(), key_, alice_, d, kMtu, &out);
  };
  // Random bytes, some dressed as a DTLS handshake record so they get past the first check.
  for (int i = 0; i < 2000; ++i) {
    Bytes d(rng() % 400);
    for (uint8_t& b : d) b = static_cast<uint8_t>(rng());
    if (i % 2 == 0 && d.size() > 13) {
      d[0] = kHandshakeRecord;
      d[1] = 0xFE;
      d[3] = d[4] = 0;
      d[13] = 1;
    }
    EXPECT_EQ(accept(d), nullptr);
    EXPECT_LE(out.count, 1u);
  }
  // Not a ClientHello at all: nothing goes out.
  EXPECT_EQ(accept({}), nullptr);
  EXPECT_EQ(out.count, 0u);
  EXPECT_EQ(accept(Of("GET / HTTP/1.1\r\n\r\n")), nullptr);
  EXPECT_EQ(out.count, 0u);

  // A real ClientHello, truncated or with flipped bytes: never a session.
  TestClient client(client_ctx_, kMtu);
  const Bytes hello = client.Step();
  for (size_t n = 0; n < hello.size(); ++n) {
    EXPECT_EQ(accept(Bytes(hello.begin(), hello.begin() + static_cast<std::ptrdiff_t>(n))),
              nullptr);
  }
  for (int i = 0; i < 2000; ++i) {
    Bytes d = hello;
    for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips) {
      d[rng() % d.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
    }
    EXPECT_EQ(accept(d), nullptr);
  }
  // A cookie-carrying ClientHello with a damaged cookie (it starts right after the 32-byte
  // random and the empty session id): refused.
  TestClient second(client_ctx_, kMtu);
  const Bytes with_cookie = HelloWithCookie(second, alice_);
  ASSERT_GT(with_cookie.size(), 13u + 12 + 2 + 32 + 1 + DtlsCookieKey::kCookieSize);
  const size_t cookie_length_at = 13 + 12 + 2 + 32 + 1;
  ASSERT_EQ(with_cookie[cookie_length_at], DtlsCookieKey::kCookieSize);
  Bytes forged = with_cookie;
  forged[cookie_length_at + 1] ^= 0x01;
  EXPECT_EQ(accept(forged), nullptr);
  EXPECT_EQ(out.count, 1u);  // treated as no cookie: a fresh HelloVerifyRequest

  // Garbage into an open session is discarded; the session goes on.
  TestClient peer(client_ctx_, kMtu);
  auto session = Connect(peer, alice_);
  ASSERT_NE(session, nullptr);
  for (int i = 0; i < 500; ++i) {
    Bytes d(rng() % 300);
    for (uint8_t& b : d) b = static_cast<uint8_t>(rng());
    out.clear();
    EXPECT_EQ(session->OnDatagram(d, &out, Ignore), DtlsResult::kOpen);
  }
  std::vector<Bytes> delivered;
  out.clear();
  session->OnDatagram(peer.Write(Of("still here")), &out, [&](std::span<const uint8_t> m) {
    delivered.emplace_back(m.begin(), m.end());
  });
  EXPECT_EQ(delivered, std::vector<Bytes>{Of("still here")});
}

TEST(DtlsCookieKeyTest, CookieIsBoundToAddressAndPort) {
  DtlsCookieKey key;
  const SocketAddress a = Address("192.0.2.1:5000");
  const SocketAddress b = Address("192.0.2.1:5001");
  const SocketAddress v6 = Address("[2001:db8::1]:5000");
  const auto cookie = key.Make(a);
  EXPECT_TRUE(key.Verify(a, cookie));
  EXPECT_FALSE(key.Verify(b, cookie));
  EXPECT_FALSE(key.Verify(v6, cookie));
  EXPECT_TRUE(key.Verify(v6, key.Make(v6)));
  EXPECT_FALSE(key.Verify(a, std::span<const uint8_t>(cookie).first(15)));
  EXPECT_FALSE(key.Verify(a, DtlsCookieKey::Cookie{}));
  DtlsCookieKey other;
  EXPECT_FALSE(other.Verify(a, cookie));
}

TEST(DtlsCookieKeyTest, PreviousSecretIsAcceptedForOneRotation) {
  DtlsCookieKey key;
  const SocketAddress a = Address("192.0.2.1:5000");
  const auto before = key.Make(a);
  key.Rotate();
  EXPECT_TRUE(key.Verify(a, before));
  EXPECT_NE(key.Make(a), before);
  key.Rotate();
  EXPECT_FALSE(key.Verify(a, before));
}

}  // namespace
}  // namespace cv::net
