#include "admin/ctl/arguments.h"

#include <gtest/gtest.h>

namespace cv::ctl {
namespace {

using Json = nlohmann::ordered_json;

std::optional<int64_t> Time(const std::string& text) {
  std::string error;
  auto t = ParseTime(text, &error);
  if (!t) {
    EXPECT_NE(error.find("bad TIME '" + text + "'"), std::string::npos) << error;
  }
  return t;
}

std::optional<int64_t> Duration(const std::string& text) {
  std::string error;
  auto d = ParseDuration(text, &error);
  if (!d) {
    EXPECT_NE(error.find("bad DURATION '" + text + "'"), std::string::npos) << error;
  }
  return d;
}

TEST(CvctlArgumentsTest, TimeTakesUnixSecondsDatesAndUtcDateTimes) {
  EXPECT_EQ(Time("0"), 0);
  EXPECT_EQ(Time("1763712000"), 1763712000);
  EXPECT_EQ(Time("2025-11-21"), 1763683200);
  EXPECT_EQ(Time("1970-01-01"), 0);
  EXPECT_EQ(Time("2025-11-21T08:00:00Z"), 1763712000);
  EXPECT_EQ(Time("2025-11-21T23:59:59Z"), 1763683200 + 86399);
  EXPECT_EQ(Time("2028-02-29"), 1835395200);  // a leap day
  EXPECT_EQ(Time("9999-12-31T23:59:59Z"), 253402300799);
}

TEST(CvctlArgumentsTest, TimeRefusesWhatIsNotADateOrATime) {
  for (const char* bad : {"",
                          "now",
                          "-5",
                          "1.5",
                          "2025-11-2",
                          "2025/11/21",
                          "2025-13-01",
                          "2025-00-10",
                          "2025-02-29",
                          "2025-04-31",
                          "2025-11-21T08:00:00",
                          "2025-11-21T08:00Z",
                          "2025-11-21 08:00:00Z",
                          "2025-11-21t08:00:00z",
                          "2025-11-21T24:00:00Z",
                          "2025-11-21T08:60:00Z",
                          "2025-11-21T08:00:60Z",
                          "1969-12-31",
                          "253402300800",
                          "99999999999999999999",
                          "2025-11-21T08:00:00+01:00",
                          " 2025-11-21"}) {
    EXPECT_FALSE(Time(bad)) << bad;
  }
}

TEST(CvctlArgumentsTest, FormatTimeIsTheTimeForm) {
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTime(1763712000), "2025-11-21T08:00:00Z");
  EXPECT_EQ(FormatTime(1835395200 + 3661), "2028-02-29T01:01:01Z");
  EXPECT_EQ(Time(FormatTime(1799999999)), 1799999999);
}

TEST(CvctlArgumentsTest, DurationTakesSecondsOrAUnit) {
  EXPECT_EQ(Duration("90"), 90);
  EXPECT_EQ(Duration("90s"), 90);
  EXPECT_EQ(Duration("15m"), 900);
  EXPECT_EQ(Duration("12h"), 43200);
  EXPECT_EQ(Duration("7d"), 604800);
  EXPECT_EQ(Duration("30d"), 2592000);
  EXPECT_EQ(Duration("3660d"), 3660 * 86400);
}

TEST(CvctlArgumentsTest, DurationRefusesZeroNegativeFractionsAndOtherUnits) {
  for (const char* bad : {"", "0", "0s", "-5", "-5m", "1.5h", "h", "1w", "15M", "1h30m", " 5",
                          "5 s", "3661d", "99999999999", "1e3"}) {
    EXPECT_FALSE(Duration(bad)) << bad;
  }
}

TEST(CvctlArgumentsTest, ValuesAreNumbersBooleansOrStrings) {
  EXPECT_EQ(JsonScalar("5"), Json(5));
  EXPECT_TRUE(JsonScalar("5").is_number_integer());
  EXPECT_EQ(JsonScalar("0"), Json(0));
  EXPECT_EQ(JsonScalar("4294967295"), Json(4294967295));
  EXPECT_EQ(JsonScalar("-3"), Json(-3));
  EXPECT_EQ(JsonScalar("true"), Json(true));
  EXPECT_EQ(JsonScalar("false"), Json(false));
  EXPECT_EQ(JsonScalar("pro"), Json("pro"));
  EXPECT_EQ(JsonScalar("always"), Json("always"));
  EXPECT_EQ(JsonScalar("direct_only"), Json("direct_only"));
  EXPECT_EQ(JsonScalar("5x"), Json("5x"));
  EXPECT_EQ(JsonScalar("True"), Json("True"));
  EXPECT_EQ(JsonScalar("-"), Json("-"));
  EXPECT_EQ(JsonScalar(""), Json(""));
  EXPECT_EQ(JsonScalar("99999999999999999999"), Json("99999999999999999999"));
}

TEST(CvctlArgumentsTest, IdsArePercentEncodedWhole) {
  EXPECT_EQ(PercentEncode("alice"), "alice");
  EXPECT_EQ(PercentEncode("a-b.c_d~e"), "a-b.c_d~e");
  EXPECT_EQ(PercentEncode("a@b/c d+e%?&#"), "a%40b%2Fc%20d%2Be%25%3F%26%23");
  EXPECT_EQ(PercentEncode("é"), "%C3%A9");
}

TEST(CvctlArgumentsTest, TargetSkipsEmptyValuesAndEncodesTheRest) {
  EXPECT_EQ(Target("/admin/users", {}), "/admin/users");
  EXPECT_EQ(Target("/admin/users", {{"tier", ""}, {"after", ""}}), "/admin/users");
  EXPECT_EQ(Target("/admin/users", {{"tier", "pro"}, {"after", ""}, {"limit", "5"}}),
            "/admin/users?tier=pro&limit=5");
  EXPECT_EQ(Target("/admin/audit", {{"target", "bob+1@x"}}), "/admin/audit?target=bob%2B1%40x");
}

TEST(CvctlArgumentsTest, ChecksAcceptGoodValuesAndExplainBadOnes) {
  std::string good = "7d", bad = "7w";
  EXPECT_EQ(DurationCheck()(good), "");
  EXPECT_NE(DurationCheck()(bad).find("bad DURATION '7w'"), std::string::npos);
  std::string date = "2026-01-31", not_a_date = "2026-01-32";
  EXPECT_EQ(TimeCheck()(date), "");
  EXPECT_NE(TimeCheck()(not_a_date).find("no such date"), std::string::npos);
}

}  // namespace
}  // namespace cv::ctl
