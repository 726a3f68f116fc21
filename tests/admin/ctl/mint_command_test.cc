#include "admin/ctl/mint_command.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cv/auth/claims.h"
#include "cv/auth/rest_credentials.h"
#include "tests/support/process.h"

namespace cv::ctl {
namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr char kSecret[] = "a-long-enough-shared-secret";

struct Result {
  int code;
  nlohmann::json json;
  std::string err;
};

Result Mint(const MintOptions& o) {
  std::ostringstream out, err;
  Result r{RunMint(o, kNow, out, err), {}, err.str()};
  if (r.code == 0) r.json = nlohmann::json::parse(out.str());
  return r;
}

MintOptions Base() {
  MintOptions o;
  o.secret = kSecret;
  o.user = "alice";
  o.plan = "pro";
  o.session = "s1";
  return o;
}

TEST(MintCommandTest, MintsAVerifiableCredentialWithClaims) {
  MintOptions o = Base();
  o.line = "home";
  o.video = true;
  o.group = 3;
  o.ttl_s = 600;
  Result r = Mint(o);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string username = r.json["username"];
  EXPECT_EQ(r.json["ttl"], 600);
  EXPECT_EQ(r.json["expires"], kNow + 600);
  EXPECT_EQ(r.json["credential"], auth::RestPassword(kSecret, username));
  auto rest = auth::ParseRestUsername(username, ':');
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->expiry, kNow + 600);
  auto claims = auth::ParseClaims(rest->rest);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->user, "alice");
  EXPECT_EQ(claims->plan, "pro");
  EXPECT_EQ(claims->session, "s1");
  EXPECT_EQ(claims->line, "home");
  EXPECT_TRUE(claims->video);
  EXPECT_EQ(claims->group_size, 3u);
}

TEST(MintCommandTest, SessionDefaultsToARandomId) {
  MintOptions o = Base();
  o.session.clear();
  Result a = Mint(o), b = Mint(o);
  ASSERT_EQ(a.code, 0);
  auto ca =
      auth::ParseClaims(auth::ParseRestUsername(a.json["username"].get<std::string>(), ':')->rest);
  auto cb =
      auth::ParseClaims(auth::ParseRestUsername(b.json["username"].get<std::string>(), ':')->rest);
  ASSERT_TRUE(ca && cb);
  EXPECT_EQ(ca->session.size(), 16u);
  EXPECT_NE(ca->session, cb->session);
}

TEST(MintCommandTest, ClaimlessIsTheCoturnFormat) {
  MintOptions o;
  o.secret = kSecret;
  o.user = "bob";
  o.claimless = true;
  o.ttl_s = 60;
  Result r = Mint(o);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.json["username"], std::to_string(kNow + 60) + ":bob");
}

TEST(MintCommandTest, BadClaimsAndTtlExitTwoWithAReason) {
  MintOptions o = Base();
  o.user = "al ice";
  Result r = Mint(o);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("invalid claims"), std::string::npos) << r.err;
  o = Base();
  o.ttl_s = 0;
  EXPECT_EQ(Mint(o).code, 2);
  o.ttl_s = 31 * 86400;
  EXPECT_EQ(Mint(o).code, 2);
  o = Base();
  o.user.clear();
  EXPECT_EQ(Mint(o).code, 2);
  o = Base();
  o.group = 0;
  EXPECT_EQ(Mint(o).code, 2);
}

TEST(MintCommandTest, SecretFileBareOrKeyed) {
  testing::TempDir dir;
  const std::string bare = dir.path() + "/bare";
  std::ofstream(bare) << kSecret << "\n";
  MintOptions o = Base();
  o.secret.clear();
  o.secret_file = bare;
  Result r = Mint(o);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.json["credential"],
            auth::RestPassword(kSecret, r.json["username"].get<std::string>()));

  const std::string keyed = dir.path() + "/secrets";
  std::ofstream(keyed) << "# rotation\nold first-secret-0123456789 " << kNow - 1
                       << "\nnew second-secret-0123456789\nspare third-secret-0123456789\n";
  chmod(keyed.c_str(), 0600);
  o.secret_file = keyed;
  r = Mint(o);
  ASSERT_EQ(r.code, 0) << r.err;
  std::string username = r.json["username"];
  EXPECT_NE(username.find(";k=new;"), std::string::npos) << "the retired secret is skipped";
  EXPECT_EQ(r.json["credential"], auth::RestPassword("second-secret-0123456789", username));
  o.key_id = "spare";
  r = Mint(o);
  ASSERT_EQ(r.code, 0) << r.err;
  username = r.json["username"].get<std::string>();
  EXPECT_EQ(r.json["credential"], auth::RestPassword("third-secret-0123456789", username));
  o.key_id = "old";
  r = Mint(o);
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.err.find("first-secret"), std::string::npos) << "never print a secret";
}

TEST(MintCommandTest, MissingSecretExitsOne) {
  MintOptions o = Base();
  o.secret.clear();
  EXPECT_EQ(Mint(o).code, 1);
  o.secret_file = "/nonexistent/secret";
  EXPECT_EQ(Mint(o).code, 1);
}

}  // namespace
}  // namespace cv::ctl
