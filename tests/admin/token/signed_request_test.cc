#include "admin/token/signed_request.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "admin/token/base64url.h"
#include "admin/token/ed25519.h"

namespace cv::token {

// gtest prints the label instead of the enum's bytes.
void PrintTo(RequestError error, std::ostream* os) { *os << RequestErrorName(error); }

namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr int64_t kMaxSkew = 120;
constexpr char kUser[] = "alice@example.com";
constexpr char kNonce[] = "n0nce_With-Dash16";
constexpr char kMethod[] = "POST";
constexpr char kTarget[] = "/v1/call-sessions?x=1";
constexpr char kBody[] = R"({"peer":"bob"})";

Ed25519Key TestKey() {
  // RFC 8032 TEST 1's seed.
  const std::string seed =
      "\x9d\x61\xb1\x9d\xef\xfd\x5a\x60\xba\x84\x4a\xf4\x92\xec\x2c\xc4"
      "\x44\x49\xc5\x69\x7b\x32\x69\x19\x70\x3b\xac\x03\x1c\xae\x7f\x60";
  return *Ed25519Key::FromSeed(seed, nullptr);
}

class SignedRequestTest : public ::testing::Test {
 protected:
  SignedRequestTest() : key_(TestKey()) { Sign(kNow); }

  void Sign(int64_t timestamp, std::string nonce = kNonce, std::string user = kUser) {
    headers_ = SignRequest(key_, user, timestamp, nonce, kMethod, kTarget, kBody);
    request_ = {
        headers_.user, headers_.timestamp, headers_.nonce, headers_.signature, kMethod, kTarget,
        kBody};
  }

  RequestError Verify(int64_t now = kNow) const {
    return VerifySignedRequest(request_, key_.PublicKey(), now, kMaxSkew);
  }

  Ed25519Key key_;
  RequestSignature headers_;
  SignedRequest request_;
};

// The signing string, pinned. The digest was computed outside this code:
//   printf 'POST\n/v1/call-sessions?x=1\n{"peer":"bob"}' | sha256sum
TEST_F(SignedRequestTest, SigningStringMatchesTheDocumentedFormat) {
  EXPECT_EQ(RequestDigest(kMethod, kTarget, kBody),
            "e13dc222ce1debd51a6c43d5dea21fd65168d0767a0e1e041190fc537623bb68");
  EXPECT_EQ(
      RequestSigningString("alice", "1700000000", "abcdefghijklmnop", kMethod, kTarget, kBody),
      "CV1-ED25519\nalice\n1700000000\nabcdefghijklmnop\n"
      "e13dc222ce1debd51a6c43d5dea21fd65168d0767a0e1e041190fc537623bb68");
}

TEST_F(SignedRequestTest, DigestOfAnEmptyBody) {
  // printf 'GET\n/\n' | sha256sum
  EXPECT_EQ(RequestDigest("GET", "/", ""),
            "139fb16fdd19069e75f6f3dd0e619a89fb157dab65e8722c66e6b3fd43f7900c");
}

TEST_F(SignedRequestTest, SignRequestFillsTheFourHeaders) {
  EXPECT_EQ(headers_.user, kUser);
  EXPECT_EQ(headers_.timestamp, "1700000000");
  EXPECT_EQ(headers_.nonce, kNonce);
  const auto signature = Base64UrlDecode(headers_.signature);
  ASSERT_TRUE(signature);
  EXPECT_EQ(*signature,
            key_.Sign(RequestSigningString(kUser, "1700000000", kNonce, kMethod, kTarget, kBody)));
}

TEST_F(SignedRequestTest, SignedRequestVerifies) {
  int64_t timestamp = 0;
  EXPECT_EQ(VerifySignedRequest(request_, key_.PublicKey(), kNow, kMaxSkew, &timestamp),
            RequestError::kNone);
  EXPECT_EQ(timestamp, kNow);
}

TEST_F(SignedRequestTest, EmptyBodyAndShortestAndLongestNonceVerify) {
  Sign(kNow, std::string(kMinNonceLength, 'a'));
  EXPECT_EQ(Verify(), RequestError::kNone);
  Sign(kNow, std::string(kMaxNonceLength, 'Z'));
  EXPECT_EQ(Verify(), RequestError::kNone);
  headers_ = SignRequest(key_, kUser, kNow, kNonce, "GET", "/v1/me", "");
  request_ = {
      headers_.user, headers_.timestamp, headers_.nonce, headers_.signature, "GET", "/v1/me", ""};
  EXPECT_EQ(Verify(), RequestError::kNone);
}

TEST_F(SignedRequestTest, SkewOfExactlyTheMaximumIsAccepted) {
  EXPECT_EQ(Verify(kNow + kMaxSkew), RequestError::kNone);
  EXPECT_EQ(Verify(kNow - kMaxSkew), RequestError::kNone);
}

TEST_F(SignedRequestTest, SkewOneSecondBeyondTheMaximumIsRefused) {
  EXPECT_EQ(Verify(kNow + kMaxSkew + 1), RequestError::kClockSkew);
  EXPECT_EQ(Verify(kNow - kMaxSkew - 1), RequestError::kClockSkew);
}

TEST_F(SignedRequestTest, SkewIsCheckedBeforeTheSignature) {
  request_.body = "changed";
  EXPECT_EQ(Verify(kNow + 1000), RequestError::kClockSkew);
}

TEST_F(SignedRequestTest, SkewAgainstExtremeClocksDoesNotOverflow) {
  EXPECT_EQ(Verify(std::numeric_limits<int64_t>::min()), RequestError::kClockSkew);
  EXPECT_EQ(Verify(std::numeric_limits<int64_t>::max()), RequestError::kClockSkew);
  Sign(999'999'999'999);
  EXPECT_EQ(Verify(std::numeric_limits<int64_t>::min()), RequestError::kClockSkew);
  EXPECT_EQ(Verify(999'999'999'999), RequestError::kNone);
}

TEST_F(SignedRequestTest, ChangedBodyIsABadSignature) {
  request_.body = R"({"peer":"eve"})";
  EXPECT_EQ(Verify(), RequestError::kBadSignature);
}

TEST_F(SignedRequestTest, ChangedMethodIsABadSignature) {
  request_.method = "PUT";
  EXPECT_EQ(Verify(), RequestError::kBadSignature);
}

TEST_F(SignedRequestTest, ChangedTargetIsABadSignature) {
  request_.target = "/v1/call-sessions?x=2";
  EXPECT_EQ(Verify(), RequestError::kBadSignature);
}

TEST_F(SignedRequestTest, ChangedUserIsABadSignature) {
  request_.user = "mallory";
  EXPECT_EQ(Verify(), RequestError::kBadSignature);
}

TEST_F(SignedRequestTest, ChangedNonceIsABadSignature) {
  request_.nonce = "n0nce_With-Dash17";
  EXPECT_EQ(Verify(), RequestError::kBadSignature);
}

TEST_F(SignedRequestTest, ChangedTimestampIsABadSignature) {
  request_.timestamp = "1700000001";
  EXPECT_EQ(Verify(), RequestError::kBadSignature);
}

TEST_F(SignedRequestTest, AnotherUsersKeyIsABadSignature) {
  auto other = Ed25519Key::Generate(nullptr);
  ASSERT_TRUE(other);
  EXPECT_EQ(VerifySignedRequest(request_, other->PublicKey(), kNow, kMaxSkew),
            RequestError::kBadSignature);
  EXPECT_EQ(VerifySignedRequest(request_, "", kNow, kMaxSkew), RequestError::kBadSignature);
}

TEST_F(SignedRequestTest, ChangedSignatureIsABadSignature) {
  std::string signature = *Base64UrlDecode(headers_.signature);
  signature[0] ^= 0x01;
  const std::string text = Base64UrlEncode(signature);
  request_.signature = text;
  EXPECT_EQ(Verify(), RequestError::kBadSignature);
}

TEST_F(SignedRequestTest, NonceOfWrongLengthIsMalformed) {
  Sign(kNow, std::string(kMinNonceLength - 1, 'a'));
  EXPECT_EQ(Verify(), RequestError::kMalformed);
  Sign(kNow, std::string(kMaxNonceLength + 1, 'a'));
  EXPECT_EQ(Verify(), RequestError::kMalformed);
  Sign(kNow, "");
  EXPECT_EQ(Verify(), RequestError::kMalformed);
}

TEST_F(SignedRequestTest, NonceWithCharactersOutsideTheSetIsMalformed) {
  for (const char* nonce :
       {"abcdefghijklmno.", "abcdefghijklmno=", "abcdefghijklmno+", "abcdefghijklmno/",
        "abcdefgh ijklmno", "abcdefghijklmno\n", "abcdefghijklmn\xc3\xa9"}) {
    Sign(kNow, nonce);
    EXPECT_EQ(Verify(), RequestError::kMalformed) << nonce;
  }
}

TEST_F(SignedRequestTest, UserThatIsNotAValidIdIsMalformed) {
  for (const std::string& user :
       {std::string(""), std::string("bob smith"), std::string("a%n"), std::string("a\"b"),
        std::string("a\r\nb"), std::string(65, 'u')}) {
    Sign(kNow, kNonce, user);
    EXPECT_EQ(Verify(), RequestError::kMalformed) << user;
  }
  Sign(kNow, kNonce, std::string(64, 'u'));
  EXPECT_EQ(Verify(), RequestError::kNone);
}

TEST_F(SignedRequestTest, TimestampThatIsNotPlainDecimalIsMalformed) {
  for (const char* timestamp : {"+5", "-5", "0123", "00", "", " 1700000000", "1700000000 ", "17e8",
                                "0x65", "1700000000.0", "1000000000000"}) {
    request_.timestamp = timestamp;
    int64_t parsed = -1;
    EXPECT_EQ(VerifySignedRequest(request_, key_.PublicKey(), kNow, kMaxSkew, &parsed),
              RequestError::kMalformed)
        << timestamp;
    EXPECT_EQ(parsed, -1) << timestamp;
  }
}

TEST_F(SignedRequestTest, TimestampZeroAndTwelveDigitsParse) {
  int64_t parsed = -1;
  request_.timestamp = "0";
  EXPECT_EQ(VerifySignedRequest(request_, key_.PublicKey(), kNow, kMaxSkew, &parsed),
            RequestError::kClockSkew);
  EXPECT_EQ(parsed, 0);
  request_.timestamp = "999999999999";
  EXPECT_EQ(VerifySignedRequest(request_, key_.PublicKey(), kNow, kMaxSkew, &parsed),
            RequestError::kClockSkew);
  EXPECT_EQ(parsed, 999'999'999'999);
}

TEST_F(SignedRequestTest, SignatureOfWrongLengthIsMalformed) {
  const std::string signature = *Base64UrlDecode(headers_.signature);
  const std::string short_text = Base64UrlEncode(signature.substr(0, 63));
  request_.signature = short_text;
  EXPECT_EQ(Verify(), RequestError::kMalformed);
  const std::string long_text = Base64UrlEncode(signature + '\0');
  request_.signature = long_text;
  EXPECT_EQ(Verify(), RequestError::kMalformed);
  request_.signature = "";
  EXPECT_EQ(Verify(), RequestError::kMalformed);
}

TEST_F(SignedRequestTest, SignatureNotInStrictBase64UrlIsMalformed) {
  const std::string padded = headers_.signature + "==";
  request_.signature = padded;
  EXPECT_EQ(Verify(), RequestError::kMalformed);
  std::string standard = headers_.signature;
  standard[0] = '+';
  request_.signature = standard;
  EXPECT_EQ(Verify(), RequestError::kMalformed);
}

TEST_F(SignedRequestTest, ErrorNamesAreStableLabels) {
  EXPECT_STREQ(RequestErrorName(RequestError::kNone), "none");
  EXPECT_STREQ(RequestErrorName(RequestError::kMalformed), "malformed");
  EXPECT_STREQ(RequestErrorName(RequestError::kClockSkew), "skew");
  EXPECT_STREQ(RequestErrorName(RequestError::kBadSignature), "bad_signature");
}

}  // namespace
}  // namespace cv::token
