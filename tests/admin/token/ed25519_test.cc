#include "admin/token/ed25519.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace cv::token {
namespace {

std::string Hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

std::string ToHex(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

struct Vector {
  const char* name;
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 §7.1.
const Vector kVectors[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf"
     "9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f"
     "11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984"
     "dc6594a7c15e9716ed28dc027beceea1ec40a"},
    {"TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3f"
     "eebbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c6643"
     "1e0303dca179c138ac17ad9bef1177331a704"},
};

// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const std::string kOrderL =
    Hex("edd3f55c1a631258d69cf7a2def9de140000000000000000000000000000000000000000000000000000000000"
        "000010");

// S + L: a second encoding of the same scalar, which a verifier must refuse (RFC 8032 §5.1.7,
// "check the range 0 <= s < L") or the signature becomes malleable.
std::string AddOrderToS(std::string signature) {
  unsigned carry = 0;
  for (size_t i = 0; i < 32; ++i) {
    const unsigned sum = static_cast<unsigned char>(signature[32 + i]) +
                         static_cast<unsigned char>(kOrderL[i]) + carry;
    signature[32 + i] = static_cast<char>(sum & 0xFF);
    carry = sum >> 8;
  }
  return signature;
}

class Ed25519Test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::path(::testing::TempDir()) / "ed25519_test.XXXXXX");
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  std::string PathOf(const std::string& name) const { return (dir_ / name).string(); }

  static Ed25519Key KeyFromSeed(const char* seed_hex) {
    std::string error;
    auto key = Ed25519Key::FromSeed(Hex(seed_hex), &error);
    EXPECT_TRUE(key) << error;
    return *key;
  }

  static void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
    std::ofstream(path, std::ios::binary) << text;
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::filesystem::path dir_;
};

TEST_F(Ed25519Test, DerivesRfc8032PublicKeysFromSeeds) {
  for (const Vector& v : kVectors) {
    EXPECT_EQ(ToHex(KeyFromSeed(v.seed).PublicKey()), v.public_key) << v.name;
  }
}

TEST_F(Ed25519Test, ProducesRfc8032SignaturesByteForByte) {
  for (const Vector& v : kVectors) {
    EXPECT_EQ(ToHex(KeyFromSeed(v.seed).Sign(Hex(v.message))), v.signature) << v.name;
  }
}

TEST_F(Ed25519Test, VerifiesRfc8032Signatures) {
  for (const Vector& v : kVectors) {
    EXPECT_TRUE(Ed25519Verify(Hex(v.public_key), Hex(v.message), Hex(v.signature))) << v.name;
  }
}

TEST_F(Ed25519Test, FlippedBitInMessageFails) {
  for (const Vector& v : kVectors) {
    std::string message = Hex(v.message);
    if (message.empty()) {
      message = "x";  // TEST 1 signs the empty message: any extra byte changes it
    } else {
      message[0] ^= 0x01;
    }
    EXPECT_FALSE(Ed25519Verify(Hex(v.public_key), message, Hex(v.signature))) << v.name;
  }
}

TEST_F(Ed25519Test, FlippedBitAnywhereInSignatureFails) {
  const Vector& v = kVectors[2];
  const std::string signature = Hex(v.signature);
  for (size_t bit = 0; bit < signature.size() * 8; ++bit) {
    std::string flipped = signature;
    flipped[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    EXPECT_FALSE(Ed25519Verify(Hex(v.public_key), Hex(v.message), flipped)) << "bit " << bit;
  }
}

TEST_F(Ed25519Test, MalleatedSignatureWithSPlusOrderFails) {
  for (const Vector& v : kVectors) {
    const std::string malleated = AddOrderToS(Hex(v.signature));
    ASSERT_NE(malleated, Hex(v.signature));
    EXPECT_FALSE(Ed25519Verify(Hex(v.public_key), Hex(v.message), malleated)) << v.name;
  }
}

TEST_F(Ed25519Test, SignatureUnderAnotherKeyFails) {
  EXPECT_FALSE(Ed25519Verify(Hex(kVectors[1].public_key), Hex(kVectors[0].message),
                             Hex(kVectors[0].signature)));
}

TEST_F(Ed25519Test, WrongSizesFail) {
  const Vector& v = kVectors[1];
  const std::string pk = Hex(v.public_key), msg = Hex(v.message), sig = Hex(v.signature);
  EXPECT_FALSE(Ed25519Verify(pk.substr(0, 31), msg, sig));
  EXPECT_FALSE(Ed25519Verify(pk + '\0', msg, sig));
  EXPECT_FALSE(Ed25519Verify("", msg, sig));
  EXPECT_FALSE(Ed25519Verify(pk, msg, sig.substr(0, 63)));
  EXPECT_FALSE(Ed25519Verify(pk, msg, sig + '\0'));
  EXPECT_FALSE(Ed25519Verify(pk, msg, ""));
}

TEST_F(Ed25519Test, FromSeedRefusesWrongSize) {
  std::string error;
  EXPECT_FALSE(Ed25519Key::FromSeed(std::string(31, 'a'), &error));
  EXPECT_NE(error.find("32"), std::string::npos) << error;
  EXPECT_FALSE(Ed25519Key::FromSeed(std::string(33, 'a'), &error));
  EXPECT_FALSE(Ed25519Key::FromSeed("", nullptr));
}

TEST_F(Ed25519Test, GeneratedKeysAreDistinctAndSignVerifiably) {
  std::string error;
  auto a = Ed25519Key::Generate(&error);
  auto b = Ed25519Key::Generate(&error);
  ASSERT_TRUE(a && b) << error;
  EXPECT_EQ(a->PublicKey().size(), kEd25519PublicKeyBytes);
  EXPECT_NE(a->PublicKey(), b->PublicKey());
  const std::string sig = a->Sign("hello");
  ASSERT_EQ(sig.size(), kEd25519SignatureBytes);
  EXPECT_TRUE(Ed25519Verify(a->PublicKey(), "hello", sig));
  EXPECT_FALSE(Ed25519Verify(b->PublicKey(), "hello", sig));
}

TEST_F(Ed25519Test, PemSaveAndLoadRoundTripsTheKey) {
  const Ed25519Key key = KeyFromSeed(kVectors[0].seed);
  const std::string path = PathOf("signing.pem");
  std::string error;
  ASSERT_TRUE(key.SavePem(path, &error)) << error;

  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(ReadFile(path).rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0u);

  auto loaded = Ed25519Key::LoadPem(path, &error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(loaded->PublicKey(), key.PublicKey());
  EXPECT_EQ(ToHex(loaded->Sign("")), kVectors[0].signature);
}

TEST_F(Ed25519Test, LoadPemReadsOpenSslPkcs8Files) {
  // `openssl genpkey -algorithm ed25519` output for the TEST 1 seed: the PKCS#8 DER prefix
  // 302e020100300506032b657004220420 followed by the seed.
  const std::string path = PathOf("openssl.pem");
  WriteFile(path,
            "-----BEGIN PRIVATE KEY-----\n"
            "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
            "-----END PRIVATE KEY-----\n",
            0600);
  std::string error;
  auto key = Ed25519Key::LoadPem(path, &error);
  ASSERT_TRUE(key) << error;
  EXPECT_EQ(ToHex(key->PublicKey()), kVectors[0].public_key);
}

TEST_F(Ed25519Test, LoadPemRefusesAFileOthersCanRead) {
  const std::string path = PathOf("open.pem");
  std::string error;
  ASSERT_TRUE(KeyFromSeed(kVectors[0].seed).SavePem(path, &error)) << error;
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  EXPECT_FALSE(Ed25519Key::LoadPem(path, &error));
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_NE(error.find("chmod 600"), std::string::npos) << error;

  ASSERT_EQ(chmod(path.c_str(), 0640), 0);  // group alone is enough to refuse
  EXPECT_FALSE(Ed25519Key::LoadPem(path, &error));
  EXPECT_NE(error.find("chmod 600"), std::string::npos) << error;

  ASSERT_EQ(chmod(path.c_str(), 0400), 0);  // read-only for the owner is fine
  EXPECT_TRUE(Ed25519Key::LoadPem(path, &error)) << error;
}

TEST_F(Ed25519Test, SavePemRefusesAnExistingFile) {
  const std::string path = PathOf("exists.pem");
  WriteFile(path, "precious", 0600);
  std::string error;
  EXPECT_FALSE(KeyFromSeed(kVectors[0].seed).SavePem(path, &error));
  EXPECT_NE(error.find(path), std::string::npos) << error;
  EXPECT_EQ(ReadFile(path), "precious");
}

TEST_F(Ed25519Test, LoadPemRefusesAMissingFile) {
  std::string error;
  EXPECT_FALSE(Ed25519Key::LoadPem(PathOf("missing.pem"), &error));
  EXPECT_NE(error.find("missing.pem"), std::string::npos) << error;
}

TEST_F(Ed25519Test, LoadPemRefusesSomethingThatIsNotAKey) {
  const std::string path = PathOf("garbage.pem");
  WriteFile(path, "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n", 0600);
  std::string error;
  EXPECT_FALSE(Ed25519Key::LoadPem(path, &error));
  EXPECT_NE(error.find(path), std::string::npos) << error;

  const std::string empty = PathOf("empty.pem");
  WriteFile(empty, "", 0600);
  EXPECT_FALSE(Ed25519Key::LoadPem(empty, &error));
  EXPECT_FALSE(Ed25519Key::LoadPem(dir_.string(), &error));  // a directory
}

TEST_F(Ed25519Test, LoadPemRefusesAKeyOfAnotherType) {
  EVP_PKEY* x25519 = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  ASSERT_NE(x25519, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, x25519, nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  EVP_PKEY_free(x25519);

  const std::string path = PathOf("x25519.pem");
  WriteFile(path, pem, 0600);
  std::string error;
  EXPECT_FALSE(Ed25519Key::LoadPem(path, &error));
  EXPECT_NE(error.find("not an Ed25519 key"), std::string::npos) << error;
}

TEST_F(Ed25519Test, LoadPemRefusesAnEncryptedKeyWithoutPrompting) {
  const std::string seed = Hex(kVectors[0].seed);
  EVP_PKEY* pkey = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seed.data()), seed.size());
  ASSERT_NE(pkey, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  char pass[] = "passphrase";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(bio, pkey, EVP_aes_256_cbc(), pass, sizeof pass - 1,
                                          nullptr, nullptr),
            1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<size_t>(size));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  ASSERT_NE(pem.find("ENCRYPTED"), std::string::npos);

  const std::string path = PathOf("encrypted.pem");
  WriteFile(path, pem, 0600);
  std::string error;
  EXPECT_FALSE(Ed25519Key::LoadPem(path, &error));
  EXPECT_NE(error.find(path), std::string::npos) << error;
}

}  // namespace
}  // namespace cv::token
