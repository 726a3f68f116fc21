// The seven phases (docs/cvbench.md). Each sets up what it needs, measures, tears everything
// down again and fills its PhaseReport. False with `*error` when the server refused or did not
// answer (exit code 1); a timing figure never fails a phase.
//
// Threading: the one bench thread.
#pragma once

#include <string>

#include "tests/bench/cvbench/context.h"
#include "tests/bench/cvbench/report.h"

namespace cv::bench {

bool RunEfficiency(BenchContext& ctx, PhaseReport* report, std::string* error);
bool RunCapacity(BenchContext& ctx, PhaseReport* report, std::string* error);
bool RunLatency(BenchContext& ctx, PhaseReport* report, std::string* error);
bool RunBursts(BenchContext& ctx, PhaseReport* report, std::string* error);
bool RunChurn(BenchContext& ctx, PhaseReport* report, std::string* error);
bool RunIdle(BenchContext& ctx, PhaseReport* report, std::string* error);
bool RunBinding(BenchContext& ctx, PhaseReport* report, std::string* error);

bool RunPhase(Phase phase, BenchContext& ctx, PhaseReport* report, std::string* error);

}  // namespace cv::bench
