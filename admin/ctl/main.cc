// cvctl: the CallVault Relay operator command line (docs/cvctl.md).
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

#include "admin/ctl/cli.h"
#include "relay/common/http_client.h"

int main(int argc, char** argv) {
  cv::ctl::CommandContext ctx(std::cout, std::cerr, cv::http::Fetch, cv::ctl::Environment::Real());
  return cv::ctl::RunCvctl(std::vector<std::string>(argv + 1, argv + argc), ctx,
                           [] { return static_cast<int64_t>(std::time(nullptr)); });
}
