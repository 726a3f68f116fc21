// web-root: files served at /app/ with their content types; index.html for a directory; and
// everything that could reach outside the root (traversal in any spelling, dot files, symbolic
// links leaving it, other methods) refused — on a real directory tree, without sockets.
#include "admin/server/static_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/support/process.h"

namespace cv::admin {
namespace {

std::string Header(const http::Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return "";
}

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = outside_.path() + "/web";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/demo").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((root_ + "/empty").c_str(), 0755), 0);
    outside_.Write("web/index.html", "<p>root</p>");
    outside_.Write("web/callvault.js", "export const x = 1;\n");
    outside_.Write("web/demo/index.html", "<p>demo</p>");
    outside_.Write("web/demo/demo.css", "body{}");
    outside_.Write("web/demo/data.bin", "\x01\x02");
    outside_.Write("web/.secret", "hidden");
    outside_.Write("secret.txt", "outside the root");
    ASSERT_EQ(symlink((outside_.path() + "/secret.txt").c_str(), (root_ + "/escape.txt").c_str()),
              0);
    ASSERT_EQ(symlink("callvault.js", (root_ + "/alias.js").c_str()), 0);
    ASSERT_EQ(symlink(outside_.path().c_str(), (root_ + "/up").c_str()), 0);
    std::string error;
    auto files = StaticFiles::Open(root_, &error);
    ASSERT_TRUE(files) << error;
    files_.emplace(std::move(*files));
  }

  http::Response Get(std::vector<std::string> path, const std::string& method = "GET") {
    http::Request request;
    request.method = method;
    return files_->Serve(request, path);
  }

  testing::TempDir outside_;
  std::string root_;
  std::optional<StaticFiles> files_;
};

TEST_F(StaticFilesTest, ServesAFileWithItsContentTypeAndSafetyHeaders) {
  http::Response r = Get({"callvault.js"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "export const x = 1;\n");
  EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");  // ES modules need a JS type
  EXPECT_EQ(Header(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(Header(r, "Referrer-Policy"), "no-referrer");
  EXPECT_NE(Header(r, "Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(Get({"demo", "demo.css"}).content_type, "text/css; charset=utf-8");
  EXPECT_EQ(Get({"demo", "data.bin"}).content_type, "application/octet-stream");
}

TEST_F(StaticFilesTest, ADirectoryWithATrailingSlashServesItsIndexHtml) {
  http::Response r = Get({"demo", ""});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<p>demo</p>");
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(Get({""}).body, "<p>root</p>");
}

TEST_F(StaticFilesTest, ADirectoryWithoutTheSlashIsRedirectedAndNeverListed) {
  http::Response r = Get({"demo"});
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(Header(r, "Location"), "/app/demo/");
  http::Response app = Get({});
  EXPECT_EQ(app.status, 301);
  EXPECT_EQ(Header(app, "Location"), "/app/");
  EXPECT_EQ(Get({"empty", ""}).status, 404);  // no index.html: no listing either
}

TEST_F(StaticFilesTest, HeadIsAnsweredAndOtherMethodsGet405) {
  EXPECT_EQ(Get({"callvault.js"}, "HEAD").status, 200);
  http::Response post = Get({"callvault.js"}, "POST");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(Header(post, "Allow"), "GET, HEAD");
  EXPECT_EQ(Get({"callvault.js"}, "PUT").status, 405);
}

TEST_F(StaticFilesTest, TraversalInAnySpellingIsRefused) {
  // Segments arrive percent-decoded: "%2e%2e" is "..", "%2F" a '/' inside one segment.
  const std::vector<std::vector<std::string>> attempts = {
      {"..", "secret.txt"},
      {"demo", "..", "..", "secret.txt"},
      {".", "callvault.js"},
      {"demo", "..", "callvault.js"},  // even when it would stay inside
      {"..%2Fsecret.txt"},
      {"../secret.txt"},
      {"demo/../../secret.txt"},
      {"..\\secret.txt"},
      {std::string("callvault.js\0.png", 17)},
      {"", "callvault.js"},
      {"demo", "", "demo.css"},
      {"/etc", "passwd"},
  };
  for (const auto& path : attempts) {
    http::Response r = Get(path);
    EXPECT_EQ(r.status, 404) << ::testing::PrintToString(path);
    EXPECT_EQ(r.body.find("outside the root"), std::string::npos);
  }
}

TEST_F(StaticFilesTest, DotFilesAreNotServed) {
  EXPECT_EQ(Get({".secret"}).status, 404);
  EXPECT_EQ(Get({".secret"}, "HEAD").status, 404);
}

TEST_F(StaticFilesTest, SymbolicLinksCountByWhereTheyLead) {
  EXPECT_EQ(Get({"escape.txt"}).status, 404);
  EXPECT_EQ(Get({"up", "secret.txt"}).status, 404);
  http::Response inside = Get({"alias.js"});
  EXPECT_EQ(inside.status, 200);
  EXPECT_EQ(inside.body, "export const x = 1;\n");
}

TEST_F(StaticFilesTest, MissingFilesAndNonRegularFilesAre404) {
  EXPECT_EQ(Get({"nope.js"}).status, 404);
  EXPECT_EQ(Get({"demo", "nope", ""}).status, 404);
  ASSERT_EQ(mkfifo((root_ + "/pipe").c_str(), 0600), 0);
  EXPECT_EQ(Get({"pipe"}).status, 404);  // never opened: a FIFO would block the loop
}

TEST_F(StaticFilesTest, FilesOverTheLimitAreNotServed) {
  outside_.Write("web/big.bin", std::string(kMaxStaticFileBytes + 1, 'x'));
  EXPECT_EQ(Get({"big.bin"}).status, 404);
}

TEST(StaticFilesOpen, RefusesWhatIsNotADirectory) {
  testing::TempDir dir;
  const std::string file = dir.Write("file", "x");
  std::string error;
  EXPECT_FALSE(StaticFiles::Open(dir.path() + "/missing", &error));
  EXPECT_NE(error.find("web-root"), std::string::npos);
  EXPECT_FALSE(StaticFiles::Open(file, &error));
  auto slash = StaticFiles::Open(dir.path() + "/", &error);
  ASSERT_TRUE(slash) << error;
  EXPECT_NE(slash->root().back(), '/');
}

TEST(StaticFilesContentType, ByExtension) {
  EXPECT_EQ(StaticFiles::ContentType("a.html"), "text/html; charset=utf-8");
  EXPECT_EQ(StaticFiles::ContentType("a.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(StaticFiles::ContentType("a.json"), "application/json");
  EXPECT_EQ(StaticFiles::ContentType("a.svg"), "image/svg+xml");
  EXPECT_EQ(StaticFiles::ContentType("README"), "application/octet-stream");
  EXPECT_EQ(StaticFiles::ContentType("a.js.bak"), "application/octet-stream");
}

}  // namespace
}  // namespace cv::admin
