// The admin API's operations (docs/admin-api.md): users and their tier, mode, identity key,
// flags, overrides, grants and Call IDs; revocations sent to every relay; the reports; key and
// secret rotation. Roles and the audit log are the server's (admin/server/admin_api.h): by the
// time a call arrives here the caller may do it, and `actor` names them for the records.
//
// Relay use follows the effective plan (admin/service/entitlements.h). Whenever a change — a
// tier, a grant, a trial's end, a grant's end — takes relay use away, the user is revoked on every
// relay with reason "downgrade" for the TURN credential lifetime plus a minute (every credential
// minted before has expired by then), their live sessions stop getting TURN credentials, and the
// relays end their allocations at once; when relay use comes back the downgrade revocation is
// lifted. An operator's ban (reason "revoked") is only lifted by an operator.
//
// Threading: one thread (cvadmin's event loop) calls everything; RelayFleet calls block for at
// most its timeout.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "admin/fleet/relay_fleet.h"
#include "admin/service/admin_metrics.h"
#include "admin/service/call_service.h"
#include "admin/service/entitlements.h"
#include "admin/service/reply.h"
#include "admin/store/admin_store.h"
#include "cv/auth/usage_store.h"

namespace cv::admin {

struct AdminServiceOptions {
  int64_t default_trial_s = 14 * 86400;  // a trial set without an end lasts this long
  int64_t default_revoke_ttl_s = 86400;  // POST …/revoke without ttl_s
  std::string token_key_file;            // where rotation writes the token signing keys
  std::string auth_secrets_file;         // empty: TURN secret rotation answers NOT_CONFIGURED
  int64_t turn_propagation_ms = 5000;    // keep minting with the previous secret this long
  // The relays' usage ledger, opened read-only on first use when `usage` is null (the relay may
  // create the file after cvadmin starts); empty: reports have no relay time.
  std::string usage_db;
};

class AdminService {
 public:
  // `fleet` and `usage` may be null (no relays configured; no usage-db).
  AdminService(AdminStore& store, CallService& calls, const Clock& clock, AdminMetrics& metrics,
               RelayFleet* fleet, auth::UsageStore* usage, AdminServiceOptions options);

  // Sends the revocations in force to the fleet's resync set (call once at start).
  bool Start(std::string* error);

  // Users.
  Reply ListUsers(std::string_view tier, std::string_view after, int64_t limit);
  Reply CreateUser(const nlohmann::json& body, std::string_view actor);
  Reply GetUser(std::string_view id);
  Reply SetKey(std::string_view id, const nlohmann::json& body);
  Reply SetTier(std::string_view id, const nlohmann::json& body, std::string_view actor);
  Reply SetMode(std::string_view id, const nlohmann::json& body);
  Reply Entitlements(std::string_view id);

  // Flags (SettingKind::kFlag) and overrides (kOverride).
  Reply ListSettings(std::string_view id, SettingKind kind);
  Reply PutSetting(std::string_view id, SettingKind kind, std::string_view key,
                   const nlohmann::json& body, std::string_view actor);
  Reply RemoveSetting(std::string_view id, SettingKind kind, std::string_view key);

  // Grants.
  Reply ListGrants(std::string_view id, bool all);
  Reply AddGrant(std::string_view id, const nlohmann::json& body, std::string_view actor);
  Reply RemoveGrant(std::string_view id, std::string_view grant_id, std::string_view actor);

  // Call IDs.
  Reply ListLines(std::string_view id);
  Reply AddLine(std::string_view id, const nlohmann::json& body);
  Reply RemoveLine(std::string_view id, std::string_view line);

  // Revocations: kind "user" or "session".
  Reply Revoke(std::string_view kind, std::string_view id, const nlohmann::json& body,
               std::string_view actor);
  Reply Lift(std::string_view kind, std::string_view id);
  Reply ListRevocations();
  Reply GetSession(std::string_view id);
  // Every relay's live allocations, merged; `user` and `session` filter when non-empty.
  Reply Allocations(std::string_view user, std::string_view session);

  // Reports. The query's from/to/top/period/user/format, as strings (validated here).
  Reply Report(std::string_view name, const std::map<std::string, std::string>& query);

  // The audit log, newest first: since (a time), actor, target, limit (1-10000, default 100).
  Reply Audit(const std::map<std::string, std::string>& query);

  // Keys and secrets.
  Reply Keys();
  Reply RotateTokenKey(const nlohmann::json& body);
  Reply RotateTurnSecret(const nlohmann::json& body);

  // Every second: users whose grants or trial changed by the clock are re-evaluated (relay use
  // revoked or restored); retired token keys past their end are dropped.
  void Sweep();

 private:
  Reply FindUser(std::string_view id, User* out);
  // Loads the user's settings and resolves them at now_ms.
  StoreStatus Resolve(const User& user, int64_t now_ms, Effective* out, std::string* error);
  // After a change: compares relay use before and after and revokes or lifts on the relays.
  // Returns the relays' answers (empty when nothing changed).
  nlohmann::json RelayUseChanged(const User& user, bool could_relay, std::string_view actor);
  bool MayRelay(const User& user, int64_t now_ms);
  nlohmann::json SendRevocation(const Revocation& revocation);
  // Hands the revocations in force to the fleet's resync set; false when the store fails.
  bool PublishWanted();
  Reply StoreFailed(const char* what);
  auth::UsageStore* Usage();  // usage_, or the ledger at options_.usage_db once it opens

  AdminStore& store_;
  CallService& calls_;
  const Clock& clock_;
  AdminMetrics& metrics_;
  RelayFleet* fleet_;
  auth::UsageStore* usage_;
  std::unique_ptr<auth::UsageStore> opened_usage_;
  AdminServiceOptions options_;
  int64_t last_sweep_ms_ = 0;
  int64_t started_s_ = 0;
};

}  // namespace cv::admin
