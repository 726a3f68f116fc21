#include "tests/support/uclient.h"

#include <regex>

namespace cv::testing {

UclientStats ParseUclient(const std::string& out) {
  UclientStats s;
  std::smatch m;
  std::regex totals(R"(tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*\n)");
  for (auto it = std::sregex_iterator(out.begin(), out.end(), totals); it != std::sregex_iterator();
       ++it) {
    s.sent = std::stol((*it)[1]);
    s.received = std::stol((*it)[2]);
  }
  if (std::regex_search(out, m, std::regex(R"(Total lost packets (\d+))"))) {
    s.lost = std::stol(m[1]);
  }
  return s;
}

}  // namespace cv::testing
