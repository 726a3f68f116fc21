#include "tests/bench/cvbench/bench.h"

#include <ctime>
#include <fstream>

#include "tests/bench/cvbench/context.h"
#include "tests/bench/cvbench/phases.h"
#include "tests/bench/cvbench/report.h"

namespace cv::bench {

int RunBench(const Options& options, std::ostream& out, std::ostream& err) {
  // Every allocation needs its own client socket; the peers, the loop and stdio a few more.
  const uint64_t needed = uint64_t{options.MaxSockets()} + options.peer_sockets + 64;
  std::string error;
  if (!RaiseFileLimit(needed, &error)) {
    err << "cvbench: the selected phases " << error
        << "; lower --allocations / --idle-allocations / --churn-concurrency\n";
    return kExitUsage;
  }

  InstallInterruptHandler();
  BenchContext ctx(options, err);
  if (!ctx.loop.ok()) {
    err << "cvbench: epoll_create1 failed\n";
    return kExitUsage;
  }
  if (options.client_ip) {
    ctx.client_ip = *options.client_ip;
  } else if (auto ip = RouteSourceFor(options.server)) {
    ctx.client_ip = *ip;
  } else {
    err << "cvbench: --server: no route to " << options.server.ToString()
        << " (give --client-ip)\n";
    return kExitUsage;
  }

  Report report(options.label, options.server.ToString(),
                options.server_pid ? std::optional<int64_t>(*options.server_pid) : std::nullopt,
                static_cast<int64_t>(std::time(nullptr)));
  if (!options.quiet) {
    err << "cvbench: server " << options.server.ToString() << ", clients on "
        << ctx.client_ip.ToString() << ", peers on " << options.peer_ip.ToString();
    if (!options.server_pid) err << "; no --server-pid: server CPU and memory not measured";
    err << std::endl;
  }

  int code = kExitOk;
  for (Phase phase : options.phases) {
    PhaseReport& pr = report.Begin(PhaseName(phase));
    ctx.progress.Print(std::string("[") + PhaseName(phase) + "] starting");
    const bool ok = RunPhase(phase, ctx, &pr, &error);
    if (Interrupted()) {
      error = std::string("interrupted during ") + PhaseName(phase) + "; its figures are partial";
      pr.json()["error"] = error;
      report.set_error(error);
      err << "cvbench: " << error << std::endl;
      code = kExitInterrupted;
      break;
    }
    if (!ok) {
      pr.json()["error"] = error;
      report.set_error(error);
      err << "cvbench: " << error << std::endl;
      code = kExitServer;
      break;
    }
  }
  report.set_complete(code == kExitOk);

  const bool json_stdout = options.json_path == "-";
  if (!options.json_path.empty()) {
    const std::string text = report.ToJson().dump(2) + "\n";
    if (json_stdout) {
      out << text;
      out.flush();
    } else {
      std::ofstream f(options.json_path, std::ios::trunc);
      f << text;
      f.close();
      if (!f) {
        err << "cvbench: --json: cannot write " << options.json_path << "\n";
        if (code == kExitOk) code = kExitUsage;
      }
    }
  }
  report.PrintTable(json_stdout ? err : out);
  return code;
}

}  // namespace cv::bench
