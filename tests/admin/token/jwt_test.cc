#include "admin/token/jwt.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "admin/token/base64url.h"

namespace cv::token {

// gtest prints the label instead of the enum's bytes.
void PrintTo(TokenError error, std::ostream* os) { *os << TokenErrorName(error); }

namespace {

using nlohmann::json;

// RFC 8037 Appendix A.1: the example Ed25519 key (its seed is RFC 8032 TEST 1's).
constexpr char kRfcD[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
constexpr char kRfcX[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
// A.3: its JWK thumbprint.
constexpr char kRfcThumbprint[] = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
// A.4: the JWS of "Example of Ed25519 signing" with header {"alg":"EdDSA"}.
constexpr char kRfcSigningInput[] = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
constexpr char kRfcSignature[] =
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

constexpr int64_t kNow = 1'800'000'000;
constexpr int64_t kLeeway = 30;
constexpr int64_t kMaxLifetime = 3600;

class JwtTest : public ::testing::Test {
 protected:
  JwtTest()
      : key_(*Ed25519Key::FromSeed(*Base64UrlDecode(kRfcD), nullptr)),
        kid_(JwkThumbprint(key_.PublicKey())),
        signing_{kid_, key_},
        keys_{{kid_, key_.PublicKey()}} {
    options_.now = kNow;
    options_.leeway_s = kLeeway;
    options_.max_lifetime_s = kMaxLifetime;
  }

  static json Claims(int64_t iat = kNow, int64_t exp = kNow + 600) {
    return {{"sub", "alice"}, {"sid", "s1"}, {"iat", iat}, {"exp", exp}};
  }

  // A token with this exact header and payload text, signed with the test key.
  std::string Forge(const std::string& header, const std::string& payload) const {
    const std::string input = Base64UrlEncode(header) + "." + Base64UrlEncode(payload);
    return input + "." + Base64UrlEncode(key_.Sign(input));
  }
  std::string Header() const { return R"({"alg":"EdDSA","kid":")" + kid_ + R"(","typ":"JWT"})"; }

  // The reason VerifyJwt gives; kNone when it accepts.
  TokenError Check(std::string_view token) const {
    TokenError error = TokenError::kNone;
    auto verified = VerifyJwt(token, keys_, options_, &error);
    EXPECT_EQ(verified.has_value(), error == TokenError::kNone) << TokenErrorName(error);
    return error;
  }
  TokenError CheckClaims(const json& claims) const { return Check(SignJwt(claims, signing_)); }

  Ed25519Key key_;
  std::string kid_;
  SigningKey signing_;
  std::vector<VerifyKey> keys_;
  VerifyOptions options_;
};

// RFC 8037 Appendix A.

TEST_F(JwtTest, Rfc8037A1PrivateKeyGivesItsPublicKey) {
  EXPECT_EQ(Base64UrlEncode(key_.PublicKey()), kRfcX);
}

TEST_F(JwtTest, Rfc8037A3Thumbprint) {
  EXPECT_EQ(JwkThumbprint(*Base64UrlDecode(kRfcX)), kRfcThumbprint);
  EXPECT_EQ(kid_, kRfcThumbprint);
}

TEST_F(JwtTest, Rfc8037A4SignatureByteForByte) {
  EXPECT_EQ(
      Base64UrlEncode(R"({"alg":"EdDSA"})") + "." + Base64UrlEncode("Example of Ed25519 signing"),
      kRfcSigningInput);
  EXPECT_EQ(Base64UrlEncode(key_.Sign(kRfcSigningInput)), kRfcSignature);
  EXPECT_TRUE(Ed25519Verify(key_.PublicKey(), kRfcSigningInput, *Base64UrlDecode(kRfcSignature)));
}

TEST_F(JwtTest, Rfc8037A4JwsIsNoJwtBecauseItsPayloadIsNotJson) {
  EXPECT_EQ(Check(std::string(kRfcSigningInput) + "." + kRfcSignature), TokenError::kMalformed);
}

// Signing.

TEST_F(JwtTest, SignedTokenHasTheDocumentedHeader) {
  const std::string token = SignJwt(Claims(), signing_);
  const size_t dot = token.find('.');
  ASSERT_NE(dot, std::string::npos);
  EXPECT_EQ(Base64UrlDecode(token.substr(0, dot)), Header());
}

TEST_F(JwtTest, SignVerifyRoundTripReturnsKidAndClaims) {
  const std::string token = SignJwt(Claims(), signing_);
  TokenError error = TokenError::kMalformed;
  auto verified = VerifyJwt(token, keys_, options_, &error);
  ASSERT_TRUE(verified) << TokenErrorName(error);
  EXPECT_EQ(error, TokenError::kNone);
  EXPECT_EQ(verified->kid, kid_);
  EXPECT_EQ(verified->claims, Claims());
  EXPECT_TRUE(VerifyJwt(token, keys_, options_, nullptr));
}

TEST_F(JwtTest, VerifiesWithTheKeyItsKidNamesAmongSeveral) {
  auto other = Ed25519Key::Generate(nullptr);
  ASSERT_TRUE(other);
  const std::string other_kid = JwkThumbprint(other->PublicKey());
  keys_.insert(keys_.begin(), {other_kid, other->PublicKey()});
  EXPECT_EQ(CheckClaims(Claims()), TokenError::kNone);
  EXPECT_EQ(Check(SignJwt(Claims(), SigningKey{other_kid, *other})), TokenError::kNone);
}

TEST_F(JwtTest, SignJwtRefusesClaimsThatAreNotAnObject) {
  EXPECT_EQ(SignJwt(json::array({1, 2}), signing_), "");
  EXPECT_EQ(SignJwt(json("text"), signing_), "");
}

TEST_F(JwtTest, SignJwtRefusesInvalidUtf8WithoutThrowing) {
  json claims = Claims();
  claims["sub"] = std::string("\xff\xfe");
  EXPECT_EQ(SignJwt(claims, signing_), "");
}

// Malformed.

TEST_F(JwtTest, TwoPartsAreMalformed) {
  EXPECT_EQ(Check(kRfcSigningInput), TokenError::kMalformed);
}

TEST_F(JwtTest, FourPartsAreMalformed) {
  EXPECT_EQ(Check(SignJwt(Claims(), signing_) + ".e30"), TokenError::kMalformed);
  EXPECT_EQ(Check(SignJwt(Claims(), signing_) + "."), TokenError::kMalformed);
}

TEST_F(JwtTest, EmptyOrDotsOnlyIsMalformed) {
  EXPECT_EQ(Check(""), TokenError::kMalformed);
  EXPECT_EQ(Check(".."), TokenError::kMalformed);
}

TEST_F(JwtTest, NonBase64UrlPartIsMalformed) {
  const std::string token = SignJwt(Claims(), signing_);
  const size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  // Padding on the signature, a standard-alphabet character in the payload, a space in the header.
  EXPECT_EQ(Check(token + "=="), TokenError::kMalformed);
  std::string plus = token;
  plus[dot1 + 1] = '+';
  EXPECT_EQ(Check(plus), TokenError::kMalformed);
  EXPECT_EQ(Check(" " + token), TokenError::kMalformed);
  // A signature of length 1 mod 4.
  EXPECT_EQ(Check(token.substr(0, dot2 + 1) + "A"), TokenError::kMalformed);
}

TEST_F(JwtTest, PayloadNotAnObjectIsMalformed) {
  EXPECT_EQ(Check(Forge(Header(), "[1,2]")), TokenError::kMalformed);
  EXPECT_EQ(Check(Forge(Header(), "\"alice\"")), TokenError::kMalformed);
  EXPECT_EQ(Check(Forge(Header(), "42")), TokenError::kMalformed);
  EXPECT_EQ(Check(Forge(Header(), "")), TokenError::kMalformed);
  EXPECT_EQ(Check(Forge(Header(), "{\"exp\":1")), TokenError::kMalformed);
  EXPECT_EQ(Check(Forge(Header(), Claims().dump() + "x")), TokenError::kMalformed);
}

TEST_F(JwtTest, HeaderNotAnObjectIsMalformed) {
  EXPECT_EQ(Check(Forge("[\"EdDSA\"]", Claims().dump())), TokenError::kMalformed);
  EXPECT_EQ(Check(Forge("", Claims().dump())), TokenError::kMalformed);
}

TEST_F(JwtTest, RepeatedMemberNameIsMalformed) {
  // A reader that keeps the first "alg" would see a token signed with "none".
  EXPECT_EQ(
      Check(Forge(R"({"alg":"none","alg":"EdDSA","kid":")" + kid_ + R"("})", Claims().dump())),
      TokenError::kMalformed);
  EXPECT_EQ(Check(Forge(Header(), R"({"iat":1800000000,"exp":1800000600,"exp":1900000000})")),
            TokenError::kMalformed);
  // The same name in different objects is fine.
  EXPECT_EQ(Check(Forge(Header(), R"({"iat":1800000000,"exp":1800000600,"a":{"exp":1}})")),
            TokenError::kNone);
}

// Algorithm.

TEST_F(JwtTest, AlgNoneIsABadAlgorithm) {
  const std::string input = Base64UrlEncode(R"({"alg":"none","kid":")" + kid_ + R"("})") + "." +
                            Base64UrlEncode(Claims().dump());
  EXPECT_EQ(Check(input + "."), TokenError::kBadAlgorithm);
}

TEST_F(JwtTest, AlgHs256IsABadAlgorithm) {
  EXPECT_EQ(Check(Forge(R"({"alg":"HS256","kid":")" + kid_ + R"("})", Claims().dump())),
            TokenError::kBadAlgorithm);
}

TEST_F(JwtTest, AlgOtherThanExactlyEdDsaIsABadAlgorithm) {
  for (const char* alg : {R"("eddsa")", R"("EdDSA ")", R"("Ed25519")", R"(["EdDSA"])", "null"}) {
    EXPECT_EQ(Check(Forge(std::string(R"({"alg":)") + alg + R"(,"kid":")" + kid_ + R"("})",
                          Claims().dump())),
              TokenError::kBadAlgorithm)
        << alg;
  }
  EXPECT_EQ(Check(Forge(R"({"kid":")" + kid_ + R"("})", Claims().dump())),
            TokenError::kBadAlgorithm);
}

TEST_F(JwtTest, CritHeaderIsABadAlgorithm) {
  EXPECT_EQ(
      Check(Forge(R"({"alg":"EdDSA","crit":["exp"],"kid":")" + kid_ + R"("})", Claims().dump())),
      TokenError::kBadAlgorithm);
}

// Key.

TEST_F(JwtTest, UnknownKidIsAnUnknownKey) {
  EXPECT_EQ(Check(SignJwt(Claims(), SigningKey{"someone-else", key_})), TokenError::kUnknownKey);
}

TEST_F(JwtTest, MissingKidIsAnUnknownKey) {
  EXPECT_EQ(Check(Forge(R"({"alg":"EdDSA","typ":"JWT"})", Claims().dump())),
            TokenError::kUnknownKey);
}

TEST_F(JwtTest, NonStringKidIsAnUnknownKey) {
  EXPECT_EQ(Check(Forge(R"({"alg":"EdDSA","kid":1})", Claims().dump())), TokenError::kUnknownKey);
}

TEST_F(JwtTest, NoKeysAtAllIsAnUnknownKey) {
  keys_.clear();
  EXPECT_EQ(CheckClaims(Claims()), TokenError::kUnknownKey);
}

// Signature.

TEST_F(JwtTest, TamperedPayloadIsABadSignature) {
  const std::string token = SignJwt(Claims(), signing_);
  const size_t dot1 = token.find('.'), dot2 = token.rfind('.');
  std::string payload = *Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  const size_t at = payload.find("alice");
  ASSERT_NE(at, std::string::npos);
  payload[at] = 'm';  // "mlice": still a valid JSON object, one character changed
  const std::string tampered =
      token.substr(0, dot1 + 1) + Base64UrlEncode(payload) + token.substr(dot2);
  EXPECT_EQ(Check(tampered), TokenError::kBadSignature);
}

TEST_F(JwtTest, TamperedSignatureIsABadSignature) {
  const std::string token = SignJwt(Claims(), signing_);
  const size_t dot2 = token.rfind('.');
  std::string signature = *Base64UrlDecode(token.substr(dot2 + 1));
  signature[10] ^= 0x04;
  EXPECT_EQ(Check(token.substr(0, dot2 + 1) + Base64UrlEncode(signature)),
            TokenError::kBadSignature);
}

TEST_F(JwtTest, SignatureOfWrongLengthIsABadSignature) {
  const std::string token = SignJwt(Claims(), signing_);
  const size_t dot2 = token.rfind('.');
  const std::string signature = *Base64UrlDecode(token.substr(dot2 + 1));
  EXPECT_EQ(Check(token.substr(0, dot2 + 1) + Base64UrlEncode(signature.substr(0, 63))),
            TokenError::kBadSignature);
  EXPECT_EQ(Check(token.substr(0, dot2 + 1)), TokenError::kBadSignature);
}

TEST_F(JwtTest, KidOfOurKeyButSignedByAnotherIsABadSignature) {
  auto other = Ed25519Key::Generate(nullptr);
  ASSERT_TRUE(other);
  EXPECT_EQ(Check(SignJwt(Claims(), SigningKey{kid_, *other})), TokenError::kBadSignature);
}

// Claims.

TEST_F(JwtTest, ExpAtNowMinusLeewayIsExpired) {
  EXPECT_EQ(CheckClaims(Claims(kNow - 600, kNow - kLeeway)), TokenError::kExpired);
  EXPECT_EQ(CheckClaims(Claims(kNow - 600, kNow - 3000)), TokenError::kExpired);
}

TEST_F(JwtTest, ExpOneSecondInsideLeewayIsValid) {
  EXPECT_EQ(CheckClaims(Claims(kNow - 600, kNow - kLeeway + 1)), TokenError::kNone);
}

TEST_F(JwtTest, IatAtNowPlusLeewayIsValid) {
  EXPECT_EQ(CheckClaims(Claims(kNow + kLeeway, kNow + 600)), TokenError::kNone);
}

TEST_F(JwtTest, IatInTheFutureBeyondLeewayIsNotYetValid) {
  EXPECT_EQ(CheckClaims(Claims(kNow + kLeeway + 1, kNow + 600)), TokenError::kNotYetValid);
}

TEST_F(JwtTest, NbfAtNowPlusLeewayIsValid) {
  json claims = Claims();
  claims["nbf"] = kNow + kLeeway;
  EXPECT_EQ(CheckClaims(claims), TokenError::kNone);
}

TEST_F(JwtTest, NbfInTheFutureBeyondLeewayIsNotYetValid) {
  json claims = Claims();
  claims["nbf"] = kNow + kLeeway + 1;
  EXPECT_EQ(CheckClaims(claims), TokenError::kNotYetValid);
}

TEST_F(JwtTest, LifetimeOfExactlyTheMaximumIsValid) {
  EXPECT_EQ(CheckClaims(Claims(kNow, kNow + kMaxLifetime)), TokenError::kNone);
}

TEST_F(JwtTest, LifetimeOneSecondTooLongIsRefused) {
  EXPECT_EQ(CheckClaims(Claims(kNow, kNow + kMaxLifetime + 1)), TokenError::kLifetimeTooLong);
}

TEST_F(JwtTest, ZeroMaximumLifetimeMeansNoBound) {
  options_.max_lifetime_s = 0;
  EXPECT_EQ(CheckClaims(Claims(kNow, kNow + 10 * 365 * 86400)), TokenError::kNone);
}

TEST_F(JwtTest, ExtremeTimesDoNotOverflow) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(CheckClaims(Claims(kMin, kMax)), TokenError::kLifetimeTooLong);
  EXPECT_EQ(CheckClaims(Claims(kMax, kMin)), TokenError::kExpired);
  EXPECT_EQ(CheckClaims(Claims(kMax, kMax)), TokenError::kNotYetValid);
  options_.now = kMax;
  options_.max_lifetime_s = 0;
  EXPECT_EQ(CheckClaims(Claims(kMax, kMax)), TokenError::kNone);
  options_.now = kMin;
  EXPECT_EQ(CheckClaims(Claims(kMin, kMin)), TokenError::kNone);
}

TEST_F(JwtTest, ExpNotAnIntegerIsMalformed) {
  json claims = Claims();
  claims["exp"] = std::to_string(kNow + 600);
  EXPECT_EQ(CheckClaims(claims), TokenError::kMalformed);
  claims["exp"] = double(kNow + 600) + 0.5;
  EXPECT_EQ(CheckClaims(claims), TokenError::kMalformed);
  claims["exp"] = nullptr;
  EXPECT_EQ(CheckClaims(claims), TokenError::kMalformed);
  claims["exp"] = std::numeric_limits<uint64_t>::max();  // does not fit int64
  EXPECT_EQ(CheckClaims(claims), TokenError::kMalformed);
  // 1.8e9 in exponent form is a JSON number but not an integer.
  EXPECT_EQ(Check(Forge(Header(), R"({"iat":1800000000,"exp":1.8000006e9})")),
            TokenError::kMalformed);
}

TEST_F(JwtTest, MissingExpOrIatIsMalformed) {
  json claims = Claims();
  claims.erase("exp");
  EXPECT_EQ(CheckClaims(claims), TokenError::kMalformed);
  claims = Claims();
  claims.erase("iat");
  EXPECT_EQ(CheckClaims(claims), TokenError::kMalformed);
}

TEST_F(JwtTest, IatOrNbfNotAnIntegerIsMalformed) {
  json claims = Claims();
  claims["iat"] = "now";
  EXPECT_EQ(CheckClaims(claims), TokenError::kMalformed);
  claims = Claims();
  claims["nbf"] = true;
  EXPECT_EQ(CheckClaims(claims), TokenError::kMalformed);
}

TEST_F(JwtTest, ChecksRunInTheDocumentedOrder) {
  // Each token is wrong in two ways; the earlier check names it.
  const std::string expired = Claims(kNow - 600, kNow - 100).dump();
  EXPECT_EQ(Check(Forge(R"({"alg":"none"})", "[]")), TokenError::kMalformed);
  EXPECT_EQ(Check(Forge(R"({"alg":"none","kid":"nobody"})", expired)), TokenError::kBadAlgorithm);
  EXPECT_EQ(Check(SignJwt(json::parse(expired), SigningKey{"nobody", key_})),
            TokenError::kUnknownKey);
  auto other = Ed25519Key::Generate(nullptr);
  ASSERT_TRUE(other);
  EXPECT_EQ(Check(SignJwt(json::parse(expired), SigningKey{kid_, *other})),
            TokenError::kBadSignature);
  EXPECT_EQ(CheckClaims(Claims(kNow + 3600, kNow - 100)), TokenError::kExpired);
  EXPECT_EQ(CheckClaims(Claims(kNow + 3600, kNow + 3600 + 2 * kMaxLifetime)),
            TokenError::kNotYetValid);
}

TEST_F(JwtTest, ErrorNamesAreStableLabels) {
  EXPECT_STREQ(TokenErrorName(TokenError::kNone), "none");
  EXPECT_STREQ(TokenErrorName(TokenError::kMalformed), "malformed");
  EXPECT_STREQ(TokenErrorName(TokenError::kBadAlgorithm), "bad_algorithm");
  EXPECT_STREQ(TokenErrorName(TokenError::kUnknownKey), "unknown_key");
  EXPECT_STREQ(TokenErrorName(TokenError::kBadSignature), "bad_signature");
  EXPECT_STREQ(TokenErrorName(TokenError::kExpired), "expired");
  EXPECT_STREQ(TokenErrorName(TokenError::kNotYetValid), "not_yet_valid");
  EXPECT_STREQ(TokenErrorName(TokenError::kLifetimeTooLong), "lifetime_too_long");
}

// JWKS.

TEST_F(JwtTest, JwksListsEachKeyAsAnOkpEd25519Jwk) {
  auto other = Ed25519Key::Generate(nullptr);
  ASSERT_TRUE(other);
  keys_.push_back({"second", other->PublicKey()});
  const json jwks = Jwks(keys_);
  ASSERT_TRUE(jwks.is_object());
  EXPECT_EQ(jwks.size(), 1u);
  ASSERT_TRUE(jwks["keys"].is_array());
  ASSERT_EQ(jwks["keys"].size(), 2u);
  EXPECT_EQ(jwks["keys"][0], json({{"kty", "OKP"},
                                   {"crv", "Ed25519"},
                                   {"x", kRfcX},
                                   {"kid", kRfcThumbprint},
                                   {"alg", "EdDSA"},
                                   {"use", "sig"}}));
  EXPECT_EQ(jwks["keys"][1]["kid"], "second");
  EXPECT_EQ(Base64UrlDecode(jwks["keys"][1]["x"].get<std::string>()), other->PublicKey());
}

TEST_F(JwtTest, JwksOfNoKeysIsAnEmptyList) { EXPECT_EQ(Jwks({}).dump(), R"({"keys":[]})"); }

}  // namespace
}  // namespace cv::token
