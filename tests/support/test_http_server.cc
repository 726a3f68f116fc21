#include "tests/support/test_http_server.h"

#include <utility>

namespace cv::testing {

http::Server::Config TestHttpServer::LoopbackConfig() {
  http::Server::Config config;
  config.address = SocketAddress{*IpAddress::Parse("127.0.0.1"), 0};
  config.log_name = "test-http";
  return config;
}

std::unique_ptr<TestHttpServer> TestHttpServer::Start(http::Server::Handler respond,
                                                      std::string* error,
                                                      http::Server::Config config) {
  std::unique_ptr<TestHttpServer> s(new TestHttpServer());
  s->loop_ = http::EventLoopThread::Create(error);
  if (s->loop_ == nullptr) return nullptr;
  TestHttpServer* self = s.get();
  s->server_ = http::Server::Start(
      s->loop_->base(), config,
      [self, respond = std::move(respond)](const http::Request& r) {
        {
          std::lock_guard<std::mutex> lock(self->mu_);
          self->requests_.push_back(r);
        }
        return respond(r);
      },
      error);
  if (s->server_ == nullptr) return nullptr;
  s->loop_->Run();
  return s;
}

TestHttpServer::~TestHttpServer() { Stop(); }

void TestHttpServer::Stop() {
  if (loop_ != nullptr) loop_->Stop();
  server_.reset();  // after Stop(): the loop thread is gone
}

std::string TestHttpServer::url() const {
  const SocketAddress a = address();
  return "http://" + a.ToString();
}

std::vector<http::Request> TestHttpServer::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

}  // namespace cv::testing
