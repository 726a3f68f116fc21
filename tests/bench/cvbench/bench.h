// A whole cvbench run: the phases in order, then the table and the JSON.
#pragma once

#include <ostream>

#include "tests/bench/cvbench/options.h"

namespace cv::bench {

// Returns the exit code: kExitOk, kExitServer (the server refused or did not answer; the figures
// of the phases that completed are still written), or kExitUsage (the machine cannot give the
// run what it needs, e.g. file descriptors). `out` gets the table (or the JSON with --json -),
// `err` progress and messages.
int RunBench(const Options& options, std::ostream& out, std::ostream& err);

}  // namespace cv::bench
