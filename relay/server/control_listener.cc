#include "relay/server/control_listener.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>
#include <utility>

#include "cv/auth/claims.h"
#include "relay/common/clock.h"
#include "relay/common/log.h"

namespace cv::server {

const char* RevocationKindName(RevocationKind kind) {
  switch (kind) {
    case RevocationKind::kUser:
      return "user";
    case RevocationKind::kSession:
      return "session";
  }
  return "user";
}

namespace {

using json = nlohmann::json;

constexpr size_t kMinTokenBytes = 16;
// Bodies the API accepts. POST /v1/revocations is the only route with a body, and it is tiny.
constexpr size_t kMaxBodyBytes = 16 * 1024;
// What libevent buffers at most. Bodies between kMaxBodyBytes and this get our problem+json 413;
// libevent 2.1 refuses larger ones itself (its own 413 page) before reading them, and offers no
// hook to answer that case in our format.
constexpr size_t kMaxBufferedBodyBytes = 4 * kMaxBodyBytes;
constexpr size_t kMaxHeadersBytes = 8 * 1024;
constexpr size_t kMaxIdBytes = 64;
constexpr size_t kMaxAllocationIdDigits = 16;
constexpr int64_t kMinTtlSeconds = 1;
constexpr int64_t kMaxTtlSeconds = 30 * 86400;
constexpr int64_t kDefaultTtlSeconds = 86400;

constexpr char kJsonType[] = "application/json";
constexpr char kProblemType[] = "application/problem+json";
constexpr char kPrometheusType[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kIdRule[] = "1-64 characters from [A-Za-z0-9._@+-]";

using Digest = std::array<uint8_t, 32>;

Digest Sha256(std::string_view bytes) {
  Digest digest{};
  unsigned int size = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Internal Server Error";
  }
}

const char* MethodName(evhttp_cmd_type method) {
  switch (method) {
    case EVHTTP_REQ_GET:
      return "GET";
    case EVHTTP_REQ_POST:
      return "POST";
    case EVHTTP_REQ_HEAD:
      return "HEAD";
    case EVHTTP_REQ_PUT:
      return "PUT";
    case EVHTTP_REQ_DELETE:
      return "DELETE";
    case EVHTTP_REQ_OPTIONS:
      return "OPTIONS";
    case EVHTTP_REQ_TRACE:
      return "TRACE";
    case EVHTTP_REQ_CONNECT:
      return "CONNECT";
    case EVHTTP_REQ_PATCH:
      return "PATCH";
  }
  return "?";
}

// Invalid UTF-8 from the backend (a user name, say) becomes U+FFFD instead of throwing.
std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

struct Response {
  int status = 200;
  const char* content_type = kJsonType;
  std::string body;  // empty: none (204)
  std::vector<std::pair<const char*, std::string>> headers;
};

Response Json(int status, const json& body) { return Response{status, kJsonType, Dump(body), {}}; }

Response NoContent() { return Response{204, kJsonType, "", {}}; }

// RFC 9457 problem details, plus a stable machine-readable "code".
Response Problem(int status, const char* code, const std::string& detail) {
  json body = {{"type", "about:blank"},
               {"title", ReasonPhrase(status)},
               {"status", status},
               {"code", code},
               {"detail", detail}};
  return Response{status, kProblemType, Dump(body), {}};
}

Response BadRequest(const std::string& detail) { return Problem(400, "BAD_REQUEST", detail); }

Response NotFound(const std::string& detail) { return Problem(404, "NOT_FOUND", detail); }

Response MethodNotAllowed(evhttp_cmd_type method, const char* allow) {
  Response r = Problem(405, "METHOD_NOT_ALLOWED",
                       std::string(MethodName(method)) + " is not allowed here; use " + allow);
  r.headers.emplace_back("Allow", allow);
  return r;
}

Response Unavailable(const std::string& detail) { return Problem(503, "UNAVAILABLE", detail); }

// User and session ids: exactly what the claims allow (nothing that needs escaping in a URL).
bool IsValidId(std::string_view id) { return auth::IsValidId(id, kMaxIdBytes); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<uint64_t> ParseAllocationId(std::string_view text) {
  if (text.empty() || text.size() > kMaxAllocationIdDigits) return std::nullopt;
  uint64_t id = 0;
  for (char c : text) {
    int digit = HexValue(c);
    if (digit < 0) return std::nullopt;
    id = (id << 4) | static_cast<uint64_t>(digit);
  }
  return id;
}

std::string FormatAllocationId(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, id);
  return buf;
}

// Percent-decoding that keeps embedded NULs visible (so the id check rejects them) and leaves '+'
// alone: ids may contain it. Malformed escapes ("%zz") stay as they are.
std::string UriDecode(std::string_view encoded) {
  std::string in(encoded);
  size_t size = 0;
  char* out = evhttp_uridecode(in.c_str(), 0, &size);
  if (out == nullptr) throw std::bad_alloc();
  std::string decoded(out, size);
  std::free(out);
  return decoded;
}

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

json AllocationJson(const AllocationInfo& a) {
  json relayed = json::array();
  for (const SocketAddress& r : a.relayed) relayed.push_back(r.ToString());
  return {{"id", FormatAllocationId(a.id)},
          {"user", a.user},
          {"session", a.session},
          {"line", a.line},
          {"plan", a.plan},
          {"transport", a.transport},
          {"client", a.client.ToString()},
          {"relayed", std::move(relayed)},
          {"age_s", a.age_s},
          {"bytes_to_peer", a.bytes_to_peer},
          {"bytes_to_client", a.bytes_to_client},
          {"packets_to_peer", a.packets_to_peer},
          {"packets_to_client", a.packets_to_client},
          {"bandwidth_kbps", a.bandwidth_kbps},
          {"ends_in_s", a.ends_in_s}};
}

json RevocationJson(const Revocation& r) {
  return {{"kind", RevocationKindName(r.kind)}, {"id", r.id}, {"until", r.until}};
}

std::optional<RevocationKind> ParseKind(std::string_view text) {
  if (text == "user") return RevocationKind::kUser;
  if (text == "session") return RevocationKind::kSession;
  return std::nullopt;
}

// Splits "a=1&b=2" into (name, value) pairs, percent-decoded; each name at most once and one of
// `allowed`. nullopt with `error` otherwise.
std::optional<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    std::string_view query, std::initializer_list<std::string_view> allowed, std::string* error) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::string_view pair : Split(query, '&')) {
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string name = UriDecode(pair.substr(0, eq));
    std::string value =
        UriDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string list;
      for (std::string_view a : allowed)
        list += (list.empty() ? "\"" : ", \"") + std::string(a) + "\"";
      *error = "unknown query parameter " + log::Quote(name, 32) + "; parameters are " + list;
      return std::nullopt;
    }
    for (const auto& [seen, unused] : out) {
      if (seen == name) {
        *error = "\"" + name + "\" is given more than once";
        return std::nullopt;
      }
    }
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

json TotalsJson(const auth::UsageTotals& t) {
  return {{"relayed_seconds", static_cast<double>(t.relayed_ms) / 1000.0},
          {"relayed_ms", t.relayed_ms},
          {"bytes_to_peer", t.bytes_to_peer},
          {"bytes_to_client", t.bytes_to_client},
          {"packets_to_peer", t.packets_to_peer},
          {"packets_to_client", t.packets_to_client},
          {"allocations", t.allocations},
          {"calls", t.calls}};
}

json RecordJson(const auth::UsageRecord& r) {
  json j = {{"node", r.node},
            {"run", r.run},
            {"allocation", FormatAllocationId(r.allocation)},
            {"user", r.user},
            {"session", r.session},
            {"line", r.line},
            {"plan", r.plan},
            {"transport", r.transport},
            {"client", r.client},
            {"peers", r.peers},
            {"start_ms", r.start_ms},
            {"last_ms", r.last_ms},
            {"ended", r.ended()},
            {"reason", auth::EndReasonName(r.reason)},
            {"relayed_ms", r.relayed_ms},
            {"bytes_to_peer", r.bytes_to_peer},
            {"bytes_to_client", r.bytes_to_client},
            {"packets_to_peer", r.packets_to_peer},
            {"packets_to_client", r.packets_to_client}};
  return j;
}

json UserUsageJson(const UserUsageReport& report) {
  const auth::UserUsage& u = report.usage;
  json guard = nullptr;
  if (u.guard) {
    guard = {{"since_ms", u.guard->since_ms},
             {"until_ms", u.guard->until_ms},
             {"capped_duration_s", u.guard->capped_duration_s},
             {"relayed_calls", u.guard->relayed_calls}};
  }
  const uint64_t used_ms = u.month.relayed_ms;
  json limits = {{"monthly_relay_minutes", report.monthly_relay_minutes},
                 {"month_relay_minutes_used", static_cast<double>(used_ms) / 60000.0},
                 {"monthly_quota_exhausted", report.verdict.quota_exhausted},
                 {"abuse_guard", report.guard_applies}};
  // The call duration the relay enforces now: the plan's, tightened by a guard in force.
  limits["max_call_duration_s"] =
      auth::TighterLimit(report.max_call_duration_s, report.verdict.capped_duration_s);
  return {{"user", u.user},
          {"plan", u.plan},
          {"day", TotalsJson(u.day)},
          {"month", TotalsJson(u.month)},
          {"last_24h", TotalsJson(u.last_24h)},
          {"abuse_guard", guard},
          {"effective", limits}};
}

// One request as the router sees it: the method, the percent-decoded path segments and the raw
// query string.
struct Request {
  evhttp_cmd_type method = EVHTTP_REQ_GET;
  std::vector<std::string> path;
  std::string query;
  std::string body;
};

class ControlListenerImpl final : public ControlListener {
 public:
  ControlListenerImpl(const ControlListenerConfig& config, ControlBackend& backend)
      : config_(config),
        backend_(backend),
        token_digest_(Sha256(config.token)),
        open_(config.token.empty()) {
    config_.token.clear();  // only the digest is kept
  }
  ~ControlListenerImpl() override { Stop(); }

  // Everything but the thread; on failure the destructor frees what was made.
  bool Init(std::string* error);
  void Run() {
    thread_ = std::thread([base = base_] { event_base_dispatch(base); });
  }

  SocketAddress address() const override { return bound_; }

  // The listener thread also waits for the eventfd; Stop() writes to it, and the wake callback
  // breaks the loop on the listener thread itself, so no libevent state is touched from two threads
  // (and libevent needs no evthread locking). Once joined, everything is freed here: the port can
  // be bound again at once. From a backend method (the listener thread) Stop() only breaks the
  // loop; the owner's next Stop() or the destructor joins and frees.
  void Stop() override {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (thread_.joinable() && thread_.get_id() == std::this_thread::get_id()) {
      event_base_loopbreak(base_);
      return;
    }
    if (thread_.joinable()) {
      uint64_t one = 1;
      while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
      }
      thread_.join();
    }
    Free();
  }

 private:
  static void OnWake(evutil_socket_t fd, short /*events*/, void* arg) {
    uint64_t count = 0;
    while (read(fd, &count, sizeof(count)) < 0 && errno == EINTR) {
    }
    event_base_loopbreak(static_cast<ControlListenerImpl*>(arg)->base_);
  }

  static void OnRequest(evhttp_request* req, void* arg) {
    static_cast<ControlListenerImpl*>(arg)->Serve(req);
  }

  void Free();
  void Serve(evhttp_request* req);
  Response Handle(evhttp_request* req);
  bool Authorized(evhttp_request* req) const;
  Response Route(const Request& r);
  Response ListAllocations(const Request& r);
  Response EndAllocation(const std::string& id);
  Response CreateRevocation(const Request& r);
  Response Metrics(const Request& r);
  Response Usage(const Request& r);
  Response UsageRecords(const Request& r);
  Response LiftRevocation(const std::string& kind, const std::string& id);

  ControlListenerConfig config_;
  ControlBackend& backend_;
  const Digest token_digest_;
  const bool open_;  // no token: a metrics-only listener that asks for none
  SocketAddress bound_;

  event_base* base_ = nullptr;
  evhttp* http_ = nullptr;
  event* wake_event_ = nullptr;
  int wake_fd_ = -1;
  std::thread thread_;
  std::mutex stop_mu_;
};

bool ControlListenerImpl::Init(std::string* error) {
  auto fail = [error](std::string message) {
    if (error != nullptr) *error = "control listener: " + std::move(message);
    return false;
  };
  if (config_.request_timeout_s <= 0) return fail("request timeout must be positive");

  base_ = event_base_new();
  http_ = base_ != nullptr ? evhttp_new(base_) : nullptr;
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (http_ == nullptr || wake_fd_ < 0) return fail("cannot create the event loop");
  wake_event_ = event_new(base_, wake_fd_, EV_READ | EV_PERSIST, &OnWake, this);
  if (wake_event_ == nullptr || event_add(wake_event_, nullptr) != 0) {
    return fail("cannot create the event loop");
  }

  evhttp_set_max_body_size(http_, kMaxBufferedBodyBytes);
  evhttp_set_max_headers_size(http_, kMaxHeadersBytes);
  evhttp_set_timeout(http_, config_.request_timeout_s);
  // Read and drop an oversized body before closing, so the client sees the 413 rather than a
  // reset.
  evhttp_set_flags(http_, EVHTTP_SERVER_LINGERING_CLOSE);
  // Every method reaches the router, which answers 405 with Allow (libevent would say 501).
  evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                        EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
  evhttp_set_gencb(http_, &OnRequest, this);

  errno = 0;
  evhttp_bound_socket* bound = evhttp_bind_socket_with_handle(
      http_, config_.address.ip.ToString().c_str(), config_.address.port);
  if (bound == nullptr) {
    int err = errno;
    return fail("cannot bind " + config_.address.ToString() + ": " +
                (err != 0 ? std::strerror(err) : "unknown error"));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  std::optional<SocketAddress> local;
  if (getsockname(evhttp_bound_socket_get_fd(bound), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    local = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  }
  if (!local) return fail("cannot read the bound address: " + std::string(std::strerror(errno)));
  bound_ = *local;
  return true;
}

void ControlListenerImpl::Free() {
  if (http_ != nullptr) evhttp_free(http_);  // closes the listening socket and every connection
  if (wake_event_ != nullptr) event_free(wake_event_);
  if (base_ != nullptr) event_base_free(base_);
  if (wake_fd_ >= 0) close(wake_fd_);
  http_ = nullptr;
  wake_event_ = nullptr;
  base_ = nullptr;
  wake_fd_ = -1;
}

void ControlListenerImpl::Serve(evhttp_request* req) {
  // libevent is C: nothing may unwind through it.
  Response response;
  try {
    response = Handle(req);
  } catch (const std::exception& e) {
    CV_ERROR("control.internal_error", "what=%s", log::Quote(e.what()).c_str());
    response = Problem(500, "INTERNAL", "internal error");
  } catch (...) {
    response = Problem(500, "INTERNAL", "internal error");
  }
  CV_DEBUG("control.request", "method=%s uri=%s status=%d",
           MethodName(evhttp_request_get_command(req)),
           log::Quote(evhttp_request_get_uri(req)).c_str(), response.status);

  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Cache-Control", "no-store");
  if (!response.body.empty()) evhttp_add_header(headers, "Content-Type", response.content_type);
  for (const auto& [name, value] : response.headers) {
    evhttp_add_header(headers, name, value.c_str());
  }
  // A reply to HEAD has no body (RFC 9110 §9.3.2); libevent would send it unframed.
  if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
    evbuffer_add(evhttp_request_get_output_buffer(req), response.body.data(), response.body.size());
  }
  evhttp_send_reply(req, response.status, ReasonPhrase(response.status), nullptr);
}

Response ControlListenerImpl::Handle(evhttp_request* req) {
  // Authentication comes first, so strangers learn nothing about routes.
  if (!open_ && !Authorized(req)) {
    Response r =
        Problem(401, "UNAUTHORIZED", "a valid \"Authorization: Bearer\" token is required");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"cvrelay\"");
    return r;
  }
  evbuffer* input = evhttp_request_get_input_buffer(req);
  size_t body_size = evbuffer_get_length(input);
  if (body_size > kMaxBodyBytes) {
    return Problem(413, "PAYLOAD_TOO_LARGE",
                   "request bodies are limited to " + std::to_string(kMaxBodyBytes) + " bytes");
  }

  Request r;
  r.method = evhttp_request_get_command(req);
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
  if (path == nullptr || path[0] != '/') return NotFound("no such resource");
  for (std::string_view segment : Split(std::string_view(path).substr(1), '/')) {
    r.path.push_back(UriDecode(segment));
  }
  const char* query = evhttp_uri_get_query(uri);
  if (query != nullptr) r.query = query;
  r.body.resize(body_size);
  evbuffer_copyout(input, r.body.data(), body_size);
  return Route(r);
}

// "Authorization: Bearer <token>" (RFC 6750 §2.1), exactly once. Both sides are hashed first so
// the comparison takes the same time whatever the length or content of the offered token.
bool ControlListenerImpl::Authorized(evhttp_request* req) const {
  const evkeyvalq* headers = evhttp_request_get_input_headers(req);
  const char* value = nullptr;
  int seen = 0;
  for (const evkeyval* h = headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
    if (evutil_ascii_strcasecmp(h->key, "Authorization") == 0) {
      value = h->value;
      ++seen;
    }
  }
  if (seen != 1) return false;
  std::string_view credentials(value);
  constexpr std::string_view kScheme = "bearer";
  if (credentials.size() <= kScheme.size() || credentials[kScheme.size()] != ' ' ||
      evutil_ascii_strncasecmp(credentials.data(), kScheme.data(), kScheme.size()) != 0) {
    return false;
  }
  credentials.remove_prefix(kScheme.size());
  while (!credentials.empty() && credentials.front() == ' ') credentials.remove_prefix(1);
  Digest offered = Sha256(credentials);
  return CRYPTO_memcmp(offered.data(), token_digest_.data(), offered.size()) == 0;
}

Response ControlListenerImpl::Route(const Request& r) {
  const std::vector<std::string>& p = r.path;
  if (p.size() == 1 && p[0] == "metrics" && config_.metrics) return Metrics(r);
  if (!config_.control_routes) return NotFound("no such resource");
  if (p.size() < 2 || p[0] != "v1") return NotFound("no such resource");
  if (p[1] == "usage") return Usage(r);
  const std::string& resource = p[1];

  if (p.size() == 2 && resource == "health") {
    if (r.method != EVHTTP_REQ_GET) return MethodNotAllowed(r.method, "GET");
    HealthInfo h = backend_.Health();
    return Json(200, {{"status", "ok"},
                      {"uptime_s", h.uptime_s},
                      {"workers", h.workers},
                      {"allocations", h.allocations}});
  }
  if (p.size() == 2 && resource == "counters") {
    if (r.method != EVHTTP_REQ_GET) return MethodNotAllowed(r.method, "GET");
    json counters = json::object();
    for (const auto& [name, value] : backend_.Counters()) counters[name] = value;
    return Json(200, {{"counters", counters}});
  }
  if (p.size() == 2 && resource == "ready") {
    if (r.method != EVHTTP_REQ_GET) return MethodNotAllowed(r.method, "GET");
    HealthInfo h = backend_.Health();
    if (h.ready) return Json(200, {{"ready", true}});
    return Json(503, {{"ready", false}, {"reason", h.not_ready_reason}});
  }
  if (resource == "allocations") {
    if (p.size() == 2) {
      if (r.method != EVHTTP_REQ_GET) return MethodNotAllowed(r.method, "GET");
      return ListAllocations(r);
    }
    if (p.size() == 3) {
      if (r.method != EVHTTP_REQ_DELETE) return MethodNotAllowed(r.method, "DELETE");
      return EndAllocation(p[2]);
    }
  }
  if (resource == "revocations") {
    if (p.size() == 2) {
      if (r.method == EVHTTP_REQ_GET) {
        json list = json::array();
        for (const Revocation& rev : backend_.ListRevocations()) {
          list.push_back(RevocationJson(rev));
        }
        return Json(200, {{"revocations", std::move(list)}});
      }
      if (r.method == EVHTTP_REQ_POST) return CreateRevocation(r);
      return MethodNotAllowed(r.method, "GET, POST");
    }
    if (p.size() == 4 && ParseKind(p[2])) {
      if (r.method != EVHTTP_REQ_DELETE) return MethodNotAllowed(r.method, "DELETE");
      return LiftRevocation(p[2], p[3]);
    }
  }
  return NotFound("no such resource");
}

Response ControlListenerImpl::ListAllocations(const Request& r) {
  // ?user=…&session=…: each at most once, both must match.
  std::string error;
  auto query = ParseQuery(r.query, {"user", "session"}, &error);
  if (!query) return BadRequest(error);
  std::optional<std::string> user, session;
  for (auto& [name, value] : *query) {
    if (!IsValidId(value)) return BadRequest("\"" + name + "\" must be " + kIdRule);
    (name == "user" ? user : session) = std::move(value);
  }

  std::optional<std::vector<AllocationInfo>> all = backend_.ListAllocations();
  if (!all) return Unavailable("the workers did not answer in time");
  json list = json::array();
  for (const AllocationInfo& a : *all) {
    if (user && a.user != *user) continue;
    if (session && a.session != *session) continue;
    list.push_back(AllocationJson(a));
  }
  size_t count = list.size();
  return Json(200, {{"allocations", std::move(list)}, {"count", count}});
}

Response ControlListenerImpl::EndAllocation(const std::string& id_text) {
  std::optional<uint64_t> id = ParseAllocationId(id_text);
  if (!id) return BadRequest("an allocation id is 1-16 hexadecimal digits");
  std::optional<bool> ended = backend_.EndAllocation(*id);
  if (!ended) return Unavailable("the workers did not answer in time");
  if (!*ended) return NotFound("no allocation " + FormatAllocationId(*id));
  return NoContent();
}

// Body: {"user": id} or {"session": id}, and optionally "ttl_s": 1..2592000 (default one day).
Response ControlListenerImpl::CreateRevocation(const Request& r) {
  json doc = json::parse(r.body, nullptr, false);
  if (doc.is_discarded()) return BadRequest("the body is not valid JSON");
  if (!doc.is_object()) return BadRequest("the body must be a JSON object");

  std::optional<Revocation> revocation;
  int64_t ttl = kDefaultTtlSeconds;
  for (const auto& [key, value] : doc.items()) {
    if (key == "user" || key == "session") {
      if (revocation) return BadRequest("give exactly one of \"user\" and \"session\"");
      if (!value.is_string() || !IsValidId(value.get_ref<const std::string&>())) {
        return BadRequest("\"" + key + "\" must be a string of " + kIdRule);
      }
      revocation = Revocation{*ParseKind(key), value.get<std::string>(), 0};
    } else if (key == "ttl_s") {
      std::optional<int64_t> seconds;
      if (value.is_number_unsigned()) {
        if (value.get<uint64_t>() <= static_cast<uint64_t>(kMaxTtlSeconds)) {
          seconds = static_cast<int64_t>(value.get<uint64_t>());
        }
      } else if (value.is_number_integer()) {
        seconds = value.get<int64_t>();
      }
      if (!seconds || *seconds < kMinTtlSeconds || *seconds > kMaxTtlSeconds) {
        return BadRequest("\"ttl_s\" must be an integer from " + std::to_string(kMinTtlSeconds) +
                          " to " + std::to_string(kMaxTtlSeconds));
      }
      ttl = *seconds;
    } else {
      return BadRequest("unknown field " + log::Quote(key, 32) +
                        "; expected \"user\" or \"session\", and \"ttl_s\"");
    }
  }
  if (!revocation) return BadRequest("give exactly one of \"user\" and \"session\"");

  revocation->until = RealClock().UnixNow() + ttl;
  size_t ended = backend_.Revoke(*revocation);
  json body = RevocationJson(*revocation);
  body["ended_allocations"] = ended;
  Response response = Json(201, body);
  response.headers.emplace_back("Location", std::string("/v1/revocations/") +
                                                RevocationKindName(revocation->kind) + "/" +
                                                revocation->id);
  return response;
}

Response ControlListenerImpl::LiftRevocation(const std::string& kind_text, const std::string& id) {
  RevocationKind kind = *ParseKind(kind_text);
  if (!IsValidId(id)) return BadRequest(std::string("a ") + kind_text + " id is " + kIdRule);
  if (!backend_.LiftRevocation(kind, id)) {
    return NotFound("no revocation for " + kind_text + " " + id);
  }
  return NoContent();
}

Response ControlListenerImpl::Metrics(const Request& r) {
  if (r.method != EVHTTP_REQ_GET && r.method != EVHTTP_REQ_HEAD) {
    return MethodNotAllowed(r.method, "GET, HEAD");
  }
  std::optional<std::string> text = backend_.MetricsText();
  if (!text) return Unavailable("the workers did not answer in time");
  return Response{200, kPrometheusType, std::move(*text), {}};
}

Response ControlListenerImpl::Usage(const Request& r) {
  const std::vector<std::string>& p = r.path;
  const bool records = p.size() == 3 && p[2] == "records";
  const bool one = p.size() == 4 && (p[2] == "users" || p[2] == "sessions");
  if (!records && !one) return NotFound("no such resource");
  if (r.method != EVHTTP_REQ_GET) return MethodNotAllowed(r.method, "GET");
  if (!backend_.ledger_enabled()) {
    return Problem(503, "LEDGER_OFF", "the usage ledger is off on this relay (no-usage-ledger)");
  }
  if (records) return UsageRecords(r);
  const std::string& id = p[3];
  if (!IsValidId(id)) return BadRequest("an id is " + std::string(kIdRule));
  std::string error;
  if (p[2] == "users") {
    std::optional<UserUsageReport> report = backend_.UserUsage(id, &error);
    if (!report) return Unavailable("the usage ledger could not be read: " + error);
    return Json(200, UserUsageJson(*report));
  }
  std::optional<auth::UsageTotals> totals = backend_.SessionUsage(id, &error);
  if (!totals) return Unavailable("the usage ledger could not be read: " + error);
  json body = TotalsJson(*totals);
  body["session"] = id;
  return Json(200, body);
}

Response ControlListenerImpl::UsageRecords(const Request& r) {
  std::string error;
  auto query = ParseQuery(r.query, {"user", "session", "live", "limit"}, &error);
  if (!query) return BadRequest(error);
  auth::RecordFilter filter;
  for (const auto& [name, value] : *query) {
    if (name == "user" || name == "session") {
      if (!IsValidId(value)) return BadRequest("\"" + name + "\" must be " + kIdRule);
      (name == "user" ? filter.user : filter.session) = value;
    } else if (name == "live") {
      if (value != "0" && value != "1") return BadRequest("\"live\" must be 0 or 1");
      filter.live_only = value == "1";
    } else {
      char* end = nullptr;
      unsigned long n = std::strtoul(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n < 1 || n > 10000) {
        return BadRequest("\"limit\" must be an integer from 1 to 10000");
      }
      filter.limit = n;
    }
  }
  auto list = backend_.UsageRecords(filter, &error);
  if (!list) return Unavailable("the usage ledger could not be read: " + error);
  json out = json::array();
  for (const auth::UsageRecord& rec : *list) out.push_back(RecordJson(rec));
  size_t count = out.size();
  return Json(200, {{"records", std::move(out)}, {"count", count}});
}

}  // namespace

std::unique_ptr<ControlListener> ControlListener::Start(const ControlListenerConfig& config,
                                                        ControlBackend& backend,
                                                        std::string* error) {
  if (config.control_routes && config.token.size() < kMinTokenBytes) {
    if (error != nullptr) {
      *error = "control listener: the token must be at least " + std::to_string(kMinTokenBytes) +
               " bytes";
    }
    return nullptr;
  }
  auto listener = std::make_unique<ControlListenerImpl>(config, backend);
  if (!listener->Init(error)) return nullptr;
  listener->Run();
  return listener;
}

}  // namespace cv::server
