#include "admin/server/admin_api.h"

#include <functional>
#include <sstream>
#include <utility>

#include "relay/common/log.h"

namespace cv::admin {

namespace {

using json = nlohmann::json;

constexpr size_t kMinTokenBytes = 16;
constexpr size_t kMaxNameBytes = 32;
constexpr size_t kMaxAuditDetailBytes = 2048;

bool IsName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<Role> ParseRole(std::string_view text) {
  if (text == "viewer") return Role::kViewer;
  if (text == "operator") return Role::kOperator;
  if (text == "admin") return Role::kAdmin;
  return std::nullopt;
}

struct Context {
  const http::Request& request;
  const std::vector<std::string>& params;  // the path's {…} segments, in order
  const json& body;
  const std::map<std::string, std::string>& query;
  const AdminToken& caller;
};

struct Route {
  const char* method;
  const char* pattern;  // "/admin/users/{id}/tier": a {…} segment matches any one segment
  Role role;
  std::function<Reply(const Context&)> run;
};

std::vector<std::string> Segments(std::string_view pattern) {
  std::vector<std::string> out;
  size_t start = 1;
  while (start <= pattern.size()) {
    size_t end = pattern.find('/', start);
    if (end == std::string_view::npos) end = pattern.size();
    out.emplace_back(pattern.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Matches `path` against `pattern`, collecting the wildcard segments.
bool Match(const std::vector<std::string>& pattern, const std::vector<std::string>& path,
           std::vector<std::string>* params) {
  if (pattern.size() != path.size()) return false;
  params->clear();
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (!pattern[i].empty() && pattern[i][0] == '{') {
      params->push_back(path[i]);
    } else if (pattern[i] != path[i]) {
      return false;
    }
  }
  return true;
}

// The body as the audit log keeps it: identity keys shortened, bounded in size.
std::string AuditDetail(const json& body) {
  json copy = body;
  if (copy.is_object()) {
    if (auto key = copy.find("public_key"); key != copy.end() && key->is_string()) {
      *key = key->get<std::string>().substr(0, 8) + "…";
    }
  }
  std::string text = copy.is_null() ? "{}" : copy.dump();
  if (text.size() > kMaxAuditDetailBytes) {
    text = json{{"truncated", true}, {"bytes", text.size()}}.dump();
  }
  return text;
}

bool QueryFlag(const std::map<std::string, std::string>& query, const char* name) {
  auto it = query.find(name);
  return it != query.end() && (it->second == "1" || it->second == "true");
}

std::string QueryString(const std::map<std::string, std::string>& query, const char* name) {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

std::vector<Route> Routes(AdminService& s) {
  using C = const Context&;
  constexpr Role V = Role::kViewer, O = Role::kOperator, A = Role::kAdmin;
  return {
      {"GET", "/admin/users", V,
       [&s](C c) {
         int64_t limit = 100;
         const std::string text = QueryString(c.query, "limit");
         if (!text.empty()) {
           try {
             size_t used = 0;
             limit = std::stoll(text, &used);
             if (used != text.size()) limit = 0;
           } catch (...) {
             limit = 0;
           }
         }
         return s.ListUsers(QueryString(c.query, "tier"), QueryString(c.query, "after"), limit);
       }},
      {"POST", "/admin/users", O, [&s](C c) { return s.CreateUser(c.body, c.caller.name); }},
      {"GET", "/admin/users/{id}", V, [&s](C c) { return s.GetUser(c.params[0]); }},
      {"PUT", "/admin/users/{id}/key", O, [&s](C c) { return s.SetKey(c.params[0], c.body); }},
      {"POST", "/admin/users/{id}/tier", O,
       [&s](C c) { return s.SetTier(c.params[0], c.body, c.caller.name); }},
      {"POST", "/admin/users/{id}/mode", O, [&s](C c) { return s.SetMode(c.params[0], c.body); }},
      {"GET", "/admin/users/{id}/entitlements", V,
       [&s](C c) { return s.Entitlements(c.params[0]); }},
      {"GET", "/admin/users/{id}/flags", V,
       [&s](C c) { return s.ListSettings(c.params[0], SettingKind::kFlag); }},
      {"PUT", "/admin/users/{id}/flags/{feature}", O,
       [&s](C c) {
         return s.PutSetting(c.params[0], SettingKind::kFlag, c.params[1], c.body, c.caller.name);
       }},
      {"DELETE", "/admin/users/{id}/flags/{feature}", O,
       [&s](C c) { return s.RemoveSetting(c.params[0], SettingKind::kFlag, c.params[1]); }},
      {"GET", "/admin/users/{id}/overrides", V,
       [&s](C c) { return s.ListSettings(c.params[0], SettingKind::kOverride); }},
      {"PUT", "/admin/users/{id}/overrides/{key}", O,
       [&s](C c) {
         return s.PutSetting(c.params[0], SettingKind::kOverride, c.params[1], c.body,
                             c.caller.name);
       }},
      {"DELETE", "/admin/users/{id}/overrides/{key}", O,
       [&s](C c) { return s.RemoveSetting(c.params[0], SettingKind::kOverride, c.params[1]); }},
      {"GET", "/admin/users/{id}/grants", V,
       [&s](C c) { return s.ListGrants(c.params[0], QueryFlag(c.query, "all")); }},
      {"POST", "/admin/users/{id}/grants", O,
       [&s](C c) { return s.AddGrant(c.params[0], c.body, c.caller.name); }},
      {"DELETE", "/admin/users/{id}/grants/{grant}", O,
       [&s](C c) { return s.RemoveGrant(c.params[0], c.params[1], c.caller.name); }},
      {"GET", "/admin/users/{id}/lines", V, [&s](C c) { return s.ListLines(c.params[0]); }},
      {"POST", "/admin/users/{id}/lines", O, [&s](C c) { return s.AddLine(c.params[0], c.body); }},
      {"DELETE", "/admin/users/{id}/lines/{line}", O,
       [&s](C c) { return s.RemoveLine(c.params[0], c.params[1]); }},
      {"POST", "/admin/users/{id}/revoke", O,
       [&s](C c) { return s.Revoke("user", c.params[0], c.body, c.caller.name); }},
      {"DELETE", "/admin/users/{id}/revoke", O, [&s](C c) { return s.Lift("user", c.params[0]); }},
      {"GET", "/admin/sessions/{id}", V, [&s](C c) { return s.GetSession(c.params[0]); }},
      {"POST", "/admin/sessions/{id}/revoke", O,
       [&s](C c) { return s.Revoke("session", c.params[0], c.body, c.caller.name); }},
      {"DELETE", "/admin/sessions/{id}/revoke", O,
       [&s](C c) { return s.Lift("session", c.params[0]); }},
      {"GET", "/admin/revocations", V, [&s](C) { return s.ListRevocations(); }},
      {"GET", "/admin/allocations", V,
       [&s](C c) {
         return s.Allocations(QueryString(c.query, "user"), QueryString(c.query, "session"));
       }},
      {"GET", "/admin/reports/{name}", V, [&s](C c) { return s.Report(c.params[0], c.query); }},
      {"GET", "/admin/audit", V, [&s](C c) { return s.Audit(c.query); }},
      {"GET", "/admin/keys", V, [&s](C) { return s.Keys(); }},
      {"POST", "/admin/keys/token/rotate", A, [&s](C c) { return s.RotateTokenKey(c.body); }},
      {"POST", "/admin/secrets/turn/rotate", A, [&s](C c) { return s.RotateTurnSecret(c.body); }},
  };
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kOperator:
      return "operator";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

http::Response ToResponse(Reply reply) {
  if (reply.ok()) {
    if (reply.status == 204) return http::NoContent();
    return http::Json(reply.status, reply.body);
  }
  Refusal& r = *reply.refusal;
  json extra = r.extra.is_object() ? r.extra : json::object();
  if (r.retry_after_s > 0) extra["retry_after_s"] = r.retry_after_s;
  http::Response response = http::Problem(r.status, r.code, r.detail, extra);
  if (r.retry_after_s > 0) {
    response.headers.emplace_back("Retry-After", std::to_string(r.retry_after_s));
  }
  return response;
}

std::optional<std::vector<AdminToken>> ParseAdminTokens(std::string_view text,
                                                        std::string_view source,
                                                        std::string* error) {
  std::vector<AdminToken> tokens;
  std::istringstream in{std::string(text)};
  std::string line;
  int number = 0;
  auto fail = [&](const std::string& what) {
    *error = std::string(source) + ":" + std::to_string(number) + ": " + what;
    return std::nullopt;
  };
  while (std::getline(in, line)) {
    ++number;
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string word; fields >> word;) {
      if (word[0] == '#') break;
      f.push_back(std::move(word));
    }
    if (f.empty()) continue;
    AdminToken token;
    std::string secret;
    if (f.size() == 1) {
      token.name = "admin";
      secret = f[0];
    } else if (f.size() == 3) {
      auto role = ParseRole(f[0]);
      if (!role) return fail("the role must be viewer, operator or admin");
      if (!IsName(f[1])) return fail("the name must be 1-32 of [A-Za-z0-9._-]");
      token.role = *role;
      token.name = f[1];
      secret = f[2];
    } else {
      return fail("expected \"<role> <name> <token>\" or a bare token");
    }
    if (secret.size() < kMinTokenBytes) return fail("every token must be at least 16 bytes");
    token.digest = http::DigestToken(secret);
    for (const AdminToken& other : tokens) {
      if (other.name == token.name) return fail("the name \"" + token.name + "\" is used twice");
      if (other.digest == token.digest) return fail("the same token is listed twice");
    }
    tokens.push_back(std::move(token));
  }
  if (tokens.empty()) {
    *error = std::string(source) + ": no token in the file";
    return std::nullopt;
  }
  return tokens;
}

AdminApi::AdminApi(AdminService& service, AdminStore& store, AdminMetrics& metrics,
                   const Clock& clock, std::vector<AdminToken> tokens)
    : service_(service),
      store_(store),
      metrics_(metrics),
      clock_(clock),
      tokens_(std::move(tokens)) {}

const AdminToken* AdminApi::Authenticate(const http::Request& request) const {
  const AdminToken* found = nullptr;
  for (const AdminToken& token : tokens_) {
    // Every token is compared (constant time each), so the timing does not tell which matched.
    if (http::BearerMatches(request, token.digest) && found == nullptr) found = &token;
  }
  return found;
}

http::Response AdminApi::Handle(const http::Request& request, std::string* route) {
  const AdminToken* caller = Authenticate(request);
  if (caller == nullptr) {
    *route = "admin auth";
    return http::Unauthorized("cvadmin",
                              "a valid \"Authorization: Bearer\" admin token is required");
  }
  const Route* matched = nullptr;
  std::vector<std::string> params;
  std::string allow;
  const std::vector<Route> routes = Routes(service_);
  for (const Route& r : routes) {
    std::vector<std::string> p;
    if (!Match(Segments(r.pattern), request.path, &p)) continue;
    allow += (allow.empty() ? "" : ", ") + std::string(r.method);
    const bool same =
        request.method == r.method ||
        (request.method == "HEAD" && r.method[0] == 'G' && std::string_view(r.method) == "GET");
    if (same && matched == nullptr) {
      matched = &r;
      params = std::move(p);
    }
  }
  if (matched == nullptr) {
    if (!allow.empty()) return http::MethodNotAllowed(request, allow);
    return http::Problem(404, code::kNotFound, "no such resource");
  }
  *route = std::string(matched->method) + " " + matched->pattern;
  const bool changes = std::string_view(matched->method) != "GET";

  Reply reply;
  json body = json::object();
  auto query = http::ParseQuery(request.query);
  std::map<std::string, std::string> query_map;
  if (query) {
    for (auto& [k, v] : *query) query_map.emplace(std::move(k), std::move(v));
  }
  if (!request.body.empty()) {
    body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  }
  if (caller->role < matched->role) {
    Refusal r{403, code::kForbidden,
              std::string("this needs the ") + RoleName(matched->role) + " role; the token is " +
                  RoleName(caller->role),
              0, nullptr};
    r.extra = {{"required_role", RoleName(matched->role)}};
    reply = Reply::Refuse(std::move(r));
  } else if (!query) {
    reply = Reply::Refuse(BadRequest("the query string is malformed"));
  } else if (body.is_discarded()) {
    reply = Reply::Refuse(BadRequest("the body is not valid JSON"));
  } else {
    reply = matched->run(Context{request, params, body, query_map, *caller});
  }

  if (changes) {
    AuditEntry entry;
    entry.at_ms = clock_.UnixNowMs();
    entry.actor = caller->name;
    entry.role = RoleName(caller->role);
    entry.action = *route;
    entry.target = !params.empty() ? params[0]
                   : body.is_object() && body.contains("id") && body["id"].is_string()
                       ? body["id"].get<std::string>().substr(0, 64)
                       : "";
    entry.detail = AuditDetail(body.is_discarded() ? json(nullptr) : body);
    entry.status = reply.status;
    std::string error;
    if (store_.AppendAudit(&entry, &error) != StoreStatus::kOk) {
      metrics_.StoreError();
      CV_ERROR("admin.audit_failed", "why=%s", log::Quote(error).c_str());
    }
  }
  if (reply.ok() && reply.body.is_object() && reply.body.contains("csv")) {
    http::Response csv;
    csv.status = 200;
    csv.content_type = "text/csv; charset=utf-8";
    csv.body = reply.body["csv"].get<std::string>();
    return csv;
  }
  return ToResponse(std::move(reply));
}

}  // namespace cv::admin
