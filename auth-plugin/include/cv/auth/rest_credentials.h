// TURN REST API credentials, as coturn (--use-auth-secret) and WebRTC stacks use them
// (draft-uberti-behave-turn-rest-00):
//
//   username = "<expiry, Unix seconds>" [ separator "<rest>" ]    e.g. "1700000000:alice"
//   password = base64(HMAC-SHA1(secret, username))                standard alphabet, padded
//   key      = MD5(username ":" realm ":" password)               RFC 8489 §9.2.2
//
// CallVault puts its claims in <rest>, so the HMAC covers them.
//
// Threading: every function here is thread-safe. RestSecret is immutable after construction and
// may be shared by all threads; its methods neither allocate nor throw.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cv/auth/authenticator.h"

namespace cv::auth {

// base64 of a 20-byte HMAC-SHA1: 28 characters including one '='.
inline constexpr size_t kRestPasswordLength = 28;
// Longer usernames are refused outright (they only serve to make us hash more).
inline constexpr size_t kMaxUsernameLength = 512;

struct RestUsername {
  int64_t expiry;         // Unix seconds
  std::string_view rest;  // after the first separator; empty when there is none
};

// Strict: the part before the first `separator` (or the whole username when there is none) must
// be 1-19 decimal digits without sign or spaces, and fit in int64_t. Anything else → nullopt.
std::optional<RestUsername> ParseRestUsername(std::string_view username, char separator);

// "<expiry>" when `rest` is empty, else "<expiry><separator><rest>". A negative expiry is
// written as 0 (already expired), so the result always parses.
std::string MintRestUsername(int64_t expiry, std::string_view rest, char separator);

// base64(HMAC-SHA1(secret, username)).
std::string RestPassword(std::string_view secret, std::string_view username);

// MD5(username ":" realm ":" password), the RFC 8489 long-term credential key. No allocation.
Key LongTermKey(std::string_view username, std::string_view realm, std::string_view password);

// A shared secret prepared once (HMAC key schedule), for computing passwords and keys on the
// request path without allocating. A moved-from RestSecret may only be destroyed or assigned.
class RestSecret {
 public:
  explicit RestSecret(std::string_view secret);
  ~RestSecret();
  RestSecret(RestSecret&&) noexcept;
  RestSecret& operator=(RestSecret&&) noexcept;

  std::array<char, kRestPasswordLength> Password(std::string_view username) const;
  // LongTermKey(username, realm, Password(username)).
  Key KeyFor(std::string_view username, std::string_view realm) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace cv::auth
