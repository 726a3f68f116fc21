#include "admin/ctl/api_call.h"

#include <gtest/gtest.h>

#include <sstream>

#include "tests/admin/ctl/fake_cvadmin.h"

namespace cv::ctl {
namespace {

using Json = nlohmann::json;
using testing::FakeTransport;
using testing::Seen;

constexpr char kToken[] = "api-call-test-token-0123456789";

class CvctlApiCallTest : public ::testing::Test {
 protected:
  CvctlApiCallTest() {
    std::string error;
    settings_.url = *http::Url::Parse(transport_.url(), &error);
    settings_.token = kToken;
  }

  int Run(const ApiCall& call) {
    out_.str("");
    err_.str("");
    const int code = RunApiCall(call, settings_, transport_.fetcher(), out_, err_);
    EXPECT_EQ(out_.str().find(kToken), std::string::npos) << "the token leaked: " << out_.str();
    EXPECT_EQ(err_.str().find(kToken), std::string::npos) << "the token leaked: " << err_.str();
    return code;
  }

  static ApiCall Get(std::string target) {
    ApiCall call;
    call.target = std::move(target);
    return call;
  }

  FakeTransport transport_;
  Settings settings_;
  std::ostringstream out_, err_;
};

TEST_F(CvctlApiCallTest, StatusesMapToTheDocumentedExitCodes) {
  EXPECT_EQ(ExitCodeForStatus(200), kExitOk);
  EXPECT_EQ(ExitCodeForStatus(201), kExitOk);
  EXPECT_EQ(ExitCodeForStatus(204), kExitOk);
  EXPECT_EQ(ExitCodeForStatus(400), kExitRefused);
  EXPECT_EQ(ExitCodeForStatus(405), kExitRefused);
  EXPECT_EQ(ExitCodeForStatus(409), kExitRefused);
  EXPECT_EQ(ExitCodeForStatus(413), kExitRefused);
  EXPECT_EQ(ExitCodeForStatus(401), kExitNotAuthorised);
  EXPECT_EQ(ExitCodeForStatus(403), kExitNotAuthorised);
  EXPECT_EQ(ExitCodeForStatus(404), kExitNotFound);
  EXPECT_EQ(ExitCodeForStatus(500), kExitUnavailable);
  EXPECT_EQ(ExitCodeForStatus(503), kExitUnavailable);
  EXPECT_EQ(ExitCodeForStatus(302), kExitUnavailable);
  EXPECT_EQ(std::vector<int>({kExitOk, kExitRefused, kExitUsage, kExitNotFound, kExitNotAuthorised,
                              kExitUnavailable}),
            std::vector<int>({0, 1, 2, 3, 4, 5}));
}

TEST_F(CvctlApiCallTest, SendsTheTokenAsABearerAndTheBodyAsJson) {
  ApiCall call;
  call.method = "POST";
  call.target = "/admin/users/alice/tier";
  call.body = nlohmann::ordered_json{{"tier", "pro"}, {"trial_ends_at", 5}};
  settings_.timeout_s = 3;
  EXPECT_EQ(Run(call), kExitOk);
  ASSERT_EQ(transport_.seen().size(), 1u);
  const Seen seen = transport_.seen()[0];
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.target, "/admin/users/alice/tier");
  EXPECT_EQ(seen.body, R"({"tier":"pro","trial_ends_at":5})");
  EXPECT_EQ(seen.authorization, std::string("Bearer ") + kToken);
  EXPECT_EQ(seen.accept, "application/json");
  EXPECT_EQ(transport_.last_timeout_ms(), 3000);
}

TEST_F(CvctlApiCallTest, PostWithoutABodySendsAnEmptyObjectAndGetSendsNothing) {
  ApiCall post;
  post.method = "POST";
  post.target = "/admin/keys/token/rotate";
  Run(post);
  Run(Get("/admin/keys"));
  ApiCall del;
  del.method = "DELETE";
  del.target = "/admin/users/a/flags/x";
  Run(del);
  ASSERT_EQ(transport_.seen().size(), 3u);
  EXPECT_EQ(transport_.seen()[0].body, "{}");
  EXPECT_EQ(transport_.seen()[1].body, "");
  EXPECT_EQ(transport_.seen()[2].body, "");
}

TEST_F(CvctlApiCallTest, AnswersPrintAsTablesOrPrettyJson) {
  transport_.Answer(200, R"({"kid":"k2","previous_kid":"k1"})");
  EXPECT_EQ(Run(Get("/x")), kExitOk);
  EXPECT_EQ(out_.str(), "kid           k2\nprevious_kid  k1\n");
  EXPECT_EQ(err_.str(), "");
  settings_.output = OutputFormat::kJson;
  EXPECT_EQ(Run(Get("/x")), kExitOk);
  EXPECT_EQ(out_.str(), "{\n  \"kid\": \"k2\",\n  \"previous_kid\": \"k1\"\n}\n");
}

TEST_F(CvctlApiCallTest, NoContentConfirmsInOneLineOrPrintsAnEmptyObject) {
  transport_.Answer(204, "");
  ApiCall call;
  call.method = "DELETE";
  call.target = "/admin/users/alice/flags/recording";
  call.done = "flag cleared";
  EXPECT_EQ(Run(call), kExitOk);
  EXPECT_EQ(out_.str(), "flag cleared\n");
  settings_.output = OutputFormat::kJson;
  EXPECT_EQ(Run(call), kExitOk);
  EXPECT_EQ(out_.str(), "{}\n");
}

TEST_F(CvctlApiCallTest, ConfirmationComesBeforeAnAnswerInTables) {
  transport_.Answer(200, R"({"relays":[{"relay":"relay-a","ok":true}]})");
  ApiCall call;
  call.method = "DELETE";
  call.target = "/admin/users/mallory/revoke";
  call.done = "revocation lifted";
  EXPECT_EQ(Run(call), kExitOk);
  EXPECT_EQ(out_.str(), "revocation lifted\n\nRELAY    OK\nrelay-a  true\n");
}

TEST_F(CvctlApiCallTest, CsvIsPrintedExactlyAsSentInEitherMode) {
  const std::string csv =
      "period,user,calls,call_seconds,relayed_seconds,bytes_to_peer,bytes_to_client,allocations\r\n"
      "2026-11-20,alice,2,1260,610.5,9120332,8977120,3\r\n";
  transport_.Answer(200, csv, "text/csv");
  ApiCall call = Get("/admin/reports/usage?format=csv");
  call.csv = true;
  EXPECT_EQ(Run(call), kExitOk);
  EXPECT_EQ(out_.str(), csv);
  EXPECT_EQ(transport_.seen().back().accept, "text/csv");
  settings_.output = OutputFormat::kJson;
  EXPECT_EQ(Run(call), kExitOk);
  EXPECT_EQ(out_.str(), csv);
}

TEST_F(CvctlApiCallTest, ProblemsPrintStatusCodeAndDetail) {
  struct Case {
    int status;
    std::string body;
    int exit_code;
    std::string line;
  };
  const Case cases[] = {
      {400,
       R"({"type":"about:blank","title":"Bad Request","status":400,"code":"UNKNOWN_TIER","detail":"no plan 'gold'"})",
       1, "cvctl: 400 UNKNOWN_TIER: no plan 'gold'\n"},
      {401,
       R"({"title":"Unauthorized","status":401,"code":"UNAUTHORIZED","detail":"unknown token"})", 4,
       "cvctl: 401 UNAUTHORIZED: unknown token\n"},
      {403, R"({"code":"FORBIDDEN","detail":"this needs a higher role","required_role":"admin"})",
       4, "cvctl: 403 FORBIDDEN: this needs a higher role (needs the role admin)\n"},
      {403, R"({"code":"FORBIDDEN","detail":"needs the admin role","required_role":"admin"})", 4,
       "cvctl: 403 FORBIDDEN: needs the admin role\n"},
      {404, R"({"code":"NOT_FOUND","detail":"no user 'zed'"})", 3,
       "cvctl: 404 NOT_FOUND: no user 'zed'\n"},
      {409, R"({"code":"USER_EXISTS","detail":"alice exists"})", 1,
       "cvctl: 409 USER_EXISTS: alice exists\n"},
      {503, R"({"title":"Service Unavailable","detail":"store"})", 5,
       "cvctl: 503 Service Unavailable: store\n"},
      {502, "<html>\nBad gateway</html>", 5, "cvctl: 502: <html>\n"},
      {500, "", 5, "cvctl: 500\n"},
      {400, R"({"code":"BAD_REQUEST","detail":"line\u001bbreak"})", 1,
       "cvctl: 400 BAD_REQUEST: line?break\n"},
  };
  for (const Case& c : cases) {
    transport_.Answer(c.status, c.body, "application/problem+json");
    EXPECT_EQ(Run(Get("/admin/users/zed")), c.exit_code) << c.body;
    EXPECT_EQ(err_.str(), c.line);
    EXPECT_EQ(out_.str(), "");
  }
}

TEST_F(CvctlApiCallTest, NoAnswerIsUnreachable) {
  transport_.FailWith("connect 127.0.0.1:9651: Connection refused");
  EXPECT_EQ(Run(Get("/admin/keys")), kExitUnavailable);
  EXPECT_EQ(err_.str(),
            "cvctl: cannot reach http://cvadmin.test:9651: connect 127.0.0.1:9651: Connection "
            "refused\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(CvctlApiCallTest, AnAnswerThatIsNotJsonOrNotAnAnswerIsUnreadable) {
  transport_.Answer(200, "<html>hello</html>", "text/html");
  EXPECT_EQ(Run(Get("/admin/keys")), kExitUnavailable);
  EXPECT_EQ(err_.str(),
            "cvctl: unreadable answer from http://cvadmin.test:9651: 200 with a body that is not "
            "JSON\n");
  transport_.Answer(302, "", "text/html");
  EXPECT_EQ(Run(Get("/admin/keys")), kExitUnavailable);
  EXPECT_EQ(err_.str(),
            "cvctl: unreadable answer from http://cvadmin.test:9651: unexpected status 302\n");
}

TEST_F(CvctlApiCallTest, RelaysThatMissedARevocationAreWarnedAbout) {
  transport_.Answer(201, R"({"revocation":{"kind":"user","id":"mallory"},"ended_sessions":0,
      "relays":[{"relay":"relay-a","ok":true,"status":201},
                {"relay":"relay-b","ok":false,"status":0,"error":"connect 10.0.0.9:9641: refused"},
                {"relay":"relay-c","ok":false,"status":500}]})");
  ApiCall call;
  call.method = "POST";
  call.target = "/admin/users/mallory/revoke";
  EXPECT_EQ(Run(call), kExitOk);
  EXPECT_EQ(err_.str(),
            "cvctl: warning: relay relay-b: connect 10.0.0.9:9641: refused\n"
            "cvctl: warning: relay relay-c: answered 500\n");
}

TEST_F(CvctlApiCallTest, ATokenEchoedByTheServerIsTakenOutOfErrors) {
  transport_.Answer(
      401, std::string(R"({"code":"UNAUTHORIZED","detail":"unknown token )") + kToken + R"("})");
  EXPECT_EQ(Run(Get("/x")), kExitNotAuthorised);
  EXPECT_EQ(err_.str(), "cvctl: 401 UNAUTHORIZED: unknown token [token]\n");
}

TEST_F(CvctlApiCallTest, OddlyTypedProblemMembersDoNotThrow) {
  transport_.Answer(400, R"({"code":12,"detail":["x"],"required_role":null})");
  EXPECT_EQ(Run(Get("/x")), kExitRefused);
  EXPECT_EQ(err_.str(), "cvctl: 400\n");
  transport_.Answer(200, R"({"relays":[{"ok":"no"},{"ok":false,"relay":7}]})");
  EXPECT_EQ(Run(Get("/x")), kExitOk);
  EXPECT_EQ(err_.str(), "cvctl: warning: relay ?: answered nothing\n");
}

}  // namespace
}  // namespace cv::ctl
