// What cvadmin decides: whether a call may start under the caller's plan, the call session token
// it mints, who gets TURN credentials, how a live call session ends, contacts, and the admin
// operations on users. No HTTP here: requests arrive as the caller and a JSON body, answers leave
// as a Reply (admin/service/reply.h); admin/server maps routes onto these methods.
//
// Call start checks, in order (plans come from the plans file; 0 means no limit):
//   call_attempts_per_hour reached        429 LIMIT_CALL_ATTEMPTS   (Retry-After: when the oldest
//                                                                    attempt leaves the hour)
//   failed_starts_per_day reached         403 LIMIT_FAILED_STARTS   (until the next UTC day)
//   --- from here on the attempt is recorded; a refusal below is a failed start ---
//   group call, plan group_size 1         403 GROUP_CALLS_NOT_ALLOWED
//   group larger than group_size          403 GROUP_TOO_LARGE
//   external link without the feature     403 EXTERNAL_LINKS_NOT_ALLOWED
//   a Call ID that is another user's, or  403 CALL_ID_NOT_ALLOWED
//     one more than the plan's call_ids
//   direct call needing approval (caller  403 NOT_APPROVED_CONTACT
//     or callee on a plan with approved_contacts_only; an unknown callee counts as Free) and
//     the two are not mutually approved
//   calls_per_day reached                 403 LIMIT_DAILY_CALLS     (until the next UTC day)
//   call_seconds_per_month used           403 LIMIT_MONTHLY_MINUTES (until the next UTC month)
// A started call's maximum duration is the tighter of the plan's max_call_duration_s and what is
// left of the month's call seconds; the server ends it there itself (Sweep), and 45 s (the
// heartbeat timeout) after the last event. Call seconds run from the first "connected" event and
// are written once, when the session ends.
//
// Threading: one thread (cvadmin's event loop) calls everything; not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/service/admin_metrics.h"
#include "admin/service/entitlements.h"
#include "admin/service/reply.h"
#include "admin/store/admin_store.h"
#include "admin/token/jwt.h"
#include "cv/auth/plans.h"
#include "cv/auth/secrets.h"
#include "relay/common/clock.h"

namespace cv::admin {

struct ServiceOptions {
  std::string issuer = "cvadmin";  // the token's "iss"
  int64_t token_ttl_s = 300;       // call session tokens live this long
  int64_t token_leeway_s = 30;     // tolerated clock difference when verifying them
  int64_t turn_credential_ttl_s = 600;
  int64_t heartbeat_interval_s = 15;   // what clients are told to send
  int64_t heartbeat_timeout_s = 45;    // no event for this long ends the call
  uint32_t max_contacts = 5000;        // approvals per user
  std::vector<std::string> stun_urls;  // "stun:host:3478"
  std::vector<std::string> turn_urls;  // "turn:host:3478?transport=udp", "turns:…"
};

// The signing key and every key tokens may still verify with (the JWKS).
struct KeyRing {
  token::SigningKey signing;
  std::vector<token::VerifyKey> verify;                   // the signing key first
  std::map<std::string, int64_t, std::less<>> not_after;  // kid → Unix s, for retired keys
};

class CallService {
 public:
  CallService(AdminStore& store, const Clock& clock, AdminMetrics& metrics, KeyRing keys,
              auth::Plans plans, std::vector<auth::Secret> turn_secrets, ServiceOptions options);

  // Loads the store's live sessions (after a restart each gets a fresh heartbeat window).
  bool Start(std::string* error);

  // Client API; `user` is the authenticated caller.
  Reply StartCall(const User& user, const nlohmann::json& body);
  Reply TurnCredentials(const User& user, const nlohmann::json& body);
  Reply PostEvent(const User& user, std::string_view session_id, const nlohmann::json& body);
  Reply GetSession(const User& user, std::string_view session_id);
  Reply ApproveContact(const User& user, const nlohmann::json& body);
  Reply RemoveContact(const User& user, std::string_view contact);
  Reply ListContacts(const User& user);
  Reply Entitlements(const User& user);

  // For the admin API (admin/service/admin_service.h).
  // The user's effective plan at now_ms: the tier's plan with mode, flags, overrides and grants
  // applied (admin/service/entitlements.h). False with the refusal in *failure.
  bool EffectivePlan(const User& user, int64_t now_ms, auth::PlanPolicy* out, Reply* failure);
  // Ends the live sessions of `user` (every one when session_id is empty, else that one) with
  // `reason`; returns how many ended.
  size_t EndLive(std::string_view user, std::string_view session_id, const char* reason);
  // Relay use of the user's live sessions follows `may_relay`: once false they get no TURN
  // credentials (tokens minted on reconnect say allow_turn false).
  void SetRelayAllowed(std::string_view user, bool may_relay);
  const KeyRing& keys() const { return keys_; }
  void SetKeys(KeyRing keys);  // and the JWKS with them
  // Mints with `hold_key_id` until hold_until_ms (while relays load a new secret), then with the
  // first active secret.
  void SetTurnSecrets(std::vector<auth::Secret> secrets, std::string hold_key_id,
                      int64_t hold_until_ms);
  const std::vector<auth::Secret>& turn_secrets() const { return turn_secrets_; }
  const auth::Plans& plans() const { return plans_; }
  nlohmann::json SessionJson(const CallSession& session, int64_t now_ms) const;
  int64_t turn_credential_ttl_s() const { return options_.turn_credential_ttl_s; }

  // Ends sessions past their maximum duration or heartbeat timeout, retries ends the store
  // refused, prunes expired one-time values now and then. Call every second.
  void Sweep();

  // Sets cvadmin_call_sessions_live per plan from the live sessions (before a scrape).
  void PublishLiveSessions();

  const nlohmann::json& jwks() const { return jwks_; }
  size_t live_sessions() const { return live_.size(); }
  bool StoreReachable();

 private:
  struct Live {
    CallSession session;
    int64_t last_event_ms = 0;
    const char* cap_reason = "duration_limit";  // why max_duration_s is what it is
    bool end_pending = false;                   // ended in memory; the store write is being retried
  };

  Reply Refuse(Refusal refusal) const { return Reply::Refuse(std::move(refusal)); }
  Reply RefuseStart(const User& user, const auth::PlanPolicy& plan, Refusal refusal, bool record);
  std::string MintToken(const CallSession& session, int64_t now, int64_t* expires);
  nlohmann::json EntitlementsJson(const auth::PlanPolicy& plan, const CallCounts& counts,
                                  uint64_t live_seconds) const;
  uint64_t LiveCallSeconds(std::string_view user, int64_t now_ms) const;
  // Ends `live` (a second call only retries the store write) and returns the ended session; the
  // entry leaves live_ once the store has it, so `live` must not be used afterwards.
  CallSession End(Live& live, int64_t end_ms, const char* reason);
  Reply EndedReply(const CallSession& session) const;
  // The stored session `session_id` when it is `user`'s; otherwise the refusal (404, 503).
  Reply FindOwnSession(const User& user, std::string_view session_id, CallSession* out);
  // The reason `live` ends at `now_ms` (and when, in *end_ms), or nullptr while it goes on.
  const char* DueToEnd(const Live& live, int64_t now_ms, int64_t* end_ms) const;
  Reply StoreFailed(const char* what);

  // 403 USER_REVOKED when an operator's revocation of `user` is in force.
  std::optional<Reply> Banned(std::string_view user, int64_t now_ms);

  AdminStore& store_;
  const Clock& clock_;
  AdminMetrics& metrics_;
  KeyRing keys_;
  auth::Plans plans_;
  std::vector<auth::Secret> turn_secrets_;
  ServiceOptions options_;
  nlohmann::json jwks_;
  std::map<std::string, Live, std::less<>> live_;
  std::string hold_key_id_;  // SetTurnSecrets
  int64_t hold_until_ms_ = 0;
  int64_t next_prune_ms_ = 0;
};

// A random id for sessions and token ids: 32 lower-case hex digits (128 bits).
std::string RandomId();

// The flags, overrides and grants (those not ended at now_ms) of `user`, for Resolve.
StoreStatus LoadUserSettings(AdminStore& store, const User& user, int64_t now_ms, UserSettings* out,
                             std::string* error);

}  // namespace cv::admin
