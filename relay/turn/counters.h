// Per-worker counters. Each worker owns one TurnCounters and is its only writer, so increments
// are plain relaxed stores (no lock, no contended cache line); any thread may read them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace cv::turn {

enum class Counter : uint16_t {
  // Requests and outcomes.
  kBindingRequests,
  kAllocateRequests,
  kAllocationsCreated,
  kAllocationsDeleted,
  kAllocationsExpired,
  kRefreshRequests,
  kPermissionRequests,
  kChannelBindRequests,
  kSendIndications,
  kChallenges,  // 401 with a nonce to a request without MESSAGE-INTEGRITY
  kAuthUnknownUser,
  kAuthExpired,
  kAuthMalformed,
  kAuthBadIntegrity,
  kAuthStaleNonce,
  kAuthForgedNonce,
  kAuthForbidden,
  kWrongCredentials,  // 441
  kRetransmissions,   // answered from the transaction cache
  kErrorResponses,
  kPeerDenied,       // 403 for a peer address the policy refuses
  kQuotaUser,        // 486
  kQuotaTotal,       // 486 (total-quota) / 508
  kNoRelayPort,      // 508
  kRefusedDraining,  // 508 while shutting down
  // Data path.
  kClientToPeerPackets,
  kClientToPeerBytes,
  kPeerToClientPackets,
  kPeerToClientBytes,
  // Drops, by reason.
  kDropMalformed,
  kDropBadFingerprint,
  kDropNoAllocation,
  kDropNoPermission,
  kDropNoChannel,
  kDropPeerPolicy,
  kDropRateLimited,
  kDropUnexpectedClass,
  kDropSendFailed,  // the kernel refused a datagram (full buffer, unreachable)
  kCount,
};
const char* CounterName(Counter c);

class TurnCounters {
 public:
  void Add(Counter c, uint64_t n = 1) {
    auto& slot = values_[static_cast<size_t>(c)];
    slot.store(slot.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t Get(Counter c) const {
    return values_[static_cast<size_t>(c)].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Counter::kCount)> values_{};
};

}  // namespace cv::turn
