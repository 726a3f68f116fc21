// StreamConn over a non-blocking AF_UNIX socketpair: framing of what arrives, the send buffer,
// errors, TLS 1.3 (a self-signed EC certificate made in memory) and RFC 6062 raw mode.
#include "relay/net/stream_conn.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace cv::net {
namespace {

using Bytes = std::vector<uint8_t>;
using Status = StreamConn::Status;

constexpr char kHostName[] = "relay.cvrelay.test";

Bytes Stun(uint16_t body, uint8_t fill = 0x11) {
  Bytes m = {0x00, 0x0B, static_cast<uint8_t>(body >> 8), static_cast<uint8_t>(body), 0x21, 0x12,
             0xA4, 0x42};
  m.resize(20, 0x77);
  m.resize(20 + body, fill);
  return m;
}

Bytes ChannelData(uint16_t length, uint8_t fill = 0x22, uint16_t channel = 0x4001) {
  Bytes m = {static_cast<uint8_t>(channel >> 8), static_cast<uint8_t>(channel),
             static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length)};
  m.resize(4 + length, fill);
  return m;
}

// The message as it travels on the stream: ChannelData padded to a multiple of 4.
Bytes OnStream(const Bytes& message) {
  Bytes out = message;
  if (message[0] >= 0x40) out.resize((out.size() + 3) & ~size_t{3}, 0);
  return out;
}

Bytes ToBytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

struct Pair {
  int conn = -1;  // handed to the StreamConn
  int peer = -1;
};

Pair MakePair() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return {};
  for (int fd : fds) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return {fds[0], fds[1]};
}

// Writes all of `bytes` to a non-blocking fd that is known to have room.
void WriteAll(int fd, std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t n = write(fd, bytes.data(), bytes.size());
    ASSERT_GT(n, 0) << strerror(errno);
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
}

// Reads everything the fd has now.
Bytes ReadAvailable(int fd) {
  Bytes out;
  uint8_t chunk[65536];
  for (;;) {
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n <= 0) return out;
    out.insert(out.end(), chunk, chunk + n);
  }
}

// Collects what OnReadable delivers.
struct Sink {
  std::vector<Bytes> messages;
  void operator()(std::span<const uint8_t> m) { messages.emplace_back(m.begin(), m.end()); }
};

class StreamConnTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    signal(SIGPIPE, SIG_IGN);  // as cvrelay does: a peer that hangs up must not kill the process
    MakeTlsContexts();
  }
  static void TearDownTestSuite() {
    SSL_CTX_free(server_ctx_);
    SSL_CTX_free(client_ctx_);
    server_ctx_ = client_ctx_ = nullptr;
  }

  void TearDown() override {
    conn_.reset();
    if (client_ != nullptr) SSL_free(client_);
    if (pair_.peer >= 0) close(pair_.peer);
  }

  // A plain TCP-like conn on one end of a socketpair; the test holds the other end.
  void OpenPlain(const StreamLimits& limits = {}) {
    pair_ = MakePair();
    ASSERT_GE(pair_.conn, 0);
    conn_ = std::make_unique<StreamConn>(pair_.conn, nullptr, limits);
  }

  // A TLS conn; the test's end is a TLS 1.3 client that checks the server's certificate.
  void OpenTls(const StreamLimits& limits = {}) {
    pair_ = MakePair();
    ASSERT_GE(pair_.conn, 0);
    conn_ = std::make_unique<StreamConn>(pair_.conn, SSL_new(server_ctx_), limits);
    client_ = SSL_new(client_ctx_);
    ASSERT_NE(client_, nullptr);
    ASSERT_EQ(SSL_set_fd(client_, pair_.peer), 1);
    ASSERT_EQ(SSL_set1_host(client_, kHostName), 1);
    SSL_set_connect_state(client_);
  }

  // Runs client and server handshakes in turns until both are done.
  bool PumpHandshake() {
    bool client_done = false;
    for (int round = 0; round < 50; ++round) {
      if (!client_done) {
        ERR_clear_error();
        const int r = SSL_connect(client_);
        if (r == 1) {
          client_done = true;
        } else {
          const int error = SSL_get_error(client_, r);
          if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) return false;
        }
      }
      Sink ignored;
      if (conn_->OnReadable(ignored) != Status::kOk) return false;
      if (conn_->wants_write() && conn_->Flush() != Status::kOk) return false;
      if (client_done && conn_->handshake_done()) return true;
    }
    return false;
  }

  void ClientWrite(std::span<const uint8_t> bytes) {
    size_t written = 0;
    ASSERT_EQ(SSL_write_ex(client_, bytes.data(), bytes.size(), &written), 1);
    ASSERT_EQ(written, bytes.size());
  }

  // Reads what the client can decrypt now.
  Bytes ClientRead() {
    Bytes out;
    uint8_t chunk[16384];
    size_t n = 0;
    while (SSL_read_ex(client_, chunk, sizeof(chunk), &n) == 1)
      out.insert(out.end(), chunk, chunk + n);
    ERR_clear_error();
    return out;
  }

  static void MakeTlsContexts() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    ASSERT_NE(key, nullptr);
    X509* cert = X509_new();
    ASSERT_NE(cert, nullptr);
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(kHostName), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);

    server_ctx_ = SSL_CTX_new(TLS_server_method());
    ASSERT_NE(server_ctx_, nullptr);
    SSL_CTX_set_min_proto_version(server_ctx_, TLS1_3_VERSION);
    ASSERT_EQ(SSL_CTX_use_certificate(server_ctx_, cert), 1);
    ASSERT_EQ(SSL_CTX_use_PrivateKey(server_ctx_, key), 1);

    client_ctx_ = SSL_CTX_new(TLS_client_method());
    ASSERT_NE(client_ctx_, nullptr);
    SSL_CTX_set_min_proto_version(client_ctx_, TLS1_3_VERSION);
    SSL_CTX_set_verify(client_ctx_, SSL_VERIFY_PEER, nullptr);
    ASSERT_EQ(X509_STORE_add_cert(SSL_CTX_get_cert_store(client_ctx_), cert), 1);
    X509_free(cert);
    EVP_PKEY_free(key);
  }

  static SSL_CTX* server_ctx_;
  static SSL_CTX* client_ctx_;
  Pair pair_;
  std::unique_ptr<StreamConn> conn_;
  SSL* client_ = nullptr;
  Sink sink_;
};

SSL_CTX* StreamConnTest::server_ctx_ = nullptr;
SSL_CTX* StreamConnTest::client_ctx_ = nullptr;

// ---------------------------------------------------------------------------------------------
// Receiving

TEST_F(StreamConnTest, MessagesWrittenInRandomChunksComeOutWhole) {
  OpenPlain();
  std::vector<Bytes> sent;
  Bytes stream;
  std::mt19937 random(8656);
  for (int i = 0; i < 200; ++i) {
    Bytes m = (i % 3 == 0) ? Stun(static_cast<uint16_t>(4 * (random() % 64)), uint8_t(i))
                           : ChannelData(static_cast<uint16_t>(random() % 300), uint8_t(i));
    const Bytes wire = OnStream(m);
    stream.insert(stream.end(), wire.begin(), wire.end());
    sent.push_back(std::move(m));
  }
  sent.push_back(ChannelData(4096, 0xAB));  // the largest allowed
  const Bytes largest = OnStream(sent.back());
  stream.insert(stream.end(), largest.begin(), largest.end());

  size_t offset = 0;
  while (offset < stream.size()) {
    const size_t chunk = std::min<size_t>(1 + random() % 700, stream.size() - offset);
    WriteAll(pair_.peer, std::span<const uint8_t>(stream).subspan(offset, chunk));
    offset += chunk;
    ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  }
  EXPECT_EQ(sink_.messages, sent);
  EXPECT_TRUE(conn_->buffered_input().empty());
}

TEST_F(StreamConnTest, ReadingStopsAfterMaxReadPerCallAndResumesOnTheNextCall) {
  StreamLimits limits;
  limits.max_read_per_call = 64;
  OpenPlain(limits);
  for (int i = 0; i < 10; ++i) WriteAll(pair_.peer, ChannelData(60, uint8_t(i)));
  ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  EXPECT_EQ(sink_.messages.size(), 1u);
  for (int call = 0; call < 20 && sink_.messages.size() < 10; ++call) {
    ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  }
  ASSERT_EQ(sink_.messages.size(), 10u);
  EXPECT_EQ(sink_.messages[9], ChannelData(60, 9));
}

TEST_F(StreamConnTest, FrameBiggerThanMaxMessageReturnsTooLargeWithoutBufferingIt) {
  OpenPlain();
  WriteAll(pair_.peer, Stun(8));
  Bytes huge = ChannelData(0xFFFF);
  huge.resize(32 * 1024);  // the header and the start of its data
  WriteAll(pair_.peer, huge);
  EXPECT_EQ(conn_->OnReadable(sink_), Status::kTooLarge);
  EXPECT_EQ(sink_.messages, std::vector<Bytes>{Stun(8)});  // what came before is delivered
  EXPECT_LT(conn_->buffer_bytes(), huge.size());
  EXPECT_LT(conn_->buffered_input().size(), huge.size());
  EXPECT_EQ(conn_->OnReadable(sink_), Status::kTooLarge);  // final
}

TEST_F(StreamConnTest, GarbageReturnsInvalid) {
  OpenPlain();
  WriteAll(pair_.peer, OnStream(ChannelData(3)));
  WriteAll(pair_.peer, Bytes{0x9A, 0x01, 0x02, 0x03, 0x04, 0x05});  // neither STUN nor ChannelData
  EXPECT_EQ(conn_->OnReadable(sink_), Status::kInvalid);
  EXPECT_EQ(sink_.messages, std::vector<Bytes>{ChannelData(3)});
  EXPECT_FALSE(conn_->Append(Stun(0), false));
  EXPECT_EQ(conn_->Flush(), Status::kInvalid);
}

TEST_F(StreamConnTest, MissingChannelDataPaddingDesynchronisesTheStreamAndFailsIt) {
  OpenPlain();
  WriteAll(pair_.peer, ChannelData(1));  // 5 bytes and no padding: 3 bytes of the next are eaten
  WriteAll(pair_.peer, Stun(0));         // read from its 4th byte: 00 21 12 A4, 4772 bytes
  EXPECT_EQ(conn_->OnReadable(sink_), Status::kTooLarge);
  EXPECT_EQ(sink_.messages, std::vector<Bytes>{ChannelData(1)});
}

TEST_F(StreamConnTest, EofReturnsClosedAfterDeliveringWhatCameBefore) {
  OpenPlain();
  WriteAll(pair_.peer, Stun(4));
  shutdown(pair_.peer, SHUT_WR);
  // A short read ends a call without another read() (the fd stays readable): EOF is seen by the
  // same call or the next one.
  Status status = conn_->OnReadable(sink_);
  if (status == Status::kOk) status = conn_->OnReadable(sink_);
  EXPECT_EQ(status, Status::kClosed);
  EXPECT_EQ(sink_.messages, std::vector<Bytes>{Stun(4)});
}

TEST_F(StreamConnTest, PeerClosingAnIdleConnectionIsClosed) {
  OpenPlain();
  close(pair_.peer);
  pair_.peer = -1;
  EXPECT_EQ(conn_->OnReadable(sink_), Status::kClosed);
  EXPECT_EQ(conn_->OnReadable(sink_), Status::kClosed);
  EXPECT_FALSE(conn_->wants_write());
}

TEST_F(StreamConnTest, NothingToReadIsOk) {
  OpenPlain();
  EXPECT_EQ(conn_->OnReadable(sink_), Status::kOk);
  EXPECT_TRUE(sink_.messages.empty());
  EXPECT_TRUE(conn_->handshake_done());
  EXPECT_FALSE(conn_->tls());
}

// ---------------------------------------------------------------------------------------------
// Sending

TEST_F(StreamConnTest, AppendPadsChannelDataAndNothingLeavesBeforeFlush) {
  OpenPlain();
  ASSERT_TRUE(conn_->Append(ChannelData(5), true));
  ASSERT_TRUE(conn_->Append(Stun(4), false));
  EXPECT_EQ(conn_->pending_tx(), 12u + 24u);
  EXPECT_TRUE(conn_->wants_write());
  EXPECT_TRUE(ReadAvailable(pair_.peer).empty());

  EXPECT_EQ(conn_->Flush(), Status::kOk);
  Bytes expected = OnStream(ChannelData(5));
  const Bytes stun = Stun(4);
  expected.insert(expected.end(), stun.begin(), stun.end());
  EXPECT_EQ(ReadAvailable(pair_.peer), expected);
  EXPECT_EQ(conn_->pending_tx(), 0u);
  EXPECT_FALSE(conn_->wants_write());
}

TEST_F(StreamConnTest, AppendBeyondMaxTxIsRefusedAndQueuesNothing) {
  StreamLimits limits;
  limits.max_tx = 98;
  OpenPlain(limits);
  EXPECT_TRUE(conn_->Append(Bytes(60, 1), false));
  EXPECT_FALSE(conn_->Append(Bytes(39, 2), false));
  EXPECT_EQ(conn_->pending_tx(), 60u);
  EXPECT_FALSE(conn_->Append(ChannelData(33), true));  // 37 bytes fit, not with 3 of padding
  EXPECT_EQ(conn_->pending_tx(), 60u);
  EXPECT_TRUE(conn_->Append(ChannelData(32), true));  // 36 bytes, no padding
  EXPECT_EQ(conn_->pending_tx(), 96u);
  EXPECT_EQ(conn_->Flush(), Status::kOk);
  EXPECT_EQ(ReadAvailable(pair_.peer).size(), 96u);
  EXPECT_TRUE(conn_->Append(Bytes(98, 3), false));  // room again once written
}

TEST_F(StreamConnTest, FlushWithAFullSocketKeepsTheRestAndWantsWrite) {
  OpenPlain();
  const int small = 4096;
  setsockopt(pair_.conn, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  setsockopt(pair_.peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  Bytes sent;
  for (int i = 0; i < 200; ++i) {
    const Bytes m = ChannelData(997, uint8_t(i));
    ASSERT_TRUE(conn_->Append(m, true));
    const Bytes wire = OnStream(m);
    sent.insert(sent.end(), wire.begin(), wire.end());
  }
  EXPECT_EQ(conn_->Flush(), Status::kOk);
  EXPECT_GT(conn_->pending_tx(), 0u);
  EXPECT_LT(conn_->pending_tx(), sent.size());
  EXPECT_TRUE(conn_->wants_write());

  Bytes received = ReadAvailable(pair_.peer);
  for (int round = 0; round < 10000 && conn_->wants_write(); ++round) {
    ASSERT_EQ(conn_->Flush(), Status::kOk);
    const Bytes more = ReadAvailable(pair_.peer);
    received.insert(received.end(), more.begin(), more.end());
  }
  const Bytes rest = ReadAvailable(pair_.peer);
  received.insert(received.end(), rest.begin(), rest.end());
  EXPECT_FALSE(conn_->wants_write());
  EXPECT_EQ(received, sent);
}

TEST_F(StreamConnTest, FlushToAPeerThatLeftReturnsClosed) {
  OpenPlain();
  close(pair_.peer);
  pair_.peer = -1;
  ASSERT_TRUE(conn_->Append(Stun(0), false));
  EXPECT_EQ(conn_->Flush(), Status::kClosed);
}

TEST_F(StreamConnTest, OnMessageMayAppendAReplyThatFlushSends) {
  OpenPlain();
  WriteAll(pair_.peer, Stun(8));
  WriteAll(pair_.peer, OnStream(ChannelData(7)));
  EXPECT_EQ(conn_->OnReadable([this](std::span<const uint8_t> m) {
    EXPECT_TRUE(conn_->Append(m, m[0] >= 0x40));
  }),
            Status::kOk);
  EXPECT_EQ(conn_->Flush(), Status::kOk);
  Bytes expected = Stun(8);
  const Bytes cd = OnStream(ChannelData(7));
  expected.insert(expected.end(), cd.begin(), cd.end());
  EXPECT_EQ(ReadAvailable(pair_.peer), expected);
}

// ---------------------------------------------------------------------------------------------
// TLS

TEST_F(StreamConnTest, TlsHandshakeThenMessagesBothWays) {
  OpenTls();
  EXPECT_TRUE(conn_->tls());
  EXPECT_FALSE(conn_->handshake_done());
  ASSERT_TRUE(PumpHandshake());
  EXPECT_EQ(SSL_version(client_), TLS1_3_VERSION);
  EXPECT_EQ(SSL_get_verify_result(client_), X509_V_OK);

  Bytes stream = Stun(16);
  const Bytes cd = OnStream(ChannelData(10));
  stream.insert(stream.end(), cd.begin(), cd.end());
  ClientWrite(stream);
  ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  EXPECT_EQ(sink_.messages, (std::vector<Bytes>{Stun(16), ChannelData(10)}));

  ASSERT_TRUE(conn_->Append(ChannelData(5, 0x5A), true));
  ASSERT_TRUE(conn_->Append(Stun(4, 0x5B), false));
  ASSERT_EQ(conn_->Flush(), Status::kOk);
  EXPECT_FALSE(conn_->wants_write());
  Bytes expected = OnStream(ChannelData(5, 0x5A));
  const Bytes stun = Stun(4, 0x5B);
  expected.insert(expected.end(), stun.begin(), stun.end());
  EXPECT_EQ(ClientRead(), expected);
}

TEST_F(StreamConnTest, TlsDrainsWhatOpenSslHoldsBeforeReturning) {
  // Level-triggered epoll will not wake for bytes OpenSSL already read from the socket, so one
  // OnReadable delivers a whole record even past max_read_per_call.
  StreamLimits limits;
  limits.max_read_per_call = 64;
  OpenTls(limits);
  ASSERT_TRUE(PumpHandshake());
  Bytes record;
  std::vector<Bytes> sent;
  for (int i = 0; i < 20; ++i) {
    sent.push_back(ChannelData(60, uint8_t(i)));
    record.insert(record.end(), sent.back().begin(), sent.back().end());
  }
  ClientWrite(record);  // one TLS record of 1280 bytes
  ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  EXPECT_EQ(sink_.messages, sent);
}

TEST_F(StreamConnTest, TlsFlushResumesAfterAFullSocketWhileTheBufferMoves) {
  OpenTls();
  ASSERT_TRUE(PumpHandshake());
  ClientRead();  // session tickets
  const int small = 4096;
  setsockopt(pair_.conn, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  setsockopt(pair_.peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  Bytes sent;
  auto append = [&](int first, int count) {
    for (int i = first; i < first + count; ++i) {
      const Bytes m = ChannelData(1021, uint8_t(i));
      ASSERT_TRUE(conn_->Append(m, true));
      const Bytes wire = OnStream(m);
      sent.insert(sent.end(), wire.begin(), wire.end());
    }
  };
  append(0, 40);
  ASSERT_EQ(conn_->Flush(), Status::kOk);
  ASSERT_TRUE(conn_->wants_write());
  append(40, 100);  // grows the buffer (it moves) while OpenSSL waits to retry a write
  Bytes received;
  for (int round = 0; round < 10000 && (conn_->wants_write() || received.size() < sent.size());
       ++round) {
    ASSERT_EQ(conn_->Flush(), Status::kOk);
    const Bytes more = ClientRead();
    received.insert(received.end(), more.begin(), more.end());
  }
  EXPECT_EQ(received, sent);
}

TEST_F(StreamConnTest, ClientSendingGarbageInsteadOfAClientHelloFailsTheHandshake) {
  OpenTls();
  WriteAll(pair_.peer, ToBytes("GET / HTTP/1.1\r\nHost: relay\r\n\r\n"));
  EXPECT_EQ(conn_->OnReadable(sink_), Status::kTlsFailed);
  EXPECT_FALSE(conn_->handshake_done());
  EXPECT_TRUE(sink_.messages.empty());
  EXPECT_EQ(ERR_peek_error(), 0u);  // nothing left on this thread's error queue
}

TEST_F(StreamConnTest, ClientLeavingMidHandshakeIsClosed) {
  OpenTls();
  shutdown(pair_.peer, SHUT_WR);
  EXPECT_EQ(conn_->OnReadable(sink_), Status::kClosed);
}

TEST_F(StreamConnTest, AppendedBeforeTheHandshakeIsSentAfterIt) {
  OpenTls();
  ASSERT_TRUE(conn_->Append(Stun(0), false));
  EXPECT_FALSE(conn_->wants_write());  // nothing to do until the client speaks
  ASSERT_TRUE(PumpHandshake());
  ASSERT_EQ(conn_->Flush(), Status::kOk);
  EXPECT_EQ(ClientRead(), Stun(0));
}

TEST_F(StreamConnTest, TlsCloseNotifyIsClosed) {
  OpenTls();
  ASSERT_TRUE(PumpHandshake());
  ClientWrite(Stun(0));
  SSL_shutdown(client_);
  EXPECT_EQ(conn_->OnReadable(sink_), Status::kClosed);
  EXPECT_EQ(sink_.messages, std::vector<Bytes>{Stun(0)});
}

// ---------------------------------------------------------------------------------------------
// Raw mode (RFC 6062 data connection)

TEST_F(StreamConnTest, RawModeDeliversBytesAsIsIncludingWhatWasBufferedBeforeSetRaw) {
  OpenPlain();
  const Bytes bind = Stun(8);                                   // a ConnectionBind request
  const Bytes early = {0xFF, 0x00, 0x01, 0x7F, 'r', 'a', 'w'};  // not STUN nor ChannelData
  Bytes first = bind;
  first.insert(first.end(), early.begin(), early.end());
  WriteAll(pair_.peer, first);

  std::vector<Bytes> framed;
  EXPECT_EQ(conn_->OnReadable([&](std::span<const uint8_t> m) {
    framed.emplace_back(m.begin(), m.end());
    conn_->SetRaw();
  }),
            Status::kOk);
  EXPECT_EQ(framed, std::vector<Bytes>{bind});
  EXPECT_TRUE(conn_->raw());
  EXPECT_EQ(Bytes(conn_->buffered_input().begin(), conn_->buffered_input().end()), early);

  ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  const Bytes later = {0x40, 0x00, 0xFF, 0xFF, 0x00};  // would be too large if framed
  WriteAll(pair_.peer, later);
  ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  Bytes received;
  for (const Bytes& chunk : sink_.messages)
    received.insert(received.end(), chunk.begin(), chunk.end());
  Bytes expected = early;
  expected.insert(expected.end(), later.begin(), later.end());
  EXPECT_EQ(received, expected);

  ASSERT_TRUE(conn_->Append(Bytes{1, 2, 3}, false));
  ASSERT_EQ(conn_->Flush(), Status::kOk);
  EXPECT_EQ(ReadAvailable(pair_.peer), (Bytes{1, 2, 3}));
}

TEST_F(StreamConnTest, TakeBufferedHandsOverWhatWasReadAfterTheBind) {
  OpenPlain();
  Bytes first = Stun(0);
  first.insert(first.end(), {9, 8, 7, 6, 5});
  WriteAll(pair_.peer, first);
  Bytes taken(16);
  size_t n = 0;
  EXPECT_EQ(conn_->OnReadable([&](std::span<const uint8_t>) {
    conn_->SetRaw();
    n = conn_->TakeBuffered(taken);
  }),
            Status::kOk);
  taken.resize(n);
  EXPECT_EQ(taken, (Bytes{9, 8, 7, 6, 5}));
  EXPECT_TRUE(conn_->buffered_input().empty());
  EXPECT_EQ(conn_->OnReadable(sink_), Status::kOk);
  EXPECT_TRUE(sink_.messages.empty());
}

TEST_F(StreamConnTest, TlsRawModeDeliversDecryptedBytesAsIs) {
  OpenTls();
  ASSERT_TRUE(PumpHandshake());
  conn_->SetRaw();
  ClientWrite(ToBytes("not a TURN frame"));
  ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  ASSERT_EQ(sink_.messages.size(), 1u);
  EXPECT_EQ(sink_.messages[0], ToBytes("not a TURN frame"));
}

// ---------------------------------------------------------------------------------------------
// Memory

TEST_F(StreamConnTest, NoBufferUntilFirstUseAndNoneAfterReleaseIdleBuffers) {
  OpenPlain();
  EXPECT_EQ(conn_->buffer_bytes(), 0u);
  WriteAll(pair_.peer, Stun(0));
  ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  ASSERT_TRUE(conn_->Append(Stun(0), false));
  ASSERT_EQ(conn_->Flush(), Status::kOk);
  EXPECT_GT(conn_->buffer_bytes(), 0u);

  conn_->ReleaseIdleBuffers();
  EXPECT_EQ(conn_->buffer_bytes(), 0u);

  // Still works afterwards.
  WriteAll(pair_.peer, ChannelData(4));
  ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  EXPECT_EQ(sink_.messages.back(), ChannelData(4));
}

TEST_F(StreamConnTest, ReleaseIdleBuffersKeepsBuffersThatHoldData) {
  OpenPlain();
  WriteAll(pair_.peer, Bytes{0x00, 0x01});  // half a header
  ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  ASSERT_TRUE(conn_->Append(Stun(0), false));
  const size_t held = conn_->buffer_bytes();
  conn_->ReleaseIdleBuffers();
  EXPECT_EQ(conn_->buffer_bytes(), held);
  EXPECT_EQ(conn_->buffered_input().size(), 2u);
  EXPECT_EQ(conn_->pending_tx(), 20u);
}

TEST_F(StreamConnTest, SteadyTrafficDoesNotGrowTheBuffers) {
  OpenPlain();
  WriteAll(pair_.peer, OnStream(ChannelData(4096)));
  ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  ASSERT_TRUE(conn_->Append(ChannelData(4096), true));
  ASSERT_EQ(conn_->Flush(), Status::kOk);
  const size_t held = conn_->buffer_bytes();
  std::mt19937 random(6062);
  for (int i = 0; i < 500; ++i) {
    const Bytes m = OnStream(ChannelData(static_cast<uint16_t>(random() % 4097)));
    WriteAll(pair_.peer, std::span<const uint8_t>(m).first(m.size() / 2));
    ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
    WriteAll(pair_.peer, std::span<const uint8_t>(m).subspan(m.size() / 2));
    ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
    ASSERT_TRUE(conn_->Append(m, false));
    ASSERT_EQ(conn_->Flush(), Status::kOk);
    ReadAvailable(pair_.peer);
  }
  EXPECT_EQ(sink_.messages.size(), 501u);
  EXPECT_EQ(conn_->buffer_bytes(), held);
}

TEST_F(StreamConnTest, TlsReleaseIdleBuffersFreesOursAndKeepsTheSessionWorking) {
  OpenTls();
  ASSERT_TRUE(PumpHandshake());
  ClientWrite(Stun(0));
  ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  conn_->ReleaseIdleBuffers();
  EXPECT_EQ(conn_->buffer_bytes(), 0u);
  ClientWrite(Stun(4));
  ASSERT_EQ(conn_->OnReadable(sink_), Status::kOk);
  EXPECT_EQ(sink_.messages, (std::vector<Bytes>{Stun(0), Stun(4)}));
  ASSERT_TRUE(conn_->Append(Stun(8), false));
  ASSERT_EQ(conn_->Flush(), Status::kOk);
  ClientRead();
}

}  // namespace
}  // namespace cv::net
