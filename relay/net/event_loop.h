// A minimal epoll event loop, one per worker thread. Level-triggered: a handler reads one batch
// per wake-up, so one busy socket cannot starve the others.
//
// Threading: Add/Remove/Run belong to the loop's thread. Post() and Stop() may be called from any
// thread; posted tasks run on the loop thread between batches of events (control path only).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "relay/common/clock.h"

namespace cv::net {

class IoHandler {
 public:
  virtual void OnIoEvent(uint32_t epoll_events) = 0;

 protected:
  ~IoHandler() = default;
};

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  bool ok() const { return epoll_fd_ >= 0 && wake_fd_ >= 0; }
  bool Add(int fd, uint32_t events, IoHandler* handler);
  bool Modify(int fd, uint32_t events, IoHandler* handler);
  void Remove(int fd);

  void Post(std::function<void()> task);
  void Stop();

  // Dispatches events until Stop(). After each batch of events (and at least every `max_wait`),
  // calls `after_batch` — where the owner flushes batched sends and runs its timers.
  void Run(Duration max_wait, const std::function<void()>& after_batch);

 private:
  void RunPosted();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  bool stop_ = false;
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
  bool stop_requested_ = false;  // guarded by mu_
};

}  // namespace cv::net
