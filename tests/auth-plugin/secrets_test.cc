#include "cv/auth/secrets.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace cv::auth {
namespace {

constexpr char kSecretA[] = "a-very-long-secret-0001";
constexpr char kSecretB[] = "b-very-long-secret-0002";

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "secrets_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : files_) ::unlink(f.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string WriteFile(const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = dir_ + "/" + name;
    std::FILE* f = std::fopen(path.c_str(), "w");
    EXPECT_NE(f, nullptr);
    if (f == nullptr) return path;
    std::fwrite(text.data(), 1, text.size(), f);
    std::fclose(f);
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    files_.push_back(path);
    return path;
  }
  // ParseSecretsFile must refuse `text` with "test.secrets:<line>: …", quoting no secret.
  static std::string ExpectError(const std::string& text, int line) {
    std::string error;
    EXPECT_FALSE(ParseSecretsFile(text, "test.secrets", &error)) << text;
    const std::string prefix = "test.secrets:" + std::to_string(line) + ": ";
    EXPECT_EQ(error.substr(0, prefix.size()), prefix) << error;
    EXPECT_EQ(error.find("very-long-secret"), std::string::npos) << error;
    EXPECT_EQ(error.find("tinysecret"), std::string::npos) << error;
    return error;
  }

  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(SecretsTest, ParsesAGoodFile) {
  std::string error;
  auto secrets =
      ParseSecretsFile(std::string("2026b ") + kSecretB + " 1798761600\n2026a\t" + kSecretA + "\n",
                       "test.secrets", &error);
  ASSERT_TRUE(secrets) << error;
  ASSERT_EQ(secrets->size(), 2u);
  EXPECT_EQ((*secrets)[0], (Secret{"2026b", kSecretB, 1798761600}));
  EXPECT_EQ((*secrets)[1], (Secret{"2026a", kSecretA, 0}));
}

TEST_F(SecretsTest, SkipsCommentsBlankLinesAndCarriageReturns) {
  const std::string text = std::string("# rotated 2026-01-01\n\n   \n\t# indented comment\n") +
                           "  k1   " + kSecretA + "   # current\r\n" + "k2 " + kSecretB +
                           " 1798761600 # retiring\n" +
                           "k3 with#hash-in-the-secret\n";  // '#' inside a secret is kept
  std::string error;
  auto secrets = ParseSecretsFile(text, "test.secrets", &error);
  ASSERT_TRUE(secrets) << error;
  ASSERT_EQ(secrets->size(), 3u);
  EXPECT_EQ((*secrets)[0], (Secret{"k1", kSecretA, 0}));
  EXPECT_EQ((*secrets)[1], (Secret{"k2", kSecretB, 1798761600}));
  EXPECT_EQ((*secrets)[2].value, "with#hash-in-the-secret");
  // No trailing newline is fine too.
  EXPECT_TRUE(ParseSecretsFile(std::string("k1 ") + kSecretA, "test.secrets", &error));
}

TEST_F(SecretsTest, EachErrorNamesTheLineAndNotTheSecret) {
  const std::string good = std::string("ok ") + kSecretA + "\n";
  EXPECT_NE(ExpectError(good + "bad.kid " + kSecretB + "\n", 2).find("key id"), std::string::npos);
  ExpectError(good + "# c\n" + std::string(17, 'k') + " " + kSecretB + "\n", 3);
  // A line with only the secret: it is taken for a key id, and must not be quoted either.
  ExpectError(good + "a-very-long-secret-0003\n", 2);
  ExpectError(good + "k2\n", 2);
  ExpectError(good + "k2   # the secret is missing\n", 2);
  ExpectError("k1 tinysecret\n", 1);
  ExpectError(good + "k2 " + kSecretB + " soon\n", 2);
  ExpectError(good + "k2 " + kSecretB + " 0\n", 2);
  ExpectError(good + "k2 " + kSecretB + " -5\n", 2);
  ExpectError(good + "k2 " + kSecretB + " 99999999999999999999\n", 2);
  ExpectError(good + "k2 " + kSecretB + " 1798761600 extra-very-long-secret\n", 2);
  ExpectError(good + "k2 " + std::string("a-very-long-secret\x01-0004") + "\n", 2);
}

TEST_F(SecretsTest, DuplicateKeyIdIsRefused) {
  const std::string error = ExpectError(std::string("k1 ") + kSecretA + "\n\nk1 " + kSecretB, 3);
  EXPECT_NE(error.find("'k1'"), std::string::npos) << error;
  EXPECT_NE(error.find("line 1"), std::string::npos) << error;
}

TEST_F(SecretsTest, EmptyFileIsRefused) {
  std::string error;
  EXPECT_FALSE(ParseSecretsFile("", "test.secrets", &error));
  EXPECT_EQ(error, "test.secrets: no secret in the file");
  EXPECT_FALSE(ParseSecretsFile("# only a comment\n\n", "test.secrets", &error));
  EXPECT_EQ(error, "test.secrets: no secret in the file");
}

TEST_F(SecretsTest, RetiredSecretsAreNotPicked) {
  const std::vector<Secret> secrets = {
      {"old", kSecretA, 1000}, {"new", kSecretB, 0}, {"", "static-secret", 0}};
  EXPECT_TRUE(secrets[0].ActiveAt(999));
  EXPECT_TRUE(secrets[0].ActiveAt(1000));
  EXPECT_FALSE(secrets[0].ActiveAt(1001));
  EXPECT_TRUE(secrets[1].ActiveAt(INT64_MAX));

  EXPECT_EQ(PickSecret(secrets, "", 1000), &secrets[0]);
  EXPECT_EQ(PickSecret(secrets, "", 1001), &secrets[1]);
  EXPECT_EQ(PickSecret(secrets, "old", 1000), &secrets[0]);
  EXPECT_EQ(PickSecret(secrets, "old", 1001), nullptr);
  EXPECT_EQ(PickSecret(secrets, "new", 1001), &secrets[1]);
  EXPECT_EQ(PickSecret(secrets, "nope", 1001), nullptr);
  EXPECT_EQ(PickSecret({{"old", kSecretA, 1000}}, "", 1001), nullptr);
  EXPECT_EQ(PickSecret({}, "", 0), nullptr);
}

TEST_F(SecretsTest, LoadsAPrivateFile) {
  const std::string path = WriteFile("ok.secrets", std::string("k1 ") + kSecretA + "\n", 0600);
  std::string error;
  auto secrets = LoadSecretsFile(path, &error);
  ASSERT_TRUE(secrets) << error;
  ASSERT_EQ(secrets->size(), 1u);
  EXPECT_EQ((*secrets)[0].value, kSecretA);

  // Errors name the file by its path.
  const std::string bad = WriteFile("bad.secrets", "k1 tinysecret\n", 0400);
  EXPECT_FALSE(LoadSecretsFile(bad, &error));
  EXPECT_EQ(error.rfind(bad + ":1: ", 0), 0u) << error;
}

TEST_F(SecretsTest, RefusesAFileOthersCanRead) {
  for (mode_t mode : {0644, 0640, 0604, 0620, 0660}) {
    const std::string path = WriteFile("open.secrets", std::string("k1 ") + kSecretA + "\n", mode);
    std::string error;
    EXPECT_FALSE(LoadSecretsFile(path, &error)) << std::oct << mode;
    EXPECT_NE(error.find("chmod 600"), std::string::npos) << error;
    EXPECT_EQ(error.find(kSecretA), std::string::npos) << error;
    ::unlink(path.c_str());
  }
}

TEST_F(SecretsTest, MissingFileAndDirectoryAreErrors) {
  std::string error;
  EXPECT_FALSE(LoadSecretsFile(dir_ + "/absent", &error));
  EXPECT_EQ(error.rfind(dir_ + "/absent: ", 0), 0u) << error;
  EXPECT_FALSE(LoadSecretsFile(dir_, &error));
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
}

}  // namespace
}  // namespace cv::auth
