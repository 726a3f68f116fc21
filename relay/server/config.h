// cvrelay's configuration: coturn's turnserver.conf syntax and command-line options, read into
// one plain Config value. Keys fall into three kinds (see docs/configuration.md):
//   supported  - parsed into Config;
//   ignored    - coturn keys that change nothing about what the relay does or allows; accepted
//                with a warning "ignored: <why>";
//   refused    - unknown keys, and coturn keys whose silent absence would make the relay less safe
//                or behave differently from what the operator asked; a ConfigError.
// Loading happens once at startup on the main thread; nothing here is thread-aware.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/common/address.h"
#include "relay/common/ip_range.h"
#include "relay/common/log.h"

namespace cv::server {

// external-ip: "pub" (reported as the relayed address of every allocation) or "pub/priv"
// (mapping of one private relay address to its public address).
struct ExternalIp {
  IpAddress public_ip;
  std::optional<IpAddress> private_ip;

  friend bool operator==(const ExternalIp&, const ExternalIp&) = default;
};

// user=name:password, or name:0x<32 hex digits> (the MD5 long-term key that `turnadmin -k`
// prints); then password_is_key is set and password holds the 32 hex digits in lower case.
struct StaticUser {
  std::string name;
  std::string password;
  bool password_is_key = false;

  friend bool operator==(const StaticUser&, const StaticUser&) = default;
};

struct Config {
  std::vector<IpAddress> listening_ips;  // listening-ip (repeatable, -L); empty = all
  uint16_t listening_port = 3478;        // listening-port (-p); 0 = the kernel picks (tests)
  uint16_t tls_listening_port = 5349;    // tls-listening-port; 0 = the kernel picks (tests)
  uint16_t alt_listening_port = 0;       // alt-listening-port (0 = off)
  uint16_t alt_tls_listening_port = 0;   // alt-tls-listening-port (0 = off)
  bool no_udp = false, no_tcp = false, no_tls = false, no_dtls = false;
  bool no_tcp_relay = false, no_udp_relay = false;
  bool tcp_relay = false;  // tcp-relay: RFC 6062 allocations are off unless set (no-tcp-relay wins)
  // Stream safety (docs/tls.md): a TLS or DTLS handshake must finish within
  // tls-handshake-timeout; a TCP/TLS connection must hold an allocation (or be an RFC 6062 data
  // connection) within stream-auth-timeout of its accept; at most max-unauth-connections-per-ip
  // connections per source IP may be in either state at once (0 = no cap).
  uint32_t tls_handshake_timeout = 10, stream_auth_timeout = 30;
  uint32_t max_unauth_connections_per_ip = 32;
  // cert, pkey, CA-file, dh-file: a relative path read from a file is made relative to the
  // directory of that file (coturn: "path relative to the configuration file").
  std::string cert, pkey, cipher_list, ca_file, dh_file;
  bool no_tlsv1 = false, no_tlsv1_1 = false, no_tlsv1_2 = false;
  std::vector<IpAddress> relay_ips;              // relay-ip (repeatable, -E)
  std::vector<ExternalIp> external_ips;          // external-ip (repeatable, -X)
  uint16_t min_port = 49152, max_port = 65535;   // min-port, max-port
  int relay_threads = 0;                         // relay-threads (-m); 0 = number of cores
  std::string realm;                             // realm (-r)
  bool use_auth_secret = false;                  // use-auth-secret; static-auth-secret implies it
  std::vector<std::string> static_auth_secrets;  // static-auth-secret (repeatable; rotation)
  std::string rest_api_separator = ":";          // rest-api-separator (-C), one character
  std::vector<StaticUser> users;                 // user (repeatable, -u)
  bool lt_cred_mech = false, no_auth = false;    // lt-cred-mech (-a), no-auth (-z)
  uint32_t stale_nonce = 600;  // stale-nonce[=seconds]: nonce lifetime; bare flag = 600
  std::vector<IpRange> denied_peer_ips, allowed_peer_ips;  // denied-/allowed-peer-ip
  bool allow_loopback_peers = false, no_multicast_peers = false;
  uint32_t user_quota = 0, total_quota = 0;  // user-quota (-q), total-quota (-Q); 0 = unlimited
  uint32_t max_allocate_lifetime = 3600, channel_lifetime = 600, permission_lifetime = 300;
  bool fingerprint = false;            // fingerprint (-f)
  bool no_software_attribute = false;  // no-software-attribute; software-attribute = inverse
  std::string server_name;             // server-name
  std::string log_file;                // log-file (-l); "stdout", "-" and "syslog" kept as text
  bool verbose = false;                // verbose (-v)
  bool very_verbose = false;           // Verbose (-V); setting it also sets verbose
  log::Level log_level = log::Level::kInfo;  // kDebug while verbose or Verbose is set
  bool no_stdout_log = false;                // no-stdout-log
  std::string pidfile;                       // pidfile; empty = write none
  std::string config_file;                   // the file that was read, if any
  // cvrelay's own keys (not in coturn), also settable in the file.
  // Unauthenticated replies (401/400 before authentication) per second per source IP, as a
  // token bucket; unauth-rate=0 means no limit.
  double unauth_rate = 20;      // unauth-rate
  double unauth_burst = 40;     // unauth-burst
  uint32_t drain_timeout = 30;  // drain-timeout: seconds SIGTERM/SIGINT waits for allocations
  // Entitlements (docs/auth.md).
  std::string auth_secrets_file;  // auth-secrets-file: key-id'd secrets; implies use-auth-secret
  std::string plans_file;         // plans-file: plans.json; empty = built-in defaults
  std::string claimless_plan = "pro";  // claimless-plan: plan of "<expiry>:<user>"; "none" refuses
  // Request limits (per second and burst for authenticated Allocates; failures before a ban).
  double allocate_rate = 20, allocate_burst = 60;                  // allocate-rate, allocate-burst
  double user_allocate_rate = 5, user_allocate_burst = 30;         // user-allocate-rate, -burst
  uint32_t auth_failure_limit = 10, user_auth_failure_limit = 20;  // 0 = never ban
  uint32_t auth_failure_window = 60, auth_ban_time = 60;           // seconds
  // Control endpoint (docs/control-api.md): on when a token is configured.
  IpAddress admin_ip = *IpAddress::Parse("127.0.0.1");  // admin-ip
  uint16_t admin_port = 9641;                           // admin-port; 0 = the kernel picks
  std::string admin_token;                              // admin-token (prefer the file)
  std::string admin_token_file;                         // admin-token-file
  // Usage ledger (docs/usage.md).
  std::string usage_db = "/var/lib/cvrelay/usage.db";  // usage-db: the SQLite ledger file
  bool no_usage_ledger = false;                        // no-usage-ledger: meter nothing
  uint32_t usage_checkpoint = 10;  // usage-checkpoint-interval: seconds between snapshots
  std::string node_id;             // node-id: names this relay in records; empty = host name
  // Prometheus (docs/metrics.md): /metrics on the control endpoint, or on its own port.
  bool prometheus = false;                      // prometheus
  std::optional<uint16_t> prometheus_port;      // prometheus-port; default: admin-port
  std::optional<IpAddress> prometheus_address;  // prometheus-address; default: admin-ip
  bool prometheus_username_labels = false;      // prometheus-username-labels: top users series
  uint32_t prometheus_top_users = 10;           // prometheus-top-users: its bound
};

// node-id's alphabet: it lands in every usage record, so it is log- and SQL-safe.
bool IsNodeIdChar(char c);

// Where and why a configuration was rejected. ToString():
//   "cvrelay.conf:12: key 'min-port': expected an integer 1-65535, got 'abc'"
//   "command line: key 'min-port': expected an integer 1-65535, got 'abc'"
//   "min-port (50000) must not be greater than max-port (40000)"     (from Validate)
// Values shown are escaped and bounded; secrets and passwords are never shown.
struct ConfigError {
  std::string file;  // "command line" for options; empty for cross-key errors
  int line = 0;      // 1-based; 0 when not about one line
  std::string key;   // empty when not about one key
  std::string message;

  std::string ToString() const;
};

enum class LoadOutcome { kRun, kHelp, kVersion };

struct LoadResult {
  LoadOutcome outcome = LoadOutcome::kRun;
  Config config;
  std::vector<std::string> warnings;  // one line each, already located like errors
  std::optional<ConfigError> error;   // set → do not run; exit non-zero
};

// Reads argv: -h/--help and --version win over everything else; then the file named by
// -c FILE / --conf-file=FILE (none when absent, or with -n); then every other option in order,
// overriding the file: a scalar takes the command-line value, and a repeatable key given on the
// command line replaces the file's list. Then ApplyImpliedSettings() and Validate().
LoadResult LoadConfig(int argc, const char* const* argv);

// Applies the lines of one configuration file on top of *config. `filename` names the file in
// messages and anchors relative certificate paths. Stops at the first error.
std::optional<ConfigError> ParseConfigText(std::string_view text, std::string_view filename,
                                           Config* config, std::vector<std::string>* warnings);

// What coturn infers after reading everything, with a warning for each inference:
// - user accounts without lt-cred-mech, no-auth or use-auth-secret turn lt-cred-mech on;
// - with use-auth-secret, user accounts are never consulted, so they are dropped;
// - without cert, the TLS and DTLS listeners are turned off;
// - with no credentials and no no-auth, every allocation will be refused: a warning only.
// Reads and parses one config file into `config` (LoadConfig's file step; SIGHUP reload).
std::optional<ConfigError> LoadConfigFile(const std::string& path, Config* config,
                                          std::vector<std::string>* warnings);

void ApplyImpliedSettings(Config* config, std::vector<std::string>* warnings);

// Cross-key checks; the error's message is one sentence naming the key(s).
std::optional<ConfigError> Validate(const Config& config);

// For --help: every supported option with one line of help.
std::string UsageText();

// The key table, for documentation and tests.
enum class KeyKind { kSupported, kIgnored, kRefused };
struct KeyInfo {
  std::string_view name;  // as written in the file, e.g. "listening-port"
  char short_name;        // coturn's short option, or 0
  KeyKind kind;
  bool takes_value;  // false for flags
  bool repeatable;
  std::string_view text;  // help (supported) or the reason (ignored, refused)
};
std::vector<KeyInfo> ListKeys();

}  // namespace cv::server
