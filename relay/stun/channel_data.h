// TURN ChannelData framing (RFC 8656 §12.4).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Channel Number        |            Length             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  /                       Application Data                        /
//  +-------------------------------+-------------------------------+
//
// Over UDP the datagram may carry padding after the data; over TCP/TLS the frame is padded to a
// multiple of 4 bytes (§12.5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace cv::stun {

inline constexpr size_t kChannelDataHeaderSize = 4;

struct ChannelDataView {
  uint16_t channel = 0;
  std::span<const uint8_t> data;
};

// First byte 0x40-0x7F: a ChannelData message, not STUN (first two bits 01).
inline bool LooksLikeChannelData(uint8_t first_byte) { return (first_byte & 0xC0) == 0x40; }

// Parses one ChannelData message from a datagram. nullopt when the channel number is outside
// kMinChannel-kMaxChannel or the length exceeds the datagram.
std::optional<ChannelDataView> ParseChannelData(std::span<const uint8_t> datagram);

// Writes the 4-byte header for `length` bytes of data on `channel` into `out`.
void WriteChannelDataHeader(uint16_t channel, uint16_t length, uint8_t* out);

// Size on a stream: header + data rounded up to a multiple of 4.
inline size_t ChannelDataStreamSize(size_t data_length) {
  return kChannelDataHeaderSize + ((data_length + 3) & ~size_t{3});
}

}  // namespace cv::stun
