#include "admin/token/base64url.h"

#include <gtest/gtest.h>

#include <string>

namespace cv::token {
namespace {

class Base64UrlTest : public ::testing::Test {
 protected:
  static std::string AllBytes() {
    std::string s;
    for (int i = 0; i < 256; ++i) s += static_cast<char>(i);
    return s;
  }
};

// RFC 4648 §10; the url alphabet only differs in characters these vectors do not use, and the
// '=' padding is dropped (RFC 7515 §2).
TEST_F(Base64UrlTest, EncodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
}

TEST_F(Base64UrlTest, DecodesRfc4648VectorsWithoutPadding) {
  EXPECT_EQ(Base64UrlDecode(""), "");
  EXPECT_EQ(Base64UrlDecode("Zg"), "f");
  EXPECT_EQ(Base64UrlDecode("Zm8"), "fo");
  EXPECT_EQ(Base64UrlDecode("Zm9v"), "foo");
  EXPECT_EQ(Base64UrlDecode("Zm9vYg"), "foob");
  EXPECT_EQ(Base64UrlDecode("Zm9vYmE"), "fooba");
  EXPECT_EQ(Base64UrlDecode("Zm9vYmFy"), "foobar");
}

TEST_F(Base64UrlTest, UsesDashAndUnderscoreForValues62And63) {
  // Standard base64 of these bytes is "+/8=" and "----" would be "++++".
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64UrlEncode("\xfb\xef\xbe"), "----");
  EXPECT_EQ(Base64UrlEncode("\xff\xff\xff"), "____");
  EXPECT_EQ(Base64UrlDecode("-_8"), "\xfb\xff");
  EXPECT_EQ(Base64UrlDecode("____"), "\xff\xff\xff");
}

TEST_F(Base64UrlTest, RoundTripsEveryByteValueAtEveryTailLength) {
  const std::string all = AllBytes();
  for (size_t n = 0; n <= all.size(); n += 1) {
    const std::string bytes = all.substr(all.size() - n);
    const std::string text = Base64UrlEncode(bytes);
    EXPECT_EQ(text.size(), (n * 4 + 2) / 3) << n;
    EXPECT_EQ(Base64UrlDecode(text), bytes) << n;
  }
}

TEST_F(Base64UrlTest, RefusesPadding) {
  EXPECT_EQ(Base64UrlDecode("Zg=="), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zg="), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm8="), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("===="), std::nullopt);
}

TEST_F(Base64UrlTest, RefusesWhitespace) {
  EXPECT_EQ(Base64UrlDecode("Zm9v "), std::nullopt);
  EXPECT_EQ(Base64UrlDecode(" Zm9v"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm 9v"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9v\n"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9v\r\nYmFy"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9v\tYmFy"), std::nullopt);
}

TEST_F(Base64UrlTest, RefusesStandardAlphabetPlusAndSlash) {
  EXPECT_EQ(Base64UrlDecode("+/8"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("++++"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("////"), std::nullopt);
}

TEST_F(Base64UrlTest, RefusesOtherBytes) {
  EXPECT_EQ(Base64UrlDecode("Zm9."), std::nullopt);
  EXPECT_EQ(Base64UrlDecode(std::string("Zm\0v", 4)), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9\x80"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9\xff"), std::nullopt);
}

TEST_F(Base64UrlTest, RefusesLengthOneModFour) {
  EXPECT_EQ(Base64UrlDecode("Z"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9vY"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9vYmFyZ"), std::nullopt);
}

TEST_F(Base64UrlTest, RefusesNonZeroUnusedBits) {
  // "Zg" is "f" (4 unused bits); "Zh".."Zv" would decode to "f" too if the low bits were ignored.
  EXPECT_EQ(Base64UrlDecode("Zh"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zv"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Z_"), std::nullopt);
  // "Zm8" is "fo" (2 unused bits).
  EXPECT_EQ(Base64UrlDecode("Zm9"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm-"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9vYmF"), std::nullopt);
}

TEST_F(Base64UrlTest, GivesEachByteStringExactlyOneSpelling) {
  // Every 2- and 3-character text either fails or re-encodes to itself.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  int accepted = 0;
  for (char a : alphabet) {
    for (char b : alphabet) {
      const std::string text = {a, b};
      auto bytes = Base64UrlDecode(text);
      if (!bytes) continue;
      ++accepted;
      EXPECT_EQ(Base64UrlEncode(*bytes), text);
    }
  }
  EXPECT_EQ(accepted, 256);
}

}  // namespace
}  // namespace cv::token
