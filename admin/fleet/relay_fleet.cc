#include "admin/fleet/relay_fleet.h"

#include <algorithm>
#include <chrono>
#include <system_error>
#include <utility>

#include "relay/common/log.h"

namespace cv::admin {
namespace {

using json = nlohmann::json;

// POST /v1/revocations takes ttl_s in 1-2592000 (docs/control-api.md). A longer revocation is
// sent as 30 days; the resync thread keeps extending it while it is wanted.
constexpr int64_t kMaxTtlS = 2592000;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool ValidKind(std::string_view kind) { return kind == "user" || kind == "session"; }

// Seconds left until `until_ms`, rounded up so the relay never lets go early; 0 when past.
int64_t TtlSeconds(int64_t until_ms, int64_t now_ms) {
  if (until_ms <= now_ms) return 0;
  if (until_ms - now_ms > kMaxTtlS * 1000) return kMaxTtlS;
  return (until_ms - now_ms + 999) / 1000;
}

json RevocationBody(const WantedRevocation& revocation, int64_t ttl_s) {
  return json{{revocation.kind, revocation.id}, {"ttl_s", ttl_s}};
}

// A path segment: RFC 3986 unreserved characters as they are, every other byte percent-encoded
// (the relay decodes them: "a@b" travels as "a%40b").
std::string EncodeSegment(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0x0f]);
    }
  }
  return out;
}

// "HTTP 400 BAD_REQUEST: ttl_s must be 1-2592000" from a problem+json answer (RFC 9457 plus the
// project's "code"); "HTTP 502" when the body says nothing usable.
std::string DescribeFailure(int status, const json& body) {
  std::string text = "HTTP " + std::to_string(status);
  if (!body.is_object()) return text;
  auto code = body.find("code");
  if (code != body.end() && code->is_string()) text += " " + code->get<std::string>();
  auto detail = body.find("detail");
  if (detail != body.end() && detail->is_string()) text += ": " + detail->get<std::string>();
  return text;
}

// One request to one relay. Never throws; the token goes in the Authorization header only.
RelayAnswer Ask(const RelayEndpoint& relay, int timeout_ms, std::string_view method,
                std::string_view target, const json* body) {
  RelayAnswer answer;
  answer.relay = relay.name;
  http::ClientRequest request;
  request.method = std::string(method);
  request.target = std::string(target);
  if (!relay.token.empty()) request.headers.emplace_back("Authorization", "Bearer " + relay.token);
  if (body != nullptr) request.body = body->dump(-1, ' ', false, json::error_handler_t::replace);
  http::FetchOptions options;
  options.timeout_ms = timeout_ms;
  std::string error;
  std::optional<http::ClientResponse> response = http::Fetch(relay.url, request, options, &error);
  if (!response) {
    answer.error = std::move(error);
    return answer;
  }
  answer.status = response->status;
  answer.ok = response->status >= 200 && response->status < 300;
  if (!response->body.empty()) {
    answer.body = json::parse(response->body, nullptr, /*allow_exceptions=*/false);
    if (answer.body.is_discarded()) answer.body = nullptr;
  }
  if (!answer.ok) answer.error = DescribeFailure(answer.status, answer.body);
  return answer;
}

// Answers for every relay that nothing was sent, with the reason.
std::vector<RelayAnswer> Refused(const std::vector<RelayEndpoint>& relays, const std::string& why) {
  std::vector<RelayAnswer> answers(relays.size());
  for (size_t i = 0; i < relays.size(); ++i) {
    answers[i].relay = relays[i].name;
    answers[i].error = why;
  }
  return answers;
}

std::optional<std::string> CheckRevocation(std::string_view kind, std::string_view id) {
  if (!ValidKind(kind)) return "unknown revocation kind \"" + std::string(kind) + "\"";
  if (id.empty()) return std::string("an empty revocation id");
  return std::nullopt;
}

// Runs `work(i)` for i in [0, n) on a thread each and joins them all. A thread that cannot be
// started runs its work on the caller's thread instead: slower, never lost.
template <typename Work>
void RunInParallel(size_t n, const Work& work) {
  if (n == 1) {
    work(size_t{0});
    return;
  }
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    try {
      threads.emplace_back(work, i);
    } catch (const std::system_error&) {
      work(i);
    }
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace

RelayFleet::RelayFleet(std::vector<RelayEndpoint> relays, FleetOptions options,
                       std::function<int64_t()> clock_ms)
    : relays_(std::move(relays)),
      options_(options),
      clock_ms_(clock_ms ? std::move(clock_ms) : SystemNowMs) {
  if (!relays_.empty() && options_.resync_interval_ms > 0) {
    resync_ = std::thread(&RelayFleet::ResyncLoop, this);
  }
}

RelayFleet::~RelayFleet() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (resync_.joinable()) resync_.join();
}

std::vector<RelayAnswer> RelayFleet::Broadcast(std::string_view method, std::string_view target,
                                               const nlohmann::json* body) const {
  std::vector<RelayAnswer> answers(relays_.size());
  RunInParallel(relays_.size(), [&](size_t i) {
    answers[i] = Ask(relays_[i], options_.timeout_ms, method, target, body);
  });
  return answers;
}

std::vector<RelayAnswer> RelayFleet::Revoke(const WantedRevocation& revocation) const {
  if (std::optional<std::string> bad = CheckRevocation(revocation.kind, revocation.id)) {
    return Refused(relays_, *bad);
  }
  int64_t ttl_s = TtlSeconds(revocation.until_ms, clock_ms_());
  if (ttl_s == 0) return {};
  json body = RevocationBody(revocation, ttl_s);
  return Broadcast("POST", "/v1/revocations", &body);
}

std::vector<RelayAnswer> RelayFleet::Lift(std::string_view kind, std::string_view id) const {
  if (std::optional<std::string> bad = CheckRevocation(kind, id)) return Refused(relays_, *bad);
  std::vector<RelayAnswer> answers =
      Broadcast("DELETE", "/v1/revocations/" + std::string(kind) + "/" + EncodeSegment(id));
  for (RelayAnswer& answer : answers) {
    if (answer.status == 404) {  // nothing to lift: the relay never had it, or it ran out
      answer.ok = true;
      answer.error.clear();
    }
  }
  return answers;
}

void RelayFleet::SetWanted(std::vector<WantedRevocation> wanted) {
  std::lock_guard<std::mutex> lock(mu_);
  wanted_ = std::move(wanted);
}

// Each relay gets the wanted revocations one after another on a thread of its own, so a pass
// takes about as long as the slowest relay. A relay that gives no HTTP answer at all (down,
// unreachable, timed out) is not asked again in this pass: its remaining requests count as
// failed, and a dead relay costs one timeout per pass, not one per revocation.
size_t RelayFleet::ResyncOnce() {
  std::vector<WantedRevocation> wanted;
  {
    std::lock_guard<std::mutex> lock(mu_);
    wanted = wanted_;
  }
  if (relays_.empty()) return 0;
  // An entry no relay would take is not sent; it counts as failed on every relay.
  size_t invalid = 0;
  std::erase_if(wanted, [&](const WantedRevocation& w) {
    std::optional<std::string> bad = CheckRevocation(w.kind, w.id);
    if (bad) {
      ++invalid;
      CV_WARN("fleet.resync_skipped", "kind=%s id=%s reason=%s", log::Quote(w.kind).c_str(),
              log::Quote(w.id).c_str(), log::Quote(*bad).c_str());
    }
    return bad.has_value();
  });
  if (wanted.empty()) return invalid * relays_.size();

  auto stopping = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_;
  };
  std::vector<size_t> failed(relays_.size(), 0);
  RunInParallel(relays_.size(), [&](size_t r) {
    const RelayEndpoint& relay = relays_[r];
    for (size_t i = 0; i < wanted.size() && !stopping(); ++i) {
      // ttl from the time of sending, not of the pass: a slow relay must not shorten it.
      int64_t ttl_s = TtlSeconds(wanted[i].until_ms, clock_ms_());
      if (ttl_s == 0) continue;  // ran out: nothing to keep in force
      json body = RevocationBody(wanted[i], ttl_s);
      RelayAnswer answer = Ask(relay, options_.timeout_ms, "POST", "/v1/revocations", &body);
      if (answer.ok) continue;
      ++failed[r];
      CV_WARN("fleet.resync_failed", "relay=%s kind=%s id=%s error=%s",
              log::Quote(relay.name).c_str(), wanted[i].kind.c_str(),
              log::Quote(wanted[i].id).c_str(), log::Quote(answer.error, 200).c_str());
      if (answer.status == 0) {
        failed[r] += wanted.size() - i - 1;
        break;
      }
    }
  });
  size_t total = invalid * relays_.size();
  for (size_t f : failed) total += f;
  CV_DEBUG("fleet.resync", "relays=%zu revocations=%zu failed=%zu", relays_.size(), wanted.size(),
           total);
  return total;
}

void RelayFleet::ResyncLoop() {
  const auto interval = std::chrono::milliseconds(options_.resync_interval_ms);
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, interval, [this] { return stopping_; })) {
    lock.unlock();
    ResyncOnce();
    lock.lock();
  }
}

std::optional<RelayEndpoint> ParseRelayEndpoint(std::string_view text, std::string* error) {
  RelayEndpoint endpoint;
  std::string_view url_text = text;
  size_t scheme = text.find("://");
  size_t equals = text.find('=');
  if (equals != std::string_view::npos && (scheme == std::string_view::npos || equals < scheme)) {
    std::string_view name = text.substr(0, equals);
    bool valid =
        !name.empty() && name.size() <= 32 && std::all_of(name.begin(), name.end(), [](char c) {
          return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        });
    if (!valid) {
      *error = "bad relay name \"" + std::string(name) +
               "\": 1-32 letters, digits, '.', '_' or '-' (relay=name=http://host:port)";
      return std::nullopt;
    }
    endpoint.name = std::string(name);
    url_text = text.substr(equals + 1);
  }
  std::string url_error;
  std::optional<http::Url> url = http::Url::Parse(url_text, &url_error);
  if (!url) {
    *error = "relay: " + url_error;
    return std::nullopt;
  }
  endpoint.url = std::move(*url);
  if (endpoint.name.empty()) {
    std::string host = endpoint.url.host;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    endpoint.name = host + ":" + std::to_string(endpoint.url.port);
  }
  return endpoint;
}

}  // namespace cv::admin
