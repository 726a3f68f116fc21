// cvbench's latency histogram: percentiles of known distributions within 1%, merging, edges.
#include "tests/bench/cvbench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace cv::bench {
namespace {

// The exact value of rank ceil(p/100 * n) in sorted `v`.
uint64_t Exact(std::vector<uint64_t> v, double p) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

void ExpectWithinOnePercent(uint64_t got, uint64_t want) {
  EXPECT_LE(std::fabs(static_cast<double>(got) - static_cast<double>(want)),
            0.01 * static_cast<double>(want))
      << "got " << got << " want " << want;
}

class LatencyHistogramTest : public ::testing::Test {
 protected:
  LatencyHistogram h_;
};

TEST_F(LatencyHistogramTest, EmptyReportsZero) {
  EXPECT_EQ(h_.count(), 0u);
  EXPECT_EQ(h_.Percentile(50), 0u);
  EXPECT_EQ(h_.Percentile(100), 0u);
  EXPECT_EQ(h_.min(), 0u);
}

TEST_F(LatencyHistogramTest, SmallValuesAreExact) {
  for (uint64_t v = 0; v < 256; ++v) h_.Record(v);
  EXPECT_EQ(h_.Percentile(50), 127u);
  EXPECT_EQ(h_.Percentile(100), 255u);
  EXPECT_EQ(h_.min(), 0u);
}

TEST_F(LatencyHistogramTest, UniformDistributionPercentilesWithinOnePercent) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint64_t> d(10'000, 5'000'000);  // 10 us .. 5 ms
  std::vector<uint64_t> v;
  for (int i = 0; i < 200'000; ++i) {
    v.push_back(d(rng));
    h_.Record(v.back());
  }
  for (double p : {1.0, 50.0, 90.0, 99.0, 99.9})
    ExpectWithinOnePercent(h_.Percentile(p), Exact(v, p));
  EXPECT_EQ(h_.Percentile(100), *std::max_element(v.begin(), v.end()));
  EXPECT_EQ(h_.min(), *std::min_element(v.begin(), v.end()));
}

TEST_F(LatencyHistogramTest, LogNormalDistributionPercentilesWithinOnePercent) {
  std::mt19937_64 rng(11);
  std::lognormal_distribution<double> d(std::log(80'000.0), 0.8);  // ~80 us, long tail
  std::vector<uint64_t> v;
  for (int i = 0; i < 200'000; ++i) {
    v.push_back(static_cast<uint64_t>(d(rng)));
    h_.Record(v.back());
  }
  for (double p : {50.0, 90.0, 99.0, 99.9}) ExpectWithinOnePercent(h_.Percentile(p), Exact(v, p));
}

TEST_F(LatencyHistogramTest, HugeValuesFitTheLastBucket) {
  h_.Record(UINT64_MAX);
  h_.Record(uint64_t{1} << 63);
  EXPECT_EQ(LatencyHistogram::BucketOf(UINT64_MAX), LatencyHistogram::kBuckets - 1);
  EXPECT_EQ(h_.Percentile(100), UINT64_MAX);
  ExpectWithinOnePercent(h_.Percentile(50), uint64_t{1} << 63);
}

TEST_F(LatencyHistogramTest, BucketsTileTheValueRange) {
  for (size_t b = 1; b < LatencyHistogram::kBuckets; ++b) {
    ASSERT_EQ(LatencyHistogram::BucketLow(b), LatencyHistogram::BucketHigh(b - 1) + 1) << b;
  }
  for (uint64_t v : {uint64_t{255}, uint64_t{256}, uint64_t{1000}, uint64_t{123456789}}) {
    const size_t b = LatencyHistogram::BucketOf(v);
    EXPECT_LE(LatencyHistogram::BucketLow(b), v);
    EXPECT_GE(LatencyHistogram::BucketHigh(b), v);
    // A bucket is at most 1/128 of its lowest value wide.
    EXPECT_LE(LatencyHistogram::BucketHigh(b) - LatencyHistogram::BucketLow(b),
              LatencyHistogram::BucketLow(b) / 128 + 1);
  }
}

TEST_F(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<uint64_t> d(1, 10'000'000);
  for (int i = 0; i < 50'000; ++i) {
    const uint64_t v = d(rng);
    (i % 3 == 0 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double p : {50.0, 99.0, 99.9, 100.0}) EXPECT_EQ(a.Percentile(p), all.Percentile(p));
  EXPECT_NEAR(a.mean(), all.mean(), 1e-6 * all.mean());
}

TEST_F(LatencyHistogramTest, RecordNCountsRepeatedValues) {
  h_.RecordN(1000, 99);
  h_.RecordN(5'000'000, 1);
  EXPECT_EQ(h_.count(), 100u);
  ExpectWithinOnePercent(h_.Percentile(99), 1000);
  ExpectWithinOnePercent(h_.Percentile(99.5), 5'000'000);
}

}  // namespace
}  // namespace cv::bench
