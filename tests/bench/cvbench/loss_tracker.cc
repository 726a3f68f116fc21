#include "tests/bench/cvbench/loss_tracker.h"

namespace cv::bench {

bool SequenceTracker::Test(int64_t s) const {
  const uint64_t bit = static_cast<uint64_t>(s) & (kWindow - 1);
  return (bits_[bit / 64] >> (bit % 64)) & 1;
}

void SequenceTracker::Set(int64_t s) {
  const uint64_t bit = static_cast<uint64_t>(s) & (kWindow - 1);
  bits_[bit / 64] |= uint64_t{1} << (bit % 64);
}

void SequenceTracker::Clear(int64_t s) {
  const uint64_t bit = static_cast<uint64_t>(s) & (kWindow - 1);
  bits_[bit / 64] &= ~(uint64_t{1} << (bit % 64));
}

SequenceTracker::Arrival SequenceTracker::Record(uint32_t sequence) {
  if (!started_) {
    started_ = true;
    highest_ = sequence;
    Set(highest_);
    ++unique_;
    return Arrival::kNew;
  }
  // Distance from the highest seen, modulo 2^32, read as signed: the nearer of the two ways.
  const int32_t delta = static_cast<int32_t>(sequence - static_cast<uint32_t>(highest_));
  const int64_t extended = highest_ + delta;
  if (delta > 0) {
    if (delta >= static_cast<int32_t>(kWindow)) {
      bits_.fill(0);
    } else {
      for (int64_t s = highest_ + 1; s < extended; ++s) Clear(s);
    }
    highest_ = extended;
    Set(extended);
    ++unique_;
    return Arrival::kNew;
  }
  if (delta == 0) {
    ++duplicates_;
    return Arrival::kDuplicate;
  }
  if (-static_cast<int64_t>(delta) >= static_cast<int64_t>(kWindow)) {
    ++too_old_;
    ++unique_;
    return Arrival::kTooOld;
  }
  if (Test(extended)) {
    ++duplicates_;
    return Arrival::kDuplicate;
  }
  Set(extended);
  ++reordered_;
  ++unique_;
  return Arrival::kReordered;
}

}  // namespace cv::bench
