// STUN Binding load: --binding-sockets sockets, each keeping --binding-window requests
// outstanding; every response (or timeout) is replaced by a new request at once. Replies to
// the requests of one receive batch leave in one sendmmsg.
//
// A request's transaction id names its socket (owner) and its window slot and generation
// (counter = slot << 22 | generation), so a late answer to a request already given up is told
// apart from the current one.
//
// Threading: the one bench thread; the runner owns its sockets.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/bench/cvbench/context.h"
#include "tests/bench/cvbench/results.h"

namespace cv::bench {

class BindingRunner final : public ReadableCallbacks {
 public:
  explicit BindingRunner(BenchContext& ctx);
  ~BindingRunner() override;
  BindingRunner(const BindingRunner&) = delete;
  BindingRunner& operator=(const BindingRunner&) = delete;

  // False with `*error` when the server answered nothing at all.
  bool Run(BindingResult* result, std::string* error);
  void OnReadable(uint32_t index) override;

 private:
  struct Outstanding {
    uint32_t generation = 0;
    uint64_t sent_ns = 0;
  };
  struct Socket {
    int fd = -1;
    std::vector<Outstanding> window;
  };

  void Queue(uint32_t socket, uint32_t slot, uint64_t now);  // adds a request to batch_
  void Flush(uint32_t socket);
  void CheckTimeouts(uint64_t now);
  bool InWindow(uint64_t now) const { return now >= window_start_ns_ && now < window_end_ns_; }

  BenchContext& ctx_;
  std::vector<Socket> sockets_;
  std::unique_ptr<SendBatch> batch_;
  std::unique_ptr<RecvBatch> recv_;
  uint64_t window_start_ns_ = UINT64_MAX;
  uint64_t window_end_ns_ = UINT64_MAX;
  BindingResult* result_ = nullptr;
  uint64_t total_responses_ = 0;
  uint64_t errors_ = 0;
  uint16_t first_error_ = 0;
  uint64_t refused_ = 0;
};

}  // namespace cv::bench
