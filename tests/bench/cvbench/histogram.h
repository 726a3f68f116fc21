// A latency histogram of nanoseconds with fixed memory and O(1) recording: log-linear buckets,
// 128 sub-buckets per power of two, so a bucket is at most 1/128 of its values wide (a reported
// percentile, the middle of its bucket, is within 0.4% of a recorded value).
//
//   value v < 256                 bucket v (exact)
//   value v with top bit m >= 8   shift = m - 7,  bucket = shift * 128 + (v >> shift)
//
// so bucket 256 + 128k .. 383 + 128k covers [128 << (k+1), 256 << (k+1)). 7424 buckets cover
// every uint64_t. Histograms of equal layout merge by adding counts.
//
// Threading: none; one owner. No allocation after construction.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace cv::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSubBuckets = uint64_t{1} << kSubBits;
  static constexpr size_t kBuckets = (64 - kSubBits + 1) * kSubBuckets;

  void Record(uint64_t value) { RecordN(value, 1); }
  void RecordN(uint64_t value, uint64_t n);
  void Merge(const LatencyHistogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  // 0 when empty.
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double mean() const;
  // The value below or at which `percentile` (0-100) percent of the samples lie: the middle of
  // the bucket holding the sample of rank ceil(p/100 * count), clamped to [min, max]. 100 gives
  // max() exactly; an empty histogram gives 0.
  uint64_t Percentile(double percentile) const;

  static size_t BucketOf(uint64_t value);
  // Smallest and largest value of a bucket (inclusive).
  static uint64_t BucketLow(size_t bucket);
  static uint64_t BucketHigh(size_t bucket);

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace cv::bench
