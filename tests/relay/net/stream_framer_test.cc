// Framing of STUN and ChannelData messages on a TURN byte stream (RFC 8656 §11.5, §12.5).
#include "relay/net/stream_framer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <vector>

namespace cv::net {
namespace {

using Bytes = std::vector<uint8_t>;
constexpr size_t kMax = 4096 + 4;

// A STUN Binding request with `body` bytes of attributes (a multiple of 4).
Bytes Stun(uint16_t body, uint8_t fill = 0x11) {
  Bytes m = {0x00, 0x01, static_cast<uint8_t>(body >> 8), static_cast<uint8_t>(body), 0x21, 0x12,
             0xA4, 0x42};
  m.resize(20, 0x77);  // transaction id
  m.resize(20 + body, fill);
  return m;
}

// A ChannelData message on `channel` with `length` bytes of data (no padding).
Bytes ChannelData(uint16_t channel, uint16_t length, uint8_t fill = 0x22) {
  Bytes m = {static_cast<uint8_t>(channel >> 8), static_cast<uint8_t>(channel),
             static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length)};
  m.resize(4 + length, fill);
  return m;
}

void Add(Bytes& stream, const Bytes& message, size_t padding = 0) {
  stream.insert(stream.end(), message.begin(), message.end());
  stream.resize(stream.size() + padding, 0);
}

// Frames every complete message of `stream`; returns them and leaves the rest in `stream`.
std::vector<Bytes> FrameAll(Bytes& stream, Frame::Status* last = nullptr) {
  std::vector<Bytes> out;
  size_t offset = 0;
  for (;;) {
    const Frame f = NextFrame(std::span<const uint8_t>(stream).subspan(offset), kMax);
    if (last != nullptr) *last = f.status;
    if (f.status != Frame::Status::kFrame) break;
    out.emplace_back(stream.begin() + static_cast<std::ptrdiff_t>(offset),
                     stream.begin() + static_cast<std::ptrdiff_t>(offset + f.length));
    offset += f.consumed;
  }
  stream.erase(stream.begin(), stream.begin() + static_cast<std::ptrdiff_t>(offset));
  return out;
}

class StreamFramerTest : public ::testing::Test {
 protected:
  // STUN, ChannelData needing 3, 2, 1 and 0 bytes of padding, STUN again.
  void SetUp() override {
    messages_ = {Stun(8),
                 ChannelData(0x4000, 1),
                 ChannelData(0x4ABC, 2),
                 ChannelData(0x4FFF, 3),
                 ChannelData(0x4001, 4),
                 Stun(0, 0x33)};
    for (const Bytes& m : messages_) {
      const FrameKind kind = m[0] >= 0x40 ? FrameKind::kChannelData : FrameKind::kStun;
      Add(stream_, m, StreamPadding(kind, m.size()));
    }
  }
  std::vector<Bytes> messages_;
  Bytes stream_;
};

TEST_F(StreamFramerTest, StunAndChannelDataBackToBackComeOutWholeWithoutPadding) {
  Frame::Status last;
  EXPECT_EQ(FrameAll(stream_, &last), messages_);
  EXPECT_EQ(last, Frame::Status::kNeedMore);
  EXPECT_TRUE(stream_.empty());
}

TEST_F(StreamFramerTest, ChannelDataPaddingIsConsumedButNotPartOfTheMessage) {
  Bytes stream;
  Add(stream, ChannelData(0x4000, 5), 3);
  const Frame f = NextFrame(stream, kMax);
  EXPECT_EQ(f.status, Frame::Status::kFrame);
  EXPECT_EQ(f.kind, FrameKind::kChannelData);
  EXPECT_EQ(f.length, 9u);
  EXPECT_EQ(f.consumed, 12u);
}

TEST_F(StreamFramerTest, ChannelDataWaitsForItsPadding) {
  Bytes stream = ChannelData(0x4000, 5);  // 9 bytes, 3 of padding still to come
  EXPECT_EQ(NextFrame(stream, kMax).status, Frame::Status::kNeedMore);
  stream.resize(11, 0);
  EXPECT_EQ(NextFrame(stream, kMax).status, Frame::Status::kNeedMore);
  stream.resize(12, 0);
  EXPECT_EQ(NextFrame(stream, kMax).status, Frame::Status::kFrame);
}

TEST_F(StreamFramerTest, StunIsNeverPadded) {
  EXPECT_EQ(StreamPadding(FrameKind::kStun, 21), 0u);
  const Bytes stun = Stun(4);
  const Frame f = NextFrame(stun, kMax);
  EXPECT_EQ(f.status, Frame::Status::kFrame);
  EXPECT_EQ(f.kind, FrameKind::kStun);
  EXPECT_EQ(f.length, 24u);
  EXPECT_EQ(f.consumed, 24u);
}

TEST_F(StreamFramerTest, StreamPaddingRoundsChannelDataUpToFourBytes) {
  EXPECT_EQ(StreamPadding(FrameKind::kChannelData, 4), 0u);
  EXPECT_EQ(StreamPadding(FrameKind::kChannelData, 5), 3u);
  EXPECT_EQ(StreamPadding(FrameKind::kChannelData, 6), 2u);
  EXPECT_EQ(StreamPadding(FrameKind::kChannelData, 7), 1u);
  EXPECT_EQ(StreamPadding(FrameKind::kChannelData, 4100), 0u);
}

TEST_F(StreamFramerTest, FeedingOneByteAtATimeYieldsTheSameMessages) {
  Bytes pending;
  std::vector<Bytes> out;
  for (uint8_t byte : stream_) {
    pending.push_back(byte);
    for (Bytes& m : FrameAll(pending)) out.push_back(std::move(m));
  }
  EXPECT_EQ(out, messages_);
  EXPECT_TRUE(pending.empty());
}

TEST_F(StreamFramerTest, SplittingAtEveryOffsetYieldsTheSameMessages) {
  for (size_t split = 0; split <= stream_.size(); ++split) {
    SCOPED_TRACE(split);
    Bytes pending(stream_.begin(), stream_.begin() + static_cast<std::ptrdiff_t>(split));
    std::vector<Bytes> out = FrameAll(pending);
    pending.insert(pending.end(), stream_.begin() + static_cast<std::ptrdiff_t>(split),
                   stream_.end());
    for (Bytes& m : FrameAll(pending)) out.push_back(std::move(m));
    EXPECT_EQ(out, messages_);
  }
}

TEST_F(StreamFramerTest, EveryPrefixShorterThanAMessageNeedsMore) {
  const Bytes stun = Stun(12);
  for (size_t n = 0; n < stun.size(); ++n) {
    EXPECT_EQ(NextFrame(std::span<const uint8_t>(stun).first(n), kMax).status,
              Frame::Status::kNeedMore)
        << n;
  }
}

TEST_F(StreamFramerTest, TooLargeIsDecidedFromTheFirstFourBytes) {
  const uint8_t channel_data[] = {0x40, 0x00, 0x10, 0x01};  // 4 + 4097 bytes
  EXPECT_EQ(NextFrame(channel_data, kMax).status, Frame::Status::kTooLarge);
  const uint8_t stun[] = {0x00, 0x01, 0xFF, 0xFC};  // 20 + 65532 bytes
  EXPECT_EQ(NextFrame(stun, kMax).status, Frame::Status::kTooLarge);
}

TEST_F(StreamFramerTest, MaxMessageCountsTheHeader) {
  const Bytes largest = ChannelData(0x4000, 4096);
  EXPECT_EQ(NextFrame(largest, kMax).status, Frame::Status::kFrame);
  EXPECT_EQ(NextFrame(largest, kMax - 1).status, Frame::Status::kTooLarge);
  const Bytes stun = Stun(4076);  // 4096 bytes in all
  EXPECT_EQ(NextFrame(stun, 4096).status, Frame::Status::kFrame);
  EXPECT_EQ(NextFrame(stun, 4095).status, Frame::Status::kTooLarge);
}

TEST_F(StreamFramerTest, FirstBytesThatAreNeitherStunNorChannelDataAreInvalid) {
  for (int first = 0x80; first <= 0xFF; ++first) {
    const uint8_t one[] = {static_cast<uint8_t>(first)};
    EXPECT_EQ(NextFrame(one, kMax).status, Frame::Status::kInvalid) << first;
  }
}

TEST_F(StreamFramerTest, Rfc5766ChannelNumbersUpTo0x7FFFAreFramedAsChannelData) {
  // coturn's turnutils_uclient binds channels such as 0x70E0 (RFC 5766 allowed 0x4000-0x7FFF).
  const uint8_t high_channel[] = {0x70, 0xE0, 0x00, 0x04, 1, 2, 3, 4};
  const Frame f = NextFrame(high_channel, kMax);
  EXPECT_EQ(f.status, Frame::Status::kFrame);
  EXPECT_EQ(f.kind, FrameKind::kChannelData);
  EXPECT_EQ(f.consumed, 8u);
}

TEST_F(StreamFramerTest, TlsClientHelloOnAPlainPortIsInvalidByItsCookie) {
  // Record header 16 03 01 00 F8, handshake header 01 00 00 F4: 0x16 starts with bits 00 and
  // bytes 2-3 (0x0100) are a multiple of 4, so only the cookie tells it from STUN.
  const uint8_t client_hello[] = {0x16, 0x03, 0x01, 0x00, 0xF8, 0x01, 0x00, 0x00, 0xF4, 0x03};
  EXPECT_EQ(NextFrame(std::span<const uint8_t>(client_hello).first(5), kMax).status,
            Frame::Status::kNeedMore);
  EXPECT_EQ(NextFrame(client_hello, kMax).status, Frame::Status::kInvalid);
}

TEST_F(StreamFramerTest, HttpGetLooksLikeChannelDataOfAnImpossibleLength) {
  // 'G' is 0x47: channel 0x4745 ("GE"), length 0x5420 ("T "), so the verdict is kTooLarge.
  const uint8_t get[] = {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T'};
  EXPECT_EQ(NextFrame(get, kMax).status, Frame::Status::kTooLarge);
}

TEST_F(StreamFramerTest, StunLengthNotAMultipleOfFourIsInvalid) {
  for (uint16_t length : {1, 2, 3, 5, 4095}) {
    const uint8_t header[] = {0x00, 0x01, static_cast<uint8_t>(length >> 8),
                              static_cast<uint8_t>(length)};
    EXPECT_EQ(NextFrame(header, kMax).status, Frame::Status::kInvalid) << length;
  }
}

TEST_F(StreamFramerTest, BadCookieIsInvalidOnceEightBytesAreThere) {
  Bytes stun = Stun(0);
  stun[7] ^= 0x01;
  for (size_t n = 4; n < 8; ++n) {
    EXPECT_EQ(NextFrame(std::span<const uint8_t>(stun).first(n), kMax).status,
              Frame::Status::kNeedMore);
  }
  for (size_t n = 8; n <= stun.size(); ++n) {
    EXPECT_EQ(NextFrame(std::span<const uint8_t>(stun).first(n), kMax).status,
              Frame::Status::kInvalid);
  }
}

TEST_F(StreamFramerTest, EmptyChannelDataIsAFrame) {
  const Bytes empty = ChannelData(0x4000, 0);
  const Frame f = NextFrame(empty, kMax);
  EXPECT_EQ(f.status, Frame::Status::kFrame);
  EXPECT_EQ(f.length, 4u);
  EXPECT_EQ(f.consumed, 4u);
}

}  // namespace
}  // namespace cv::net
