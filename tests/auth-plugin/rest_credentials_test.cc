#include "cv/auth/rest_credentials.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

namespace cv::auth {
namespace {

std::string Hex(const Key& k) {
  std::string s;
  char buf[3];
  for (uint8_t b : k.bytes) {
    std::snprintf(buf, sizeof(buf), "%02x", b);
    s += buf;
  }
  return s;
}

// Expected values computed from the definition with the openssl and coreutils command lines:
//   printf '%s' '1700000000:alice' | openssl dgst -sha1 -hmac north -binary | base64
//   printf '%s' '1700000000:alice:example.org:<password>' | md5sum
TEST(RestCredentialsTest, KnownPasswordAndKey) {
  EXPECT_EQ(RestPassword("north", "1700000000:alice"), "Cd/49soE35ICqcJF/bCTn8Z4OyE=");
  EXPECT_EQ(RestPassword("south", "1700000000:alice"), "FJeNoC0yJtNekwCa5JT/sW/1Ls4=");
  EXPECT_EQ(RestPassword("north", "1700000000"), "CWyHi3zCeWqXBir9thl4m+iZPRY=");
  EXPECT_EQ(Hex(LongTermKey("1700000000:alice", "example.org", "Cd/49soE35ICqcJF/bCTn8Z4OyE=")),
            "d9a6a3d964467baeffd2fce41704a913");
  RestSecret north("north");
  EXPECT_EQ(Hex(north.KeyFor("1700000000:alice", "example.org")),
            "d9a6a3d964467baeffd2fce41704a913");
  EXPECT_EQ(Hex(RestSecret("south").KeyFor("1700000000:alice", "example.org")),
            "2c9f5db2d368dd352ccb5988c9a8c638");
}

TEST(RestCredentialsTest, Rfc2202HmacSha1Vectors) {
  // Test case 1: key 0x0b x 20, "Hi There" → b617318655057264e28bc0b6fb378c8ef146be00.
  EXPECT_EQ(RestPassword(std::string(20, '\x0b'), "Hi There"), "thcxhlUFcmTii8C2+zeMjvFGvgA=");
  // Test case 6: an 80-byte key is hashed first → aa4ae5e15272d00e95705637ce8a3b55ed402112.
  EXPECT_EQ(RestPassword(std::string(80, '\xaa'),
                         "Test Using Larger Than Block-Size Key - Hash Key First"),
            "qkrl4VJy0A6VcFY3zoo7Ve1AIRI=");
}

TEST(RestCredentialsTest, LongTermKeyMatchesMd5OfTheJoinedString) {
  // printf '%s' 'alice:example.org:s3cret' | md5sum
  EXPECT_EQ(Hex(LongTermKey("alice", "example.org", "s3cret")), "8b83b40c22906c0c67a3c5bcc491bc14");
  // RFC 5769 §2.4's user after SASLprep; printf '%s' 'マトリックス:example.org:TheMatrIX' | md5sum
  EXPECT_EQ(
      Hex(LongTermKey("\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9",
                      "example.org", "TheMatrIX")),
      "e8ca7ad59d5eb0518e312911d2dab2a9");
}

TEST(RestCredentialsTest, SecretObjectAgreesWithOneShotFunctions) {
  RestSecret s("a much longer secret that is more than sixty-four bytes long, really it is");
  for (std::string u : {std::string("1:a"), std::string(512, 'x'), std::string("\0\r\n%n", 5)}) {
    auto p = s.Password(u);
    const std::string pw(p.data(), p.size());
    EXPECT_EQ(pw, RestPassword("a much longer secret that is more than sixty-four bytes long, "
                               "really it is",
                               u));
    EXPECT_EQ(s.KeyFor(u, "r").bytes, LongTermKey(u, "r", pw).bytes);
  }
  RestSecret moved = std::move(s);
  EXPECT_EQ(
      std::string(moved.Password("1:a").data(), kRestPasswordLength),
      RestPassword("a much longer secret that is more than sixty-four bytes long, really it is",
                   "1:a"));
}

TEST(RestCredentialsTest, ParsesTimestampAndRest) {
  auto r = ParseRestUsername("1700000000:alice", ':');
  ASSERT_TRUE(r);
  EXPECT_EQ(r->expiry, 1700000000);
  EXPECT_EQ(r->rest, "alice");
  // Only the first separator splits: claims may contain it.
  r = ParseRestUsername("1700000000:u=alice:plan=pro", ':');
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rest, "u=alice:plan=pro");
  // A bare timestamp is a valid username.
  r = ParseRestUsername("1700000000", ':');
  ASSERT_TRUE(r);
  EXPECT_EQ(r->expiry, 1700000000);
  EXPECT_TRUE(r->rest.empty());
  // Separator present, rest empty.
  r = ParseRestUsername("1700000000:", ':');
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->rest.empty());
  r = ParseRestUsername("0", ':');
  ASSERT_TRUE(r);
  EXPECT_EQ(r->expiry, 0);
  r = ParseRestUsername("0001700000000:x", ':');
  ASSERT_TRUE(r);
  EXPECT_EQ(r->expiry, 1700000000);
}

TEST(RestCredentialsTest, TimestampLimits) {
  auto max = ParseRestUsername("9223372036854775807:x", ':');
  ASSERT_TRUE(max);
  EXPECT_EQ(max->expiry, INT64_MAX);
  EXPECT_FALSE(ParseRestUsername("9223372036854775808:x", ':'));   // INT64_MAX + 1
  EXPECT_FALSE(ParseRestUsername("9999999999999999999:x", ':'));   // 19 digits, overflows
  EXPECT_FALSE(ParseRestUsername("10000000000000000000:x", ':'));  // 20 digits
  EXPECT_FALSE(ParseRestUsername(std::string(30, '9') + ":x", ':'));
  auto nineteen = ParseRestUsername("1000000000000000000", ':');
  ASSERT_TRUE(nineteen);
  EXPECT_EQ(nineteen->expiry, 1000000000000000000);
}

TEST(RestCredentialsTest, RejectsAnythingButPlainDigits) {
  for (const char* bad : {"", ":alice", "-1700000000:alice", "+1700000000:alice",
                          " 1700000000:alice", "1700000000 :alice", "17e8:alice", "0x10:alice",
                          "abc:alice", "alice", "1700000000a:alice", "1,7:alice", "１７:alice"}) {
    EXPECT_FALSE(ParseRestUsername(bad, ':')) << bad;
  }
  EXPECT_FALSE(ParseRestUsername(std::string("17\0"
                                             "00:a",
                                             7),
                                 ':'));
}

TEST(RestCredentialsTest, OtherSeparators) {
  auto r = ParseRestUsername("1700000000-alice:bob", '-');
  ASSERT_TRUE(r);
  EXPECT_EQ(r->expiry, 1700000000);
  EXPECT_EQ(r->rest, "alice:bob");
  EXPECT_FALSE(ParseRestUsername("1700000000:alice", '-'));  // ':' is not a digit
  r = ParseRestUsername("1700000000|x", '|');
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rest, "x");
}

TEST(RestCredentialsTest, MintRoundTrips) {
  EXPECT_EQ(MintRestUsername(1700000000, "alice", ':'), "1700000000:alice");
  EXPECT_EQ(MintRestUsername(1700000000, "", ':'), "1700000000");
  EXPECT_EQ(MintRestUsername(1700000000, "alice", '-'), "1700000000-alice");
  EXPECT_EQ(MintRestUsername(-5, "alice", ':'), "0:alice");
  EXPECT_EQ(MintRestUsername(INT64_MAX, "a", ':'), "9223372036854775807:a");
  const std::string u = MintRestUsername(1234567890, "u=bob;plan=trial", ':');
  auto r = ParseRestUsername(u, ':');
  ASSERT_TRUE(r);
  EXPECT_EQ(r->expiry, 1234567890);
  EXPECT_EQ(r->rest, "u=bob;plan=trial");
}

}  // namespace
}  // namespace cv::auth
