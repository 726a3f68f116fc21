// cvadmin for integration tests: the process (scratch store, token key and admin token), an
// admin API client, and a user with an Ed25519 identity who signs requests the way an app does.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "admin/token/ed25519.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"

namespace cv::testing {

class AdminProcess {
 public:
  static constexpr char kAdminToken[] = "admin-token-for-tests-0123456789";

  // Starts cvadmin with --listening-port=0 --admin-port=0 and scratch --db, --token-key-file and
  // --admin-token-file (unless `args` name them), then `args`. Waits for "server.ready".
  bool Start(const std::vector<std::string>& args,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  Process& process() { return process_; }
  SocketAddress client() const { return client_; }
  SocketAddress admin() const { return admin_; }
  std::string db() const { return state_.path() + "/cvadmin.db"; }
  const TempDir& state() const { return state_; }

  // An admin API request with the bearer token; the body is JSON text.
  std::optional<HttpResponse> Admin(const std::string& method, const std::string& target,
                                    const nlohmann::json& body = nullptr);
  // POST /admin/users; true on 201.
  bool CreateUser(const std::string& id, const std::string& tier, const std::string& public_key);
  // The value of one Prometheus sample line ("name{labels}") from /metrics; -1 when absent.
  double Metric(const std::string& series);

 private:
  TempDir state_;
  Process process_;
  SocketAddress client_, admin_;
};

// A user of the app: an identity key, and requests signed with it.
class AppUser {
 public:
  AppUser(std::string id, const SocketAddress& server);
  const std::string& id() const { return id_; }
  std::string public_key_b64() const;  // base64url, what POST /admin/users takes

  // A signed request; `skew_s` shifts the timestamp from now, `nonce` overrides a fresh one.
  std::optional<HttpResponse> Send(const std::string& method, const std::string& target,
                                   const nlohmann::json& body = nullptr, int64_t skew_s = 0,
                                   const std::string& nonce = "");
  // The raw headers of a signed request, for replaying it.
  std::vector<std::pair<std::string, std::string>> SignedHeaders(const std::string& method,
                                                                 const std::string& target,
                                                                 const std::string& body,
                                                                 int64_t skew_s = 0,
                                                                 const std::string& nonce = "");

 private:
  std::string id_;
  SocketAddress server_;
  token::Ed25519Key key_;
};

// The JSON body of a reply (null when it is not JSON).
nlohmann::json JsonBody(const std::optional<HttpResponse>& response);

}  // namespace cv::testing
