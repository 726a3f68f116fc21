// Time, injected. Anything with a deadline takes a Clock& so that tests advance time instead of
// sleeping. Monotonic time drives expiry; wall time (Unix seconds) is only for credentials and
// nonces, which are compared with other machines' clocks.
#pragma once

#include <chrono>
#include <cstdint>

namespace cv {

using MonoClock = std::chrono::steady_clock;
using MonoTime = MonoClock::time_point;
using Duration = MonoClock::duration;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Thread-safety: Now() and UnixNow() may be called from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime Now() const = 0;
  virtual int64_t UnixNow() const = 0;
  virtual int64_t UnixNowMs() const = 0;  // Unix milliseconds (usage records)
};

class RealClock final : public Clock {
 public:
  MonoTime Now() const override { return MonoClock::now(); }
  int64_t UnixNow() const override;
  int64_t UnixNowMs() const override;
};

// For tests: time moves only when Advance() is called. Not thread-safe.
class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(int64_t unix_start = 1'700'000'000) : unix_start_(unix_start) {}
  MonoTime Now() const override { return MonoTime{} + elapsed_; }
  int64_t UnixNow() const override {
    return unix_start_ + std::chrono::duration_cast<seconds>(elapsed_).count();
  }
  int64_t UnixNowMs() const override {
    return unix_start_ * 1000 + std::chrono::duration_cast<milliseconds>(elapsed_).count();
  }
  void Advance(Duration d) { elapsed_ += d; }

 private:
  int64_t unix_start_;
  Duration elapsed_{seconds(1000)};
};

}  // namespace cv
