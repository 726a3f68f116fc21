#include "relay/turn/timer_wheel.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

namespace cv::turn {
namespace {

struct Owner {
  int id = 0;
  TimerNode timer;
  int fired = 0;
  MonoTime fired_at{};
};

Owner* OwnerOf(TimerNode* n) { return static_cast<Owner*>(n->owner); }

class TimerWheelTest : public ::testing::Test {
 protected:
  SimulatedClock clock_;
  TimerWheel wheel_{clock_.Now(), milliseconds(100), 64};  // one rotation = 6.4 s
  std::vector<int> order_;

  std::unique_ptr<Owner> Make(int id) {
    auto o = std::make_unique<Owner>();
    o->id = id;
    o->timer.owner = o.get();
    return o;
  }
  size_t AdvanceTo(MonoTime now) {
    return wheel_.Advance(now, [&](TimerNode* n) {
      Owner* o = OwnerOf(n);
      ++o->fired;
      o->fired_at = now;
      order_.push_back(o->id);
    });
  }
  // Steps the clock by `step` until `total` has passed, advancing the wheel at each step.
  void Run(Duration total, Duration step) {
    for (Duration d{}; d < total; d += step) {
      clock_.Advance(step);
      AdvanceTo(clock_.Now());
    }
  }
};

TEST_F(TimerWheelTest, FiresInDeadlineOrderAndNeverEarly) {
  const MonoTime t0 = clock_.Now();
  auto a = Make(1), b = Make(2), c = Make(3);
  wheel_.Schedule(&c->timer, t0 + milliseconds(2500));
  wheel_.Schedule(&a->timer, t0 + milliseconds(300));
  wheel_.Schedule(&b->timer, t0 + milliseconds(1250));
  EXPECT_EQ(wheel_.size(), 3u);
  EXPECT_EQ(AdvanceTo(t0 + milliseconds(299)), 0u);
  EXPECT_EQ(AdvanceTo(t0 + milliseconds(300)), 1u);
  EXPECT_EQ(a->fired_at, t0 + milliseconds(300));
  EXPECT_EQ(AdvanceTo(t0 + milliseconds(1249)), 0u);
  EXPECT_EQ(AdvanceTo(t0 + seconds(3)), 2u);  // one call, two ticks: still in order
  EXPECT_EQ(order_, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(wheel_.size(), 0u);
  EXPECT_FALSE(wheel_.scheduled(&a->timer));
}

TEST_F(TimerWheelTest, DeadlineInsideTheCurrentTickFiresExactly) {
  const MonoTime t0 = clock_.Now();
  auto a = Make(1);
  wheel_.Schedule(&a->timer, t0 + milliseconds(50));
  EXPECT_EQ(AdvanceTo(t0 + milliseconds(49)), 0u);
  EXPECT_EQ(AdvanceTo(t0 + milliseconds(50)), 1u);
}

TEST_F(TimerWheelTest, PastDeadlineFiresOnNextAdvance) {
  const MonoTime t0 = clock_.Now();
  AdvanceTo(t0 + seconds(10));
  auto a = Make(1);
  wheel_.Schedule(&a->timer, t0);
  ASSERT_TRUE(wheel_.NextDeadline());
  EXPECT_EQ(*wheel_.NextDeadline(), t0);
  EXPECT_EQ(AdvanceTo(t0 + seconds(10)), 1u);
}

TEST_F(TimerWheelTest, CancelPreventsFiring) {
  const MonoTime t0 = clock_.Now();
  auto a = Make(1), b = Make(2);
  wheel_.Schedule(&a->timer, t0 + seconds(1));
  wheel_.Schedule(&b->timer, t0 + seconds(1));
  wheel_.Cancel(&a->timer);
  wheel_.Cancel(&a->timer);  // twice is fine
  EXPECT_FALSE(wheel_.scheduled(&a->timer));
  EXPECT_EQ(wheel_.size(), 1u);
  Run(seconds(2), milliseconds(100));
  EXPECT_EQ(a->fired, 0);
  EXPECT_EQ(b->fired, 1);
}

TEST_F(TimerWheelTest, RescheduleMovesTheTimer) {
  const MonoTime t0 = clock_.Now();
  auto a = Make(1);
  wheel_.Schedule(&a->timer, t0 + seconds(1));
  wheel_.Schedule(&a->timer, t0 + seconds(5));
  EXPECT_EQ(wheel_.size(), 1u);
  EXPECT_EQ(AdvanceTo(t0 + seconds(4)), 0u);
  EXPECT_EQ(AdvanceTo(t0 + seconds(5)), 1u);
  EXPECT_EQ(a->fired, 1);
}

TEST_F(TimerWheelTest, RescheduleInsideCallbackMakesAPeriodicTimer) {
  const MonoTime t0 = clock_.Now();
  auto a = Make(1);
  int fired = 0;
  wheel_.Schedule(&a->timer, t0 + seconds(1));
  for (int s = 1; s <= 10; ++s) {
    fired += static_cast<int>(wheel_.Advance(
        t0 + seconds(s), [&](TimerNode* n) { wheel_.Schedule(n, n->deadline + seconds(1)); }));
  }
  EXPECT_EQ(fired, 10);
  EXPECT_TRUE(wheel_.scheduled(&a->timer));
  EXPECT_EQ(a->timer.deadline, t0 + seconds(11));
}

TEST_F(TimerWheelTest, CallbackRescheduleToThePastDoesNotLoopForever) {
  const MonoTime t0 = clock_.Now();
  auto a = Make(1);
  wheel_.Schedule(&a->timer, t0 + seconds(1));
  size_t fired = wheel_.Advance(t0 + seconds(1), [&](TimerNode* n) { wheel_.Schedule(n, t0); });
  EXPECT_EQ(fired, 1u);
  EXPECT_TRUE(wheel_.scheduled(&a->timer));
  EXPECT_EQ(wheel_.Advance(t0 + seconds(1), [](TimerNode*) {}), 1u);
}

TEST_F(TimerWheelTest, CallbackMayCancelOrDestroyOtherDueTimers) {
  const MonoTime t0 = clock_.Now();
  auto a = Make(1), b = Make(2), c = Make(3);
  // Same tick, so b and c are on the list being walked when a fires.
  wheel_.Schedule(&a->timer, t0 + milliseconds(510));
  wheel_.Schedule(&b->timer, t0 + milliseconds(520));
  wheel_.Schedule(&c->timer, t0 + milliseconds(530));
  std::vector<int> seen;
  wheel_.Advance(t0 + seconds(1), [&](TimerNode* n) {
    Owner* o = OwnerOf(n);
    seen.push_back(o->id);
    if (o->id == 1) {
      wheel_.Cancel(&b->timer);
      c.reset();  // destroying a scheduled node unschedules it
    }
  });
  EXPECT_EQ(seen, (std::vector<int>{1}));
  EXPECT_EQ(wheel_.size(), 0u);
}

TEST_F(TimerWheelTest, CallbackMayDestroyTheOwnerThatFired) {
  const MonoTime t0 = clock_.Now();
  std::vector<std::unique_ptr<Owner>> owners;
  for (int i = 0; i < 10; ++i) {
    owners.push_back(Make(i));
    wheel_.Schedule(&owners.back()->timer, t0 + milliseconds(10 * i));
  }
  size_t fired = wheel_.Advance(
      t0 + seconds(1), [&](TimerNode* n) { owners[static_cast<size_t>(OwnerOf(n)->id)].reset(); });
  EXPECT_EQ(fired, 10u);
  for (auto& o : owners) EXPECT_EQ(o, nullptr);
}

TEST_F(TimerWheelTest, CallbackMayScheduleATimerDueLaterInTheSameAdvance) {
  const MonoTime t0 = clock_.Now();
  auto a = Make(1), b = Make(2);
  wheel_.Schedule(&a->timer, t0 + seconds(1));
  std::vector<int> seen;
  wheel_.Advance(t0 + seconds(3), [&](TimerNode* n) {
    seen.push_back(OwnerOf(n)->id);
    if (OwnerOf(n)->id == 1) wheel_.Schedule(&b->timer, t0 + seconds(2));
  });
  EXPECT_EQ(seen, (std::vector<int>{1, 2}));
}

TEST_F(TimerWheelTest, DeadlinesBeyondOneRotationWaitTheirTurn) {
  const MonoTime t0 = clock_.Now();
  auto near = Make(1), far = Make(2), farther = Make(3);
  wheel_.Schedule(&near->timer, t0 + milliseconds(500));
  wheel_.Schedule(&far->timer, t0 + milliseconds(500) + milliseconds(6400));       // same slot
  wheel_.Schedule(&farther->timer, t0 + milliseconds(500) + milliseconds(64000));  // 10 turns
  Run(milliseconds(600), milliseconds(100));
  EXPECT_EQ(near->fired, 1);
  EXPECT_EQ(far->fired, 0);
  Run(milliseconds(6400), milliseconds(100));
  EXPECT_EQ(far->fired, 1);
  EXPECT_EQ(far->fired_at, t0 + milliseconds(6900));
  EXPECT_EQ(farther->fired, 0);
  Run(seconds(60), milliseconds(100));
  EXPECT_EQ(farther->fired, 1);
  EXPECT_EQ(farther->fired_at, t0 + milliseconds(64500));
}

TEST_F(TimerWheelTest, LongStallFiresEverythingDueOnce) {
  const MonoTime t0 = clock_.Now();
  std::vector<std::unique_ptr<Owner>> owners;
  for (int i = 0; i < 500; ++i) {
    owners.push_back(Make(i));
    wheel_.Schedule(&owners.back()->timer, t0 + milliseconds(37) * i);  // up to 18.5 s
  }
  auto late = Make(999);
  wheel_.Schedule(&late->timer, t0 + seconds(100));
  EXPECT_EQ(AdvanceTo(t0 + seconds(60)), 500u);  // ~10 rotations in one call
  for (auto& o : owners) EXPECT_EQ(o->fired, 1);
  EXPECT_EQ(late->fired, 0);
  EXPECT_EQ(wheel_.size(), 1u);
}

TEST_F(TimerWheelTest, NextDeadline) {
  const MonoTime t0 = clock_.Now();
  EXPECT_FALSE(wheel_.NextDeadline());
  auto a = Make(1), b = Make(2), far = Make(3);
  wheel_.Schedule(&far->timer, t0 + seconds(100));
  // Only timers more than a rotation away: an earlier time to ask again, never later.
  ASSERT_TRUE(wheel_.NextDeadline());
  EXPECT_LE(*wheel_.NextDeadline(), t0 + seconds(100));
  EXPECT_GT(*wheel_.NextDeadline(), t0);
  wheel_.Schedule(&b->timer, t0 + milliseconds(1234));
  wheel_.Schedule(&a->timer, t0 + milliseconds(1201));
  EXPECT_EQ(wheel_.NextDeadline(), t0 + milliseconds(1201));
  wheel_.Cancel(&a->timer);
  EXPECT_EQ(wheel_.NextDeadline(), t0 + milliseconds(1234));
  AdvanceTo(t0 + seconds(2));
  // Only the far timer is left: NextDeadline still bounds it from below.
  ASSERT_TRUE(wheel_.NextDeadline());
  EXPECT_LE(*wheel_.NextDeadline(), t0 + seconds(100));
  // Following NextDeadline reaches the far timer in a few steps.
  int steps = 0;
  while (far->fired == 0 && steps < 100) {
    AdvanceTo(*wheel_.NextDeadline());
    ++steps;
  }
  EXPECT_EQ(far->fired, 1);
  EXPECT_LT(steps, 20);
  EXPECT_FALSE(wheel_.NextDeadline());
}

TEST_F(TimerWheelTest, NextDeadlineIgnoresLaterRotationsInEarlierSlots) {
  const MonoTime t0 = clock_.Now();
  auto near = Make(1), far = Make(2);
  wheel_.Schedule(&near->timer, t0 + seconds(3));           // tick 30, slot 30
  wheel_.Schedule(&far->timer, t0 + milliseconds(65'000));  // tick 650, slot 10: scanned first
  EXPECT_EQ(wheel_.NextDeadline(), t0 + seconds(3));
}

TEST_F(TimerWheelTest, TimerCanMoveBetweenWheels) {
  const MonoTime t0 = clock_.Now();
  TimerWheel other(t0);
  auto a = Make(1);
  wheel_.Schedule(&a->timer, t0 + seconds(1));
  other.Schedule(&a->timer, t0 + seconds(1));
  EXPECT_EQ(wheel_.size(), 0u);
  EXPECT_EQ(other.size(), 1u);
  EXPECT_TRUE(other.scheduled(&a->timer));
  EXPECT_FALSE(wheel_.scheduled(&a->timer));
}

TEST_F(TimerWheelTest, DestroyingTheWheelUnschedulesNodes) {
  const MonoTime t0 = clock_.Now();
  auto a = Make(1);
  {
    TimerWheel w(t0);
    w.Schedule(&a->timer, t0 + seconds(1));
  }
  EXPECT_EQ(a->timer.wheel, nullptr);
  EXPECT_EQ(a->timer.next, nullptr);
}

TEST_F(TimerWheelTest, HundredThousandAllocationLifetimes) {
  const MonoTime t0 = clock_.Now();
  TimerWheel wheel(t0);  // defaults: 100 ms ticks, 1024 slots
  constexpr int kCount = 100'000;
  std::vector<Owner> owners(kCount);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> ms(0, 20 * 60 * 1000);
  for (int i = 0; i < kCount; ++i) {
    owners[i].id = i;
    owners[i].timer.owner = &owners[i];
    wheel.Schedule(&owners[i].timer, t0 + milliseconds(ms(rng)));
  }
  // Refresh a tenth of them once (as Refresh requests do), and cancel another tenth.
  for (int i = 0; i < kCount; i += 10) {
    wheel.Schedule(&owners[i].timer, owners[i].timer.deadline + seconds(30));
  }
  for (int i = 5; i < kCount; i += 10) wheel.Cancel(&owners[i].timer);
  EXPECT_EQ(wheel.size(), static_cast<size_t>(kCount - kCount / 10));

  MonoTime last_deadline{};
  bool ordered = true;
  size_t fired = 0;
  for (MonoTime now = t0; now <= t0 + std::chrono::minutes(21); now += milliseconds(100)) {
    fired += wheel.Advance(now, [&](TimerNode* n) {
      Owner* o = OwnerOf(n);
      ++o->fired;
      o->fired_at = now;
      // Across ticks, in deadline order (within a tick, in scheduling order).
      if (o->timer.deadline + milliseconds(100) < last_deadline) ordered = false;
      last_deadline = std::max(last_deadline, o->timer.deadline);
    });
  }
  EXPECT_TRUE(ordered);
  EXPECT_EQ(fired, static_cast<size_t>(kCount - kCount / 10));
  EXPECT_EQ(wheel.size(), 0u);
  for (int i = 0; i < kCount; ++i) {
    const Owner& o = owners[i];
    if (i % 10 == 5) {
      EXPECT_EQ(o.fired, 0) << i;
      continue;
    }
    ASSERT_EQ(o.fired, 1) << i;
    EXPECT_GE(o.fired_at, o.timer.deadline) << i;
    EXPECT_LT(o.fired_at - o.timer.deadline, milliseconds(100)) << i;
  }
}

}  // namespace
}  // namespace cv::turn
