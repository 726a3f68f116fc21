#include "cv/auth/claims.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace cv::auth {
namespace {

class ClaimsTest : public ::testing::Test {
 protected:
  static Claims Full() {
    Claims c;
    c.key_id = "2026a";
    c.user = "alice";
    c.session = "9f2c41d0";
    c.line = "home";
    c.plan = "pro";
    c.video = true;
    c.group_size = 2;
    c.bandwidth_kbps = 1500;
    c.max_duration_s = 3600;
    return c;
  }
  static Claims Minimal() {
    Claims c;
    c.user = "bob";
    c.session = "s1";
    c.plan = "free";
    return c;
  }
  // ParseClaims must refuse `rest`, with a reason that does not quote `bad` (the offending value).
  static void ExpectRefused(const std::string& rest, const std::string& bad) {
    std::string why;
    EXPECT_FALSE(ParseClaims(rest, &why)) << rest;
    EXPECT_FALSE(why.empty()) << rest;
    if (!bad.empty()) {
      EXPECT_EQ(why.find(bad), std::string::npos) << rest << " → " << why;
    }
  }
};

TEST_F(ClaimsTest, HeaderExampleParses) {
  std::string why = "stale";
  auto c = ParseClaims("cv1;k=2026a;u=alice;s=9f2c41d0;l=home;p=pro;v=1;g=2", &why);
  ASSERT_TRUE(c) << why;
  EXPECT_EQ(why, "");
  EXPECT_EQ(c->key_id, "2026a");
  EXPECT_EQ(c->user, "alice");
  EXPECT_EQ(c->session, "9f2c41d0");
  EXPECT_EQ(c->line, "home");
  EXPECT_EQ(c->plan, "pro");
  EXPECT_TRUE(c->video);
  EXPECT_EQ(c->group_size, 2u);
  EXPECT_EQ(c->bandwidth_kbps, 0u);
  EXPECT_EQ(c->max_duration_s, 0u);
}

TEST_F(ClaimsTest, DefaultsForOptionalKeys) {
  auto c = ParseClaims("cv1;u=bob;s=s1;p=free");
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, Minimal());
  EXPECT_EQ(c->key_id, "");
  EXPECT_EQ(c->line, "");
  EXPECT_FALSE(c->video);
  EXPECT_EQ(c->group_size, 2u);
}

TEST_F(ClaimsTest, FormatIsCanonicalAndRoundTrips) {
  EXPECT_EQ(FormatClaims(Full()),
            "cv1;k=2026a;u=alice;s=9f2c41d0;l=home;p=pro;v=1;g=2;b=1500;d=3600");
  EXPECT_EQ(FormatClaims(Minimal()), "cv1;u=bob;s=s1;p=free;v=0;g=2");
  for (const Claims& c : {Full(), Minimal()}) {
    std::string why;
    const std::string text = FormatClaims(c, &why);
    ASSERT_FALSE(text.empty()) << why;
    auto back = ParseClaims(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, c);
    EXPECT_EQ(FormatClaims(*back), text);
  }
}

TEST_F(ClaimsTest, AnyOrderParsesToTheSameClaims) {
  auto shuffled = ParseClaims("cv1;d=3600;b=1500;g=2;v=1;p=pro;l=home;s=9f2c41d0;u=alice;k=2026a");
  ASSERT_TRUE(shuffled);
  EXPECT_EQ(*shuffled, Full());
  EXPECT_EQ(FormatClaims(*shuffled),
            "cv1;k=2026a;u=alice;s=9f2c41d0;l=home;p=pro;v=1;g=2;b=1500;d=3600");
}

TEST_F(ClaimsTest, RangeLimitsAreInclusive) {
  auto lo = ParseClaims("cv1;u=a;s=b;p=c;g=1;b=1;d=1");
  ASSERT_TRUE(lo);
  EXPECT_EQ(lo->group_size, 1u);
  EXPECT_EQ(lo->bandwidth_kbps, 1u);
  EXPECT_EQ(lo->max_duration_s, 1u);
  auto hi = ParseClaims("cv1;u=a;s=b;p=c;g=64;b=1000000;d=604800");
  ASSERT_TRUE(hi);
  EXPECT_EQ(hi->group_size, 64u);
  EXPECT_EQ(hi->bandwidth_kbps, 1'000'000u);
  EXPECT_EQ(hi->max_duration_s, 604'800u);
  EXPECT_TRUE(ParseClaims("cv1;u=a;s=b;p=c;v=0"));
}

TEST_F(ClaimsTest, RefusesUnknownAndRepeatedKeys) {
  ExpectRefused("cv1;u=a;s=b;p=c;x=1", "");
  ExpectRefused("cv1;u=a;s=b;p=c;uu=1", "");
  ExpectRefused("cv1;u=a;s=b;p=c;U=1", "");
  ExpectRefused("cv1;u=a;s=b;p=c;=1", "");
  ExpectRefused("cv1;u=a;s=b;p=c;u=a", "");
  ExpectRefused("cv1;u=a;s=b;p=c;v=0;v=0", "");
  ExpectRefused("cv1;u=a;u=z;s=b;p=c", "");
  std::string why;
  EXPECT_FALSE(ParseClaims("cv1;u=a;s=b;p=c;x=1", &why));
  EXPECT_EQ(why, "x: unknown key");
  EXPECT_FALSE(ParseClaims("cv1;u=a;s=b;p=c;p=d", &why));
  EXPECT_EQ(why, "p: repeated key");
  // An unknown key that could carry something into a log is not named.
  EXPECT_FALSE(ParseClaims("cv1;u=a;s=b;p=c;x\r\ny=1", &why));
  EXPECT_EQ(why, "unknown key");
}

TEST_F(ClaimsTest, RefusesOtherVersions) {
  for (std::string rest :
       {"cv2;u=a;s=b;p=c", "cv;u=a;s=b;p=c", "CV1;u=a;s=b;p=c", "cv10;u=a;s=b;p=c",
        "cv1x;u=a;s=b;p=c", ";cv1;u=a;s=b;p=c", "alice", "", " cv1;u=a;s=b;p=c"}) {
    ExpectRefused(rest, "");
  }
  std::string why;
  EXPECT_FALSE(ParseClaims("cv2;u=a;s=b;p=c", &why));
  EXPECT_EQ(why, "claims version is not cv1");
}

TEST_F(ClaimsTest, RefusesMissingRequiredKeys) {
  std::string why;
  EXPECT_FALSE(ParseClaims("cv1", &why));
  EXPECT_EQ(why, "u: missing");
  EXPECT_FALSE(ParseClaims("cv1;u=a;p=c", &why));
  EXPECT_EQ(why, "s: missing");
  EXPECT_FALSE(ParseClaims("cv1;u=a;s=b", &why));
  EXPECT_EQ(why, "p: missing");
  EXPECT_FALSE(ParseClaims("cv1;s=b;p=c;k=x", &why));
  EXPECT_EQ(why, "u: missing");
}

TEST_F(ClaimsTest, RefusesEmptyItemsAndValues) {
  for (std::string rest : {"cv1;", "cv1;;u=a;s=b;p=c", "cv1;u=a;s=b;p=c;", "cv1;u=a;;s=b;p=c",
                           "cv1;u=;s=b;p=c", "cv1;u=a;s=b;p=c;k=", "cv1;u=a;s=b;p=c;l=",
                           "cv1;u=a;s=b;p=", "cv1;u=a;s=b;p=c;g=", "cv1;u=a;s=b;p=c;v", "cv1;u"}) {
    ExpectRefused(rest, "");
  }
}

TEST_F(ClaimsTest, RefusesOutOfRangeNumbers) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"g", "0"},       {"g", "65"},         {"g", "-1"},   {"g", "+2"},          {"g", "02"},
      {"g", "2.0"},     {"g", " 2"},         {"g", "0x10"}, {"g", "99999999999"}, {"b", "0"},
      {"b", "1000001"}, {"b", "4294967297"}, {"d", "0"},    {"d", "604801"},      {"d", "1e3"},
      {"v", "2"},       {"v", "true"},       {"v", "00"},   {"v", "01"},          {"v", "-0"},
  };
  for (const auto& [key, value] : cases) {
    const std::string rest = "cv1;u=alice;s=sess;p=pro;" + key + "=" + value;
    ExpectRefused(rest, value == "0" || value == "2" ? "" : value);
    std::string why;
    ParseClaims(rest, &why);
    EXPECT_EQ(why.substr(0, 2), key + ":") << rest;
  }
}

TEST_F(ClaimsTest, RefusesCharsetViolationsWithoutQuotingThem) {
  const std::vector<std::string> bad_ids = {"al:ce",
                                            "al;ce",
                                            "al%ce",
                                            "al ce",
                                            std::string("al\0ce", 5),
                                            "al\rce",
                                            "al\nce",
                                            "al\"ce",
                                            "al'ce",
                                            "al=ce",
                                            "al/ce",
                                            "al\\ce",
                                            "al\tce",
                                            "\xc3\xa9t\xc3\xa9",
                                            "al,ce"};
  for (const std::string& bad : bad_ids) {
    // The ';' case ends the value early, leaving an item without '='.
    ExpectRefused("cv1;u=" + bad + ";s=sess;p=pro", bad);
    ExpectRefused("cv1;u=alice;s=" + bad + ";p=pro", bad);
    ExpectRefused("cv1;u=alice;s=sess;l=" + bad + ";p=pro", bad);
    ExpectRefused("cv1;u=alice;s=sess;p=pro;k=" + bad, bad);
  }
  // Plans are lower case; key ids have no '.', '@' or '+'.
  ExpectRefused("cv1;u=alice;s=sess;p=Pro", "Pro");
  ExpectRefused("cv1;u=alice;s=sess;p=pro.x", "pro.x");
  ExpectRefused("cv1;u=alice;s=sess;p=pro;k=a.b", "a.b");
  ExpectRefused("cv1;u=alice;s=sess;p=pro;k=a@b", "a@b");
  // The whole id charset is fine for users, sessions and lines.
  auto ok = ParseClaims("cv1;u=A.z_0@9+-;s=-._@+;l=x+y;p=a_b-9;k=A-z_9");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->user, "A.z_0@9+-");
  EXPECT_EQ(ok->plan, "a_b-9");
  EXPECT_EQ(ok->key_id, "A-z_9");
}

TEST_F(ClaimsTest, RefusesOverlongValues) {
  const std::string u64(64, 'u'), u65(65, 'u');
  EXPECT_TRUE(ParseClaims("cv1;u=" + u64 + ";s=" + u64 + ";l=" + std::string(32, 'l') +
                          ";p=" + std::string(16, 'p') + ";k=" + std::string(16, 'k')));
  ExpectRefused("cv1;u=" + u65 + ";s=s;p=pro", u65);
  ExpectRefused("cv1;u=u;s=" + u65 + ";p=pro", u65);
  ExpectRefused("cv1;u=u;s=s;l=" + std::string(33, 'l') + ";p=pro", std::string(33, 'l'));
  ExpectRefused("cv1;u=u;s=s;p=" + std::string(17, 'p'), std::string(17, 'p'));
  ExpectRefused("cv1;u=u;s=s;p=pro;k=" + std::string(17, 'k'), std::string(17, 'k'));
}

TEST_F(ClaimsTest, LooksLikeClaims) {
  EXPECT_TRUE(LooksLikeClaims("cv1"));
  EXPECT_TRUE(LooksLikeClaims("cv1;"));
  EXPECT_TRUE(LooksLikeClaims("cv1;u=a;s=b;p=c"));
  EXPECT_TRUE(LooksLikeClaims("cv1;garbage"));
  EXPECT_FALSE(LooksLikeClaims(""));
  EXPECT_FALSE(LooksLikeClaims("cv"));
  EXPECT_FALSE(LooksLikeClaims("cv2;u=a"));
  EXPECT_FALSE(LooksLikeClaims("cv12"));
  EXPECT_FALSE(LooksLikeClaims("cv1x"));
  EXPECT_FALSE(LooksLikeClaims("CV1;u=a"));
  EXPECT_FALSE(LooksLikeClaims("alice"));
  EXPECT_FALSE(LooksLikeClaims(" cv1;u=a"));
}

TEST_F(ClaimsTest, FormatRefusesInvalidClaims) {
  auto expect_refused = [](Claims c, const std::string& key) {
    std::string why;
    EXPECT_EQ(FormatClaims(c, &why), "");
    EXPECT_EQ(why.substr(0, 2), key + ":") << why;
  };
  Claims c = Minimal();
  c.user = "";
  expect_refused(c, "u");
  c = Minimal();
  c.user = "a;b";
  expect_refused(c, "u");
  c = Minimal();
  c.session = std::string(65, 's');
  expect_refused(c, "s");
  c = Minimal();
  c.line = "x y";
  expect_refused(c, "l");
  c = Minimal();
  c.plan = "";
  expect_refused(c, "p");
  c = Minimal();
  c.key_id = "a.b";
  expect_refused(c, "k");
  c = Minimal();
  c.group_size = 0;
  expect_refused(c, "g");
  c.group_size = 65;
  expect_refused(c, "g");
  c = Minimal();
  c.bandwidth_kbps = 1'000'001;
  expect_refused(c, "b");
  c = Minimal();
  c.max_duration_s = 604'801;
  expect_refused(c, "d");
}

TEST_F(ClaimsTest, CharsetHelpers) {
  EXPECT_TRUE(IsValidId("a", 1));
  EXPECT_FALSE(IsValidId("ab", 1));
  EXPECT_FALSE(IsValidId("", 64));
  EXPECT_TRUE(IsValidKeyId("2026-a_B"));
  EXPECT_FALSE(IsValidKeyId(""));
  EXPECT_FALSE(IsValidKeyId(std::string(17, 'k')));
  EXPECT_TRUE(IsValidPlanName("business"));
  EXPECT_FALSE(IsValidPlanName("Business"));
  EXPECT_FALSE(IsValidPlanName(""));
}

}  // namespace
}  // namespace cv::auth
