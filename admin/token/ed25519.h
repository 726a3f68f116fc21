// Ed25519 (RFC 8032) keys and signatures through OpenSSL 3's EVP interface.
// A private key signs call session tokens; users' public keys (32 raw bytes) verify their
// requests. OpenSSL refuses non-canonical signatures (S >= L), so a malleated signature fails.
//
// Threading: an Ed25519Key is immutable after construction; Sign() may be called from any thread
// (each call uses its own EVP_MD_CTX). Verify is a pure function.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

typedef struct evp_pkey_st EVP_PKEY;

namespace cv::token {

inline constexpr size_t kEd25519PublicKeyBytes = 32;
inline constexpr size_t kEd25519SeedBytes = 32;
inline constexpr size_t kEd25519SignatureBytes = 64;

class Ed25519Key {
 public:
  static std::optional<Ed25519Key> Generate(std::string* error);
  // From the 32-byte private seed (RFC 8032's "SECRET KEY").
  static std::optional<Ed25519Key> FromSeed(std::string_view seed, std::string* error);
  // A PKCS#8 PEM file ("-----BEGIN PRIVATE KEY-----", as `openssl genpkey -algorithm ed25519`
  // writes). Refuses a file that group or others can read ("<path>: … chmod 600"), or a key that
  // is not Ed25519.
  static std::optional<Ed25519Key> LoadPem(const std::string& path, std::string* error);
  // Writes the key as PKCS#8 PEM to `path`, created with mode 600 (fails if it exists).
  bool SavePem(const std::string& path, std::string* error) const;

  std::string PublicKey() const;                     // 32 raw bytes
  std::string Sign(std::string_view message) const;  // 64 bytes; empty only on OpenSSL failure

 private:
  explicit Ed25519Key(std::shared_ptr<EVP_PKEY> key) : key_(std::move(key)) {}
  std::shared_ptr<EVP_PKEY> key_;
};

// False for a key or signature of the wrong size, an invalid point, or a signature that does not
// verify.
bool Ed25519Verify(std::string_view public_key, std::string_view message,
                   std::string_view signature);

}  // namespace cv::token
