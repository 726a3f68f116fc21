// A user's effective entitlements: the plan of their tier, then their mode, their feature flags,
// the operator's overrides and the temporary grants in force, each later layer winning over the
// earlier ones, with the source of every value kept (GET /admin/users/{id}/entitlements).
//
//   layer     what it may set                                   detail kept with the value
//   plan      everything (plans.json; an unknown tier is Free)  the plan's name
//   mode      features only (table below)                       the mode
//   flag      features                                          ""
//   override  limits and video                                  ""
//   grant     the tier, limits, video and features, until       "grant <id> until <unix s>"
//             ends_ms; of two grants on one key the later-added
//             (higher id) wins
//
// The tier decides the plan, and the plan alone decides relay use: cvrelay reads the plan name
// from the TURN credential and refuses plans that may not relay (../DESIGN.md "Credentials"), so
// "turn_relay" is no override or grant key; a temporary "tier" grant is how a user gets relay for
// a while. A "trial" tier whose trial_ends_ms has passed counts as "free".
//
// Modes switch product features, never limits or relay use:
//   PERSONAL  nothing
//   CREATOR   external_links, recording on
//   BUSINESS  exports, transcription on; approved_contacts_only off
//   STAGE     external_links, large_uploads on
//
// Keys (overrides and grants; values are text as stored):
//   limits    group_size, call_ids, max_call_duration_s, calls_per_day, call_seconds_per_month,
//             call_attempts_per_hour, failed_starts_per_day: decimal 0-4294967295 (0 = no limit)
//   video     "always" or "direct_only"
//   features  "features.<name>" (grants) or "<name>" (flags): "true" or "false", for a feature
//             the plans know (approved_contacts_only, external_links, recording, …)
//   tier      (grants only) a plan name from the plans file
//
// Threading: pure functions over values.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/store/admin_store.h"
#include "cv/auth/plans.h"

namespace cv::admin {

enum class Mode : uint8_t { kPersonal, kCreator, kBusiness, kStage };
const char* ModeName(Mode mode);  // "PERSONAL", …
// Accepts the names in any letter case; nullopt otherwise.
std::optional<Mode> ParseMode(std::string_view name);

enum class Source : uint8_t { kPlan, kMode, kFlag, kOverride, kGrant };
const char* SourceName(Source source);  // "plan", "mode", "flag", "override", "grant"

// What the store holds for one user (admin/store/admin_store.h).
struct UserSettings {
  std::string tier;
  int64_t trial_ends_ms = 0;
  std::string mode = "PERSONAL";  // an unknown mode counts as PERSONAL
  std::vector<Setting> flags;
  std::vector<Setting> overrides;
  std::vector<Grant> grants;  // any; those not in force at now_ms are ignored
};

struct Origin {
  Source source = Source::kPlan;
  std::string detail;
};

struct Effective {
  auth::PlanPolicy plan;  // the resolved policy; plan.name is the plan credentials carry
  std::string tier;       // the stored tier
  bool trial_ended = false;
  Mode mode = Mode::kPersonal;
  // Where each value came from, by key: "tier", "turn_relay", "video", the limit names and
  // "features.<name>" for every feature of the plan.
  std::map<std::string, Origin, std::less<>> origins;
  // The next time (after now_ms) the result changes by the clock alone: a grant starts or ends,
  // a trial ends. 0 when nothing is scheduled.
  int64_t next_change_ms = 0;
};

Effective Resolve(const auth::Plans& plans, const UserSettings& settings, int64_t now_ms);

// {"plan": "pro", "tier": "trial", "trial_ended": false, "trial_ends_at": 1767225600 | null,
//  "mode": "CREATOR", "next_change_at": unix s | null,
//  "values": {"turn_relay": {"value": true, "source": "plan", "detail": "pro"},
//             "features.recording": {"value": true, "source": "mode", "detail": "CREATOR"}, …}}
nlohmann::json EffectiveJson(const Effective& effective, int64_t trial_ends_ms);

enum class SettingLayer { kFlag, kOverride, kGrant };
// Checks a key and value for a layer against the plans (known features, tiers); the value is
// normalised in place ("True" → "true", " 600" is refused). False with `error` naming the key and
// what it accepts.
bool ValidateSetting(const auth::Plans& plans, SettingLayer layer, std::string_view key,
                     std::string* value, std::string* error);

}  // namespace cv::admin
