// Replaying a libFuzzer target in ordinary builds: the seed corpus, every truncation and every
// single-bit flip of each seed. The target's own checks trap on a violated invariant.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace cv::fuzz {

using Buffer = std::vector<uint8_t>;

inline int RunTarget(const Buffer& input) {
  return LLVMFuzzerTestOneInput(input.data(), input.size());
}

// Every regular file of `dir`: its name and bytes.
inline std::vector<std::pair<std::string, Buffer>> LoadCorpus(const char* dir) {
  std::vector<std::pair<std::string, Buffer>> seeds;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream file(entry.path(), std::ios::binary);
    Buffer bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    seeds.emplace_back(entry.path().filename().string(), std::move(bytes));
  }
  return seeds;
}

// Each seed whole (expected to return 0) and cut at every length.
inline void ReplayTruncations(const char* dir) {
  for (const auto& [name, bytes] : LoadCorpus(dir)) {
    SCOPED_TRACE(name);
    EXPECT_EQ(RunTarget(bytes), 0);
    for (size_t n = 0; n < bytes.size(); ++n) {
      RunTarget(Buffer(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n)));
    }
  }
}

// Each seed with one bit flipped, for every bit.
inline void ReplayBitFlips(const char* dir) {
  for (const auto& [name, bytes] : LoadCorpus(dir)) {
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

}  // namespace cv::fuzz
