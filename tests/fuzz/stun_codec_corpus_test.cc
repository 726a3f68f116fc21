// Replays the STUN fuzz target over its seed corpus and a set of hostile inputs in every build, so
// the invariants the fuzzer checks hold in ordinary CI too (any violation traps).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "relay/stun/message.h"
#include "tests/fuzz/corpus_replay.h"

namespace cv::stun {
namespace {

using fuzz::Buffer;
using fuzz::RunTarget;

Buffer Header(uint16_t length) {
  Buffer m = {
      0x00, 0x01, static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length), 0x21, 0x12,
      0xA4, 0x42};
  m.resize(kHeaderSize, 0x11);
  return m;
}

TEST(StunCodecCorpusTest, SeedCorpusIsPresentAndStunSeedsParse) {
  const auto seeds = fuzz::LoadCorpus(CV_STUN_CORPUS_DIR);
  ASSERT_GE(seeds.size(), 6u);
  size_t stun_seeds = 0;
  for (const auto& [name, bytes] : seeds) {
    if (name.rfind("channel_data", 0) == 0) continue;
    MessageView view;
    EXPECT_EQ(MessageView::Parse(bytes, &view), ParseError::kOk) << name;
    ++stun_seeds;
  }
  EXPECT_GE(stun_seeds, 5u);
}

TEST(StunCodecCorpusTest, EverySeedAndEveryTruncationRunsCleanly) {
  fuzz::ReplayTruncations(CV_STUN_CORPUS_DIR);
}

TEST(StunCodecCorpusTest, EveryBitFlipOfEverySeedRunsCleanly) {
  fuzz::ReplayBitFlips(CV_STUN_CORPUS_DIR);
}

TEST(StunCodecCorpusTest, HostileInputsRunCleanly) {
  std::vector<Buffer> inputs = {
      {},
      {0x00},
      {0x40, 0x00, 0xFF, 0xFF},  // ChannelData claiming 64 KiB
      {0x4F, 0xFF, 0x00, 0x00},  // empty ChannelData on the last channel
      {0x50, 0x00, 0x00, 0x00},  // channel just past the range
      Header(0),                 // bare header
      Header(0xFFFC),            // length far beyond the datagram
      Header(0xFFFF),            // odd length
  };
  // Attribute lengths near 0xFFFF.
  for (uint16_t length : {0xFFFF, 0xFFFE, 0xFFFD, 0xFFFC, 0x8000, 0x0005}) {
    Buffer m = Header(8);
    m.insert(m.end(), {0x00, 0x06, static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length),
                       'a', 'b', 'c', 'd'});
    inputs.push_back(m);
  }
  // Too many attributes.
  {
    Buffer m = Header(4 * (kMaxAttributes + 1));
    for (size_t i = 0; i <= kMaxAttributes; ++i) m.insert(m.end(), {0x00, 0x1A, 0x00, 0x00});
    inputs.push_back(m);
  }
  // Integrity and fingerprint attributes of every small length.
  for (uint16_t type :
       {attr::kMessageIntegrity, attr::kMessageIntegritySha256, attr::kFingerprint}) {
    for (uint8_t length = 0; length <= 40; ++length) {
      const size_t padded = (length + 3u) & ~3u;
      Buffer m = Header(static_cast<uint16_t>(4 + padded));
      m.insert(m.end(), {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0, length});
      m.resize(m.size() + padded, 0);
      inputs.push_back(m);
    }
  }
  // The largest possible message, whose last value starts beyond offset 0xFFFF.
  {
    Buffer m = Header(0xFFFC);
    const uint16_t data_length = 0xFFFC - 12;
    m.insert(m.end(), {0x00, 0x13, static_cast<uint8_t>(data_length >> 8),
                       static_cast<uint8_t>(data_length)});
    m.resize(m.size() + data_length, 0x5A);
    m.insert(m.end(), {0x00, 0x20, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00});
    inputs.push_back(m);
  }
  for (const Buffer& input : inputs) EXPECT_EQ(RunTarget(input), 0);
  // Odd alignments of the same inputs.
  for (const Buffer& input : inputs) {
    Buffer shifted(input.size() + 1);
    std::copy(input.begin(), input.end(), shifted.begin() + 1);
    LLVMFuzzerTestOneInput(shifted.data() + 1, input.size());
  }
}

}  // namespace
}  // namespace cv::stun
