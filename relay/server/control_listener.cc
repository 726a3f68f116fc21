#include "relay/server/control_listener.h"

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "cv/auth/claims.h"
#include "relay/common/clock.h"
#include "relay/common/http_server.h"
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
using http::Json;
using http::MethodNotAllowed;
using http::NoContent;
using http::Problem;
using http::Request;
using http::Response;

constexpr size_t kMinTokenBytes = 16;
// Bodies the API accepts. POST /v1/revocations is the only route with a body, and it is tiny.
constexpr size_t kMaxBodyBytes = 16 * 1024;
constexpr size_t kMaxHeadersBytes = 8 * 1024;
constexpr size_t kMaxIdBytes = 64;
constexpr size_t kMaxAllocationIdDigits = 16;
constexpr int64_t kMinTtlSeconds = 1;
constexpr int64_t kMaxTtlSeconds = 30 * 86400;
constexpr int64_t kDefaultTtlSeconds = 86400;

constexpr char kIdRule[] = "1-64 characters from [A-Za-z0-9._@+-]";

Response BadRequest(const std::string& detail) { return Problem(400, "BAD_REQUEST", detail); }

Response NotFound(const std::string& detail) { return Problem(404, "NOT_FOUND", detail); }

Response Unavailable(const std::string& detail) { return Problem(503, "UNAVAILABLE", detail); }

// User and session ids: exactly what the claims allow (nothing that needs escaping in a URL).
bool IsValidId(std::string_view id) { return auth::IsValidId(id, kMaxIdBytes); }

std::optional<uint64_t> ParseAllocationId(std::string_view text) {
  if (text.empty() || text.size() > kMaxAllocationIdDigits) return std::nullopt;
  uint64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id, 16);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return id;
}

std::string FormatAllocationId(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, id);
  return buf;
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

// The query's (name, value) pairs, each name at most once and one of `allowed`; nullopt with
// `error` otherwise.
std::optional<std::vector<std::pair<std::string, std::string>>> ParseFilters(
    std::string_view query, std::initializer_list<std::string_view> allowed, std::string* error) {
  auto pairs = http::ParseQuery(query);
  if (!pairs) {
    *error = "the query string is malformed (a bad %-escape or an empty name)";
    return std::nullopt;
  }
  for (auto it = pairs->begin(); it != pairs->end(); ++it) {
    const std::string& name = it->first;
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string list;
      for (std::string_view a : allowed) {
        list += (list.empty() ? "\"" : ", \"") + std::string(a) + "\"";
      }
      *error = "unknown query parameter " + log::Quote(name, 32) + "; parameters are " + list;
      return std::nullopt;
    }
    if (std::any_of(pairs->begin(), it, [&](const auto& seen) { return seen.first == name; })) {
      *error = "\"" + name + "\" is given more than once";
      return std::nullopt;
    }
  }
  return pairs;
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

// The routes. Everything generic (limits, framing, problem+json for what the server refuses
// itself, exceptions) is cv::http's.
class ControlListenerImpl final : public ControlListener {
 public:
  ControlListenerImpl(const ControlListenerConfig& config, ControlBackend& backend)
      : config_(config),
        backend_(backend),
        token_digest_(http::DigestToken(config.token)),
        open_(config.token.empty()) {
    config_.token.clear();  // only the digest is kept
  }
  ~ControlListenerImpl() override { Stop(); }

  // Binds and starts the loop thread; on failure the destructor frees what was made.
  bool Listen(std::string* error);

  SocketAddress address() const override { return bound_; }

  // Once the loop thread is joined, the server and the loop are freed here: the port can be bound
  // again at once. From a backend method (the loop thread) Stop() only breaks the loop; the
  // owner's next Stop() or the destructor joins and frees.
  void Stop() override {
    if (serving_ == this) {
      loop_->Stop();  // only breaks the loop; no lock, as another Stop() may hold it and be joining
      return;
    }
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (loop_ != nullptr) loop_->Stop();
    server_.reset();
    loop_.reset();
  }

 private:
  Response Handle(const Request& r);
  Response Route(const Request& r);
  Response ListAllocations(const Request& r);
  Response EndAllocation(const std::string& id);
  Response CreateRevocation(const Request& r);
  Response Metrics(const Request& r);
  Response Usage(const Request& r);
  Response UsageRecords(const Request& r);
  Response LiftRevocation(const std::string& kind, const std::string& id);

  // The listener whose request the current thread is serving (set on the loop thread only).
  static thread_local const ControlListenerImpl* serving_;

  ControlListenerConfig config_;
  ControlBackend& backend_;
  const http::TokenDigest token_digest_;
  const bool open_;  // no token: a metrics-only listener that asks for none
  SocketAddress bound_;

  std::unique_ptr<http::EventLoopThread> loop_;
  std::unique_ptr<http::Server> server_;  // bound to loop_'s base; freed before it
  std::mutex stop_mu_;
};

thread_local const ControlListenerImpl* ControlListenerImpl::serving_ = nullptr;

bool ControlListenerImpl::Listen(std::string* error) {
  std::string message;
  loop_ = http::EventLoopThread::Create(&message);
  if (loop_ != nullptr) {
    http::Server::Config config;
    config.address = config_.address;
    config.max_body_bytes = kMaxBodyBytes;
    config.max_header_bytes = kMaxHeadersBytes;
    config.request_timeout_s = config_.request_timeout_s;
    config.log_name = "control";
    server_ = http::Server::Start(
        loop_->base(), config, [this](const Request& r) { return Handle(r); }, &message);
  }
  if (server_ == nullptr) {
    if (error != nullptr) *error = "control listener: " + message;
    return false;
  }
  bound_ = server_->address();
  loop_->Run();
  return true;
}

Response ControlListenerImpl::Handle(const Request& r) {
  struct Serving {
    explicit Serving(const ControlListenerImpl* listener) { serving_ = listener; }
    ~Serving() { serving_ = nullptr; }
  } serving(this);
  // Authentication comes first, so strangers learn nothing about routes.
  if (!open_ && !http::BearerMatches(r, token_digest_)) {
    return http::Unauthorized("cvrelay", "a valid \"Authorization: Bearer\" token is required");
  }
  return Route(r);
}

Response ControlListenerImpl::Route(const Request& r) {
  const std::vector<std::string>& p = r.path;
  if (p.size() == 1 && p[0] == "metrics" && config_.metrics) return Metrics(r);
  if (!config_.control_routes) return NotFound("no such resource");
  if (p.size() < 2 || p[0] != "v1") return NotFound("no such resource");
  if (p[1] == "usage") return Usage(r);
  const std::string& resource = p[1];

  if (p.size() == 2 && resource == "health") {
    if (r.method != "GET") return MethodNotAllowed(r, "GET");
    HealthInfo h = backend_.Health();
    return Json(200, {{"status", "ok"},
                      {"uptime_s", h.uptime_s},
                      {"workers", h.workers},
                      {"allocations", h.allocations}});
  }
  if (p.size() == 2 && resource == "counters") {
    if (r.method != "GET") return MethodNotAllowed(r, "GET");
    json counters = json::object();
    for (const auto& [name, value] : backend_.Counters()) counters[name] = value;
    return Json(200, {{"counters", counters}});
  }
  if (p.size() == 2 && resource == "ready") {
    if (r.method != "GET") return MethodNotAllowed(r, "GET");
    HealthInfo h = backend_.Health();
    if (h.ready) return Json(200, {{"ready", true}});
    return Json(503, {{"ready", false}, {"reason", h.not_ready_reason}});
  }
  if (resource == "allocations") {
    if (p.size() == 2) {
      if (r.method != "GET") return MethodNotAllowed(r, "GET");
      return ListAllocations(r);
    }
    if (p.size() == 3) {
      if (r.method != "DELETE") return MethodNotAllowed(r, "DELETE");
      return EndAllocation(p[2]);
    }
  }
  if (resource == "revocations") {
    if (p.size() == 2) {
      if (r.method == "GET") {
        json list = json::array();
        for (const Revocation& rev : backend_.ListRevocations()) {
          list.push_back(RevocationJson(rev));
        }
        return Json(200, {{"revocations", std::move(list)}});
      }
      if (r.method == "POST") return CreateRevocation(r);
      return MethodNotAllowed(r, "GET, POST");
    }
    if (p.size() == 4 && ParseKind(p[2])) {
      if (r.method != "DELETE") return MethodNotAllowed(r, "DELETE");
      return LiftRevocation(p[2], p[3]);
    }
  }
  return NotFound("no such resource");
}

Response ControlListenerImpl::ListAllocations(const Request& r) {
  // ?user=…&session=…: each at most once, both must match.
  std::string error;
  auto query = ParseFilters(r.query, {"user", "session"}, &error);
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
  if (r.method != "GET" && !r.IsHead()) {
    return MethodNotAllowed(r, "GET, HEAD");
  }
  std::optional<std::string> text = backend_.MetricsText();
  if (!text) return Unavailable("the workers did not answer in time");
  return Response{200, http::kPrometheusType, std::move(*text), {}};
}

Response ControlListenerImpl::Usage(const Request& r) {
  const std::vector<std::string>& p = r.path;
  const bool records = p.size() == 3 && p[2] == "records";
  const bool one = p.size() == 4 && (p[2] == "users" || p[2] == "sessions");
  if (!records && !one) return NotFound("no such resource");
  if (r.method != "GET") return MethodNotAllowed(r, "GET");
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
  auto query = ParseFilters(r.query, {"user", "session", "live", "limit"}, &error);
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
  if (!listener->Listen(error)) return nullptr;
  return listener;
}

}  // namespace cv::server
