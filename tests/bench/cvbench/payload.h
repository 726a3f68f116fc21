// The header cvbench writes at the start of every media payload; the rest of the payload is
// padding up to the configured size. Sender and receiver are the same process, so the send time
// is CLOCK_MONOTONIC in nanoseconds and one-way latency is receive time minus send time.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Magic 0xCB   |   Direction   |     Epoch     |     Flags     |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                            Flow id                            |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                           Sequence                            |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                Send time, ns (CLOCK_MONOTONIC, 64)            |
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                  Burst (video frame number)                   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Network byte order. The magic's top two bits (11) tell a media payload apart from STUN (00)
// and ChannelData (01) on the same socket. Direction: 0 client → peer, 1 peer → client. Epoch:
// which measured window the packet belongs to (0 = warm-up, not measured). Flags: bit 0 the
// packet belongs to a keyframe burst.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace cv::bench {

inline constexpr size_t kMediaHeaderSize = 24;
inline constexpr uint8_t kMediaMagic = 0xCB;
inline constexpr uint8_t kFlagKeyframe = 0x01;

enum class Direction : uint8_t { kToPeer = 0, kToClient = 1 };

struct MediaHeader {
  uint32_t flow = 0;
  Direction direction = Direction::kToPeer;
  uint8_t epoch = 0;
  uint8_t flags = 0;
  uint32_t sequence = 0;
  uint64_t sent_ns = 0;
  uint32_t burst = 0;

  friend bool operator==(const MediaHeader&, const MediaHeader&) = default;
};

// Writes the header into the first kMediaHeaderSize bytes of `out`; false (nothing written) when
// `out` is shorter. Padding after the header is left as it is.
bool EncodeMedia(const MediaHeader& header, std::span<uint8_t> out);
// nullopt when `payload` is shorter than the header, the magic is wrong or the direction unknown.
std::optional<MediaHeader> DecodeMedia(std::span<const uint8_t> payload);

// True when the first byte of a datagram is a media payload's (not STUN, not ChannelData).
inline bool LooksLikeMedia(uint8_t first_byte) { return first_byte == kMediaMagic; }

}  // namespace cv::bench
