// The low-level SHA256_* calls hash into a caller-owned context: unlike the EVP and one-shot
// HMAC paths of OpenSSL 3.0, they neither allocate nor take the provider lock on every call.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "relay/turn/nonce.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstring>

namespace cv::turn {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kBytes = 24;  // 4 time + 20 MAC → 32 base64url characters

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int DecodeChar(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

void Encode(const uint8_t (&in)[kBytes], std::array<char, NonceFactory::kLength>* out) {
  for (size_t i = 0, o = 0; i < kBytes; i += 3, o += 4) {
    const uint32_t v = (uint32_t{in[i]} << 16) | (uint32_t{in[i + 1]} << 8) | in[i + 2];
    (*out)[o] = kAlphabet[(v >> 18) & 63];
    (*out)[o + 1] = kAlphabet[(v >> 12) & 63];
    (*out)[o + 2] = kAlphabet[(v >> 6) & 63];
    (*out)[o + 3] = kAlphabet[v & 63];
  }
}

bool Decode(std::string_view text, uint8_t (&out)[kBytes]) {
  if (text.size() != NonceFactory::kLength) return false;
  for (size_t i = 0, o = 0; i < text.size(); i += 4, o += 3) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      const int d = DecodeChar(text[i + k]);
      if (d < 0) return false;
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out[o] = static_cast<uint8_t>(v >> 16);
    out[o + 1] = static_cast<uint8_t>(v >> 8);
    out[o + 2] = static_cast<uint8_t>(v);
  }
  return true;
}

}  // namespace

const char* NonceCheckName(NonceCheck c) {
  switch (c) {
    case NonceCheck::kValid:
      return "valid";
    case NonceCheck::kStale:
      return "stale";
    case NonceCheck::kForged:
      return "forged";
  }
  return "unknown";
}

NonceFactory::NonceFactory(std::span<const uint8_t> key, uint32_t lifetime_seconds)
    : lifetime_seconds_(lifetime_seconds) {
  std::array<uint8_t, 64> block{};
  if (key.size() > block.size()) {
    SHA256(key.data(), key.size(), block.data());
  } else if (!key.empty()) {
    std::memcpy(block.data(), key.data(), key.size());
  }
  for (size_t i = 0; i < block.size(); ++i) {
    inner_pad_[i] = block[i] ^ 0x36;
    outer_pad_[i] = block[i] ^ 0x5c;
  }
  OPENSSL_cleanse(block.data(), block.size());
}

bool NonceFactory::GenerateKey(std::span<uint8_t, 32> key) {
  return RAND_bytes(key.data(), static_cast<int>(key.size())) == 1;
}

NonceFactory::Mac NonceFactory::ComputeMac(uint32_t issued, const SocketAddress& client) const {
  // version | time (4, big-endian) | family (1) | address (4 or 16) | port (2, big-endian)
  uint8_t msg[1 + 4 + 1 + 16 + 2];
  size_t n = 0;
  msg[n++] = kVersion;
  msg[n++] = static_cast<uint8_t>(issued >> 24);
  msg[n++] = static_cast<uint8_t>(issued >> 16);
  msg[n++] = static_cast<uint8_t>(issued >> 8);
  msg[n++] = static_cast<uint8_t>(issued);
  msg[n++] = static_cast<uint8_t>(client.ip.family());
  std::memcpy(msg + n, client.ip.data(), client.ip.size());
  n += client.ip.size();
  msg[n++] = static_cast<uint8_t>(client.port >> 8);
  msg[n++] = static_cast<uint8_t>(client.port);

  uint8_t inner[SHA256_DIGEST_LENGTH];
  uint8_t full[SHA256_DIGEST_LENGTH];
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, inner_pad_.data(), inner_pad_.size());
  SHA256_Update(&ctx, msg, n);
  SHA256_Final(inner, &ctx);
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, outer_pad_.data(), outer_pad_.size());
  SHA256_Update(&ctx, inner, sizeof(inner));
  SHA256_Final(full, &ctx);

  Mac mac;
  std::memcpy(mac.data(), full, mac.size());
  return mac;
}

std::array<char, NonceFactory::kLength> NonceFactory::Make(const SocketAddress& client,
                                                           int64_t unix_now) const {
  const auto issued = static_cast<uint32_t>(unix_now);
  const Mac mac = ComputeMac(issued, client);
  uint8_t raw[kBytes];
  raw[0] = static_cast<uint8_t>(issued >> 24);
  raw[1] = static_cast<uint8_t>(issued >> 16);
  raw[2] = static_cast<uint8_t>(issued >> 8);
  raw[3] = static_cast<uint8_t>(issued);
  std::memcpy(raw + 4, mac.data(), mac.size());
  std::array<char, kLength> out;
  Encode(raw, &out);
  return out;
}

NonceCheck NonceFactory::Verify(std::string_view nonce, const SocketAddress& client,
                                int64_t unix_now) const {
  uint8_t raw[kBytes];
  if (!Decode(nonce, raw)) return NonceCheck::kForged;
  const uint32_t issued =
      (uint32_t{raw[0]} << 24) | (uint32_t{raw[1]} << 16) | (uint32_t{raw[2]} << 8) | raw[3];
  const Mac mac = ComputeMac(issued, client);
  if (CRYPTO_memcmp(mac.data(), raw + 4, mac.size()) != 0) return NonceCheck::kForged;
  // Seconds since issue, modulo 2^32 and read as signed: correct while |age| < 68 years.
  const auto age = static_cast<int64_t>(
      static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint32_t>(unix_now) - issued)));
  if (age < -kMaxFutureSkewSeconds) return NonceCheck::kStale;
  if (age > static_cast<int64_t>(lifetime_seconds_)) return NonceCheck::kStale;
  return NonceCheck::kValid;
}

}  // namespace cv::turn
