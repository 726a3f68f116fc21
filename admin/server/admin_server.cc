#include "admin/server/admin_server.h"

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include <csignal>
#include <memory>
#include <optional>
#include <span>
#include <sstream>
#include <utility>

#include "admin/server/admin_api.h"
#include "admin/server/static_files.h"
#include "admin/service/admin_service.h"
#include "admin/service/key_ring.h"
#include "admin/service/request_auth.h"
#include "cv/auth/plans.h"
#include "cv/auth/secrets.h"
#include "relay/common/http_server.h"
#include "relay/common/log.h"

namespace cv::admin {

namespace {

using json = nlohmann::json;

constexpr size_t kMinTokenBytes = 16;
constexpr size_t kMinServiceKeyBytes = 32;

std::optional<json> ParseBody(const http::Request& request) {
  if (request.body.empty()) return json::object();
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return std::nullopt;
  return body;
}

// Reads the lines of a private file (admin token, service API keys): mode 600, no blank keys.
std::optional<std::vector<std::string>> ReadSecretLines(const std::string& path, size_t min_bytes,
                                                        std::string* error) {
  auto text = auth::ReadPrivateFile(path, 64 * 1024, error);
  if (!text) return std::nullopt;
  std::vector<std::string> lines;
  std::istringstream in(*text);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    if (line.size() < min_bytes) {
      *error = path + ": every key must be at least " + std::to_string(min_bytes) + " bytes";
      return std::nullopt;
    }
    lines.push_back(std::move(line));
  }
  OPENSSL_cleanse(text->data(), text->size());
  if (lines.empty()) {
    *error = path + ": no key in the file";
    return std::nullopt;
  }
  return lines;
}

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

SslCtxPtr MakeTlsContext(const std::string& cert, const std::string& pkey, std::string* error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
    *error = "cannot create a TLS context";
    return nullptr;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1) {
    *error = cert + ": cannot load the certificate chain";
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), pkey.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    *error = pkey + ": cannot load the private key, or it does not match the certificate";
    return nullptr;
  }
  return ctx;
}

class AdminServerImpl final : public AdminServer {
 public:
  AdminServerImpl() = default;
  ~AdminServerImpl() override {
    client_.reset();
    admin_.reset();
    if (sweep_ != nullptr) event_free(sweep_);
    for (event* e : signals_) event_free(e);
    if (base_ != nullptr) event_base_free(base_);
  }

  bool Init(const AdminConfig& config, std::string* error);
  int Run() override {
    CV_INFO("server.ready", "sessions=%zu", service_->live_sessions());
    event_base_dispatch(base_);
    CV_INFO("server.stopped", "live_sessions=%zu", service_->live_sessions());
    return 0;
  }

 private:
  http::Response Client(const http::Request& request);
  http::Response Admin(const http::Request& request);
  http::Response RouteClient(const http::Request& request, std::string* route);
  http::Response RouteAdmin(const http::Request& request, std::string* route);
  http::Response Health(const http::Request& request, bool ready);

  static void OnSweep(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<AdminServerImpl*>(arg);
    self->service_->Sweep();
    self->admin_service_->Sweep();
  }
  static void OnSignal(evutil_socket_t sig, short, void* arg) {
    CV_INFO("server.stopping", "signal=%d", static_cast<int>(sig));
    event_base_loopbreak(static_cast<AdminServerImpl*>(arg)->base_);
  }

  RealClock clock_;
  AdminMetrics metrics_;
  std::unique_ptr<AdminStore> store_;
  std::unique_ptr<RequestAuthenticator> auth_;
  std::unique_ptr<RateLimits> limits_;
  std::unique_ptr<CallService> service_;
  std::unique_ptr<RelayFleet> fleet_;
  std::unique_ptr<AdminService> admin_service_;
  std::unique_ptr<AdminApi> admin_api_;
  std::optional<StaticFiles> static_files_;  // web-root, when set
  SslCtxPtr tls_;
  event_base* base_ = nullptr;
  event* sweep_ = nullptr;
  std::vector<event*> signals_;
  std::unique_ptr<http::Server> client_;
  std::unique_ptr<http::Server> admin_;
};

bool AdminServerImpl::Init(const AdminConfig& config, std::string* error) {
  auto token_text = auth::ReadPrivateFile(config.admin_token_file, 64 * 1024, error);
  if (!token_text) return false;
  auto admin_tokens = ParseAdminTokens(*token_text, config.admin_token_file, error);
  OPENSSL_cleanse(token_text->data(), token_text->size());
  if (!admin_tokens) return false;

  std::vector<RelayEndpoint> relays;
  if (!config.relays.empty()) {
    auto relay_token = ReadSecretLines(config.relay_token_file, kMinTokenBytes, error);
    if (!relay_token) return false;
    for (const std::string& text : config.relays) {
      auto relay = ParseRelayEndpoint(text, error);
      if (!relay) {
        *error = "relay " + text + ": " + *error;
        return false;
      }
      relay->token = relay_token->front();
      relays.push_back(std::move(*relay));
    }
  }

  RequestAuthOptions auth_options;
  auth_options.max_skew_s = config.max_clock_skew_s;
  if (!config.service_api_key_file.empty()) {
    auto keys = ReadSecretLines(config.service_api_key_file, kMinServiceKeyBytes, error);
    if (!keys) return false;
    for (const std::string& key : *keys)
      auth_options.service_keys.push_back(http::DigestToken(key));
  }

  auth::Plans plans = auth::Plans::Defaults();
  if (!config.plans_file.empty()) {
    auto loaded = auth::Plans::Load(config.plans_file, error);
    if (!loaded) return false;
    plans = std::move(*loaded);
  }
  std::vector<auth::Secret> secrets;
  if (!config.auth_secrets_file.empty()) {
    auto loaded = auth::LoadSecretsFile(config.auth_secrets_file, error);
    if (!loaded) return false;
    secrets = std::move(*loaded);
  }
  for (const std::string& s : config.static_auth_secrets) secrets.push_back({"", s, 0});

  auto keys = LoadKeyRing(config.token_key_file, config.token_verify_key_files,
                          /*create_missing=*/true, clock_.UnixNow(), error);
  if (!keys) return false;

  store_ = OpenSqliteAdminStore(config.db, AdminStoreOptions{}, error);
  if (!store_) return false;
  auth_ = std::make_unique<RequestAuthenticator>(*store_, clock_, metrics_, auth_options);
  limits_ = std::make_unique<RateLimits>(config.rate_limits, clock_);
  service_ = std::make_unique<CallService>(*store_, clock_, metrics_, std::move(*keys),
                                           std::move(plans), std::move(secrets), config.service);
  if (!service_->Start(error)) return false;
  if (!relays.empty()) {
    FleetOptions fleet_options;
    fleet_options.timeout_ms = config.relay_timeout_ms;
    fleet_options.resync_interval_ms = config.relay_resync_interval_s * 1000;
    fleet_ = std::make_unique<RelayFleet>(std::move(relays), fleet_options);
  }
  AdminServiceOptions admin_options;
  admin_options.default_trial_s = config.trial_days * 86400;
  admin_options.token_key_file = config.token_key_file;
  admin_options.auth_secrets_file = config.auth_secrets_file;
  admin_options.usage_db = config.usage_db;
  admin_service_ = std::make_unique<AdminService>(*store_, *service_, clock_, metrics_,
                                                  fleet_.get(), nullptr, admin_options);
  if (!admin_service_->Start(error)) return false;
  admin_api_ = std::make_unique<AdminApi>(*admin_service_, *store_, metrics_, clock_,
                                          std::move(*admin_tokens));

  if (!config.web_root.empty()) {
    static_files_ = StaticFiles::Open(config.web_root, error);
    if (!static_files_) return false;
  }
  if (!config.cert.empty()) {
    tls_ = MakeTlsContext(config.cert, config.pkey, error);
    if (!tls_) return false;
  }

  base_ = event_base_new();
  if (base_ == nullptr) {
    *error = "cannot create the event loop";
    return false;
  }
  http::Server::Config client_config;
  client_config.address = SocketAddress{config.listening_ip, config.listening_port};
  client_config.request_timeout_s = config.request_timeout_s;
  client_config.tls = tls_.get();
  client_config.log_name = "client";
  client_ = http::Server::Start(
      base_, client_config, [this](const http::Request& r) { return Client(r); }, error);
  if (!client_) return false;
  http::Server::Config admin_config;
  admin_config.address = SocketAddress{config.admin_ip, config.admin_port};
  admin_config.request_timeout_s = config.request_timeout_s;
  admin_config.log_name = "admin";
  admin_ = http::Server::Start(
      base_, admin_config, [this](const http::Request& r) { return Admin(r); }, error);
  if (!admin_) return false;
  CV_INFO("server.listening", "transport=%s address=%s", tls_ ? "https-client" : "http-client",
          client_->address().ToString().c_str());
  CV_INFO("server.listening", "transport=http-admin address=%s",
          admin_->address().ToString().c_str());

  sweep_ = event_new(base_, -1, EV_PERSIST, &OnSweep, this);
  const timeval second{1, 0};
  if (sweep_ == nullptr || event_add(sweep_, &second) != 0) {
    *error = "cannot start the session sweep";
    return false;
  }
  for (int sig : {SIGTERM, SIGINT}) {
    event* e = evsignal_new(base_, sig, &OnSignal, this);
    if (e == nullptr || event_add(e, nullptr) != 0) {
      *error = "cannot install signal handlers";
      return false;
    }
    signals_.push_back(e);
  }
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}

http::Response AdminServerImpl::Health(const http::Request& request, bool ready) {
  if (request.method != "GET" && request.method != "HEAD") {
    return http::MethodNotAllowed(request, "GET, HEAD");
  }
  if (!ready) return http::Json(200, {{"status", "ok"}});
  if (!service_->StoreReachable()) {
    return http::Problem(503, "NOT_READY", "the store does not answer");
  }
  return http::Json(200, {{"ready", true}});
}

http::Response AdminServerImpl::Client(const http::Request& request) {
  std::string route = "other";
  http::Response response = RouteClient(request, &route);
  metrics_.Request(route, response.status);
  return response;
}

http::Response AdminServerImpl::RouteClient(const http::Request& request, std::string* route) {
  const std::vector<std::string>& p = request.path;
  const bool v1 = !p.empty() && p[0] == "v1";
  Endpoint endpoint = Endpoint::kPublic;
  if (v1 && p.size() >= 2) {
    if (p[1] == "call-sessions") endpoint = p.size() == 4 ? Endpoint::kEvent : Endpoint::kCallStart;
    if (p[1] == "turn-credentials") endpoint = Endpoint::kCredential;
    if (p[1] == "contacts" || p[1] == "entitlements") endpoint = Endpoint::kContact;
  }
  auto limited = [this, endpoint](const char* scope, int64_t wait) {
    metrics_.RateLimited(scope, EndpointName(endpoint));
    return ToResponse(
        Reply::Refuse(Refusal{429, code::kRateLimited,
                              std::string("too many requests from this ") +
                                  (scope[0] == 'i' ? "address" : "user") + "; retry later",
                              wait, nullptr}));
  };
  if (int64_t wait = limits_->CheckIp(endpoint, request.peer.ip); wait > 0) {
    *route = EndpointName(endpoint);
    return limited("ip", wait);
  }

  if (!v1) {
    if (p.size() == 2 && p[0] == ".well-known" && p[1] == "jwks.json") {
      *route = "GET /.well-known/jwks.json";
      if (request.method != "GET" && request.method != "HEAD") {
        return http::MethodNotAllowed(request, "GET, HEAD");
      }
      http::Response r = http::Json(200, service_->jwks());
      r.content_type = "application/jwk-set+json";
      return r;
    }
    if (p.size() == 1 && (p[0] == "healthz" || p[0] == "readyz")) {
      *route = "GET /" + p[0];
      return Health(request, p[0] == "readyz");
    }
    if (static_files_ && !p.empty() && p[0] == kStaticPrefix) {
      *route = "GET /app/*";
      return static_files_->Serve(request, std::span<const std::string>(p).subspan(1));
    }
    return http::Problem(404, code::kNotFound, "no such resource");
  }

  // /v1: the caller first (signature or service key), then their own limit.
  Refusal refusal;
  auto caller = auth_->Authenticate(request, &refusal);
  if (!caller) {
    *route = "auth";
    return ToResponse(Reply::Refuse(std::move(refusal)));
  }
  if (int64_t wait = limits_->CheckUser(endpoint, caller->user.id); wait > 0) {
    *route = EndpointName(endpoint);
    return limited("user", wait);
  }
  auto body = ParseBody(request);
  if (!body) return ToResponse(Reply::Refuse(BadRequest("the body is not valid JSON")));
  const User& user = caller->user;
  const std::string& m = request.method;

  if (p.size() == 2 && p[1] == "call-sessions") {
    *route = "POST /v1/call-sessions";
    if (m != "POST") return http::MethodNotAllowed(request, "POST");
    return ToResponse(service_->StartCall(user, *body));
  }
  if (p.size() == 3 && p[1] == "call-sessions") {
    *route = "GET /v1/call-sessions/{id}";
    if (m != "GET") return http::MethodNotAllowed(request, "GET");
    return ToResponse(service_->GetSession(user, p[2]));
  }
  if (p.size() == 4 && p[1] == "call-sessions" && p[3] == "events") {
    *route = "POST /v1/call-sessions/{id}/events";
    if (m != "POST") return http::MethodNotAllowed(request, "POST");
    return ToResponse(service_->PostEvent(user, p[2], *body));
  }
  if (p.size() == 2 && p[1] == "turn-credentials") {
    *route = "POST /v1/turn-credentials";
    if (m != "POST") return http::MethodNotAllowed(request, "POST");
    return ToResponse(service_->TurnCredentials(user, *body));
  }
  if (p.size() == 2 && p[1] == "entitlements") {
    *route = "GET /v1/entitlements";
    if (m != "GET") return http::MethodNotAllowed(request, "GET");
    return ToResponse(service_->Entitlements(user));
  }
  if (p.size() == 2 && p[1] == "contacts") {
    *route = m + " /v1/contacts";
    if (m == "GET") return ToResponse(service_->ListContacts(user));
    if (m == "POST") return ToResponse(service_->ApproveContact(user, *body));
    return http::MethodNotAllowed(request, "GET, POST");
  }
  if (p.size() == 3 && p[1] == "contacts") {
    *route = "DELETE /v1/contacts/{id}";
    if (m != "DELETE") return http::MethodNotAllowed(request, "DELETE");
    return ToResponse(service_->RemoveContact(user, p[2]));
  }
  return http::Problem(404, code::kNotFound, "no such resource");
}

http::Response AdminServerImpl::Admin(const http::Request& request) {
  std::string route = "other";
  http::Response response = RouteAdmin(request, &route);
  metrics_.Request(route, response.status);
  return response;
}

http::Response AdminServerImpl::RouteAdmin(const http::Request& request, std::string* route) {
  const std::vector<std::string>& p = request.path;
  if (p.size() == 1 && (p[0] == "healthz" || p[0] == "readyz")) {
    *route = "GET /" + p[0];
    return Health(request, p[0] == "readyz");
  }
  if (p.size() == 1 && p[0] == "metrics") {
    if (admin_api_->Authenticate(request) == nullptr) {
      *route = "admin auth";
      return http::Unauthorized("cvadmin",
                                "a valid \"Authorization: Bearer\" admin token is required");
    }
    *route = "GET /metrics";
    if (request.method != "GET") return http::MethodNotAllowed(request, "GET");
    http::Response r;
    r.status = 200;
    r.content_type = http::kPrometheusType;
    service_->PublishLiveSessions();
    r.body = metrics_.Render();
    return r;
  }
  return admin_api_->Handle(request, route);
}

}  // namespace

std::unique_ptr<AdminServer> AdminServer::Create(const AdminConfig& config, std::string* error) {
  auto server = std::make_unique<AdminServerImpl>();
  if (!server->Init(config, error)) return nullptr;
  return server;
}

}  // namespace cv::admin
