#include "tests/support/http_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <limits>

#include "relay/common/http_client.h"

namespace cv::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;

int RemainingMs(SteadyClock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

// Waits for `events` on `fd`; false on timeout or error.
bool WaitFor(int fd, short events, SteadyClock::time_point deadline) {
  while (true) {
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, RemainingMs(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return false;
  }
}

// A connected non-blocking TCP socket, or -1.
int Connect(const SocketAddress& server, SteadyClock::time_point deadline) {
  sockaddr_storage ss{};
  socklen_t len = server.ToSockaddr(&ss);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) return fd;
  if (errno == EINPROGRESS && WaitFor(fd, POLLOUT, deadline)) {
    int err = 0;
    socklen_t err_len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == 0 && err == 0) return fd;
  }
  close(fd);
  return -1;
}

// Sends as much of `bytes` as the peer takes. A server may answer and close before reading a whole
// request (an oversized body), so a failed send is not an error: the reply is read regardless.
void SendAll(int fd, std::string_view bytes, SteadyClock::time_point deadline) {
  while (!bytes.empty()) {
    ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!WaitFor(fd, POLLOUT, deadline)) return;
    } else {
      return;
    }
  }
}

// Everything until EOF (a reset after data counts as EOF); nullopt on timeout.
std::optional<std::string> ReadToEof(int fd, SteadyClock::time_point deadline) {
  std::string data;
  char buf[16384];
  while (true) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      data.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      return data;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!WaitFor(fd, POLLIN, deadline)) return std::nullopt;
    } else {
      return data;
    }
  }
}

std::optional<std::string> Exchange(const SocketAddress& server, std::string_view request,
                                    std::chrono::milliseconds timeout) {
  SteadyClock::time_point deadline = SteadyClock::now() + timeout;
  int fd = Connect(server, deadline);
  if (fd < 0) return std::nullopt;
  SendAll(fd, request, deadline);
  std::optional<std::string> reply = ReadToEof(fd, deadline);
  close(fd);
  return reply;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Takes one CRLF-terminated line off the front of `rest`.
std::optional<std::string_view> TakeLine(std::string_view* rest) {
  size_t end = rest->find("\r\n");
  if (end == std::string_view::npos) return std::nullopt;
  std::string_view line = rest->substr(0, end);
  rest->remove_prefix(end + 2);
  return line;
}

// RFC 9112 §7.1: chunk-size [; extensions] CRLF data CRLF … 0 CRLF [trailers] CRLF.
std::optional<std::string> Dechunk(std::string_view rest) {
  std::string body;
  while (true) {
    std::optional<std::string_view> line = TakeLine(&rest);
    if (!line) return std::nullopt;
    std::string size_text(line->substr(0, line->find(';')));
    char* end = nullptr;
    unsigned long long size = std::strtoull(size_text.c_str(), &end, 16);
    if (size_text.empty() || end == size_text.c_str()) return std::nullopt;
    if (size == 0) break;
    if (rest.size() < size + 2 || rest.substr(size, 2) != "\r\n") return std::nullopt;
    body.append(rest.substr(0, size));
    rest.remove_prefix(size + 2);
  }
  while (true) {  // trailers, up to the empty line
    std::optional<std::string_view> line = TakeLine(&rest);
    if (!line) return std::nullopt;
    if (line->empty()) return body;
  }
}

}  // namespace

std::optional<HttpResponse> ParseHttpResponse(std::string_view raw, bool head) {
  std::string_view rest = raw;
  // Status line: HTTP/1.1 SP 3DIGIT SP reason
  std::optional<std::string_view> status_line = TakeLine(&rest);
  if (!status_line || status_line->substr(0, 7) != "HTTP/1." || status_line->size() < 12) {
    return std::nullopt;
  }
  HttpResponse response;
  for (char c : status_line->substr(9, 3)) {
    if (c < '0' || c > '9') return std::nullopt;
    response.status = response.status * 10 + (c - '0');
  }
  while (true) {
    std::optional<std::string_view> line = TakeLine(&rest);
    if (!line) return std::nullopt;
    if (line->empty()) break;
    size_t colon = line->find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string name = Lower(line->substr(0, colon));
    std::string value(Trim(line->substr(colon + 1)));
    auto [it, inserted] = response.headers.emplace(name, value);
    if (!inserted) it->second += ", " + value;
  }

  bool no_body = head || response.status == 204 || response.status == 304 ||
                 (response.status >= 100 && response.status < 200);
  if (no_body) return response;
  auto te = response.headers.find("transfer-encoding");
  auto cl = response.headers.find("content-length");
  if (te != response.headers.end() && Lower(te->second).find("chunked") != std::string::npos) {
    std::optional<std::string> body = Dechunk(rest);
    if (!body) return std::nullopt;
    response.body = std::move(*body);
  } else if (cl != response.headers.end()) {
    char* end = nullptr;
    unsigned long long length = std::strtoull(cl->second.c_str(), &end, 10);
    if (cl->second.empty() || *end != '\0' || rest.size() < length) return std::nullopt;
    response.body = std::string(rest.substr(0, length));
  } else {
    response.body = std::string(rest);
  }
  return response;
}

std::optional<HttpResponse> HttpRequest(
    const SocketAddress& server, const std::string& method, const std::string& target,
    const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers,
    std::chrono::milliseconds timeout) {
  http::Url url;
  url.host = server.ip.ToString();
  url.port = server.port;
  http::ClientRequest request;
  request.method = method;
  request.target = target;
  request.headers = headers;
  request.body = body;
  request.content_type.clear();  // tests send exactly the Content-Type they name
  http::FetchOptions options;
  options.timeout_ms =
      static_cast<int>(std::clamp<int64_t>(timeout.count(), 1, std::numeric_limits<int>::max()));
  std::string error;
  std::optional<http::ClientResponse> fetched = http::Fetch(url, request, options, &error);
  if (!fetched) return std::nullopt;

  HttpResponse response;
  response.status = fetched->status;
  for (const auto& [name, value] : fetched->headers) {
    auto [it, inserted] = response.headers.emplace(Lower(name), value);
    if (!inserted) it->second += ", " + value;
  }
  response.body = std::move(fetched->body);
  return response;
}

std::optional<std::string> HttpRaw(const SocketAddress& server, const std::string& request_bytes,
                                   std::chrono::milliseconds timeout) {
  return Exchange(server, request_bytes, timeout);
}

}  // namespace cv::testing
