// What a cvadmin operation answers: an HTTP status and a JSON body, or a refusal with a stable
// code (rendered as RFC 9457 problem+json by the server). Every refusal code, its status and what
// the app should show are listed here and in the README ("cvadmin error codes").
//
// Threading: plain values.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace cv::admin {

struct Refusal {
  int status = 400;
  std::string code;
  std::string detail;         // one sentence for the developer; never a secret
  int64_t retry_after_s = 0;  // > 0: sent as Retry-After and "retry_after_s"
  nlohmann::json extra;       // further problem members (e.g. "server_time"); null for none
};

struct Reply {
  int status = 200;
  nlohmann::json body;             // the success body (status < 400)
  std::optional<Refusal> refusal;  // set: the request was refused

  static Reply Ok(nlohmann::json body, int status = 200) {
    return Reply{status, std::move(body), std::nullopt};
  }
  static Reply Refuse(Refusal refusal) {
    int status = refusal.status;
    return Reply{status, nullptr, std::move(refusal)};
  }
  bool ok() const { return !refusal.has_value(); }
};

// The stable codes. Status and meaning: README "cvadmin error codes".
namespace code {
inline constexpr char kBadRequest[] = "BAD_REQUEST";
inline constexpr char kSignatureRequired[] = "SIGNATURE_REQUIRED";
inline constexpr char kUnknownKey[] = "UNKNOWN_KEY";
inline constexpr char kBadSignature[] = "BAD_SIGNATURE";
inline constexpr char kClockSkew[] = "CLOCK_SKEW";
inline constexpr char kTokenReplayed[] = "TOKEN_REPLAYED";
inline constexpr char kTokenExpired[] = "TOKEN_EXPIRED";
inline constexpr char kTokenInvalid[] = "TOKEN_INVALID";
inline constexpr char kTokenNotYours[] = "TOKEN_NOT_YOURS";
inline constexpr char kLimitDailyCalls[] = "LIMIT_DAILY_CALLS";
inline constexpr char kLimitMonthlyMinutes[] = "LIMIT_MONTHLY_MINUTES";
inline constexpr char kLimitCallDuration[] = "LIMIT_CALL_DURATION";
inline constexpr char kLimitCallAttempts[] = "LIMIT_CALL_ATTEMPTS";
inline constexpr char kLimitFailedStarts[] = "LIMIT_FAILED_STARTS";
inline constexpr char kNotApprovedContact[] = "NOT_APPROVED_CONTACT";
inline constexpr char kGroupCallsNotAllowed[] = "GROUP_CALLS_NOT_ALLOWED";
inline constexpr char kGroupTooLarge[] = "GROUP_TOO_LARGE";
inline constexpr char kExternalLinksNotAllowed[] = "EXTERNAL_LINKS_NOT_ALLOWED";
inline constexpr char kCallIdNotAllowed[] = "CALL_ID_NOT_ALLOWED";
inline constexpr char kTurnNotEntitled[] = "TURN_NOT_ENTITLED";
inline constexpr char kSessionEnded[] = "SESSION_ENDED";
inline constexpr char kNotFound[] = "NOT_FOUND";
inline constexpr char kUserExists[] = "USER_EXISTS";
inline constexpr char kUnknownTier[] = "UNKNOWN_TIER";
inline constexpr char kTooManyContacts[] = "TOO_MANY_CONTACTS";
inline constexpr char kRateLimited[] = "RATE_LIMITED";
inline constexpr char kStoreUnavailable[] = "STORE_UNAVAILABLE";
inline constexpr char kUserRevoked[] = "USER_REVOKED";
inline constexpr char kForbidden[] = "FORBIDDEN";
inline constexpr char kBadSetting[] = "BAD_SETTING";
inline constexpr char kLinesFull[] = "LINES_FULL";
inline constexpr char kCallIdTaken[] = "CALL_ID_TAKEN";
inline constexpr char kNotConfigured[] = "NOT_CONFIGURED";
}  // namespace code

// The message the app shows a Free user whose network needs a relay (TURN_NOT_ENTITLED).
inline constexpr char kTurnNotEntitledMessage[] =
    "This network blocks direct calling. Upgrade for Relay Mode (reliable on mobile data).";

inline Refusal BadRequest(std::string detail) {
  return Refusal{400, code::kBadRequest, std::move(detail), 0, nullptr};
}
inline Refusal StoreUnavailable(std::string_view what) {
  return Refusal{503, code::kStoreUnavailable,
                 "the store could not be used (" + std::string(what) + "); try again", 1, nullptr};
}

}  // namespace cv::admin
