#include "relay/server/config.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <type_traits>

#include "cv/auth/claims.h"

namespace cv::server {
namespace {

constexpr size_t kMaxShownBytes = 64;
constexpr size_t kMaxFileBytes = 4 * 1024 * 1024;
constexpr std::string_view kCommandLine = "command line";

// ---------------------------------------------------------------------------------------------
// Text helpers

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = Lower(c);
  return out;
}

bool HasControl(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// Printable ASCII as is; quote, backslash and everything else escaped; at most `max` input bytes.
std::string Escape(std::string_view s, size_t max = kMaxShownBytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    auto u = static_cast<unsigned char>(s[i]);
    if (s[i] == '\'' || s[i] == '\\') {
      out += '\\';
      out += s[i];
    } else if (u >= 0x20 && u < 0x7f) {
      out += s[i];
    } else {
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

// A value as it appears in messages: 'abc', or 'abcd...' (300 bytes) when long.
std::string Show(std::string_view s) {
  std::string out = "'" + Escape(s) + "'";
  if (s.size() > kMaxShownBytes) out += " (" + std::to_string(s.size()) + " bytes)";
  return out;
}

bool ParseUint(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

std::optional<bool> ParseBool(std::string_view s) {
  std::string v = ToLower(s);
  if (v == "1" || v == "true" || v == "yes" || v == "on" || v == "t" || v == "y") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off" || v == "f" || v == "n") return false;
  return std::nullopt;
}

std::string BoolError(std::string_view v) {
  return "expected a boolean (true/false, yes/no, on/off, 1/0), got " + Show(v);
}

std::string IntError(std::string_view v, uint64_t lo, uint64_t hi) {
  return "expected an integer " + std::to_string(lo) + "-" + std::to_string(hi) + ", got " +
         Show(v);
}

// Flags: bare, empty ("key=") and every boolean word; the bare forms mean true, as in coturn.
std::string FlagValue(std::optional<std::string_view> v, bool* out) {
  if (!v || v->empty()) {
    *out = true;
    return "";
  }
  std::optional<bool> b = ParseBool(*v);
  if (!b) return BoolError(*v);
  *out = *b;
  return "";
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// ---------------------------------------------------------------------------------------------
// The key table

// Where one key=value comes from, for messages and relative paths.
struct Site {
  std::string file;  // escaped file name, or "command line"
  int line = 0;
  std::string base_dir;  // directory of the file; empty on the command line
  std::vector<std::string>* warnings = nullptr;

  std::string Prefix(std::string_view key) const {
    std::string out = file;
    if (line > 0) out += ":" + std::to_string(line);
    out += ": key '" + Escape(key) + "': ";
    return out;
  }
};

struct Apply {
  Config& config;
  const Site& site;
  std::string_view key;

  void Warn(const std::string& message) const {
    if (site.warnings != nullptr) site.warnings->push_back(site.Prefix(key) + message);
  }
};

// Applies one value; returns an error message, or "" on success. For Arg::kRequired the value is
// always present; for Arg::kOptional and flags it may be absent (bare key) or empty ("key=").
using Setter = std::string (*)(const Apply&, std::optional<std::string_view>);

enum class Arg : uint8_t { kNone, kRequired, kOptional };

struct KeyDef {
  std::string_view name;
  char short_name = 0;
  KeyKind kind = KeyKind::kSupported;
  Arg arg = Arg::kNone;
  std::string_view meta;  // the value in help text: "<port>"
  std::string_view text;  // help, or why the key is ignored or refused
  bool Config::*flag = nullptr;
  Setter set = nullptr;
  void (*clear)(Config&) = nullptr;  // repeatable keys: empties the list
  bool secret = false;               // never shown in messages
  bool allow_empty = false;          // "key=" is a value, not a missing one
  // Refused keys: the value that asks for what cvrelay does anyway ("false" for flags); such a
  // line is accepted with a warning.
  std::string_view neutral;
};

template <auto M, uint64_t Lo, uint64_t Hi>
std::string SetUint(const Apply& a, std::optional<std::string_view> v) {
  uint64_t n = 0;
  if (!ParseUint(*v, &n) || n < Lo || n > Hi) return IntError(*v, Lo, Hi);
  using T = std::remove_reference_t<decltype(a.config.*M)>;
  a.config.*M = static_cast<T>(n);
  return "";
}

// max-allocate-lifetime, channel-lifetime, permission-lifetime: seconds; bare = coturn's default.
template <uint32_t Config::*M, uint32_t Default>
std::string SetLifetime(const Apply& a, std::optional<std::string_view> v) {
  if (!v || v->empty()) {
    a.config.*M = Default;
    return "";
  }
  return SetUint<M, 1, 2147483647>(a, v);
}

template <std::string Config::*M>
std::string SetText(const Apply& a, std::optional<std::string_view> v) {
  if (v->empty()) return "expected a non-empty value";
  a.config.*M = std::string(*v);
  return "";
}

template <std::string Config::*M>
std::string SetName(const Apply& a, std::optional<std::string_view> v) {
  if (v->empty()) return "expected a non-empty value";
  if (HasControl(*v)) return "control characters are not allowed, got " + Show(*v);
  a.config.*M = std::string(*v);
  return "";
}

// Certificate and key files: relative to the configuration file's directory, as coturn documents.
template <std::string Config::*M>
std::string SetPath(const Apply& a, std::optional<std::string_view> v) {
  if (v->empty()) return "expected a file name";
  std::string path(*v);
  if (path.front() != '/' && !a.site.base_dir.empty()) {
    path = a.site.base_dir + (a.site.base_dir.back() == '/' ? "" : "/") + path;
  }
  a.config.*M = std::move(path);
  return "";
}

std::optional<IpAddress> ParseIp(std::string_view s) {
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  return IpAddress::Parse(s);
}

template <std::vector<IpAddress> Config::*M>
std::string AddIp(const Apply& a, std::optional<std::string_view> v) {
  std::optional<IpAddress> ip = ParseIp(*v);
  if (!ip) return "expected an IPv4 or IPv6 address, got " + Show(*v);
  (a.config.*M).push_back(*ip);
  return "";
}

template <std::vector<IpRange> Config::*M>
std::string AddRange(const Apply& a, std::optional<std::string_view> v) {
  std::optional<IpRange> range = IpRange::Parse(*v);
  if (!range) {
    return "expected an IP address, a range first-last or a prefix address/length, got " + Show(*v);
  }
  (a.config.*M).push_back(*range);
  return "";
}

template <auto M>
void ClearList(Config& c) {
  (c.*M).clear();
}

std::string SetExternalIp(const Apply& a, std::optional<std::string_view> v) {
  ExternalIp entry;
  size_t slash = v->find('/');
  std::optional<IpAddress> pub = ParseIp(v->substr(0, slash));
  if (!pub) return "expected public-ip or public-ip/private-ip, got " + Show(*v);
  entry.public_ip = *pub;
  if (slash != std::string_view::npos) {
    std::optional<IpAddress> priv = ParseIp(v->substr(slash + 1));
    if (!priv) return "expected public-ip or public-ip/private-ip, got " + Show(*v);
    if (priv->family() != pub->family()) {
      return "the public and private addresses must be of one family, got " + Show(*v);
    }
    entry.private_ip = *priv;
  }
  a.config.external_ips.push_back(entry);
  return "";
}

// Never shows the password or key: only the user name.
std::string AddUser(const Apply& a, std::optional<std::string_view> v) {
  size_t colon = v->find(':');
  if (colon == std::string_view::npos) {
    return "expected name:password or name:0x<32 hex digits> (value not shown)";
  }
  StaticUser user;
  std::string_view name = v->substr(0, colon);
  std::string_view password = v->substr(colon + 1);
  if (name.empty()) return "the user name before ':' is empty";
  if (HasControl(name)) return "user name " + Show(name) + " contains control characters";
  if (name.size() > 508) return "user name is longer than 508 bytes (RFC 8489 USERNAME)";
  if (password.empty()) return "the password of user " + Show(name) + " is empty";
  if (password.size() >= 2 && password[0] == '0' && password[1] == 'x') {
    std::string_view hex = password.substr(2);
    bool valid = hex.size() == 32 && std::all_of(hex.begin(), hex.end(), [](char c) {
                   return (c >= '0' && c <= '9') || (Lower(c) >= 'a' && Lower(c) <= 'f');
                 });
    if (!valid) {
      return "the key of user " + Show(name) +
             " must be 0x followed by 32 hex digits, as `turnadmin -k` prints (value not shown)";
    }
    user.password_is_key = true;
    user.password = ToLower(hex);
  } else {
    user.password = std::string(password);
  }
  user.name = std::string(name);
  a.config.users.push_back(std::move(user));
  return "";
}

// coturn turns use-auth-secret on for every static-auth-secret.
std::string AddSecret(const Apply& a, std::optional<std::string_view> v) {
  if (v->empty()) return "the secret is empty";
  a.config.static_auth_secrets.emplace_back(*v);
  a.config.use_auth_secret = true;
  return "";
}

// Key-id'd secrets live in a file, so that they rotate without touching this configuration.
std::string SetSecretsFile(const Apply& a, std::optional<std::string_view> v) {
  std::string error = SetPath<&Config::auth_secrets_file>(a, v);
  if (error.empty()) a.config.use_auth_secret = true;
  return error;
}

std::string SetClaimlessPlan(const Apply& a, std::optional<std::string_view> v) {
  if (*v == "none") {
    a.config.claimless_plan.clear();
    return "";
  }
  if (!auth::IsValidPlanName(*v)) {
    return "expected a plan name ([a-z0-9_-], 1-16) or none, got " + Show(*v);
  }
  a.config.claimless_plan = std::string(*v);
  return "";
}

// admin-ip, prometheus-address: one address (an IpAddress or an optional one).
template <auto M>
std::string SetIp(const Apply& a, std::optional<std::string_view> v) {
  std::optional<IpAddress> ip = ParseIp(*v);
  if (!ip) return "expected an IP address, got " + Show(*v);
  a.config.*M = *ip;
  return "";
}

// prometheus-port: unset means "the control endpoint's port".
std::string SetPrometheusPort(const Apply& a, std::optional<std::string_view> v) {
  uint64_t n = 0;
  if (!ParseUint(*v, &n) || n > 65535) return IntError(*v, 0, 65535);
  a.config.prometheus_port = static_cast<uint16_t>(n);
  return "";
}

std::string SetNodeId(const Apply& a, std::optional<std::string_view> v) {
  if (v->empty() || v->size() > 64) return "expected 1-64 characters, got " + Show(*v);
  for (char c : *v) {
    if (!IsNodeIdChar(c)) return "expected letters, digits, '-', '_' or '.', got " + Show(*v);
  }
  a.config.node_id = std::string(*v);
  return "";
}

std::string SetSeparator(const Apply& a, std::optional<std::string_view> v) {
  auto c = v->size() == 1 ? static_cast<unsigned char>((*v)[0]) : 0;
  if (c <= 0x20 || c >= 0x7f) return "expected one printable character, got " + Show(*v);
  a.config.rest_api_separator = std::string(*v);
  return "";
}

std::string SetRealm(const Apply& a, std::optional<std::string_view> v) {
  // RFC 8489 14.9: REALM is fewer than 128 characters.
  size_t chars = std::count_if(
      v->begin(), v->end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; });
  if (chars >= 128) return "the realm must be fewer than 128 characters (RFC 8489 REALM)";
  return SetName<&Config::realm>(a, v);
}

// stale-nonce, stale-nonce=<seconds>, stale-nonce=<boolean>. coturn before 4.6 read the value
// as a boolean; 4.6 reads seconds, with 0 meaning nonces that never expire. cvrelay always
// expires nonces, so "off" and 0 keep the 600-second default.
std::string SetStaleNonce(const Apply& a, std::optional<std::string_view> v) {
  constexpr uint32_t kDefault = 600;
  uint64_t n = 0;
  if (!v || v->empty()) {
    a.config.stale_nonce = kDefault;
  } else if (ParseUint(*v, &n)) {
    if (n > 2147483647) return IntError(*v, 0, 2147483647);
    if (n == 0) {
      a.Warn("0 would mean nonces that never expire; cvrelay always expires them, using 600 s");
      n = kDefault;
    } else if (n < 60) {
      a.Warn("a nonce lifetime of " + std::to_string(n) +
             " s makes clients re-authenticate very often (coturn before 4.6 read "
             "'stale-nonce=1' as 'on', meaning 600 s)");
    }
    a.config.stale_nonce = static_cast<uint32_t>(n);
  } else if (std::optional<bool> b = ParseBool(*v)) {
    if (!*b) a.Warn("'off' would mean nonces that never expire; cvrelay uses 600 s");
    a.config.stale_nonce = kDefault;
  } else {
    return "expected a number of seconds or a boolean, got " + Show(*v);
  }
  return "";
}

template <double Config::*M, int Min>
std::string SetRate(const Apply& a, std::optional<std::string_view> v) {
  double d = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), d);
  if (ec != std::errc() || end != v->data() + v->size() || !std::isfinite(d) || d < Min ||
      d > 1e6) {
    return "expected a number from " + std::to_string(Min) + " to 1000000, got " + Show(*v);
  }
  a.config.*M = d;
  return "";
}

void SyncLogLevel(Config& c) {
  c.log_level = (c.verbose || c.very_verbose) ? log::Level::kDebug : log::Level::kInfo;
}

std::string SetVerbose(const Apply& a, std::optional<std::string_view> v) {
  bool b = false;
  std::string error = FlagValue(v, &b);
  if (!error.empty()) return error;
  a.config.verbose = b;
  SyncLogLevel(a.config);
  return "";
}

std::string SetVeryVerbose(const Apply& a, std::optional<std::string_view> v) {
  bool b = false;
  std::string error = FlagValue(v, &b);
  if (!error.empty()) return error;
  a.config.very_verbose = b;
  if (b) a.config.verbose = true;
  SyncLogLevel(a.config);
  return "";
}

std::string SetSoftwareAttribute(const Apply& a, std::optional<std::string_view> v) {
  bool b = false;
  std::string error = FlagValue(v, &b);
  if (error.empty()) a.config.no_software_attribute = !b;
  return error;
}

std::string SetPidfile(const Apply& a, std::optional<std::string_view> v) {
  a.config.pidfile = std::string(*v);
  return "";
}

KeyDef Flag(std::string_view name, char short_name, bool Config::*member, std::string_view help) {
  KeyDef d;
  d.name = name;
  d.short_name = short_name;
  d.flag = member;
  d.text = help;
  return d;
}

KeyDef CustomFlag(std::string_view name, char short_name, Setter set, std::string_view help) {
  KeyDef d;
  d.name = name;
  d.short_name = short_name;
  d.set = set;
  d.text = help;
  return d;
}

KeyDef Value(std::string_view name, char short_name, std::string_view meta, Setter set,
             std::string_view help, void (*clear)(Config&) = nullptr) {
  KeyDef d;
  d.name = name;
  d.short_name = short_name;
  d.arg = Arg::kRequired;
  d.meta = meta;
  d.set = set;
  d.text = help;
  d.clear = clear;
  return d;
}

KeyDef Secret(KeyDef d) {
  d.secret = true;
  return d;
}

KeyDef Optional(std::string_view name, std::string_view meta, Setter set, std::string_view help) {
  KeyDef d = Value(name, 0, meta, set, help);
  d.arg = Arg::kOptional;
  return d;
}

KeyDef Ignored(std::string_view name, Arg arg, std::string_view why) {
  KeyDef d;
  d.name = name;
  d.kind = KeyKind::kIgnored;
  d.arg = arg;
  d.text = why;
  return d;
}

KeyDef Refused(std::string_view name, char short_name, Arg arg, std::string_view why,
               std::string_view neutral = {}) {
  KeyDef d;
  d.name = name;
  d.short_name = short_name;
  d.kind = KeyKind::kRefused;
  d.arg = arg;
  d.text = why;
  d.neutral = neutral;
  return d;
}

constexpr std::string_view kNoDatabase =
    "cvrelay has no user database; list accounts with user=, or use use-auth-secret with "
    "static-auth-secret";
constexpr std::string_view kNoCli = "cvrelay has no telnet CLI";
constexpr std::string_view kNoWebAdmin = "cvrelay has no web admin interface";
constexpr std::string_view kNoRfc5780 =
    "cvrelay does not implement RFC 5780 NAT behaviour discovery";
constexpr std::string_view kLogDestination =
    "cvrelay logs to stdout or log-file (under systemd, stdout reaches the journal)";
constexpr std::string_view kNoDynamic = "cvrelay has no database, so nothing is dynamic";
constexpr std::string_view kAddressFamily =
    "the RFC 6156 default (an IPv4 relayed address unless the client asks) always applies";

const std::vector<KeyDef>& Keys() {
  static const std::vector<KeyDef> keys = [] {
    std::vector<KeyDef> k;
    // Listeners.
    k.push_back(Value("listening-ip", 'L', "<ip>", AddIp<&Config::listening_ips>,
                      "Listen on this address (repeatable); default: all addresses.",
                      ClearList<&Config::listening_ips>));
    k.push_back(Value("listening-port", 'p', "<port>", SetUint<&Config::listening_port, 0, 65535>,
                      "UDP and TCP listening port (default 3478); 0 = the kernel picks."));
    k.push_back(Value("tls-listening-port", 0, "<port>",
                      SetUint<&Config::tls_listening_port, 0, 65535>,
                      "TLS and DTLS listening port (default 5349); 0 = the kernel picks."));
    k.push_back(Value("alt-listening-port", 0, "<port>",
                      SetUint<&Config::alt_listening_port, 0, 65535>,
                      "Additional UDP and TCP listening port; 0 = none (default)."));
    k.push_back(Value("alt-tls-listening-port", 0, "<port>",
                      SetUint<&Config::alt_tls_listening_port, 0, 65535>,
                      "Additional TLS and DTLS listening port; 0 = none (default)."));
    k.push_back(Flag("no-udp", 0, &Config::no_udp, "Do not start UDP listeners."));
    k.push_back(Flag("no-tcp", 0, &Config::no_tcp, "Do not start TCP listeners."));
    k.push_back(Flag("no-tls", 0, &Config::no_tls, "Do not start TLS listeners."));
    k.push_back(Flag("no-dtls", 0, &Config::no_dtls, "Do not start DTLS listeners."));
    k.push_back(Flag("no-udp-relay", 0, &Config::no_udp_relay,
                     "Refuse UDP relayed addresses (RFC 8656 allocations)."));
    k.push_back(Flag("no-tcp-relay", 0, &Config::no_tcp_relay,
                     "Refuse TCP relayed addresses (RFC 6062 allocations); the default."));
    k.push_back(Flag("tcp-relay", 0, &Config::tcp_relay,
                     "cvrelay: allow TCP relayed addresses (RFC 6062 allocations); off by "
                     "default, and no-tcp-relay wins."));
    k.push_back(Value("tls-handshake-timeout", 0, "<seconds>",
                      SetUint<&Config::tls_handshake_timeout, 1, 300>,
                      "cvrelay: a TLS or DTLS handshake not done this long after the first "
                      "packet closes the connection (default 10)."));
    k.push_back(Value("stream-auth-timeout", 0, "<seconds>",
                      SetUint<&Config::stream_auth_timeout, 1, 3600>,
                      "cvrelay: a TCP or TLS connection without an allocation this long after "
                      "accept is closed (default 30)."));
    k.push_back(Value("max-unauth-connections-per-ip", 0, "<count>",
                      SetUint<&Config::max_unauth_connections_per_ip, 0, 1000000>,
                      "cvrelay: TCP/TLS/DTLS connections per source IP not yet holding an "
                      "allocation; more are closed at once (default 32; 0 = no cap)."));
    // TLS.
    k.push_back(Value("cert", 0, "<file>", SetPath<&Config::cert>,
                      "Certificate chain, PEM; without it TLS and DTLS are off."));
    k.push_back(Value("pkey", 0, "<file>", SetPath<&Config::pkey>, "Private key, PEM."));
    k.push_back(Value("cipher-list", 0, "<ciphers>", SetText<&Config::cipher_list>,
                      "OpenSSL cipher list for TLS 1.2 and DTLS (default: OpenSSL's)."));
    k.push_back(Value("CA-file", 0, "<file>", SetPath<&Config::ca_file>,
                      "CA bundle, PEM: require and verify client certificates."));
    k.push_back(Value("dh-file", 0, "<file>", SetPath<&Config::dh_file>,
                      "DH parameters, PEM, for DHE cipher suites."));
    k.push_back(Flag("no-tlsv1", 0, &Config::no_tlsv1, "Refuse TLS 1.0 and DTLS 1.0."));
    k.push_back(Flag("no-tlsv1_1", 0, &Config::no_tlsv1_1, "Refuse TLS 1.1."));
    k.push_back(Flag("no-tlsv1_2", 0, &Config::no_tlsv1_2, "Refuse TLS 1.2 and DTLS 1.2."));
    // Relaying.
    k.push_back(Value("relay-ip", 'E', "<ip>", AddIp<&Config::relay_ips>,
                      "Local address for relayed sockets (repeatable); default: the listener's.",
                      ClearList<&Config::relay_ips>));
    k.push_back(Value("external-ip", 'X', "<public-ip[/private-ip]>", SetExternalIp,
                      "Public address behind NAT, or a public/private mapping (repeatable).",
                      ClearList<&Config::external_ips>));
    k.push_back(Value("min-port", 0, "<port>", SetUint<&Config::min_port, 1, 65535>,
                      "Lowest relayed port (default 49152)."));
    k.push_back(Value("max-port", 0, "<port>", SetUint<&Config::max_port, 1, 65535>,
                      "Highest relayed port (default 65535)."));
    k.push_back(Value("relay-threads", 'm', "<number>", SetUint<&Config::relay_threads, 0, 256>,
                      "Relay threads, 0-256; 0 = one per core (default)."));
    // Authentication.
    k.push_back(Value("realm", 'r', "<realm>", SetRealm,
                      "Realm for long-term credentials; required with authentication."));
    k.push_back(Flag("lt-cred-mech", 'a', &Config::lt_cred_mech,
                     "Long-term credentials (RFC 8489) with the user= accounts."));
    k.push_back(Flag("no-auth", 'z', &Config::no_auth,
                     "Allow anonymous access: an open relay. Must be explicit."));
    k.push_back(Flag("use-auth-secret", 0, &Config::use_auth_secret,
                     "TURN REST API: time-limited credentials from static-auth-secret."));
    k.push_back(Secret(Value("static-auth-secret", 0, "<secret>", AddSecret,
                             "REST API shared secret (repeatable, for rotation).",
                             ClearList<&Config::static_auth_secrets>)));
    k.push_back(Value("rest-api-separator", 'C', "<char>", SetSeparator,
                      "Separator of timestamp and user id in REST API names (default ':')."));
    k.push_back(Secret(Value("user", 'u', "<name:password>", AddUser,
                             "Static account: name:password or name:0x<key> (repeatable).",
                             ClearList<&Config::users>)));
    k.push_back(Optional("stale-nonce", "[=<seconds>]", SetStaleNonce,
                         "Nonce lifetime in seconds; bare = 600 (default 600)."));
    // Peers.
    k.push_back(
        Value("denied-peer-ip", 0, "<ip|first-last|ip/len>", AddRange<&Config::denied_peer_ips>,
              "Refuse peers in this range (repeatable).", ClearList<&Config::denied_peer_ips>));
    k.push_back(Value("allowed-peer-ip", 0, "<ip|first-last|ip/len>",
                      AddRange<&Config::allowed_peer_ips>,
                      "Allow peers in this range even if denied (repeatable).",
                      ClearList<&Config::allowed_peer_ips>));
    k.push_back(Flag("allow-loopback-peers", 0, &Config::allow_loopback_peers,
                     "Allow peers on 127.0.0.0/8 and ::1. For testing only."));
    k.push_back(Flag("no-multicast-peers", 0, &Config::no_multicast_peers,
                     "Refuse multicast and broadcast peers."));
    // Limits.
    k.push_back(Value("user-quota", 'q', "<number>", SetUint<&Config::user_quota, 0, 4294967295u>,
                      "Concurrent allocations per user; 0 = unlimited (default)."));
    k.push_back(Value("total-quota", 'Q', "<number>", SetUint<&Config::total_quota, 0, 4294967295u>,
                      "Concurrent allocations in total; 0 = unlimited (default)."));
    k.push_back(Optional("max-allocate-lifetime", "[=<seconds>]",
                         SetLifetime<&Config::max_allocate_lifetime, 3600>,
                         "Longest allocation lifetime a client may ask for (default 3600)."));
    k.push_back(Optional("channel-lifetime", "[=<seconds>]",
                         SetLifetime<&Config::channel_lifetime, 600>,
                         "Channel binding lifetime (default 600, as RFC 8656 says)."));
    k.push_back(Optional("permission-lifetime", "[=<seconds>]",
                         SetLifetime<&Config::permission_lifetime, 300>,
                         "Permission lifetime (default 300, as RFC 8656 says)."));
    k.push_back(Value(
        "unauth-rate", 0, "<per-second>", SetRate<&Config::unauth_rate, 0>,
        "cvrelay: unauthenticated replies per second per source IP; 0 = no limit (default 20)."));
    k.push_back(Value("unauth-burst", 0, "<count>", SetRate<&Config::unauth_burst, 1>,
                      "cvrelay: burst of unauthenticated replies per source IP (default 40)."));
    // STUN.
    k.push_back(
        Flag("fingerprint", 'f', &Config::fingerprint, "Add FINGERPRINT to every response."));
    k.push_back(Flag("no-software-attribute", 0, &Config::no_software_attribute,
                     "Do not send the SOFTWARE attribute."));
    k.push_back(CustomFlag("software-attribute", 0, SetSoftwareAttribute,
                           "Send the SOFTWARE attribute (default; inverse of the above)."));
    k.push_back(Value("server-name", 0, "<name>", SetName<&Config::server_name>,
                      "Server name (coturn: for oAuth; default: the realm)."));
    // Logging and process.
    k.push_back(Value("log-file", 'l', "<file>", SetText<&Config::log_file>,
                      "Log file; \"stdout\" or \"-\" for standard output."));
    k.push_back(CustomFlag("verbose", 'v', SetVerbose, "Verbose logging."));
    k.push_back(CustomFlag("Verbose", 'V', SetVeryVerbose, "Very verbose logging (debug)."));
    k.push_back(Flag("no-stdout-log", 0, &Config::no_stdout_log,
                     "Log only to log-file, not also to standard output."));
    KeyDef pidfile = Value("pidfile", 0, "<file>", SetPidfile,
                           "Write the process id here; empty = no pid file (default).");
    pidfile.allow_empty = true;
    k.push_back(pidfile);
    k.push_back(Value("drain-timeout", 0, "<seconds>", SetUint<&Config::drain_timeout, 0, 86400>,
                      "cvrelay: on SIGTERM or SIGINT, wait this long for allocations to end "
                      "(default 30)."));
    // Entitlements and request limits (cvrelay's own keys).
    k.push_back(Value("auth-secrets-file", 0, "<file>", SetSecretsFile,
                      "cvrelay: key-id'd REST secrets, one 'kid secret [not-after]' per line; "
                      "re-read on change. Implies use-auth-secret."));
    k.push_back(Value("plans-file", 0, "<file>", SetPath<&Config::plans_file>,
                      "cvrelay: plans table (JSON); default: the built-in plans."));
    k.push_back(Value("claimless-plan", 0, "<plan|none>", SetClaimlessPlan,
                      "cvrelay: plan for credentials without claims; none refuses them "
                      "(default pro)."));
    k.push_back(Value("allocate-rate", 0, "<per-second>", SetRate<&Config::allocate_rate, 0>,
                      "cvrelay: Allocates per second per source IP; 0 = no limit (default 20)."));
    k.push_back(Value("allocate-burst", 0, "<count>", SetRate<&Config::allocate_burst, 1>,
                      "cvrelay: burst of Allocates per source IP (default 60)."));
    k.push_back(Value("user-allocate-rate", 0, "<per-second>",
                      SetRate<&Config::user_allocate_rate, 0>,
                      "cvrelay: Allocates per second per user; 0 = no limit (default 5)."));
    k.push_back(Value("user-allocate-burst", 0, "<count>", SetRate<&Config::user_allocate_burst, 1>,
                      "cvrelay: burst of Allocates per user (default 30)."));
    k.push_back(Value("auth-failure-limit", 0, "<count>",
                      SetUint<&Config::auth_failure_limit, 0, 100000>,
                      "cvrelay: failed authentications per source IP within auth-failure-window "
                      "before a ban; 0 = never (default 10)."));
    k.push_back(Value("user-auth-failure-limit", 0, "<count>",
                      SetUint<&Config::user_auth_failure_limit, 0, 100000>,
                      "cvrelay: the same per user (default 20)."));
    k.push_back(Value("auth-failure-window", 0, "<seconds>",
                      SetUint<&Config::auth_failure_window, 1, 86400>,
                      "cvrelay: window for counting failed authentications (default 60)."));
    k.push_back(Value("auth-ban-time", 0, "<seconds>", SetUint<&Config::auth_ban_time, 1, 86400>,
                      "cvrelay: how long a ban after failed authentications lasts (default 60)."));
    // Control endpoint.
    k.push_back(Value("admin-ip", 0, "<ip>", SetIp<&Config::admin_ip>,
                      "cvrelay: control endpoint address (default 127.0.0.1)."));
    k.push_back(Value("admin-port", 0, "<port>", SetUint<&Config::admin_port, 0, 65535>,
                      "cvrelay: control endpoint port (default 9641)."));
    k.push_back(Secret(Value("admin-token", 0, "<token>", SetText<&Config::admin_token>,
                             "cvrelay: bearer token of the control endpoint (prefer "
                             "admin-token-file); the endpoint is off without one.")));
    k.push_back(Value("admin-token-file", 0, "<file>", SetPath<&Config::admin_token_file>,
                      "cvrelay: file holding the control endpoint's bearer token (mode 600)."));
    // Usage ledger.
    k.push_back(Value("usage-db", 0, "<file>", SetPath<&Config::usage_db>,
                      "cvrelay: the usage ledger, an SQLite file shared with cvadmin "
                      "(default /var/lib/cvrelay/usage.db)."));
    k.push_back(Flag("no-usage-ledger", 0, &Config::no_usage_ledger,
                     "cvrelay: meter nothing; monthly relay minutes and the abuse guard are then "
                     "not enforced."));
    k.push_back(Value("usage-checkpoint-interval", 0, "<seconds>",
                      SetUint<&Config::usage_checkpoint, 1, 300>,
                      "cvrelay: seconds between usage snapshots of live allocations; a crash "
                      "loses at most this much (default 10)."));
    k.push_back(Value("node-id", 0, "<name>", SetNodeId,
                      "cvrelay: this relay's name in usage records (default: the host name)."));
    // Prometheus.
    k.push_back(Flag("prometheus", 0, &Config::prometheus,
                     "Serve Prometheus metrics on /metrics (port prometheus-port)."));
    k.push_back(Value("prometheus-port", 0, "<port>", SetPrometheusPort,
                      "Port of /metrics (default: admin-port, 9641)."));
    k.push_back(Value("prometheus-address", 0, "<ip>", SetIp<&Config::prometheus_address>,
                      "Address of /metrics (default: admin-ip)."));
    k.push_back(Flag("prometheus-username-labels", 0, &Config::prometheus_username_labels,
                     "Export the top users by relay time this month (bounded by "
                     "prometheus-top-users)."));
    k.push_back(Value("prometheus-top-users", 0, "<count>",
                      SetUint<&Config::prometheus_top_users, 1, 100>,
                      "cvrelay: how many users prometheus-username-labels exports (default 10)."));

    // Ignored: nothing about what the relay does or allows depends on them.
    k.push_back(Ignored("no-cli", Arg::kNone, kNoCli));
    for (std::string_view name :
         {"cli-ip", "cli-port", "cli-password", "cli-max-output-sessions"}) {
      k.push_back(Ignored(name, Arg::kRequired, kNoCli));
    }
    for (std::string_view name : {"web-admin", "web-admin-listen-on-workers"}) {
      k.push_back(Ignored(name, Arg::kNone, kNoWebAdmin));
    }
    for (std::string_view name : {"web-admin-ip", "web-admin-port"}) {
      k.push_back(Ignored(name, Arg::kRequired, kNoWebAdmin));
    }
    k.push_back(Ignored("simple-log", Arg::kNone,
                        "cvrelay never renames or rotates log files; it writes to log-file as "
                        "named"));
    k.push_back(Ignored("new-log-timestamp", Arg::kNone,
                        "cvrelay's log lines always start with a UTC timestamp"));
    k.push_back(Ignored("new-log-timestamp-format", Arg::kRequired,
                        "cvrelay's log lines always start with a UTC timestamp"));
    k.push_back(Ignored("syslog", Arg::kNone, kLogDestination));
    k.push_back(Ignored("syslog-facility", Arg::kRequired, kLogDestination));
    k.push_back(Ignored("log-binding", Arg::kNone,
                        "cvrelay's logging detail is set by verbose and Verbose"));
    k.push_back(Ignored("no-rfc5780", Arg::kNone, kNoRfc5780));
    k.push_back(Ignored("response-origin-only-with-rfc5780", Arg::kNone, kNoRfc5780));
    k.push_back(Ignored("no-stun-backward-compatibility", Arg::kNone,
                        "cvrelay implements RFC 8489 STUN; classic RFC 3489 requests are not "
                        "answered"));
    k.push_back(Ignored("mobility", Arg::kNone,
                        "ICE mobility (MICE) is not supported; clients fall back to a new "
                        "allocation"));
    k.push_back(Ignored("udp-self-balance", Arg::kNone,
                        "it only balances over aux-server listeners, which cvrelay refuses"));
    k.push_back(Ignored("ne", Arg::kRequired, "coturn's internal network engine selection"));
    for (std::string_view name : {"dh566", "dh1066", "dh2066"}) {
      k.push_back(Ignored(name, Arg::kNone,
                          "cvrelay has no built-in DH groups; use dh-file for DHE cipher suites"));
    }
    k.push_back(Ignored("ec-curve-name", Arg::kRequired,
                        "the TLS key-exchange groups are OpenSSL's defaults"));
    for (std::string_view name : {"no-sslv2", "no-sslv3"}) {
      k.push_back(Ignored(name, Arg::kNone, "SSLv2 and SSLv3 are never offered"));
    }
    k.push_back(Ignored("secret-ts-exp-time", Arg::kOptional,
                        "deprecated in coturn and without effect there too"));
    k.push_back(Ignored("no-loopback-peers", Arg::kNone,
                        "loopback peers are always refused unless allow-loopback-peers is set"));
    k.push_back(Ignored("secret-key-file", Arg::kRequired,
                        "it only decrypts a mysql-userdb password, and cvrelay has no database"));
    for (std::string_view name : {"no-auth-pings", "no-dynamic-ip-list", "no-dynamic-realms"}) {
      k.push_back(Ignored(name, Arg::kNone, kNoDynamic));
    }
    KeyDef statsdb = Ignored("redis-statsdb", Arg::kRequired,
                             "cvrelay publishes no statistics or events to Redis");
    statsdb.short_name = 'O';
    k.push_back(statsdb);
    k.push_back(Ignored("respond-http-unsupported", Arg::kNone,
                        "cvrelay has no HTTP responder on its STUN/TURN ports"));

    // Refused: ignoring them would make the relay less safe, or not do what was asked.
    k.push_back(Refused("userdb", 'b', Arg::kRequired, kNoDatabase));
    k.push_back(Refused("db", 0, Arg::kRequired, kNoDatabase));
    k.push_back(Refused("psql-userdb", 'e', Arg::kRequired, kNoDatabase));
    k.push_back(Refused("sql-userdb", 0, Arg::kRequired, kNoDatabase));
    k.push_back(Refused("mysql-userdb", 'M', Arg::kRequired, kNoDatabase));
    k.push_back(Refused("mongo-userdb", 'J', Arg::kRequired, kNoDatabase));
    k.push_back(Refused("redis-userdb", 'N', Arg::kRequired, kNoDatabase));
    k.push_back(Refused("oauth", 0, Arg::kNone,
                        "third-party authorization (RFC 7635) is not offered by cvrelay", "false"));
    k.push_back(Refused("secure-stun", 0, Arg::kNone,
                        "Binding requests are always answered without credentials", "false"));
    k.push_back(Refused("stun-only", 'S', Arg::kNone,
                        "cvrelay cannot run as a STUN-only server; it would relay", "false"));
    k.push_back(
        Refused("no-stun", 0, Arg::kNone, "cvrelay always answers STUN Binding requests", "false"));
    k.push_back(Refused("server-relay", 0, Arg::kNone,
                        "relaying without permission checks is not offered by cvrelay", "false"));
    k.push_back(Refused("check-origin-consistency", 0, Arg::kNone,
                        "ORIGIN consistency checks are not offered by cvrelay", "false"));
    k.push_back(Refused("max-bps", 's', Arg::kRequired,
                        "per-session bandwidth limits are not offered by cvrelay", "0"));
    k.push_back(Refused("bps-capacity", 'B', Arg::kRequired,
                        "a server-wide bandwidth limit is not offered by cvrelay", "0"));
    k.push_back(Refused("max-allocate-timeout", 0, Arg::kRequired,
                        "the allocation establishment timeout is not configurable", "60"));
    k.push_back(Refused("listening-device", 'd', Arg::kRequired,
                        "binding to a network device is not offered by cvrelay; use listening-ip"));
    k.push_back(Refused("relay-device", 'i', Arg::kRequired,
                        "binding to a network device is not offered by cvrelay; use relay-ip"));
    k.push_back(Refused("aux-server", 0, Arg::kRequired,
                        "auxiliary listeners are not offered by cvrelay; use listening-ip and "
                        "alt-listening-port"));
    k.push_back(Refused("alternate-server", 0, Arg::kRequired,
                        "ALTERNATE-SERVER redirection is not offered by cvrelay"));
    k.push_back(Refused("tls-alternate-server", 0, Arg::kRequired,
                        "ALTERNATE-SERVER redirection is not offered by cvrelay"));
    k.push_back(Refused("tcp-proxy-port", 0, Arg::kRequired,
                        "PROXY protocol listeners are not offered by cvrelay"));
    k.push_back(Refused("proc-user", 0, Arg::kRequired,
                        "cvrelay does not switch users; start it unprivileged (systemd User=)"));
    k.push_back(Refused("proc-group", 0, Arg::kRequired,
                        "cvrelay does not switch groups; start it unprivileged (systemd Group=)"));
    k.push_back(Refused("daemon", 'o', Arg::kNone,
                        "cvrelay runs in the foreground; let the service manager supervise it "
                        "(systemd Type=simple)",
                        "false"));
    k.push_back(Refused("pkey-pwd", 0, Arg::kRequired,
                        "encrypted private keys are not supported; store the key unencrypted "
                        "with tight permissions"));
    k.push_back(Refused("raw-public-keys", 0, Arg::kNone,
                        "TLS raw public keys (RFC 7250) are not supported", "false"));
    k.push_back(Refused("acme-redirect", 0, Arg::kRequired,
                        "ACME HTTP redirection is not offered by cvrelay"));
    k.push_back(Refused("keep-address-family", 'K', Arg::kNone, kAddressFamily, "false"));
    k.push_back(
        Refused("allocation-default-address-family", 'A', Arg::kRequired, kAddressFamily, "ipv4"));
    for (std::string_view name : {"sha256", "sha384", "sha512"}) {
      k.push_back(Refused(name, 0, Arg::kNone,
                          "obsolete coturn option that forced a SHA-2 MESSAGE-INTEGRITY; it "
                          "cannot be honoured",
                          "false"));
    }
    return k;
  }();
  return keys;
}

const KeyDef* FindKey(std::string_view name) {
  for (const KeyDef& d : Keys()) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

const KeyDef* FindShort(char c) {
  for (const KeyDef& d : Keys()) {
    if (d.short_name == c) return &d;
  }
  return nullptr;
}

std::string UnknownKeyMessage(std::string_view key, bool on_command_line) {
  std::string message = on_command_line ? "unknown option" : "unknown key";
  const KeyDef* best = nullptr;
  size_t best_distance = key.size() >= 8 ? 4 : 3;  // suggest up to 3 edits away, 2 if short
  std::string lower = ToLower(key);
  for (const KeyDef& d : Keys()) {
    size_t distance = ToLower(d.name) == lower ? 0 : EditDistance(key, d.name);
    if (distance < best_distance) {
      best = &d;
      best_distance = distance;
    }
  }
  if (best != nullptr && key.size() >= 3)
    message += "; did you mean '" + std::string(best->name) + "'?";
  return message;
}

bool IsNeutral(const KeyDef& d, std::optional<std::string_view> value) {
  if (d.arg == Arg::kNone) {
    bool b = false;
    return FlagValue(value, &b).empty() && !b;
  }
  if (!value) return false;
  uint64_t a = 0, b = 0;
  if (ParseUint(*value, &a) && ParseUint(d.neutral, &b)) return a == b;
  return ToLower(Trim(*value)) == d.neutral;
}

ConfigError MakeError(const Site& site, std::string_view key, std::string message) {
  return ConfigError{site.file, site.line, Escape(key), std::move(message)};
}

// One key=value from either source. `key` is the name as written (also for unknown keys).
std::optional<ConfigError> ApplyKey(const KeyDef* d, std::string_view key,
                                    std::optional<std::string_view> value, const Site& site,
                                    Config* config) {
  if (d == nullptr) return MakeError(site, key, UnknownKeyMessage(key, site.line == 0));
  Apply apply{*config, site, d->name};
  if (d->kind == KeyKind::kIgnored) {
    apply.Warn("ignored: " + std::string(d->text));
    return std::nullopt;
  }
  if (d->kind == KeyKind::kRefused) {
    if (!d->neutral.empty() && IsNeutral(*d, value)) {
      apply.Warn("ignored: the value asks for coturn's default, which is what cvrelay does");
      return std::nullopt;
    }
    return MakeError(site, d->name, "not supported by cvrelay: " + std::string(d->text));
  }
  if (d->arg == Arg::kRequired && (!value || (value->empty() && !d->allow_empty))) {
    return MakeError(site, d->name, "missing value, expected " + std::string(d->meta));
  }
  std::string error;
  if (d->flag != nullptr) {
    bool b = false;
    error = FlagValue(value, &b);
    if (error.empty()) config->*(d->flag) = b;
  } else {
    error = d->set(apply, value);
  }
  if (!error.empty()) return MakeError(site, d->name, std::move(error));
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// The file

// One non-blank, non-comment line, already trimmed: the key, and the value if there is one.
// `key value` and `key = value` both work, as in coturn. A '#' at the start of the value part
// or after whitespace starts a comment, except inside "...".
struct SplitResult {
  std::string_view key;
  std::optional<std::string_view> value;
  bool quoted = false;
  std::string error;
};

SplitResult SplitLine(std::string_view s) {
  SplitResult r;
  size_t i = 0;
  while (i < s.size() && !IsSpace(s[i]) && s[i] != '=') ++i;
  r.key = s.substr(0, i);
  if (r.key.size() > 2 && r.key.substr(0, 2) == "--") r.key.remove_prefix(2);
  bool space_before = false;
  while (i < s.size() && IsSpace(s[i])) {
    ++i;
    space_before = true;
  }
  bool equals = false;
  if (i < s.size() && s[i] == '=') {
    equals = true;
    space_before = false;
    ++i;
    while (i < s.size() && IsSpace(s[i])) {
      ++i;
      space_before = true;
    }
  }
  std::string_view rest = s.substr(i);
  if (rest.empty() || (rest[0] == '#' && (space_before || !equals))) {
    if (equals) r.value = std::string_view();
    return r;
  }
  if (rest[0] == '"') {
    size_t close = rest.find('"', 1);
    if (close == std::string_view::npos) {
      r.error = "the value has an opening quote but no closing quote";
      return r;
    }
    std::string_view after = Trim(rest.substr(close + 1));
    if (!after.empty() && after[0] != '#') {
      r.error = "unexpected text after the closing quote: " + Show(after);
      return r;
    }
    r.value = rest.substr(1, close - 1);
    r.quoted = true;
    return r;
  }
  size_t end = rest.size();
  for (size_t j = 1; j < rest.size(); ++j) {
    if (rest[j] == '#' && IsSpace(rest[j - 1])) {
      end = j;
      break;
    }
  }
  r.value = Trim(rest.substr(0, end));
  return r;
}

std::string DirectoryOf(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return "";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

// ---------------------------------------------------------------------------------------------
// The command line

struct Option {
  const KeyDef* def = nullptr;  // nullptr: unknown
  std::string written;          // the key as written, for unknown options
  std::optional<std::string> value;
};

struct CommandLine {
  bool help = false;
  bool version = false;
  bool no_config_file = false;
  std::optional<std::string> config_file;
  std::vector<Option> options;
  std::optional<ConfigError> error;  // the first one; reported unless help or version
};

ConfigError CommandLineError(std::string_view key, std::string message) {
  return ConfigError{std::string(kCommandLine), 0, Escape(key), std::move(message)};
}

CommandLine ReadCommandLine(int argc, const char* const* argv) {
  CommandLine cl;
  auto fail = [&cl](ConfigError e) {
    if (!cl.error) cl.error = std::move(e);
  };
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i] != nullptr ? argv[i] : "";
    bool has_next = i + 1 < argc && argv[i + 1] != nullptr;
    if (arg.size() > 2 && arg.substr(0, 2) == "--") {
      std::string_view name = arg.substr(2);
      std::optional<std::string> value;
      if (size_t eq = name.find('='); eq != std::string_view::npos) {
        value = std::string(name.substr(eq + 1));
        name = name.substr(0, eq);
      }
      if (name == "help") {
        cl.help = true;
        continue;
      }
      if (name == "version") {
        cl.version = true;
        continue;
      }
      if (name == "conf-file") {
        if (!value && has_next) value = argv[++i];
        if (!value || value->empty()) {
          fail(CommandLineError(name, "missing value, expected <file>"));
        } else {
          cl.config_file = *value;
        }
        continue;
      }
      const KeyDef* d = FindKey(name);
      // A separate argument is the value of a key that needs one, and of a key with an optional
      // value when it does not look like an option (no positional arguments exist).
      if (d != nullptr && !value && has_next) {
        bool next_is_option = argv[i + 1][0] == '-' && argv[i + 1][1] != '\0';
        if (d->arg == Arg::kRequired || (d->arg == Arg::kOptional && !next_is_option)) {
          value = argv[++i];
        }
      }
      cl.options.push_back(Option{d, std::string(name), std::move(value)});
      continue;
    }
    if (arg.size() >= 2 && arg[0] == '-' && arg != "--") {
      // Short options, bundled like getopt: -fav, -p3478, -p 3478.
      for (size_t j = 1; j < arg.size(); ++j) {
        char c = arg[j];
        std::string written = std::string("-") + c;
        if (c == 'h') {
          cl.help = true;
          continue;
        }
        if (c == 'n') {
          cl.no_config_file = true;
          continue;
        }
        const KeyDef* d = c == 'c' ? nullptr : FindShort(c);
        bool takes_value = c == 'c' || (d != nullptr && d->arg != Arg::kNone);
        if (c != 'c' && d == nullptr) {
          fail(CommandLineError(written, "unknown option"));
          continue;
        }
        if (!takes_value) {
          cl.options.push_back(Option{d, written, std::nullopt});
          continue;
        }
        std::optional<std::string> value;
        std::string_view attached = arg.substr(j + 1);
        if (!attached.empty() && attached[0] == '=') attached.remove_prefix(1);
        if (!attached.empty()) {
          value = std::string(attached);
        } else if (has_next) {
          value = argv[++i];
        }
        if (c == 'c') {
          if (!value || value->empty()) {
            fail(CommandLineError(written, "missing value, expected <file>"));
          } else {
            cl.config_file = *value;
          }
        } else {
          cl.options.push_back(Option{d, written, std::move(value)});
        }
        break;
      }
      continue;
    }
    fail(CommandLineError("", "unexpected argument " + Show(arg) +
                                  "; options are written --key=value or --key value"));
  }
  return cl;
}

std::optional<std::string> ReadFile(const std::string& path, std::string* text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot open the configuration file: " + std::string(std::strerror(errno));
  std::string data;
  char buffer[8192];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    data.append(buffer, static_cast<size_t>(in.gcount()));
    if (data.size() > kMaxFileBytes) {
      return "the configuration file is larger than " + std::to_string(kMaxFileBytes) + " bytes";
    }
  }
  if (in.bad()) return "cannot read the configuration file: " + std::string(std::strerror(errno));
  *text = std::move(data);
  return std::nullopt;
}

}  // namespace

// -----------------------------------------------------------------------------------------------

std::string ConfigError::ToString() const {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
  }
  if (!key.empty()) out += "key '" + key + "': ";
  out += message;
  return out;
}

std::optional<ConfigError> ParseConfigText(std::string_view text, std::string_view filename,
                                           Config* config, std::vector<std::string>* warnings) {
  Site site;
  site.file = Escape(filename, 256);
  site.base_dir = DirectoryOf(filename);
  site.warnings = warnings;
  if (text.substr(0, 3) == "\xef\xbb\xbf") text.remove_prefix(3);  // UTF-8 byte order mark
  std::map<std::string, int, std::less<>> scalar_lines;  // value keys seen, for duplicates
  int line_number = 0;
  while (!text.empty()) {
    ++line_number;
    size_t newline = text.find('\n');
    std::string_view raw = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    site.line = line_number;
    if (raw.find('\0') != std::string_view::npos) {
      return ConfigError{site.file, line_number, "",
                         "the line contains a NUL byte; is this a text file?"};
    }
    std::string_view line = Trim(raw);
    if (line.empty() || line[0] == '#') continue;
    SplitResult split = SplitLine(line);
    if (split.key.empty()) {
      return ConfigError{site.file, line_number, "",
                         "expected key or key=value, got " + Show(line)};
    }
    const KeyDef* d = FindKey(split.key);
    if (!split.error.empty()) return MakeError(site, split.key, split.error);
    if (std::optional<ConfigError> e = ApplyKey(d, split.key, split.value, site, config)) return e;
    if (d == nullptr || d->kind != KeyKind::kSupported) continue;
    if (split.value && !split.quoted && !split.value->empty() && split.value->back() == ';' &&
        warnings != nullptr && !d->secret) {
      warnings->push_back(site.Prefix(d->name) +
                          "the value ends with ';', which becomes part of it; lines need no "
                          "terminator");
    }
    if (d->arg != Arg::kNone && d->clear == nullptr) {
      auto [it, inserted] = scalar_lines.emplace(std::string(d->name), line_number);
      if (!inserted && warnings != nullptr) {
        warnings->push_back(site.Prefix(d->name) + "also set on line " +
                            std::to_string(it->second) + "; the last value wins");
        it->second = line_number;
      }
    }
  }
  return std::nullopt;
}

void ApplyImpliedSettings(Config* config, std::vector<std::string>* warnings) {
  auto warn = [warnings](std::string message) {
    if (warnings != nullptr) warnings->push_back(std::move(message));
  };
  Config& c = *config;
  if (!c.users.empty() && !c.lt_cred_mech && !c.no_auth && !c.use_auth_secret) {
    warn("user accounts are set without lt-cred-mech; turning lt-cred-mech on, as coturn does");
    c.lt_cred_mech = true;
  }
  if (c.use_auth_secret && !c.users.empty()) {
    warn("use-auth-secret is on, so the " + std::to_string(c.users.size()) +
         " user account(s) are never consulted (as in coturn); dropping them");
    c.users.clear();
  }
  if (!c.no_auth && !c.lt_cred_mech && !c.use_auth_secret && c.users.empty()) {
    warn(
        "no credentials are configured (use-auth-secret with static-auth-secret, or "
        "lt-cred-mech with user), so every allocation will be refused; coturn would run an "
        "open relay here, which cvrelay never does");
  }
  if (c.cert.empty()) {
    // Without a certificate there is nothing to serve TLS with (coturn looks for a default
    // file; cvrelay does not guess): TLS and DTLS are off, and asking for nothing is no warning.
    c.no_tls = true;
    c.no_dtls = true;
  }
  if (c.allow_loopback_peers) {
    warn("allow-loopback-peers lets clients reach services on this host; use it only for testing");
  }
}

std::optional<ConfigError> Validate(const Config& c) {
  auto fail = [](std::string message) { return ConfigError{"", 0, "", std::move(message)}; };
  if (c.min_port == 0) return fail("min-port must be 1-65535");
  if (c.min_port > c.max_port) {
    return fail("min-port (" + std::to_string(c.min_port) +
                ") must not be greater than max-port (" + std::to_string(c.max_port) + ")");
  }
  bool tls = !c.no_tls && !c.cert.empty();
  bool dtls = !c.no_dtls && !c.cert.empty();
  if (c.no_udp && c.no_tcp && !tls && !dtls) {
    return fail(
        "every listener is off: no-udp and no-tcp are set, and TLS and DTLS need cert "
        "and pkey and must not be turned off by no-tls and no-dtls");
  }
  if (c.listening_port != 0 && c.listening_port == c.tls_listening_port &&
      ((!c.no_tcp && tls) || (!c.no_udp && dtls))) {
    return fail("listening-port and tls-listening-port must differ (both are " +
                std::to_string(c.listening_port) + ")");
  }
  if (c.no_udp_relay && (c.no_tcp_relay || !c.tcp_relay)) {
    return fail(
        "no-udp-relay is set and TCP relaying is off (it needs tcp-relay, without "
        "no-tcp-relay): nothing could be relayed");
  }
  if (!c.cert.empty() && c.pkey.empty()) {
    return fail("cert is set but pkey is not (pkey may name the same file if it holds both)");
  }
  if (c.cert.empty() && !c.pkey.empty()) return fail("pkey is set but cert is not");
  if (c.relay_threads < 0 || c.relay_threads > 256) {
    return fail("relay-threads must be 0-256, got " + std::to_string(c.relay_threads));
  }
  if (c.stale_nonce == 0) return fail("stale-nonce must be at least 1 second");
  if (c.max_allocate_lifetime == 0) {
    return fail("max-allocate-lifetime must be at least 1 second");
  }
  if (c.channel_lifetime == 0) return fail("channel-lifetime must be at least 1 second");
  if (c.permission_lifetime == 0) return fail("permission-lifetime must be at least 1 second");
  if (c.rest_api_separator.size() != 1) {
    return fail("rest-api-separator must be exactly one character");
  }
  if (!(c.unauth_rate >= 0) || !std::isfinite(c.unauth_rate)) {
    return fail("unauth-rate must be 0 (no limit) or a positive number");
  }
  if (!(c.unauth_burst >= 1) || !std::isfinite(c.unauth_burst)) {
    return fail("unauth-burst must be at least 1");
  }
  size_t plain_external = std::count_if(c.external_ips.begin(), c.external_ips.end(),
                                        [](const ExternalIp& e) { return !e.private_ip; });
  if (plain_external > 1) {
    return fail(
        "external-ip without a /private-ip part may be given only once; map several "
        "addresses as public-ip/private-ip");
  }
  // Authentication.
  if (c.no_auth && c.lt_cred_mech) {
    return fail("no-auth and lt-cred-mech contradict each other; choose one");
  }
  if (c.no_auth && c.use_auth_secret) {
    return fail(
        "no-auth and use-auth-secret (or static-auth-secret) contradict each other; "
        "choose one");
  }
  if (c.no_auth && !c.users.empty()) {
    return fail(
        "no-auth and user accounts contradict each other; remove no-auth or the user "
        "lines");
  }
  if (c.use_auth_secret && c.static_auth_secrets.empty() && c.auth_secrets_file.empty()) {
    return fail(
        "use-auth-secret needs at least one static-auth-secret or an auth-secrets-file "
        "(cvrelay has no database to read secrets from)");
  }
  if (!c.admin_token.empty() && !c.admin_token_file.empty()) {
    return fail("admin-token and admin-token-file both set; keep one (the file is safer)");
  }
  if (!c.admin_token.empty() && c.admin_token.size() < 16) {
    return fail("admin-token must be at least 16 characters");
  }
  if (c.lt_cred_mech && !c.use_auth_secret && c.users.empty()) {
    return fail(
        "lt-cred-mech needs at least one user account, or use-auth-secret with "
        "static-auth-secret (cvrelay has no user database)");
  }
  bool auth = c.lt_cred_mech || c.use_auth_secret || !c.users.empty();
  if (auth && c.realm.empty()) {
    return fail(
        "realm is required when authentication is on (lt-cred-mech, user or "
        "use-auth-secret)");
  }
  for (const std::string& secret : c.static_auth_secrets) {
    if (secret.empty()) return fail("static-auth-secret must not be empty");
  }
  std::set<std::string_view> names;
  for (const StaticUser& user : c.users) {
    if (user.name.empty() || user.password.empty()) {
      return fail("every user account needs a name and a password");
    }
    if (!names.insert(user.name).second) {
      return fail("user " + Show(user.name) + " is defined more than once");
    }
  }
  return std::nullopt;
}

std::optional<ConfigError> LoadConfigFile(const std::string& path, Config* config,
                                          std::vector<std::string>* warnings) {
  std::string text;
  if (std::optional<std::string> e = ReadFile(path, &text)) {
    return ConfigError{Escape(path, 256), 0, "", *e};
  }
  if (auto e = ParseConfigText(text, path, config, warnings)) return e;
  config->config_file = path;
  return std::nullopt;
}

LoadResult LoadConfig(int argc, const char* const* argv) {
  LoadResult result;
  CommandLine cl = ReadCommandLine(argc, argv);
  if (cl.help) {
    result.outcome = LoadOutcome::kHelp;
    return result;
  }
  if (cl.version) {
    result.outcome = LoadOutcome::kVersion;
    return result;
  }
  if (cl.error) {
    result.error = std::move(cl.error);
    return result;
  }
  if (cl.no_config_file && cl.config_file) {
    result.error = CommandLineError("-n",
                                    "-n (no configuration file) and -c FILE contradict "
                                    "each other");
    return result;
  }
  Config& config = result.config;
  if (cl.config_file) {
    result.error = LoadConfigFile(*cl.config_file, &config, &result.warnings);
    if (result.error) return result;
  }
  Site site;
  site.file = std::string(kCommandLine);
  site.warnings = &result.warnings;
  std::set<const KeyDef*> replaced_lists;
  for (const Option& option : cl.options) {
    if (option.def != nullptr && option.def->clear != nullptr &&
        replaced_lists.insert(option.def).second) {
      option.def->clear(config);
    }
    std::optional<std::string_view> value;
    if (option.value) value = *option.value;
    result.error = ApplyKey(option.def, option.written, value, site, &config);
    if (result.error) return result;
  }
  ApplyImpliedSettings(&config, &result.warnings);
  result.error = Validate(config);
  return result;
}

std::string UsageText() {
  constexpr size_t kColumn = 38;
  std::string out =
      "Usage: cvrelay [-c FILE | -n] [options]\n"
      "A STUN/TURN relay that reads coturn's turnserver.conf.\n"
      "\n";
  auto row = [&out](std::string left, std::string_view help) {
    out += "  " + left;
    if (left.size() + 2 >= kColumn) {
      out += "\n" + std::string(kColumn, ' ');
    } else {
      out += std::string(kColumn - 2 - left.size(), ' ');
    }
    out += std::string(help) + "\n";
  };
  row("-c FILE, --conf-file=FILE", "Read the configuration file FILE (coturn syntax).");
  row("-n", "Read no configuration file.");
  row("-h, --help", "Show this help and exit.");
  row("--version", "Show the version and exit.");
  out +=
      "\n"
      "Options; each is also a configuration file key, written without the dashes.\n"
      "Flags take no value, or =true/false; a list option given here replaces the file's list.\n"
      "\n";
  for (const KeyDef& d : Keys()) {
    if (d.kind != KeyKind::kSupported) continue;
    std::string left;
    if (d.short_name != 0) left += std::string("-") + d.short_name + ", ";
    left += "--" + std::string(d.name);
    if (d.arg == Arg::kRequired) left += "=" + std::string(d.meta);
    if (d.arg == Arg::kOptional) left += std::string(d.meta);
    row(left, d.text);
  }
  out +=
      "\n"
      "coturn options that cvrelay ignores (with a warning) or refuses are listed in\n"
      "docs/configuration.md.\n";
  return out;
}

std::vector<KeyInfo> ListKeys() {
  std::vector<KeyInfo> out;
  for (const KeyDef& d : Keys()) {
    out.push_back(
        KeyInfo{d.name, d.short_name, d.kind, d.arg != Arg::kNone, d.clear != nullptr, d.text});
  }
  return out;
}

bool IsNodeIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.';
}

}  // namespace cv::server
