#include "relay/common/http_server.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <exception>
#include <limits>

#include "relay/common/log.h"

namespace cv::http {

namespace {

using json = nlohmann::json;

// libevent buffers at most this many times max_body_bytes. Bodies between the two limits get our
// problem+json 413; libevent 2.1 refuses larger ones itself (its own 413 page) from
// Content-Length, before reading them, and offers no hook to answer that case in our format.
constexpr size_t kBufferedBodyFactor = 4;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && evutil_ascii_strncasecmp(a.data(), b.data(), a.size()) == 0;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding (RFC 3986 §2.1). '+' stays '+'. Embedded NULs are kept, so that callers'
// validation sees and rejects them. A '%' not followed by two hex digits: nullopt when `strict`,
// otherwise the bytes stay as they are.
std::optional<std::string> PercentDecode(std::string_view encoded, bool strict) {
  std::string out;
  out.reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      out.push_back(encoded[i]);
      continue;
    }
    int high = i + 1 < encoded.size() ? HexValue(encoded[i + 1]) : -1;
    int low = i + 2 < encoded.size() ? HexValue(encoded[i + 2]) : -1;
    if (high < 0 || low < 0) {
      if (strict) return std::nullopt;
      out.push_back('%');
      continue;
    }
    out.push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return out;
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

// The TCP peer as libevent recorded it at accept time (a numeric host from getnameinfo).
SocketAddress PeerOf(evhttp_request* req) {
  SocketAddress peer;
  evhttp_connection* connection = evhttp_request_get_connection(req);
  if (connection == nullptr) return peer;
  char* host = nullptr;
  ev_uint16_t port = 0;
  evhttp_connection_get_peer(connection, &host, &port);
  if (host == nullptr) return peer;
  std::string_view text(host);
  text = text.substr(0, text.find('%'));  // an IPv6 zone ("fe80::1%eth0")
  if (std::optional<IpAddress> ip = IpAddress::Parse(text)) peer = SocketAddress{*ip, port};
  return peer;
}

}  // namespace

std::optional<std::string_view> Request::Header(std::string_view name) const {
  std::optional<std::string_view> found;
  for (const auto& [key, value] : headers) {
    if (!EqualsIgnoreCase(key, name)) continue;
    if (found) return std::nullopt;
    found = value;
  }
  return found;
}

// Invalid UTF-8 (a user name from a client, say) becomes U+FFFD instead of throwing.
std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

Response Json(int status, const json& body) { return Response{status, kJsonType, Dump(body), {}}; }

Response NoContent() { return Response{204, "", "", {}}; }

Response Problem(int status, std::string_view code, std::string_view detail, const json& extra) {
  json body = {{"type", "about:blank"},
               {"title", ReasonPhrase(status)},
               {"status", status},
               {"code", code},
               {"detail", detail}};
  // The standard members keep their meaning: `extra` cannot replace them.
  if (extra.is_object()) {
    for (const auto& [key, value] : extra.items()) {
      if (!body.contains(key)) body[key] = value;
    }
  }
  return Response{status, kProblemType, Dump(body), {}};
}

Response MethodNotAllowed(const Request& request, std::string_view allow) {
  Response r = Problem(405, "METHOD_NOT_ALLOWED",
                       request.method + " is not allowed here; use " + std::string(allow));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
  }
  if (status >= 100 && status < 200) return "Informational";
  if (status >= 200 && status < 300) return "Success";
  if (status >= 300 && status < 400) return "Redirection";
  if (status >= 400 && status < 500) return "Client Error";
  return "Server Error";
}

namespace {

bool Sha256(std::string_view bytes, TokenDigest* digest) {
  unsigned int size = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest->data(), &size, EVP_sha256(), nullptr) != 1) {
    return false;
  }
  return size == digest->size();
}

}  // namespace

TokenDigest DigestToken(std::string_view token) {
  TokenDigest digest{};
  // Only a broken OpenSSL fails here; all zeros then, which BearerMatches never matches because it
  // refuses when it cannot hash the offered token either.
  if (!Sha256(token, &digest)) digest.fill(0);
  return digest;
}

// "Authorization: Bearer <token>" (RFC 6750 §2.1): the scheme case-insensitive, then one or more
// spaces, then a non-empty token.
std::optional<std::string_view> BearerToken(const Request& request) {
  std::optional<std::string_view> credentials = request.Header("Authorization");
  if (!credentials) return std::nullopt;
  constexpr std::string_view kScheme = "bearer";
  if (credentials->size() <= kScheme.size() || (*credentials)[kScheme.size()] != ' ' ||
      !EqualsIgnoreCase(credentials->substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  std::string_view token = credentials->substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

// Both sides are SHA-256 digests, so the comparison takes the same time whatever the length or
// content of the offered token.
bool BearerMatches(const Request& request, const TokenDigest& expected) {
  std::optional<std::string_view> token = BearerToken(request);
  if (!token) return false;
  TokenDigest offered{};
  if (!Sha256(*token, &offered)) return false;  // fail closed
  return CRYPTO_memcmp(offered.data(), expected.data(), offered.size()) == 0;
}

Response Unauthorized(std::string_view realm, std::string_view detail) {
  Response r = Problem(401, "UNAUTHORIZED", detail);
  std::string challenge = "Bearer realm=\"";
  for (char c : realm) {
    if (c == '"' || c == '\\') challenge.push_back('\\');  // a quoted-string (RFC 9110 §5.6.4)
    challenge.push_back(c);
  }
  challenge.push_back('"');
  r.headers.emplace_back("WWW-Authenticate", std::move(challenge));
  return r;
}

// "a=1&b=%40" → (a, 1), (b, @). Empty pairs ("a=1&&b=2", a trailing '&') are skipped; a name
// without '=' has an empty value. Malformed: a bad percent escape, or an empty name.
std::optional<std::vector<std::pair<std::string, std::string>>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::optional<std::string> name = PercentDecode(pair.substr(0, eq), /*strict=*/true);
    std::optional<std::string> value = PercentDecode(
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), /*strict=*/true);
    if (!name || !value || name->empty()) return std::nullopt;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Server

struct Server::Impl {
  Config config;
  Handler handler;
  evhttp* http = nullptr;
  SSL_CTX* tls = nullptr;
  std::string request_event;  // "<log_name>.request"
  std::string error_event;    // "<log_name>.internal_error"

  ~Impl() {
    if (http != nullptr) evhttp_free(http);  // closes the listener and every connection
  }

  static void OnRequest(evhttp_request* req, void* arg) { static_cast<Impl*>(arg)->Serve(req); }

  // Called by evhttp for each accepted connection; evhttp sets the descriptor afterwards.
  static bufferevent* NewConnection(event_base* base, void* arg) {
    Impl* impl = static_cast<Impl*>(arg);
    SSL* ssl = SSL_new(impl->tls);
    bufferevent* bev = nullptr;
    if (ssl != nullptr) {
      bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                           BEV_OPT_CLOSE_ON_FREE);
      if (bev == nullptr) SSL_free(ssl);
    }
    if (bev == nullptr) {
      // evhttp would fall back to a plain connection; Serve() refuses requests that arrive on one.
      CV_ERROR(impl->error_event.c_str(), "what=%s", "cannot set up a TLS connection");
      return nullptr;
    }
    // A client that closes without close_notify ends the connection like a TCP EOF would.
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
  }

  bool ArrivedOverTls(evhttp_request* req) const {
    evhttp_connection* connection = evhttp_request_get_connection(req);
    bufferevent* bev =
        connection != nullptr ? evhttp_connection_get_bufferevent(connection) : nullptr;
    return bev != nullptr && bufferevent_openssl_get_ssl(bev) != nullptr;
  }

  void Serve(evhttp_request* req);
  Response Handle(evhttp_request* req);
};

void Server::Impl::Serve(evhttp_request* req) {
  evkeyvalq* out = evhttp_request_get_output_headers(req);
  const bool head = evhttp_request_get_command(req) == EVHTTP_REQ_HEAD;
  Response response;
  if (tls != nullptr && !ArrivedOverTls(req)) {
    // The connection could not be made TLS (see NewConnection): a TLS server never hands a
    // request that arrived in the clear to its handler. Refuse it and close.
    response = Problem(500, "INTERNAL", "internal error");
    evhttp_add_header(out, "Connection", "close");
  } else {
    // libevent is C: nothing may unwind through it.
    try {
      response = Handle(req);
    } catch (const std::exception& e) {
      CV_ERROR(error_event.c_str(), "what=%s", log::Quote(e.what()).c_str());
      response = Problem(500, "INTERNAL", "internal error");
    } catch (...) {
      CV_ERROR(error_event.c_str(), "what=%s", "\"unknown exception\"");
      response = Problem(500, "INTERNAL", "internal error");
    }
  }
  CV_DEBUG(request_event.c_str(), "method=%s uri=%s status=%d",
           MethodName(evhttp_request_get_command(req)),
           log::Quote(evhttp_request_get_uri(req)).c_str(), response.status);

  evhttp_add_header(out, "Cache-Control", "no-store");
  const bool has_body = !response.body.empty() && !response.content_type.empty();
  if (has_body) evhttp_add_header(out, "Content-Type", response.content_type.c_str());
  for (const auto& [name, value] : response.headers) {
    evhttp_add_header(out, name.c_str(), value.c_str());
  }
  if (head) {
    // A reply to HEAD has no body (RFC 9110 §9.3.2); libevent would send it unframed. Its
    // header fields are those of the GET reply, length included.
    if (has_body) {
      evhttp_add_header(out, "Content-Length", std::to_string(response.body.size()).c_str());
    }
  } else if (has_body) {
    evbuffer_add(evhttp_request_get_output_buffer(req), response.body.data(), response.body.size());
  }
  evhttp_send_reply(req, response.status, ReasonPhrase(response.status), nullptr);
}

Response Server::Impl::Handle(evhttp_request* req) {
  evbuffer* input = evhttp_request_get_input_buffer(req);
  const size_t body_size = evbuffer_get_length(input);
  if (body_size > config.max_body_bytes) {
    return Problem(
        413, "PAYLOAD_TOO_LARGE",
        "request bodies are limited to " + std::to_string(config.max_body_bytes) + " bytes");
  }
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
  if (path == nullptr || path[0] != '/') return Problem(404, "NOT_FOUND", "no such resource");

  Request r;
  r.method = MethodName(evhttp_request_get_command(req));
  r.target = evhttp_request_get_uri(req);
  // "/" is one empty segment, "/a/" is "a" and "".
  std::string_view rest = std::string_view(path).substr(1);
  while (true) {
    size_t slash = rest.find('/');
    r.path.push_back(*PercentDecode(rest.substr(0, slash), /*strict=*/false));
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  if (const char* query = evhttp_uri_get_query(uri); query != nullptr) r.query = query;
  const evkeyvalq* headers = evhttp_request_get_input_headers(req);
  for (const evkeyval* h = headers->tqh_first; h != nullptr; h = h->next.tqe_next) {
    r.headers.emplace_back(h->key, h->value);
  }
  r.body.resize(body_size);
  evbuffer_copyout(input, r.body.data(), body_size);
  r.peer = PeerOf(req);
  return handler(r);
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() = default;

std::unique_ptr<Server> Server::Start(event_base* base, const Config& config, Handler handler,
                                      std::string* error) {
  auto fail = [error](std::string message) -> std::unique_ptr<Server> {
    if (error != nullptr) *error = std::move(message);
    return nullptr;
  };
  if (base == nullptr) return fail("no event loop");
  if (config.request_timeout_s <= 0) return fail("request timeout must be positive");
  if (config.max_body_bytes == 0 || config.max_header_bytes == 0) {
    return fail("body and header limits must be positive");
  }
  if (!handler) return fail("no handler");

  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->handler = std::move(handler);
  impl->tls = config.tls;
  impl->request_event = config.log_name + ".request";
  impl->error_event = config.log_name + ".internal_error";
  impl->http = evhttp_new(base);
  if (impl->http == nullptr) return fail("cannot create the HTTP server");

  evhttp* http = impl->http;
  const size_t buffered =
      config.max_body_bytes <= std::numeric_limits<size_t>::max() / kBufferedBodyFactor
          ? config.max_body_bytes * kBufferedBodyFactor
          : std::numeric_limits<size_t>::max();
  evhttp_set_max_body_size(http, static_cast<ev_ssize_t>(std::min<size_t>(
                                     buffered, std::numeric_limits<ev_ssize_t>::max())));
  evhttp_set_max_headers_size(
      http, static_cast<ev_ssize_t>(
                std::min<size_t>(config.max_header_bytes, std::numeric_limits<ev_ssize_t>::max())));
  evhttp_set_timeout(http, config.request_timeout_s);
  // Read and drop an oversized body before closing, so the client sees the 413 rather than a
  // reset.
  evhttp_set_flags(http, EVHTTP_SERVER_LINGERING_CLOSE);
  // Every method reaches the handler, which can answer 405 with Allow (libevent would say 501).
  evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                       EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                       EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
  evhttp_set_gencb(http, &Impl::OnRequest, impl.get());
  if (config.tls != nullptr) evhttp_set_bevcb(http, &Impl::NewConnection, impl.get());

  errno = 0;
  evhttp_bound_socket* bound = evhttp_bind_socket_with_handle(
      http, config.address.ip.ToString().c_str(), config.address.port);
  if (bound == nullptr) {
    int err = errno;
    return fail("cannot bind " + config.address.ToString() + ": " +
                (err != 0 ? std::strerror(err) : "unknown error"));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  std::optional<SocketAddress> local;
  if (getsockname(evhttp_bound_socket_get_fd(bound), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    local = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  }
  if (!local) return fail("cannot read the bound address: " + std::string(std::strerror(errno)));

  std::unique_ptr<Server> server(new Server(std::move(impl)));
  server->bound_ = *local;
  return server;
}

void Server::SetTlsContext(SSL_CTX* tls) {
  // Whether the server speaks TLS is fixed at Start: never fall back to plain text, and never
  // turn a plain listener into a TLS one behind its clients' backs.
  if (impl_->tls == nullptr || tls == nullptr) {
    assert(false && "SetTlsContext needs a TLS server and a context");
    CV_ERROR(impl_->error_event.c_str(), "what=%s",
             impl_->tls == nullptr ? "\"SetTlsContext on a plain server; ignored\""
                                   : "\"SetTlsContext(nullptr); the old context stays\"");
    return;
  }
  impl_->tls = tls;
}

// ---------------------------------------------------------------------------------------------
// EventLoopThread

namespace {

void OnWake(evutil_socket_t fd, short /*events*/, void* arg) {
  uint64_t count = 0;
  while (read(fd, &count, sizeof(count)) < 0 && errno == EINTR) {
  }
  event_base_loopbreak(static_cast<event_base*>(arg));
}

}  // namespace

std::unique_ptr<EventLoopThread> EventLoopThread::Create(std::string* error) {
  std::unique_ptr<EventLoopThread> loop(new EventLoopThread());
  loop->base_ = event_base_new();
  loop->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->base_ != nullptr && loop->wake_fd_ >= 0) {
    loop->wake_event_ =
        event_new(loop->base_, loop->wake_fd_, EV_READ | EV_PERSIST, &OnWake, loop->base_);
  }
  if (loop->wake_event_ == nullptr || event_add(loop->wake_event_, nullptr) != 0) {
    if (error != nullptr) *error = "cannot create the event loop";
    return nullptr;  // the destructor frees what was made
  }
  return loop;
}

EventLoopThread::~EventLoopThread() {
  // Never on the loop's own thread: the base would be freed under the running loop.
  Stop();
  if (wake_event_ != nullptr) event_free(wake_event_);
  if (base_ != nullptr) event_base_free(base_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void EventLoopThread::Run() {
  if (thread_.joinable()) return;
  thread_ = std::thread([base = base_] { event_base_dispatch(base); });
}

// The loop also waits for the eventfd; a write to it makes the wake callback break the loop on the
// loop's own thread, so no libevent state is touched from two threads (and libevent needs no
// evthread locking). Two threads other than the loop's must not call Stop() at the same time; the
// owner serialises them.
void EventLoopThread::Stop() {
  if (!thread_.joinable()) return;
  if (thread_.get_id() == std::this_thread::get_id()) {
    event_base_loopbreak(base_);
    return;
  }
  uint64_t one = 1;
  while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
  }
  thread_.join();
  // Drain the wake-up, so that a later Run() does not stop at once.
  uint64_t count = 0;
  while (read(wake_fd_, &count, sizeof(count)) < 0 && errno == EINTR) {
  }
}

}  // namespace cv::http
