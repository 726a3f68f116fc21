// DTLS (RFC 6347; DTLS 1.2 as OpenSSL 3.0 implements it) server side over a UDP socket that many
// clients share: the socket belongs to the worker, so OpenSSL never touches it. Datagrams go in
// and out through memory, one datagram at a time: a small custom BIO turns each OpenSSL write
// into one datagram of at most `mtu` bytes holding whole DTLS records (a handshake flight packs
// several records per datagram; application data is one record per datagram), and answers the
// datagram MTU controls (OpenSSL 3.0 has no datagram memory BIO).
//
// Stateless cookies (RFC 6347 §4.2.1): a ClientHello from an address with no session gets a
// HelloVerifyRequest and leaves no state behind; only a ClientHello carrying a valid cookie
// creates a session. Cookie = HMAC-SHA256(secret, client address bytes ‖ port), truncated to 16
// bytes. A ClientHello whose cookie is wrong (made for another address, or under a secret two
// rotations old) is answered like one without a cookie: with a fresh HelloVerifyRequest.
//
// Threading and ownership:
//   - DtlsCookieKey: shared by every worker; all methods may be called from any thread.
//   - DtlsSession: owned by the worker that accepted it; only that thread may call its methods.
//     It holds an SSL that holds a reference to the SSL_CTX it was accepted with, so the
//     TlsContexts it came from may be replaced (reload) while it lives.
//   - DtlsOutput: owned by the caller, reused across calls; a session only appends to it during
//     the call it was passed to, and keeps no pointer to it afterwards.
//   - No call throws. A failure shows up as a result (null session, kFailed, kClosed, false).
#pragma once

#include <openssl/types.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "relay/common/address.h"

namespace cv::net {

// The secret behind the HelloVerifyRequest cookies. One per server; workers share it.
class DtlsCookieKey {
 public:
  static constexpr size_t kCookieSize = 16;
  using Cookie = std::array<uint8_t, kCookieSize>;

  DtlsCookieKey();  // random current and previous secrets (RAND_bytes)
  DtlsCookieKey(const DtlsCookieKey&) = delete;
  DtlsCookieKey& operator=(const DtlsCookieKey&) = delete;

  // A new random secret; the one it replaces is still accepted until the next Rotate(), so a
  // rotation does not fail handshakes in flight. Any thread (control path).
  void Rotate();

  // The cookie for `client` under the current secret. Any thread, lock-free.
  Cookie Make(const SocketAddress& client) const;
  // True when `cookie` was made for `client` under the current or the previous secret
  // (constant-time comparison). Any thread, lock-free.
  bool Verify(const SocketAddress& client, std::span<const uint8_t> cookie) const;

 private:
  static constexpr size_t kWords = 4;  // 32-byte secrets
  using Secret = std::array<uint64_t, kWords>;
  // Reads both secrets consistently (a sequence lock: readers never block, Rotate is rare).
  void Load(Secret* current, Secret* previous) const;

  std::mutex rotate_mutex_;            // serialises Rotate() calls only; readers never take it
  std::atomic<uint32_t> sequence_{0};  // odd while Rotate() is writing
  std::array<std::atomic<uint64_t>, kWords> current_{};
  std::array<std::atomic<uint64_t>, kWords> previous_{};
};

struct DtlsOutput {
  // Datagrams to send to the client, in order (handshake flights, HelloVerifyRequest, alerts,
  // encrypted application records). The caller sends them and then calls clear(); reuse keeps
  // the vectors' capacity, so steady state allocates nothing.
  std::vector<std::vector<uint8_t>> datagrams;
  size_t count = 0;  // datagrams[0..count) are valid
  void clear() { count = 0; }
};

enum class DtlsResult {
  kHandshaking,  // keep going
  kOpen,         // handshake done (application data may have been delivered)
  kClosed,       // close_notify received or a fatal alert sent: drop the session
  kFailed,       // handshake failed: drop the session
};

// Installs the cookie callbacks and SSL_OP_COOKIE_EXCHANGE that DtlsSession::Accept relies on.
// TlsContexts::Load does it for its DTLS context; call it on a context built by hand, before any
// thread uses it. The callbacks find the client address and key in the SSL, so one context serves
// every worker and every DtlsCookieKey.
void PrepareDtlsServerContext(SSL_CTX* ctx);

// One client's DTLS association on a shared UDP socket.
class DtlsSession {
 public:
  // Once open, a record may fill a datagram this large (application data only).
  static constexpr size_t kMaxApplicationDatagram = 4096;
  // Handles a datagram from `from`, which has no session yet. When it is a ClientHello with a
  // valid cookie, returns a new session (its first flight is in `out`); otherwise returns null,
  // and `out` may hold a HelloVerifyRequest (or, rarely, an alert when the handshake cannot go on,
  // e.g. no shared cipher). Anything that is not a ClientHello is dropped (null, nothing in out)
  // before OpenSSL sees it. Never keeps state for a datagram that did not prove its address.
  // `ctx` must be a DTLS server context prepared by PrepareDtlsServerContext (TlsContexts::dtls()).
  // `mtu` is the largest UDP payload to send: at least 256 (smaller → null), at most 4096 (larger
  // is treated as 4096); e.g. 1200 on the internet.
  static std::unique_ptr<DtlsSession> Accept(SSL_CTX* ctx, const DtlsCookieKey& cookies,
                                             const SocketAddress& from,
                                             std::span<const uint8_t> datagram, size_t mtu,
                                             DtlsOutput* out);
  ~DtlsSession();
  DtlsSession(const DtlsSession&) = delete;
  DtlsSession& operator=(const DtlsSession&) = delete;

  // One datagram from the client. Decrypted application records are passed to `deliver`, one
  // call per record (= one STUN message or ChannelData), as a std::span<const uint8_t> that is
  // valid only during the call. `deliver` is any callable taking that span; it is called through
  // a plain function pointer (no std::function, no allocation). Replies to the client may be
  // Send() from inside `deliver`, and Close() ends the delivery; `deliver` must not destroy the
  // session. A datagram that does not authenticate is discarded (RFC 6347 §4.1.2.7) and the
  // session goes on.
  template <typename F>
  DtlsResult OnDatagram(std::span<const uint8_t> datagram, DtlsOutput* out, F&& deliver) {
    auto call = [&deliver](std::span<const uint8_t> record) { deliver(record); };
    using Call = decltype(call);
    return Receive(
        datagram, out,
        [](void* context, std::span<const uint8_t> record) {
          (*static_cast<Call*>(context))(record);
        },
        &call);
  }
  // Encrypts one application message into one record (one datagram). False when not open, when
  // the message is empty or its record would exceed kMaxApplicationDatagram, or when the record
  // cannot be written. (`mtu` bounds the handshake's datagrams only.)
  bool Send(std::span<const uint8_t> message, DtlsOutput* out);
  // Sends close_notify (when open) and ends the session: afterwards open() is false.
  void Close(DtlsOutput* out);
  // Handshake retransmission: OpenSSL's DTLS timer (DTLSv1_handle_timeout), which runs on the
  // wall clock (1 s, doubling up to 60 s). The worker calls this on its 250 ms tick while
  // handshaking; it does nothing once the session is open. When OpenSSL gives up (too many
  // retransmissions) the session fails, and the next OnDatagram returns kFailed. The worker's own
  // handshake deadline bounds the whole handshake anyway.
  void OnTick(DtlsOutput* out);

  bool open() const { return state_ == State::kOpen; }
  const char* version() const;  // "DTLSv1.2"
  const SocketAddress& peer() const { return cookie_check_.client; }

 private:
  using DeliverFn = void (*)(void* context, std::span<const uint8_t> record);
  enum class State { kHandshaking, kOpen, kClosed, kFailed };
  // The custom BIO's view of one call: the datagram to hand OpenSSL (once) and where OpenSSL's
  // writes go. `out` is null between calls.
  struct Pipe {
    std::span<const uint8_t> in;
    bool in_ready = false;
    DtlsOutput* out = nullptr;
    size_t mtu = 0;
    bool too_big = false;  // a write was refused for exceeding mtu
  };
  // What the cookie callbacks read from the SSL's ex_data. `key` is null once accepted.
  struct CookieCheck {
    const DtlsCookieKey* key = nullptr;
    SocketAddress client;
  };
  struct Internal;  // the BIO and cookie callbacks (dtls_session.cc)
  friend void PrepareDtlsServerContext(SSL_CTX* ctx);

  DtlsSession() = default;
  DtlsResult Receive(std::span<const uint8_t> datagram, DtlsOutput* out, DeliverFn deliver,
                     void* context);
  // Runs the handshake and reads records until OpenSSL wants another datagram.
  DtlsResult Advance(DeliverFn deliver, void* context);
  DtlsResult Result() const;

  SSL* ssl_ = nullptr;
  Pipe pipe_;
  CookieCheck cookie_check_;
  State state_ = State::kHandshaking;
};

}  // namespace cv::net
