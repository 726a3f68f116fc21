// libFuzzer target for TURN stream framing (relay/net/stream_framer.h): the input's first two
// bytes pick max_message, the rest is a byte stream framed message after message.
//
// Invariants checked (a violation traps, which libFuzzer and the corpus test report):
// - NextFrame never reads past its span (the stream sits in an allocation of its exact size, so
//   ASan sees any read beyond it);
// - with kFrame: consumed <= the bytes given, length <= max_message, consumed - length is the
//   stream padding (0-3, 0 for STUN), and the kind matches the first byte;
// - the verdict depends only on the bytes up to the end of the frame: the frame alone gives the
//   same frame, one byte less gives kNeedMore, and every shorter prefix gives kNeedMore or the
//   same error as the whole stream would;
// - StreamPadding is always 0-3.
//
// No main() here: libFuzzer supplies one in the fuzz build, GoogleTest in the corpus replay test.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

#include "relay/net/stream_framer.h"

namespace {

using cv::net::Frame;
using cv::net::FrameKind;
using cv::net::NextFrame;
using cv::net::StreamPadding;

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

void CheckFrame(std::span<const uint8_t> stream, size_t max_message, const Frame& frame) {
  Check(frame.consumed <= stream.size());
  Check(frame.length <= max_message);
  Check(frame.length >= 4 && frame.consumed >= frame.length);
  Check(frame.consumed - frame.length == StreamPadding(frame.kind, frame.length));
  Check(frame.consumed - frame.length <= 3);
  Check(frame.kind == FrameKind::kStun || frame.consumed % 4 == 0);
  if (frame.kind == FrameKind::kStun) {
    Check((stream[0] & 0xC0) == 0 && frame.length >= 20 && frame.length % 4 == 0);
  } else {
    Check(stream[0] >= 0x40 && stream[0] <= 0x7F);
  }

  // The frame alone is the same frame, and one byte less is not enough.
  const Frame alone = NextFrame(stream.first(frame.consumed), max_message);
  Check(alone.status == Frame::Status::kFrame && alone.kind == frame.kind &&
        alone.length == frame.length && alone.consumed == frame.consumed);
  const Frame short_one = NextFrame(stream.first(frame.consumed - 1), max_message);
  Check(short_one.status == Frame::Status::kNeedMore);
}

// Every prefix of a stream whose verdict is `verdict` gives kNeedMore or `verdict` itself, and
// sets no length (a few prefixes: the header bytes and the last one).
void CheckPrefixes(std::span<const uint8_t> stream, size_t max_message, Frame::Status verdict) {
  const size_t n = stream.size();
  for (size_t k = 0; k < n && k <= 8; ++k) {
    const Frame prefix = NextFrame(stream.first(k), max_message);
    Check(prefix.status == Frame::Status::kNeedMore || prefix.status == verdict);
    Check(prefix.length == 0 && prefix.consumed == 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  // 0-65535: exercises tiny limits (below a header) as well as the usual 4100.
  const size_t max_message = (size_t{data[0]} << 8) | data[1];
  const size_t length = size - 2;
  std::unique_ptr<uint8_t[]> copy(new uint8_t[length == 0 ? 1 : length]);
  if (length > 0) std::memcpy(copy.get(), data + 2, length);
  std::span<const uint8_t> stream(copy.get(), length);

  for (int i = 0; i < 1000; ++i) {
    const Frame frame = NextFrame(stream, max_message);
    if (frame.status != Frame::Status::kFrame) {
      Check(frame.length == 0 && frame.consumed == 0);
      if (frame.status != Frame::Status::kNeedMore)
        CheckPrefixes(stream, max_message, frame.status);
      break;
    }
    CheckFrame(stream, max_message, frame);
    stream = stream.subspan(frame.consumed);
  }

  for (size_t n : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size, size + 1}) {
    Check(StreamPadding(FrameKind::kChannelData, n) <= 3);
    Check((n + StreamPadding(FrameKind::kChannelData, n)) % 4 == 0);
    Check(StreamPadding(FrameKind::kStun, n) == 0);
  }
  return 0;
}
