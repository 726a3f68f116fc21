// cvctl's command line: the global options, every command (admin/ctl/commands.h and `mint`),
// help texts and exit codes (docs/cvctl.md). main.cc only supplies the real world: stdout,
// stderr, http::Fetch, the process environment and the clock.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "admin/ctl/commands.h"

namespace cv::ctl {

// Registers the global options and every command on `app`. `now` gives Unix seconds (mint).
void BuildCli(CLI::App& app, CommandContext& ctx, std::function<int64_t()> now);

// Parses `args` (without the program name), runs the command and returns the exit code: CLI11
// errors are usage errors (2); --help and --version exit 0.
int RunCvctl(const std::vector<std::string>& args, CommandContext& ctx,
             std::function<int64_t()> now);

}  // namespace cv::ctl
