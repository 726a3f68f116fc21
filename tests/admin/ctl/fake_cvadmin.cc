#include "tests/admin/ctl/fake_cvadmin.h"

#include <gtest/gtest.h>
#include <strings.h>
#include <sys/stat.h>

#include <sstream>

#include "admin/ctl/cli.h"

namespace cv::ctl::testing {
namespace {

std::pair<std::string, std::string> SplitTarget(const std::string& target) {
  const size_t q = target.find('?');
  if (q == std::string::npos) return {target, ""};
  return {target.substr(0, q), target.substr(q + 1)};
}

std::string HeaderOf(const std::vector<std::pair<std::string, std::string>>& headers,
                     const char* name) {
  for (const auto& [n, v] : headers) {
    if (strcasecmp(n.c_str(), name) == 0) return v;
  }
  return "";
}

}  // namespace

void Backend::Answer(Canned canned) {
  std::lock_guard<std::mutex> lock(mu_);
  canned_ = std::move(canned);
}

void Backend::Answer(int status, const std::string& body, const std::string& content_type) {
  Answer(Canned{status, content_type, body});
}

std::vector<Seen> Backend::seen() {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_;
}

Canned Backend::canned() {
  std::lock_guard<std::mutex> lock(mu_);
  return canned_;
}

void Backend::Record(Seen seen) {
  std::lock_guard<std::mutex> lock(mu_);
  seen_.push_back(std::move(seen));
}

Fetcher FakeTransport::fetcher() {
  return [this](const http::Url& url, const http::ClientRequest& request,
                const http::FetchOptions& options,
                std::string* error) -> std::optional<http::ClientResponse> {
    last_timeout_ms_ = options.timeout_ms;
    Seen seen;
    seen.method = request.method;
    seen.target = url.base + request.target;
    std::tie(seen.path, seen.query) = SplitTarget(seen.target);
    seen.body = request.body;
    seen.authorization = HeaderOf(request.headers, "Authorization");
    seen.accept = HeaderOf(request.headers, "Accept");
    Record(std::move(seen));
    if (!error_.empty()) {
      *error = error_;
      return std::nullopt;
    }
    const Canned c = canned();
    http::ClientResponse response;
    response.status = c.status;
    if (c.status != 204) {
      response.headers.emplace_back("Content-Type", c.content_type);
      response.body = c.body;
    }
    return response;
  };
}

std::unique_ptr<FakeCvadmin> FakeCvadmin::Start(std::string* error) {
  std::unique_ptr<FakeCvadmin> fake(new FakeCvadmin());
  fake->loop_ = http::EventLoopThread::Create(error);
  if (fake->loop_ == nullptr) return nullptr;
  http::Server::Config config;
  config.address = SocketAddress{*IpAddress::Parse("127.0.0.1"), 0};
  config.log_name = "fake_cvadmin";
  FakeCvadmin* self = fake.get();
  fake->server_ = http::Server::Start(
      fake->loop_->base(), config,
      [self](const http::Request& r) {
        Seen seen;
        seen.method = r.method;
        seen.target = r.target;
        seen.path = SplitTarget(r.target).first;
        seen.query = r.query;
        seen.body = r.body;
        seen.authorization = std::string(r.Header("Authorization").value_or(""));
        seen.accept = std::string(r.Header("Accept").value_or(""));
        self->Record(std::move(seen));
        const Canned c = self->canned();
        if (c.status == 204) return http::NoContent();
        return http::Response{c.status, c.content_type, c.body, {}};
      },
      error);
  if (fake->server_ == nullptr) return nullptr;
  fake->loop_->Run();
  return fake;
}

FakeCvadmin::~FakeCvadmin() {
  if (loop_ != nullptr) loop_->Stop();
  server_.reset();  // after Stop(): the loop thread is gone
}

std::string FakeCvadmin::url() const {
  return "http://127.0.0.1:" + std::to_string(server_->address().port);
}

Fetcher FakeCvadmin::fetcher() { return http::Fetch; }

InProcessCvctl::InProcessCvctl() {
  vars["HOME"] = dir_.path() + "/home";
  system_config = dir_.path() + "/etc/cvctl.conf";
  token_file_ = dir_.Write("token", std::string(kTestToken) + "\n");
  ::chmod(token_file_.c_str(), 0600);
}

Outcome InProcessCvctl::Run(const std::vector<std::string>& args, const Fetcher& fetch) {
  std::ostringstream out, err;
  Environment env;
  env.get = [vars = vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  env.system_config = system_config;
  CommandContext ctx(out, err, fetch, env);
  Outcome outcome;
  outcome.exit_code = RunCvctl(args, ctx, [] { return int64_t{1'800'000'000}; });
  outcome.out = out.str();
  outcome.err = err.str();
  EXPECT_EQ(outcome.out.find(kTestToken), std::string::npos) << "the token leaked: " << outcome.out;
  EXPECT_EQ(outcome.err.find(kTestToken), std::string::npos) << "the token leaked: " << outcome.err;
  return outcome;
}

Outcome InProcessCvctl::Run(Backend& backend, std::vector<std::string> args) {
  args.insert(args.begin(), {"--url", backend.url(), "--token-file", token_file_});
  return Run(args, backend.fetcher());
}

}  // namespace cv::ctl::testing
