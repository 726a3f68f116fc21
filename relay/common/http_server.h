// A small HTTP/1.1 JSON server on libevent's evhttp, shared by cvrelay's control endpoint and
// cvadmin: one bound listener (plain or TLS), bounded headers and bodies, a request timeout, every
// request handed to one handler as a plain value, and RFC 9457 problem+json for errors.
//
// What the server does itself, before the handler:
//   - bodies over max_body_bytes → 413 PAYLOAD_TOO_LARGE (problem+json);
//   - a path that does not start with '/' → 404 NOT_FOUND;
//   - an exception escaping the handler → 500 INTERNAL (logged; nothing unwinds through libevent).
// And after it: "Cache-Control: no-store" on every reply, Content-Type when there is a body, no
// body on a reply to HEAD.
//
// Threading: a server lives on one event_base and is created, used and destroyed on that base's
// thread; the handler runs there, one request at a time. EventLoopThread runs a base on a thread
// of its own for owners (like the control endpoint) that have no loop.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "relay/common/address.h"

struct event;
struct event_base;
typedef struct ssl_ctx_st SSL_CTX;

namespace cv::http {

struct Request {
  std::string method;             // "GET", "POST", … as libevent names it
  std::string target;             // the request target exactly as sent ("/v1/x?y=1")
  std::vector<std::string> path;  // percent-decoded segments: "/v1/users/a%40b" → v1, users, a@b
  std::string query;              // raw query string, without '?'; empty when none
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  std::string body;
  SocketAddress peer;  // the TCP peer (no proxy headers are trusted)

  // The value of header `name` (case-insensitive) when it appears exactly once; nullopt when it
  // is absent or repeated (a repeated credential header is an attack, not a list).
  std::optional<std::string_view> Header(std::string_view name) const;
  bool IsHead() const { return method == "HEAD"; }
};

struct Response {
  int status = 200;
  std::string content_type;  // empty: none (and no body)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

inline constexpr char kJsonType[] = "application/json";
inline constexpr char kProblemType[] = "application/problem+json";
inline constexpr char kPrometheusType[] = "text/plain; version=0.0.4; charset=utf-8";

// JSON text for a reply: compact, invalid UTF-8 replaced rather than thrown on.
std::string Dump(const nlohmann::json& value);
Response Json(int status, const nlohmann::json& body);
Response NoContent();  // 204
// RFC 9457 problem details plus a stable machine-readable "code":
//   {"type":"about:blank","title":<reason phrase>,"status":…,"code":…,"detail":…, <extra members>}
// `extra` (an object or null) adds members such as "retry_after_s".
Response Problem(int status, std::string_view code, std::string_view detail,
                 const nlohmann::json& extra = nullptr);
// 405 with an Allow header: "<METHOD> is not allowed here; use <allow>".
Response MethodNotAllowed(const Request& request, std::string_view allow);
const char* ReasonPhrase(int status);

// Bearer tokens (RFC 6750 §2.1). The expected token is kept only as its SHA-256, and an offered
// one is hashed before a constant-time compare, so neither its length nor its content shows in
// the timing.
using TokenDigest = std::array<uint8_t, 32>;
TokenDigest DigestToken(std::string_view token);
// The token from "Authorization: Bearer <token>" (scheme case-insensitive, header exactly once);
// nullopt otherwise.
std::optional<std::string_view> BearerToken(const Request& request);
bool BearerMatches(const Request& request, const TokenDigest& expected);
// 401 UNAUTHORIZED with "WWW-Authenticate: Bearer realm=\"<realm>\"".
Response Unauthorized(std::string_view realm, std::string_view detail);

// Splits a raw query string into percent-decoded pairs ('+' stays '+'; a name without '=' has an
// empty value; empty pairs are skipped); nullopt when it is malformed (a bad %-escape, an empty
// name).
std::optional<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view query);

class Server {
 public:
  using Handler = std::function<Response(const Request&)>;

  struct Config {
    SocketAddress address;  // port 0: the kernel picks (tests)
    size_t max_body_bytes = 16 * 1024;
    size_t max_header_bytes = 8 * 1024;
    int request_timeout_s = 10;  // also the idle keep-alive timeout
    // TLS: when set, every connection is TLS (OpenSSL server context, owned by the caller and
    // kept alive for the server's lifetime; it may be swapped with SetTlsContext on reload).
    SSL_CTX* tls = nullptr;
    std::string log_name = "http";  // log event prefix: "<log_name>.request"
  };

  // Binds and starts serving on `base`. nullptr with `error` ("cannot bind 127.0.0.1:80: …").
  static std::unique_ptr<Server> Start(event_base* base, const Config& config, Handler handler,
                                       std::string* error);
  ~Server();  // closes the listener and every connection; on the base's thread
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  SocketAddress address() const { return bound_; }
  // New connections use `tls` (e.g. a reloaded certificate); live ones keep theirs.
  void SetTlsContext(SSL_CTX* tls);

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  SocketAddress bound_;
};

// An event_base on a thread of its own. Stop() breaks the loop from any thread (through an
// eventfd, so no libevent state is touched from two threads) and joins; called from the loop's
// own thread it only breaks the loop, and the owner's next Stop() or the destructor joins.
// Objects bound to base() (a Server) must be destroyed after Stop() returns, or on the loop
// thread.
class EventLoopThread {
 public:
  // nullptr with `error` when the base or the eventfd cannot be made.
  static std::unique_ptr<EventLoopThread> Create(std::string* error);
  ~EventLoopThread();
  EventLoopThread(const EventLoopThread&) = delete;
  EventLoopThread& operator=(const EventLoopThread&) = delete;

  event_base* base() const { return base_; }
  void Run();   // starts the thread (once)
  void Stop();  // idempotent

 private:
  EventLoopThread() = default;
  event_base* base_ = nullptr;
  event* wake_event_ = nullptr;
  int wake_fd_ = -1;
  std::thread thread_;
};

}  // namespace cv::http
