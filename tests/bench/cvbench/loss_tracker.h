// Which sequence numbers of one flow and direction arrived: a sliding window of kWindow bits
// behind the highest sequence seen, so duplicates and late (reordered) arrivals are told apart
// from new ones in O(1) and fixed memory. 32-bit sequences wrap; they are extended to 64 bits
// relative to the highest one seen, so a flow may run through any number of wraps.
//
// Loss is not guessed from gaps: the sender is the same process and knows how many packets it
// sent, so loss = sent - unique(). An arrival older than the window cannot be checked for
// duplication; it is reported as kTooOld and counted as received by callers (with a window of
// 2048 packets this needs a reordering depth no relay produces).
//
// Threading: none; one owner. No allocation.
#pragma once

#include <array>
#include <cstdint>

namespace cv::bench {

class SequenceTracker {
 public:
  static constexpr uint32_t kWindow = 2048;  // a power of two

  enum class Arrival : uint8_t {
    kNew,        // the next or a later sequence than any seen (gaps are allowed)
    kReordered,  // earlier than the highest seen, not seen before
    kDuplicate,  // seen before
    kTooOld,     // more than kWindow behind the highest seen: cannot tell
  };

  Arrival Record(uint32_t sequence);

  // Distinct sequences seen (kNew + kReordered + kTooOld).
  uint64_t unique() const { return unique_; }
  uint64_t duplicates() const { return duplicates_; }
  uint64_t reordered() const { return reordered_; }
  uint64_t too_old() const { return too_old_; }
  bool empty() const { return !started_; }

 private:
  static constexpr uint32_t kWords = kWindow / 64;
  bool Test(int64_t s) const;
  void Set(int64_t s);
  void Clear(int64_t s);

  std::array<uint64_t, kWords> bits_{};
  int64_t highest_ = 0;  // extended sequence
  bool started_ = false;
  uint64_t unique_ = 0, duplicates_ = 0, reordered_ = 0, too_old_ = 0;
};

}  // namespace cv::bench
