// Replays the claims fuzz target over its seed corpus and hostile usernames in every build, so
// the invariants the fuzzer checks hold in ordinary CI too (any violation traps).
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// The target returns 0, or aborts when an invariant breaks.
int RunTarget(const std::string& input) {
  return LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

TEST(ClaimsCorpusTest, EverySeedRunsThroughTheTarget) {
  size_t seeds = 0;
  for (const auto& entry : std::filesystem::directory_iterator(CV_CLAIMS_CORPUS_DIR)) {
    std::ifstream file(entry.path(), std::ios::binary);
    EXPECT_EQ(RunTarget(std::string((std::istreambuf_iterator<char>(file)),
                                    std::istreambuf_iterator<char>())),
              0)
        << entry.path();
    ++seeds;
  }
  EXPECT_GE(seeds, 5u);
}

TEST(ClaimsCorpusTest, HostileUsernamesRunThroughTheTarget) {
  const std::string hostile[] = {
      "",
      ":",
      "1:cv1",
      "1700003600:cv1;",
      "1700003600:cv1;u=%s%n;s=x;p=pro",
      std::string("1700003600:cv1;u=a\0b;s=x;p=pro", 31),
      "1700003600:cv1;u=a\r\nINJECTED;s=x;p=pro",
      "1700003600:cv1;u=\xff\xfe;s=x;p=pro",
      "1700003600:cv1;g=99999999999999999999;u=a;s=b;p=pro",
      "1700003600:cv1;u=a;s=b;p=pro;zz=1",
      std::string(600, '1') + ":cv1",
      "1700003600:" + std::string(500, 'a'),
  };
  for (const std::string& h : hostile) EXPECT_EQ(RunTarget(h), 0) << h.substr(0, 60);
}

}  // namespace
