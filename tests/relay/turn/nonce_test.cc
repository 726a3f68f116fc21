#include "relay/turn/nonce.h"

#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include <cstring>
#include <string>

namespace cv::turn {
namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr uint32_t kLifetime = 600;

SocketAddress Addr(const char* text) {
  auto a = SocketAddress::Parse(text);
  EXPECT_TRUE(a) << text;
  return a.value_or(SocketAddress{});
}

std::string Str(const std::array<char, NonceFactory::kLength>& n) {
  return std::string(n.data(), n.size());
}

class NonceTest : public ::testing::Test {
 protected:
  static std::array<uint8_t, 32> Key(uint8_t fill) {
    std::array<uint8_t, 32> k;
    for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(fill + i);
    return k;
  }
  std::array<uint8_t, 32> key_ = Key(1);
  NonceFactory factory_{key_, kLifetime};
  SocketAddress client_ = Addr("198.51.100.7:40000");
};

TEST_F(NonceTest, FreshNonceIsValidAndPrintable) {
  auto nonce = factory_.Make(client_, kNow);
  for (char c : nonce) {
    EXPECT_TRUE((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_')
        << c;
  }
  EXPECT_EQ(factory_.Verify(Str(nonce), client_, kNow), NonceCheck::kValid);
  EXPECT_EQ(factory_.Verify(Str(nonce), client_, kNow + 1), NonceCheck::kValid);
}

TEST_F(NonceTest, MatchesHmacSha256Layout) {
  // Recompute the documented layout with OpenSSL's own HMAC.
  auto nonce = factory_.Make(client_, kNow);
  uint8_t msg[1 + 4 + 1 + 4 + 2] = {1, 0, 0, 0, 0, 4, 198, 51, 100, 7, 0x9c, 0x40};
  const auto t = static_cast<uint32_t>(kNow);
  msg[1] = static_cast<uint8_t>(t >> 24);
  msg[2] = static_cast<uint8_t>(t >> 16);
  msg[3] = static_cast<uint8_t>(t >> 8);
  msg[4] = static_cast<uint8_t>(t);
  uint8_t mac[32];
  unsigned int mac_len = 0;
  ASSERT_NE(HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()), msg, sizeof(msg), mac,
                 &mac_len),
            nullptr);
  uint8_t raw[24];
  std::memcpy(raw, msg + 1, 4);
  std::memcpy(raw + 4, mac, 20);
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string want;
  for (size_t i = 0; i < 24; i += 3) {
    uint32_t v = (uint32_t{raw[i]} << 16) | (uint32_t{raw[i + 1]} << 8) | raw[i + 2];
    for (int s = 18; s >= 0; s -= 6) want += kAlphabet[(v >> s) & 63];
  }
  EXPECT_EQ(Str(nonce), want);
}

TEST_F(NonceTest, StaleAfterLifetime) {
  auto nonce = Str(factory_.Make(client_, kNow));
  EXPECT_EQ(factory_.Verify(nonce, client_, kNow + kLifetime), NonceCheck::kValid);
  EXPECT_EQ(factory_.Verify(nonce, client_, kNow + kLifetime + 1), NonceCheck::kStale);
  EXPECT_EQ(factory_.Verify(nonce, client_, kNow + 86400 * 365), NonceCheck::kStale);
}

TEST_F(NonceTest, FromTheFutureBeyondSkewIsStale) {
  auto nonce = Str(factory_.Make(client_, kNow));
  EXPECT_EQ(factory_.Verify(nonce, client_, kNow - NonceFactory::kMaxFutureSkewSeconds),
            NonceCheck::kValid);
  EXPECT_EQ(factory_.Verify(nonce, client_, kNow - NonceFactory::kMaxFutureSkewSeconds - 1),
            NonceCheck::kStale);
  EXPECT_EQ(factory_.Verify(nonce, client_, kNow - 3600), NonceCheck::kStale);
}

TEST_F(NonceTest, BoundToClientAddressAndPort) {
  auto nonce = Str(factory_.Make(client_, kNow));
  EXPECT_EQ(factory_.Verify(nonce, Addr("198.51.100.7:40001"), kNow), NonceCheck::kForged);
  EXPECT_EQ(factory_.Verify(nonce, Addr("198.51.100.8:40000"), kNow), NonceCheck::kForged);
  EXPECT_EQ(factory_.Verify(nonce, Addr("[::ffff:198.51.100.7]:40000"), kNow), NonceCheck::kForged);
  // A stale nonce from another address is forged, not stale: nothing about it is trusted.
  EXPECT_EQ(factory_.Verify(nonce, Addr("198.51.100.8:40000"), kNow + 10 * kLifetime),
            NonceCheck::kForged);
  auto v6 = Addr("[2001:db8::1]:3478");
  auto nonce6 = Str(factory_.Make(v6, kNow));
  EXPECT_EQ(factory_.Verify(nonce6, v6, kNow), NonceCheck::kValid);
  EXPECT_EQ(factory_.Verify(nonce6, Addr("[2001:db8::2]:3478"), kNow), NonceCheck::kForged);
}

TEST_F(NonceTest, GarbageIsForged) {
  auto good = Str(factory_.Make(client_, kNow));
  std::string almost = good;
  almost.back() = almost.back() == 'A' ? 'B' : 'A';
  std::string bad_char = good;
  bad_char[5] = '=';
  std::string with_nul = good;
  with_nul[10] = '\0';
  std::string flipped_time = good;
  flipped_time[0] = flipped_time[0] == 'A' ? 'B' : 'A';
  for (const std::string& n :
       {std::string(), std::string("x"), good.substr(0, 31), good + "A", good + good, almost,
        bad_char, with_nul, flipped_time, std::string(32, 'A'), std::string(32, '0'),
        std::string(32, '"'), std::string(1000, 'A'),
        std::string("0123456789abcdef0123456789abcdef")}) {
    EXPECT_EQ(factory_.Verify(n, client_, kNow), NonceCheck::kForged) << n;
  }
}

TEST_F(NonceTest, FactoriesWithDifferentKeysDisagree) {
  auto other_key = Key(2);
  NonceFactory other(other_key, kLifetime);
  auto a = Str(factory_.Make(client_, kNow));
  auto b = Str(other.Make(client_, kNow));
  EXPECT_NE(a, b);
  EXPECT_EQ(other.Verify(a, client_, kNow), NonceCheck::kForged);
  EXPECT_EQ(factory_.Verify(b, client_, kNow), NonceCheck::kForged);
  NonceFactory same(key_, kLifetime);
  EXPECT_EQ(same.Verify(a, client_, kNow), NonceCheck::kValid);
}

TEST_F(NonceTest, DifferentTimesGiveDifferentNonces) {
  EXPECT_NE(Str(factory_.Make(client_, kNow)), Str(factory_.Make(client_, kNow + 1)));
  EXPECT_EQ(Str(factory_.Make(client_, kNow)), Str(factory_.Make(client_, kNow)));
}

TEST_F(NonceTest, LongKeysAreHashedAndGeneratedKeysWork) {
  std::array<uint8_t, 100> long_key{};
  long_key.fill(7);
  NonceFactory f(long_key, kLifetime);
  auto n = Str(f.Make(client_, kNow));
  EXPECT_EQ(f.Verify(n, client_, kNow), NonceCheck::kValid);

  std::array<uint8_t, 32> k1{}, k2{};
  ASSERT_TRUE(NonceFactory::GenerateKey(k1));
  ASSERT_TRUE(NonceFactory::GenerateKey(k2));
  EXPECT_NE(k1, k2);
  NonceFactory g(k1, kLifetime);
  EXPECT_EQ(g.Verify(Str(g.Make(client_, kNow)), client_, kNow), NonceCheck::kValid);
}

TEST_F(NonceTest, SurvivesThe32BitTimeWrap) {
  const int64_t wrap = int64_t{1} << 32;
  auto n = Str(factory_.Make(client_, wrap - 10));
  EXPECT_EQ(factory_.Verify(n, client_, wrap + 5), NonceCheck::kValid);
  EXPECT_EQ(factory_.Verify(n, client_, wrap + kLifetime), NonceCheck::kStale);
}

TEST_F(NonceTest, CheckNames) {
  EXPECT_STREQ(NonceCheckName(NonceCheck::kValid), "valid");
  EXPECT_STREQ(NonceCheckName(NonceCheck::kStale), "stale");
  EXPECT_STREQ(NonceCheckName(NonceCheck::kForged), "forged");
}

}  // namespace
}  // namespace cv::turn
