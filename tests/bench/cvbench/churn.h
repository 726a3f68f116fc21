// Allocation churn: --churn-concurrency slots, each repeating a full authenticated allocation
// and its deletion as fast as the server answers:
//
//   Allocate (no credentials) → 401 → Allocate (long-term credentials) → success
//   → Refresh LIFETIME=0 → success → again, on the same socket
//
// A failure (an error response, or no answer after the retries) is counted by its code and the
// slot starts over on a fresh socket, so a 5-tuple the server may still hold is never reused.
// The time of an allocation is from sending the unauthenticated request to the success.
//
// Threading: the one bench thread; the runner owns its sockets.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/bench/cvbench/context.h"
#include "tests/bench/cvbench/results.h"

namespace cv::bench {

class ChurnRunner final : public ReadableCallbacks {
 public:
  explicit ChurnRunner(BenchContext& ctx);
  ~ChurnRunner() override;
  ChurnRunner(const ChurnRunner&) = delete;
  ChurnRunner& operator=(const ChurnRunner&) = delete;

  // Warm-up, measured window, then lets every slot finish (deleting what it allocated).
  // False with `*error` when nothing could be allocated at all.
  bool Run(ChurnResult* result, std::string* error);
  void OnReadable(uint32_t index) override;

 private:
  enum class State : uint8_t { kIdle, kChallenge, kAllocate, kDelete };
  struct Slot {
    int fd = -1;
    State state = State::kIdle;
    bool allocated = false;
    uint8_t tries = 0;
    uint8_t stale_retries = 0;
    uint16_t request_size = 0;
    uint32_t counter = 0;
    uint64_t started_ns = 0;
    uint64_t deadline_ns = 0;
    std::string username, realm, nonce;
    auth::Key key;
    stun::TransactionId txn{};
    std::array<uint8_t, kMaxRequestSize> request{};
  };

  bool Open(uint32_t i);
  void CloseSlot(uint32_t i);
  void StartAttempt(uint32_t i);
  void SendAuthenticated(uint32_t i, State state);
  void Transmit(uint32_t i, size_t size, State state);
  // `code`: the STUN code or "timeout", counted; `why`: the message should nothing succeed.
  void Failed(uint32_t i, const std::string& code, const std::string& why);
  void Next(uint32_t i);  // after a completed cycle or a failure
  void OnReply(uint32_t i, std::span<const uint8_t> datagram);
  void CheckTimeouts(uint64_t now);
  bool InWindow(uint64_t now) const { return now >= window_start_ns_ && now < window_end_ns_; }

  BenchContext& ctx_;
  std::vector<Slot> slots_;
  std::unique_ptr<RecvBatch> recv_;
  bool running_ = false;  // slots start new attempts
  uint64_t window_start_ns_ = UINT64_MAX;
  uint64_t window_end_ns_ = UINT64_MAX;
  ChurnResult* result_ = nullptr;
  uint64_t total_successes_ = 0;
  std::string first_error_;
  std::string socket_error_;
};

}  // namespace cv::bench
