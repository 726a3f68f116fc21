// The server's TLS and DTLS configuration (RFC 8656 §3.1: TURN over TLS and DTLS), loaded once
// from the cert/pkey/cipher-list/CA settings and shared read-only by every worker.
//
// Threading and ownership:
//   - Load() runs on the main thread (startup, SIGHUP). It returns an immutable object: after it
//     returns nobody changes either SSL_CTX, so any worker thread may call SSL_new() on tls() or
//     dtls() at the same time (OpenSSL allows SSL_new on a context nobody modifies).
//   - Every SSL made from a context holds its own reference to that SSL_CTX. A reload builds a new
//     TlsContexts and hands it to the workers for new connections; connections accepted earlier
//     keep the context they started with, so a reload never drops a call, and the old contexts are
//     freed when the last of those connections ends.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>

namespace cv::net {

struct TlsSettings {
  std::string cert;         // PEM chain file
  std::string pkey;         // PEM private key file (may be the same file as cert)
  std::string cipher_list;  // OpenSSL cipher list for TLS 1.2 / DTLS; empty = OpenSSL's default
  std::string ca_file;      // optional: require and verify client certificates against it
  std::string dh_file;      // optional: DH parameters (PEM) for DHE suites; else OpenSSL's auto
  bool no_tlsv1 = false, no_tlsv1_1 = false, no_tlsv1_2 = false;
};

// The server's OpenSSL contexts: one for TLS over TCP, one for DTLS over UDP, built from one
// TlsSettings.
//
// Protocol versions. TLS: the minimum is TLS 1.0, raised to 1.1 by no_tlsv1, to 1.2 by
// no_tlsv1_1 and to 1.3 by no_tlsv1_2 (the highest flag wins, so no version below an excluded one
// is ever offered); TLS 1.3 is always on. DTLS: DTLS 1.0 is off with no_tlsv1 and DTLS 1.2 with
// no_tlsv1_2; with both off DTLS cannot run, dtls() is null and dtls_error() says why (TLS is
// unaffected).
// Note: OpenSSL 3 at security level 1 or more (the default; Debian's is 2) refuses TLS 1.0/1.1
// and DTLS 1.0 anyway, because they need SHA-1 signatures. They only really run when the cipher
// list lowers the level ("...:@SECLEVEL=0"), which is the operator's explicit choice.
//
// Both contexts: no session tickets and no session cache (no resumption state that a reload would
// strand or that must be shared between workers), no renegotiation, server cipher preference.
// The TLS context also has SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER.
// The DTLS context is prepared for DtlsSession (cookie exchange, see dtls_session.h).
class TlsContexts {
 public:
  // Reads and checks the files: the certificate and key must load and match. On failure returns
  // null and sets *error to one sentence naming the file and the reason, e.g.
  //   "cert /etc/x.pem: no certificate found (expected PEM)"
  //   "pkey /etc/k.pem does not match the certificate in /etc/x.pem"
  //   "cipher-list 'FOO': no cipher matches"
  static std::shared_ptr<const TlsContexts> Load(const TlsSettings& settings, std::string* error);
  ~TlsContexts();
  TlsContexts(const TlsContexts&) = delete;
  TlsContexts& operator=(const TlsContexts&) = delete;

  SSL_CTX* tls() const { return tls_; }
  SSL_CTX* dtls() const { return dtls_; }  // null when DTLS cannot run with these settings
  const std::string& dtls_error() const { return dtls_error_; }  // why dtls() is null, else ""
  // One line for the log: subject CN, issuer CN, notAfter (ISO 8601 UTC), key type, e.g.
  //   subject_cn="relay.example" issuer_cn="R3" not_after=2026-01-31T12:00:00Z key=EC-P-256
  std::string Describe() const;

 private:
  TlsContexts() = default;

  SSL_CTX* tls_ = nullptr;
  SSL_CTX* dtls_ = nullptr;
  std::string dtls_error_;
  std::string description_;
};

}  // namespace cv::net
