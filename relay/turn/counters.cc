#include "relay/turn/counters.h"

#include "relay/turn/five_tuple.h"

namespace cv::turn {

const char* TransportName(Transport t) {
  switch (t) {
    case Transport::kUdp:
      return "udp";
    case Transport::kTcp:
      return "tcp";
    case Transport::kTls:
      return "tls";
    case Transport::kDtls:
      return "dtls";
  }
  return "?";
}

const char* CounterName(Counter c) {
  switch (c) {
#define CV_COUNTER_NAME(id, name) \
  case Counter::id:               \
    return name;
    CV_TURN_COUNTERS(CV_COUNTER_NAME)
#undef CV_COUNTER_NAME
    case Counter::kCount:
      break;
  }
  return "?";
}

}  // namespace cv::turn
