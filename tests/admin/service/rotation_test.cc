#include "admin/service/rotation.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "admin/service/key_ring.h"
#include "admin/token/jwt.h"
#include "tests/support/process.h"

namespace cv::admin {
namespace {

constexpr int64_t kNow = 1794297600;
constexpr int64_t kOverlap = 3600;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The permission bits of `path`, or -1 when it does not exist.
int ModeOf(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

std::vector<std::string> Kids(const KeyRing& ring) {
  std::vector<std::string> kids;
  for (const token::VerifyKey& k : ring.verify) kids.push_back(k.kid);
  return kids;
}

// Names in the directory, but for temporary files nothing should leave behind.
std::set<std::string> Files(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

class KeyRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    auto ring = LoadKeyRing(key_file_, {}, /*create_missing=*/true, kNow, &error);
    ASSERT_TRUE(ring) << error;
    ring_ = std::move(*ring);
  }

  std::string Retired(int64_t not_after) const {
    return key_file_ + ".retired." + std::to_string(not_after);
  }

  std::string Token(const token::SigningKey& key, int64_t iat) const {
    return token::SignJwt({{"sub", "alice"}, {"iat", iat}, {"exp", iat + 300}}, key);
  }

  // "ok", or the reason the ring refuses `jwt` at `now`.
  std::string Verify(const std::string& jwt, int64_t now) const {
    token::TokenError error = token::TokenError::kNone;
    token::VerifyOptions options;
    options.now = now;
    auto verified = token::VerifyJwt(jwt, ring_.verify, options, &error);
    return verified ? "ok" : token::TokenErrorName(error);
  }

  testing::TempDir dir_;
  std::string key_file_ = dir_.path() + "/token.key";
  KeyRing ring_{token::SigningKey{"", *token::Ed25519Key::Generate(nullptr)}, {}, {}};
};

TEST_F(KeyRotationTest, RotatingTwiceKeepsThreeKeysAndTheRetiredFilesPrivate) {
  const std::string first = ring_.signing.kid;
  std::string error;
  auto second = RotateTokenKey(key_file_, kOverlap, kNow, &ring_, &error);
  ASSERT_TRUE(second) << error;
  auto third = RotateTokenKey(key_file_, kOverlap, kNow + 10, &ring_, &error);
  ASSERT_TRUE(third) << error;

  EXPECT_EQ(ring_.signing.kid, *third);
  EXPECT_EQ(Kids(ring_), (std::vector<std::string>{*third, *second, first}));
  EXPECT_EQ(ring_.not_after, (std::map<std::string, int64_t, std::less<>>{
                                 {first, kNow + kOverlap}, {*second, kNow + 10 + kOverlap}}));
  EXPECT_EQ(ModeOf(key_file_), 0600);
  EXPECT_EQ(ModeOf(Retired(kNow + kOverlap)), 0600);
  EXPECT_EQ(ModeOf(Retired(kNow + 10 + kOverlap)), 0600);
  EXPECT_EQ(
      Files(dir_.path()),
      (std::set<std::string>{"token.key", "token.key.retired." + std::to_string(kNow + kOverlap),
                             "token.key.retired." + std::to_string(kNow + 10 + kOverlap)}));
  // The file holds the key that signs now.
  auto on_disk = token::Ed25519Key::LoadPem(key_file_, &error);
  ASSERT_TRUE(on_disk) << error;
  EXPECT_EQ(token::JwkThumbprint(on_disk->PublicKey()), *third);
}

TEST_F(KeyRotationTest, TwoRotationsInOneSecondGetDistinctRetiredFiles) {
  const std::string first = ring_.signing.kid;
  std::string error;
  auto second = RotateTokenKey(key_file_, kOverlap, kNow, &ring_, &error);
  ASSERT_TRUE(second) << error;
  ASSERT_TRUE(RotateTokenKey(key_file_, kOverlap, kNow, &ring_, &error)) << error;
  EXPECT_EQ(ring_.verify.size(), 3u);
  // The second one ends a second later rather than replacing the first's file.
  EXPECT_EQ(ring_.not_after.at(first), kNow + kOverlap);
  EXPECT_EQ(ring_.not_after.at(*second), kNow + kOverlap + 1);
  EXPECT_EQ(ModeOf(Retired(kNow + kOverlap)), 0600);
  EXPECT_EQ(ModeOf(Retired(kNow + kOverlap + 1)), 0600);
}

TEST_F(KeyRotationTest, LoadKeyRingAfterRotationGivesTheSameRing) {
  std::string error;
  ASSERT_TRUE(RotateTokenKey(key_file_, kOverlap, kNow, &ring_, &error)) << error;
  ASSERT_TRUE(RotateTokenKey(key_file_, 2 * kOverlap, kNow + 60, &ring_, &error)) << error;

  auto loaded = LoadKeyRing(key_file_, {}, /*create_missing=*/false, kNow + 120, &error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(loaded->signing.kid, ring_.signing.kid);
  EXPECT_EQ(loaded->signing.key.PublicKey(), ring_.signing.key.PublicKey());
  EXPECT_EQ(Kids(*loaded), Kids(ring_));
  for (size_t i = 0; i < ring_.verify.size(); ++i) {
    EXPECT_EQ(loaded->verify[i].public_key, ring_.verify[i].public_key);
  }
  EXPECT_EQ(loaded->not_after, ring_.not_after);
}

TEST_F(KeyRotationTest, LoadKeyRingSkipsRetiredKeysPastTheirTime) {
  const std::string first = ring_.signing.kid;
  std::string error;
  auto second = RotateTokenKey(key_file_, 100, kNow, &ring_, &error);
  ASSERT_TRUE(second) << error;
  ASSERT_TRUE(RotateTokenKey(key_file_, 1000, kNow, &ring_, &error)) << error;

  auto loaded = LoadKeyRing(key_file_, {}, /*create_missing=*/false, kNow + 100, &error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(Kids(*loaded), (std::vector<std::string>{ring_.signing.kid, *second}));
  EXPECT_EQ(loaded->not_after.count(first), 0u);
  // LoadKeyRing reads; deleting the stale file is PruneKeyRing's job.
  EXPECT_EQ(ModeOf(Retired(kNow + 100)), 0600);
  EXPECT_FALSE(PruneKeyRing(key_file_, kNow + 100, &*loaded));
  EXPECT_EQ(ModeOf(Retired(kNow + 100)), -1);
  EXPECT_EQ(ModeOf(Retired(kNow + 1000)), 0600);
}

TEST_F(KeyRotationTest, VerifyOnlyKeysStayWithoutAnEnd) {
  std::string error;
  auto extra = token::Ed25519Key::Generate(&error);
  ASSERT_TRUE(extra);
  const std::string extra_file = dir_.path() + "/old.key";
  ASSERT_TRUE(extra->SavePem(extra_file, &error)) << error;
  const std::string extra_kid = token::JwkThumbprint(extra->PublicKey());

  auto ring = LoadKeyRing(key_file_, {extra_file}, false, kNow, &error);
  ASSERT_TRUE(ring) << error;
  ring_ = std::move(*ring);
  const std::string first = ring_.signing.kid;
  ASSERT_TRUE(RotateTokenKey(key_file_, kOverlap, kNow, &ring_, &error)) << error;
  EXPECT_EQ(Kids(ring_), (std::vector<std::string>{ring_.signing.kid, first, extra_kid}));

  auto loaded = LoadKeyRing(key_file_, {extra_file}, false, kNow, &error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(Kids(*loaded), Kids(ring_));
  EXPECT_EQ(loaded->not_after, ring_.not_after);

  EXPECT_TRUE(PruneKeyRing(key_file_, kNow + kOverlap, &ring_));
  EXPECT_EQ(Kids(ring_), (std::vector<std::string>{ring_.signing.kid, extra_kid}));
}

TEST_F(KeyRotationTest, ATokenOfTheOldKeyVerifiesUntilPruned) {
  const std::string old_token = Token(ring_.signing, kNow);
  ASSERT_FALSE(old_token.empty());
  EXPECT_EQ(Verify(old_token, kNow + 1), "ok");

  std::string error;
  ASSERT_TRUE(RotateTokenKey(key_file_, kOverlap, kNow + 1, &ring_, &error)) << error;
  EXPECT_EQ(Verify(old_token, kNow + 2), "ok");
  const std::string new_token = Token(ring_.signing, kNow + 2);
  EXPECT_EQ(Verify(new_token, kNow + 3), "ok");

  // Before its time nothing changes.
  EXPECT_FALSE(PruneKeyRing(key_file_, kNow + kOverlap, &ring_));
  EXPECT_EQ(ring_.verify.size(), 2u);
  EXPECT_EQ(ModeOf(Retired(kNow + 1 + kOverlap)), 0600);

  EXPECT_TRUE(PruneKeyRing(key_file_, kNow + 1 + kOverlap, &ring_));
  EXPECT_EQ(Kids(ring_), std::vector<std::string>{ring_.signing.kid});
  EXPECT_TRUE(ring_.not_after.empty());
  EXPECT_EQ(ModeOf(Retired(kNow + 1 + kOverlap)), -1);
  EXPECT_EQ(Files(dir_.path()), std::set<std::string>{"token.key"});
  EXPECT_EQ(Verify(old_token, kNow + 2), "unknown_key");
  EXPECT_EQ(Verify(new_token, kNow + 3), "ok");
  EXPECT_FALSE(PruneKeyRing(key_file_, kNow + 2 + kOverlap, &ring_));
}

TEST_F(KeyRotationTest, NoOverlapRetiresTheOldKeyAtOnce) {
  const std::string old_token = Token(ring_.signing, kNow);
  std::string error;
  auto next = RotateTokenKey(key_file_, 0, kNow, &ring_, &error);
  ASSERT_TRUE(next) << error;
  EXPECT_EQ(Kids(ring_), std::vector<std::string>{*next});
  EXPECT_TRUE(ring_.not_after.empty());
  EXPECT_EQ(Files(dir_.path()), std::set<std::string>{"token.key"});
  EXPECT_EQ(Verify(old_token, kNow + 1), "unknown_key");

  EXPECT_FALSE(RotateTokenKey(key_file_, -1, kNow, &ring_, &error));
  EXPECT_EQ(ring_.signing.kid, *next);
}

TEST_F(KeyRotationTest, AFailedRotationChangesNothing) {
  const std::string before_kid = ring_.signing.kid;
  const std::vector<std::string> before = Kids(ring_);
  std::string error;
  const std::string elsewhere = dir_.path() + "/missing/token.key";
  EXPECT_FALSE(RotateTokenKey(elsewhere, kOverlap, kNow, &ring_, &error));
  EXPECT_NE(error.find(dir_.path() + "/missing/"), std::string::npos) << error;
  EXPECT_EQ(ring_.signing.kid, before_kid);
  EXPECT_EQ(Kids(ring_), before);
  EXPECT_TRUE(ring_.not_after.empty());
  EXPECT_EQ(Files(dir_.path()), std::set<std::string>{"token.key"});
}

TEST_F(KeyRotationTest, LoadKeyRingRefusesARetiredFileOthersCanRead) {
  std::string error;
  ASSERT_TRUE(RotateTokenKey(key_file_, kOverlap, kNow, &ring_, &error)) << error;
  ASSERT_EQ(chmod(Retired(kNow + kOverlap).c_str(), 0644), 0);
  EXPECT_FALSE(LoadKeyRing(key_file_, {}, false, kNow, &error));
  EXPECT_NE(error.find(Retired(kNow + kOverlap)), std::string::npos) << error;
}

class TurnRotationTest : public ::testing::Test {
 protected:
  // A private secrets file with `text`.
  std::string Secrets(const std::string& text) {
    const std::string path = dir_.Write("secrets", text);
    EXPECT_EQ(chmod(path.c_str(), 0600), 0);
    return path;
  }

  testing::TempDir dir_;
};

TEST_F(TurnRotationTest, TheNewSecretComesFirstAndOldOnesEndAfterTheOverlap) {
  const std::string path =
      Secrets(std::string("# operator's file\n") + "open    open-secret-0123456789\n" +
              "later   later-secret-0123456789 " + std::to_string(kNow + 10 * kOverlap) + "\n" +
              "sooner  sooner-secret-0123456789 " + std::to_string(kNow + 60) + "\n" +
              "ending  ending-secret-0123456789 " + std::to_string(kNow) + "\n" +
              "gone    gone-secret-0123456789 " + std::to_string(kNow - 1) + "\n");
  std::string error;
  auto rotation = RotateTurnSecret(path, kOverlap, kNow, &error);
  ASSERT_TRUE(rotation) << error;

  EXPECT_EQ(rotation->key_id, "k" + std::to_string(kNow));
  const std::vector<auth::Secret>& s = rotation->secrets;
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0].key_id, rotation->key_id);
  EXPECT_EQ(s[0].value.size(), 64u);
  EXPECT_EQ(s[0].value.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(s[0].not_after, 0);
  EXPECT_EQ(s[1], (auth::Secret{"open", "open-secret-0123456789", kNow + kOverlap}));
  EXPECT_EQ(s[2], (auth::Secret{"later", "later-secret-0123456789", kNow + kOverlap}));
  EXPECT_EQ(s[3], (auth::Secret{"sooner", "sooner-secret-0123456789", kNow + 60}));
  EXPECT_EQ(s[4], (auth::Secret{"ending", "ending-secret-0123456789", kNow}));

  // The file is what cvrelay reads: private, parsable, the same secrets in the same order.
  EXPECT_EQ(ModeOf(path), 0600);
  auto loaded = auth::LoadSecretsFile(path, &error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(*loaded, s);
  EXPECT_EQ(ReadFile(path).rfind("# ", 0), 0u);
  EXPECT_EQ(auth::PickSecret(*loaded, "", kNow)->key_id, rotation->key_id);
  EXPECT_EQ(Files(dir_.path()), std::set<std::string>{"secrets"});
}

TEST_F(TurnRotationTest, ASecondRotationInTheSameSecondGetsADistinctKeyId) {
  const std::string path = Secrets("old old-secret-0123456789\n");
  std::string error;
  auto first = RotateTurnSecret(path, kOverlap, kNow, &error);
  ASSERT_TRUE(first) << error;
  auto second = RotateTurnSecret(path, kOverlap, kNow, &error);
  ASSERT_TRUE(second) << error;
  EXPECT_NE(second->key_id, first->key_id);
  EXPECT_EQ(second->key_id, "k" + std::to_string(kNow) + "-2");
  EXPECT_NE(second->secrets[0].value, first->secrets[0].value);

  auto loaded = auth::LoadSecretsFile(path, &error);
  ASSERT_TRUE(loaded) << error;
  ASSERT_EQ(loaded->size(), 3u);
  EXPECT_EQ((*loaded)[0].key_id, second->key_id);
  EXPECT_EQ((*loaded)[1].key_id, first->key_id);
  EXPECT_EQ((*loaded)[1].not_after, kNow + kOverlap);
  EXPECT_EQ((*loaded)[2].key_id, "old");
  EXPECT_EQ((*loaded)[2].not_after, kNow + kOverlap);
}

TEST_F(TurnRotationTest, ALaterRotationDropsSecretsPastTheirEnd) {
  const std::string path = Secrets("old old-secret-0123456789\n");
  std::string error;
  auto first = RotateTurnSecret(path, 60, kNow, &error);
  ASSERT_TRUE(first) << error;
  auto second = RotateTurnSecret(path, 60, kNow + 61, &error);
  ASSERT_TRUE(second) << error;
  ASSERT_EQ(second->secrets.size(), 2u);
  EXPECT_EQ(second->secrets[0].key_id, "k" + std::to_string(kNow + 61));
  EXPECT_EQ(second->secrets[1].key_id, first->key_id);
  EXPECT_EQ(second->secrets[1].not_after, kNow + 121);
}

TEST_F(TurnRotationTest, AnUnparsableFileIsLeftAsItWasAndItsSecretUnquoted) {
  const std::string text =
      "good good-secret-0123456789\n"
      "bad! leaked-secret-0123456789\n";
  const std::string path = Secrets(text);
  std::string error;
  EXPECT_FALSE(RotateTurnSecret(path, kOverlap, kNow, &error));
  EXPECT_NE(error.find(path + ":2:"), std::string::npos) << error;
  EXPECT_EQ(error.find("secret-0123456789"), std::string::npos) << error;
  EXPECT_EQ(ReadFile(path), text);
  EXPECT_EQ(Files(dir_.path()), std::set<std::string>{"secrets"});
}

TEST_F(TurnRotationTest, AFileOthersCanReadIsRefusedAndLeftAsItWas) {
  const std::string text = "good good-secret-0123456789\n";
  const std::string path = Secrets(text);
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  std::string error;
  EXPECT_FALSE(RotateTurnSecret(path, kOverlap, kNow, &error));
  EXPECT_NE(error.find("chmod 600"), std::string::npos) << error;
  EXPECT_EQ(error.find("good-secret"), std::string::npos) << error;
  EXPECT_EQ(ReadFile(path), text);
  EXPECT_EQ(ModeOf(path), 0644);
}

TEST_F(TurnRotationTest, AMissingFileIsAnError) {
  std::string error;
  EXPECT_FALSE(RotateTurnSecret(dir_.path() + "/none", kOverlap, kNow, &error));
  EXPECT_NE(error.find(dir_.path() + "/none: "), std::string::npos) << error;
  EXPECT_TRUE(Files(dir_.path()).empty());
}

TEST_F(TurnRotationTest, ANegativeOverlapIsRefused) {
  const std::string text = "good good-secret-0123456789\n";
  const std::string path = Secrets(text);
  std::string error;
  EXPECT_FALSE(RotateTurnSecret(path, -1, kNow, &error));
  EXPECT_FALSE(error.empty());
  EXPECT_EQ(ReadFile(path), text);
}

}  // namespace
}  // namespace cv::admin
