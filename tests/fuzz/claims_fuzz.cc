// libFuzzer target: a TURN username as it arrives on the wire, through everything that reads it
// before (and after) MESSAGE-INTEGRITY — the REST parser, the claims parser, and the
// entitlement authenticator's Lookup, Authorize and ClaimedUser. Invariants (any violation
// traps):
//   - nothing crashes or reads out of bounds, whatever the bytes;
//   - claims that parse format back to text that parses to the same claims;
//   - Lookup and Authorize agree: Authorize refuses nothing for a reason Lookup accepted.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "cv/auth/claims.h"
#include "cv/auth/entitlement_authenticator.h"
#include "cv/auth/rest_credentials.h"

namespace {

constexpr int64_t kNow = 1'700'000'000;

const cv::auth::Authenticator& Authenticator() {
  static const std::unique_ptr<cv::auth::Authenticator> auth = [] {
    cv::auth::AuthConfig c;
    c.realm = "fuzz.test";
    c.use_auth_secret = true;
    c.secrets.push_back({"", "static-secret-0123456789", 0});
    c.secrets.push_back({"k1", "keyed-secret-0123456789", 0});
    c.secrets.push_back({"old", "retired-secret-0123456789", kNow - 1});
    c.users.push_back(cv::auth::MakeUserWithPassword("operator", c.realm, "pw"));
    return cv::auth::MakeEntitlementAuthenticator(std::move(c));
  }();
  return *auth;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view username(reinterpret_cast<const char*>(data), size);

  if (auto rest = cv::auth::ParseRestUsername(username, ':')) {
    std::string why;
    if (auto claims = cv::auth::ParseClaims(rest->rest, &why)) {
      const std::string text = cv::auth::FormatClaims(*claims, &why);
      Check(!text.empty());
      auto again = cv::auth::ParseClaims(text);
      Check(again.has_value() && *again == *claims);
    }
  }

  const cv::auth::Authenticator& auth = Authenticator();
  (void)auth.ClaimedUser(username);
  cv::auth::Candidates candidates;
  const cv::auth::LookupStatus status = auth.Lookup(username, kNow, &candidates);
  Check(candidates.count <= cv::auth::kMaxCandidates);
  if (status == cv::auth::LookupStatus::kOk) {
    Check(candidates.count > 0);
    for (size_t i = 0; i < candidates.count; ++i) {
      const cv::auth::Grant grant = auth.Authorize(username, i, kNow);
      Check(grant.refusal != cv::auth::Refusal::kNoSuchKey &&
            grant.refusal != cv::auth::Refusal::kExpired &&
            grant.refusal != cv::auth::Refusal::kUnknownUser);
    }
  }
  return 0;
}
