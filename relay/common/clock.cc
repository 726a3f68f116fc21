#include "relay/common/clock.h"

#include <ctime>

namespace cv {

int64_t RealClock::UnixNow() const {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec;
}

}  // namespace cv
