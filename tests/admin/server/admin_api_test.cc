// The admin API's roles and audit log: tokens from the file format, each route's role, and one
// audit entry per change attempt (allowed or refused), over a real SQLite store.
#include "admin/server/admin_api.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/support/process.h"

namespace cv::admin {
namespace {

using json = nlohmann::json;

constexpr char kAdmin[] = "admin-token-0123456789";
constexpr char kOperator[] = "operator-token-0123456789";
constexpr char kViewer[] = "viewer-token-0123456789";

TEST(ParseAdminTokens, ReadsRolesNamesAndBareTokens) {
  std::string error;
  auto tokens = ParseAdminTokens("# comment\n\nadmin ops " + std::string(kAdmin) +
                                     "\nviewer grafana " + kViewer + "  # trailing comment\n",
                                 "tokens", &error);
  ASSERT_TRUE(tokens) << error;
  ASSERT_EQ(tokens->size(), 2u);
  EXPECT_EQ((*tokens)[0].role, Role::kAdmin);
  EXPECT_EQ((*tokens)[1].name, "grafana");
  EXPECT_EQ((*tokens)[1].role, Role::kViewer);
  auto bare = ParseAdminTokens(kAdmin, "tokens", &error);
  ASSERT_TRUE(bare) << error;
  EXPECT_EQ((*bare)[0].name, "admin");
  EXPECT_EQ((*bare)[0].role, Role::kAdmin);
}

TEST(ParseAdminTokens, RefusesBadLinesWithoutQuotingTheToken) {
  const std::string secret = "secret-token-0123456789";
  for (const std::string& text : std::vector<std::string>{
           "root ops " + secret, "admin b@d " + secret, std::string("admin ops short"),
           std::string("admin ops"), "admin ops " + secret + "\nviewer ops other-token-0123456789",
           "admin a " + secret + "\nviewer b " + secret, std::string("# nothing\n")}) {
    std::string error;
    EXPECT_FALSE(ParseAdminTokens(text, "tokens", &error)) << text;
    EXPECT_EQ(error.find(secret), std::string::npos) << error;
    EXPECT_EQ(error.rfind("tokens", 0), 0u) << error;
  }
}

class AdminApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    store_ = OpenSqliteAdminStore(dir_.path() + "/admin.db", {}, &error);
    ASSERT_TRUE(store_) << error;
    auto key = token::Ed25519Key::Generate(&error);
    token::VerifyKey verify{token::JwkThumbprint(key->PublicKey()), key->PublicKey()};
    calls_ = std::make_unique<CallService>(
        *store_, clock_, metrics_, KeyRing{token::SigningKey{verify.kid, *key}, {verify}, {}},
        auth::Plans::Defaults(), std::vector<auth::Secret>{}, ServiceOptions{});
    admin_ = std::make_unique<AdminService>(*store_, *calls_, clock_, metrics_, nullptr, nullptr,
                                            AdminServiceOptions{});
    auto tokens = ParseAdminTokens(std::string("admin ops ") + kAdmin + "\noperator support " +
                                       kOperator + "\nviewer grafana " + kViewer,
                                   "tokens", &error);
    ASSERT_TRUE(tokens) << error;
    api_ = std::make_unique<AdminApi>(*admin_, *store_, metrics_, clock_, std::move(*tokens));
  }

  http::Response Send(const char* token, const std::string& method, const std::string& target,
                      const json& body = nullptr) {
    http::Request r;
    r.method = method;
    r.target = target;
    const size_t q = target.find('?');
    r.query = q == std::string::npos ? "" : target.substr(q + 1);
    const std::string path = target.substr(1, q == std::string::npos ? std::string::npos : q - 1);
    for (size_t start = 0; start <= path.size();) {
      size_t end = path.find('/', start);
      if (end == std::string::npos) end = path.size();
      r.path.push_back(path.substr(start, end - start));
      start = end + 1;
    }
    if (token != nullptr) r.headers.emplace_back("Authorization", std::string("Bearer ") + token);
    if (!body.is_null()) r.body = body.dump();
    std::string route;
    return api_->Handle(r, &route);
  }

  std::vector<AuditEntry> Audit() {
    std::vector<AuditEntry> entries;
    std::string error;
    EXPECT_EQ(store_->Audit(AuditFilter{}, &entries, &error), StoreStatus::kOk) << error;
    return entries;
  }

  testing::TempDir dir_;
  SimulatedClock clock_{1'763'726'400};
  AdminMetrics metrics_;
  std::unique_ptr<AdminStore> store_;
  std::unique_ptr<CallService> calls_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<AdminApi> api_;
};

TEST_F(AdminApiTest, EveryRouteNeedsAToken) {
  EXPECT_EQ(Send(nullptr, "GET", "/admin/users").status, 401);
  EXPECT_EQ(Send("wrong-token-0123456789", "GET", "/admin/users").status, 401);
  EXPECT_EQ(Send(nullptr, "POST", "/admin/users", {{"id", "x"}, {"tier", "pro"}}).status, 401);
  EXPECT_TRUE(Audit().empty());  // strangers leave no records
}

TEST_F(AdminApiTest, RolesAddUpAndRefusalsNameTheRoleNeeded) {
  EXPECT_EQ(Send(kOperator, "POST", "/admin/users", {{"id", "ann"}, {"tier", "pro"}}).status, 201);
  http::Response refused = Send(kViewer, "POST", "/admin/users/ann/tier", {{"tier", "free"}});
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(json::parse(refused.body)["required_role"], "operator");
  EXPECT_EQ(Send(kViewer, "GET", "/admin/users/ann").status, 200);
  EXPECT_EQ(Send(kViewer, "GET", "/admin/reports/token-health").status, 200);
  EXPECT_EQ(Send(kOperator, "POST", "/admin/keys/token/rotate", json::object()).status, 403);
  EXPECT_EQ(Send(kAdmin, "POST", "/admin/users/ann/mode", {{"mode", "stage"}}).status, 200);
  EXPECT_EQ(Send(kViewer, "DELETE", "/admin/users").status, 405);
  EXPECT_EQ(Send(kViewer, "GET", "/admin/nothing").status, 404);
}

TEST_F(AdminApiTest, EveryChangeAttemptIsAuditedWithoutTheIdentityKey) {
  const std::string key = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
  ASSERT_EQ(
      Send(kOperator, "POST", "/admin/users", {{"id", "bo"}, {"tier", "pro"}, {"public_key", key}})
          .status,
      201);
  ASSERT_EQ(Send(kViewer, "POST", "/admin/users/bo/tier", {{"tier", "free"}}).status, 403);
  ASSERT_EQ(Send(kOperator, "POST", "/admin/users/bo/tier", {{"tier", "platinum"}}).status, 400);
  ASSERT_EQ(Send(kViewer, "GET", "/admin/users/bo").status, 200);  // reads are not audited
  std::vector<AuditEntry> entries = Audit();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].actor, "support");
  EXPECT_EQ(entries[0].status, 400);
  EXPECT_EQ(entries[0].action, "POST /admin/users/{id}/tier");
  EXPECT_EQ(entries[0].target, "bo");
  EXPECT_EQ(entries[1].actor, "grafana");
  EXPECT_EQ(entries[1].role, "viewer");
  EXPECT_EQ(entries[1].status, 403);
  EXPECT_EQ(entries[2].action, "POST /admin/users");
  EXPECT_EQ(entries[2].detail.find(key), std::string::npos) << entries[2].detail;
  EXPECT_EQ(entries[2].at_ms, clock_.UnixNowMs());
  // The audit log reads back through the API, newest first.
  http::Response audit = Send(kViewer, "GET", "/admin/audit?actor=grafana");
  ASSERT_EQ(audit.status, 200) << audit.body;
  EXPECT_EQ(json::parse(audit.body)["entries"].size(), 1u);
}

TEST_F(AdminApiTest, UsageReportAsCsvIsServedAsText) {
  http::Response csv = Send(kViewer, "GET", "/admin/reports/usage?format=csv");
  ASSERT_EQ(csv.status, 200) << csv.body;
  EXPECT_EQ(csv.content_type, "text/csv; charset=utf-8");
  EXPECT_EQ(csv.body.rfind("period,user,calls,", 0), 0u) << csv.body;
}

}  // namespace
}  // namespace cv::admin
