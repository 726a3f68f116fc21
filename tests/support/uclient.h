// What coturn's turnutils_uclient reports when it finishes: messages sent, received and lost.
#pragma once

#include <string>

namespace cv::testing {

struct UclientStats {
  long sent = -1;  // -1: not reported
  long received = -1;
  long lost = -1;
};

// Reads the totals from uclient's output (the last "tot_send_msgs=…, tot_recv_msgs=…" line and
// "Total lost packets N").
UclientStats ParseUclient(const std::string& out);

}  // namespace cv::testing
