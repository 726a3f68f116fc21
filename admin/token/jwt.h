// Call session tokens: compact JWS (RFC 7515) JWTs (RFC 7519) signed with EdDSA over Ed25519
// (RFC 8037), each naming its key with "kid", and the key set published as a JWKS (RFC 7517) so
// that any JWT library can verify them.
//
//   header  {"alg":"EdDSA","kid":"<kid>","typ":"JWT"}
//   kid     the RFC 7638 JWK thumbprint of the public key (base64url of SHA-256 over
//           {"crv":"Ed25519","kty":"OKP","x":"<x>"}), so a key names itself.
//
// Verification refuses, in this order: anything but three base64url parts of JSON objects
// (malformed), an "alg" other than exactly "EdDSA" or a "crit" header (bad_algorithm), a missing
// or unknown "kid" (unknown_key), a signature that does not verify (bad_signature), then claims:
// "exp" and "iat" must be integers; exp <= now - leeway (expired); iat or nbf > now + leeway
// (not_yet_valid); exp - iat > max_lifetime_s (lifetime_too_long).
//
// Threading: pure functions over immutable values.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/token/ed25519.h"

namespace cv::token {

// RFC 7638 thumbprint of an Ed25519 public key (32 raw bytes), base64url.
std::string JwkThumbprint(std::string_view public_key);

struct SigningKey {
  std::string kid;  // normally JwkThumbprint(key.PublicKey())
  Ed25519Key key;
};

struct VerifyKey {
  std::string kid;
  std::string public_key;  // 32 raw bytes
};

// The JWKS document:
// {"keys":[{"kty":"OKP","crv":"Ed25519","x":…,"kid":…,"alg":"EdDSA","use":"sig"}…]}
nlohmann::json Jwks(const std::vector<VerifyKey>& keys);

// Signs `claims` (a JSON object) as a compact JWT. Empty on signing failure.
std::string SignJwt(const nlohmann::json& claims, const SigningKey& key);

enum class TokenError {
  kNone,
  kMalformed,
  kBadAlgorithm,
  kUnknownKey,
  kBadSignature,
  kExpired,
  kNotYetValid,
  kLifetimeTooLong,
};
// "malformed", "bad_algorithm", "unknown_key", "bad_signature", "expired", "not_yet_valid",
// "lifetime_too_long" (metric labels and logs).
const char* TokenErrorName(TokenError error);

struct VerifyOptions {
  int64_t now = 0;             // Unix seconds: the server's clock
  int64_t leeway_s = 30;       // tolerated clock difference for exp, iat, nbf
  int64_t max_lifetime_s = 0;  // exp - iat must not exceed this; 0 = no bound
};

struct VerifiedToken {
  std::string kid;
  nlohmann::json claims;  // the payload object
};

std::optional<VerifiedToken> VerifyJwt(std::string_view token, const std::vector<VerifyKey>& keys,
                                       const VerifyOptions& options, TokenError* error);

}  // namespace cv::token
