// An HTTP server for tests that need someone to talk to (a relay's control endpoint, cvadmin's
// admin API, any JSON API): cv::http::Server on a loop thread of its own, bound to loopback on a
// port the kernel picks. Every request is recorded, then answered by the handler (called on the
// loop thread).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "relay/common/http_server.h"

namespace cv::testing {

class TestHttpServer {
 public:
  // 127.0.0.1, port 0.
  static http::Server::Config LoopbackConfig();

  // nullptr with `error` when the loop or the listener cannot be made.
  static std::unique_ptr<TestHttpServer> Start(http::Server::Handler respond, std::string* error,
                                               http::Server::Config config = LoopbackConfig());
  ~TestHttpServer();  // Stop()
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  SocketAddress address() const { return server_->address(); }
  // "http://127.0.0.1:<port>" ("http://[::1]:<port>" on IPv6).
  std::string url() const;
  std::vector<http::Request> requests() const;
  // Stops the loop thread and closes the listener (idempotent).
  void Stop();

 private:
  TestHttpServer() = default;

  std::unique_ptr<http::EventLoopThread> loop_;
  std::unique_ptr<http::Server> server_;
  mutable std::mutex mu_;
  std::vector<http::Request> requests_;
};

}  // namespace cv::testing
