#include "relay/server/relay_server.h"

#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "cv/auth/plain_authenticator.h"
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
  return (config.use_auth_secret && !config.static_auth_secrets.empty()) || !config.users.empty();
}

}  // namespace

std::shared_ptr<const auth::Authenticator> BuildAuthenticator(const Config& config,
                                                              std::string* error) {
  auth::PlainAuthConfig plain;
  plain.realm = config.realm;
  plain.use_auth_secret = config.use_auth_secret;
  plain.secrets = config.static_auth_secrets;
  plain.separator = config.rest_api_separator.empty() ? ':' : config.rest_api_separator[0];
  for (const StaticUser& u : config.users) {
    if (!u.password_is_key) {
      plain.users.push_back(auth::MakeUserWithPassword(u.name, config.realm, u.password));
      continue;
    }
    auto user = auth::MakeUserWithKey(u.name, u.password);
    if (!user) {
      *error = "user '" + u.name + "': the key must be 32 hex digits";
      return nullptr;
    }
    plain.users.push_back(std::move(*user));
  }
  if (std::string why = auth::ValidatePlainAuthConfig(plain); !why.empty()) {
    *error = why;
    return nullptr;
  }
  return auth::MakePlainAuthenticator(std::move(plain));
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
  shared_.nonce_lifetime_s = config_.stale_nonce;
  if (getrandom(shared_.nonce_key.data(), shared_.nonce_key.size(), 0) !=
      static_cast<ssize_t>(shared_.nonce_key.size())) {
    *error = "getrandom failed: " + std::string(strerror(errno));
    return false;
  }
  shared_.quotas = std::make_unique<turn::QuotaTracker>(config_.user_quota, config_.total_quota);
  shared_.ports = std::make_unique<net::PortPool>(config_.min_port, config_.max_port);
  shared_.reservations = std::make_unique<net::ReservationTable>();

  // Listening addresses: the configured ones, or every interface address.
  if (config_.no_udp) {
    *error = "no-udp leaves nothing to listen on: this version serves TURN over UDP only";
    return false;
  }
  std::vector<IpAddress> listen_ips =
      config_.listening_ips.empty() ? net::InterfaceAddresses() : config_.listening_ips;
  std::vector<uint16_t> ports = {config_.listening_port};
  if (config_.alt_listening_port != 0) ports.push_back(config_.alt_listening_port);
  for (const IpAddress& ip : listen_ips) {
    for (uint16_t port : ports) shared_.listeners.push_back({ip, port});
  }
  if (shared_.listeners.empty()) {
    *error = "no address to listen on (set listening-ip)";
    return false;
  }

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
  for (size_t i = 0; i < count; ++i) {
    auto worker = std::make_unique<net::Worker>(static_cast<uint32_t>(i), shared_, authenticator);
    if (!worker->Open(error)) return false;
    if (i == 0) shared_.listeners = worker->listening_addresses();
    workers_.push_back(std::move(worker));
  }
  for (auto& worker : workers_) {
    threads_.emplace_back([w = worker.get()] { w->Run(); });
  }
  if (!config_.pidfile.empty()) {
    std::ofstream pid(config_.pidfile, std::ios::trunc);
    pid << getpid() << "\n";
  }
  for (const SocketAddress& a : shared_.listeners) {
    log::Emit(log::Level::kInfo, "server.listening", "transport=udp address=%s",
              a.ToString().c_str());
  }
  for (const auto* family : {&shared_.relay_v4, &shared_.relay_v6}) {
    for (const net::RelayIp& r : *family) {
      log::Emit(log::Level::kInfo, "server.relay", "bind=%s advertised=%s ports=%u-%u",
                r.bind.ToString().c_str(), r.advertised.ToString().c_str(), config_.min_port,
                config_.max_port);
    }
  }
  log::Emit(log::Level::kInfo, "server.ready", "workers=%zu realm=%s auth=%s", workers_.size(),
            log::Quote(config_.realm).c_str(),
            !HasCredentials(config_)  ? "none (STUN only)"
            : config_.use_auth_secret ? "rest-secret"
                                      : "users");
  return true;
}

std::vector<SocketAddress> RelayServer::listening_addresses() const { return shared_.listeners; }

size_t RelayServer::allocation_count() const {
  size_t n = 0;
  for (const auto& w : workers_) n += w->allocation_count();
  return n;
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
  }
  std::shared_ptr<const auth::Authenticator> authenticator;
  if (HasCredentials(next)) {
    authenticator = BuildAuthenticator(next, error);
    if (!authenticator) return false;
  }
  for (auto& w : workers_) w->SetAuthenticator(authenticator);
  config_ = std::move(next);
  if (!config_.log_file.empty() && config_.log_file != "stdout" && config_.log_file != "syslog") {
    log::SetDestination(config_.log_file);  // reopen after logrotate
  }
  log::Emit(log::Level::kInfo, "server.reloaded", "secrets=%zu users=%zu",
            config_.static_auth_secrets.size(), config_.users.size());
  return true;
}

void RelayServer::Stop() {
  for (auto& w : workers_) w->Stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  workers_.clear();
}

int RelayServer::Run() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      std::string error;
      if (!Reload(&error)) {
        log::Emit(log::Level::kError, "server.reload_failed", "error=%s",
                  log::Quote(error, 300).c_str());
      }
      continue;
    }
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
