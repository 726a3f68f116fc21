// Requests signed with a user's Ed25519 identity key. The client sends four headers:
//   X-CV-User:       the user id
//   X-CV-Timestamp:  Unix seconds, plain decimal (the server's clock decides; ±max_skew_s)
//   X-CV-Nonce:      16-64 characters of [A-Za-z0-9_-], fresh for every request (accepted once)
//   X-CV-Signature:  base64url (no padding) of the 64-byte Ed25519 signature over the string
//
//   "CV1-ED25519\n" + user + "\n" + timestamp + "\n" + nonce + "\n" +
//   hex(SHA-256(METHOD + "\n" + target + "\n" + body))
//
// where METHOD is the upper-case HTTP method, target the request target exactly as sent (path and
// query, e.g. "/v1/call-sessions"), and body the raw body bytes (empty for none); hex is lower
// case. Replay (the nonce seen before) is decided by the caller's store, not here.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cv::token {

inline constexpr char kUserHeader[] = "X-CV-User";
inline constexpr char kTimestampHeader[] = "X-CV-Timestamp";
inline constexpr char kNonceHeader[] = "X-CV-Nonce";
inline constexpr char kSignatureHeader[] = "X-CV-Signature";
inline constexpr size_t kMinNonceLength = 16;
inline constexpr size_t kMaxNonceLength = 64;

// hex(SHA-256(METHOD "\n" target "\n" body)), lower case.
std::string RequestDigest(std::string_view method, std::string_view target, std::string_view body);

// The exact bytes that are signed.
std::string RequestSigningString(std::string_view user, std::string_view timestamp,
                                 std::string_view nonce, std::string_view method,
                                 std::string_view target, std::string_view body);

struct SignedRequest {
  std::string_view user, timestamp, nonce, signature;  // header values as received
  std::string_view method, target, body;
};

enum class RequestError { kNone, kMalformed, kClockSkew, kBadSignature };
const char* RequestErrorName(RequestError error);  // "none", "malformed", "skew", "bad_signature"

// Checks the header syntax (malformed), then |now - timestamp| <= max_skew_s (skew), then the
// signature with `public_key` (32 raw bytes). `timestamp_out`, when given, receives the parsed
// timestamp when it parsed.
RequestError VerifySignedRequest(const SignedRequest& request, std::string_view public_key,
                                 int64_t now, int64_t max_skew_s, int64_t* timestamp_out = nullptr);

// What a client does: the four header values for a request (used by tests and the docs' example).
struct RequestSignature {
  std::string user, timestamp, nonce, signature;
};
class Ed25519Key;
RequestSignature SignRequest(const Ed25519Key& key, std::string_view user, int64_t timestamp,
                             std::string_view nonce, std::string_view method,
                             std::string_view target, std::string_view body);

}  // namespace cv::token
