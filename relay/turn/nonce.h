// Stateless NONCEs (RFC 8489 §9.2): a nonce carries its own issue time and a MAC binding it to
// the client's transport address, so a 401 challenge creates no per-client state and a nonce
// replayed from another address, or kept past its lifetime, is refused.
//
// Wire form: 32 characters of base64url (RFC 4648 §5, no padding; no quotes or backslashes, so it
// is a valid quoted-string body) encoding 24 bytes:
//
//    0                   1                   2                   3
//    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |             issue time (Unix seconds, low 32 bits)            |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//   |                                                               |
//   |  HMAC-SHA256(key, version | time | family | client IP | port)  |
//   |                   truncated to 160 bits                       |
//   |                                                               |
//   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Threading: immutable after construction; Make() and Verify() are const, thread-safe,
// allocation-free and never throw, so workers may share one factory (and so one key).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "relay/common/address.h"

namespace cv::turn {

enum class NonceCheck : uint8_t {
  kValid,
  kStale,   // MAC fine but older than the lifetime or from the future → 438 with a fresh nonce
  kForged,  // not one of ours, damaged, or issued to another address → 401 with a fresh nonce
};
const char* NonceCheckName(NonceCheck c);

class NonceFactory {
 public:
  using NonceCheck = cv::turn::NonceCheck;
  static constexpr size_t kLength = 32;
  // Nonces up to this many seconds in the future are accepted (clock steps, several relays
  // sharing a key with slightly different clocks).
  static constexpr int64_t kMaxFutureSkewSeconds = 5;

  // `key` should be 32 random bytes (GenerateKey()); lifetime_seconds must be below 2^31.
  NonceFactory(std::span<const uint8_t> key, uint32_t lifetime_seconds);

  // Fills `key` from OpenSSL's CSPRNG; false if it could not (then do not start).
  static bool GenerateKey(std::span<uint8_t, 32> key);

  std::array<char, kLength> Make(const SocketAddress& client, int64_t unix_now) const;
  NonceCheck Verify(std::string_view nonce, const SocketAddress& client, int64_t unix_now) const;

  uint32_t lifetime_seconds() const { return lifetime_seconds_; }

 private:
  using Mac = std::array<uint8_t, 20>;
  Mac ComputeMac(uint32_t issued, const SocketAddress& client) const;

  // RFC 2104: the key padded to SHA-256's 64-byte block, XORed with ipad and opad.
  std::array<uint8_t, 64> inner_pad_{};
  std::array<uint8_t, 64> outer_pad_{};
  uint32_t lifetime_seconds_;
};

}  // namespace cv::turn
