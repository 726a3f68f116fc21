#include "relay/stun/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstdio>
#include <cstdlib>

namespace cv::stun {
namespace {

// OpenSSL only fails here when it cannot allocate or its providers are missing. There is no safe
// digest to return instead (a zero MAC would let a forged all-zero MESSAGE-INTEGRITY through), so
// the process stops.
[[noreturn]] void CryptoFailure(const char* what) {
  std::fprintf(stderr, "cv::stun crypto failure: %s\n", what);
  std::abort();
}

// One HMAC context per digest and thread, created on first use and reused for every call on that
// thread, so a MAC costs no context allocation.
class HmacContext {
 public:
  explicit HmacContext(const char* digest) {
    EVP_MAC* mac = EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr);
    if (mac == nullptr) CryptoFailure("EVP_MAC_fetch(HMAC)");
    ctx_ = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);  // the context keeps its own reference
    if (ctx_ == nullptr) CryptoFailure("EVP_MAC_CTX_new");
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(ctx_, params) != 1) CryptoFailure("EVP_MAC_CTX_set_params");
  }
  ~HmacContext() { EVP_MAC_CTX_free(ctx_); }
  HmacContext(const HmacContext&) = delete;
  HmacContext& operator=(const HmacContext&) = delete;

  void Compute(std::span<const uint8_t> key, std::span<const uint8_t> a, std::span<const uint8_t> b,
               std::span<uint8_t> out) {
    // A null key pointer asks OpenSSL to reuse the previous key; an empty key must not do that.
    static const uint8_t kEmptyKey = 0;
    const uint8_t* key_data = key.empty() ? &kEmptyKey : key.data();
    if (EVP_MAC_init(ctx_, key_data, key.size(), nullptr) != 1) CryptoFailure("EVP_MAC_init");
    if (!a.empty() && EVP_MAC_update(ctx_, a.data(), a.size()) != 1) {
      CryptoFailure("EVP_MAC_update");
    }
    if (!b.empty() && EVP_MAC_update(ctx_, b.data(), b.size()) != 1) {
      CryptoFailure("EVP_MAC_update");
    }
    size_t written = 0;
    if (EVP_MAC_final(ctx_, out.data(), &written, out.size()) != 1 || written != out.size()) {
      CryptoFailure("EVP_MAC_final");
    }
  }

 private:
  EVP_MAC_CTX* ctx_ = nullptr;
};

HmacContext& Sha1Context() {
  thread_local HmacContext ctx("SHA1");
  return ctx;
}

HmacContext& Sha256Context() {
  thread_local HmacContext ctx("SHA256");
  return ctx;
}

class Md5Context {
 public:
  Md5Context() {
    md_ = EVP_MD_fetch(nullptr, "MD5", nullptr);
    ctx_ = EVP_MD_CTX_new();
    if (md_ == nullptr || ctx_ == nullptr) CryptoFailure("EVP_MD_fetch(MD5)");
  }
  ~Md5Context() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
  }
  Md5Context(const Md5Context&) = delete;
  Md5Context& operator=(const Md5Context&) = delete;

  EVP_MD_CTX* ctx() const { return ctx_; }
  const EVP_MD* md() const { return md_; }

 private:
  EVP_MD* md_ = nullptr;
  EVP_MD_CTX* ctx_ = nullptr;
};

void Md5Update(EVP_MD_CTX* ctx, std::string_view part) {
  if (!part.empty() && EVP_DigestUpdate(ctx, part.data(), part.size()) != 1) {
    CryptoFailure("EVP_DigestUpdate(MD5)");
  }
}

// CRC-32 as in ISO-HDLC / zlib: reflected polynomial 0xEDB88320, initial value and final XOR
// 0xFFFFFFFF.
constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

}  // namespace

Sha1Digest HmacSha1(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  return HmacSha1(key, data, {});
}

Sha1Digest HmacSha1(std::span<const uint8_t> key, std::span<const uint8_t> a,
                    std::span<const uint8_t> b) {
  Sha1Digest out;
  Sha1Context().Compute(key, a, b, out);
  return out;
}

Sha256Digest HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> a,
                        std::span<const uint8_t> b) {
  Sha256Digest out;
  Sha256Context().Compute(key, a, b, out);
  return out;
}

Md5Digest LongTermKeyMd5(std::string_view username, std::string_view realm,
                         std::string_view password) {
  thread_local Md5Context md5;
  EVP_MD_CTX* ctx = md5.ctx();
  if (EVP_DigestInit_ex2(ctx, md5.md(), nullptr) != 1) CryptoFailure("EVP_DigestInit_ex2(MD5)");
  Md5Update(ctx, username);
  Md5Update(ctx, ":");
  Md5Update(ctx, realm);
  Md5Update(ctx, ":");
  Md5Update(ctx, password);
  Md5Digest out;
  unsigned int written = 0;
  if (EVP_DigestFinal_ex(ctx, out.data(), &written) != 1 || written != out.size()) {
    CryptoFailure("EVP_DigestFinal_ex(MD5)");
  }
  return out;
}

uint32_t Crc32(std::span<const uint8_t> data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (uint8_t byte : data) crc = kCrcTable[(crc ^ byte) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  // The lengths are public (they come from the wire format); only the contents are secret.
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace cv::stun
