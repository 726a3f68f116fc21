#include "relay/common/clock.h"

#include <ctime>

namespace cv {

int64_t RealClock::UnixNow() const {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec;
}

int64_t RealClock::UnixNowMs() const {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace cv
