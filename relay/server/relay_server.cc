#include "relay/server/relay_server.h"

#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>

#include "cv/auth/entitlement_authenticator.h"
#include "cv/auth/usage_store.h"
#include "relay/common/log.h"
#include "relay/net/socket.h"

namespace cv::server {
namespace {

// The address to advertise for a relay bound on `bind`: its external-ip mapping, if any.
IpAddress Advertised(const Config& config, const IpAddress& bind) {
  for (const ExternalIp& e : config.external_ips) {
    if (e.private_ip && *e.private_ip == bind) return e.public_ip;
  }
  for (const ExternalIp& e : config.external_ips) {
    if (!e.private_ip && e.public_ip.family() == bind.family()) return e.public_ip;
  }
  return bind;
}

std::vector<IpAddress> RelayBindAddresses(const Config& config) {
  if (!config.relay_ips.empty()) return config.relay_ips;
  std::vector<IpAddress> candidates =
      config.listening_ips.empty() ? net::InterfaceAddresses() : config.listening_ips;
  // Prefer routable addresses; fall back to loopback on a host that has nothing else.
  std::vector<IpAddress> out;
  for (const IpAddress& ip : candidates) {
    if (!ip.IsLoopback() && !ip.IsUnspecified()) out.push_back(ip);
  }
  if (out.empty()) {
    for (const IpAddress& ip : candidates) {
      if (!ip.IsUnspecified()) out.push_back(ip);
    }
  }
  return out;
}

bool HasCredentials(const Config& config) {
  return (config.use_auth_secret &&
          (!config.static_auth_secrets.empty() || !config.auth_secrets_file.empty())) ||
         !config.users.empty();
}

// The control endpoint's token, from admin-token or admin-token-file (trailing newline dropped).
// The file must not be accessible to group or others.
bool ReadAdminToken(const Config& config, std::string* token, std::string* error) {
  if (config.admin_token_file.empty()) {
    *token = config.admin_token;
    return true;
  }
  std::optional<std::string> read = auth::ReadPrivateFile(config.admin_token_file, 4096, error);
  if (!read) {
    *error = "admin-token-file " + *error;
    return false;
  }
  std::string text = std::move(*read);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  if (text.size() < 16 || text.find_first_of(" \t\r\n") != std::string::npos) {
    *error = "admin-token-file " + config.admin_token_file +
             ": the token must be one line of at least 16 characters without spaces";
    return false;
  }
  *token = std::move(text);
  return true;
}

// The TURN layer's view of the ledger.
class LedgerSink final : public turn::UsageSink {
 public:
  explicit LedgerSink(auth::UsageLedger& ledger) : ledger_(ledger) {}
  void Submit(std::vector<auth::UsageRecord> records) override {
    ledger_.Submit(std::move(records));
  }
  auth::Standing Lookup(std::string_view user) const override { return ledger_.Lookup(user); }

 private:
  auth::UsageLedger& ledger_;
};

// node-id's default: the host name, kept to node-id's alphabet.
std::string DefaultNodeId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) return "cvrelay";
  std::string out;
  for (const char* c = host; *c != '\0' && out.size() < 64; ++c) {
    out.push_back(IsNodeIdChar(*c) ? *c : '-');
  }
  return out.empty() ? "cvrelay" : out;
}

// 16 hex digits from the kernel's CSPRNG: this run's id in usage records.
std::optional<std::string> NewRunId() {
  uint64_t v = 0;
  if (getrandom(&v, sizeof(v), 0) != sizeof(v)) return std::nullopt;
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(v));
  return std::string(text);
}

TrafficTotals Totals(const turn::TrafficCounters& t) {
  TrafficTotals out;
  out.relayed_ms = static_cast<uint64_t>(t.relayed_ms());
  out.bytes_to_peer = t.bytes_to_peer;
  out.bytes_to_client = t.bytes_to_client;
  out.packets_to_peer = t.packets_to_peer;
  out.packets_to_client = t.packets_to_client;
  return out;
}

turn::RevocationKind ToTurn(RevocationKind kind) {
  return kind == RevocationKind::kUser ? turn::RevocationKind::kUser
                                       : turn::RevocationKind::kSession;
}

}  // namespace

std::shared_ptr<const auth::Authenticator> BuildAuthenticator(const Config& config,
                                                              std::string* error) {
  auth::AuthConfig ac;
  ac.realm = config.realm;
  ac.use_auth_secret = config.use_auth_secret;
  for (const std::string& value : config.static_auth_secrets) ac.secrets.push_back({"", value, 0});
  if (!config.auth_secrets_file.empty()) {
    auto secrets = auth::LoadSecretsFile(config.auth_secrets_file, error);
    if (!secrets) return nullptr;
    ac.secrets.insert(ac.secrets.end(), secrets->begin(), secrets->end());
  }
  ac.separator = config.rest_api_separator.empty() ? ':' : config.rest_api_separator[0];
  for (const StaticUser& u : config.users) {
    if (!u.password_is_key) {
      ac.users.push_back(auth::MakeUserWithPassword(u.name, config.realm, u.password));
      continue;
    }
    auto user = auth::MakeUserWithKey(u.name, u.password);
    if (!user) {
      *error = "user '" + u.name + "': the key must be 32 hex digits";
      return nullptr;
    }
    ac.users.push_back(std::move(*user));
  }
  if (!config.plans_file.empty()) {
    auto plans = auth::Plans::Load(config.plans_file, error);
    if (!plans) return nullptr;
    ac.plans = std::move(*plans);
  }
  ac.claimless_plan = config.claimless_plan;
  if (std::string why = auth::ValidateAuthConfig(ac); !why.empty()) {
    *error = why;
    return nullptr;
  }
  return auth::MakeEntitlementAuthenticator(std::move(ac));
}

std::shared_ptr<const auth::Plans> LoadPlans(const Config& config, std::string* error) {
  if (config.plans_file.empty())
    return std::make_shared<const auth::Plans>(auth::Plans::Defaults());
  auto plans = auth::Plans::Load(config.plans_file, error);
  if (!plans) return nullptr;
  return std::make_shared<const auth::Plans>(std::move(*plans));
}

RelayServer::RelayServer(Config config) : config_(std::move(config)) {}

RelayServer::~RelayServer() { Stop(); }

void RelayServer::BlockSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool RelayServer::Start(std::string* error) {
  if (config_.no_auth) {
    *error =
        "no-auth asks for an open relay, which cvrelay does not run: anyone could relay through "
        "it at your cost. Configure use-auth-secret with static-auth-secret, or lt-cred-mech "
        "with user.";
    return false;
  }
  std::shared_ptr<const auth::Authenticator> authenticator;
  if (HasCredentials(config_)) {
    authenticator = BuildAuthenticator(config_, error);
    if (!authenticator) return false;
  }

  shared_.clock = &clock_;
  turn::TurnConfig& t = shared_.turn;
  t.max_lifetime_s = config_.max_allocate_lifetime;
  t.default_lifetime_s = std::min<uint32_t>(600, config_.max_allocate_lifetime);
  t.permission_lifetime_s = config_.permission_lifetime;
  t.channel_lifetime_s = config_.channel_lifetime;
  t.fingerprint = config_.fingerprint;
  t.software = !config_.no_software_attribute;
  if (!config_.server_name.empty()) t.software_name = "cvrelay " + config_.server_name;
  t.unauth_rate = config_.unauth_rate;
  t.unauth_burst = config_.unauth_burst;
  t.udp_relay = !config_.no_udp_relay;
  t.tcp_relay = config_.tcp_relay && !config_.no_tcp_relay;
  shared_.nonce_lifetime_s = config_.stale_nonce;
  if (getrandom(shared_.nonce_key.data(), shared_.nonce_key.size(), 0) !=
      static_cast<ssize_t>(shared_.nonce_key.size())) {
    *error = "getrandom failed: " + std::string(strerror(errno));
    return false;
  }
  shared_.quotas = std::make_unique<turn::QuotaTracker>(config_.user_quota, config_.total_quota);
  turn::RequestLimitsConfig limits;
  limits.allocate_rate_per_source = config_.allocate_rate;
  limits.allocate_burst_per_source = static_cast<uint32_t>(config_.allocate_burst);
  limits.allocate_rate_per_user = config_.user_allocate_rate;
  limits.allocate_burst_per_user = static_cast<uint32_t>(config_.user_allocate_burst);
  limits.auth_failures_per_source = config_.auth_failure_limit;
  limits.auth_failures_per_user = config_.user_auth_failure_limit;
  limits.auth_failure_window_s = config_.auth_failure_window;
  limits.auth_ban_s = config_.auth_ban_time;
  shared_.limits = std::make_unique<turn::RequestLimits>(limits);
  shared_.ports = std::make_unique<net::PortPool>(config_.min_port, config_.max_port);
  shared_.reservations = std::make_unique<net::ReservationTable>();
  if (!StartLedger(error)) return false;

  // Listening addresses: the configured ones, or every interface address.
  std::vector<IpAddress> listen_ips =
      config_.listening_ips.empty() ? net::InterfaceAddresses() : config_.listening_ips;
  if (listen_ips.empty()) {
    *error = "no address to listen on (set listening-ip)";
    return false;
  }
  if (!StartTls(error)) return false;
  std::vector<uint16_t> ports = {config_.listening_port};
  if (config_.alt_listening_port != 0) ports.push_back(config_.alt_listening_port);
  std::vector<uint16_t> tls_ports = {config_.tls_listening_port};
  if (config_.alt_tls_listening_port != 0) tls_ports.push_back(config_.alt_tls_listening_port);
  const bool tls = shared_.tls != nullptr && !config_.no_tls;
  const bool dtls = shared_.tls != nullptr && shared_.tls->dtls() != nullptr && !config_.no_dtls;
  for (const IpAddress& ip : listen_ips) {
    for (uint16_t port : ports) {
      // With no-udp, TCP still pairs with nothing: a port 0 then is the kernel's own pick.
      if (!config_.no_udp) shared_.listeners.push_back({ip, port});
      if (!config_.no_tcp) shared_.tcp_listeners.push_back({ip, port});
    }
    for (uint16_t port : tls_ports) {
      if (tls) shared_.tls_listeners.push_back({ip, port});
      if (dtls) shared_.dtls_listeners.push_back({ip, port});
    }
  }
  shared_.stream_limits = net::StreamLimits{};
  shared_.handshake_timeout = seconds(config_.tls_handshake_timeout);
  shared_.auth_timeout = seconds(config_.stream_auth_timeout);
  shared_.unauth = std::make_unique<net::ConnectionLimit>(config_.max_unauth_connections_per_ip);

  // Relay addresses per family, with their advertised (external) form.
  std::vector<IpAddress> self;
  for (const IpAddress& ip : RelayBindAddresses(config_)) {
    net::RelayIp r{ip, Advertised(config_, ip)};
    (ip.is_v4() ? shared_.relay_v4 : shared_.relay_v6).push_back(r);
    self.push_back(r.bind);
    self.push_back(r.advertised);
  }
  if (shared_.relay_v4.empty() && shared_.relay_v6.empty()) {
    *error = "no relay address (set relay-ip)";
    return false;
  }
  for (const IpAddress& ip : listen_ips) self.push_back(ip);

  turn::PeerPolicyConfig policy;
  policy.denied = config_.denied_peer_ips;
  policy.allowed = config_.allowed_peer_ips;
  policy.allow_loopback = config_.allow_loopback_peers;
  for (const IpAddress& ip : self) {
    // With allow-loopback-peers (tests, single-host setups) the relay's own loopback address is a
    // legitimate peer; every other own address stays denied.
    if (config_.allow_loopback_peers && ip.IsLoopback()) continue;
    if (!ip.IsUnspecified()) policy.relay_addresses.push_back(ip);
  }
  shared_.policy = std::make_shared<const turn::PeerPolicy>(policy);

  // Workers: the first binds (resolving port 0), the others share its exact addresses.
  size_t count = config_.relay_threads > 0 ? static_cast<size_t>(config_.relay_threads)
                                           : std::max(1u, std::thread::hardware_concurrency());
  // With port 0 the kernel picks UDP's port and TCP must get the same number, which another
  // program may hold on TCP: the first worker then tries again with a new pick.
  const bool any_port = config_.listening_port == 0 || config_.tls_listening_port == 0;
  for (size_t i = 0; i < count; ++i) {
    auto worker = std::make_unique<net::Worker>(static_cast<uint32_t>(i), shared_, authenticator);
    bool open = worker->Open(error);
    for (int retry = 0; !open && i == 0 && any_port && errno == EADDRINUSE && retry < 20; ++retry) {
      worker = std::make_unique<net::Worker>(0, shared_, authenticator);
      open = worker->Open(error);
    }
    if (!open) return false;
    if (i == 0) {
      // The others bind exactly what the first one got (port 0 resolved).
      shared_.listeners = worker->listening_addresses();
      shared_.tcp_listeners.clear();
      shared_.tls_listeners.clear();
      shared_.dtls_listeners.clear();
      for (const auto& [transport, address] : worker->stream_addresses()) {
        switch (transport) {
          case turn::Transport::kTcp:
            shared_.tcp_listeners.push_back(address);
            break;
          case turn::Transport::kTls:
            shared_.tls_listeners.push_back(address);
            break;
          default:
            shared_.dtls_listeners.push_back(address);
            break;
        }
      }
    }
    shared_.workers.push_back(worker.get());
    workers_.push_back(std::move(worker));
  }
  {
    std::lock_guard lock(standing_mu_);
    workers_gone_ = false;
  }
  started_ = clock_.Now();
  for (auto& worker : workers_) {
    threads_.emplace_back([w = worker.get()] { w->Run(); });
  }
  if (!StartControl(error)) return false;
  RememberAuthFiles();
  if (!config_.pidfile.empty()) {
    std::ofstream pid(config_.pidfile, std::ios::trunc);
    pid << getpid() << "\n";
  }
  for (const SocketAddress& a : shared_.listeners) {
    log::Emit(log::Level::kInfo, "server.listening", "transport=udp address=%s",
              a.ToString().c_str());
  }
  for (const auto& [name, list] :
       {std::pair{"tcp", &shared_.tcp_listeners}, std::pair{"tls", &shared_.tls_listeners},
        std::pair{"dtls", &shared_.dtls_listeners}}) {
    for (const SocketAddress& a : *list) {
      log::Emit(log::Level::kInfo, "server.listening", "transport=%s address=%s", name,
                a.ToString().c_str());
    }
  }
  for (const auto* family : {&shared_.relay_v4, &shared_.relay_v6}) {
    for (const net::RelayIp& r : *family) {
      log::Emit(log::Level::kInfo, "server.relay", "bind=%s advertised=%s ports=%u-%u",
                r.bind.ToString().c_str(), r.advertised.ToString().c_str(), config_.min_port,
                config_.max_port);
    }
  }
  log::Emit(log::Level::kInfo, "server.ready",
            "workers=%zu realm=%s auth=%s plans=%s claimless_plan=%s control=%s metrics=%s "
            "usage_db=%s",
            workers_.size(), log::Quote(config_.realm).c_str(),
            !HasCredentials(config_)  ? "none (STUN only)"
            : config_.use_auth_secret ? "rest-secret"
                                      : "users",
            config_.plans_file.empty() ? "built-in" : log::Quote(config_.plans_file).c_str(),
            config_.claimless_plan.empty() ? "none (refused)" : config_.claimless_plan.c_str(),
            control_ ? control_->address().ToString().c_str() : "off",
            !config_.prometheus ? "off"
            : metrics_listener_ ? metrics_listener_->address().ToString().c_str()
                                : control_->address().ToString().c_str(),
            ledger_ ? log::Quote(config_.usage_db).c_str() : "off");
  return true;
}

std::vector<SocketAddress> RelayServer::listening_addresses() const { return shared_.listeners; }

size_t RelayServer::allocation_count() const {
  size_t n = 0;
  for (const auto& w : workers_) n += w->allocation_count();
  return n;
}

net::TlsSettings RelayServer::TlsSettingsOf(const Config& c) {
  net::TlsSettings t;
  t.cert = c.cert;
  t.pkey = c.pkey;
  t.cipher_list = c.cipher_list;
  t.ca_file = c.ca_file;
  t.dh_file = c.dh_file;
  t.no_tlsv1 = c.no_tlsv1;
  t.no_tlsv1_1 = c.no_tlsv1_1;
  t.no_tlsv1_2 = c.no_tlsv1_2;
  return t;
}

bool RelayServer::StartTls(std::string* error) {
  if (config_.cert.empty() || (config_.no_tls && config_.no_dtls)) return true;
  std::string why;
  shared_.tls = net::TlsContexts::Load(TlsSettingsOf(config_), &why);
  if (!shared_.tls) {
    *error = "TLS: " + why;
    return false;
  }
  log::Emit(log::Level::kInfo, "server.tls", "%s", shared_.tls->Describe().c_str());
  if (!config_.no_dtls && shared_.tls->dtls() == nullptr) {
    log::Emit(log::Level::kWarning, "server.dtls_off", "reason=%s",
              log::Quote(shared_.tls->dtls_error()).c_str());
  }
  return true;
}

bool RelayServer::ReloadTls(const Config& next, std::string* error) {
  if (shared_.tls == nullptr) return true;  // TLS was off at start: listeners need a restart
  std::string why;
  auto tls = net::TlsContexts::Load(TlsSettingsOf(next), &why);
  if (!tls) {
    *error = "TLS: " + why + " (the running certificate stays)";
    return false;
  }
  for (auto& w : workers_) w->SetTls(tls);
  log::Emit(log::Level::kInfo, "tls.reloaded", "%s", tls->Describe().c_str());
  shared_.tls = std::move(tls);
  return true;
}

bool RelayServer::Reload(std::string* error) {
  Config next = config_;
  if (!config_.config_file.empty()) {
    // Only credentials change on reload; listeners and ports need a restart.
    Config fresh;
    std::vector<std::string> warnings;
    if (auto e = LoadConfigFile(config_.config_file, &fresh, &warnings)) {
      *error = e->ToString();
      return false;
    }
    ApplyImpliedSettings(&fresh, &warnings);
    // Keys from the command line win over the file, as at start: keep them if the file has none.
    if (!fresh.static_auth_secrets.empty()) next.static_auth_secrets = fresh.static_auth_secrets;
    if (!fresh.users.empty()) next.users = fresh.users;
    if (!fresh.realm.empty()) next.realm = fresh.realm;
    next.use_auth_secret = next.use_auth_secret || fresh.use_auth_secret;
    if (!fresh.auth_secrets_file.empty()) next.auth_secrets_file = fresh.auth_secrets_file;
    if (!fresh.plans_file.empty()) next.plans_file = fresh.plans_file;
    // A file that leaves claimless-plan at its default keeps what the command line said.
    if (fresh.claimless_plan != Config{}.claimless_plan) next.claimless_plan = fresh.claimless_plan;
    // Certificates are renewed in place (certbot): the file's TLS keys take effect too.
    if (!fresh.cert.empty()) {
      next.cert = fresh.cert;
      next.pkey = fresh.pkey;
    }
    if (!fresh.cipher_list.empty()) next.cipher_list = fresh.cipher_list;
  }
  // The certificate and key files are read again even when their names did not change.
  if (!ReloadTls(next, error)) return false;
  std::shared_ptr<const auth::Authenticator> authenticator;
  if (HasCredentials(next)) {
    authenticator = BuildAuthenticator(next, error);
    if (!authenticator) return false;
  }
  std::shared_ptr<const auth::Plans> plans = LoadPlans(next, error);
  if (!plans) return false;
  for (auto& w : workers_) w->SetAuthenticator(authenticator);
  if (ledger_) ledger_->SetPlans(plans);
  {
    std::lock_guard lock(plans_mu_);
    plans_ = std::move(plans);
  }
  config_ = std::move(next);
  if (!config_.log_file.empty() && config_.log_file != "stdout" && config_.log_file != "syslog") {
    log::SetDestination(config_.log_file);  // reopen after logrotate
  }
  RememberAuthFiles();
  log::Emit(
      log::Level::kInfo, "server.reloaded", "static_secrets=%zu secrets_file=%s users=%zu plans=%s",
      config_.static_auth_secrets.size(),
      config_.auth_secrets_file.empty() ? "none" : log::Quote(config_.auth_secrets_file).c_str(),
      config_.users.size(),
      config_.plans_file.empty() ? "built-in" : log::Quote(config_.plans_file).c_str());
  return true;
}

void RelayServer::Stop() {
  if (control_) control_->Stop();
  if (metrics_listener_) metrics_listener_->Stop();
  for (auto& w : workers_) w->Stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  {
    std::lock_guard lock(standing_mu_);
    workers_gone_ = true;
  }
  // Ends what is left (reason shutdown); the final records go to the ledger, which then flushes.
  workers_.clear();
  if (ledger_) {
    const bool flushed = ledger_->Flush(seconds(10));
    ledger_->Stop(std::chrono::milliseconds(1000));
    const auth::LedgerStats st = ledger_->stats();
    log::Emit(flushed ? log::Level::kInfo : log::Level::kError, "usage.closed",
              "flushed=%s records_written=%llu write_errors=%llu", flushed ? "yes" : "no",
              static_cast<unsigned long long>(st.records_written),
              static_cast<unsigned long long>(st.write_errors));
    ledger_.reset();
  }
}

int RelayServer::Run() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  for (;;) {
    // Wake once a second to notice a rotated secrets file or an edited plans file.
    timespec tick{1, 0};
    const int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig < 0) {
      PollAuthFiles();
      continue;
    }
    if (sig == SIGHUP) {
      std::string error;
      if (!Reload(&error)) {
        log::Emit(log::Level::kError, "server.reload_failed", "error=%s",
                  log::Quote(error, 300).c_str());
      }
      continue;
    }
    draining_ = true;
    for (auto& w : workers_) w->Drain();
    log::Emit(log::Level::kInfo, "server.draining", "signal=%s allocations=%zu timeout_s=%u",
              sig == SIGTERM ? "TERM" : "INT", allocation_count(), config_.drain_timeout);
    // Wait for live allocations to end, up to drain-timeout; a second signal stops at once.
    const MonoTime deadline = clock_.Now() + seconds(config_.drain_timeout);
    while (allocation_count() > 0 && clock_.Now() < deadline) {
      timespec wait{0, 100'000'000};
      int again = sigtimedwait(&set, nullptr, &wait);
      if (again == SIGTERM || again == SIGINT) break;
    }
    Stop();
    log::Emit(log::Level::kInfo, "server.stopped", "%s", "");
    return 0;
  }
}

}  // namespace cv::server

namespace cv::server {

std::pair<int64_t, int64_t> RelayServer::FileStamp(const std::string& path) const {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return {-1, -1};
  return {static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_size)};
}

void RelayServer::RememberAuthFiles() {
  file_stamps_.clear();
  for (const std::string* path : {&config_.auth_secrets_file, &config_.plans_file}) {
    if (!path->empty()) file_stamps_[*path] = FileStamp(*path);
  }
}

void RelayServer::PollAuthFiles() {
  bool changed = false;
  for (const auto& [path, stamp] : file_stamps_) changed |= FileStamp(path) != stamp;
  if (!changed) return;
  std::string error;
  if (!Reload(&error)) {
    // Remember the broken state so the error is logged once, not every second.
    RememberAuthFiles();
    log::Emit(log::Level::kError, "server.reload_failed", "trigger=file-change error=%s",
              log::Quote(error, 300).c_str());
  }
}

bool RelayServer::StartLedger(std::string* error) {
  plans_ = LoadPlans(config_, error);
  if (!plans_) return false;
  if (config_.no_usage_ledger) {
    log::Emit(log::Level::kWarning, "usage.off", "%s",
              "no-usage-ledger: nothing is metered; monthly relay minutes and the abuse "
              "guard are not enforced");
    return true;
  }
  const std::string node = config_.node_id.empty() ? DefaultNodeId() : config_.node_id;
  std::optional<std::string> run = NewRunId();
  if (!run) {
    *error = "getrandom failed: " + std::string(strerror(errno));
    return false;
  }
  auth::SqliteStoreOptions options;
  options.create_parent = true;
  auto writer = auth::OpenSqliteUsageStore(config_.usage_db, options, error);
  if (!writer) return false;
  auto reader = auth::OpenSqliteUsageStore(config_.usage_db, options, error);
  if (!reader) return false;
  auth::LedgerOptions lo;
  lo.node = node;
  lo.run = *run;
  lo.top_users = config_.prometheus_username_labels ? config_.prometheus_top_users : 0;
  lo.now_ms = [clock = &clock_] { return clock->UnixNowMs(); };
  ledger_ = auth::UsageLedger::Start(std::move(writer), std::move(reader), std::move(lo), plans_,
                                     this, error);
  if (!ledger_) return false;  // the store's errors name the file
  usage_sink_ = std::make_unique<LedgerSink>(*ledger_);
  shared_.usage = usage_sink_.get();
  shared_.usage_origin = {node, *run};
  shared_.checkpoint = seconds(config_.usage_checkpoint);
  log::Emit(log::Level::kInfo, "usage.ledger",
            "path=%s node=%s run=%s checkpoint_s=%u interrupted_closed=%zu",
            log::Quote(config_.usage_db).c_str(), node.c_str(), run->c_str(),
            config_.usage_checkpoint, ledger_->stats().interrupted_closed);
  return true;
}

bool RelayServer::StartControl(std::string* error) {
  std::string token;
  if (!ReadAdminToken(config_, &token, error)) return false;
  const SocketAddress admin{config_.admin_ip, config_.admin_port};
  const SocketAddress metrics_at{config_.prometheus_address.value_or(config_.admin_ip),
                                 config_.prometheus_port.value_or(config_.admin_port)};
  // /metrics shares the control listener when it has the same address, and then its token.
  const bool shared = config_.prometheus && !token.empty() && metrics_at == admin;
  if (!token.empty()) {
    if (!config_.admin_ip.IsLoopback()) {
      log::Emit(log::Level::kWarning, "control.exposed",
                "address=%s: the control endpoint speaks plain HTTP; keep it on a private network",
                config_.admin_ip.ToString().c_str());
    }
    ControlListenerConfig cc;
    cc.address = admin;
    cc.token = token;
    cc.metrics = shared;
    control_ = ControlListener::Start(cc, *this, error);
    if (!control_) return false;
    log::Emit(log::Level::kInfo, "server.listening", "transport=http-control address=%s",
              control_->address().ToString().c_str());
  }
  if (config_.prometheus && !shared) {
    if (token.empty() && !metrics_at.ip.IsLoopback()) {
      log::Emit(log::Level::kWarning, "metrics.exposed",
                "address=%s: /metrics asks for no token without an admin token; keep it on a "
                "private network",
                metrics_at.ip.ToString().c_str());
    }
    ControlListenerConfig mc;
    mc.address = metrics_at;
    mc.token = std::move(token);  // the admin token protects /metrics too, when there is one
    mc.control_routes = false;
    mc.metrics = true;
    metrics_listener_ = ControlListener::Start(mc, *this, error);
    if (!metrics_listener_) return false;
    log::Emit(log::Level::kInfo, "server.listening", "transport=http-metrics address=%s",
              metrics_listener_->address().ToString().c_str());
  }
  return true;
}

template <typename T>
std::optional<std::vector<T>> RelayServer::AskWorkers(std::function<T(turn::TurnServer&)> task,
                                                      Duration timeout) {
  // Shared with the posted tasks, which may outlive this call when a worker is slow.
  struct Gather {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<T> results;
    size_t pending = 0;
  };
  auto gather = std::make_shared<Gather>();
  gather->pending = workers_.size();
  for (auto& w : workers_) {
    w->Post([gather, task](turn::TurnServer& turn) {
      T result = task(turn);
      std::lock_guard lock(gather->mu);
      gather->results.push_back(std::move(result));
      if (--gather->pending == 0) gather->cv.notify_all();
    });
  }
  std::unique_lock lock(gather->mu);
  if (!gather->cv.wait_for(lock, timeout, [&] { return gather->pending == 0; })) {
    return std::nullopt;
  }
  return std::move(gather->results);
}

HealthInfo RelayServer::Health() {
  HealthInfo h;
  h.uptime_s = std::chrono::duration_cast<seconds>(clock_.Now() - started_).count();
  h.workers = workers_.size();
  h.allocations = allocation_count();
  h.ready = !draining_;
  if (draining_) h.not_ready_reason = "draining";
  return h;
}

std::vector<std::pair<std::string, uint64_t>> RelayServer::Counters() {
  // Each worker's counters are relaxed atomics that any thread may read.
  std::vector<std::pair<std::string, uint64_t>> out;
  for (size_t i = 0; i < static_cast<size_t>(turn::Counter::kCount); ++i) {
    const auto c = static_cast<turn::Counter>(i);
    uint64_t sum = 0;
    for (const auto& w : workers_) sum += w->counters().Get(c);
    out.emplace_back(turn::CounterName(c), sum);
  }
  return out;
}

std::optional<std::vector<AllocationInfo>> RelayServer::ListAllocations() {
  const Clock* clock = &clock_;
  auto lists = AskWorkers<std::vector<AllocationInfo>>(
      [clock](turn::TurnServer& turn) {
        const MonoTime now = clock->Now();
        std::vector<AllocationInfo> out;
        turn.VisitAllocations([&](const turn::Allocation& a) {
          AllocationInfo info;
          info.id = a.id;
          info.user = a.entitlement.user;
          info.session = a.entitlement.session;
          info.line = a.entitlement.line;
          info.plan = a.entitlement.plan;
          info.transport = turn::TransportName(a.tuple.transport);
          info.client = a.tuple.client;
          for (const turn::Relay& r : a.relays) {
            if (r.handle != turn::kNoRelay) info.relayed.push_back(r.address);
          }
          info.age_s = std::chrono::duration_cast<seconds>(now - a.created).count();
          info.bytes_to_peer = a.traffic.bytes_to_peer;
          info.bytes_to_client = a.traffic.bytes_to_client;
          info.packets_to_peer = a.traffic.packets_to_peer;
          info.packets_to_client = a.traffic.packets_to_client;
          info.bandwidth_kbps = a.entitlement.bandwidth_kbps;
          info.ends_in_s = a.hard_end == MonoTime::max()
                               ? -1
                               : std::chrono::duration_cast<seconds>(a.hard_end - now).count();
          out.push_back(std::move(info));
        });
        return out;
      },
      seconds(3));
  if (!lists) return std::nullopt;
  std::vector<AllocationInfo> all;
  for (auto& list : *lists) {
    for (auto& info : list) all.push_back(std::move(info));
  }
  return all;
}

std::optional<bool> RelayServer::EndAllocation(uint64_t id) {
  auto ended =
      AskWorkers<bool>([id](turn::TurnServer& turn) { return turn.EndAllocation(id); }, seconds(3));
  if (!ended) return std::nullopt;
  for (bool b : *ended) {
    if (b) return true;
  }
  return false;
}

size_t RelayServer::Revoke(const Revocation& revocation) {
  {
    std::lock_guard lock(revocations_mu_);
    int64_t& until = revocations_[{revocation.kind, revocation.id}];
    until = std::max(until, revocation.until);
  }
  const turn::RevocationKind kind = ToTurn(revocation.kind);
  auto ended =
      AskWorkers<size_t>([kind, id = revocation.id, until = revocation.until](
                             turn::TurnServer& turn) { return turn.Revoke(kind, id, until); },
                         seconds(3));
  size_t total = 0;
  if (ended) {
    for (size_t n : *ended) total += n;
  }
  log::Emit(log::Level::kInfo, "control.revoked", "kind=%s id=%s until=%lld ended=%zu",
            RevocationKindName(revocation.kind), log::Quote(revocation.id).c_str(),
            static_cast<long long>(revocation.until), total);
  return total;
}

std::vector<Revocation> RelayServer::ListRevocations() {
  const int64_t now = clock_.UnixNow();
  std::lock_guard lock(revocations_mu_);
  std::vector<Revocation> out;
  for (auto it = revocations_.begin(); it != revocations_.end();) {
    if (it->second < now) {
      it = revocations_.erase(it);
      continue;
    }
    out.push_back({it->first.first, it->first.second, it->second});
    ++it;
  }
  return out;
}

bool RelayServer::LiftRevocation(RevocationKind kind, const std::string& id) {
  bool found;
  {
    std::lock_guard lock(revocations_mu_);
    found = revocations_.erase({kind, id}) > 0;
  }
  const turn::RevocationKind k = ToTurn(kind);
  AskWorkers<bool>([k, id](turn::TurnServer& turn) { return turn.LiftRevocation(k, id); },
                   seconds(3));
  if (found) {
    log::Emit(log::Level::kInfo, "control.lifted", "kind=%s id=%s", RevocationKindName(kind),
              log::Quote(id).c_str());
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Metrics and usage

std::optional<RelayMetrics> RelayServer::Metrics() {
  struct WorkerSnapshot {
    WorkerMetrics worker;
    std::map<PlanTransport, uint64_t> live, created;
    std::map<std::string, TrafficTotals> traffic;
  };
  auto snapshots = AskWorkers<WorkerSnapshot>(
      [](turn::TurnServer& turn) {
        WorkerSnapshot s;
        s.worker.id = turn.worker_id();
        s.worker.allocations = turn.allocation_count();
        for (size_t i = 0; i < s.worker.counters.size(); ++i) {
          s.worker.counters[i] = turn.counters().Get(static_cast<turn::Counter>(i));
        }
        for (const auto& [key, stats] : turn.plan_stats()) {
          const PlanTransport pt{key.first, turn::TransportName(key.second)};
          s.created[pt] += stats.created;
          s.traffic[key.first] += Totals(stats.ended);
        }
        turn.VisitAllocations([&](const turn::Allocation& a) {
          s.live[{a.entitlement.plan, turn::TransportName(a.tuple.transport)}]++;
          s.traffic[a.entitlement.plan] += Totals(a.traffic);
        });
        return s;
      },
      seconds(3));
  if (!snapshots) return std::nullopt;
  RelayMetrics m;
  m.version = CV_VERSION;
  m.uptime_s = std::chrono::duration_cast<seconds>(clock_.Now() - started_).count();
  const uint64_t ports = uint64_t{config_.max_port} - config_.min_port + 1;
  m.allocation_capacity = ports * (shared_.relay_v4.size() + shared_.relay_v6.size());
  if (config_.total_quota != 0) {
    m.allocation_capacity = std::min<uint64_t>(m.allocation_capacity, config_.total_quota);
  }
  {
    // Every plan and transport reads 0 rather than vanishing while nothing is live, so sums and
    // ratios on dashboards have data on an idle relay.
    std::lock_guard lock(plans_mu_);
    for (const std::string& plan : plans_->Names()) {
      m.live[{plan, "udp"}] = 0;
      m.created[{plan, "udp"}] = 0;
    }
  }
  for (WorkerSnapshot& s : *snapshots) {
    m.workers.push_back(s.worker);
    for (const auto& [k, v] : s.live) m.live[k] += v;
    for (const auto& [k, v] : s.created) m.created[k] += v;
    for (const auto& [k, v] : s.traffic) m.traffic[k] += v;
  }
  std::sort(m.workers.begin(), m.workers.end(),
            [](const WorkerMetrics& a, const WorkerMetrics& b) { return a.id < b.id; });
  if (ledger_) {
    const auth::LedgerStats st = ledger_->stats();
    m.ledger.enabled = true;
    m.ledger.queued = st.queued;
    m.ledger.records_written = st.records_written;
    m.ledger.commits = st.commits;
    m.ledger.write_errors = st.write_errors;
    m.ledger.last_commit_seconds = st.last_commit_seconds;
    m.ledger.last_commit_unix_ms = st.last_commit_unix_ms;
    m.ledger.guards_active = st.guards_active;
    m.ledger.quota_exhausted_users = st.quota_exhausted_users;
    for (const auth::UserMonth& u : ledger_->TopUsers())
      m.top_users.emplace_back(u.user, u.relayed_ms);
  }
  return m;
}

std::optional<std::string> RelayServer::MetricsText() {
  std::optional<RelayMetrics> m = Metrics();
  if (!m) return std::nullopt;
  return RenderPrometheus(*m);
}

std::optional<UserUsageReport> RelayServer::UserUsage(const std::string& user, std::string* error) {
  if (!ledger_) return std::nullopt;
  std::optional<auth::UserUsage> usage = ledger_->User(user, error);
  if (!usage) return std::nullopt;
  UserUsageReport report;
  report.usage = std::move(*usage);
  if (!report.usage.plan.empty()) {
    std::shared_ptr<const auth::Plans> plans;
    {
      std::lock_guard lock(plans_mu_);
      plans = plans_;
    }
    const auth::PlanPolicy& plan = plans->Find(report.usage.plan);
    report.monthly_relay_minutes = plan.relay.monthly_relay_minutes;
    report.guard_applies = plan.relay.abuse_guard.enabled;
    report.max_call_duration_s = plan.max_call_duration_s;
  }
  const int64_t now = clock_.UnixNowMs();
  report.verdict = auth::Judge(report.monthly_relay_minutes, report.guard_applies,
                               auth::StandingOf(report.usage, now), now);
  return report;
}

std::optional<auth::UsageTotals> RelayServer::SessionUsage(const std::string& session,
                                                           std::string* error) {
  if (!ledger_) return std::nullopt;
  return ledger_->Session(session, error);
}

std::optional<std::vector<auth::UsageRecord>> RelayServer::UsageRecords(
    const auth::RecordFilter& filter, std::string* error) {
  if (!ledger_) return std::nullopt;
  return ledger_->Records(filter, error);
}

void RelayServer::OnStandingChanged(const std::string& user, const auth::Standing& standing) {
  std::lock_guard lock(standing_mu_);
  if (workers_gone_) return;
  log::Emit(log::Level::kInfo, "usage.standing",
            "user=%s month_relayed_s=%llu guard_until_ms=%lld guard_capped_s=%u",
            log::Quote(user).c_str(),
            static_cast<unsigned long long>(standing.month_relayed_ms / 1000),
            static_cast<long long>(standing.guard_until_ms), standing.guard_capped_s);
  for (auto& w : workers_) {
    w->Post([user, standing, clock = &clock_](turn::TurnServer& turn) {
      turn.ApplyStanding(user, standing, clock->Now());
    });
  }
}

void RelayServer::OnWriteError(const std::string& error) {
  log::Emit(log::Level::kError, "usage.write_failed", "error=%s (kept in memory, retrying)",
            log::Quote(error, 300).c_str());
}

}  // namespace cv::server
