#include "cv/auth/plans.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace cv::auth {
namespace {

class PlansTest : public ::testing::Test {
 protected:
  // Parses `json`, which must fail with exactly `want`.
  static void ExpectError(const std::string& json, const std::string& want) {
    std::string error;
    EXPECT_FALSE(Plans::Parse(json, "plans.json", &error)) << json;
    EXPECT_EQ(error, want) << json;
  }
  static Plans MustParse(const std::string& json) {
    std::string error;
    auto plans = Plans::Parse(json, "plans.json", &error);
    EXPECT_TRUE(plans) << error;
    return plans ? *plans : Plans::Defaults();
  }
  static void ExpectFeatures(const PlanPolicy& p, bool approved_contacts_only, bool external_links,
                             bool recording, bool transcription, bool large_uploads, bool exports) {
    EXPECT_EQ(p.Feature("approved_contacts_only"), approved_contacts_only) << p.name;
    EXPECT_EQ(p.Feature("external_links"), external_links) << p.name;
    EXPECT_EQ(p.Feature("recording"), recording) << p.name;
    EXPECT_EQ(p.Feature("transcription"), transcription) << p.name;
    EXPECT_EQ(p.Feature("large_uploads"), large_uploads) << p.name;
    EXPECT_EQ(p.Feature("exports"), exports) << p.name;
    EXPECT_EQ(p.features.size(), 6u) << p.name;
  }
  static void ExpectRelay(const PlanPolicy& p, uint32_t monthly, uint32_t per_user,
                          uint32_t per_peer, uint32_t audio, uint32_t video, uint32_t large_group) {
    EXPECT_EQ(p.relay.monthly_relay_minutes, monthly) << p.name;
    EXPECT_EQ(p.relay.max_allocations_per_user, per_user) << p.name;
    EXPECT_EQ(p.relay.allocations_per_peer, per_peer) << p.name;
    EXPECT_EQ(p.relay.bandwidth.audio_kbps, audio) << p.name;
    EXPECT_EQ(p.relay.bandwidth.video_kbps, video) << p.name;
    EXPECT_EQ(p.relay.bandwidth.large_group_kbps, large_group) << p.name;
    EXPECT_EQ(p.relay.bandwidth.large_group_above, 4u) << p.name;
  }
  static void ExpectNoCallLimits(const PlanPolicy& p) {
    EXPECT_EQ(p.calls_per_day, 0u) << p.name;
    EXPECT_EQ(p.call_seconds_per_month, 0u) << p.name;
    EXPECT_EQ(p.call_attempts_per_hour, 0u) << p.name;
    EXPECT_EQ(p.failed_starts_per_day, 0u) << p.name;
  }
  static void ExpectGuardOff(const PlanPolicy& p) {
    EXPECT_FALSE(p.relay.abuse_guard.enabled) << p.name;
  }

  const Plans defaults_ = Plans::Defaults();
};

TEST_F(PlansTest, DefaultNames) {
  EXPECT_EQ(defaults_.Names(),
            (std::vector<std::string>{"business", "founder", "free", "pro", "trial"}));
  for (const std::string& name : defaults_.Names()) {
    EXPECT_TRUE(defaults_.Has(name));
    EXPECT_EQ(defaults_.Find(name).name, name);
  }
}

TEST_F(PlansTest, FreeDefaults) {
  const PlanPolicy& p = defaults_.Find("free");
  EXPECT_FALSE(p.turn_relay);
  EXPECT_EQ(p.video, VideoPolicy::kDirectOnly);
  EXPECT_EQ(p.group_size, 1u);
  EXPECT_EQ(p.call_ids, 1u);
  EXPECT_EQ(p.max_call_duration_s, 600u);
  EXPECT_EQ(p.calls_per_day, 2u);
  EXPECT_EQ(p.call_seconds_per_month, 1800u);
  EXPECT_EQ(p.call_attempts_per_hour, 5u);
  EXPECT_EQ(p.failed_starts_per_day, 10u);
  ExpectFeatures(p, true, false, false, false, false, false);
  ExpectRelay(p, 0, 0, 0, 0, 0, 0);
  ExpectGuardOff(p);
}

TEST_F(PlansTest, TrialDefaults) {
  const PlanPolicy& p = defaults_.Find("trial");
  EXPECT_TRUE(p.turn_relay);
  EXPECT_EQ(p.video, VideoPolicy::kAlways);
  EXPECT_EQ(p.group_size, 6u);
  EXPECT_EQ(p.call_ids, 2u);
  EXPECT_EQ(p.max_call_duration_s, 3600u);
  ExpectNoCallLimits(p);
  ExpectFeatures(p, false, true, false, false, false, false);
  ExpectRelay(p, 600, 12, 3, 128, 2500, 1200);
  const AbuseGuardPolicy& g = p.relay.abuse_guard;
  EXPECT_TRUE(g.enabled);
  EXPECT_EQ(g.relayed_calls, 2u);
  EXPECT_EQ(g.window_s, 86400u);
  EXPECT_EQ(g.capped_duration_s, 300u);
  EXPECT_EQ(g.penalty_s, 604800u);
}

TEST_F(PlansTest, ProDefaults) {
  const PlanPolicy& p = defaults_.Find("pro");
  EXPECT_TRUE(p.turn_relay);
  EXPECT_EQ(p.video, VideoPolicy::kAlways);
  EXPECT_EQ(p.group_size, 6u);
  EXPECT_EQ(p.call_ids, 2u);
  EXPECT_EQ(p.max_call_duration_s, 0u);
  ExpectNoCallLimits(p);
  ExpectFeatures(p, false, true, true, true, true, true);
  ExpectRelay(p, 6000, 12, 3, 256, 4000, 1500);
  ExpectGuardOff(p);
}

TEST_F(PlansTest, BusinessDefaults) {
  const PlanPolicy& p = defaults_.Find("business");
  EXPECT_TRUE(p.turn_relay);
  EXPECT_EQ(p.video, VideoPolicy::kAlways);
  EXPECT_EQ(p.group_size, 10u);
  EXPECT_EQ(p.call_ids, 5u);
  EXPECT_EQ(p.max_call_duration_s, 0u);
  ExpectNoCallLimits(p);
  ExpectFeatures(p, false, true, true, true, true, true);
  ExpectRelay(p, 0, 30, 3, 256, 6000, 2000);
  ExpectGuardOff(p);
}

TEST_F(PlansTest, FounderDefaults) {
  const PlanPolicy& p = defaults_.Find("founder");
  EXPECT_TRUE(p.turn_relay);
  EXPECT_EQ(p.video, VideoPolicy::kAlways);
  EXPECT_EQ(p.group_size, 0u);
  EXPECT_EQ(p.call_ids, 0u);
  EXPECT_EQ(p.max_call_duration_s, 0u);
  ExpectNoCallLimits(p);
  ExpectFeatures(p, false, true, true, true, true, true);
  ExpectRelay(p, 0, 30, 3, 256, 8000, 2500);
  ExpectGuardOff(p);
}

TEST_F(PlansTest, UnknownPlanIsFree) {
  EXPECT_FALSE(defaults_.Has("platinum"));
  EXPECT_EQ(defaults_.Find("platinum").name, "free");
  EXPECT_EQ(defaults_.Find("").name, "free");
  EXPECT_EQ(defaults_.Find("Pro").name, "free");
  EXPECT_EQ(&defaults_.Find("platinum"), &defaults_.Find("free"));
  EXPECT_FALSE(defaults_.Find("pro").Feature("no_such_feature"));
  // Even a table that was never filled in answers Free.
  const Plans empty;
  EXPECT_EQ(empty.Find("pro").name, "free");
  EXPECT_FALSE(empty.Find("pro").turn_relay);
}

TEST_F(PlansTest, VersionOnlyFileGivesTheDefaults) {
  EXPECT_EQ(MustParse(R"({"version": 1})"), defaults_);
  EXPECT_EQ(MustParse(R"({"version": 1, "plans": {}})"), defaults_);
}

TEST_F(PlansTest, FileOverlayKeepsUnspecifiedKeys) {
  const Plans plans = MustParse(R"({
    "version": 1,
    "plans": {
      "pro": {"group_size": 8, "features": {"exports": false},
              "relay": {"bandwidth_kbps": {"video": 3000}, "abuse_guard": {"enabled": true}}},
      "free": {"calls_per_day": 3}
    }
  })");
  PlanPolicy want = defaults_.Find("pro");
  want.group_size = 8;
  want.features["exports"] = false;
  want.relay.bandwidth.video_kbps = 3000;
  want.relay.abuse_guard.enabled = true;
  EXPECT_EQ(plans.Find("pro"), want);
  EXPECT_EQ(plans.Find("pro").relay.bandwidth.audio_kbps, 256u);
  EXPECT_EQ(plans.Find("free").calls_per_day, 3u);
  EXPECT_EQ(plans.Find("free").call_attempts_per_hour, 5u);
  EXPECT_EQ(plans.Find("trial"), defaults_.Find("trial"));
}

TEST_F(PlansTest, NewPlanStartsFromFree) {
  const Plans plans = MustParse(R"({"version": 1, "plans": {"edu-2": {"turn_relay": true,
      "video": "always", "relay": {"max_allocations_per_user": 4}}}})");
  ASSERT_TRUE(plans.Has("edu-2"));
  PlanPolicy want = defaults_.Find("free");
  want.name = "edu-2";
  want.turn_relay = true;
  want.video = VideoPolicy::kAlways;
  want.relay.max_allocations_per_user = 4;
  EXPECT_EQ(plans.Find("edu-2"), want);
  EXPECT_EQ(plans.Names().size(), 6u);
}

TEST_F(PlansTest, ErrorsNameThePath) {
  ExpectError(R"({"version": 1, "plans": {"pro": {"relay": {"bandwidth_kbps": {"vidoe": 1}}}}})",
              "plans.json: plans.pro.relay.bandwidth_kbps.vidoe: unknown key");
  ExpectError(R"({"version": 1, "plan": {}})", "plans.json: plan: unknown key");
  ExpectError(R"({"version": 1, "plans": {"pro": {"colour": "red"}}})",
              "plans.json: plans.pro.colour: unknown key");
  ExpectError(R"({"version": 1, "plans": {"pro": {"features": {"recordng": true}}}})",
              "plans.json: plans.pro.features.recordng: unknown key");
  ExpectError(R"({"version": 1, "plans": {"pro": {"relay": {"abuse_guard": {"on": true}}}}})",
              "plans.json: plans.pro.relay.abuse_guard.on: unknown key");
  ExpectError(R"({"version": 1, "plans": {"pro": {"video": "sometimes"}}})",
              "plans.json: plans.pro.video: expected \"always\" or \"direct_only\"");
  ExpectError(R"({"version": 1, "plans": {"pro": {"video": true}}})",
              "plans.json: plans.pro.video: expected \"always\" or \"direct_only\"");
  ExpectError(R"({"version": 1, "plans": {"Pro": {}}})",
              "plans.json: plans.Pro: plan name is not [a-z0-9_-]{1,16}");
  ExpectError(R"({"version": 1, "plans": {"a.b": {}}})",
              "plans.json: plans.\"a.b\": plan name is not [a-z0-9_-]{1,16}");
  ExpectError(R"({"version": 1, "plans": {"x\n": {}}})",
              "plans.json: plans.\"x\\n\": plan name is not [a-z0-9_-]{1,16}");
  ExpectError(R"({"version": 1, "plans": {"pro": 3}})",
              "plans.json: plans.pro: expected an object");
  ExpectError(R"({"version": 1, "plans": []})", "plans.json: plans: expected an object");
  ExpectError(R"([1])", "plans.json: expected an object");
}

TEST_F(PlansTest, WrongTypesAndRangesAreErrors) {
  const std::string head = R"({"version": 1, "plans": {"pro": )";
  ExpectError(head + R"({"group_size": -1}}})", "plans.json: plans.pro.group_size: negative");
  ExpectError(head + R"({"group_size": 4294967296}}})",
              "plans.json: plans.pro.group_size: more than 4294967295");
  ExpectError(head + R"({"group_size": 2.5}}})",
              "plans.json: plans.pro.group_size: expected an integer");
  ExpectError(head + R"({"group_size": 2.0}}})",
              "plans.json: plans.pro.group_size: expected an integer");
  ExpectError(head + R"({"group_size": "6"}}})",
              "plans.json: plans.pro.group_size: expected an integer");
  ExpectError(head + R"({"group_size": null}}})",
              "plans.json: plans.pro.group_size: expected an integer");
  ExpectError(head + R"({"turn_relay": 1}}})",
              "plans.json: plans.pro.turn_relay: expected true or false");
  ExpectError(head + R"({"features": {"recording": "yes"}}}})",
              "plans.json: plans.pro.features.recording: expected true or false");
  ExpectError(head + R"({"features": []}}})", "plans.json: plans.pro.features: expected an object");
  ExpectError(head + R"({"relay": {"allocations_per_peer": -3}}}})",
              "plans.json: plans.pro.relay.allocations_per_peer: negative");
  ExpectError(head + R"({"relay": {"abuse_guard": {"penalty_s": 1e3}}}}})",
              "plans.json: plans.pro.relay.abuse_guard.penalty_s: expected an integer");
  EXPECT_EQ(MustParse(head + R"({"group_size": 4294967295}}})").Find("pro").group_size,
            4294967295u);
}

TEST_F(PlansTest, VersionMustBeOne) {
  ExpectError(R"({})", "plans.json: version: missing (expected 1)");
  ExpectError(R"({"plans": {}})", "plans.json: version: missing (expected 1)");
  ExpectError(R"({"version": 2})", "plans.json: version: expected 1");
  ExpectError(R"({"version": "1"})", "plans.json: version: expected 1");
  ExpectError(R"({"version": 1.0})", "plans.json: version: expected 1");
}

TEST_F(PlansTest, SyntaxErrorsAndRepeatedKeysAreErrors) {
  std::string error;
  EXPECT_FALSE(Plans::Parse("{\"version\": 1,\n  \"plans\": {,}}", "plans.json", &error));
  EXPECT_EQ(error.rfind("plans.json: parse error at line 2, column 13", 0), 0u) << error;
  EXPECT_FALSE(Plans::Parse("", "plans.json", &error));
  EXPECT_EQ(error.rfind("plans.json: parse error", 0), 0u) << error;
  EXPECT_FALSE(Plans::Parse(R"({"version": 1} trailing)", "plans.json", &error));
  EXPECT_EQ(error.rfind("plans.json: parse error", 0), 0u) << error;
  // JSON has no comments.
  EXPECT_FALSE(Plans::Parse("{\"version\": 1 // one\n}", "plans.json", &error));
  EXPECT_FALSE(Plans::Parse("{\"version\": 1, \"plans\": {\"pro\": {\"name\": \"\xff\"}}}",
                            "plans.json", &error));
  EXPECT_EQ(error.rfind("plans.json: parse error", 0), 0u) << error;

  ExpectError(R"({"version": 1, "version": 1})", "plans.json: version: repeated key");
  ExpectError(R"({"version": 1, "plans": {"pro": {"group_size": 2, "group_size": 3}}})",
              "plans.json: plans.pro.group_size: repeated key");
  ExpectError(R"({"version": 1, "plans": {"pro": {}, "pro": {}}})",
              "plans.json: plans.pro: repeated key");
  // The same key in sibling objects is no repeat.
  MustParse(R"({"version": 1, "plans": {"pro": {"group_size": 2}, "trial": {"group_size": 3}}})");
}

TEST_F(PlansTest, ToJsonRoundTrips) {
  const std::string text = defaults_.ToJson();
  EXPECT_EQ(MustParse(text), defaults_);

  const Plans custom = MustParse(R"({"version": 1, "plans": {
      "pro": {"video": "direct_only", "relay": {"large_group_above": 7}},
      "edu": {"turn_relay": true, "group_size": 0, "features": {"exports": true}}}})");
  EXPECT_NE(custom, defaults_);
  const std::string custom_text = custom.ToJson();
  EXPECT_EQ(MustParse(custom_text), custom);
  EXPECT_EQ(custom_text, MustParse(custom_text).ToJson());
  // Built-in plans first, in the product's order.
  EXPECT_LT(text.find("\"free\""), text.find("\"trial\""));
  EXPECT_LT(text.find("\"trial\""), text.find("\"pro\""));
  EXPECT_LT(text.find("\"pro\""), text.find("\"business\""));
  EXPECT_LT(text.find("\"business\""), text.find("\"founder\""));
}

TEST_F(PlansTest, ShippedPlansFileEqualsTheDefaults) {
  const std::string path = std::string(CV_SOURCE_DIR) + "/config/plans.json";
  std::string error;
  auto shipped = Plans::Load(path, &error);
  ASSERT_TRUE(shipped) << error;
  EXPECT_EQ(*shipped, defaults_);
  // Not merely equal once overlaid on the defaults: the file spells out the whole table, as
  // ToJson() prints it.
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), defaults_.ToJson())
      << "config/plans.json must be Plans::Defaults().ToJson() written out";
}

TEST_F(PlansTest, LoadErrorsNameTheFile) {
  std::string error;
  EXPECT_FALSE(Plans::Load("/nonexistent/plans.json", &error));
  EXPECT_EQ(error.rfind("/nonexistent/plans.json: ", 0), 0u) << error;
}

}  // namespace
}  // namespace cv::auth
