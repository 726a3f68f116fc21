#include "admin/service/entitlements.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace cv::admin {

namespace {

using json = nlohmann::json;

constexpr const char* kModeNames[] = {"PERSONAL", "CREATOR", "BUSINESS", "STAGE"};
constexpr const char* kSourceNames[] = {"plan", "mode", "flag", "override", "grant"};

constexpr std::string_view kFeaturePrefix = "features.";
constexpr std::string_view kTierKey = "tier";
constexpr std::string_view kVideoKey = "video";
constexpr std::string_view kRelayKey = "turn_relay";

// The limits an override or grant may set, and where each lives in a plan.
struct Limit {
  std::string_view name;
  uint32_t auth::PlanPolicy::*field;
};
constexpr Limit kLimits[] = {
    {"group_size", &auth::PlanPolicy::group_size},
    {"call_ids", &auth::PlanPolicy::call_ids},
    {"max_call_duration_s", &auth::PlanPolicy::max_call_duration_s},
    {"calls_per_day", &auth::PlanPolicy::calls_per_day},
    {"call_seconds_per_month", &auth::PlanPolicy::call_seconds_per_month},
    {"call_attempts_per_hour", &auth::PlanPolicy::call_attempts_per_hour},
    {"failed_starts_per_day", &auth::PlanPolicy::failed_starts_per_day},
};

// What each mode switches (entitlements.h): features only.
struct ModeFeature {
  Mode mode;
  std::string_view feature;
  bool on;
};
constexpr ModeFeature kModeFeatures[] = {
    {Mode::kCreator, "external_links", true},
    {Mode::kCreator, "recording", true},
    {Mode::kBusiness, "exports", true},
    {Mode::kBusiness, "transcription", true},
    {Mode::kBusiness, "approved_contacts_only", false},
    {Mode::kStage, "external_links", true},
    {Mode::kStage, "large_uploads", true},
};

const Limit* FindLimit(std::string_view name) {
  for (const Limit& l : kLimits) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

// Decimal digits only, 0-4294967295: no sign, blank or other text.
std::optional<uint32_t> ParseNumber(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > UINT32_MAX) return std::nullopt;
  }
  return static_cast<uint32_t>(v);
}

// "true" or "false" in any letter case.
std::optional<bool> ParseBool(std::string_view s) {
  const std::string lower = Lower(s);
  if (lower == "true") return true;
  if (lower == "false") return false;
  return std::nullopt;
}

// "always" or "direct_only" in any letter case.
std::optional<auth::VideoPolicy> ParseVideo(std::string_view s) {
  const std::string lower = Lower(s);
  if (lower == "always") return auth::VideoPolicy::kAlways;
  if (lower == "direct_only") return auth::VideoPolicy::kDirectOnly;
  return std::nullopt;
}

const char* VideoName(auth::VideoPolicy video) {
  return video == auth::VideoPolicy::kAlways ? "always" : "direct_only";
}

// A time to show in Unix seconds, rounded up: a change due at 1500 ms has happened by second 2.
int64_t CeilSeconds(int64_t ms) { return ms / 1000 + (ms % 1000 > 0 ? 1 : 0); }

bool InForce(const Grant& g, int64_t now_ms) { return g.starts_ms <= now_ms && now_ms < g.ends_ms; }

// Builds an Effective layer by layer; each Set* records who set the value last.
class Layering {
 public:
  explicit Layering(Effective* out) : out_(*out) {}

  // The plan replaces everything: every key it defines gets `origin`.
  void SetPlan(const auth::PlanPolicy& plan, const Origin& origin) {
    out_.plan = plan;
    out_.origins.clear();
    for (std::string_view key : {kTierKey, kRelayKey, kVideoKey}) Record(key, origin);
    for (const Limit& l : kLimits) Record(l.name, origin);
    for (const auto& feature : plan.features) {
      Record(std::string(kFeaturePrefix) + feature.first, origin);
    }
  }

  // A feature the plan does not list stays unknown: every plan lists every feature, so such a
  // name comes from a setting made against an older plans file.
  bool SetFeature(std::string_view name, bool on, const Origin& origin) {
    auto it = out_.plan.features.find(name);
    if (it == out_.plan.features.end()) return false;
    it->second = on;
    Record(std::string(kFeaturePrefix) + std::string(name), origin);
    return true;
  }

  // A limit or "video" from its stored text; false (and nothing set) when it does not parse.
  bool SetLimitOrVideo(std::string_view key, std::string_view value, const Origin& origin) {
    if (key == kVideoKey) {
      auto video = ParseVideo(value);
      if (!video) return false;
      out_.plan.video = *video;
    } else if (const Limit* limit = FindLimit(key)) {
      auto number = ParseNumber(value);
      if (!number) return false;
      out_.plan.*(limit->field) = *number;
    } else {
      return false;
    }
    Record(key, origin);
    return true;
  }

 private:
  void Record(std::string_view key, const Origin& origin) {
    out_.origins.insert_or_assign(std::string(key), origin);
  }

  Effective& out_;
};

Origin GrantOrigin(const Grant& g) {
  return Origin{Source::kGrant, "grant " + std::to_string(g.id) + " until " +
                                    std::to_string(CeilSeconds(g.ends_ms))};
}

// The value of `key` in `effective` as JSON.
json ValueOf(const Effective& effective, std::string_view key) {
  const auth::PlanPolicy& p = effective.plan;
  if (key == kTierKey) return p.name;
  if (key == kRelayKey) return p.turn_relay;
  if (key == kVideoKey) return VideoName(p.video);
  if (const Limit* limit = FindLimit(key)) return p.*(limit->field);
  if (key.substr(0, kFeaturePrefix.size()) == kFeaturePrefix) {
    return p.Feature(key.substr(kFeaturePrefix.size()));
  }
  return nullptr;
}

// Every feature some plan lists (all plans list the same ones, unless a file says otherwise).
bool KnownFeature(const auth::Plans& plans, std::string_view name) {
  if (plans.Find(auth::kFreePlan).features.count(name) != 0) return true;
  for (const std::string& plan : plans.Names()) {
    if (plans.Find(plan).features.count(name) != 0) return true;
  }
  return false;
}

std::string LimitNames() {
  std::string out;
  for (const Limit& l : kLimits) {
    if (!out.empty()) out += ", ";
    out += l.name;
  }
  return out;
}

bool Refuse(std::string* error, std::string_view key, std::string_view what) {
  if (error != nullptr) *error = std::string(key) + ": " + std::string(what);
  return false;
}

// The value of a limit, "video" or a feature, normalised in place.
bool ValidateValue(std::string_view key, bool feature, std::string* value, std::string* error) {
  if (feature) {
    auto on = ParseBool(*value);
    if (!on) return Refuse(error, key, "expected true or false");
    *value = *on ? "true" : "false";
    return true;
  }
  if (key == kVideoKey) {
    auto video = ParseVideo(*value);
    if (!video) return Refuse(error, key, "expected \"always\" or \"direct_only\"");
    *value = VideoName(*video);
    return true;
  }
  auto number = ParseNumber(*value);
  if (!number) {
    return Refuse(error, key,
                  "expected a whole number 0-4294967295 (decimal digits, 0 = no limit)");
  }
  *value = std::to_string(*number);
  return true;
}

}  // namespace

const char* ModeName(Mode mode) { return kModeNames[static_cast<size_t>(mode)]; }

std::optional<Mode> ParseMode(std::string_view name) {
  std::string upper(name);
  for (char& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  for (size_t i = 0; i < std::size(kModeNames); ++i) {
    if (upper == kModeNames[i]) return static_cast<Mode>(i);
  }
  return std::nullopt;
}

const char* SourceName(Source source) { return kSourceNames[static_cast<size_t>(source)]; }

Effective Resolve(const auth::Plans& plans, const UserSettings& settings, int64_t now_ms) {
  Effective out;
  out.tier = settings.tier;
  Layering layers(&out);

  // Plan: the stored tier, Free when unknown or when a trial has run out.
  std::string_view tier = settings.tier;
  if (tier == "trial" && settings.trial_ends_ms != 0 && now_ms >= settings.trial_ends_ms) {
    tier = auth::kFreePlan;
    out.trial_ended = true;
  }
  const auth::PlanPolicy& stored_plan = plans.Find(tier);
  layers.SetPlan(stored_plan, Origin{Source::kPlan, stored_plan.name});

  // Grants in force, oldest first, so that of two on one key the later-added wins.
  std::vector<const Grant*> grants;
  for (const Grant& g : settings.grants) {
    if (InForce(g, now_ms)) grants.push_back(&g);
  }
  std::stable_sort(grants.begin(), grants.end(),
                   [](const Grant* a, const Grant* b) { return a->id < b->id; });

  // A tier grant replaces the plan before any other layer applies.
  const Grant* tier_grant = nullptr;
  for (const Grant* g : grants) {
    if (g->key == kTierKey) tier_grant = g;
  }
  if (tier_grant != nullptr) {
    layers.SetPlan(plans.Find(Lower(tier_grant->value)), GrantOrigin(*tier_grant));
  }

  // Mode: features only.
  out.mode = ParseMode(settings.mode).value_or(Mode::kPersonal);
  const Origin mode_origin{Source::kMode, ModeName(out.mode)};
  for (const ModeFeature& m : kModeFeatures) {
    if (m.mode == out.mode) layers.SetFeature(m.feature, m.on, mode_origin);
  }

  // Flags: features, by name. A stored value that no longer validates is skipped.
  const Origin flag_origin{Source::kFlag, ""};
  for (const Setting& s : settings.flags) {
    if (auto on = ParseBool(s.value)) layers.SetFeature(s.key, *on, flag_origin);
  }

  // Overrides: limits and video.
  const Origin override_origin{Source::kOverride, ""};
  for (const Setting& s : settings.overrides)
    layers.SetLimitOrVideo(s.key, s.value, override_origin);

  // Grants other than the tier: limits, video and "features.<name>".
  for (const Grant* g : grants) {
    const std::string_view key = g->key;
    if (key.substr(0, kFeaturePrefix.size()) == kFeaturePrefix) {
      if (auto on = ParseBool(g->value)) {
        layers.SetFeature(key.substr(kFeaturePrefix.size()), *on, GrantOrigin(*g));
      }
    } else if (key != kTierKey) {
      layers.SetLimitOrVideo(key, g->value, GrantOrigin(*g));
    }
  }

  // When the clock alone changes the result next.
  auto consider = [&](int64_t at_ms) {
    if (at_ms > now_ms && (out.next_change_ms == 0 || at_ms < out.next_change_ms)) {
      out.next_change_ms = at_ms;
    }
  };
  for (const Grant& g : settings.grants) {
    if (g.starts_ms >= g.ends_ms) continue;  // never in force
    consider(g.starts_ms);
    consider(g.ends_ms);
  }
  if (settings.tier == "trial" && settings.trial_ends_ms != 0) consider(settings.trial_ends_ms);
  return out;
}

json EffectiveJson(const Effective& effective, int64_t trial_ends_ms) {
  json values = json::object();
  for (const auto& [key, origin] : effective.origins) {
    values[key] = {{"value", ValueOf(effective, key)},
                   {"source", SourceName(origin.source)},
                   {"detail", origin.detail}};
  }
  return {
      {"plan", effective.plan.name},
      {"tier", effective.tier},
      {"trial_ended", effective.trial_ended},
      {"trial_ends_at", trial_ends_ms == 0 ? json(nullptr) : json(CeilSeconds(trial_ends_ms))},
      {"mode", ModeName(effective.mode)},
      {"next_change_at",
       effective.next_change_ms == 0 ? json(nullptr) : json(CeilSeconds(effective.next_change_ms))},
      {"values", std::move(values)}};
}

bool ValidateSetting(const auth::Plans& plans, SettingLayer layer, std::string_view key,
                     std::string* value, std::string* error) {
  if (key == kRelayKey || key == std::string(kFeaturePrefix) + std::string(kRelayKey)) {
    return Refuse(error, key,
                  "relay use follows the tier (the plan decides it, and cvrelay enforces the "
                  "plan); grant a tier instead");
  }
  const bool prefixed = key.substr(0, kFeaturePrefix.size()) == kFeaturePrefix;
  const std::string_view feature = prefixed ? key.substr(kFeaturePrefix.size()) : key;

  switch (layer) {
    case SettingLayer::kFlag:
      if (prefixed && KnownFeature(plans, feature)) {
        return Refuse(
            error, key,
            "flags take the feature's name without \"features.\": " + std::string(feature));
      }
      if (!KnownFeature(plans, key)) {
        return Refuse(error, key,
                      "unknown feature; flags take a feature the plans list "
                      "(approved_contacts_only, external_links, recording, …)");
      }
      return ValidateValue(key, /*feature=*/true, value, error);

    case SettingLayer::kOverride:
      if (key == kVideoKey || FindLimit(key) != nullptr) {
        return ValidateValue(key, /*feature=*/false, value, error);
      }
      if (key == kTierKey) {
        return Refuse(error, key,
                      "the tier is no override; set the tier, or grant one for a while");
      }
      if (KnownFeature(plans, feature)) {
        return Refuse(error, key, "features are set by flags, not overrides");
      }
      return Refuse(error, key, "unknown key; overrides take " + LimitNames() + " and video");

    case SettingLayer::kGrant:
      if (key == kTierKey) {
        const std::string tier = Lower(*value);
        if (!plans.Has(tier)) {
          std::string names;
          for (const std::string& n : plans.Names()) names += (names.empty() ? "" : ", ") + n;
          return Refuse(error, key, "expected a plan name from the plans file (" + names + ")");
        }
        *value = tier;
        return true;
      }
      if (key == kVideoKey || FindLimit(key) != nullptr) {
        return ValidateValue(key, /*feature=*/false, value, error);
      }
      if (prefixed && KnownFeature(plans, feature)) {
        return ValidateValue(key, /*feature=*/true, value, error);
      }
      if (!prefixed && KnownFeature(plans, key)) {
        return Refuse(error, key, "grants name a feature as \"features." + std::string(key) + "\"");
      }
      return Refuse(
          error, key,
          "unknown key; grants take tier, " + LimitNames() + ", video and features.<name>");
  }
  return Refuse(error, key, "unknown layer");
}

}  // namespace cv::admin
