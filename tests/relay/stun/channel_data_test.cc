#include "relay/stun/channel_data.h"

#include <gtest/gtest.h>

#include <vector>

#include "relay/stun/constants.h"

namespace cv::stun {
namespace {

using Buffer = std::vector<uint8_t>;

TEST(ChannelDataTest, ParsesChannelAndData) {
  const Buffer frame = {0x40, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o'};
  auto view = ParseChannelData(frame);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->channel, 0x4001);
  EXPECT_EQ(Buffer(view->data.begin(), view->data.end()), (Buffer{'h', 'e', 'l', 'l', 'o'}));
  EXPECT_EQ(view->data.data(), frame.data() + 4);
}

TEST(ChannelDataTest, TrailingPaddingIsAllowedAndNotPartOfTheData) {
  const Buffer frame = {0x4F, 0xFF, 0x00, 0x01, 'x', 0, 0, 0};
  auto view = ParseChannelData(frame);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->channel, 0x4FFF);
  EXPECT_EQ(view->data.size(), 1u);
}

TEST(ChannelDataTest, EmptyDataIsValid) {
  const Buffer frame = {0x40, 0x00, 0x00, 0x00};
  auto view = ParseChannelData(frame);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->channel, kMinChannel);
  EXPECT_TRUE(view->data.empty());
}

TEST(ChannelDataTest, ChannelOutsideRangeIsRejected) {
  for (uint16_t channel : {0x0000, 0x0001, 0x3FFF, 0x8000, 0xBFFF, 0xFFFF}) {
    const Buffer frame = {static_cast<uint8_t>(channel >> 8),
                          static_cast<uint8_t>(channel),
                          0x00,
                          0x01,
                          'x',
                          0,
                          0,
                          0};
    EXPECT_FALSE(ParseChannelData(frame)) << std::hex << channel;
  }
}

TEST(ChannelDataTest, LengthLongerThanDatagramIsRejected) {
  Buffer frame = {0x40, 0x01, 0x00, 0x05, 'h', 'e', 'l', 'l'};
  EXPECT_FALSE(ParseChannelData(frame));
  frame[2] = 0xFF;
  frame[3] = 0xFF;
  EXPECT_FALSE(ParseChannelData(frame));
  frame[2] = 0x00;
  frame[3] = 0x04;
  EXPECT_TRUE(ParseChannelData(frame));
}

TEST(ChannelDataTest, ShorterThanHeaderIsRejected) {
  const Buffer frame = {0x40, 0x01, 0x00, 0x00};
  for (size_t n = 0; n < kChannelDataHeaderSize; ++n) {
    EXPECT_FALSE(ParseChannelData(std::span<const uint8_t>(frame).first(n))) << n;
  }
}

TEST(ChannelDataTest, ParsesIdenticallyAtEveryBufferAlignment) {
  const Buffer frame = {0x4A, 0xBC, 0x00, 0x03, 1, 2, 3, 0};
  for (size_t offset = 0; offset < 8; ++offset) {
    Buffer storage(frame.size() + 16, 0xEE);
    std::copy(frame.begin(), frame.end(), storage.begin() + static_cast<std::ptrdiff_t>(offset));
    auto view = ParseChannelData(std::span<const uint8_t>(storage).subspan(offset, frame.size()));
    ASSERT_TRUE(view) << offset;
    EXPECT_EQ(view->channel, 0x4ABC);
    EXPECT_EQ(Buffer(view->data.begin(), view->data.end()), (Buffer{1, 2, 3}));
  }
}

TEST(ChannelDataTest, WrittenHeaderParsesBack) {
  Buffer frame(4 + 300, 0x77);
  WriteChannelDataHeader(0x4123, 300, frame.data());
  EXPECT_EQ((Buffer{frame[0], frame[1], frame[2], frame[3]}), (Buffer{0x41, 0x23, 0x01, 0x2C}));
  auto view = ParseChannelData(frame);
  ASSERT_TRUE(view);
  EXPECT_EQ(view->channel, 0x4123);
  EXPECT_EQ(view->data.size(), 300u);
}

TEST(ChannelDataTest, StreamSizeRoundsDataUpToFourBytes) {
  EXPECT_EQ(ChannelDataStreamSize(0), 4u);
  EXPECT_EQ(ChannelDataStreamSize(1), 8u);
  EXPECT_EQ(ChannelDataStreamSize(4), 8u);
  EXPECT_EQ(ChannelDataStreamSize(5), 12u);
  EXPECT_EQ(ChannelDataStreamSize(65535), 4u + 65536u);
}

TEST(ChannelDataTest, FirstByteDistinguishesChannelDataFromStun) {
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(LooksLikeChannelData(static_cast<uint8_t>(b)), b >= 0x40 && b <= 0x7F) << b;
  }
}

}  // namespace
}  // namespace cv::stun
