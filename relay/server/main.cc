// cvrelay: the CallVault STUN/TURN relay. Reads a coturn-style config (-c FILE) and flags, then
// serves until SIGTERM/SIGINT (drain and exit) and reloads credentials on SIGHUP.
#include <cstdio>

#include "relay/common/log.h"
#include "relay/server/config.h"
#include "relay/server/relay_server.h"

int main(int argc, char** argv) {
  cv::server::LoadResult loaded = cv::server::LoadConfig(argc, argv);
  switch (loaded.outcome) {
    case cv::server::LoadOutcome::kHelp:
      std::fputs(cv::server::UsageText().c_str(), stdout);
      return 0;
    case cv::server::LoadOutcome::kVersion:
      std::puts("cvrelay " CV_VERSION);
      return 0;
    case cv::server::LoadOutcome::kRun:
      break;
  }
  for (const std::string& w : loaded.warnings) {
    cv::log::Emit(cv::log::Level::kWarning, "config.warning", "%s", w.c_str());
  }
  if (loaded.error) {
    std::fprintf(stderr, "cvrelay: %s\n", loaded.error->ToString().c_str());
    return 2;
  }
  cv::server::Config& config = loaded.config;
  cv::log::SetLevel(config.log_level);
  if (!config.log_file.empty() && config.log_file != "stdout" && config.log_file != "-" &&
      config.log_file != "syslog" && !cv::log::SetDestination(config.log_file)) {
    std::fprintf(stderr, "cvrelay: cannot open log-file '%s'\n", config.log_file.c_str());
    return 2;
  }
  cv::server::RelayServer::BlockSignals();
  cv::server::RelayServer server(std::move(config));
  std::string error;
  if (!server.Start(&error)) {
    std::fprintf(stderr, "cvrelay: %s\n", error.c_str());
    return 1;
  }
  return server.Run();
}
