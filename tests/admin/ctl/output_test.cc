#include "admin/ctl/output.h"

#include <gtest/gtest.h>

#include <sstream>

namespace cv::ctl {
namespace {

using Json = nlohmann::ordered_json;

std::string Table(const std::string& answer) {
  std::ostringstream out;
  PrintTable(Json::parse(answer), out);
  return out.str();
}

TEST(CvctlOutputTest, AListAnswerIsATableFirstThenItsOtherMembers) {
  const std::string long_key = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
  EXPECT_EQ(Table(R"({"users": [
      {"id": "alice", "tier": "trial", "trial_ends_at": 1764316800, "mode": "PERSONAL",
       "public_key": ")" +
                  long_key + R"("},
      {"id": "a-very-long-user-id-that-is-never-cut@example.org", "tier": "pro",
       "trial_ends_at": null, "mode": "CREATOR", "public_key": null}],
    "next_after": "a-very-long-user-id-that-is-never-cut@example.org"})"),
            "ID                                                 TIER   TRIAL_ENDS_AT         "
            "MODE      PUBLIC_KEY\n"
            "alice                                              trial  2025-11-28T08:00:00Z  "
            "PERSONAL  " +
                long_key +
                "\n"
                "a-very-long-user-id-that-is-never-cut@example.org  pro    -                     "
                "CREATOR   -\n"
                "\n"
                "next_after  a-very-long-user-id-that-is-never-cut@example.org\n");
}

TEST(CvctlOutputTest, AnEmptyListSaysSo) {
  EXPECT_EQ(Table(R"({"users": [], "next_after": null})"), "no users\n\nnext_after  -\n");
  EXPECT_EQ(Table(R"({"flags": []})"), "no flags\n");
}

TEST(CvctlOutputTest, ALeadingListBesideOtherListsIsTitled) {
  EXPECT_EQ(Table(R"({"token_keys": [{"kid": "k2", "signing": true}],
                      "turn_secrets": [{"key_id": "s1", "minting": true}]})"),
            "token_keys:\n"
            "KID  SIGNING\n"
            "k2   true\n"
            "\n"
            "turn_secrets:\n"
            "KEY_ID  MINTING\n"
            "s1      true\n");
  EXPECT_EQ(Table(R"({"token_keys": [], "turn_secrets": [{"key_id": "s1"}]})"),
            "no token_keys\n"
            "\n"
            "turn_secrets:\n"
            "KEY_ID\n"
            "s1\n");
}

TEST(CvctlOutputTest, ColumnsAreTheUnionOfTheItemsKeys) {
  EXPECT_EQ(Table(R"({"relays": [{"relay": "relay-a", "ok": true, "status": 201},
                                 {"relay": "relay-b", "ok": false, "error": "refused"}]})"),
            "RELAY    OK     STATUS  ERROR\n"
            "relay-a  true   201     -\n"
            "relay-b  false  -       refused\n");
}

TEST(CvctlOutputTest, AnObjectIsKeyValueRowsWithNestedSections) {
  EXPECT_EQ(Table(R"({"id": "alice", "tier": "pro", "created_at": 1763712000,
      "entitlements": {"plan": "pro", "trial_ended": false,
                       "values": {"calls_per_day": {"value": 5, "source": "override", "detail": ""},
                                  "features.recording": {"value": true, "source": "mode",
                                                         "detail": "CREATOR"}}},
      "lines": ["home", "work"], "revocation": null})"),
            "id          alice\n"
            "tier        pro\n"
            "created_at  2025-11-21T08:00:00Z\n"
            "lines       home, work\n"
            "revocation  -\n"
            "\n"
            "entitlements:\n"
            "plan         pro\n"
            "trial_ended  false\n"
            "\n"
            "entitlements.values:\n"
            "KEY                 VALUE  SOURCE    DETAIL\n"
            "calls_per_day       5      override\n"
            "features.recording  true   mode      CREATOR\n");
}

TEST(CvctlOutputTest, ARevocationAnswerShowsTheRevocationAndEachRelay) {
  EXPECT_EQ(Table(R"({"revocation": {"kind": "user", "id": "mallory", "until": 1763798400},
                      "ended_sessions": 1,
                      "relays": [{"relay": "relay-a", "ok": true}]})"),
            "ended_sessions  1\n"
            "\n"
            "revocation:\n"
            "kind   user\n"
            "id     mallory\n"
            "until  2025-11-22T08:00:00Z\n"
            "\n"
            "relays:\n"
            "RELAY    OK\n"
            "relay-a  true\n");
}

TEST(CvctlOutputTest, NestedValuesInCellsAreCompactJson) {
  EXPECT_EQ(Table(R"({"entries": [{"id": 12, "at": 1763712000, "detail": {"tier": "free"},
                                   "empty": {}, "list": []}]})"),
            "ID  AT                    DETAIL           EMPTY  LIST\n"
            "12  2025-11-21T08:00:00Z  {\"tier\":\"free\"}  -      -\n");
}

TEST(CvctlOutputTest, NumbersAreShownAsSent) {
  EXPECT_EQ(Table(R"({"calls": 10, "relayed_share": 0.4286, "relay_minutes": 12.5,
                      "direct_share": null, "age_s": 93})"),
            "calls          10\n"
            "relayed_share  0.4286\n"
            "relay_minutes  12.5\n"
            "direct_share   -\n"
            "age_s          93\n");
}

TEST(CvctlOutputTest, ControlCharactersFromTheServerAreReplaced) {
  EXPECT_EQ(Table(R"({"reason": "line\nbreak\u001b[31mred"})"), "reason  line break?[31mred\n");
}

TEST(CvctlOutputTest, WidthCountsCharactersNotBytes) {
  EXPECT_EQ(Table(R"({"rows": [{"user": "zoë", "calls": 1}, {"user": "bob", "calls": 2}]})"),
            "USER  CALLS\n"
            "zoë   1\n"
            "bob   2\n");
}

TEST(CvctlOutputTest, JsonIsPrettyInTheServersOrder) {
  std::ostringstream out;
  PrintJson(Json::parse(R"({"z": 1, "a": {"y": [1, 2], "b": null}})"), out);
  EXPECT_EQ(out.str(),
            "{\n"
            "  \"z\": 1,\n"
            "  \"a\": {\n"
            "    \"y\": [\n"
            "      1,\n"
            "      2\n"
            "    ],\n"
            "    \"b\": null\n"
            "  }\n"
            "}\n");
}

}  // namespace
}  // namespace cv::ctl
