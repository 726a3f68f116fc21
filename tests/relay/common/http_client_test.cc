#include "relay/common/http_client.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "relay/common/http_server.h"
#include "tests/support/test_http_server.h"

namespace cv::http {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;
using cv::testing::TestHttpServer;

SocketAddress Loopback(const char* ip = "127.0.0.1", uint16_t port = 0) {
  return SocketAddress{*IpAddress::Parse(ip), port};
}

Url UrlOf(const SocketAddress& address, std::string base = "") {
  Url url;
  url.host = address.ip.ToString();
  url.port = address.port;
  url.base = std::move(base);
  return url;
}

int64_t MillisSince(SteadyClock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - start).count();
}

// A TCP socket bound on loopback. listen() makes it a server that never accepts: the kernel
// completes the handshake and queues the connection, and nobody ever reads or answers. Without
// listen() the port is held but closed: a connect is refused.
class Socket {
 public:
  explicit Socket(bool listening, const char* ip = "127.0.0.1") {
    SocketAddress want = Loopback(ip);
    sockaddr_storage ss{};
    socklen_t len = want.ToSockaddr(&ss);
    fd_ = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) return;
    if (listening && listen(fd_, 16) != 0) return;
    len = sizeof(ss);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    address_ = *SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  }
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return fd_; }
  const SocketAddress& address() const { return address_; }

 private:
  int fd_ = -1;
  SocketAddress address_;
};

// A scripted server for the replies evhttp would never send: it accepts connections one at a time
// and runs `script` on each with the request already read. Scripts that keep a connection open
// wait on Stopped() (the destructor ends them).
class RawServer {
 public:
  using Script = std::function<void(RawServer&, int fd)>;

  explicit RawServer(Script script) : listener_(true), script_(std::move(script)) {
    if (pipe2(stop_pipe_, O_CLOEXEC) != 0) return;
    thread_ = std::thread([this] { Run(); });
  }
  ~RawServer() {
    stopping_ = true;
    if (write(stop_pipe_[1], "x", 1) < 0) {
      // nothing to do: the thread also checks stopping_ between connections
    }
    if (thread_.joinable()) thread_.join();
    close(stop_pipe_[0]);
    close(stop_pipe_[1]);
  }
  const SocketAddress& address() const { return listener_.address(); }
  Url url() const { return UrlOf(address()); }
  int connections() const { return connections_; }
  std::string last_request() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_request_;
  }

  // Blocks until the destructor runs or `ms` pass; true when stopping.
  bool Stopped(int ms = -1) {
    pollfd p{stop_pipe_[0], POLLIN, 0};
    return poll(&p, 1, ms) > 0 || stopping_;
  }

  static void Send(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

 private:
  void Run() {
    while (!stopping_) {
      pollfd p[2] = {{listener_.fd(), POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
      if (poll(p, 2, -1) <= 0 || (p[1].revents & POLLIN) != 0) return;
      int fd = accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      ++connections_;
      std::string request = ReadRequest(fd);
      {
        std::lock_guard<std::mutex> lock(mu_);
        last_request_ = request;
      }
      script_(*this, fd);
      close(fd);
    }
  }

  // The request header and its Content-Length body (this client never sends chunked requests).
  std::string ReadRequest(int fd) {
    std::string data;
    char buf[4096];
    while (true) {
      size_t end = data.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t length = 0;
        size_t cl = data.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) length = std::stoul(data.substr(cl + 16));
        if (data.size() >= end + 4 + length) return data;
      }
      pollfd p[2] = {{fd, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
      if (poll(p, 2, 5000) <= 0 || (p[1].revents & POLLIN) != 0) return data;
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return data;
      data.append(buf, static_cast<size_t>(n));
    }
  }

  Socket listener_;
  Script script_;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::string last_request_;
  std::thread thread_;
};

// Replies with `bytes` and closes.
RawServer::Script Reply(std::string bytes) {
  return [bytes](RawServer&, int fd) { RawServer::Send(fd, bytes); };
}
// Replies with `bytes` and keeps the connection open until the test ends.
RawServer::Script ReplyAndHold(std::string bytes) {
  return [bytes](RawServer& server, int fd) {
    RawServer::Send(fd, bytes);
    server.Stopped();
  };
}

// --- Url ---------------------------------------------------------------------------------------

class UrlTest : public ::testing::Test {
 protected:
  static Url Parsed(std::string_view text) {
    std::string error;
    std::optional<Url> url = Url::Parse(text, &error);
    EXPECT_TRUE(url.has_value()) << text << ": " << error;
    return url.value_or(Url{});
  }
  static std::string ErrorOf(std::string_view text) {
    std::string error;
    std::optional<Url> url = Url::Parse(text, &error);
    EXPECT_FALSE(url.has_value()) << text << " parsed as " << (url ? url->ToString() : "");
    EXPECT_FALSE(error.empty()) << text;
    return error;
  }
};

TEST_F(UrlTest, TakesHostPortAndBase) {
  Url a = Parsed("http://127.0.0.1:9641");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9641);
  EXPECT_EQ(a.base, "");
  EXPECT_EQ(a.ToString(), "http://127.0.0.1:9641");

  Url b = Parsed("http://cvadmin.internal/admin/");
  EXPECT_EQ(b.host, "cvadmin.internal");
  EXPECT_EQ(b.port, 80) << "the default port";
  EXPECT_EQ(b.base, "/admin") << "no trailing slash";
  EXPECT_EQ(b.ToString(), "http://cvadmin.internal:80/admin");

  Url c = Parsed("http://[::1]:9651/base");
  EXPECT_EQ(c.host, "::1") << "without brackets";
  EXPECT_EQ(c.port, 9651);
  EXPECT_EQ(c.base, "/base");
  EXPECT_EQ(c.ToString(), "http://[::1]:9651/base");

  EXPECT_EQ(Parsed("http://relay_1.example:65535/").base, "");
  EXPECT_EQ(Parsed("HTTP://Relay.Example:1").host, "Relay.Example") << "the scheme is caseless";
  EXPECT_EQ(Parsed("http://[2001:db8::7]").port, 80);
  EXPECT_EQ(Parsed("http://h:1/a/b/c").base, "/a/b/c");
}

TEST_F(UrlTest, HttpsIsRefusedWithAClearError) {
  for (const char* text : {"https://127.0.0.1:9641", "HTTPS://relay.example/"}) {
    std::string error = ErrorOf(text);
    EXPECT_NE(error.find("https is not supported"), std::string::npos) << error;
  }
}

TEST_F(UrlTest, AnythingButAPlainHttpUrlIsRefused) {
  const char* cases[] = {
      "",
      "127.0.0.1:9641",
      "ftp://127.0.0.1",
      "http:/127.0.0.1",
      "http://",
      "http://:80",
      "http://host:",
      "http://host:0",
      "http://host:65536",
      "http://host:123456",
      "http://host:8a",
      "http://host:-1",
      "http://::1:80",
      "http://[::1",
      "http://[::1]x",
      "http://[1.2.3.4]:80",
      "http://[fe80::1%25eth0]:80",
      "http://ho st",
      "http://host/a b",
      "http://host/\x01",
      "http://host/caf\xc3\xa9",
      "http://host/?q=1",
      "http://host/#top",
      "http://host?q=1",
      " http://host",
  };
  for (const char* text : cases) {
    SCOPED_TRACE(text);
    ErrorOf(text);
  }
}

TEST_F(UrlTest, UserInfoIsRefusedAndItsPasswordNotEchoed) {
  for (const char* text : {"http://admin:s3cret@127.0.0.1:9641", "https://admin:s3cret@relay/",
                           "admin:s3cret@relay:80/x", "http://admin:s3cret@[::1]:99999"}) {
    std::string error = ErrorOf(text);
    EXPECT_EQ(error.find("s3cret"), std::string::npos) << error;
    EXPECT_NE(error.find("***@"), std::string::npos) << error;
  }
  EXPECT_EQ(Parsed("http://relay/users/a@b").base, "/users/a@b") << "an @ in the path is fine";
}

TEST_F(UrlTest, ErrorsNameTheProblem) {
  EXPECT_NE(ErrorOf("http://host:99999").find("bad port"), std::string::npos);
  EXPECT_NE(ErrorOf("ftp://host").find("not an http:// URL"), std::string::npos);
  EXPECT_NE(ErrorOf("http://::1").find("brackets"), std::string::npos);
}

Server::Config LocalConfig(const char* ip = "127.0.0.1") {
  Server::Config config;
  config.address = Loopback(ip);
  config.log_name = "test";
  return config;
}

// --- Fetch against the project's own server ------------------------------------------------------

class HttpClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { signal(SIGPIPE, SIG_IGN); }
  void TearDown() override { StopServer(); }

  // An evhttp server on a loop thread of its own; every request is recorded, then answered by
  // `respond` (default: 200 {"ok":true}).
  void StartServer(Server::Handler respond = nullptr, Server::Config config = LocalConfig()) {
    std::string error;
    server_ = TestHttpServer::Start(
        [respond](const Request& r) {
          return respond ? respond(r) : Json(200, {{"ok", true}});
        },
        &error, config);
    ASSERT_NE(server_, nullptr) << error;
  }
  void StopServer() { server_.reset(); }
  std::vector<Request> requests() { return server_->requests(); }
  Url url(std::string base = "") const { return UrlOf(server_->address(), std::move(base)); }

  // Fetch that is expected to get a response.
  static ClientResponse Ok(const Url& url, const ClientRequest& request,
                           FetchOptions options = {}) {
    std::string error;
    std::optional<ClientResponse> r = Fetch(url, request, options, &error);
    EXPECT_TRUE(r.has_value()) << error;
    return r.value_or(ClientResponse{});
  }
  // Fetch that is expected to fail; its error.
  static std::string Failed(const Url& url, const ClientRequest& request,
                            FetchOptions options = {}) {
    std::string error;
    std::optional<ClientResponse> r = Fetch(url, request, options, &error);
    EXPECT_FALSE(r.has_value()) << "status " << (r ? r->status : 0);
    EXPECT_FALSE(error.empty());
    return error;
  }
  static ClientRequest Get(std::string target) {
    ClientRequest request;
    request.target = std::move(target);
    return request;
  }

  std::unique_ptr<TestHttpServer> server_;
};

TEST_F(HttpClientTest, SendsMethodTargetHostHeadersAndBody) {
  ASSERT_NO_FATAL_FAILURE(StartServer([](const Request&) {
    Response r = Json(201, {{"created", true}});
    r.headers.emplace_back("X-Reply", "one");
    return r;
  }));
  ClientRequest request;
  request.method = "POST";
  request.target = "/v1/x?y=1";
  request.headers = {{"X-Custom", "value with spaces"}, {"Authorization", "Bearer t0ken"}};
  request.body = R"({"user":"alice"})";
  ClientResponse r = Ok(url("/api"), request);

  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(json::parse(r.body), json({{"created", true}}));
  EXPECT_EQ(r.Header("content-type"), kJsonType) << "header names are caseless";
  EXPECT_EQ(r.Header("X-REPLY"), "one");
  EXPECT_EQ(r.Header("X-Absent"), "");

  std::vector<Request> all = requests();
  ASSERT_EQ(all.size(), 1u);
  const Request& seen = all[0];
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/api/v1/x?y=1") << "the target follows the URL's base";
  EXPECT_EQ(seen.Header("Host"), server_->address().ToString());
  EXPECT_EQ(seen.Header("Connection"), "close");
  EXPECT_EQ(seen.Header("Content-Type"), "application/json");
  EXPECT_EQ(seen.Header("Content-Length"), "16");
  EXPECT_EQ(seen.Header("X-Custom"), "value with spaces");
  EXPECT_EQ(seen.Header("Authorization"), "Bearer t0ken");
  EXPECT_EQ(seen.body, R"({"user":"alice"})");
}

TEST_F(HttpClientTest, ContentLengthGoesWithBodiesAndWithMethodsThatDefineThem) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  for (const char* method : {"POST", "PUT", "PATCH"}) {
    ClientRequest request;
    request.method = method;
    request.target = "/empty";
    EXPECT_EQ(Ok(url(), request).status, 200) << method;
  }
  EXPECT_EQ(Ok(url(), Get("/plain")).status, 200);
  ClientRequest del;
  del.method = "DELETE";
  del.target = "/v1/revocations/user/alice";
  EXPECT_EQ(Ok(url(), del).status, 200);

  std::vector<Request> seen = requests();
  ASSERT_EQ(seen.size(), 5u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(seen[i].Header("Content-Length"), "0") << seen[i].method;
    EXPECT_EQ(seen[i].Header("Content-Type"), std::nullopt) << "no body, no type";
  }
  EXPECT_EQ(seen[3].Header("Content-Length"), std::nullopt);
  EXPECT_EQ(seen[4].Header("Content-Length"), std::nullopt);
  EXPECT_EQ(seen[4].method, "DELETE");
}

TEST_F(HttpClientTest, TheCallersHostContentTypeAndContentLengthReplaceOurs) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  ClientRequest request;
  request.method = "POST";
  request.target = "/x";
  request.body = "hello";
  request.headers = {{"host", "cvadmin.example"}, {"Content-type", "text/plain"}};
  EXPECT_EQ(Ok(url(), request).status, 200);

  ClientRequest untyped;
  untyped.method = "POST";
  untyped.target = "/y";
  untyped.body = "{}";
  untyped.content_type.clear();
  EXPECT_EQ(Ok(url(), untyped).status, 200);

  std::vector<Request> seen = requests();
  ASSERT_EQ(seen.size(), 2u);
  // Request::Header is nullopt for a repeated header: these prove there is exactly one.
  EXPECT_EQ(seen[0].Header("Host"), "cvadmin.example");
  EXPECT_EQ(seen[0].Header("Content-Type"), "text/plain");
  EXPECT_EQ(seen[0].body, "hello");
  EXPECT_EQ(seen[1].Header("Content-Type"), std::nullopt) << "content_type \"\" sends none";
  EXPECT_EQ(seen[1].Header("Content-Length"), "2");
}

TEST_F(HttpClientTest, AnErrorStatusIsAResponseWithItsProblemBody) {
  ASSERT_NO_FATAL_FAILURE(StartServer([](const Request& r) {
    return Problem(404, "NOT_FOUND", "no revocation for user " + r.path.back());
  }));
  ClientResponse r = Ok(url(), Get("/v1/revocations/user/bob"));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.Header("Content-Type"), kProblemType);
  json body = json::parse(r.body);
  EXPECT_EQ(body["code"], "NOT_FOUND");
  EXPECT_EQ(body["detail"], "no revocation for user bob");
}

TEST_F(HttpClientTest, AnswersToHeadAndNoContentHaveNoBodyAndDoNotWait) {
  ASSERT_NO_FATAL_FAILURE(StartServer([](const Request& r) {
    return r.method == "DELETE" ? NoContent() : Json(200, {{"hello", "world"}});
  }));
  ClientRequest head = Get("/x");
  head.method = "HEAD";
  const auto start = SteadyClock::now();
  ClientResponse r = Ok(url(), head);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "");
  ClientRequest del = Get("/x");
  del.method = "DELETE";
  EXPECT_EQ(Ok(url(), del).status, 204);
  EXPECT_LT(MillisSince(start), 1000);
}

TEST_F(HttpClientTest, ALargeResponseArrivesWhole) {
  std::string big(3u << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  ASSERT_NO_FATAL_FAILURE(StartServer([big](const Request&) {
    Response r;
    r.content_type = "text/plain";
    r.body = big;
    return r;
  }));
  ClientResponse r = Ok(url(), Get("/big"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), big.size());
  EXPECT_TRUE(r.body == big);
}

TEST_F(HttpClientTest, AResponseOverTheLimitIsAnError) {
  ASSERT_NO_FATAL_FAILURE(StartServer([](const Request&) {
    return Json(200, {{"pad", std::string(4096, 'x')}});
  }));
  FetchOptions options;
  options.max_response_bytes = 1024;
  EXPECT_NE(Failed(url(), Get("/big"), options).find("response too large"), std::string::npos);
}

TEST_F(HttpClientTest, AServerThatRefusesABodyEarlyStillGetsItsAnswerRead) {
  // The server answers 413 from Content-Length and closes before reading the body: the client
  // stops sending and reads the answer instead of failing on the broken pipe.
  Server::Config config = LocalConfig();
  config.max_body_bytes = 1024;
  ASSERT_NO_FATAL_FAILURE(StartServer(nullptr, config));
  for (size_t size : {size_t{2048}, size_t{8u << 20}}) {
    ClientRequest request;
    request.method = "POST";
    request.target = "/upload";
    request.body = std::string(size, 'x');
    EXPECT_EQ(Ok(url(), request).status, 413) << size;
  }
  EXPECT_TRUE(requests().empty());
}

TEST_F(HttpClientTest, ServesOverIpv6Loopback) {
  std::string error;
  server_ = TestHttpServer::Start(
      [](const Request&) {
        return Json(200, {{"v6", true}});
      },
      &error, LocalConfig("::1"));
  if (server_ == nullptr && error.find("Cannot assign requested address") != std::string::npos) {
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  ASSERT_NE(server_, nullptr) << error;
  std::string text = "http://[::1]:" + std::to_string(server_->address().port) + "/";
  std::optional<Url> parsed = Url::Parse(text, &error);
  ASSERT_TRUE(parsed) << error;
  ClientResponse r = Ok(*parsed, Get("/v1/health"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["v6"], true);
}

TEST_F(HttpClientTest, ANameIsResolvedAndEachAddressTried) {
  // "localhost" may resolve to ::1 first; the server is on 127.0.0.1 only, so that proves the
  // next address is tried after a refusal.
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Url named = url();
  named.host = "localhost";
  EXPECT_EQ(Ok(named, Get("/x")).status, 200);
  std::vector<Request> seen = requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].Header("Host"), "localhost:" + std::to_string(named.port));
}

TEST_F(HttpClientTest, AnUnknownNameIsAnErrorWithinTheDeadline) {
  Url url;
  url.host = "no-such-host.invalid";  // RFC 6761: never resolves
  url.port = 9;
  FetchOptions options;
  options.timeout_ms = 3000;
  const auto start = SteadyClock::now();
  std::string error = Failed(url, Get("/"), options);
  EXPECT_TRUE(error.find("cannot resolve no-such-host.invalid") != std::string::npos ||
              error.find("timed out after 3000 ms resolving") != std::string::npos)
      << error;
  EXPECT_LT(MillisSince(start), 4000);
}

// --- Failures ----------------------------------------------------------------------------------

TEST_F(HttpClientTest, ARefusedConnectionIsAnError) {
  Socket closed(/*listening=*/false);
  const auto start = SteadyClock::now();
  std::string error = Failed(UrlOf(closed.address()), Get("/"));
  EXPECT_EQ(error, "connect " + closed.address().ToString() + ": Connection refused");
  EXPECT_LT(MillisSince(start), 1000);
}

TEST_F(HttpClientTest, AServerThatNeverAnswersTimesOutAtTheDeadline) {
  Socket silent(/*listening=*/true);
  FetchOptions options;
  options.timeout_ms = 250;
  const auto start = SteadyClock::now();
  std::string error = Failed(UrlOf(silent.address()), Get("/v1/health"), options);
  const int64_t took = MillisSince(start);
  EXPECT_EQ(error.rfind("timed out after 250 ms", 0), 0u) << error;
  EXPECT_GE(took, 250);
  EXPECT_LT(took, 1000);
}

TEST_F(HttpClientTest, ATrickleOfBytesDoesNotStretchTheDeadline) {
  // One deadline for the whole exchange, not one per read: a byte every 20 ms never completes.
  RawServer trickle([](RawServer& server, int fd) {
    RawServer::Send(fd, "HTTP/1.1 200 OK\r\n");
    while (!server.Stopped(20)) RawServer::Send(fd, "X");
  });
  FetchOptions options;
  options.timeout_ms = 300;
  const auto start = SteadyClock::now();
  std::string error = Failed(trickle.url(), Get("/"), options);
  const int64_t took = MillisSince(start);
  EXPECT_EQ(error.rfind("timed out after 300 ms", 0), 0u) << error;
  EXPECT_GE(took, 300);
  EXPECT_LT(took, 1000);
}

TEST_F(HttpClientTest, AResponseWithContentLengthIsCompleteWithoutWaitingForClose) {
  RawServer holder(ReplyAndHold("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
  FetchOptions options;
  options.timeout_ms = 5000;
  const auto start = SteadyClock::now();
  ClientResponse r = Ok(holder.url(), Get("/"), options);
  EXPECT_EQ(r.body, "hello");
  EXPECT_LT(MillisSince(start), 1000);
}

TEST_F(HttpClientTest, WithoutALengthTheBodyRunsUntilTheServerCloses) {
  RawServer server(Reply("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nline 1\nline 2\n"));
  ClientResponse r = Ok(server.url(), Get("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "line 1\nline 2\n");
}

TEST_F(HttpClientTest, TheRequestIsWellFormedOnTheWire) {
  RawServer server(Reply("HTTP/1.1 204 No Content\r\n\r\n"));
  ClientRequest request;
  request.method = "POST";
  request.target = "/v1/revocations";
  request.body = "{}";
  request.headers = {{"Authorization", "Bearer abc"}};
  EXPECT_EQ(Ok(server.url(), request).status, 204);
  EXPECT_EQ(server.last_request(),
            "POST /v1/revocations HTTP/1.1\r\n"
            "Host: " +
                server.address().ToString() +
                "\r\n"
                "Connection: close\r\n"
                "Content-Type: application/json\r\n"
                "Content-Length: 2\r\n"
                "Authorization: Bearer abc\r\n"
                "\r\n"
                "{}");
}

TEST_F(HttpClientTest, ChunkedBodiesAreDecoded) {
  // RFC 9112 §7.1: hex sizes in either case, extensions ignored, trailers read and dropped.
  RawServer server(
      Reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n"
            "5\r\nhello\r\n"
            "1;name=value\r\n \r\n"
            "A ; ext\r\n0123456789\r\n"
            "0\r\nX-Trailer: t\r\n\r\n"));
  ClientResponse r = Ok(server.url(), Get("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello 0123456789") << "Transfer-Encoding wins over Content-Length";
  EXPECT_EQ(r.Header("X-Trailer"), "") << "trailers are not headers";
}

TEST_F(HttpClientTest, AResponseArrivingInPiecesIsPutTogether) {
  // Split inside the status line, a header, the blank line, a chunk size and a chunk.
  RawServer server([](RawServer& s, int fd) {
    for (const char* piece : {"HTT", "P/1.1 200 OK\r\nTransfer-Enc", "oding: chunked\r", "\n\r",
                              "\n", "1", "0\r\n0123456", "789abcdef\r", "\n0\r\n", "\r\n"}) {
      RawServer::Send(fd, piece);
      if (s.Stopped(5)) return;
    }
  });
  ClientResponse r = Ok(server.url(), Get("/"));
  EXPECT_EQ(r.body, "0123456789abcdef");
}

TEST_F(HttpClientTest, InterimResponsesAreSkipped) {
  RawServer server(
      Reply("HTTP/1.1 100 Continue\r\n\r\n"
            "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
  ClientResponse r = Ok(server.url(), Get("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  EXPECT_EQ(r.Header("Link"), "") << "the interim response's headers are gone";
}

TEST_F(HttpClientTest, LenientWhereTheRfcAllowsIt) {
  // Bare LF line ends (RFC 9112 §2.2), obs-fold (§5.2), a status line without a reason, repeated
  // identical Content-Length values (RFC 9110 §8.6), headers kept in order with their spelling.
  RawServer server(
      Reply("HTTP/1.1 200\nX-Folded: one\n\t two\nContent-Length: 3, 3\nContent-Length: 3\n"
            "set-cookie: a\nSet-Cookie: b\n\nabc"));
  ClientResponse r = Ok(server.url(), Get("/"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "abc");
  EXPECT_EQ(r.Header("x-folded"), "one two");
  std::vector<std::pair<std::string, std::string>> cookies;
  for (const auto& h : r.headers) {
    if (h.first == "set-cookie" || h.first == "Set-Cookie") cookies.push_back(h);
  }
  ASSERT_EQ(cookies.size(), 2u);
  EXPECT_EQ(cookies[0], std::make_pair(std::string("set-cookie"), std::string("a")));
  EXPECT_EQ(cookies[1], std::make_pair(std::string("Set-Cookie"), std::string("b")));
  EXPECT_EQ(r.Header("SET-COOKIE"), "a") << "Header() gives the first";
}

TEST_F(HttpClientTest, MalformedResponsesAreErrors) {
  struct Case {
    const char* reply;
    const char* error;
  };
  const Case cases[] = {
      {"", "connection closed without a response"},
      {"garbage\r\n\r\n", "malformed response: bad status line"},
      {"HTTP/2 200 OK\r\n\r\n", "malformed response: bad status line"},
      {"HTTP/1.1 20 OK\r\n\r\n", "malformed response: bad status line"},
      {"HTTP/1.1 2000 OK\r\n\r\n", "malformed response: bad status line"},
      {"HTTP/1.1 600 Odd\r\n\r\n", "malformed response: status 600 out of range"},
      {"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "malformed response: bad header line"},
      {"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "malformed response: bad header line"},
      {"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "malformed response: bad header line"},
      {"HTTP/1.1 200 OK\r\n continued\r\n\r\n", "malformed response: a continuation line"},
      {"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "malformed response: bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "malformed response: bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
       "malformed response: bad Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "before the response was complete"},
      {"HTTP/1.1 200 OK\r\nContent-Len", "before the response was complete"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", "unsupported transfer coding"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
       "unsupported transfer coding"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "bad chunk size"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\nabc\r\n0\r\n\r\n",
       "bad chunk size"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
       "chunk data longer than its size"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
       "before the response was complete"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
       "before the response was complete"},
      {"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101 Switching Protocols"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.reply);
    RawServer server(Reply(c.reply));
    std::string error = Failed(server.url(), Get("/"));
    EXPECT_NE(error.find(c.error), std::string::npos) << error;
    EXPECT_NE(error.find(server.address().ToString()), std::string::npos) << "names the server";
  }
}

TEST_F(HttpClientTest, AHugeDeclaredLengthFailsWithoutWaitingForIt) {
  RawServer holder(ReplyAndHold("HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\nx"));
  FetchOptions options;
  options.max_response_bytes = 1u << 20;
  options.timeout_ms = 5000;
  const auto start = SteadyClock::now();
  std::string error = Failed(holder.url(), Get("/"), options);
  EXPECT_NE(error.find("response too large"), std::string::npos) << error;
  EXPECT_LT(MillisSince(start), 1000);

  RawServer chunks(ReplyAndHold(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n"));
  error = Failed(chunks.url(), Get("/"), options);
  EXPECT_NE(error.find("response too large"), std::string::npos) << error;
}

TEST_F(HttpClientTest, AnEndlessBodyStopsAtTheLimit) {
  RawServer flood([](RawServer& server, int fd) {
    RawServer::Send(fd, "HTTP/1.1 200 OK\r\n\r\n");
    const std::string block(64 * 1024, 'x');
    while (!server.Stopped(0)) {
      if (send(fd, block.data(), block.size(), MSG_NOSIGNAL) < 0) return;
    }
  });
  FetchOptions options;
  options.max_response_bytes = 1u << 20;
  std::string error = Failed(flood.url(), Get("/"), options);
  EXPECT_NE(error.find("response too large (over 1048576 bytes)"), std::string::npos) << error;
}

TEST_F(HttpClientTest, WhatCannotBeSentSafelyIsRefusedUnsent) {
  RawServer server(Reply("HTTP/1.1 204 No Content\r\n\r\n"));
  ClientRequest injected = Get("/x");
  injected.headers = {{"X-Evil", "a\r\nAuthorization: Bearer stolen"}};
  ClientRequest bad_name = Get("/x");
  bad_name.headers = {{"X Evil", "a"}};
  ClientRequest spaced = Get("/x HTTP/1.1\r\nHost: y");
  ClientRequest non_ascii = Get("/caf\xc3\xa9");
  ClientRequest method = Get("/x");
  method.method = "GET /";
  ClientRequest type = Get("/x");
  type.body = "{}";
  type.content_type = "application/json\r\nX-Evil: 1";
  for (const ClientRequest& request : {injected, bad_name, spaced, non_ascii, method, type}) {
    std::string error = Failed(server.url(), request);
    EXPECT_EQ(error.rfind("bad request", 0), 0u) << error;
    EXPECT_EQ(error.find("stolen"), std::string::npos) << "values are not echoed";
  }
  EXPECT_EQ(server.connections(), 0);
}

TEST_F(HttpClientTest, ANonPositiveTimeoutIsRefused) {
  FetchOptions options;
  options.timeout_ms = 0;
  EXPECT_NE(Failed(UrlOf(Loopback("127.0.0.1", 9)), Get("/"), options).find("timeout_ms"),
            std::string::npos);
}

}  // namespace
}  // namespace cv::http
