// cvadmin's configuration: flags, and the same keys as "key = value" lines in the file named by
// -c (coturn's style; repeated keys add to a list). The reference is docs/cvadmin.md
// "Configuration"; config/cvadmin.conf is a commented sample.
//
// Threading: read once at startup on the main thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "admin/service/call_service.h"
#include "admin/service/rate_limits.h"
#include "relay/common/address.h"

namespace cv::admin {

struct AdminConfig {
  IpAddress listening_ip = *IpAddress::Parse("127.0.0.1");  // the client API
  uint16_t listening_port = 9650;                           // 0: the kernel picks (tests)
  std::string cert, pkey;                                   // TLS for the client API
  IpAddress admin_ip = *IpAddress::Parse("127.0.0.1");      // the admin API and /metrics
  uint16_t admin_port = 9651;
  std::string admin_token_file;
  std::string db = "/var/lib/cvrelay/cvadmin.db";
  std::string plans_file;
  std::string auth_secrets_file;                 // TURN secrets shared with cvrelay
  std::vector<std::string> static_auth_secrets;  // or coturn's plain ones
  std::string token_key_file = "/var/lib/cvrelay/cvadmin-token-key.pem";
  std::vector<std::string> token_verify_key_files;
  std::string service_api_key_file;
  int64_t max_clock_skew_s = 120;
  ServiceOptions service;
  RateLimitOptions rate_limits;
  std::vector<std::string> relays;  // "[name=]http://host:port" control endpoints
  std::string relay_token_file;     // their bearer token (one, shared)
  int relay_timeout_ms = 1000;
  int relay_resync_interval_s = 30;
  std::string usage_db;  // the relays' usage ledger, read for reports
  int64_t trial_days = 14;
  std::string web_root;  // static files served at /app/ on the client API (empty: none)
  std::string log_file;
  bool verbose = false;
  int request_timeout_s = 10;
};

struct AdminConfigResult {
  enum class Outcome { kRun, kExit } outcome = Outcome::kRun;
  int exit_code = 0;  // for kExit: 0 after --help/--version, 2 on a usage or config error
  AdminConfig config;
};

// Parses argv (printing help, version or the error itself).
AdminConfigResult LoadAdminConfig(int argc, const char* const* argv);

}  // namespace cv::admin
