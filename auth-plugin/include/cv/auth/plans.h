// Plans are data: what each plan (free, trial, pro, business, founder, or any other name an
// operator adds) may do. One JSON file (config/plans.json) is read by cvrelay and cvadmin alike;
// without one, the built-in defaults below (from the product spec) apply. An unknown plan name is
// treated as Free.
//
// File format (every key optional except "version"; a key not listed here is an error, so a typo
// never silently falls back to a default):
//   {
//     "version": 1,
//     "plans": {
//       "pro": {
//         "turn_relay": true,                  // may this plan's users use the TURN relay
//         "video": "always",                   // "always" | "direct_only"
//         "group_size": 6,                     // max participants (1: no group calls); 0 = any
//         "call_ids": 2,                       // Call IDs (lines); 0 = no limit
//         "max_call_duration_s": 0,            // 0 = none
//         "calls_per_day": 0,                  // UTC day; 0 = no limit
//         "call_seconds_per_month": 0,         // UTC month; 0 = no limit
//         "call_attempts_per_hour": 0,         // 0 = no limit
//         "failed_starts_per_day": 0,          // 0 = no limit
//         "features": {"recording": true, …},  // named product features, true/false
//         "relay": {
//           "monthly_relay_minutes": 0,        // 0 = no limit
//           "max_allocations_per_user": 12,    // concurrent, across all workers; 0 = no limit
//           "allocations_per_peer": 3,         // per call session: × max(1, group size − 1)
//           "bandwidth_kbps": {"audio": 256, "video": 4000, "large_group": 1500},
//           "large_group_above": 4,            // "large_group" applies above this many people
//           "abuse_guard": {"enabled": false, "relayed_calls": 2, "window_s": 86400,
//                           "capped_duration_s": 300, "penalty_s": 604800}
//         }
//       }
//     }
//   }
// A plan given in the file starts from the built-in plan of the same name (or from Free for a
// new name) and overrides only the keys it sets. Plan names: [a-z0-9_-]{1,16}. Features:
// approved_contacts_only, external_links, recording, transcription, large_uploads, exports (a
// restriction or a product feature each; every plan lists all of them). The file is plain JSON:
// no comments, no repeated key, integers in 0-4294967295.
//
// Threading: a Plans value is immutable once loaded; share it read-only between threads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cv::auth {

enum class VideoPolicy : uint8_t { kDirectOnly, kAlways };

struct BandwidthPolicy {
  uint32_t audio_kbps = 0;        // audio-only calls; 0 = no cap
  uint32_t video_kbps = 0;        // calls with video
  uint32_t large_group_kbps = 0;  // groups above large_group_above people (video or not)
  uint32_t large_group_above = 4;

  friend bool operator==(const BandwidthPolicy&, const BandwidthPolicy&) = default;
};

struct AbuseGuardPolicy {
  bool enabled = false;
  uint32_t relayed_calls = 2;        // this many relayed calls …
  uint32_t window_s = 86400;         // … within this window …
  uint32_t capped_duration_s = 300;  // … cap every call at this duration …
  uint32_t penalty_s = 7 * 86400;    // … for this long.

  friend bool operator==(const AbuseGuardPolicy&, const AbuseGuardPolicy&) = default;
};

struct RelayPolicy {
  uint32_t monthly_relay_minutes = 0;
  uint32_t max_allocations_per_user = 0;
  uint32_t allocations_per_peer = 3;
  BandwidthPolicy bandwidth;
  AbuseGuardPolicy abuse_guard;

  friend bool operator==(const RelayPolicy&, const RelayPolicy&) = default;
};

struct PlanPolicy {
  std::string name;
  bool turn_relay = false;
  VideoPolicy video = VideoPolicy::kDirectOnly;
  uint32_t group_size = 1;
  uint32_t call_ids = 1;
  uint32_t max_call_duration_s = 0;
  uint32_t calls_per_day = 0;
  uint32_t call_seconds_per_month = 0;
  uint32_t call_attempts_per_hour = 0;
  uint32_t failed_starts_per_day = 0;
  std::map<std::string, bool, std::less<>> features;
  RelayPolicy relay;

  bool Feature(std::string_view name) const;  // false when not listed
  friend bool operator==(const PlanPolicy&, const PlanPolicy&) = default;
};

class Plans {
 public:
  // The built-in table (../shared/DESIGN.md "Plans and entitlements").
  static Plans Defaults();
  // Defaults overlaid with the file at `path`. nullopt with `error` ("plans.json: plans.pro.video:
  // expected \"always\" or \"direct_only\"") when it cannot be read or does not validate.
  static std::optional<Plans> Load(const std::string& path, std::string* error);
  // Same, from text; `source` names it in errors.
  static std::optional<Plans> Parse(std::string_view json_text, std::string_view source,
                                    std::string* error);

  // The plan called `name`; the Free plan when there is none.
  const PlanPolicy& Find(std::string_view name) const;
  // True when a plan of exactly that name exists (Find falls back to Free otherwise).
  bool Has(std::string_view name) const;
  std::vector<std::string> Names() const;
  // The effective table as JSON text (for docs, `cvctl`, and tests).
  std::string ToJson() const;

  friend bool operator==(const Plans&, const Plans&) = default;

 private:
  std::map<std::string, PlanPolicy, std::less<>> plans_;
};

inline constexpr std::string_view kFreePlan = "free";

// The tighter of two limits where 0 means "no limit" (durations, bandwidths).
inline uint32_t TighterLimit(uint32_t a, uint32_t b) {
  if (a == 0) return b;
  if (b == 0) return a;
  return a < b ? a : b;
}

}  // namespace cv::auth
