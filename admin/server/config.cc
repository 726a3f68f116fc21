#include "admin/server/config.h"

#include <CLI/CLI.hpp>
#include <iostream>

namespace cv::admin {

namespace {

// CLI11 validator for IP addresses, with our parser.
CLI::Validator IpValidator() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return IpAddress::Parse(text) ? std::string() : "not an IP address: " + text;
      },
      "IP");
}

}  // namespace

AdminConfigResult LoadAdminConfig(int argc, const char* const* argv) {
  AdminConfigResult result;
  AdminConfig& c = result.config;
  CLI::App app{
      "cvadmin: the CallVault Relay companion service (call session tokens, TURN credentials, "
      "admin API).\nEvery option is also a \"key = value\" line in the file named by -c."};
  app.set_version_flag("--version", "cvadmin " CV_VERSION);
  app.set_config("-c,--conf-file", "", "configuration file (key = value lines)");
  app.allow_config_extras(false);
  app.get_formatter()->column_width(36);

  std::string listening_ip = c.listening_ip.ToString(), admin_ip = c.admin_ip.ToString();
  app.add_option("--listening-ip", listening_ip, "client API address")
      ->check(IpValidator())
      ->capture_default_str();
  app.add_option("--listening-port", c.listening_port, "client API port (0: any)")
      ->capture_default_str();
  app.add_option("--cert", c.cert, "TLS certificate chain (PEM) for the client API");
  app.add_option("--pkey", c.pkey, "TLS private key (PEM) for the client API");
  app.add_option("--admin-ip", admin_ip, "admin API and /metrics address")
      ->check(IpValidator())
      ->capture_default_str();
  app.add_option("--admin-port", c.admin_port, "admin API port (0: any)")->capture_default_str();
  app.add_option("--admin-token-file", c.admin_token_file,
                 "admin API tokens, one \"<role> <name> <token>\" (or bare admin token) per line "
                 "(mode 600, tokens at least 16 bytes)")
      ->required();
  app.add_option("--db", c.db, "SQLite file of users, contacts and call sessions")
      ->capture_default_str();
  app.add_option("--plans-file", c.plans_file, "plans.json (default: the built-in plans)");
  app.add_option("--auth-secrets-file", c.auth_secrets_file,
                 "TURN REST secrets with key ids, shared with cvrelay (mode 600)");
  app.add_option("--static-auth-secret", c.static_auth_secrets,
                 "a TURN REST secret shared with cvrelay (repeatable)");
  app.add_option("--token-key-file", c.token_key_file,
                 "Ed25519 private key (PKCS#8 PEM, mode 600) that signs call session tokens; made "
                 "on first start when missing")
      ->capture_default_str();
  app.add_option("--token-verify-key-file", c.token_verify_key_files,
                 "an older token key that still verifies (rotation; repeatable)");
  app.add_option("--token-ttl", c.service.token_ttl_s, "call session token lifetime, seconds")
      ->check(CLI::Range(30, 3600))
      ->capture_default_str();
  app.add_option("--token-issuer", c.service.issuer, "the tokens' iss claim")
      ->capture_default_str();
  app.add_option("--turn-credential-ttl", c.service.turn_credential_ttl_s,
                 "TURN credential lifetime, seconds (gates new allocations only)")
      ->check(CLI::Range(60, 86400))
      ->capture_default_str();
  app.add_option("--stun-url", c.service.stun_urls,
                 "a STUN URL every client gets (repeatable), e.g. stun:relay.example.org:3478");
  app.add_option("--turn-url", c.service.turn_urls,
                 "a TURN URL for entitled clients (repeatable), e.g. "
                 "turn:relay.example.org:3478?transport=udp");
  app.add_option("--service-api-key-file", c.service_api_key_file,
                 "API keys (one per line, 32+ bytes, mode 600) for the app's backend");
  app.add_option("--max-clock-skew", c.max_clock_skew_s,
                 "signed request timestamps may differ from the server's clock by this, seconds")
      ->check(CLI::Range(5, 600))
      ->capture_default_str();
  app.add_option("--heartbeat-interval", c.service.heartbeat_interval_s,
                 "heartbeat interval clients are told, seconds")
      ->check(CLI::Range(1, 300))
      ->capture_default_str();
  app.add_option("--heartbeat-timeout", c.service.heartbeat_timeout_s,
                 "a call with no event for this long is ended, seconds")
      ->check(CLI::Range(2, 3600))
      ->capture_default_str();
  app.add_option("--max-contacts", c.service.max_contacts, "approved contacts per user")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  for (size_t i = 0; i < kEndpointCount; ++i) {
    const std::string name = EndpointName(static_cast<Endpoint>(i));
    std::string dashed = name;
    for (char& ch : dashed) ch = ch == '_' ? '-' : ch;
    app.add_option("--rate-" + dashed + "-ip", c.rate_limits.per_ip[i],
                   name + " requests per minute per client IP (IPv6: per /64); 0 = no limit")
        ->capture_default_str();
    if (static_cast<Endpoint>(i) != Endpoint::kPublic) {
      app.add_option("--rate-" + dashed + "-user", c.rate_limits.per_user[i],
                     name + " requests per minute per user; 0 = no limit")
          ->capture_default_str();
    }
  }
  app.add_option("--relay", c.relays,
                 "a relay's control endpoint, [name=]http://host:port (repeatable)");
  app.add_option("--relay-token-file", c.relay_token_file,
                 "the relays' control endpoint token (mode 600)");
  app.add_option("--relay-timeout", c.relay_timeout_ms,
                 "how long a relay may take to answer, milliseconds")
      ->check(CLI::Range(50, 30000))
      ->capture_default_str();
  app.add_option("--relay-resync-interval", c.relay_resync_interval_s,
                 "revocations in force are sent to every relay again this often, seconds (0: "
                 "never)")
      ->check(CLI::Range(0, 3600))
      ->capture_default_str();
  app.add_option("--usage-db", c.usage_db,
                 "the relays' usage ledger (SQLite, opened read-only) for the reports");
  app.add_option("--trial-days", c.trial_days, "a trial set without an end lasts this long")
      ->check(CLI::Range(1, 366))
      ->capture_default_str();
  app.add_option("--web-root", c.web_root,
                 "a directory served read-only at /app/ on the client API (the web client and "
                 "its demo page: clients/web)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--log-file", c.log_file, "log destination (default: stderr)");
  app.add_flag("-v,--verbose", c.verbose, "debug logging");
  app.add_option("--request-timeout", c.request_timeout_s, "HTTP read/idle timeout, seconds")
      ->check(CLI::Range(1, 300))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    result.outcome = AdminConfigResult::Outcome::kExit;
    const int code = app.exit(e);
    result.exit_code = code == 0 ? 0 : 2;
    return result;
  }
  c.listening_ip = *IpAddress::Parse(listening_ip);
  c.admin_ip = *IpAddress::Parse(admin_ip);
  auto fail = [&result](const std::string& message) {
    std::cerr << "cvadmin: " << message << "\n";
    result.outcome = AdminConfigResult::Outcome::kExit;
    result.exit_code = 2;
    return result;
  };
  if (c.cert.empty() != c.pkey.empty()) return fail("cert and pkey go together");
  if (c.service.heartbeat_interval_s >= c.service.heartbeat_timeout_s) {
    return fail("heartbeat-interval must be shorter than heartbeat-timeout");
  }
  if (!c.service.turn_urls.empty() && c.auth_secrets_file.empty() &&
      c.static_auth_secrets.empty()) {
    return fail("turn-url needs the TURN secret: auth-secrets-file or static-auth-secret");
  }
  if (!c.relays.empty() && c.relay_token_file.empty()) {
    return fail("relay needs relay-token-file (the relays' control endpoint token)");
  }
  return result;
}

}  // namespace cv::admin
