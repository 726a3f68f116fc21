// A hashed timer wheel for many long deadlines (allocation, permission and channel lifetimes):
// O(1) Schedule/Cancel, no allocation per timer, one slot visited per tick.
//
// Time is cut into ticks of `tick` length; slot = tick index mod slot count. A timer sits in the
// slot of the tick holding its deadline; timers more than one rotation away share the slot with
// nearer ones and are passed over until their turn. Advance(now) visits the slots of the ticks
// elapsed since the last call (each slot at most once) and fires exactly the timers whose
// deadline <= now: never early, and never later than the Advance() call that passes the deadline.
// Timers due in one Advance() fire tick by tick; within one tick, in the order they were
// scheduled.
//
// Intrusive: the owner embeds a TimerNode (as a member or a base class) and the wheel links it
// into a per-slot list. Destroying a scheduled TimerNode cancels it; destroying the wheel
// unschedules every node.
//
// Threading: one wheel per worker; not thread-safe. Never allocates after construction, never
// throws.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "relay/common/clock.h"

namespace cv::turn {

class TimerWheel;

struct TimerNode {
  TimerNode() = default;
  TimerNode(const TimerNode&) = delete;
  TimerNode& operator=(const TimerNode&) = delete;
  inline ~TimerNode();

  // Owned by the wheel while scheduled; read-only for everyone else.
  TimerNode* prev = nullptr;
  TimerNode* next = nullptr;
  MonoTime deadline{};
  TimerWheel* wheel = nullptr;
  // Free for the owner (e.g. a back-pointer); the wheel never touches it.
  void* owner = nullptr;
};

class TimerWheel {
 public:
  // `slot_count` is rounded up to a power of two. With the defaults one rotation is ~102 s.
  explicit TimerWheel(MonoTime start, Duration tick = milliseconds(100), size_t slot_count = 1024);
  ~TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Schedules `n` at `deadline`, moving it if it was already scheduled (on this wheel or on
  // another). A deadline already passed fires on the next Advance().
  void Schedule(TimerNode* n, MonoTime deadline);
  // Unschedules `n`; no-op if it is not scheduled.
  void Cancel(TimerNode* n);
  bool scheduled(const TimerNode* n) const { return n->wheel == this; }
  size_t size() const { return size_; }
  Duration tick() const { return tick_; }

  // Calls on_expire(TimerNode*) for every timer whose deadline <= now, unscheduling each before
  // its call. From inside on_expire, the callee may schedule, cancel or destroy any node
  // (including the one that fired, and ones due in this same call). A node scheduled from inside
  // on_expire with a deadline <= now fires in this call if its tick is still ahead of the one
  // being processed, else on the next Advance(): a callback cannot keep Advance() looping.
  // Not reentrant. Returns the number of timers fired.
  template <class F>
  size_t Advance(MonoTime now, F&& on_expire);

  // The earliest deadline, or nullopt when nothing is scheduled. When every timer is more than a
  // rotation away it returns an earlier time (one rotation ahead), at which to ask again.
  // Cost: the slots up to the first due timer, and the nodes in them.
  std::optional<MonoTime> NextDeadline() const;

 private:
  int64_t TickOf(MonoTime t) const;
  TimerNode* SlotFor(int64_t tick) { return &slots_[static_cast<size_t>(tick) & mask_]; }
  static void LinkBefore(TimerNode* head, TimerNode* n) {
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
  }
  static void Unlink(TimerNode* n) {
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = nullptr;
    n->next = nullptr;
  }

  MonoTime epoch_;
  Duration tick_;
  size_t mask_;
  std::unique_ptr<TimerNode[]> slots_;  // list heads (circular, doubly linked)
  int64_t next_tick_ = 0;               // ticks before it are done; this one may be partly done
  size_t size_ = 0;
  bool advancing_ = false;
};

TimerNode::~TimerNode() {
  if (wheel != nullptr) wheel->Cancel(this);
}

template <class F>
size_t TimerWheel::Advance(MonoTime now, F&& on_expire) {
  assert(!advancing_ && "TimerWheel::Advance is not reentrant");
  advancing_ = true;
  const int64_t target = std::max(TickOf(now), next_tick_);
  const auto rotation = static_cast<int64_t>(mask_ + 1);
  // After a long stall, visiting each slot once is enough: the deadline check below decides.
  int64_t k = std::max(next_tick_, target - rotation + 1);
  size_t fired = 0;
  TimerNode pending;  // the slot being processed, detached so callbacks cannot disturb the walk
  pending.prev = pending.next = &pending;
  for (; k <= target; ++k) {
    next_tick_ = k;
    TimerNode* head = SlotFor(k);
    if (head->next == head) continue;
    // Move the whole slot list onto `pending`.
    pending.next = head->next;
    pending.prev = head->prev;
    pending.next->prev = &pending;
    pending.prev->next = &pending;
    head->next = head->prev = head;
    while (pending.next != &pending) {
      TimerNode* n = pending.next;
      Unlink(n);
      if (n->deadline <= now) {
        n->wheel = nullptr;
        --size_;
        ++fired;
        on_expire(n);
      } else {
        LinkBefore(head, n);
      }
    }
  }
  next_tick_ = target;
  advancing_ = false;
  return fired;
}

}  // namespace cv::turn
