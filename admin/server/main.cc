// cvadmin: the CallVault Relay companion service. Reads flags and an optional config file (-c),
// then serves the client API and the admin API until SIGTERM or SIGINT.
#include <cstdio>

#include "admin/server/admin_server.h"
#include "admin/server/config.h"
#include "relay/common/log.h"

int main(int argc, char** argv) {
  cv::admin::AdminConfigResult loaded = cv::admin::LoadAdminConfig(argc, argv);
  if (loaded.outcome == cv::admin::AdminConfigResult::Outcome::kExit) return loaded.exit_code;
  const cv::admin::AdminConfig& config = loaded.config;
  cv::log::SetLevel(config.verbose ? cv::log::Level::kDebug : cv::log::Level::kInfo);
  if (!config.log_file.empty() && !cv::log::SetDestination(config.log_file)) {
    std::fprintf(stderr, "cvadmin: cannot open log-file '%s'\n", config.log_file.c_str());
    return 2;
  }
  std::string error;
  auto server = cv::admin::AdminServer::Create(config, &error);
  if (!server) {
    std::fprintf(stderr, "cvadmin: %s\n", error.c_str());
    return 1;
  }
  return server->Run();
}
