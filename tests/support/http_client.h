// HTTP for tests of the control endpoint and cvadmin. HttpRequest is a thin wrapper over the
// project's client (cv::http::Fetch, relay/common/http_client.h) with a test-friendly reply: one
// request per connection, every step bounded by one deadline, no TLS, no redirects, no retries.
// HttpRaw sends bytes a real client would refuse to send (malformed or partial requests) and
// returns everything the server sent until it closed; ParseHttpResponse reads that reply.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "relay/common/address.h"

namespace cv::testing {

struct HttpResponse {
  int status = 0;
  // Names lower-cased; a repeated header's values are joined with ", ".
  std::map<std::string, std::string> headers;
  std::string body;  // de-chunked
};

// Sends `method target` with Host, Connection: close, Content-Length (when there is a body or the
// method usually has one) and `headers`; a caller's own Host or Content-Length replaces ours. No
// Content-Type unless `headers` names one. nullopt when the connection fails, the reply is
// malformed or the deadline passes.
std::optional<HttpResponse> HttpRequest(
    const SocketAddress& server, const std::string& method, const std::string& target,
    const std::string& body = "",
    const std::vector<std::pair<std::string, std::string>>& headers = {},
    std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Sends `request_bytes` as they are and returns everything the server sent until it closed the
// connection (possibly nothing). nullopt when the connection fails or the server keeps it open
// past `timeout`.
std::optional<std::string> HttpRaw(const SocketAddress& server, const std::string& request_bytes,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Parses a whole response as read until EOF. `head`: the reply to a HEAD request (no body).
std::optional<HttpResponse> ParseHttpResponse(std::string_view raw, bool head = false);

}  // namespace cv::testing
