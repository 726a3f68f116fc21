// Replays the token fuzz target over its seed corpus, and over tokens and signed requests made
// with the target's own key (which must verify without tripping an invariant), in every build.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "admin/token/ed25519.h"
#include "admin/token/jwt.h"
#include "admin/token/signed_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int RunTarget(const std::string& input) {
  return LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

TEST(TokenCorpusTest, EverySeedRunsThroughTheTarget) {
  size_t seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CV_TOKEN_CORPUS_DIR)) {
    std::ifstream file(entry.path(), std::ios::binary);
    EXPECT_EQ(RunTarget(std::string((std::istreambuf_iterator<char>(file)),
                                    std::istreambuf_iterator<char>())),
              0)
        << entry.path();
    ++seeds;
  }
  EXPECT_GE(seeds, 4u);
}

TEST(TokenCorpusTest, GenuineTokensAndRequestsRunThroughTheTarget) {
  auto key = cv::token::Ed25519Key::FromSeed(
      std::string("\x9d\x61\xb1\x9d\xef\xfd\x5a\x60\xba\x84\x4a\xf4\x92\xec\x2c\xc4"
                  "\x44\x49\xc5\x69\x7b\x32\x69\x19\x70\x3b\xac\x03\x1c\xae\x7f\x60",
                  32),
      nullptr);
  ASSERT_TRUE(key);
  const std::string token =
      cv::token::SignJwt({{"sub", "alice"}, {"iat", 1'700'000'000}, {"exp", 1'700'000'300}},
                         {cv::token::JwkThumbprint(key->PublicKey()), *key});
  EXPECT_EQ(RunTarget(token), 0);
  auto sig = cv::token::SignRequest(*key, "alice", 1'700'000'000, "nonce-0123456789ab", "POST",
                                    "/v1/call-sessions", "{}");
  EXPECT_EQ(
      RunTarget(sig.user + "\n" + sig.timestamp + "\n" + sig.nonce + "\n" + sig.signature + "\n{}"),
      0);
}

}  // namespace
