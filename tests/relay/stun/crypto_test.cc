#include "relay/stun/crypto.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace cv::stun {
namespace {

std::vector<uint8_t> FromHex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

template <size_t N>
std::vector<uint8_t> ToVector(const std::array<uint8_t, N>& a) {
  return {a.begin(), a.end()};
}

TEST(HmacSha1Test, MatchesRfc2202Vectors) {
  const std::vector<uint8_t> key1(20, 0x0b);
  EXPECT_EQ(ToVector(HmacSha1(key1, AsBytes("Hi There"))),
            FromHex("b617318655057264e28bc0b6fb378c8ef146be00"));
  EXPECT_EQ(ToVector(HmacSha1(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))),
            FromHex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"));
  const std::vector<uint8_t> long_key(80, 0xaa);
  EXPECT_EQ(ToVector(HmacSha1(long_key,
                              AsBytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            FromHex("aa4ae5e15272d00e95705637ce8a3b55ed402112"));
}

TEST(HmacSha1Test, TwoBuffersEqualOneBufferAtEverySplit) {
  const std::string_view message = "what do ya want for nothing?";
  const Sha1Digest whole = HmacSha1(AsBytes("Jefe"), AsBytes(message));
  for (size_t split = 0; split <= message.size(); ++split) {
    EXPECT_EQ(HmacSha1(AsBytes("Jefe"), AsBytes(message.substr(0, split)),
                       AsBytes(message.substr(split))),
              whole)
        << "split " << split;
  }
}

TEST(HmacSha1Test, EmptyKeyIsAnEmptyKeyNotThePreviousOne) {
  // OpenSSL reuses the previous key when given a null key pointer; an empty span must not.
  HmacSha1(AsBytes("some other key"), AsBytes("abc"));
  EXPECT_EQ(ToVector(HmacSha1({}, AsBytes("abc"))),
            FromHex("9b4a918f398d74d3e367970aba3cbe54e4d2b5d9"));
  HmacSha256(AsBytes("some other key"), AsBytes("abc"), {});
  EXPECT_EQ(ToVector(HmacSha256({}, AsBytes("abc"), {})),
            FromHex("fd7adb152c05ef80dccf50a1fa4c05d5a3ec6da95575fc312ae7c5d091836351"));
}

TEST(HmacSha256Test, MatchesRfc4231Vectors) {
  const std::vector<uint8_t> key1(20, 0x0b);
  EXPECT_EQ(ToVector(HmacSha256(key1, AsBytes("Hi There"), {})),
            FromHex("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
  EXPECT_EQ(
      ToVector(HmacSha256(AsBytes("Jefe"), AsBytes("what do ya want "), AsBytes("for nothing?"))),
      FromHex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
  const std::vector<uint8_t> long_key(131, 0xaa);
  EXPECT_EQ(ToVector(HmacSha256(long_key, AsBytes("Test Using Larger Than Block-Size Key - "),
                                AsBytes("Hash Key First"))),
            FromHex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
}

TEST(HmacTest, ThreadsComputingConcurrentlyGetTheirOwnResults) {
  const Sha1Digest expected1 = HmacSha1(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"));
  const Sha256Digest expected256 =
      HmacSha256(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"), {});
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        const std::string other_key = "key-" + std::to_string(t) + "-" + std::to_string(i);
        HmacSha1(AsBytes(other_key), AsBytes("noise"));
        if (HmacSha1(AsBytes("Jefe"), AsBytes("what do ya want for nothing?")) != expected1 ||
            HmacSha256(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"), {}) !=
                expected256) {
          ++failures[t];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

TEST(LongTermKeyMd5Test, IsMd5OfUsernameRealmPasswordJoinedByColons) {
  EXPECT_EQ(ToVector(LongTermKeyMd5("user", "realm", "pass")),
            FromHex("8493fbc53ba582fb4c044c456bdc40eb"));
  EXPECT_EQ(ToVector(LongTermKeyMd5("", "", "")), FromHex("4501c091b0366d76ea3218b6cfdd8097"));
}

TEST(LongTermKeyMd5Test, MatchesRfc5769LongTermSampleKey) {
  // RFC 5769 §2.4: username "<U+30DE><U+30C8><U+30EA><U+30C3><U+30AF><U+30B9>", realm
  // "example.org", password "TheMatrIX" (after SASLprep).
  EXPECT_EQ(
      ToVector(LongTermKeyMd5("\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9", "example.org", "TheMatrIX")),
      FromHex("e8ca7ad59d5eb0518e312911d2dab2a9"));
}

TEST(Crc32Test, MatchesIsoHdlcCheckValue) {
  EXPECT_EQ(Crc32(AsBytes("123456789")), 0xCBF43926u);
  EXPECT_EQ(Crc32({}), 0u);
  EXPECT_EQ(Crc32(AsBytes("The quick brown fox jumps over the lazy dog")), 0x414FA339u);
}

TEST(ConstantTimeEqualTest, ComparesContentAndLength) {
  const std::vector<uint8_t> a = {1, 2, 3, 4};
  const std::vector<uint8_t> b = {1, 2, 3, 4};
  const std::vector<uint8_t> c = {1, 2, 3, 5};
  const std::vector<uint8_t> shorter = {1, 2, 3};
  EXPECT_TRUE(ConstantTimeEqual(a, b));
  EXPECT_FALSE(ConstantTimeEqual(a, c));
  EXPECT_FALSE(ConstantTimeEqual(a, shorter));
  EXPECT_FALSE(ConstantTimeEqual(shorter, a));
  EXPECT_TRUE(ConstantTimeEqual({}, {}));
  EXPECT_FALSE(ConstantTimeEqual({}, a));
}

}  // namespace
}  // namespace cv::stun
