#include "admin/service/entitlements.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cv::admin {
namespace {

constexpr int64_t kNowMs = 1794297600000;  // 2026-11-10, a whole second
constexpr int64_t kHourMs = 3600 * 1000;

const char* const kLimitNames[] = {"group_size",
                                   "call_ids",
                                   "max_call_duration_s",
                                   "calls_per_day",
                                   "call_seconds_per_month",
                                   "call_attempts_per_hour",
                                   "failed_starts_per_day"};
const char* const kFeatureNames[] = {"approved_contacts_only", "external_links", "recording",
                                     "transcription",          "large_uploads",  "exports"};

class EntitlementsTest : public ::testing::Test {
 protected:
  static Setting Set(std::string key, std::string value) {
    return Setting{std::move(key), std::move(value), kNowMs - kHourMs, "ops"};
  }

  static Grant GrantOf(int64_t id, std::string key, std::string value, int64_t starts_ms,
                       int64_t ends_ms) {
    return Grant{id,        "alice", std::move(key), std::move(value),
                 starts_ms, ends_ms, "support",      "ops"};
  }

  Effective Resolved(int64_t now_ms = kNowMs) const { return Resolve(plans_, settings_, now_ms); }

  // "<source>/<detail>" of `key`, or "missing".
  static std::string OriginOf(const Effective& e, const std::string& key) {
    auto it = e.origins.find(key);
    if (it == e.origins.end()) return "missing";
    return std::string(SourceName(it->second.source)) + "/" + it->second.detail;
  }

  bool Valid(SettingLayer layer, std::string_view key, std::string* value,
             std::string* error = nullptr) const {
    std::string ignored;
    return ValidateSetting(plans_, layer, key, value, error != nullptr ? error : &ignored);
  }

  // The normalised value, or "refused: <error>".
  std::string Checked(SettingLayer layer, std::string_view key, std::string value) const {
    std::string error;
    if (!ValidateSetting(plans_, layer, key, &value, &error)) return "refused: " + error;
    return value;
  }

  auth::Plans plans_ = auth::Plans::Defaults();
  UserSettings settings_{"free", 0, "PERSONAL", {}, {}, {}};
};

// --- Names. ---

TEST_F(EntitlementsTest, ModeAndSourceNamesRoundTrip) {
  for (Mode m : {Mode::kPersonal, Mode::kCreator, Mode::kBusiness, Mode::kStage}) {
    ASSERT_TRUE(ParseMode(ModeName(m)));
    EXPECT_EQ(*ParseMode(ModeName(m)), m);
  }
  EXPECT_EQ(ParseMode("creator"), Mode::kCreator);
  EXPECT_EQ(ParseMode("Stage"), Mode::kStage);
  EXPECT_FALSE(ParseMode("ARTIST"));
  EXPECT_FALSE(ParseMode(""));
  EXPECT_STREQ(SourceName(Source::kPlan), "plan");
  EXPECT_STREQ(SourceName(Source::kMode), "mode");
  EXPECT_STREQ(SourceName(Source::kFlag), "flag");
  EXPECT_STREQ(SourceName(Source::kOverride), "override");
  EXPECT_STREQ(SourceName(Source::kGrant), "grant");
}

// --- The plan. ---

TEST_F(EntitlementsTest, EveryValueComesFromThePlanOfTheTier) {
  settings_.tier = "pro";
  const Effective e = Resolved();
  EXPECT_EQ(e.plan, plans_.Find("pro"));
  EXPECT_EQ(e.tier, "pro");
  EXPECT_FALSE(e.trial_ended);
  EXPECT_EQ(e.mode, Mode::kPersonal);
  // tier, turn_relay, video, 7 limits and 6 features.
  EXPECT_EQ(e.origins.size(), 3u + std::size(kLimitNames) + std::size(kFeatureNames));
  for (const std::string key : {"tier", "turn_relay", "video"}) {
    EXPECT_EQ(OriginOf(e, key), "plan/pro") << key;
  }
  for (const char* limit : kLimitNames) EXPECT_EQ(OriginOf(e, limit), "plan/pro") << limit;
  for (const char* feature : kFeatureNames) {
    EXPECT_EQ(OriginOf(e, std::string("features.") + feature), "plan/pro") << feature;
  }
  EXPECT_EQ(e.next_change_ms, 0);
}

TEST_F(EntitlementsTest, AnUnknownTierIsFree) {
  settings_.tier = "platinum";
  const Effective e = Resolved();
  EXPECT_EQ(e.plan.name, "free");
  EXPECT_FALSE(e.plan.turn_relay);
  EXPECT_EQ(e.tier, "platinum");
  EXPECT_EQ(OriginOf(e, "turn_relay"), "plan/free");

  settings_.tier = "";
  EXPECT_EQ(Resolved().plan.name, "free");
}

TEST_F(EntitlementsTest, ATrialPastItsEndCountsAsFree) {
  settings_.tier = "trial";
  settings_.trial_ends_ms = kNowMs + 1000;
  Effective e = Resolved();
  EXPECT_EQ(e.plan.name, "trial");
  EXPECT_TRUE(e.plan.turn_relay);
  EXPECT_FALSE(e.trial_ended);
  EXPECT_EQ(e.next_change_ms, kNowMs + 1000);

  e = Resolved(kNowMs + 1000);  // the end itself is past
  EXPECT_EQ(e.plan.name, "free");
  EXPECT_FALSE(e.plan.turn_relay);
  EXPECT_EQ(e.tier, "trial");
  EXPECT_TRUE(e.trial_ended);
  EXPECT_EQ(OriginOf(e, "turn_relay"), "plan/free");
  EXPECT_EQ(e.next_change_ms, 0);
}

TEST_F(EntitlementsTest, ATrialWithoutAnEndNeverEnds) {
  settings_.tier = "trial";
  settings_.trial_ends_ms = 0;
  const Effective e = Resolved(kNowMs * 2);
  EXPECT_EQ(e.plan.name, "trial");
  EXPECT_FALSE(e.trial_ended);
  EXPECT_EQ(e.next_change_ms, 0);
}

TEST_F(EntitlementsTest, TrialEndsOfOtherTiersAreIgnored) {
  settings_.tier = "pro";
  settings_.trial_ends_ms = kNowMs - 1000;
  const Effective e = Resolved();
  EXPECT_EQ(e.plan.name, "pro");
  EXPECT_FALSE(e.trial_ended);
}

// --- Modes. ---

TEST_F(EntitlementsTest, ModesSwitchTheFeaturesOfTheTable) {
  struct Case {
    const char* mode;
    std::vector<std::pair<const char*, bool>> set;
  };
  const Case cases[] = {
      {"PERSONAL", {}},
      {"CREATOR", {{"external_links", true}, {"recording", true}}},
      {"BUSINESS", {{"exports", true}, {"transcription", true}, {"approved_contacts_only", false}}},
      {"STAGE", {{"external_links", true}, {"large_uploads", true}}},
  };
  for (const Case& c : cases) {
    settings_.mode = c.mode;
    const Effective e = Resolved();
    EXPECT_EQ(ModeName(e.mode), std::string(c.mode));
    for (const char* feature : kFeatureNames) {
      const std::string key = std::string("features.") + feature;
      bool switched = false;
      for (const auto& [name, on] : c.set) {
        if (name != std::string(feature)) continue;
        switched = true;
        EXPECT_EQ(e.plan.Feature(feature), on) << c.mode << " " << feature;
        EXPECT_EQ(OriginOf(e, key), std::string("mode/") + c.mode) << feature;
      }
      if (!switched) {
        EXPECT_EQ(e.plan.Feature(feature), plans_.Find("free").Feature(feature)) << feature;
        EXPECT_EQ(OriginOf(e, key), "plan/free") << c.mode << " " << feature;
      }
    }
  }
}

TEST_F(EntitlementsTest, ModesNeverChangeLimitsOrRelay) {
  for (const char* mode : {"CREATOR", "BUSINESS", "STAGE"}) {
    settings_.mode = mode;
    const Effective e = Resolved();
    EXPECT_FALSE(e.plan.turn_relay);
    EXPECT_EQ(e.plan.video, auth::VideoPolicy::kDirectOnly);
    EXPECT_EQ(e.plan.group_size, 1u);
    EXPECT_EQ(e.plan.calls_per_day, 2u);
    EXPECT_EQ(OriginOf(e, "turn_relay"), "plan/free");
    for (const char* limit : kLimitNames) EXPECT_EQ(OriginOf(e, limit), "plan/free") << limit;
  }
}

TEST_F(EntitlementsTest, AnUnknownModeCountsAsPersonal) {
  settings_.mode = "ARTIST";
  const Effective e = Resolved();
  EXPECT_EQ(e.mode, Mode::kPersonal);
  EXPECT_EQ(OriginOf(e, "features.recording"), "plan/free");

  settings_.mode = "creator";  // any letter case
  EXPECT_EQ(Resolved().mode, Mode::kCreator);
}

// --- Flags, overrides and grants. ---

TEST_F(EntitlementsTest, AFlagWinsOverTheModeAndThePlan) {
  settings_.mode = "CREATOR";
  settings_.flags = {Set("recording", "false"), Set("exports", "true")};
  const Effective e = Resolved();
  EXPECT_FALSE(e.plan.Feature("recording"));
  EXPECT_EQ(OriginOf(e, "features.recording"), "flag/");
  EXPECT_TRUE(e.plan.Feature("exports"));
  EXPECT_EQ(OriginOf(e, "features.exports"), "flag/");
  EXPECT_TRUE(e.plan.Feature("external_links"));
  EXPECT_EQ(OriginOf(e, "features.external_links"), "mode/CREATOR");
}

TEST_F(EntitlementsTest, FlagsThatNoLongerValidateAreSkipped) {
  settings_.flags = {Set("teleport", "true"), Set("recording", "maybe"), Set("turn_relay", "true")};
  const Effective e = Resolved();
  EXPECT_FALSE(e.plan.Feature("recording"));
  EXPECT_EQ(OriginOf(e, "features.recording"), "plan/free");
  EXPECT_EQ(OriginOf(e, "features.teleport"), "missing");
  EXPECT_FALSE(e.plan.turn_relay);
  EXPECT_EQ(OriginOf(e, "turn_relay"), "plan/free");
}

TEST_F(EntitlementsTest, AnOverrideSetsLimitsAndVideo) {
  settings_.overrides = {Set("calls_per_day", "5"), Set("video", "always"),
                         Set("max_call_duration_s", "0")};
  const Effective e = Resolved();
  EXPECT_EQ(e.plan.calls_per_day, 5u);
  EXPECT_EQ(OriginOf(e, "calls_per_day"), "override/");
  EXPECT_EQ(e.plan.video, auth::VideoPolicy::kAlways);
  EXPECT_EQ(OriginOf(e, "video"), "override/");
  EXPECT_EQ(e.plan.max_call_duration_s, 0u);
  EXPECT_EQ(OriginOf(e, "max_call_duration_s"), "override/");
  EXPECT_EQ(e.plan.call_ids, 1u);
  EXPECT_EQ(OriginOf(e, "call_ids"), "plan/free");
}

TEST_F(EntitlementsTest, OverridesNeverTouchFeaturesRelayOrTier) {
  settings_.overrides = {Set("recording", "true"), Set("turn_relay", "true"), Set("tier", "pro"),
                         Set("calls_per_day", "-1")};
  const Effective e = Resolved();
  EXPECT_EQ(e.plan, plans_.Find("free"));
  for (const auto& [key, origin] : e.origins) EXPECT_EQ(origin.source, Source::kPlan) << key;
}

TEST_F(EntitlementsTest, AGrantWinsOverAnOverride) {
  settings_.overrides = {Set("calls_per_day", "5"), Set("group_size", "3")};
  settings_.grants = {GrantOf(3, "calls_per_day", "9", kNowMs - kHourMs, kNowMs + kHourMs),
                      GrantOf(4, "features.recording", "true", kNowMs - kHourMs, kNowMs + 1500)};
  const Effective e = Resolved();
  EXPECT_EQ(e.plan.calls_per_day, 9u);
  EXPECT_EQ(OriginOf(e, "calls_per_day"),
            "grant/grant 3 until " + std::to_string((kNowMs + kHourMs) / 1000));
  EXPECT_EQ(e.plan.group_size, 3u);
  EXPECT_EQ(OriginOf(e, "group_size"), "override/");
  EXPECT_TRUE(e.plan.Feature("recording"));
  // An end within a second shows as the second by which it has happened.
  EXPECT_EQ(OriginOf(e, "features.recording"),
            "grant/grant 4 until " + std::to_string(kNowMs / 1000 + 2));
}

TEST_F(EntitlementsTest, AGrantWinsOverAFlagAndTheMode) {
  settings_.mode = "CREATOR";
  settings_.flags = {Set("external_links", "true")};
  settings_.grants = {GrantOf(1, "features.external_links", "false", kNowMs, kNowMs + kHourMs),
                      GrantOf(2, "features.recording", "FALSE", kNowMs, kNowMs + kHourMs)};
  const Effective e = Resolved();
  EXPECT_FALSE(e.plan.Feature("external_links"));
  EXPECT_EQ(OriginOf(e, "features.external_links").substr(0, 13), "grant/grant 1");
  EXPECT_FALSE(e.plan.Feature("recording"));
  EXPECT_EQ(OriginOf(e, "features.recording").substr(0, 13), "grant/grant 2");
}

TEST_F(EntitlementsTest, GrantsOutsideTheirWindowAreIgnored) {
  settings_.grants = {
      GrantOf(1, "calls_per_day", "7", kNowMs + 1, kNowMs + kHourMs),      // not started
      GrantOf(2, "call_ids", "4", kNowMs - kHourMs, kNowMs),               // ended (exclusive)
      GrantOf(3, "group_size", "5", kNowMs - kHourMs, kNowMs - 1),         // ended
      GrantOf(4, "video", "always", kNowMs + kHourMs, kNowMs - kHourMs)};  // never
  Effective e = Resolved();
  EXPECT_EQ(e.plan, plans_.Find("free"));
  for (const auto& [key, origin] : e.origins) EXPECT_EQ(origin.source, Source::kPlan) << key;

  e = Resolved(kNowMs + 1);  // the start is in force
  EXPECT_EQ(e.plan.calls_per_day, 7u);
  EXPECT_EQ(OriginOf(e, "calls_per_day").substr(0, 13), "grant/grant 1");
}

TEST_F(EntitlementsTest, OfTwoGrantsOnOneKeyTheLaterAddedWins) {
  // Given newest first, as a caller might: the id decides, not the order.
  settings_.grants = {GrantOf(7, "calls_per_day", "3", kNowMs - kHourMs, kNowMs + kHourMs),
                      GrantOf(4, "calls_per_day", "8", kNowMs - 2 * kHourMs, kNowMs + 2 * kHourMs)};
  Effective e = Resolved();
  EXPECT_EQ(e.plan.calls_per_day, 3u);
  EXPECT_EQ(OriginOf(e, "calls_per_day").substr(0, 13), "grant/grant 7");

  e = Resolved(kNowMs + kHourMs);  // grant 7 has ended; grant 4 is still in force
  EXPECT_EQ(e.plan.calls_per_day, 8u);
  EXPECT_EQ(OriginOf(e, "calls_per_day").substr(0, 13), "grant/grant 4");
}

TEST_F(EntitlementsTest, ATierGrantGivesRelayToAFreeUser) {
  settings_.grants = {GrantOf(5, "tier", "pro", kNowMs - kHourMs, kNowMs + kHourMs)};
  const Effective e = Resolved();
  EXPECT_EQ(e.plan.name, "pro");
  EXPECT_EQ(e.tier, "free");
  EXPECT_TRUE(e.plan.turn_relay);
  EXPECT_EQ(e.plan.video, auth::VideoPolicy::kAlways);
  const std::string origin = "grant/grant 5 until " + std::to_string((kNowMs + kHourMs) / 1000);
  EXPECT_EQ(OriginOf(e, "turn_relay"), origin);
  EXPECT_EQ(OriginOf(e, "tier"), origin);
  EXPECT_EQ(OriginOf(e, "group_size"), origin);
  EXPECT_EQ(OriginOf(e, "features.recording"), origin);
  EXPECT_EQ(e.next_change_ms, kNowMs + kHourMs);

  const Effective after = Resolved(kNowMs + kHourMs);
  EXPECT_EQ(after.plan.name, "free");
  EXPECT_FALSE(after.plan.turn_relay);
  EXPECT_EQ(OriginOf(after, "turn_relay"), "plan/free");
}

TEST_F(EntitlementsTest, OtherLayersApplyOnTopOfATierGrant) {
  settings_.mode = "BUSINESS";
  settings_.flags = {Set("recording", "false")};
  settings_.overrides = {Set("group_size", "3")};
  settings_.grants = {GrantOf(9, "tier", "pro", kNowMs - kHourMs, kNowMs + kHourMs),
                      GrantOf(2, "call_ids", "4", kNowMs - kHourMs, kNowMs + kHourMs)};
  const Effective e = Resolved();
  EXPECT_EQ(e.plan.name, "pro");
  EXPECT_FALSE(e.plan.Feature("approved_contacts_only"));
  EXPECT_EQ(OriginOf(e, "features.approved_contacts_only"), "mode/BUSINESS");
  EXPECT_FALSE(e.plan.Feature("recording"));
  EXPECT_EQ(OriginOf(e, "features.recording"), "flag/");
  EXPECT_EQ(e.plan.group_size, 3u);
  EXPECT_EQ(OriginOf(e, "group_size"), "override/");
  // A grant on a limit applies over the granted plan even when it is older than the tier grant.
  EXPECT_EQ(e.plan.call_ids, 4u);
  EXPECT_EQ(OriginOf(e, "call_ids").substr(0, 13), "grant/grant 2");
}

TEST_F(EntitlementsTest, ATierGrantOutlastsAnEndedTrial) {
  settings_.tier = "trial";
  settings_.trial_ends_ms = kNowMs - kHourMs;
  settings_.grants = {GrantOf(1, "tier", "business", kNowMs - kHourMs, kNowMs + kHourMs)};
  const Effective e = Resolved();
  EXPECT_TRUE(e.trial_ended);
  EXPECT_EQ(e.plan.name, "business");
  EXPECT_EQ(e.plan.group_size, 10u);
}

TEST_F(EntitlementsTest, OfTwoTierGrantsTheLaterAddedWins) {
  settings_.grants = {GrantOf(3, "tier", "business", kNowMs - kHourMs, kNowMs + kHourMs),
                      GrantOf(2, "tier", "pro", kNowMs - kHourMs, kNowMs + 2 * kHourMs)};
  EXPECT_EQ(Resolved().plan.name, "business");
  EXPECT_EQ(Resolved(kNowMs + kHourMs).plan.name, "pro");
}

TEST_F(EntitlementsTest, TurnRelayIsNoGrantKey) {
  settings_.grants = {
      GrantOf(1, "turn_relay", "true", kNowMs - kHourMs, kNowMs + kHourMs),
      GrantOf(2, "features.turn_relay", "true", kNowMs - kHourMs, kNowMs + kHourMs)};
  const Effective e = Resolved();
  EXPECT_FALSE(e.plan.turn_relay);
  EXPECT_EQ(OriginOf(e, "turn_relay"), "plan/free");
}

// --- When the result changes next. ---

TEST_F(EntitlementsTest, NextChangeIsTheEarliestFutureGrantStartOrEndOrTrialEnd) {
  settings_.tier = "trial";
  settings_.trial_ends_ms = kNowMs + 5 * kHourMs;
  settings_.grants = {
      GrantOf(1, "calls_per_day", "7", kNowMs - kHourMs, kNowMs + 4 * kHourMs),
      GrantOf(2, "call_ids", "4", kNowMs + 3 * kHourMs, kNowMs + 6 * kHourMs),
      GrantOf(3, "group_size", "5", kNowMs - 2 * kHourMs, kNowMs - kHourMs)};  // ended
  EXPECT_EQ(Resolved().next_change_ms, kNowMs + 3 * kHourMs);
  EXPECT_EQ(Resolved(kNowMs + 3 * kHourMs).next_change_ms, kNowMs + 4 * kHourMs);
  EXPECT_EQ(Resolved(kNowMs + 4 * kHourMs).next_change_ms, kNowMs + 5 * kHourMs);
  EXPECT_EQ(Resolved(kNowMs + 5 * kHourMs).next_change_ms, kNowMs + 6 * kHourMs);
  EXPECT_EQ(Resolved(kNowMs + 6 * kHourMs).next_change_ms, 0);
}

// --- JSON. ---

TEST_F(EntitlementsTest, EffectiveJsonHasTheDocumentedShape) {
  settings_.tier = "trial";
  settings_.trial_ends_ms = kNowMs + 2 * kHourMs;
  settings_.mode = "CREATOR";
  settings_.overrides = {Set("calls_per_day", "5")};
  settings_.grants = {GrantOf(6, "video", "direct_only", kNowMs, kNowMs + kHourMs)};
  const nlohmann::json j = EffectiveJson(Resolved(), settings_.trial_ends_ms);

  EXPECT_EQ(j["plan"], "trial");
  EXPECT_EQ(j["tier"], "trial");
  EXPECT_EQ(j["trial_ended"], false);
  EXPECT_EQ(j["trial_ends_at"], (kNowMs + 2 * kHourMs) / 1000);
  EXPECT_EQ(j["mode"], "CREATOR");
  EXPECT_EQ(j["next_change_at"], (kNowMs + kHourMs) / 1000);
  ASSERT_TRUE(j["values"].is_object());
  EXPECT_EQ(j["values"].size(), 3u + std::size(kLimitNames) + std::size(kFeatureNames));

  EXPECT_EQ(j["values"]["turn_relay"],
            (nlohmann::json{{"value", true}, {"source", "plan"}, {"detail", "trial"}}));
  EXPECT_EQ(j["values"]["tier"],
            (nlohmann::json{{"value", "trial"}, {"source", "plan"}, {"detail", "trial"}}));
  EXPECT_EQ(j["values"]["features.recording"],
            (nlohmann::json{{"value", true}, {"source", "mode"}, {"detail", "CREATOR"}}));
  EXPECT_EQ(j["values"]["calls_per_day"],
            (nlohmann::json{{"value", 5}, {"source", "override"}, {"detail", ""}}));
  EXPECT_EQ(
      j["values"]["video"],
      (nlohmann::json{{"value", "direct_only"},
                      {"source", "grant"},
                      {"detail", "grant 6 until " + std::to_string((kNowMs + kHourMs) / 1000)}}));
  EXPECT_EQ(j["values"]["group_size"]["value"], 6);
  EXPECT_EQ(j["values"]["features.approved_contacts_only"]["value"], false);
  EXPECT_EQ(j.size(), 7u);
}

TEST_F(EntitlementsTest, EffectiveJsonHasNullsWhenNothingIsScheduled) {
  const nlohmann::json j = EffectiveJson(Resolved(), 0);
  EXPECT_TRUE(j["trial_ends_at"].is_null());
  EXPECT_TRUE(j["next_change_at"].is_null());
  EXPECT_EQ(j["plan"], "free");
  EXPECT_EQ(j["mode"], "PERSONAL");
  EXPECT_EQ(j["values"]["turn_relay"]["value"], false);
  EXPECT_EQ(j["values"]["video"]["value"], "direct_only");
  EXPECT_EQ(j["values"]["max_call_duration_s"]["value"], 600);
}

TEST_F(EntitlementsTest, EffectiveJsonShowsAnEndedTrial) {
  settings_.tier = "trial";
  settings_.trial_ends_ms = kNowMs - kHourMs;
  const nlohmann::json j = EffectiveJson(Resolved(), settings_.trial_ends_ms);
  EXPECT_EQ(j["plan"], "free");
  EXPECT_EQ(j["tier"], "trial");
  EXPECT_EQ(j["trial_ended"], true);
  EXPECT_EQ(j["trial_ends_at"], (kNowMs - kHourMs) / 1000);
  EXPECT_EQ(j["values"]["turn_relay"]["detail"], "free");
}

// --- ValidateSetting. ---

TEST_F(EntitlementsTest, FlagsTakeAKnownFeatureAndABoolean) {
  EXPECT_EQ(Checked(SettingLayer::kFlag, "recording", "true"), "true");
  EXPECT_EQ(Checked(SettingLayer::kFlag, "recording", "TRUE"), "true");
  EXPECT_EQ(Checked(SettingLayer::kFlag, "approved_contacts_only", "False"), "false");
  for (const char* feature : kFeatureNames) {
    EXPECT_EQ(Checked(SettingLayer::kFlag, feature, "false"), "false") << feature;
  }
  for (const char* bad : {"yes", "1", "", " true", "true ", "t"}) {
    EXPECT_EQ(Checked(SettingLayer::kFlag, "recording", bad),
              "refused: recording: expected true or false")
        << bad;
  }
  EXPECT_NE(Checked(SettingLayer::kFlag, "teleport", "true").find("refused: teleport: unknown"),
            std::string::npos);
  // The "features." form belongs to grants.
  const std::string prefixed = Checked(SettingLayer::kFlag, "features.recording", "true");
  EXPECT_EQ(prefixed.rfind("refused: features.recording: ", 0), 0u) << prefixed;
  EXPECT_NE(prefixed.find("without \"features.\""), std::string::npos) << prefixed;
  // Limits are not flags.
  EXPECT_EQ(Checked(SettingLayer::kFlag, "calls_per_day", "5").rfind("refused: ", 0), 0u);
}

TEST_F(EntitlementsTest, OverridesTakeLimitsAndVideo) {
  for (const char* limit : kLimitNames) {
    EXPECT_EQ(Checked(SettingLayer::kOverride, limit, "12"), "12") << limit;
  }
  EXPECT_EQ(Checked(SettingLayer::kOverride, "video", "always"), "always");
  EXPECT_EQ(Checked(SettingLayer::kOverride, "video", "Direct_Only"), "direct_only");
  EXPECT_EQ(Checked(SettingLayer::kOverride, "video", "sometimes"),
            "refused: video: expected \"always\" or \"direct_only\"");
  EXPECT_EQ(Checked(SettingLayer::kOverride, "recording", "true").rfind("refused: recording: ", 0),
            0u);
  EXPECT_EQ(Checked(SettingLayer::kOverride, "features.recording", "true").rfind("refused: ", 0),
            0u);
  EXPECT_EQ(Checked(SettingLayer::kOverride, "tier", "pro").rfind("refused: tier: ", 0), 0u);
  const std::string unknown = Checked(SettingLayer::kOverride, "calls_per_week", "3");
  EXPECT_EQ(unknown.rfind("refused: calls_per_week: unknown key", 0), 0u) << unknown;
  EXPECT_NE(unknown.find("calls_per_day"), std::string::npos) << unknown;
}

TEST_F(EntitlementsTest, NumbersAreDecimalDigitsThatFitIn32Bits) {
  EXPECT_EQ(Checked(SettingLayer::kOverride, "calls_per_day", "0"), "0");
  EXPECT_EQ(Checked(SettingLayer::kOverride, "calls_per_day", "4294967295"), "4294967295");
  EXPECT_EQ(Checked(SettingLayer::kOverride, "calls_per_day", "007"), "7");
  for (const char* bad : {"4294967296", "99999999999999999999", "-1", "+1", " 600", "600 ", "",
                          "1.5", "0x10", "1e3", "６"}) {
    const std::string result = Checked(SettingLayer::kOverride, "calls_per_day", bad);
    EXPECT_EQ(result.rfind("refused: calls_per_day: expected a whole number 0-4294967295", 0), 0u)
        << "'" << bad << "' gave " << result;
  }
}

TEST_F(EntitlementsTest, GrantsTakeTierLimitsVideoAndPrefixedFeatures) {
  EXPECT_EQ(Checked(SettingLayer::kGrant, "tier", "pro"), "pro");
  EXPECT_EQ(Checked(SettingLayer::kGrant, "tier", "Business"), "business");
  const std::string unknown_tier = Checked(SettingLayer::kGrant, "tier", "platinum");
  EXPECT_EQ(unknown_tier.rfind("refused: tier: expected a plan name", 0), 0u) << unknown_tier;
  EXPECT_NE(unknown_tier.find("founder"), std::string::npos) << unknown_tier;
  EXPECT_EQ(Checked(SettingLayer::kGrant, "tier", "").rfind("refused: tier: ", 0), 0u);

  EXPECT_EQ(Checked(SettingLayer::kGrant, "group_size", "10"), "10");
  EXPECT_EQ(Checked(SettingLayer::kGrant, "group_size", "ten").rfind("refused: group_size: ", 0),
            0u);
  EXPECT_EQ(Checked(SettingLayer::kGrant, "video", "ALWAYS"), "always");
  EXPECT_EQ(Checked(SettingLayer::kGrant, "features.recording", "True"), "true");
  EXPECT_EQ(Checked(SettingLayer::kGrant, "features.recording", "on"),
            "refused: features.recording: expected true or false");
  EXPECT_EQ(Checked(SettingLayer::kGrant, "features.teleport", "true").rfind("refused: ", 0), 0u);
  const std::string bare = Checked(SettingLayer::kGrant, "recording", "true");
  EXPECT_NE(bare.find("\"features.recording\""), std::string::npos) << bare;
  EXPECT_EQ(Checked(SettingLayer::kGrant, "features.", "true").rfind("refused: ", 0), 0u);
}

TEST_F(EntitlementsTest, TurnRelayIsRefusedInEveryLayerWithTheReason) {
  for (SettingLayer layer : {SettingLayer::kFlag, SettingLayer::kOverride, SettingLayer::kGrant}) {
    for (const char* key : {"turn_relay", "features.turn_relay"}) {
      std::string value = "true";
      std::string error;
      EXPECT_FALSE(Valid(layer, key, &value, &error)) << key;
      EXPECT_EQ(error.rfind(std::string(key) + ": relay use follows the tier", 0), 0u) << error;
      EXPECT_NE(error.find("grant a tier instead"), std::string::npos) << error;
      EXPECT_EQ(value, "true");  // untouched
    }
  }
}

TEST_F(EntitlementsTest, ARefusedValueIsLeftAsItWas) {
  std::string value = " 600";
  EXPECT_FALSE(Valid(SettingLayer::kOverride, "max_call_duration_s", &value));
  EXPECT_EQ(value, " 600");
}

TEST_F(EntitlementsTest, FeaturesComeFromThePlansFile) {
  auto plans = auth::Plans::Parse(R"({"version": 1, "plans": {"gold": {"turn_relay": true}}})",
                                  "plans.json", nullptr);
  ASSERT_TRUE(plans);
  plans_ = *plans;
  EXPECT_EQ(Checked(SettingLayer::kGrant, "tier", "gold"), "gold");
  EXPECT_EQ(Checked(SettingLayer::kFlag, "exports", "true"), "true");

  settings_.grants = {GrantOf(1, "tier", "gold", kNowMs, kNowMs + kHourMs)};
  const Effective e = Resolved();
  EXPECT_EQ(e.plan.name, "gold");
  EXPECT_TRUE(e.plan.turn_relay);
}

}  // namespace
}  // namespace cv::admin
