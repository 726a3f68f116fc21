// Minting TURN credentials: the one place that turns claims and a secret into the
// username/password pair a WebRTC client puts in its iceServers. Used by `cvctl mint` (offline,
// like coturn's turnadmin) and by cvadmin, so both produce exactly what cvrelay verifies.
//
// Threading: pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cv/auth/claims.h"
#include "cv/auth/secrets.h"

namespace cv::auth {

inline constexpr int64_t kMaxMintTtlSeconds = 30 * 86400;  // cvrelay's default REST lifetime cap

struct MintRequest {
  // With claims (the CallVault format). The key id is taken from the secret used.
  std::optional<Claims> claims;
  // Without claims: coturn's "<expiry>:<user>" (claimless_user may be empty: "<expiry>").
  std::string claimless_user;
  int64_t ttl_s = 86400;  // 1 .. kMaxMintTtlSeconds
  char separator = ':';
};

struct MintedCredential {
  std::string username;
  std::string password;  // base64(HMAC-SHA1(secret, username))
  int64_t ttl_s = 0;
  int64_t expires = 0;  // Unix seconds
};

// nullopt with `error` (one sentence, never quoting the secret) when the request is invalid: bad
// claims, a ttl out of range, a claimless user containing the separator or a control byte, or a
// secret retired at `now`.
std::optional<MintedCredential> MintCredential(const MintRequest& request, const Secret& secret,
                                               int64_t now, std::string* error);

}  // namespace cv::auth
