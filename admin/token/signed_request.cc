#include "admin/token/signed_request.h"

#include <openssl/evp.h>

#include <optional>

#include "admin/token/base64url.h"
#include "admin/token/ed25519.h"
#include "cv/auth/claims.h"
#include "relay/common/hex.h"

namespace cv::token {
namespace {

constexpr char kSigningPrefix[] = "CV1-ED25519\n";
// Up to 12 digits: Unix seconds for the next 30,000 years, and no overflow anywhere.
constexpr size_t kMaxTimestampDigits = 12;

// Plain decimal: digits only, no sign, no leading zero unless the value is 0 (one text per value,
// so the signed string and the parsed number agree).
std::optional<int64_t> ParseTimestamp(std::string_view text) {
  if (text.empty() || text.size() > kMaxTimestampDigits) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

bool IsNonceChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool IsValidNonce(std::string_view nonce) {
  if (nonce.size() < kMinNonceLength || nonce.size() > kMaxNonceLength) return false;
  for (char c : nonce) {
    if (!IsNonceChar(c)) return false;
  }
  return true;
}

}  // namespace

std::string RequestDigest(std::string_view method, std::string_view target, std::string_view body) {
  std::string hex;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  static const char kNewline = '\n';
  const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, method.data(), method.size()) == 1 &&
                  EVP_DigestUpdate(ctx, &kNewline, 1) == 1 &&
                  EVP_DigestUpdate(ctx, target.data(), target.size()) == 1 &&
                  EVP_DigestUpdate(ctx, &kNewline, 1) == 1 &&
                  EVP_DigestUpdate(ctx, body.data(), body.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return hex;
  return HexEncode(std::string_view(reinterpret_cast<const char*>(digest), len));
}

// "CV1-ED25519" LF user LF timestamp LF nonce LF hex(SHA-256(METHOD LF target LF body))
std::string RequestSigningString(std::string_view user, std::string_view timestamp,
                                 std::string_view nonce, std::string_view method,
                                 std::string_view target, std::string_view body) {
  std::string out = kSigningPrefix;
  out.append(user).append("\n");
  out.append(timestamp).append("\n");
  out.append(nonce).append("\n");
  out.append(RequestDigest(method, target, body));
  return out;
}

const char* RequestErrorName(RequestError error) {
  switch (error) {
    case RequestError::kNone:
      return "none";
    case RequestError::kMalformed:
      return "malformed";
    case RequestError::kClockSkew:
      return "skew";
    case RequestError::kBadSignature:
      return "bad_signature";
  }
  return "unknown";
}

RequestError VerifySignedRequest(const SignedRequest& request, std::string_view public_key,
                                 int64_t now, int64_t max_skew_s, int64_t* timestamp_out) {
  // 1. Syntax of the four headers.
  const std::optional<int64_t> timestamp = ParseTimestamp(request.timestamp);
  if (timestamp && timestamp_out != nullptr) *timestamp_out = *timestamp;
  if (!timestamp || !auth::IsValidId(request.user, auth::kMaxUserIdLength) ||
      !IsValidNonce(request.nonce)) {
    return RequestError::kMalformed;
  }
  const std::optional<std::string> signature = Base64UrlDecode(request.signature);
  if (!signature || signature->size() != kEd25519SignatureBytes) return RequestError::kMalformed;

  // 2. Freshness: |now - timestamp| <= max_skew_s. The difference of two int64 values always
  //    fits uint64, computed modulo 2^64.
  if (max_skew_s < 0) return RequestError::kClockSkew;
  const uint64_t a = static_cast<uint64_t>(now), b = static_cast<uint64_t>(*timestamp);
  const uint64_t skew = now >= *timestamp ? a - b : b - a;
  if (skew > static_cast<uint64_t>(max_skew_s)) return RequestError::kClockSkew;

  // 3. The signature over the exact string the client built.
  const std::string signed_string = RequestSigningString(
      request.user, request.timestamp, request.nonce, request.method, request.target, request.body);
  if (!Ed25519Verify(public_key, signed_string, *signature)) return RequestError::kBadSignature;
  return RequestError::kNone;
}

RequestSignature SignRequest(const Ed25519Key& key, std::string_view user, int64_t timestamp,
                             std::string_view nonce, std::string_view method,
                             std::string_view target, std::string_view body) {
  RequestSignature out;
  out.user = std::string(user);
  out.timestamp = std::to_string(timestamp);
  out.nonce = std::string(nonce);
  out.signature = Base64UrlEncode(
      key.Sign(RequestSigningString(out.user, out.timestamp, out.nonce, method, target, body)));
  return out;
}

}  // namespace cv::token
