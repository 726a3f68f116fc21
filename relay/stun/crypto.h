// The digests STUN needs (OpenSSL underneath). Thread-safe; no allocation.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

namespace cv::stun {

using Sha1Digest = std::array<uint8_t, 20>;
using Sha256Digest = std::array<uint8_t, 32>;
using Md5Digest = std::array<uint8_t, 16>;

Sha1Digest HmacSha1(std::span<const uint8_t> key, std::span<const uint8_t> data);
// HMAC-SHA1 over the concatenation of two buffers (avoids copying a message to fix its length).
Sha1Digest HmacSha1(std::span<const uint8_t> key, std::span<const uint8_t> a,
                    std::span<const uint8_t> b);
Sha256Digest HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> a,
                        std::span<const uint8_t> b);
// Long-term credential key (RFC 8489 §9.2.2): MD5(username ":" realm ":" password).
Md5Digest LongTermKeyMd5(std::string_view username, std::string_view realm,
                         std::string_view password);
uint32_t Crc32(std::span<const uint8_t> data);
// Constant-time equality for MACs.
bool ConstantTimeEqual(std::span<const uint8_t> a, std::span<const uint8_t> b);

}  // namespace cv::stun
