#include "relay/net/stream_framer.h"

#include "relay/stun/channel_data.h"
#include "relay/stun/constants.h"

namespace cv::net {
namespace {

uint16_t ReadU16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }

uint32_t ReadU32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

Frame Verdict(Frame::Status status) {
  Frame frame;
  frame.status = status;
  return frame;
}

}  // namespace

Frame NextFrame(std::span<const uint8_t> buffer, size_t max_message) {
  if (buffer.empty()) return Verdict(Frame::Status::kNeedMore);

  // The first byte decides the kind: 0x00-0x3F STUN, 0x40-0x7F ChannelData. RFC 8656 §12
  // narrowed channels to 0x4000-0x4FFF, but RFC 5766 clients (coturn's among them) still use up
  // to 0x7FFF, and the TURN layer answers for the number as on UDP. 0x80-0xFF is neither.
  FrameKind kind;
  if ((buffer[0] & 0xC0) == 0x00) {
    kind = FrameKind::kStun;
  } else if ((buffer[0] & 0xC0) == 0x40) {
    kind = FrameKind::kChannelData;
  } else {
    return Verdict(Frame::Status::kInvalid);
  }
  if (buffer.size() < 4) return Verdict(Frame::Status::kNeedMore);

  const size_t announced = ReadU16(buffer.data() + 2);
  size_t length;
  if (kind == FrameKind::kStun) {
    if (announced % 4 != 0) return Verdict(Frame::Status::kInvalid);
    length = stun::kHeaderSize + announced;
  } else {
    length = stun::kChannelDataHeaderSize + announced;
  }
  if (length > max_message) return Verdict(Frame::Status::kTooLarge);
  if (kind == FrameKind::kStun && buffer.size() >= 8 &&
      ReadU32(buffer.data() + 4) != stun::kMagicCookie) {
    return Verdict(Frame::Status::kInvalid);
  }

  const size_t consumed = length + StreamPadding(kind, length);
  if (buffer.size() < consumed) return Verdict(Frame::Status::kNeedMore);
  Frame frame;
  frame.status = Frame::Status::kFrame;
  frame.kind = kind;
  frame.length = length;
  frame.consumed = consumed;
  return frame;
}

size_t StreamPadding(FrameKind kind, size_t length) {
  if (kind != FrameKind::kChannelData) return 0;
  return (4 - length % 4) % 4;
}

}  // namespace cv::net
