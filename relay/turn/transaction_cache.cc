#include "relay/turn/transaction_cache.h"

#include <cstring>

namespace cv::turn {

size_t TransactionCache::Index(const FiveTuple& tuple, const stun::TransactionId& id) const {
  return HashBytes(id.data(), id.size(), FiveTupleHash{}(tuple)) % kSlots;
}

std::optional<std::span<const uint8_t>> TransactionCache::Find(const FiveTuple& tuple,
                                                               const stun::TransactionId& id,
                                                               MonoTime now) const {
  const Slot& slot = slots_[Index(tuple, id)];
  if (slot.length == 0 || slot.id != id || !(slot.tuple == tuple)) return std::nullopt;
  if (now - slot.stored > kLifetime) return std::nullopt;
  return std::span<const uint8_t>(slot.data.data(), slot.length);
}

void TransactionCache::Store(const FiveTuple& tuple, const stun::TransactionId& id,
                             std::span<const uint8_t> data, MonoTime now) {
  if (data.empty() || data.size() > kMaxResponse) return;
  Slot& slot = slots_[Index(tuple, id)];
  slot.tuple = tuple;
  slot.id = id;
  slot.stored = now;
  slot.length = static_cast<uint16_t>(data.size());
  std::memcpy(slot.data.data(), data.data(), data.size());
}

}  // namespace cv::turn
