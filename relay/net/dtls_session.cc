#include "relay/net/dtls_session.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "relay/common/log.h"

namespace cv::net {
namespace {

// The first record of a datagram that may start a handshake (RFC 6347 §4.1, §4.2.2):
//
//   0        1        2        3        5                 11       13
//  +--------+--------+--------+--------+-----------------+--------+
//  | type=22| version (FE xx) | epoch=0| sequence_number | length |  record header
//  +--------+--------+--------+--------+-----------------+--------+
//  13       14                17       19                22                25
//  +--------+-----------------+--------+-----------------+-----------------+----
//  | msg=1  | length          | msg_seq| fragment_offset | fragment_length | ClientHello
//  +--------+-----------------+--------+-----------------+-----------------+----
//
// Everything else is dropped before an SSL object is made for it; DTLSv1_listen checks the rest.
constexpr size_t kRecordHeader = 13;
constexpr size_t kHandshakeHeader = 12;
constexpr uint8_t kContentHandshake = 22;
constexpr uint8_t kDtlsMajor = 0xFE;
constexpr uint8_t kClientHello = 1;

bool LooksLikeClientHello(std::span<const uint8_t> d) {
  if (d.size() < kRecordHeader + kHandshakeHeader) return false;
  if (d[0] != kContentHandshake || d[1] != kDtlsMajor) return false;
  if (d[3] != 0 || d[4] != 0) return false;  // epoch 0: nothing is encrypted yet
  const size_t length = (size_t{d[11]} << 8) | d[12];
  if (length < kHandshakeHeader || length > d.size() - kRecordHeader) return false;
  return d[13] == kClientHello;
}

// Largest plaintext of one DTLS record (RFC 6347 §4.1: 2^14).
constexpr size_t kMaxRecordPlaintext = 16384;
// OpenSSL refuses a smaller DTLS MTU (its smallest probable MTU, 256, minus our zero overhead).
constexpr size_t kMinMtu = 256;
// During the handshake OpenSSL puts a buffering BIO (4096 bytes) in front of ours and packs each
// flight's records into it, flushing before the next record would pass the MTU: one flush = one
// datagram of whole records. An MTU beyond that buffer could make it flush mid-record.
constexpr size_t kMaxMtu = 4096;

const char* ErrorReason() {
  unsigned long e = ERR_peek_last_error();
  const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
  return reason != nullptr ? reason : "unknown";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Cookie key

DtlsCookieKey::DtlsCookieKey() {
  Secret current{}, previous{};
  if (RAND_bytes(reinterpret_cast<unsigned char*>(current.data()), sizeof(current)) != 1 ||
      RAND_bytes(reinterpret_cast<unsigned char*>(previous.data()), sizeof(previous)) != 1) {
    // No randomness means forgeable cookies; a relay must not start in that state.
    CV_ERROR("dtls.cookie_key", "reason=RAND_bytes-failed");
    std::abort();
  }
  for (size_t i = 0; i < kWords; ++i) {
    current_[i].store(current[i], std::memory_order_relaxed);
    previous_[i].store(previous[i], std::memory_order_relaxed);
  }
}

void DtlsCookieKey::Rotate() {
  Secret fresh{};
  if (RAND_bytes(reinterpret_cast<unsigned char*>(fresh.data()), sizeof(fresh)) != 1) {
    CV_ERROR("dtls.cookie_key", "reason=RAND_bytes-failed action=kept-secret");
    return;
  }
  std::lock_guard<std::mutex> lock(rotate_mutex_);
  const uint32_t seq = sequence_.load(std::memory_order_relaxed);
  sequence_.store(seq + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (size_t i = 0; i < kWords; ++i) {
    previous_[i].store(current_[i].load(std::memory_order_relaxed), std::memory_order_relaxed);
    current_[i].store(fresh[i], std::memory_order_relaxed);
  }
  sequence_.store(seq + 2, std::memory_order_release);
}

void DtlsCookieKey::Load(Secret* current, Secret* previous) const {
  for (;;) {
    const uint32_t before = sequence_.load(std::memory_order_acquire);
    if (before & 1) continue;  // Rotate() is copying 64 bytes; it is done in a moment
    for (size_t i = 0; i < kWords; ++i) {
      (*current)[i] = current_[i].load(std::memory_order_relaxed);
      (*previous)[i] = previous_[i].load(std::memory_order_relaxed);
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (sequence_.load(std::memory_order_relaxed) == before) return;
  }
}

namespace {

DtlsCookieKey::Cookie CookieUnder(const std::array<uint64_t, 4>& secret,
                                  const SocketAddress& client) {
  // HMAC-SHA256(secret, address bytes (4 or 16) ‖ port (network order)), first 16 bytes.
  uint8_t message[16 + 2];
  const size_t n = client.ip.size();
  std::memcpy(message, client.ip.data(), n);
  message[n] = static_cast<uint8_t>(client.port >> 8);
  message[n + 1] = static_cast<uint8_t>(client.port);
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  DtlsCookieKey::Cookie cookie{};
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(sizeof(secret)), message, n + 2, mac,
           &mac_len) == nullptr ||
      mac_len < cookie.size()) {
    // Cannot happen with SHA-256; a zero cookie never verifies (see Verify).
    return cookie;
  }
  std::memcpy(cookie.data(), mac, cookie.size());
  return cookie;
}

}  // namespace

DtlsCookieKey::Cookie DtlsCookieKey::Make(const SocketAddress& client) const {
  Secret current, previous;
  Load(&current, &previous);
  return CookieUnder(current, client);
}

bool DtlsCookieKey::Verify(const SocketAddress& client, std::span<const uint8_t> cookie) const {
  if (cookie.size() != kCookieSize) return false;
  Secret current, previous;
  Load(&current, &previous);
  static constexpr Cookie kZero{};
  if (CRYPTO_memcmp(cookie.data(), kZero.data(), kCookieSize) == 0) return false;
  const Cookie a = CookieUnder(current, client);
  const Cookie b = CookieUnder(previous, client);
  // Both comparisons always run: the time taken does not tell which secret matched.
  const bool match_current = CRYPTO_memcmp(cookie.data(), a.data(), kCookieSize) == 0;
  const bool match_previous = CRYPTO_memcmp(cookie.data(), b.data(), kCookieSize) == 0;
  return match_current || match_previous;
}

// ---------------------------------------------------------------------------------------------
// OpenSSL callbacks: the datagram BIO and the cookie exchange

struct DtlsSession::Internal {
  static BIO_METHOD* Method() {
    static BIO_METHOD* const method = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cvrelay datagram");
      if (m == nullptr) return m;
      BIO_meth_set_write(m, &Write);
      BIO_meth_set_read(m, &Read);
      BIO_meth_set_ctrl(m, &Ctrl);
      BIO_meth_set_create(m, &Create);
      return m;
    }();
    return method;
  }

  static int Create(BIO* bio) {
    BIO_set_data(bio, nullptr);
    BIO_set_init(bio, 1);
    return 1;
  }

  // One OpenSSL write = one datagram. Handshake flights arrive as flushes of OpenSSL's buffering
  // BIO (whole records, sized to the MTU); application records one per SSL_write.
  static int Write(BIO* bio, const char* data, int length) {
    BIO_clear_retry_flags(bio);
    auto* pipe = static_cast<Pipe*>(BIO_get_data(bio));
    if (pipe == nullptr || pipe->out == nullptr || length <= 0) return -1;
    if (static_cast<size_t>(length) > pipe->mtu) {
      pipe->too_big = true;
      return -1;
    }
    DtlsOutput& out = *pipe->out;
    if (out.count == out.datagrams.size()) out.datagrams.emplace_back();
    const auto* bytes = reinterpret_cast<const uint8_t*>(data);
    out.datagrams[out.count].assign(bytes, bytes + length);
    ++out.count;
    return length;
  }

  // Hands OpenSSL the current datagram once, then "try again later".
  static int Read(BIO* bio, char* buffer, int size) {
    BIO_clear_retry_flags(bio);
    auto* pipe = static_cast<Pipe*>(BIO_get_data(bio));
    if (pipe == nullptr || !pipe->in_ready || size <= 0) {
      BIO_set_retry_read(bio);
      return -1;
    }
    pipe->in_ready = false;
    // A datagram larger than OpenSSL's buffer is cut; its last record then fails to parse and is
    // discarded, as any malformed record is (RFC 6347 §4.1.2.7).
    const size_t n = std::min(pipe->in.size(), static_cast<size_t>(size));
    std::memcpy(buffer, pipe->in.data(), n);
    return static_cast<int>(n);
  }

  static long Ctrl(BIO* bio, int cmd, long, void*) {
    auto* pipe = static_cast<Pipe*>(BIO_get_data(bio));
    switch (cmd) {
      case BIO_CTRL_FLUSH:
        return 1;
      case BIO_CTRL_PENDING:
        return pipe != nullptr && pipe->in_ready ? static_cast<long>(pipe->in.size()) : 0;
      case BIO_CTRL_WPENDING:
        return 0;  // every write leaves at once
      case BIO_CTRL_DGRAM_QUERY_MTU:
      case BIO_CTRL_DGRAM_GET_FALLBACK_MTU:
        return pipe != nullptr ? static_cast<long>(pipe->mtu) : 0;
      case BIO_CTRL_DGRAM_SET_MTU:
        // Our MTU is fixed by Accept (SSL_OP_NO_QUERY_MTU); report it unchanged.
        return pipe != nullptr ? static_cast<long>(pipe->mtu) : 0;
      case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
        return 0;  // `mtu` already is the UDP payload size
      case BIO_CTRL_DGRAM_MTU_EXCEEDED: {
        const bool exceeded = pipe != nullptr && pipe->too_big;
        if (pipe != nullptr) pipe->too_big = false;
        return exceeded ? 1 : 0;
      }
      case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
        return 1;  // the worker's tick drives retransmission (OnTick)
      default:
        return 0;  // peer addresses, connect, push/pop: not ours to answer
    }
  }

  static int CookieIndex() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
  }

  static int GenerateCookie(SSL* ssl, unsigned char* cookie, unsigned int* length) {
    auto* check = static_cast<const CookieCheck*>(SSL_get_ex_data(ssl, CookieIndex()));
    if (check == nullptr || check->key == nullptr) return 0;
    const DtlsCookieKey::Cookie made = check->key->Make(check->client);
    std::memcpy(cookie, made.data(), made.size());
    *length = static_cast<unsigned int>(made.size());
    return 1;
  }

  static int VerifyCookie(SSL* ssl, const unsigned char* cookie, unsigned int length) {
    auto* check = static_cast<const CookieCheck*>(SSL_get_ex_data(ssl, CookieIndex()));
    if (check == nullptr || check->key == nullptr) return 0;
    return check->key->Verify(check->client, {cookie, length}) ? 1 : 0;
  }
};

void PrepareDtlsServerContext(SSL_CTX* ctx) {
  SSL_CTX_set_options(ctx, SSL_OP_COOKIE_EXCHANGE);
  SSL_CTX_set_cookie_generate_cb(ctx, &DtlsSession::Internal::GenerateCookie);
  SSL_CTX_set_cookie_verify_cb(ctx, &DtlsSession::Internal::VerifyCookie);
}

// ---------------------------------------------------------------------------------------------
// Session

std::unique_ptr<DtlsSession> DtlsSession::Accept(SSL_CTX* ctx, const DtlsCookieKey& cookies,
                                                 const SocketAddress& from,
                                                 std::span<const uint8_t> datagram, size_t mtu,
                                                 DtlsOutput* out) {
  if (ctx == nullptr || out == nullptr || mtu < kMinMtu) return nullptr;
  mtu = std::min(mtu, kMaxMtu);
  if (!LooksLikeClientHello(datagram)) {
    CV_DEBUG("dtls.drop", "reason=not-client-hello client=%s", from.ToString().c_str());
    return nullptr;
  }
  BIO_METHOD* method = Internal::Method();
  const int cookie_index = Internal::CookieIndex();
  if (method == nullptr || cookie_index < 0) return nullptr;

  ERR_clear_error();
  // Listening phase: everything lives on this stack frame or in `ssl`, which is freed unless the
  // ClientHello carries a cookie made for `from`.
  Pipe pipe;
  pipe.in = datagram;
  pipe.in_ready = true;
  pipe.out = out;
  pipe.mtu = mtu;
  CookieCheck check{&cookies, from};

  SSL* ssl = SSL_new(ctx);
  BIO* bio = ssl != nullptr ? BIO_new(method) : nullptr;
  BIO_ADDR* client = bio != nullptr ? BIO_ADDR_new() : nullptr;
  if (client == nullptr) {
    BIO_free(bio);
    SSL_free(ssl);
    ERR_clear_error();
    return nullptr;
  }
  BIO_set_data(bio, &pipe);
  SSL_set_bio(ssl, bio, bio);  // one reference, owned by `ssl` from here on
  SSL_set_ex_data(ssl, cookie_index, &check);
  SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
  if (SSL_set_mtu(ssl, static_cast<long>(mtu)) <= 0) {  // returns the MTU, or 0 when too small
    BIO_ADDR_free(client);
    SSL_free(ssl);
    ERR_clear_error();
    return nullptr;
  }
  SSL_set_accept_state(ssl);

  // RFC 6347 §4.2.1: no cookie or a wrong one → HelloVerifyRequest (stateless), anything
  // malformed → silence. 1 only for a ClientHello whose cookie proves the address.
  const int listened = DTLSv1_listen(ssl, client);
  BIO_ADDR_free(client);
  if (listened != 1) {
    CV_DEBUG("dtls.hello", "client=%s answer=%s", from.ToString().c_str(),
             out->count > 0 ? "hello-verify-request" : "none");
    SSL_free(ssl);
    ERR_clear_error();
    return nullptr;
  }

  // The address is proven: from here on state is allowed.
  std::unique_ptr<DtlsSession> session(new DtlsSession());
  session->ssl_ = ssl;
  session->pipe_.mtu = mtu;
  session->pipe_.out = out;
  session->cookie_check_ = check;
  BIO_set_data(bio, &session->pipe_);
  SSL_set_ex_data(ssl, cookie_index, &session->cookie_check_);
  // SSL_accept re-reads the buffered ClientHello (verifying its cookie again) and writes the
  // server's first flight.
  const DtlsResult result = session->Advance(nullptr, nullptr);
  session->pipe_.out = nullptr;
  session->cookie_check_.key = nullptr;  // no later ClientHello is ever accepted on this SSL
  if (result != DtlsResult::kHandshaking) return nullptr;  // `out` may hold an alert
  return session;
}

DtlsSession::~DtlsSession() { SSL_free(ssl_); }

DtlsResult DtlsSession::Receive(std::span<const uint8_t> datagram, DtlsOutput* out,
                                DeliverFn deliver, void* context) {
  if (state_ == State::kClosed || state_ == State::kFailed || out == nullptr) return Result();
  if (datagram.empty()) return Result();
  ERR_clear_error();
  pipe_.in = datagram;
  pipe_.in_ready = true;
  pipe_.out = out;
  const DtlsResult result = Advance(deliver, context);
  pipe_.in = {};
  pipe_.in_ready = false;
  pipe_.out = nullptr;
  return result;
}

DtlsResult DtlsSession::Advance(DeliverFn deliver, void* context) {
  if (state_ == State::kHandshaking) {
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) {
      state_ = State::kOpen;
      // The handshake's flights had to fit the path MTU; relayed media may be larger (up to the
      // worker's 4 KiB datagrams), and IP fragments what exceeds the path, as for plain UDP.
      pipe_.mtu = kMaxApplicationDatagram;
      SSL_set_mtu(ssl_, static_cast<long>(kMaxApplicationDatagram));
      CV_DEBUG("dtls.open", "client=%s version=%s cipher=%s", peer().ToString().c_str(),
               SSL_get_version(ssl_), SSL_get_cipher_name(ssl_));
    } else {
      const int error = SSL_get_error(ssl_, r);
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return DtlsResult::kHandshaking;
      }
      CV_DEBUG("dtls.handshake_failed", "client=%s reason=%s", peer().ToString().c_str(),
               ErrorReason());
      ERR_clear_error();
      state_ = State::kFailed;
      return DtlsResult::kFailed;
    }
  }
  if (state_ != State::kOpen) return Result();

  // One SSL_read returns at most one record, so each deliver() gets one whole message.
  uint8_t record[kMaxRecordPlaintext];
  for (;;) {
    const int n = SSL_read(ssl_, record, sizeof(record));
    if (n > 0) {
      if (deliver != nullptr) deliver(context, {record, static_cast<size_t>(n)});
      if (state_ != State::kOpen) break;  // deliver() closed the session
      continue;
    }
    const int error = SSL_get_error(ssl_, n);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) break;
    if (error == SSL_ERROR_ZERO_RETURN) {
      // close_notify: answer with ours (RFC 5246 §7.2.1) and end.
      SSL_shutdown(ssl_);
      CV_DEBUG("dtls.closed", "client=%s reason=close-notify", peer().ToString().c_str());
    } else {
      CV_DEBUG("dtls.closed", "client=%s reason=%s", peer().ToString().c_str(), ErrorReason());
    }
    state_ = State::kClosed;
    break;
  }
  ERR_clear_error();
  return Result();
}

DtlsResult DtlsSession::Result() const {
  switch (state_) {
    case State::kHandshaking:
      return DtlsResult::kHandshaking;
    case State::kOpen:
      return DtlsResult::kOpen;
    case State::kClosed:
      return DtlsResult::kClosed;
    case State::kFailed:
      break;
  }
  return DtlsResult::kFailed;
}

bool DtlsSession::Send(std::span<const uint8_t> message, DtlsOutput* out) {
  if (state_ != State::kOpen || out == nullptr || message.empty()) return false;
  // The largest plaintext whose record fits in one datagram of `mtu` bytes with this cipher.
  if (message.size() > DTLS_get_data_mtu(ssl_)) return false;
  ERR_clear_error();
  // May run inside OnDatagram's deliver(): put back the output that call is writing to.
  DtlsOutput* const outer = std::exchange(pipe_.out, out);
  const int n = SSL_write(ssl_, message.data(), static_cast<int>(message.size()));
  pipe_.out = outer;
  if (n == static_cast<int>(message.size())) return true;
  const int error = SSL_get_error(ssl_, n);
  if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
    CV_DEBUG("dtls.closed", "client=%s reason=write:%s", peer().ToString().c_str(), ErrorReason());
    state_ = State::kClosed;
  }
  ERR_clear_error();
  return false;
}

void DtlsSession::Close(DtlsOutput* out) {
  if (state_ == State::kOpen && out != nullptr) {
    ERR_clear_error();
    DtlsOutput* const outer = std::exchange(pipe_.out, out);
    SSL_shutdown(ssl_);  // writes close_notify; we do not wait for the client's
    pipe_.out = outer;
    ERR_clear_error();
  }
  if (state_ != State::kFailed) state_ = State::kClosed;
}

void DtlsSession::OnTick(DtlsOutput* out) {
  if (state_ != State::kHandshaking || out == nullptr) return;
  ERR_clear_error();
  pipe_.out = out;
  // 0: the timer has not expired; 1: the last flight went out again; <0: OpenSSL gave up.
  if (DTLSv1_handle_timeout(ssl_) < 0) {
    CV_DEBUG("dtls.handshake_failed", "client=%s reason=retransmissions-exhausted",
             peer().ToString().c_str());
    state_ = State::kFailed;
  }
  pipe_.out = nullptr;
  ERR_clear_error();
}

const char* DtlsSession::version() const { return SSL_get_version(ssl_); }

}  // namespace cv::net
