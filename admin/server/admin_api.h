// The admin listener's requests (docs/admin-api.md): the bearer token names a role (viewer,
// operator, admin) and a name; each route needs a role; every request that changes something
// (any method but GET and HEAD) that a valid token made is written to the audit log, allowed or
// not, with the token's name, the route, the target and the body (identity keys shortened).
//
// Threading: cvadmin's event loop thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/service/admin_metrics.h"
#include "admin/service/admin_service.h"
#include "admin/store/admin_store.h"
#include "relay/common/clock.h"
#include "relay/common/http_server.h"

namespace cv::admin {

// A Reply as HTTP: the body as JSON, or the refusal as problem+json (with Retry-After).
http::Response ToResponse(Reply reply);

enum class Role : uint8_t { kViewer, kOperator, kAdmin };
const char* RoleName(Role role);  // "viewer", "operator", "admin"

struct AdminToken {
  Role role = Role::kAdmin;
  std::string name;
  http::TokenDigest digest{};
};

// Parses admin-token-file text: "<role> <name> <token>" lines, or a line with only a token (an
// admin token named "admin"); '#' comments and blank lines skipped. Tokens are at least 16 bytes,
// names 1-32 of [A-Za-z0-9._-] and unique, tokens unique. nullopt with `error` ("<source>:<line>:
// …", never the token).
std::optional<std::vector<AdminToken>> ParseAdminTokens(std::string_view text,
                                                        std::string_view source,
                                                        std::string* error);

class AdminApi {
 public:
  AdminApi(AdminService& service, AdminStore& store, AdminMetrics& metrics, const Clock& clock,
           std::vector<AdminToken> tokens);

  // Everything under /admin (the server answers /metrics, /healthz and /readyz itself, after
  // Authenticate for /metrics). *route is the route template, for metrics.
  http::Response Handle(const http::Request& request, std::string* route);
  // The token's holder, or nullptr.
  const AdminToken* Authenticate(const http::Request& request) const;

 private:
  AdminService& service_;
  AdminStore& store_;
  AdminMetrics& metrics_;
  const Clock& clock_;
  std::vector<AdminToken> tokens_;
};

}  // namespace cv::admin
