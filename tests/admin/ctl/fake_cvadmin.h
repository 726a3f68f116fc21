// Stand-ins for cvadmin in cvctl's tests, behind one interface so a test can run against both:
//   FakeTransport  an in-process Fetcher: no sockets, records the http::ClientRequest;
//   FakeCvadmin    a real cv::http::Server on 127.0.0.1 (port 0, a loop thread of its own) that
//                  cvctl reaches through http::Fetch; records the http::Request as it arrived.
// Both answer every request with the canned answer set last (default 200 {}).
// InProcessCvctl runs the whole command line (RunCvctl) with either of them.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "admin/ctl/api_call.h"
#include "relay/common/http_server.h"
#include "tests/support/process.h"

namespace cv::ctl::testing {

// A request as cvadmin saw it.
struct Seen {
  std::string method;
  std::string target;  // path and query, as sent
  std::string path;    // before '?'
  std::string query;   // after '?', "" when none
  std::string body;
  std::string authorization;  // "" when absent
  std::string accept;
};

struct Canned {
  int status = 200;
  std::string content_type = "application/json";
  std::string body = "{}";
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string url() const = 0;
  virtual Fetcher fetcher() = 0;
  virtual std::string name() const = 0;

  void Answer(Canned canned);
  void Answer(int status, const std::string& body,
              const std::string& content_type = "application/json");
  std::vector<Seen> seen();

 protected:
  Canned canned();
  void Record(Seen seen);

 private:
  std::mutex mu_;
  Canned canned_;
  std::vector<Seen> seen_;
};

class FakeTransport final : public Backend {
 public:
  std::string url() const override { return "http://cvadmin.test:9651"; }
  Fetcher fetcher() override;
  std::string name() const override { return "fake transport"; }

  // The next fetches fail with `error` (no answer) while it is not empty.
  void FailWith(std::string error) { error_ = std::move(error); }
  int last_timeout_ms() const { return last_timeout_ms_; }

 private:
  std::string error_;
  int last_timeout_ms_ = 0;
};

class FakeCvadmin final : public Backend {
 public:
  // nullptr with `error` when the server cannot start.
  static std::unique_ptr<FakeCvadmin> Start(std::string* error);
  ~FakeCvadmin() override;

  std::string url() const override;
  Fetcher fetcher() override;
  std::string name() const override { return "HTTP server"; }

 private:
  FakeCvadmin() = default;
  std::unique_ptr<http::EventLoopThread> loop_;
  std::unique_ptr<http::Server> server_;
};

inline constexpr char kTestToken[] = "cvctl-test-token-0123456789abcdef";

struct Outcome {
  int exit_code = -1;
  std::string out, err;
};

// cvctl run in-process, with an environment that holds only `vars`: HOME and the system config
// path point into a scratch directory, so the machine's own files and variables play no part.
class InProcessCvctl {
 public:
  InProcessCvctl();

  // Runs `args` (without "cvctl"); every output is checked for the token.
  Outcome Run(const std::vector<std::string>& args, const Fetcher& fetch);
  // The connection flags for `backend` followed by `args`.
  Outcome Run(Backend& backend, std::vector<std::string> args);

  const cv::testing::TempDir& dir() const { return dir_; }
  // A mode-600 file holding kTestToken.
  const std::string& token_file() const { return token_file_; }

  std::map<std::string, std::string> vars;
  std::string system_config;

 private:
  cv::testing::TempDir dir_;
  std::string token_file_;
};

}  // namespace cv::ctl::testing
