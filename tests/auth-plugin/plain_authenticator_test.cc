#include "cv/auth/plain_authenticator.h"

#include <gtest/gtest.h>

#include <string>

namespace cv::auth {
namespace {

constexpr int64_t kNow = 1'700'000'000;

class PlainAuthenticatorTest : public ::testing::Test {
 protected:
  static PlainAuthConfig RestConfig() {
    PlainAuthConfig c;
    c.realm = "example.org";
    c.use_auth_secret = true;
    c.secrets = {"north"};
    return c;
  }
  static std::unique_ptr<Authenticator> Make(PlainAuthConfig c) {
    auto a = MakePlainAuthenticator(std::move(c));
    EXPECT_NE(a, nullptr);
    return a;
  }
  Candidates out_;
};

TEST_F(PlainAuthenticatorTest, RestCredentialGivesTheKnownKey) {
  auto auth = Make(RestConfig());
  EXPECT_EQ(auth->realm(), "example.org");
  // Expiry 1700000000 is not before now (equal): still valid.
  ASSERT_EQ(auth->Lookup("1700000000:alice", kNow, &out_), LookupStatus::kOk);
  ASSERT_EQ(out_.count, 1u);
  // md5("1700000000:alice:example.org:" + base64(hmac-sha1("north", "1700000000:alice"))),
  // computed with openssl/md5sum (see rest_credentials_test.cc).
  EXPECT_EQ(out_.keys[0].bytes,
            LongTermKey("1700000000:alice", "example.org", "Cd/49soE35ICqcJF/bCTn8Z4OyE=").bytes);
  Key known{};
  const uint8_t want[16] = {0xd9, 0xa6, 0xa3, 0xd9, 0x64, 0x46, 0x7b, 0xae,
                            0xff, 0xd2, 0xfc, 0xe4, 0x17, 0x04, 0xa9, 0x13};
  std::copy(std::begin(want), std::end(want), known.bytes.begin());
  EXPECT_EQ(out_.keys[0].bytes, known.bytes);
  Grant g = auth->Authorize("1700000000:alice", 0, kNow);
  EXPECT_TRUE(g.allowed);
  EXPECT_EQ(g.user, "alice");
}

TEST_F(PlainAuthenticatorTest, ExpiryBoundaries) {
  auto auth = Make(RestConfig());
  EXPECT_EQ(auth->Lookup("1700000000:a", kNow - 1, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Lookup("1700000000:a", kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Lookup("1700000000:a", kNow + 1, &out_), LookupStatus::kExpired);
  EXPECT_EQ(out_.count, 0u);
  EXPECT_EQ(auth->Lookup("0:a", kNow, &out_), LookupStatus::kExpired);
  EXPECT_FALSE(auth->Authorize("1700000000:a", 0, kNow + 1).allowed);
}

TEST_F(PlainAuthenticatorTest, FarFutureExpiryIsRefused) {
  auto auth = Make(RestConfig());
  const int64_t limit = 30 * 86400;
  EXPECT_EQ(auth->Lookup(std::to_string(kNow + limit) + ":a", kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Lookup(std::to_string(kNow + limit + 1) + ":a", kNow, &out_),
            LookupStatus::kMalformed);
  EXPECT_EQ(auth->Lookup("9223372036854775807:a", kNow, &out_), LookupStatus::kMalformed);
  EXPECT_EQ(auth->Lookup("9223372036854775807:a", -5, &out_), LookupStatus::kOk);
  PlainAuthConfig c = RestConfig();
  c.max_rest_lifetime_seconds = 0;  // coturn's behaviour
  auto unlimited = Make(c);
  EXPECT_EQ(unlimited->Lookup("9223372036854775807:a", kNow, &out_), LookupStatus::kOk);
}

TEST_F(PlainAuthenticatorTest, BadTimestampsAreMalformed) {
  auto auth = Make(RestConfig());
  for (std::string u :
       {std::string(30, '9') + ":alice", std::string(30, '9'),
        std::string("9223372036854775808:alice"), std::string("-1700000000:alice"),
        std::string("+1700000000:alice"), std::string(":alice"), std::string("abc:alice"),
        std::string("17000x0000:alice"), std::string("1700000000x")}) {
    EXPECT_EQ(auth->Lookup(u, kNow, &out_), LookupStatus::kMalformed) << u;
    EXPECT_EQ(out_.count, 0u);
    EXPECT_FALSE(auth->Authorize(u, 0, kNow).allowed) << u;
  }
  // Nothing REST-like about it: simply not a user.
  EXPECT_EQ(auth->Lookup("alice", kNow, &out_), LookupStatus::kUnknownUser);
  EXPECT_EQ(auth->Lookup("", kNow, &out_), LookupStatus::kUnknownUser);
}

TEST_F(PlainAuthenticatorTest, OtherSeparator) {
  PlainAuthConfig c = RestConfig();
  c.separator = '-';
  auto auth = Make(c);
  ASSERT_EQ(auth->Lookup("1700000000-alice", kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(out_.keys[0].bytes,
            RestSecret("north").KeyFor("1700000000-alice", "example.org").bytes);
  EXPECT_EQ(auth->Authorize("1700000000-alice:x", 0, kNow).user, "alice:x");
  EXPECT_EQ(auth->Lookup("1700000000:alice", kNow, &out_), LookupStatus::kMalformed);
}

TEST_F(PlainAuthenticatorTest, SeveralSecretsGiveCandidatesInOrder) {
  PlainAuthConfig c = RestConfig();
  c.secrets = {"north", "south", "east"};
  auto auth = Make(c);
  ASSERT_EQ(auth->Lookup("1700000000:alice", kNow, &out_), LookupStatus::kOk);
  ASSERT_EQ(out_.count, 3u);
  EXPECT_EQ(out_.keys[0].bytes,
            RestSecret("north").KeyFor("1700000000:alice", "example.org").bytes);
  EXPECT_EQ(out_.keys[1].bytes,
            RestSecret("south").KeyFor("1700000000:alice", "example.org").bytes);
  EXPECT_EQ(out_.keys[2].bytes, RestSecret("east").KeyFor("1700000000:alice", "example.org").bytes);
  EXPECT_NE(out_.keys[0].bytes, out_.keys[1].bytes);
  EXPECT_TRUE(auth->Authorize("1700000000:alice", 2, kNow).allowed);
  EXPECT_FALSE(auth->Authorize("1700000000:alice", 3, kNow).allowed);
}

TEST_F(PlainAuthenticatorTest, BareTimestampUsernameIsItsOwnUser) {
  auto auth = Make(RestConfig());
  ASSERT_EQ(auth->Lookup("1700000000", kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(out_.count, 1u);
  Grant g = auth->Authorize("1700000000", 0, kNow);
  EXPECT_TRUE(g.allowed);
  EXPECT_EQ(g.user, "1700000000");
  EXPECT_EQ(auth->Authorize("1700000000:", 0, kNow).user, "1700000000:");
}

TEST_F(PlainAuthenticatorTest, StaticUsers) {
  PlainAuthConfig c;
  c.realm = "example.org";
  c.users.push_back(MakeUserWithPassword("alice", "example.org", "s3cret"));
  auto bob = MakeUserWithKey("bob", "0x8b83b40c22906c0c67a3c5bcc491bc14");
  ASSERT_TRUE(bob);
  c.users.push_back(*bob);
  auto auth = Make(c);
  ASSERT_EQ(auth->Lookup("alice", kNow, &out_), LookupStatus::kOk);
  ASSERT_EQ(out_.count, 1u);
  EXPECT_EQ(out_.keys[0].bytes, LongTermKey("alice", "example.org", "s3cret").bytes);
  ASSERT_EQ(auth->Lookup("bob", kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(out_.keys[0].bytes, LongTermKey("alice", "example.org", "s3cret").bytes);
  Grant g = auth->Authorize("alice", 0, kNow);
  EXPECT_TRUE(g.allowed);
  EXPECT_EQ(g.user, "alice");
  EXPECT_FALSE(auth->Authorize("alice", 1, kNow).allowed);
  // Exact names only.
  EXPECT_EQ(auth->Lookup("Alice", kNow, &out_), LookupStatus::kUnknownUser);
  EXPECT_EQ(auth->Lookup("alice ", kNow, &out_), LookupStatus::kUnknownUser);
  EXPECT_EQ(out_.count, 0u);
  // Without use_auth_secret a REST-looking name is just an unknown user.
  EXPECT_EQ(auth->Lookup("1700000000:alice", kNow, &out_), LookupStatus::kUnknownUser);
  EXPECT_EQ(auth->Lookup(std::string(30, '9'), kNow, &out_), LookupStatus::kUnknownUser);
  Grant no = auth->Authorize("carol", 0, kNow);
  EXPECT_FALSE(no.allowed);
  EXPECT_FALSE(no.refusal_reason.empty());
}

TEST_F(PlainAuthenticatorTest, StaticUsersAlongsideSecrets) {
  PlainAuthConfig c = RestConfig();
  c.users.push_back(MakeUserWithPassword("alice", "example.org", "pw"));
  c.users.push_back(MakeUserWithPassword("legacy:1", "example.org", "pw"));
  auto auth = Make(c);
  EXPECT_EQ(auth->Lookup("alice", kNow, &out_), LookupStatus::kOk);
  // A static name containing the separator is found before being called malformed.
  EXPECT_EQ(auth->Lookup("legacy:1", kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Authorize("legacy:1", 0, kNow).user, "legacy:1");
  EXPECT_EQ(auth->Lookup("mallory", kNow, &out_), LookupStatus::kUnknownUser);
}

TEST_F(PlainAuthenticatorTest, OverlongUsernameIsMalformed) {
  PlainAuthConfig c = RestConfig();
  c.users.push_back(MakeUserWithPassword(std::string(512, 'a'), "example.org", "pw"));
  auto auth = Make(c);
  EXPECT_EQ(auth->Lookup(std::string(512, 'a'), kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Lookup(std::string(600, 'a'), kNow, &out_), LookupStatus::kMalformed);
  EXPECT_EQ(auth->Lookup("1700000000:" + std::string(600, 'a'), kNow, &out_),
            LookupStatus::kMalformed);
  EXPECT_EQ(out_.count, 0u);
  EXPECT_FALSE(auth->Authorize("1700000000:" + std::string(600, 'a'), 0, kNow).allowed);
}

TEST_F(PlainAuthenticatorTest, ControlBytesAndDirectivesAreJustData) {
  PlainAuthConfig c = RestConfig();
  const std::string weird_static("ev\0il\r\n%n%s\"'", 13);
  c.users.push_back(MakeUserWithPassword(weird_static, "example.org", "pw"));
  auto auth = Make(c);
  for (std::string rest :
       {std::string("a\0b", 3), std::string("x\r\nINFO fake line"), std::string("%n%n%s%x"),
        std::string("\"'; DROP TABLE usage; --"), std::string("\xff\xfe\xc0\x80")}) {
    const std::string u = "1700000000:" + rest;
    ASSERT_EQ(auth->Lookup(u, kNow, &out_), LookupStatus::kOk);
    EXPECT_EQ(out_.keys[0].bytes, RestSecret("north").KeyFor(u, "example.org").bytes);
    Grant g = auth->Authorize(u, 0, kNow);
    EXPECT_TRUE(g.allowed);
    EXPECT_EQ(g.user, rest);
  }
  ASSERT_EQ(auth->Lookup(weird_static, kNow, &out_), LookupStatus::kOk);
  EXPECT_EQ(auth->Authorize(weird_static, 0, kNow).user, weird_static);
  EXPECT_EQ(auth->Lookup(std::string("ev\0il", 5), kNow, &out_), LookupStatus::kUnknownUser);
}

TEST_F(PlainAuthenticatorTest, UserFromHexKey) {
  auto a = MakeUserWithKey("a", "0x00112233445566778899AABBCCDDEEFF");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "a");
  EXPECT_EQ(a->key.bytes[0], 0x00);
  EXPECT_EQ(a->key.bytes[10], 0xaa);
  EXPECT_EQ(a->key.bytes[15], 0xff);
  auto b = MakeUserWithKey("b", "00112233445566778899aabbccddeeff");
  ASSERT_TRUE(b);
  EXPECT_EQ(a->key.bytes, b->key.bytes);
  for (const char* bad :
       {"", "0x", "0x0011", "0x00112233445566778899aabbccddeeff00",
        "0x00112233445566778899aabbccddeefg", "0x 0112233445566778899aabbccddeeff",
        "00112233445566778899aabbccddeef", "0X0x112233445566778899aabbccddeeff"}) {
    EXPECT_FALSE(MakeUserWithKey("x", bad)) << bad;
  }
}

TEST_F(PlainAuthenticatorTest, InvalidConfigsAreRefused) {
  PlainAuthConfig ok = RestConfig();
  EXPECT_EQ(ValidatePlainAuthConfig(ok), "");

  PlainAuthConfig c = ok;
  c.realm.clear();
  EXPECT_NE(ValidatePlainAuthConfig(c), "");
  EXPECT_EQ(MakePlainAuthenticator(c), nullptr);

  c = ok;
  c.secrets.clear();
  EXPECT_NE(ValidatePlainAuthConfig(c), "");

  c = ok;
  c.secrets.assign(kMaxCandidates + 1, "s");
  EXPECT_NE(ValidatePlainAuthConfig(c), "");
  c.secrets.assign(kMaxCandidates, "s");
  EXPECT_EQ(ValidatePlainAuthConfig(c), "");

  c = ok;
  c.secrets = {"a", ""};
  EXPECT_NE(ValidatePlainAuthConfig(c), "");

  c = ok;
  c.separator = '7';
  EXPECT_NE(ValidatePlainAuthConfig(c), "");

  c = ok;
  c.users.push_back(MakeUserWithPassword("a", "example.org", "x"));
  c.users.push_back(MakeUserWithPassword("a", "example.org", "y"));
  EXPECT_NE(ValidatePlainAuthConfig(c), "");

  c = ok;
  c.max_rest_lifetime_seconds = -1;
  EXPECT_NE(ValidatePlainAuthConfig(c), "");
}

TEST_F(PlainAuthenticatorTest, StatusNames) {
  EXPECT_STREQ(LookupStatusName(LookupStatus::kOk), "ok");
  EXPECT_STREQ(LookupStatusName(LookupStatus::kUnknownUser), "unknown_user");
  EXPECT_STREQ(LookupStatusName(LookupStatus::kExpired), "expired");
  EXPECT_STREQ(LookupStatusName(LookupStatus::kMalformed), "malformed");
}

}  // namespace
}  // namespace cv::auth
