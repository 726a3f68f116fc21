// The plain Authenticator: TURN REST API credentials checked against shared secrets (coturn's
// use-auth-secret / static-auth-secret), plus static users with fixed keys (coturn's user=).
//
// Lookup, in order:
//   1. username longer than kMaxUsernameLength                        → kMalformed
//   2. use_auth_secret and ParseRestUsername() succeeds:
//        expiry < now                                                 → kExpired
//        expiry > now + max_rest_lifetime_seconds (when that is > 0)  → kMalformed (a credential
//                                                                        nobody should mint)
//        otherwise one candidate per secret, in configured order      → kOk
//   3. a static user of exactly that name                             → kOk, one candidate
//   4. use_auth_secret and the username looks like a REST credential (contains the separator,
//      or starts with a digit or sign) but did not parse             → kMalformed
//   5.                                                                → kUnknownUser
// Authorize: the grant's user is the REST <rest> part (the whole username when it is empty) or
// the static user's name; this authenticator enforces no claims, so it allows.
//
// Usernames are opaque bytes here: NUL, CR/LF, quotes and format directives are just data.
// Threading: immutable after construction; every method is const, thread-safe and non-throwing;
// Lookup() does not allocate.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cv/auth/authenticator.h"
#include "cv/auth/rest_credentials.h"

namespace cv::auth {

struct PlainAuthConfig {
  std::string realm;
  bool use_auth_secret = false;
  // static-auth-secret values; the first is the one a minter should use, the others are kept
  // during rotation. At most kMaxCandidates.
  std::vector<std::string> secrets;
  char separator = ':';  // coturn's rest-api-separator
  // A REST credential expiring further ahead than this is refused: it would be a credential for
  // ever. 0 = no limit (coturn's behaviour).
  int64_t max_rest_lifetime_seconds = 30 * 86400;
  struct User {
    std::string name;
    Key key;
  };
  std::vector<User> users;
};

// coturn "user=<name>:<password>": the key is MD5(name:realm:password).
PlainAuthConfig::User MakeUserWithPassword(std::string_view name, std::string_view realm,
                                           std::string_view password);
// coturn "user=<name>:0x<key>": exactly 32 hex digits, with or without "0x"; nullopt otherwise.
std::optional<PlainAuthConfig::User> MakeUserWithKey(std::string_view name,
                                                     std::string_view hex_key);

// Empty when `config` is usable; else a sentence saying what is wrong, for the startup error.
std::string ValidatePlainAuthConfig(const PlainAuthConfig& config);

// nullptr when ValidatePlainAuthConfig(config) is not empty.
std::unique_ptr<Authenticator> MakePlainAuthenticator(PlainAuthConfig config);

}  // namespace cv::auth
