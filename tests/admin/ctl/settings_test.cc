#include "admin/ctl/settings.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <sstream>

#include "tests/support/process.h"

namespace cv::ctl {
namespace {

constexpr char kFlagToken[] = "flag-token-0123456789";
constexpr char kEnvToken[] = "env-token-0123456789";
constexpr char kFileToken[] = "file-token-0123456789";

class CvctlSettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    env_.get = [this](const std::string& name) -> std::optional<std::string> {
      auto it = vars_.find(name);
      if (it == vars_.end()) return std::nullopt;
      return it->second;
    };
    vars_["HOME"] = dir_.path() + "/home";
    env_.system_config = dir_.path() + "/etc/cvctl.conf";
  }

  // A file of `mode` in the scratch directory.
  std::string File(const std::string& name, const std::string& content, mode_t mode = 0600) {
    const std::string path = dir_.path() + "/" + name;
    const size_t slash = path.rfind('/');
    for (size_t i = dir_.path().size() + 1; i <= slash; ++i) {
      if (path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0700);
    }
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(content.c_str(), f);
    std::fclose(f);
    ::chmod(path.c_str(), mode);
    return path;
  }

  std::optional<Settings> Resolve(const GlobalOptions& flags) {
    error_.clear();
    return ResolveSettings(flags, env_, &error_);
  }

  void ExpectError(const GlobalOptions& flags, const std::string& needle) {
    auto s = Resolve(flags);
    EXPECT_FALSE(s.has_value());
    EXPECT_NE(error_.find(needle), std::string::npos) << error_;
    for (const char* token : {kFlagToken, kEnvToken, kFileToken}) {
      EXPECT_EQ(error_.find(token), std::string::npos) << "the token leaked: " << error_;
    }
  }

  cv::testing::TempDir dir_;
  std::map<std::string, std::string> vars_;
  Environment env_;
  std::string error_;
};

TEST_F(CvctlSettingsTest, DefaultsNeedOnlyAToken) {
  GlobalOptions flags;
  flags.token = kFlagToken;
  auto s = Resolve(flags);
  ASSERT_TRUE(s) << error_;
  EXPECT_EQ(s->url.ToString(), "http://127.0.0.1:9651");
  EXPECT_EQ(s->token, kFlagToken);
  EXPECT_EQ(s->timeout_s, 10);
  EXPECT_EQ(s->output, OutputFormat::kTable);
  EXPECT_EQ(s->config_path, "");
}

TEST_F(CvctlSettingsTest, NoTokenAnywhereIsAnError) {
  ExpectError({}, "no admin token: give --token-file FILE");
}

TEST_F(CvctlSettingsTest, FlagsBeatTheEnvironmentWhichBeatsTheConfigFile) {
  const std::string config =
      File("cvctl.conf", "url = http://file.test:3\ntoken = " + std::string(kFileToken) +
                             "\ntimeout = 7\noutput = json\n");
  vars_["CVCTL_CONFIG"] = config;
  vars_["CVCTL_URL"] = "http://env.test:2";
  vars_["CVCTL_TOKEN"] = kEnvToken;

  GlobalOptions flags;
  flags.url = "http://flag.test:1";
  flags.token = kFlagToken;
  flags.timeout = "3";
  flags.output = "table";
  auto s = Resolve(flags);
  ASSERT_TRUE(s) << error_;
  EXPECT_EQ(s->url.ToString(), "http://flag.test:1");
  EXPECT_EQ(s->token, kFlagToken);
  EXPECT_EQ(s->timeout_s, 3);
  EXPECT_EQ(s->output, OutputFormat::kTable);
  EXPECT_EQ(s->config_path, config);

  s = Resolve({});
  ASSERT_TRUE(s) << error_;
  EXPECT_EQ(s->url.ToString(), "http://env.test:2");
  EXPECT_EQ(s->token, kEnvToken);
  EXPECT_EQ(s->timeout_s, 7);  // no variable for these: the file's
  EXPECT_EQ(s->output, OutputFormat::kJson);

  vars_.erase("CVCTL_URL");
  vars_.erase("CVCTL_TOKEN");
  s = Resolve({});
  ASSERT_TRUE(s) << error_;
  EXPECT_EQ(s->url.ToString(), "http://file.test:3");
  EXPECT_EQ(s->token, kFileToken);
}

TEST_F(CvctlSettingsTest, ATokenFileAtAHigherLevelBeatsATokenBelow) {
  const std::string flag_file = File("flag-token", std::string(kFlagToken) + "\n");
  const std::string env_file = File("env-token", std::string(kEnvToken) + "\n");
  vars_["CVCTL_CONFIG"] = File("cvctl.conf", "token = " + std::string(kFileToken) + "\n");
  vars_["CVCTL_TOKEN_FILE"] = env_file;

  GlobalOptions flags;
  flags.token_file = flag_file;
  auto s = Resolve(flags);
  ASSERT_TRUE(s) << error_;
  EXPECT_EQ(s->token, kFlagToken);

  s = Resolve({});
  ASSERT_TRUE(s) << error_;
  EXPECT_EQ(s->token, kEnvToken);

  vars_.erase("CVCTL_TOKEN_FILE");
  vars_["CVCTL_TOKEN"] = kEnvToken;
  flags = {};
  flags.token_file = flag_file;
  s = Resolve(flags);
  ASSERT_TRUE(s) << error_;
  EXPECT_EQ(s->token, kFlagToken);
}

TEST_F(CvctlSettingsTest, ATokenAndATokenFileAtOneLevelAreAmbiguous) {
  GlobalOptions flags;
  flags.token = kFlagToken;
  flags.token_file = File("t", kFlagToken);
  ExpectError(flags, "give a token (--token) or a token file (--token-file), not both");

  vars_["CVCTL_TOKEN"] = kEnvToken;
  vars_["CVCTL_TOKEN_FILE"] = File("t2", kEnvToken);
  ExpectError({}, "(CVCTL_TOKEN) or a token file (CVCTL_TOKEN_FILE)");
}

TEST_F(CvctlSettingsTest, TokenFileReadableByOthersIsRefused) {
  GlobalOptions flags;
  flags.token_file = File("token", kFlagToken, 0644);
  ExpectError(flags, "group or others have access to it; chmod 600 (from --token-file)");
  flags.token_file = File("token2", kFlagToken, 0640);
  ExpectError(flags, "chmod 600");

  vars_["CVCTL_TOKEN_FILE"] = File("token3", kEnvToken, 0604);
  ExpectError({}, "(from CVCTL_TOKEN_FILE)");
}

TEST_F(CvctlSettingsTest, TokenFileProblemsAreNamed) {
  GlobalOptions flags;
  flags.token_file = dir_.path() + "/missing";
  ExpectError(flags, "cannot use token file " + flags.token_file + ": No such file");
  flags.token_file = File("empty", "# only a comment\n\n");
  ExpectError(flags, "is empty");
  flags.token_file = File("blanks", "admin ops-lead " + std::string(kFlagToken) + "\n");
  ExpectError(flags, "must hold the token alone");
  flags.token_file = dir_.path();
  ExpectError(flags, "not a regular file");
}

TEST_F(CvctlSettingsTest, TokenFileSkipsCommentsAndBlanksAroundTheToken) {
  GlobalOptions flags;
  flags.token_file = File("token", "# cvctl token\n\n  " + std::string(kFlagToken) + "  \r\n");
  auto s = Resolve(flags);
  ASSERT_TRUE(s) << error_;
  EXPECT_EQ(s->token, kFlagToken);
}

TEST_F(CvctlSettingsTest, ATokenWithABlankIsRefused) {
  GlobalOptions flags;
  flags.token = "two words";
  ExpectError(flags, "the token from --token holds a blank or control character");
}

TEST_F(CvctlSettingsTest, ConfigFileIsFoundInOrder) {
  const std::string home = File("home/.config/cvctl/config", "url = http://home.test\n");
  const std::string system = File("etc/cvctl.conf", "url = http://system.test\n");
  const std::string named = File("named.conf", "url = http://named.test\n");
  const std::string variable = File("variable.conf", "url = http://variable.test\n");
  GlobalOptions flags;
  flags.token = kFlagToken;

  auto url = [&] {
    auto s = Resolve(flags);
    EXPECT_TRUE(s) << error_;
    return s ? s->url.ToString() + " " + s->config_path : "";
  };
  vars_["CVCTL_CONFIG"] = variable;
  flags.config = named;
  EXPECT_EQ(url(), "http://named.test:80 " + named);
  flags.config.clear();
  EXPECT_EQ(url(), "http://variable.test:80 " + variable);
  vars_.erase("CVCTL_CONFIG");
  EXPECT_EQ(url(), "http://home.test:80 " + home);
  ::unlink(home.c_str());
  EXPECT_EQ(url(), "http://system.test:80 " + system);
  ::unlink(system.c_str());
  EXPECT_EQ(url(), "http://127.0.0.1:9651 ");
}

TEST_F(CvctlSettingsTest, ANamedConfigFileMustExist) {
  GlobalOptions flags;
  flags.token = kFlagToken;
  flags.config = dir_.path() + "/nope.conf";
  ExpectError(flags, "cannot read config file " + flags.config);
  flags.config.clear();
  vars_["CVCTL_CONFIG"] = dir_.path() + "/nope2.conf";
  ExpectError(flags, "cannot read config file " + vars_["CVCTL_CONFIG"]);
}

TEST_F(CvctlSettingsTest, ConfigTokenFileIsRelativeToTheConfigFile) {
  File("conf/token", std::string(kFileToken) + "\n");
  vars_["CVCTL_CONFIG"] = File("conf/cvctl.conf", "token-file = token\n");
  auto s = Resolve({});
  ASSERT_TRUE(s) << error_;
  EXPECT_EQ(s->token, kFileToken);
}

TEST_F(CvctlSettingsTest, AConfigFileHoldingATokenMustBePrivate) {
  vars_["CVCTL_CONFIG"] = File("cvctl.conf", "token = " + std::string(kFileToken) + "\n", 0644);
  ExpectError({}, "holds a token but group or others have access to it; chmod 600");
  // Without a token the file may be world-readable.
  vars_["CVCTL_CONFIG"] = File("public.conf", "url = http://x.test\n", 0644);
  GlobalOptions flags;
  flags.token = kFlagToken;
  EXPECT_TRUE(Resolve(flags)) << error_;
}

TEST_F(CvctlSettingsTest, BadConfigLinesNameFileLineAndKey) {
  std::string error;
  EXPECT_FALSE(ParseConfig("url = http://x\nfoo = 1\n", "/c", &error));
  EXPECT_EQ(error, "/c:2: unknown key 'foo' (keys: url, token-file, token, timeout, output)");
  EXPECT_FALSE(ParseConfig("# comment\nurl http://x\n", "/c", &error));
  EXPECT_EQ(error, "/c:2: expected 'key = value'");
  EXPECT_FALSE(ParseConfig("url = a\n\nurl = b\n", "/c", &error));
  EXPECT_EQ(error, "/c:3: 'url' is set twice");
  EXPECT_FALSE(ParseConfig("timeout =\n", "/c", &error));
  EXPECT_EQ(error, "/c:1: 'timeout' has no value");

  auto values = ParseConfig("  # c\n\turl=http://x:1/base \r\noutput = json\n", "/c", &error);
  ASSERT_TRUE(values) << error;
  EXPECT_EQ(values->at("url").value, "http://x:1/base");
  EXPECT_EQ(values->at("url").line, 2);
  EXPECT_EQ(values->at("output").value, "json");
}

TEST_F(CvctlSettingsTest, BadValuesNameWhereTheyCameFrom) {
  GlobalOptions flags;
  flags.token = kFlagToken;
  flags.url = "https://cvadmin.test";
  ExpectError(flags, "bad URL from --url: https is not supported");
  flags.url.clear();
  vars_["CVCTL_URL"] = "ftp://x";
  ExpectError(flags, "bad URL from CVCTL_URL");
  vars_.erase("CVCTL_URL");

  const std::string config = File("c.conf", "timeout = 0\n");
  flags.config = config;
  ExpectError(flags, "bad timeout '0' from " + config + ":1: seconds, 1 to 3600");
  File("c.conf", "output = yaml\n");
  ExpectError(flags, "bad output 'yaml' from " + config + ":1: table or json");
  flags.config.clear();
  flags.timeout = "abc";
  ExpectError(flags, "bad timeout 'abc' from --timeout");
}

TEST_F(CvctlSettingsTest, TheSampleConfigIsValid) {
  const std::string path = std::string(CV_SOURCE_DIR) + "/config/cvctl.conf";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream text;
  text << in.rdbuf();
  std::string error;
  auto values = ParseConfig(text.str(), path, &error);
  ASSERT_TRUE(values) << error;
  EXPECT_EQ(values->at("url").value, kDefaultUrl);
  EXPECT_EQ(values->at("token-file").value, "/etc/cvrelay/cvctl-token");
  EXPECT_EQ(values->at("timeout").value, "10");
  EXPECT_EQ(values->at("output").value, "table");
  EXPECT_EQ(values->count("token"), 0u);  // so the file may stay world-readable
}

TEST_F(CvctlSettingsTest, UrlKeepsItsBasePath) {
  GlobalOptions flags;
  flags.token = kFlagToken;
  flags.url = "http://[::1]:9000/cvadmin";
  auto s = Resolve(flags);
  ASSERT_TRUE(s) << error_;
  EXPECT_EQ(s->url.host, "::1");
  EXPECT_EQ(s->url.port, 9000);
  EXPECT_EQ(s->url.base, "/cvadmin");
}

}  // namespace
}  // namespace cv::ctl
