// Replays the stream framing fuzz target over its seed corpus and a set of hostile inputs in
// every build, so the invariants the fuzzer checks hold in ordinary CI too (any violation traps).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace cv::net {
namespace {

using Buffer = std::vector<uint8_t>;

int RunTarget(const Buffer& input) { return LLVMFuzzerTestOneInput(input.data(), input.size()); }

std::vector<std::pair<std::string, Buffer>> LoadCorpus() {
  std::vector<std::pair<std::string, Buffer>> seeds;
  for (const auto& entry : std::filesystem::directory_iterator(CV_STREAM_FRAMER_CORPUS_DIR)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream file(entry.path(), std::ios::binary);
    Buffer bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    seeds.emplace_back(entry.path().filename().string(), std::move(bytes));
  }
  return seeds;
}

// max_message (big-endian) followed by the stream.
Buffer Input(uint16_t max_message, Buffer stream) {
  stream.insert(stream.begin(),
                {static_cast<uint8_t>(max_message >> 8), static_cast<uint8_t>(max_message)});
  return stream;
}

TEST(StreamFramerCorpusTest, SeedCorpusIsPresent) { EXPECT_GE(LoadCorpus().size(), 4u); }

TEST(StreamFramerCorpusTest, EverySeedAndEveryTruncationRunsCleanly) {
  for (const auto& [name, bytes] : LoadCorpus()) {
    SCOPED_TRACE(name);
    EXPECT_EQ(RunTarget(bytes), 0);
    for (size_t n = 0; n < bytes.size(); ++n) {
      RunTarget(Buffer(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)));
    }
  }
}

TEST(StreamFramerCorpusTest, EveryBitFlipOfEverySeedRunsCleanly) {
  for (const auto& [name, bytes] : LoadCorpus()) {
    SCOPED_TRACE(name);
    for (size_t i = 0; i < bytes.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        Buffer flipped = bytes;
        flipped[i] ^= static_cast<uint8_t>(1 << bit);
        RunTarget(flipped);
      }
    }
  }
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
