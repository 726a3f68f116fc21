// cvrelay's Authenticator: TURN REST API credentials checked against shared secrets (coturn's
// use-auth-secret / static-auth-secret, plus key-id'd secrets from auth-secrets-file), static users
// with fixed keys (coturn's user=), and the CallVault claims inside REST usernames, held to the
// plans table.
//
// Lookup, in order:
//   1. username longer than kMaxUsernameLength                          → kMalformed
//   2. use_auth_secret and ParseRestUsername() succeeds:
//        expiry < now                                                   → kExpired
//        expiry > now + max_rest_lifetime_seconds (when that is > 0)    → kMalformed
//        <rest> LooksLikeClaims() but ParseClaims() fails               → kMalformed
//        claims with k=: the active secret with that key id, else       → kUnknownKey
//        claims without k=: every active secret with an empty key id
//        claimless: every active secret, in configured order
//        no candidate left (all retired)                                → kUnknownKey
//   3. a static user of exactly that name                               → kOk, one candidate
//   4. use_auth_secret and the username looks like a REST credential    → kMalformed
//   5.                                                                  → kUnknownUser
//
// Authorize (same username and now as Lookup; key_index = the candidate that verified):
//   claims: plan = Plans::Find(claims.plan) (unknown → free). !turn_relay → kPlanMayNotRelay.
//     Limits: per-user and per-session allocation caps from the plan (per session:
//     allocations_per_peer × max(1, g − 1), g = group size, a plan's group_size capping g when it
//     is not 0); bandwidth = claims' b, else the plan's audio / video / large-group figure, and
//     never above the plan's figure when both exist; duration = min of claims' d and the plan's
//     max_call_duration_s (0 = none on either side).
//   claimless REST credential or static user: claimless_plan empty → kClaimlessRefused; else the
//     same as claims with that plan, no session, and video allowed.
//
// Threading: immutable after construction; every method is const, thread-safe and non-throwing.
// Lookup() does not allocate.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cv/auth/authenticator.h"
#include "cv/auth/plans.h"
#include "cv/auth/rest_credentials.h"
#include "cv/auth/secrets.h"

namespace cv::auth {

struct AuthConfig {
  std::string realm;
  bool use_auth_secret = false;
  // At most kMaxCandidates. Order matters for claimless credentials (tried in order).
  std::vector<Secret> secrets;
  char separator = ':';  // coturn's rest-api-separator
  // A REST credential expiring further ahead than this is refused: it would be a credential for
  // ever. 0 = no limit (coturn's behaviour).
  int64_t max_rest_lifetime_seconds = 30 * 86400;
  struct User {
    std::string name;
    Key key;
  };
  std::vector<User> users;
  Plans plans = Plans::Defaults();
  // The plan given to credentials without claims (coturn-style "<expiry>:<user>" and static
  // users). Empty: refuse them (403).
  std::string claimless_plan = "pro";
};

// coturn "user=<name>:<password>": the key is MD5(name:realm:password).
AuthConfig::User MakeUserWithPassword(std::string_view name, std::string_view realm,
                                      std::string_view password);
// coturn "user=<name>:0x<key>": exactly 32 hex digits, with or without "0x"; nullopt otherwise.
std::optional<AuthConfig::User> MakeUserWithKey(std::string_view name, std::string_view hex_key);

// Empty when `config` is usable; else a sentence saying what is wrong, for the startup error.
std::string ValidateAuthConfig(const AuthConfig& config);

// nullptr when ValidateAuthConfig(config) is not empty.
std::unique_ptr<Authenticator> MakeEntitlementAuthenticator(AuthConfig config);

}  // namespace cv::auth
