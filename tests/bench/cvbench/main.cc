// cvbench: the load generator of CallVault Relay (docs/cvbench.md).
#include <iostream>
#include <string>
#include <vector>

#include "tests/bench/cvbench/bench.h"
#include "tests/bench/cvbench/options.h"

int main(int argc, char** argv) {
  cv::bench::Options options;
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (auto code = cv::bench::ParseOptions(args, &options, std::cout, std::cerr)) return *code;
  return cv::bench::RunBench(options, std::cout, std::cerr);
}
