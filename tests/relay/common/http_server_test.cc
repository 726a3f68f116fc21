#include "relay/common/http_server.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/http_client.h"

namespace cv::http {
namespace {

using json = nlohmann::json;
using testing::HttpRaw;
using testing::HttpRequest;
using testing::HttpResponse;
using testing::ParseHttpResponse;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kToken[] = "0123456789abcdef-test-token";

Server::Config LocalConfig(uint16_t port = 0) {
  Server::Config config;
  config.address = SocketAddress{*IpAddress::Parse("127.0.0.1"), port};
  config.log_name = "test";
  return config;
}

Request WithHeaders(Headers headers) {
  Request r;
  r.method = "GET";
  r.headers = std::move(headers);
  return r;
}

json Body(const std::string& text) { return json::parse(text, nullptr, false); }

std::string HeaderOf(const HttpResponse& r, const std::string& lower_name) {
  auto it = r.headers.find(lower_name);
  return it == r.headers.end() ? "" : it->second;
}

void ExpectProblem(const HttpResponse& r, int status, const std::string& code) {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(HeaderOf(r, "content-type"), kProblemType);
  EXPECT_EQ(HeaderOf(r, "cache-control"), "no-store");
  json body = Body(r.body);
  ASSERT_TRUE(body.is_object()) << r.body;
  EXPECT_EQ(body.value("type", ""), "about:blank");
  EXPECT_EQ(body.value("title", ""), ReasonPhrase(status));
  EXPECT_EQ(body.value("status", 0), status);
  EXPECT_EQ(body.value("code", ""), code);
  EXPECT_TRUE(body["detail"].is_string());
}

class HttpServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the test
  }

  void TearDown() override { StopServer(); }

  // Starts a server on a loop thread of its own. Every request is recorded, then answered by
  // `respond` (default: 200 {"ok":true}).
  void StartServer(Server::Handler respond = nullptr, Server::Config config = LocalConfig()) {
    std::string error;
    loop_ = EventLoopThread::Create(&error);
    ASSERT_NE(loop_, nullptr) << error;
    server_ = Server::Start(
        loop_->base(), config,
        [this, respond](const Request& r) {
          {
            std::lock_guard<std::mutex> lock(mu_);
            requests_.push_back(r);
          }
          return respond ? respond(r) : Json(200, {{"ok", true}});
        },
        &error);
    ASSERT_NE(server_, nullptr) << error;
    loop_->Run();
  }

  void StopServer() {
    if (loop_ != nullptr) loop_->Stop();
    server_.reset();  // after Stop(): the loop thread is gone
    loop_.reset();
  }

  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

  HttpResponse Call(const std::string& method, const std::string& target,
                    const std::string& body = "", const Headers& headers = {}) {
    std::optional<HttpResponse> r = HttpRequest(server_->address(), method, target, body, headers);
    EXPECT_TRUE(r.has_value()) << method << " " << target << ": no reply";
    return r.value_or(HttpResponse{});
  }

  std::mutex mu_;
  std::vector<Request> requests_;
  std::unique_ptr<EventLoopThread> loop_;
  std::unique_ptr<Server> server_;
};

// --- Requests as the handler sees them -------------------------------------------------------

TEST_F(HttpServerTest, TheHandlerSeesMethodTargetPathQueryHeadersBodyAndPeer) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  HttpResponse r =
      Call("POST", "/v1/users/a%40b/x%2Fy?x=1&y=%20", "hello", {{"X-One", "1"}, {"X-Two", "two"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(HeaderOf(r, "content-type"), kJsonType);
  EXPECT_EQ(HeaderOf(r, "cache-control"), "no-store");
  EXPECT_EQ(Body(r.body), json({{"ok", true}}));

  std::vector<Request> seen = requests();
  ASSERT_EQ(seen.size(), 1u);
  const Request& q = seen[0];
  EXPECT_EQ(q.method, "POST");
  EXPECT_FALSE(q.IsHead());
  EXPECT_EQ(q.target, "/v1/users/a%40b/x%2Fy?x=1&y=%20");
  EXPECT_EQ(q.path, (std::vector<std::string>{"v1", "users", "a@b", "x/y"}));
  EXPECT_EQ(q.query, "x=1&y=%20");
  EXPECT_EQ(q.body, "hello");
  EXPECT_EQ(q.Header("x-one"), "1");
  EXPECT_EQ(q.Header("X-TWO"), "two");
  EXPECT_EQ(q.Header("X-Three"), std::nullopt);
  // In the order received.
  size_t one = q.headers.size(), two = q.headers.size();
  for (size_t i = 0; i < q.headers.size(); ++i) {
    if (q.headers[i].first == "X-One") one = i;
    if (q.headers[i].first == "X-Two") two = i;
  }
  ASSERT_LT(two, q.headers.size());
  EXPECT_LT(one, two);
  EXPECT_EQ(q.peer.ip, *IpAddress::Parse("127.0.0.1"));
  EXPECT_NE(q.peer.port, 0);
  EXPECT_NE(q.peer.port, server_->address().port);
}

TEST_F(HttpServerTest, PathSegmentsKeepEmptyOnesAndQueryIsEmptyWithoutOne) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Call("GET", "/");
  Call("GET", "/a//b/");
  std::vector<Request> seen = requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].path, std::vector<std::string>{""});
  EXPECT_EQ(seen[0].query, "");
  EXPECT_EQ(seen[1].path, (std::vector<std::string>{"a", "", "b", ""}));
}

TEST_F(HttpServerTest, ARepeatedHeaderReadsAsAbsent) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  Call("GET", "/x", "", {{"X-Token", "a"}, {"x-token", "b"}});
  std::vector<Request> seen = requests();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].Header("X-Token"), std::nullopt);
  size_t count = 0;
  for (const auto& [name, value] : seen[0].headers) count += name == "X-Token" || name == "x-token";
  EXPECT_EQ(count, 2u) << "both are still in the list";

  EXPECT_EQ(WithHeaders({{"a", "1"}, {"A", "2"}}).Header("a"), std::nullopt);
  EXPECT_EQ(WithHeaders({{"a", "1"}, {"b", "2"}}).Header("B"), "2");
}

// --- What the server does itself -------------------------------------------------------------

TEST_F(HttpServerTest, ABodyOverTheLimitIs413WithoutReachingTheHandler) {
  Server::Config config = LocalConfig();
  config.max_body_bytes = 1024;
  ASSERT_NO_FATAL_FAILURE(StartServer(nullptr, config));
  HttpResponse r = Call("POST", "/upload", std::string(1025, 'x'));
  ExpectProblem(r, 413, "PAYLOAD_TOO_LARGE");
  EXPECT_NE(Body(r.body).value("detail", "").find("1024"), std::string::npos) << r.body;
  EXPECT_TRUE(requests().empty());

  EXPECT_EQ(Call("POST", "/upload", std::string(1024, 'x')).status, 200);
  ASSERT_EQ(requests().size(), 1u);
  EXPECT_EQ(requests()[0].body.size(), 1024u);

  // Far over: libevent refuses it from Content-Length alone; the status is the same.
  EXPECT_EQ(Call("POST", "/upload", std::string(64 * 1024, 'x')).status, 413);
  EXPECT_EQ(requests().size(), 1u);
  EXPECT_EQ(Call("GET", "/still-serving").status, 200);
}

TEST_F(HttpServerTest, AReplyToHeadHasHeadersButNoBody) {
  ASSERT_NO_FATAL_FAILURE(StartServer([](const Request& r) {
    return Json(r.IsHead() ? 200 : 500, {{"hello", "world"}});
  }));
  std::optional<std::string> raw =
      HttpRaw(server_->address(), "HEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(raw.has_value());
  std::optional<HttpResponse> r = ParseHttpResponse(*raw, /*head=*/true);
  ASSERT_TRUE(r.has_value()) << *raw;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(HeaderOf(*r, "content-type"), kJsonType);
  EXPECT_EQ(HeaderOf(*r, "content-length"), std::to_string(Dump({{"hello", "world"}}).size()));
  EXPECT_EQ(raw->substr(raw->size() - 4), "\r\n\r\n") << "a body followed the headers";
  ASSERT_EQ(requests().size(), 1u);
  EXPECT_EQ(requests()[0].method, "HEAD");
}

TEST_F(HttpServerTest, AnExceptionInTheHandlerIs500AndTheServerKeepsServing) {
  ASSERT_NO_FATAL_FAILURE(StartServer([](const Request& r) -> Response {
    if (r.path[0] == "throw") throw std::runtime_error("handler bug");
    if (r.path[0] == "throw-int") throw 42;
    return NoContent();
  }));
  ExpectProblem(Call("GET", "/throw"), 500, "INTERNAL");
  ExpectProblem(Call("GET", "/throw-int"), 500, "INTERNAL");
  HttpResponse ok = Call("GET", "/fine");
  EXPECT_EQ(ok.status, 204);
  EXPECT_EQ(HeaderOf(ok, "content-type"), "") << "no body, no type";
  EXPECT_EQ(HeaderOf(ok, "cache-control"), "no-store");
}

TEST_F(HttpServerTest, ResponseHeadersAreSent) {
  ASSERT_NO_FATAL_FAILURE(StartServer([](const Request& r) {
    Response response = Json(201, {{"id", "a"}});
    response.headers.emplace_back("Location", "/things/a");
    response.headers.emplace_back("X-Method", r.method);
    return response;
  }));
  HttpResponse r = Call("PUT", "/things");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(HeaderOf(r, "location"), "/things/a");
  EXPECT_EQ(HeaderOf(r, "x-method"), "PUT");
}

TEST_F(HttpServerTest, EveryMethodReachesTheHandler) {
  ASSERT_NO_FATAL_FAILURE(
      StartServer([](const Request& r) { return MethodNotAllowed(r, "GET, POST"); }));
  for (const char* method : {"PUT", "DELETE", "PATCH", "OPTIONS"}) {
    SCOPED_TRACE(method);
    HttpResponse r = Call(method, "/x");
    ExpectProblem(r, 405, "METHOD_NOT_ALLOWED");
    EXPECT_EQ(HeaderOf(r, "allow"), "GET, POST");
  }
}

TEST_F(HttpServerTest, GarbageIsRefusedAndTheServerKeepsServing) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  for (std::string garbage :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET\r\n\r\n"),
        "GET /x HTTP/1.1\r\nX-Big: " + std::string(10000, 'b') + "\r\n\r\n"}) {
    SCOPED_TRACE(garbage.substr(0, 20));
    std::optional<std::string> raw = HttpRaw(server_->address(), garbage);
    ASSERT_TRUE(raw.has_value()) << "the connection was left open";
    if (!raw->empty()) {
      std::optional<HttpResponse> r = ParseHttpResponse(*raw);
      ASSERT_TRUE(r.has_value()) << *raw;
      EXPECT_GE(r->status, 400);
      EXPECT_LT(r->status, 500);
    }
  }
  EXPECT_TRUE(requests().empty());
  EXPECT_EQ(Call("GET", "/x").status, 200);
}

TEST_F(HttpServerTest, StartNamesTheAddressItCannotBind) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  uint16_t port = server_->address().port;
  std::string error;
  EXPECT_EQ(
      Server::Start(
          loop_->base(), LocalConfig(port), [](const Request&) { return NoContent(); }, &error),
      nullptr);
  EXPECT_EQ(error, "cannot bind 127.0.0.1:" + std::to_string(port) + ": Address already in use");

  Server::Config config = LocalConfig();
  config.request_timeout_s = 0;
  EXPECT_EQ(Server::Start(
                loop_->base(), config, [](const Request&) { return NoContent(); }, &error),
            nullptr);
  EXPECT_EQ(error, "request timeout must be positive");
}

// --- Replies ---------------------------------------------------------------------------------

TEST(HttpReplyTest, ProblemIsRfc9457WithACodeAndExtraMembers) {
  Response r = Problem(429, "RATE_LIMITED", "slow down",
                       {{"retry_after_s", 3}, {"status", 999}, {"code", "FORGED"}});
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.content_type, kProblemType);
  EXPECT_EQ(Body(r.body), json({{"type", "about:blank"},
                                {"title", "Too Many Requests"},
                                {"status", 429},
                                {"code", "RATE_LIMITED"},
                                {"detail", "slow down"},
                                {"retry_after_s", 3}}));

  Response plain = Problem(404, "NOT_FOUND", "no such resource");
  EXPECT_EQ(Body(plain.body).size(), 5u);
  EXPECT_EQ(Body(plain.body)["title"], "Not Found");
}

TEST(HttpReplyTest, JsonRepairsInvalidUtf8InsteadOfThrowing) {
  Response r = Json(200, {{"user", std::string("a\xff") + "b"}});
  EXPECT_EQ(r.content_type, kJsonType);
  EXPECT_EQ(Body(r.body)["user"],
            "a\xEF\xBF\xBD"
            "b");
}

TEST(HttpReplyTest, MethodNotAllowedNamesTheMethodAndCarriesAllow) {
  Request request;
  request.method = "PATCH";
  Response r = MethodNotAllowed(request, "GET, POST");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers, (Headers{{"Allow", "GET, POST"}}));
  EXPECT_EQ(Body(r.body)["detail"], "PATCH is not allowed here; use GET, POST");
  EXPECT_EQ(Body(r.body)["code"], "METHOD_NOT_ALLOWED");
}

TEST(HttpReplyTest, UnauthorizedChallengesForABearerToken) {
  Response r = Unauthorized("cvadmin", "a token is required");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.headers, (Headers{{"WWW-Authenticate", "Bearer realm=\"cvadmin\""}}));
  EXPECT_EQ(Body(r.body)["code"], "UNAUTHORIZED");
}

TEST(HttpReplyTest, NoContentHasNeitherBodyNorType) {
  Response r = NoContent();
  EXPECT_EQ(r.status, 204);
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(r.content_type.empty());
}

// --- Bearer tokens ---------------------------------------------------------------------------

TEST(BearerTest, OnlyTheRightTokenOnceWithTheBearerSchemeMatches) {
  const TokenDigest expected = DigestToken(kToken);
  const std::string token = kToken;
  auto matches = [&](Headers headers) { return BearerMatches(WithHeaders(headers), expected); };

  EXPECT_TRUE(matches({{"Authorization", "Bearer " + token}}));
  EXPECT_TRUE(matches({{"authorization", "bearer " + token}}));
  EXPECT_TRUE(matches({{"Authorization", "BEARER   " + token}}));

  std::string wrong_same_length = token;
  wrong_same_length.back() ^= 1;
  EXPECT_FALSE(matches({}));
  EXPECT_FALSE(matches({{"Authorization", "Bearer " + wrong_same_length}}));
  EXPECT_FALSE(matches({{"Authorization", "Bearer " + token.substr(1)}}));
  EXPECT_FALSE(matches({{"Authorization", "Bearer " + token + "x"}}));
  EXPECT_FALSE(matches({{"Authorization", "Basic " + token}}));
  EXPECT_FALSE(matches({{"Authorization", token}}));
  EXPECT_FALSE(matches({{"Authorization", "Bearer" + token}}));
  EXPECT_FALSE(matches({{"Authorization", "Bearer "}}));
  EXPECT_FALSE(matches({{"X-Authorization", "Bearer " + token}}));
  // Twice, even when one of them is right.
  EXPECT_FALSE(
      matches({{"Authorization", "Bearer " + token}, {"Authorization", "Bearer " + token}}));
  EXPECT_FALSE(matches({{"Authorization", "Bearer wrong"}, {"Authorization", "Bearer " + token}}));
}

TEST(BearerTest, TheTokenIsWhatFollowsTheScheme) {
  EXPECT_EQ(BearerToken(WithHeaders({{"Authorization", "Bearer  abc.def"}})), "abc.def");
  EXPECT_EQ(BearerToken(WithHeaders({{"Authorization", "Bearer"}})), std::nullopt);
  EXPECT_EQ(BearerToken(WithHeaders({{"Authorization", "Bearerabc"}})), std::nullopt);
  EXPECT_NE(DigestToken("a"), DigestToken("b"));
  EXPECT_EQ(DigestToken("a"), DigestToken("a"));
}

// --- Query strings ---------------------------------------------------------------------------

TEST(ParseQueryTest, SplitsAndDecodesPairs) {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(ParseQuery(""), Pairs{});
  EXPECT_EQ(ParseQuery("a=1&b=%40x&&c&d=e+f&e=&%66=%2B&"),
            (Pairs{{"a", "1"}, {"b", "@x"}, {"c", ""}, {"d", "e+f"}, {"e", ""}, {"f", "+"}}));
  EXPECT_EQ(ParseQuery("a=1&a=2"), (Pairs{{"a", "1"}, {"a", "2"}})) << "repeats are the caller's";
  EXPECT_EQ(ParseQuery("n=%00"), (Pairs{{"n", std::string(1, '\0')}})) << "kept for validation";
  EXPECT_EQ(ParseQuery("x=a=b"), (Pairs{{"x", "a=b"}}));
}

TEST(ParseQueryTest, MalformedQueriesAreRefused) {
  for (const char* query : {"a=%zz", "a=%4", "a=%", "%g1=1", "=x", "a=1&=2", "a=1&b=%"}) {
    SCOPED_TRACE(query);
    EXPECT_EQ(ParseQuery(query), std::nullopt);
  }
}

// --- The loop thread -------------------------------------------------------------------------

TEST_F(HttpServerTest, StopIsIdempotentAndThePortCanBeBoundAgain) {
  ASSERT_NO_FATAL_FAILURE(StartServer());
  SocketAddress address = server_->address();
  EXPECT_NE(address.port, 0);
  EXPECT_EQ(Call("GET", "/x").status, 200);

  loop_->Stop();
  loop_->Stop();
  server_.reset();
  loop_->Stop();
  loop_.reset();
  EXPECT_FALSE(HttpRequest(address, "GET", "/x").has_value());

  ASSERT_NO_FATAL_FAILURE(StartServer(nullptr, LocalConfig(address.port)));
  EXPECT_EQ(server_->address(), address);
  EXPECT_EQ(Call("GET", "/x").status, 200);
}

TEST_F(HttpServerTest, StopBeforeRunAndWithoutAServerIsHarmless) {
  std::string error;
  std::unique_ptr<EventLoopThread> loop = EventLoopThread::Create(&error);
  ASSERT_NE(loop, nullptr) << error;
  loop->Stop();
  loop->Run();
  loop->Stop();
  loop->Stop();
}

TEST_F(HttpServerTest, StopFromTheLoopThreadOnlyBreaksTheLoop) {
  std::mutex mu;
  std::condition_variable cv;
  bool stopped_inside = false;
  ASSERT_NO_FATAL_FAILURE(StartServer([&](const Request&) {
    loop_->Stop();  // must not try to join its own thread
    std::lock_guard<std::mutex> lock(mu);
    stopped_inside = true;
    cv.notify_all();
    return NoContent();
  }));
  std::thread client([address = server_->address()] { HttpRequest(address, "GET", "/stop"); });
  {
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(5), [&] { return stopped_inside; }));
  }
  StopServer();  // joins; freeing the server closes the client's connection
  client.join();
}

TEST_F(HttpServerTest, AnIdleConnectionIsClosedAfterTheRequestTimeout) {
  Server::Config config = LocalConfig();
  config.request_timeout_s = 1;
  ASSERT_NO_FATAL_FAILURE(StartServer(nullptr, config));
  auto start = std::chrono::steady_clock::now();
  std::optional<std::string> raw =
      HttpRaw(server_->address(), "GET /x HTTP/1.1\r\nHost: x\r\n", std::chrono::seconds(5));
  EXPECT_TRUE(raw.has_value()) << "the server kept the connection open";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

// --- TLS -------------------------------------------------------------------------------------

template <auto Free>
struct Freer {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Freer<EVP_PKEY_free>>;
using CertPtr = std::unique_ptr<X509, Freer<X509_free>>;
using CtxPtr = std::unique_ptr<SSL_CTX, Freer<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Freer<SSL_free>>;

// A P-256 key and a self-signed certificate for "localhost", valid for an hour.
struct Identity {
  KeyPtr key;
  CertPtr cert;
};

Identity SelfSigned(const char* common_name) {
  Identity id;
  id.key.reset(EVP_EC_gen("P-256"));
  id.cert.reset(X509_new());
  if (!id.key || !id.cert) return {};
  X509* x = id.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, id.key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "DNS:localhost");
  if (san == nullptr || X509_add_ext(x, san, -1) != 1) return {};
  X509_EXTENSION_free(san);
  if (X509_sign(x, id.key.get(), EVP_sha256()) == 0) return {};
  return id;
}

CtxPtr ServerContext(const Identity& id) {
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx || SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1 ||
      SSL_CTX_use_certificate(ctx.get(), id.cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), id.key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return nullptr;
  }
  return ctx;
}

struct TlsExchange {
  bool verified = false;  // the handshake completed and the certificate checked out
  CertPtr server_cert;
  std::string received;  // everything read until the server closed
};

// A real TLS client: TCP connect, SSL_connect trusting `trust` for "localhost", one request, and
// the reply read until the connection ends. Every socket step is bounded by five seconds.
TlsExchange TlsExchangeWith(const SocketAddress& server, X509* trust, const std::string& request) {
  TlsExchange out;
  sockaddr_storage ss{};
  socklen_t len = server.ToSockaddr(&ss);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return out;
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    close(fd);
    return out;
  }
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  SslPtr ssl(ctx ? SSL_new(ctx.get()) : nullptr);
  if (ssl && X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), trust) == 1) {
    SSL_set_verify(ssl.get(), SSL_VERIFY_PEER, nullptr);
    SSL_set_tlsext_host_name(ssl.get(), "localhost");
    SSL_set1_host(ssl.get(), "localhost");
    SSL_set_fd(ssl.get(), fd);
    if (SSL_connect(ssl.get()) == 1 && SSL_get_verify_result(ssl.get()) == X509_V_OK) {
      out.verified = true;
      out.server_cert.reset(SSL_get1_peer_certificate(ssl.get()));
      if (SSL_write(ssl.get(), request.data(), static_cast<int>(request.size())) ==
          static_cast<int>(request.size())) {
        char buf[4096];
        int n;
        while ((n = SSL_read(ssl.get(), buf, sizeof(buf))) > 0) out.received.append(buf, n);
      }
    }
  }
  ssl.reset();
  close(fd);
  return out;
}

class HttpServerTlsTest : public HttpServerTest {
 protected:
  void SetUp() override {
    identity_ = SelfSigned("localhost");
    ASSERT_TRUE(identity_.cert != nullptr);
    tls_ = ServerContext(identity_);
    ASSERT_TRUE(tls_ != nullptr);
    Server::Config config = LocalConfig();
    config.tls = tls_.get();
    ASSERT_NO_FATAL_FAILURE(StartServer(
        [](const Request& r) {
          Response response{200, "text/plain", "secret for " + r.target, {}};
          return response;
        },
        config));
  }
  // The contexts outlive the server: TearDown stops it first.
  void TearDown() override { StopServer(); }

  static constexpr char kRequest[] =
      "GET /tls?x=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

  Identity identity_;
  CtxPtr tls_;
};

TEST_F(HttpServerTlsTest, ARequestOverTlsGetsItsReply) {
  TlsExchange exchange = TlsExchangeWith(server_->address(), identity_.cert.get(), kRequest);
  ASSERT_TRUE(exchange.verified);
  std::optional<HttpResponse> r = ParseHttpResponse(exchange.received);
  ASSERT_TRUE(r.has_value()) << exchange.received;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "secret for /tls?x=1");
  EXPECT_EQ(HeaderOf(*r, "content-type"), "text/plain");
  ASSERT_EQ(requests().size(), 1u);
  EXPECT_EQ(requests()[0].path, std::vector<std::string>{"tls"});
  EXPECT_EQ(requests()[0].query, "x=1");
  EXPECT_EQ(requests()[0].peer.ip, *IpAddress::Parse("127.0.0.1"));
}

TEST_F(HttpServerTlsTest, PlainHttpToTheTlsPortIsNotServed) {
  std::optional<std::string> raw =
      HttpRaw(server_->address(), "GET /tls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(raw.has_value()) << "the failed handshake left the connection open";
  EXPECT_EQ(raw->find("HTTP/1.1 200"), std::string::npos) << *raw;
  EXPECT_EQ(raw->find("secret"), std::string::npos) << *raw;
  EXPECT_TRUE(requests().empty());
  // And TLS still works.
  TlsExchange exchange = TlsExchangeWith(server_->address(), identity_.cert.get(), kRequest);
  EXPECT_TRUE(exchange.verified);
  EXPECT_NE(exchange.received.find("HTTP/1.1 200"), std::string::npos) << exchange.received;
}

TEST_F(HttpServerTlsTest, AHandshakeThatNeverFinishesTimesOut) {
  StopServer();
  Server::Config config = LocalConfig();
  config.tls = tls_.get();
  config.request_timeout_s = 1;
  ASSERT_NO_FATAL_FAILURE(StartServer(nullptr, config));
  auto start = std::chrono::steady_clock::now();
  // The first bytes of a ClientHello record, and then silence.
  std::optional<std::string> raw =
      HttpRaw(server_->address(), std::string("\x16\x03\x01\x02\x00", 5), std::chrono::seconds(5));
  EXPECT_TRUE(raw.has_value()) << "the server kept the connection open";
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
  EXPECT_TRUE(requests().empty());
}

TEST_F(HttpServerTlsTest, ANewContextServesNewConnections) {
  Identity renewed = SelfSigned("localhost");
  ASSERT_TRUE(renewed.cert != nullptr);
  CtxPtr renewed_tls = ServerContext(renewed);
  ASSERT_TRUE(renewed_tls != nullptr);

  TlsExchange before = TlsExchangeWith(server_->address(), identity_.cert.get(), kRequest);
  ASSERT_TRUE(before.verified);
  EXPECT_EQ(X509_cmp(before.server_cert.get(), identity_.cert.get()), 0);

  // The server belongs to the loop thread; swap the context there while the loop is stopped.
  loop_->Stop();
  server_->SetTlsContext(renewed_tls.get());
  loop_->Run();

  TlsExchange after = TlsExchangeWith(server_->address(), renewed.cert.get(), kRequest);
  ASSERT_TRUE(after.verified);
  EXPECT_EQ(X509_cmp(after.server_cert.get(), renewed.cert.get()), 0);
  EXPECT_NE(after.received.find("secret for /tls"), std::string::npos) << after.received;
  // The old certificate is not trusted for the new one.
  EXPECT_FALSE(TlsExchangeWith(server_->address(), identity_.cert.get(), kRequest).verified);
  StopServer();  // before renewed_tls goes
}

}  // namespace
}  // namespace cv::http
