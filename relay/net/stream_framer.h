// Message boundaries on a TURN byte stream (TCP or TLS-over-TCP): RFC 8656 §11.5 and RFC 8489
// §6.2.2. STUN messages and ChannelData messages follow each other with nothing in between; the
// first byte of each tells which it is.
//
// STUN message (RFC 8489 §5): first two bits 00, length excludes the 20-byte header and is a
// multiple of 4.
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |0 0|     STUN Message Type     |         Message Length        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                         Magic Cookie                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                     Transaction ID (96 bits)                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// ChannelData message (RFC 8656 §12.4): channel number 0x4000-0x7FFF (RFC 5766's range), length
// excludes the 4-byte header. On a stream it is followed by 0-3 bytes of padding up to a multiple
// of 4 (§12.5), which the length does not count.
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Channel Number        |            Length             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  /                       Application Data                        /
//  +-------------------------------+-------------------------------+
//  |        Padding (stream only)  |
//  +-------------------------------+
//
// Pure functions: no I/O, no allocation; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace cv::net {

enum class FrameKind : uint8_t { kStun, kChannelData };

struct Frame {
  enum class Status : uint8_t { kNeedMore, kFrame, kTooLarge, kInvalid } status = Status::kNeedMore;
  FrameKind kind = FrameKind::kStun;
  size_t length = 0;    // bytes of the message itself (what the TURN layer gets); kFrame only
  size_t consumed = 0;  // length plus stream padding: how far to advance; kFrame only
};

// Looks at the start of `buffer`. kNeedMore: fewer bytes than the header says (or than a header).
// kTooLarge: the header announces a message (header included) longer than `max_message`
// (decidable from 4 bytes). kInvalid: not STUN (bad first bits, length not a multiple of 4, bad
// cookie once 8 bytes are there) nor ChannelData (channel 0x4000-0x7FFF).
// A verdict of kTooLarge or kInvalid never changes as more bytes arrive. `kind`, `length` and
// `consumed` are set only with kFrame; then length <= max_message and consumed <= buffer.size().
Frame NextFrame(std::span<const uint8_t> buffer, size_t max_message);

// Bytes of stream padding after a ChannelData message of `length` bytes (0-3); 0 for STUN.
size_t StreamPadding(FrameKind kind, size_t length);

}  // namespace cv::net
