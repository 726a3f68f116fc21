// Answers retransmitted requests with the response the first copy got (RFC 8489 §6.3.1), so a
// retransmitted Allocate is not refused with 437 and a retransmitted Refresh(0) is not refused for
// a deleted allocation. A fixed ring per worker: bounded memory, no allocation after start.
// Entries older than kLifetime (about Ti = 39.5 s) are not used.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "relay/common/clock.h"
#include "relay/stun/message.h"
#include "relay/turn/five_tuple.h"

namespace cv::turn {

class TransactionCache {
 public:
  static constexpr size_t kSlots = 2048;
  static constexpr size_t kMaxResponse = 320;
  static constexpr Duration kLifetime = seconds(40);

  TransactionCache() : slots_(std::make_unique<Slot[]>(kSlots)) {}

  std::optional<std::span<const uint8_t>> Find(const FiveTuple& tuple,
                                               const stun::TransactionId& id, MonoTime now) const;
  // Responses larger than kMaxResponse are not cached (they are regenerated instead).
  void Store(const FiveTuple& tuple, const stun::TransactionId& id, std::span<const uint8_t> data,
             MonoTime now);

 private:
  struct Slot {
    FiveTuple tuple;
    stun::TransactionId id{};
    MonoTime stored;
    uint16_t length = 0;
    std::array<uint8_t, kMaxResponse> data;
  };
  size_t Index(const FiveTuple& tuple, const stun::TransactionId& id) const;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace cv::turn
