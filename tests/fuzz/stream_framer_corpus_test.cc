// Replays the stream framing fuzz target over its seed corpus and a set of hostile inputs in
// every build, so the invariants the fuzzer checks hold in ordinary CI too (any violation traps).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/fuzz/corpus_replay.h"

namespace cv::net {
namespace {

using fuzz::Buffer;
using fuzz::RunTarget;

// max_message (big-endian) followed by the stream.
Buffer Input(uint16_t max_message, Buffer stream) {
  stream.insert(stream.begin(),
                {static_cast<uint8_t>(max_message >> 8), static_cast<uint8_t>(max_message)});
  return stream;
}

TEST(StreamFramerCorpusTest, SeedCorpusIsPresent) {
  EXPECT_GE(fuzz::LoadCorpus(CV_STREAM_FRAMER_CORPUS_DIR).size(), 4u);
}

TEST(StreamFramerCorpusTest, EverySeedAndEveryTruncationRunsCleanly) {
  fuzz::ReplayTruncations(CV_STREAM_FRAMER_CORPUS_DIR);
}

TEST(StreamFramerCorpusTest, EveryBitFlipOfEverySeedRunsCleanly) {
  fuzz::ReplayBitFlips(CV_STREAM_FRAMER_CORPUS_DIR);
}

TEST(StreamFramerCorpusTest, HostileInputsRunCleanly) {
  const std::vector<Buffer> inputs = {
      {},
      {0x10},
      Input(4100, {}),
      Input(4100, {0x40, 0x00, 0xFF, 0xFF}),                          // ChannelData of 64 KiB
      Input(0xFFFF, {0x40, 0x00, 0xFF, 0xFF}),                        // ... allowed, not there
      Input(4100, {0x4F, 0xFF, 0x00, 0x00}),                          // empty, last channel
      Input(4100, {0x70, 0xE0, 0x00, 0x00}),                          // RFC 5766 channel
      Input(4100, {0x00, 0x01, 0xFF, 0xFC, 0x21, 0x12, 0xA4, 0x42}),  // STUN of 64 KiB
      Input(4100, {0x00, 0x01, 0x00, 0x03, 0x21, 0x12, 0xA4, 0x42}),  // odd STUN length
      Input(4100, {0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xA4, 0x43}),  // bad cookie
      Input(0, {0x40, 0x00, 0x00, 0x00}),                             // limit below a header
      Input(3, {0x40, 0x00, 0x00, 0x00}),
      Input(4, {0x40, 0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x01, 0xAA}),  // padding missing
  };
  for (const Buffer& input : inputs) EXPECT_EQ(RunTarget(input), 0);
}

TEST(StreamFramerCorpusTest, ThousandsOfEmptyChannelDataFramesRunCleanly) {
  Buffer stream;
  for (int i = 0; i < 5000; ++i) stream.insert(stream.end(), {0x40, 0x00, 0x00, 0x00});
  EXPECT_EQ(RunTarget(Input(4100, stream)), 0);
}

}  // namespace
}  // namespace cv::net
