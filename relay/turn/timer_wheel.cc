#include "relay/turn/timer_wheel.h"

#include <bit>

namespace cv::turn {
TimerWheel::TimerWheel(MonoTime start, Duration tick, size_t slot_count)
    : epoch_(start),
      tick_(tick > Duration::zero() ? tick : Duration(1)),
      mask_(std::bit_ceil(std::clamp<size_t>(slot_count, 1, size_t{1} << 24)) - 1),
      slots_(std::make_unique<TimerNode[]>(mask_ + 1)) {
  for (size_t i = 0; i <= mask_; ++i) slots_[i].prev = slots_[i].next = &slots_[i];
}

TimerWheel::~TimerWheel() {
  for (size_t i = 0; i <= mask_; ++i) {
    TimerNode* head = &slots_[i];
    while (head->next != head) {
      TimerNode* n = head->next;
      Unlink(n);
      n->wheel = nullptr;
    }
  }
}

int64_t TimerWheel::TickOf(MonoTime t) const {
  const int64_t d = (t - epoch_).count();
  const int64_t q = d / tick_.count();
  return (d % tick_.count() != 0 && d < 0) ? q - 1 : q;  // floor, also before the epoch
}

void TimerWheel::Schedule(TimerNode* n, MonoTime deadline) {
  if (n->wheel != nullptr) n->wheel->Cancel(n);
  n->deadline = deadline;
  n->wheel = this;
  LinkBefore(SlotFor(std::max(TickOf(deadline), next_tick_)), n);
  ++size_;
}

void TimerWheel::Cancel(TimerNode* n) {
  if (n->wheel != this) {
    assert(n->wheel == nullptr && "TimerNode scheduled on another wheel");
    return;
  }
  Unlink(n);
  n->wheel = nullptr;
  --size_;
}

std::optional<MonoTime> TimerWheel::NextDeadline() const {
  if (size_ == 0) return std::nullopt;
  const auto rotation = static_cast<int64_t>(mask_ + 1);
  for (int64_t k = next_tick_; k < next_tick_ + rotation; ++k) {
    const TimerNode* head = &slots_[static_cast<size_t>(k) & mask_];
    std::optional<MonoTime> best;
    for (const TimerNode* n = head->next; n != head; n = n->next) {
      // Nodes of later rotations share this slot; only those of tick k (or overdue) count.
      if (TickOf(n->deadline) <= k && (!best || n->deadline < *best)) best = n->deadline;
    }
    if (best) return best;
  }
  return epoch_ + tick_ * (next_tick_ + rotation);
}

}  // namespace cv::turn
