// The low-level SHA1_* and MD5_* calls hash into caller-owned contexts: unlike OpenSSL 3.0's EVP
// and one-shot paths they neither allocate nor take the provider lock, which matters because
// every worker calls them for every authenticated request.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "cv/auth/rest_credentials.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <charconv>
#include <cstring>
#include <utility>

namespace cv::auth {

struct RestSecret::State {
  SHA_CTX inner;  // after absorbing key ^ ipad
  SHA_CTX outer;  // after absorbing key ^ opad
};

namespace {

void InitHmacSha1(std::string_view secret, SHA_CTX* inner, SHA_CTX* outer) {
  // RFC 2104: keys longer than the 64-byte block are hashed first.
  uint8_t block[SHA_CBLOCK] = {};
  if (secret.size() > sizeof(block)) {
    SHA1(reinterpret_cast<const uint8_t*>(secret.data()), secret.size(), block);
  } else if (!secret.empty()) {
    std::memcpy(block, secret.data(), secret.size());
  }
  uint8_t pad[SHA_CBLOCK];
  for (size_t i = 0; i < sizeof(pad); ++i) pad[i] = block[i] ^ 0x36;
  SHA1_Init(inner);
  SHA1_Update(inner, pad, sizeof(pad));
  for (size_t i = 0; i < sizeof(pad); ++i) pad[i] = block[i] ^ 0x5c;
  SHA1_Init(outer);
  SHA1_Update(outer, pad, sizeof(pad));
  OPENSSL_cleanse(block, sizeof(block));
  OPENSSL_cleanse(pad, sizeof(pad));
}

std::array<char, kRestPasswordLength> PasswordFrom(const SHA_CTX& inner_init,
                                                   const SHA_CTX& outer_init,
                                                   std::string_view username) {
  SHA_CTX ctx = inner_init;
  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA1_Update(&ctx, username.data(), username.size());
  SHA1_Final(digest, &ctx);
  ctx = outer_init;
  SHA1_Update(&ctx, digest, sizeof(digest));
  SHA1_Final(digest, &ctx);
  // EVP_EncodeBlock writes 28 characters and a NUL.
  unsigned char text[kRestPasswordLength + 1];
  EVP_EncodeBlock(text, digest, sizeof(digest));
  std::array<char, kRestPasswordLength> out;
  std::memcpy(out.data(), text, out.size());
  return out;
}

}  // namespace

std::optional<RestUsername> ParseRestUsername(std::string_view username, char separator) {
  const size_t sep = username.find(separator);
  const std::string_view digits = username.substr(0, sep);
  if (digits.empty() || digits.size() > 19) return std::nullopt;
  int64_t expiry = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    const int d = c - '0';
    if (expiry > (INT64_MAX - d) / 10) return std::nullopt;
    expiry = expiry * 10 + d;
  }
  RestUsername out{expiry, {}};
  if (sep != std::string_view::npos) out.rest = username.substr(sep + 1);
  return out;
}

std::string MintRestUsername(int64_t expiry, std::string_view rest, char separator) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), expiry < 0 ? int64_t{0} : expiry);
  std::string out(buf, ec == std::errc() ? end : buf);
  if (!rest.empty()) {
    out.push_back(separator);
    out.append(rest);
  }
  return out;
}

std::string RestPassword(std::string_view secret, std::string_view username) {
  RestSecret s(secret);
  auto p = s.Password(username);
  return std::string(p.data(), p.size());
}

Key LongTermKey(std::string_view username, std::string_view realm, std::string_view password) {
  MD5_CTX ctx;
  MD5_Init(&ctx);
  MD5_Update(&ctx, username.data(), username.size());
  MD5_Update(&ctx, ":", 1);
  MD5_Update(&ctx, realm.data(), realm.size());
  MD5_Update(&ctx, ":", 1);
  MD5_Update(&ctx, password.data(), password.size());
  Key key;
  MD5_Final(key.bytes.data(), &ctx);
  return key;
}

RestSecret::RestSecret(std::string_view secret) : state_(std::make_unique<State>()) {
  InitHmacSha1(secret, &state_->inner, &state_->outer);
}

RestSecret::~RestSecret() {
  if (state_) OPENSSL_cleanse(state_.get(), sizeof(State));
}

RestSecret::RestSecret(RestSecret&&) noexcept = default;

RestSecret& RestSecret::operator=(RestSecret&& other) noexcept {
  if (this != &other) {
    if (state_) OPENSSL_cleanse(state_.get(), sizeof(State));
    state_ = std::move(other.state_);
  }
  return *this;
}

std::array<char, kRestPasswordLength> RestSecret::Password(std::string_view username) const {
  return PasswordFrom(state_->inner, state_->outer, username);
}

Key RestSecret::KeyFor(std::string_view username, std::string_view realm) const {
  const auto password = Password(username);
  return LongTermKey(username, realm, std::string_view(password.data(), password.size()));
}

}  // namespace cv::auth
