// cvbench's media payload header: round trip, byte layout, refusals.
#include "tests/bench/cvbench/payload.h"

#include <gtest/gtest.h>

#include <vector>

namespace cv::bench {
namespace {

TEST(MediaPayloadTest, RoundTripsEveryField) {
  MediaHeader h;
  h.flow = 0xA1B2C3D4;
  h.direction = Direction::kToClient;
  h.epoch = 7;
  h.flags = kFlagKeyframe;
  h.sequence = 0xFFFFFFFE;
  h.sent_ns = 0x0123456789ABCDEFull;
  h.burst = 42;
  std::vector<uint8_t> buf(172, 0xEE);
  ASSERT_TRUE(EncodeMedia(h, buf));
  auto back = DecodeMedia(buf);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, h);
  EXPECT_EQ(buf[kMediaHeaderSize], 0xEE) << "padding is left alone";
}

TEST(MediaPayloadTest, LayoutIsNetworkOrder) {
  MediaHeader h;
  h.flow = 0x01020304;
  h.sequence = 0x05060708;
  h.sent_ns = 0x1112131415161718ull;
  h.direction = Direction::kToPeer;
  std::vector<uint8_t> buf(kMediaHeaderSize);
  ASSERT_TRUE(EncodeMedia(h, buf));
  EXPECT_EQ(buf[0], kMediaMagic);
  EXPECT_EQ(buf[1], 0);
  EXPECT_EQ(buf[4], 0x01);
  EXPECT_EQ(buf[7], 0x04);
  EXPECT_EQ(buf[8], 0x05);
  EXPECT_EQ(buf[12], 0x11);
  EXPECT_EQ(buf[19], 0x18);
  EXPECT_TRUE(LooksLikeMedia(buf[0]));
  EXPECT_FALSE(LooksLikeMedia(0x40)) << "ChannelData";
  EXPECT_FALSE(LooksLikeMedia(0x00)) << "STUN";
}

TEST(MediaPayloadTest, RefusesShortOrForeignPayloads) {
  std::vector<uint8_t> small(kMediaHeaderSize - 1);
  EXPECT_FALSE(EncodeMedia(MediaHeader{}, small));
  EXPECT_FALSE(DecodeMedia(small));
  std::vector<uint8_t> buf(64);
  ASSERT_TRUE(EncodeMedia(MediaHeader{}, buf));
  buf[0] = 0x40;
  EXPECT_FALSE(DecodeMedia(buf)) << "wrong magic";
  buf[0] = kMediaMagic;
  buf[1] = 2;
  EXPECT_FALSE(DecodeMedia(buf)) << "unknown direction";
}

}  // namespace
}  // namespace cv::bench
