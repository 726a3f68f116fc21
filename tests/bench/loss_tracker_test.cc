// cvbench's per-flow sequence tracker: new, lost, duplicated, reordered, too old, wrapping.
#include "tests/bench/cvbench/loss_tracker.h"

#include <gtest/gtest.h>

namespace cv::bench {
namespace {

using Arrival = SequenceTracker::Arrival;

class SequenceTrackerTest : public ::testing::Test {
 protected:
  SequenceTracker t_;
};

TEST_F(SequenceTrackerTest, InOrderArrivalsAreAllNew) {
  for (uint32_t s = 0; s < 10'000; ++s) ASSERT_EQ(t_.Record(s), Arrival::kNew);
  EXPECT_EQ(t_.unique(), 10'000u);
  EXPECT_EQ(t_.duplicates(), 0u);
  EXPECT_EQ(t_.reordered(), 0u);
}

TEST_F(SequenceTrackerTest, GapsAreLossAgainstWhatWasSent) {
  uint64_t sent = 0;
  for (uint32_t s = 0; s < 1000; ++s) {
    ++sent;
    if (s % 10 == 3) continue;  // lost
    t_.Record(s);
  }
  EXPECT_EQ(sent - t_.unique(), 100u);
}

TEST_F(SequenceTrackerTest, DuplicatesAreCountedOnceAndApart) {
  t_.Record(1);
  t_.Record(2);
  EXPECT_EQ(t_.Record(2), Arrival::kDuplicate);
  EXPECT_EQ(t_.Record(1), Arrival::kDuplicate);
  EXPECT_EQ(t_.unique(), 2u);
  EXPECT_EQ(t_.duplicates(), 2u);
}

TEST_F(SequenceTrackerTest, LateArrivalsAreReorderedNotDuplicates) {
  t_.Record(10);
  t_.Record(12);
  t_.Record(13);
  EXPECT_EQ(t_.Record(11), Arrival::kReordered);
  EXPECT_EQ(t_.Record(11), Arrival::kDuplicate);
  EXPECT_EQ(t_.unique(), 4u);
  EXPECT_EQ(t_.reordered(), 1u);
  EXPECT_EQ(t_.duplicates(), 1u);
}

TEST_F(SequenceTrackerTest, ABigJumpForgetsTheWindow) {
  t_.Record(5);
  EXPECT_EQ(t_.Record(5 + 10 * SequenceTracker::kWindow), Arrival::kNew);
  EXPECT_EQ(t_.Record(6), Arrival::kTooOld);
  // A slot reused after the jump is not mistaken for the old sequence.
  EXPECT_EQ(t_.Record(5 + 10 * SequenceTracker::kWindow - 1), Arrival::kReordered);
}

TEST_F(SequenceTrackerTest, SequencesWrapAroundZero) {
  const uint32_t start = 0xFFFFFFF0u;
  for (uint32_t k = 0; k < 64; ++k) ASSERT_EQ(t_.Record(start + k), Arrival::kNew) << k;
  EXPECT_EQ(t_.Record(0xFFFFFFFFu), Arrival::kDuplicate);
  EXPECT_EQ(t_.Record(5), Arrival::kDuplicate);
  EXPECT_EQ(t_.unique(), 64u);
}

TEST_F(SequenceTrackerTest, ReorderingAcrossTheWrapIsSeen) {
  t_.Record(0xFFFFFFFEu);
  t_.Record(1);  // skipped 0xFFFFFFFF and 0
  EXPECT_EQ(t_.Record(0), Arrival::kReordered);
  EXPECT_EQ(t_.Record(0xFFFFFFFFu), Arrival::kReordered);
  EXPECT_EQ(t_.unique(), 4u);
}

TEST_F(SequenceTrackerTest, SlidingWindowClearsSlotsItMovesOver) {
  constexpr uint32_t W = SequenceTracker::kWindow;
  for (uint32_t s = 0; s < 10; ++s) t_.Record(s);
  EXPECT_EQ(t_.Record(W + 5), Arrival::kNew);
  // W + 2 shares its slot with 2, which the window moved over: not a duplicate.
  EXPECT_EQ(t_.Record(W + 2), Arrival::kReordered);
  EXPECT_EQ(t_.Record(6), Arrival::kDuplicate) << "still inside the window";
  EXPECT_EQ(t_.Record(5), Arrival::kTooOld);
}

}  // namespace
}  // namespace cv::bench
