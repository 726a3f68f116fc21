// A small blocking HTTP/1.1 client for this project's own JSON APIs: cvadmin telling relays about
// revocations (admin/fleet), and cvctl talking to cvadmin. Plain HTTP only: both APIs listen on
// loopback or a private network (docs/cvadmin.md "Admin API"); "https://" URLs are refused with
// a clear error rather than sent in clear.
//
// One request per connection ("Connection: close"); the response is read until the server closes
// or Content-Length bytes arrived (chunked transfer coding is decoded too; no other coding is
// accepted). Interim 1xx responses are skipped. One deadline bounds name resolution, connect, send
// and receive together: a server that trickles bytes cannot stretch it.
//
// Threading: Fetch is reentrant; call it from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cv::http {

// "http://host[:port][/base]": host is a name, an IPv4 address or a bracketed IPv6 address; the
// port defaults to 80; base is a path prefix without a trailing '/' ("" for none).
struct Url {
  std::string host;  // without brackets
  uint16_t port = 80;
  std::string base;

  // nullopt with `error` ("https is not supported…", "bad port in …", …).
  static std::optional<Url> Parse(std::string_view text, std::string* error);
  std::string ToString() const;  // "http://[::1]:9651/base"
};

// Fetch sends Host, "Connection: close", Content-Type (when there is a body and content_type is
// not empty) and Content-Length, then `headers`. A Host, Content-Type or Content-Length (or
// Transfer-Encoding) among `headers` replaces Fetch's own. A method that is not a token, a target
// with spaces, controls or non-ASCII bytes, or a header with CR, LF or NUL is refused unsent.
struct ClientRequest {
  std::string method = "GET";
  std::string target;  // "/admin/users?limit=5", appended to the URL's base
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent with Content-Length when non-empty or when the method is POST/PUT/PATCH
  std::string content_type = "application/json";  // "" for none
};

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names as received
  std::string body;

  // The first header of that name (case-insensitive); "" when absent.
  std::string Header(std::string_view name) const;
};

struct FetchOptions {
  int timeout_ms = 5000;                  // the whole exchange; must be positive
  size_t max_response_bytes = 64u << 20;  // bytes received, header included; more is an error
};

// Sends `request` to `url` and reads the answer. nullopt with `error` ("connect 127.0.0.1:9651:
// Connection refused", "timed out after 5000 ms …", "response too large …", "malformed response:
// …", "cannot resolve …") when there is no complete HTTP response. Any status is a response (the
// caller judges 4xx/5xx). Names are resolved on a short-lived thread of their own (getaddrinfo has
// no timeout); IP literals need none. Errors never repeat request headers (tokens stay out of
// logs).
std::optional<ClientResponse> Fetch(const Url& url, const ClientRequest& request,
                                    const FetchOptions& options, std::string* error);

}  // namespace cv::http
