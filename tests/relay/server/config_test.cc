#include "relay/server/config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace cv::server {
namespace {

IpAddress Ip(std::string_view text) { return *IpAddress::Parse(text); }

std::string RepoFile(std::string_view relative) {
  constexpr std::string_view kSelf = "tests/relay/server/config_test.cc";
  std::string_view here = __FILE__;  // <repo>/tests/relay/server/config_test.cc
  std::string root(here.substr(0, here.size() - kSelf.size()));
  std::ifstream in(root + std::string(relative));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class ConfigTest : public ::testing::Test {
 protected:
  std::optional<ConfigError> Parse(std::string_view text, std::string_view file = "t.conf") {
    return ParseConfigText(text, file, &config_, &warnings_);
  }
  std::string ParseError(std::string_view text) {
    std::optional<ConfigError> e = Parse(text);
    return e ? e->ToString() : "(no error)";
  }
  LoadResult Load(std::vector<std::string> args) {
    args.insert(args.begin(), "cvrelay");
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    return LoadConfig(static_cast<int>(argv.size()), argv.data());
  }
  std::string LoadError(std::vector<std::string> args) {
    LoadResult r = Load(std::move(args));
    return r.error ? r.error->ToString() : "(no error)";
  }
  std::string WriteFile(std::string_view name, std::string_view text) {
    std::string path = ::testing::TempDir() + "cvrelay_config_test_" + std::string(name);
    std::ofstream(path, std::ios::binary) << text;
    written_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const std::string& path : written_) std::remove(path.c_str());
  }

  Config config_;
  std::vector<std::string> warnings_;
  std::vector<std::string> written_;
};

// ---------------------------------------------------------------------------------------------
// Supported keys

TEST_F(ConfigTest, DefaultsAreCoturns) {
  Config c;
  EXPECT_TRUE(c.listening_ips.empty());
  EXPECT_EQ(c.listening_port, 3478);
  EXPECT_EQ(c.tls_listening_port, 5349);
  EXPECT_EQ(c.alt_listening_port, 0);
  EXPECT_EQ(c.min_port, 49152);
  EXPECT_EQ(c.max_port, 65535);
  EXPECT_EQ(c.rest_api_separator, ":");
  EXPECT_EQ(c.stale_nonce, 600u);
  EXPECT_EQ(c.max_allocate_lifetime, 3600u);
  EXPECT_EQ(c.channel_lifetime, 600u);
  EXPECT_EQ(c.permission_lifetime, 300u);
  EXPECT_EQ(c.user_quota, 0u);
  EXPECT_EQ(c.total_quota, 0u);
  EXPECT_FALSE(c.lt_cred_mech || c.no_auth || c.use_auth_secret || c.fingerprint);
  EXPECT_EQ(c.unauth_rate, 20);
  EXPECT_EQ(c.unauth_burst, 40);
}

TEST_F(ConfigTest, EverySupportedKeyParsesIntoItsField) {
  struct Case {
    std::string line;
    std::function<bool(const Config&)> check;
  };
  const std::vector<Case> cases = {
      {"listening-ip=10.0.0.1",
       [](const Config& c) { return c.listening_ips[0] == Ip("10.0.0.1"); }},
      {"listening-ip=2001:db8::1",
       [](const Config& c) { return c.listening_ips[0] == Ip("2001:db8::1"); }},
      {"listening-port=3479", [](const Config& c) { return c.listening_port == 3479; }},
      {"listening-port=0", [](const Config& c) { return c.listening_port == 0; }},
      {"tls-listening-port=443", [](const Config& c) { return c.tls_listening_port == 443; }},
      {"alt-listening-port=3480", [](const Config& c) { return c.alt_listening_port == 3480; }},
      {"alt-tls-listening-port=5350",
       [](const Config& c) { return c.alt_tls_listening_port == 5350; }},
      {"no-udp", [](const Config& c) { return c.no_udp; }},
      {"no-tcp", [](const Config& c) { return c.no_tcp; }},
      {"no-tls", [](const Config& c) { return c.no_tls; }},
      {"no-dtls", [](const Config& c) { return c.no_dtls; }},
      {"no-udp-relay", [](const Config& c) { return c.no_udp_relay; }},
      {"no-tcp-relay", [](const Config& c) { return c.no_tcp_relay; }},
      {"tcp-relay", [](const Config& c) { return c.tcp_relay; }},
      {"tls-handshake-timeout=5", [](const Config& c) { return c.tls_handshake_timeout == 5; }},
      {"stream-auth-timeout=7", [](const Config& c) { return c.stream_auth_timeout == 7; }},
      {"max-unauth-connections-per-ip=0",
       [](const Config& c) { return c.max_unauth_connections_per_ip == 0; }},
      {"cert=/etc/ssl/c.pem", [](const Config& c) { return c.cert == "/etc/ssl/c.pem"; }},
      {"pkey=/etc/ssl/k.pem", [](const Config& c) { return c.pkey == "/etc/ssl/k.pem"; }},
      {"cipher-list=\"ECDHE-RSA-AES256-GCM-SHA384:DEFAULT\"",
       [](const Config& c) { return c.cipher_list == "ECDHE-RSA-AES256-GCM-SHA384:DEFAULT"; }},
      {"CA-file=/etc/ssl/ca.pem", [](const Config& c) { return c.ca_file == "/etc/ssl/ca.pem"; }},
      {"dh-file=/etc/ssl/dh.pem", [](const Config& c) { return c.dh_file == "/etc/ssl/dh.pem"; }},
      {"no-tlsv1", [](const Config& c) { return c.no_tlsv1; }},
      {"no-tlsv1_1", [](const Config& c) { return c.no_tlsv1_1; }},
      {"no-tlsv1_2", [](const Config& c) { return c.no_tlsv1_2; }},
      {"relay-ip=192.0.2.5", [](const Config& c) { return c.relay_ips[0] == Ip("192.0.2.5"); }},
      {"external-ip=203.0.113.7",
       [](const Config& c) {
         return c.external_ips[0] == ExternalIp{Ip("203.0.113.7"), std::nullopt};
       }},
      {"external-ip=203.0.113.7/10.0.0.7",
       [](const Config& c) {
         return c.external_ips[0] == ExternalIp{Ip("203.0.113.7"), Ip("10.0.0.7")};
       }},
      {"min-port=40000", [](const Config& c) { return c.min_port == 40000; }},
      {"max-port=50000", [](const Config& c) { return c.max_port == 50000; }},
      {"relay-threads=8", [](const Config& c) { return c.relay_threads == 8; }},
      {"realm=example.org", [](const Config& c) { return c.realm == "example.org"; }},
      {"lt-cred-mech", [](const Config& c) { return c.lt_cred_mech; }},
      {"no-auth", [](const Config& c) { return c.no_auth; }},
      {"use-auth-secret", [](const Config& c) { return c.use_auth_secret; }},
      {"static-auth-secret=north",
       [](const Config& c) {
         return c.static_auth_secrets == std::vector<std::string>{"north"} && c.use_auth_secret;
       }},
      {"rest-api-separator=.", [](const Config& c) { return c.rest_api_separator == "."; }},
      {"user=alice:wonder:land",
       [](const Config& c) {
         return c.users[0] == StaticUser{"alice", "wonder:land", false};
       }},
      {"user=ninefingers:0xBC807EE29DF3C9FFA736523FB2C4E8EE",
       [](const Config& c) {
         return c.users[0] == StaticUser{"ninefingers", "bc807ee29df3c9ffa736523fb2c4e8ee", true};
       }},
      {"stale-nonce=120", [](const Config& c) { return c.stale_nonce == 120; }},
      {"denied-peer-ip=10.0.0.0-10.255.255.255",
       [](const Config& c) {
         return c.denied_peer_ips[0].Contains(Ip("10.1.2.3")) &&
                !c.denied_peer_ips[0].Contains(Ip("11.0.0.0"));
       }},
      {"allowed-peer-ip=10.0.0.0/8",
       [](const Config& c) { return c.allowed_peer_ips[0].Contains(Ip("10.255.0.1")); }},
      {"allow-loopback-peers", [](const Config& c) { return c.allow_loopback_peers; }},
      {"no-multicast-peers", [](const Config& c) { return c.no_multicast_peers; }},
      {"user-quota=12", [](const Config& c) { return c.user_quota == 12; }},
      {"total-quota=1200", [](const Config& c) { return c.total_quota == 1200; }},
      {"max-allocate-lifetime=1800",
       [](const Config& c) { return c.max_allocate_lifetime == 1800; }},
      {"channel-lifetime=300", [](const Config& c) { return c.channel_lifetime == 300; }},
      {"permission-lifetime=120", [](const Config& c) { return c.permission_lifetime == 120; }},
      {"unauth-rate=5.5", [](const Config& c) { return c.unauth_rate == 5.5; }},
      {"unauth-rate=0", [](const Config& c) { return c.unauth_rate == 0; }},
      {"unauth-burst=10", [](const Config& c) { return c.unauth_burst == 10; }},
      {"drain-timeout=5", [](const Config& c) { return c.drain_timeout == 5; }},
      {"fingerprint", [](const Config& c) { return c.fingerprint; }},
      {"no-software-attribute", [](const Config& c) { return c.no_software_attribute; }},
      {"software-attribute=false", [](const Config& c) { return c.no_software_attribute; }},
      {"server-name=turn.example.org",
       [](const Config& c) { return c.server_name == "turn.example.org"; }},
      {"log-file=/var/log/cvrelay.log",
       [](const Config& c) { return c.log_file == "/var/log/cvrelay.log"; }},
      {"verbose",
       [](const Config& c) {
         return c.verbose && !c.very_verbose && c.log_level == log::Level::kDebug;
       }},
      {"Verbose",
       [](const Config& c) {
         return c.verbose && c.very_verbose && c.log_level == log::Level::kDebug;
       }},
      {"no-stdout-log", [](const Config& c) { return c.no_stdout_log; }},
      {"pidfile=/run/cvrelay.pid", [](const Config& c) { return c.pidfile == "/run/cvrelay.pid"; }},
      {"auth-secrets-file=/etc/cvrelay/secrets",
       [](const Config& c) {
         return c.auth_secrets_file == "/etc/cvrelay/secrets" && c.use_auth_secret;
       }},
      {"plans-file=/etc/cvrelay/plans.json",
       [](const Config& c) { return c.plans_file == "/etc/cvrelay/plans.json"; }},
      {"claimless-plan=trial", [](const Config& c) { return c.claimless_plan == "trial"; }},
      {"claimless-plan=none", [](const Config& c) { return c.claimless_plan.empty(); }},
      {"allocate-rate=2.5", [](const Config& c) { return c.allocate_rate == 2.5; }},
      {"allocate-burst=9", [](const Config& c) { return c.allocate_burst == 9; }},
      {"user-allocate-rate=0", [](const Config& c) { return c.user_allocate_rate == 0; }},
      {"user-allocate-burst=4", [](const Config& c) { return c.user_allocate_burst == 4; }},
      {"auth-failure-limit=3", [](const Config& c) { return c.auth_failure_limit == 3; }},
      {"user-auth-failure-limit=0", [](const Config& c) { return c.user_auth_failure_limit == 0; }},
      {"auth-failure-window=120", [](const Config& c) { return c.auth_failure_window == 120; }},
      {"auth-ban-time=15", [](const Config& c) { return c.auth_ban_time == 15; }},
      {"admin-ip=::1", [](const Config& c) { return c.admin_ip == Ip("::1"); }},
      {"admin-port=0", [](const Config& c) { return c.admin_port == 0; }},
      {"admin-token=0123456789abcdef",
       [](const Config& c) { return c.admin_token == "0123456789abcdef"; }},
      {"admin-token-file=/etc/cvrelay/admin-token",
       [](const Config& c) { return c.admin_token_file == "/etc/cvrelay/admin-token"; }},
      {"usage-db=/srv/cv/usage.db",
       [](const Config& c) { return c.usage_db == "/srv/cv/usage.db"; }},
      {"no-usage-ledger", [](const Config& c) { return c.no_usage_ledger; }},
      {"usage-checkpoint-interval=5", [](const Config& c) { return c.usage_checkpoint == 5; }},
      {"node-id=relay-eu-1.example",
       [](const Config& c) { return c.node_id == "relay-eu-1.example"; }},
      {"prometheus", [](const Config& c) { return c.prometheus; }},
      {"prometheus-port=9700", [](const Config& c) { return c.prometheus_port == 9700; }},
      {"prometheus-address=0.0.0.0",
       [](const Config& c) { return c.prometheus_address == Ip("0.0.0.0"); }},
      {"prometheus-username-labels", [](const Config& c) { return c.prometheus_username_labels; }},
      {"prometheus-top-users=25", [](const Config& c) { return c.prometheus_top_users == 25; }},
  };
  std::set<std::string> covered;
  for (const Case& tc : cases) {
    Config c;
    std::vector<std::string> warnings;
    std::optional<ConfigError> e = ParseConfigText(tc.line, "t.conf", &c, &warnings);
    ASSERT_FALSE(e) << tc.line << " → " << e->ToString();
    EXPECT_TRUE(tc.check(c)) << tc.line;
    EXPECT_TRUE(warnings.empty()) << tc.line << " → " << warnings[0];
    covered.insert(tc.line.substr(0, tc.line.find('=')));
  }
  for (const KeyInfo& key : ListKeys()) {
    if (key.kind == KeyKind::kSupported) {
      EXPECT_TRUE(covered.count(std::string(key.name))) << key.name << " has no case";
    }
  }
}

TEST_F(ConfigTest, FlagsAcceptBooleanWords) {
  for (std::string_view word : {"true", "yes", "on", "1", "t", "y", "TRUE", "On", ""}) {
    config_.fingerprint = false;
    ASSERT_FALSE(Parse("fingerprint=" + std::string(word))) << word;
    EXPECT_TRUE(config_.fingerprint) << word;
  }
  for (std::string_view word : {"false", "no", "off", "0", "f", "n", "FALSE", "Off"}) {
    config_.fingerprint = true;
    ASSERT_FALSE(Parse("fingerprint=" + std::string(word))) << word;
    EXPECT_FALSE(config_.fingerprint) << word;
  }
}

TEST_F(ConfigTest, BareOptionalValueKeysTakeCoturnDefaults) {
  config_.stale_nonce = 5;
  config_.max_allocate_lifetime = 5;
  config_.channel_lifetime = 5;
  config_.permission_lifetime = 5;
  ASSERT_FALSE(Parse("stale-nonce\nmax-allocate-lifetime\nchannel-lifetime\npermission-lifetime"));
  EXPECT_EQ(config_.stale_nonce, 600u);
  EXPECT_EQ(config_.max_allocate_lifetime, 3600u);
  EXPECT_EQ(config_.channel_lifetime, 600u);
  EXPECT_EQ(config_.permission_lifetime, 300u);
}

TEST_F(ConfigTest, StaleNonceNeverDisablesExpiry) {
  ASSERT_FALSE(Parse("stale-nonce=0"));
  EXPECT_EQ(config_.stale_nonce, 600u);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_EQ(warnings_[0],
            "t.conf:1: key 'stale-nonce': 0 would mean nonces that never expire; cvrelay always "
            "expires them, using 600 s");
  config_.stale_nonce = 5;
  ASSERT_FALSE(Parse("stale-nonce=off"));
  EXPECT_EQ(config_.stale_nonce, 600u);
  config_.stale_nonce = 5;
  ASSERT_FALSE(Parse("stale-nonce=yes"));
  EXPECT_EQ(config_.stale_nonce, 600u);
  warnings_.clear();
  ASSERT_FALSE(Parse("stale-nonce=30"));
  EXPECT_EQ(config_.stale_nonce, 30u);
  EXPECT_EQ(warnings_.size(), 1u);
  EXPECT_EQ(ParseError("stale-nonce=soon"),
            "t.conf:1: key 'stale-nonce': expected a number of seconds or a boolean, got 'soon'");
}

TEST_F(ConfigTest, RepeatableKeysAccumulateInOrder) {
  ASSERT_FALSE(
      Parse("listening-ip=10.0.0.1\nlistening-ip=10.0.0.2\nrelay-ip=10.0.0.3\nrelay-ip=::1\n"
            "static-auth-secret=old\nstatic-auth-secret=new\nuser=a:1\nuser=b:2\n"
            "denied-peer-ip=10.0.0.0/8\ndenied-peer-ip=192.168.0.0/16\n"
            "external-ip=1.2.3.4/10.0.0.1\nexternal-ip=1.2.3.5/10.0.0.2\n"));
  EXPECT_EQ(config_.listening_ips, (std::vector<IpAddress>{Ip("10.0.0.1"), Ip("10.0.0.2")}));
  EXPECT_EQ(config_.relay_ips, (std::vector<IpAddress>{Ip("10.0.0.3"), Ip("::1")}));
  EXPECT_EQ(config_.static_auth_secrets, (std::vector<std::string>{"old", "new"}));
  ASSERT_EQ(config_.users.size(), 2u);
  EXPECT_EQ(config_.users[1].name, "b");
  EXPECT_EQ(config_.denied_peer_ips.size(), 2u);
  EXPECT_EQ(config_.external_ips.size(), 2u);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(ConfigTest, ScalarGivenTwiceKeepsTheLastValueWithAWarning) {
  ASSERT_FALSE(Parse("listening-port=3478\n\nlistening-port=3479\n"));
  EXPECT_EQ(config_.listening_port, 3479);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_EQ(warnings_[0],
            "t.conf:3: key 'listening-port': also set on line 1; the last value wins");
}

TEST_F(ConfigTest, RelativeCertificatePathsFollowTheConfigFile) {
  ASSERT_FALSE(Parse("cert=certs/c.pem\npkey=/abs/k.pem\nCA-file=ca.pem\ndh-file=../dh.pem",
                     "/etc/cvrelay/cvrelay.conf"));
  EXPECT_EQ(config_.cert, "/etc/cvrelay/certs/c.pem");
  EXPECT_EQ(config_.pkey, "/abs/k.pem");
  EXPECT_EQ(config_.ca_file, "/etc/cvrelay/ca.pem");
  EXPECT_EQ(config_.dh_file, "/etc/cvrelay/../dh.pem");
  ASSERT_FALSE(Parse("cert=certs/c.pem", "cvrelay.conf"));
  EXPECT_EQ(config_.cert, "certs/c.pem");
}

TEST_F(ConfigTest, EmptyPidfileMeansNone) {
  config_.pidfile = "/run/x.pid";
  ASSERT_FALSE(Parse("pidfile="));
  EXPECT_EQ(config_.pidfile, "");
}

// ---------------------------------------------------------------------------------------------
// Syntax

TEST_F(ConfigTest, ToleratesCoturnSyntaxVariants) {
  ASSERT_FALSE(
      Parse("\xef\xbb\xbf# comment\r\n"
            "   # indented comment\n"
            "\n"
            "listening-port = 3479\r\n"
            "tls-listening-port\t5350\n"
            "--min-port=40000\n"
            "  max-port=50000   # trailing comment\n"
            "realm=\"example.org\"  # quoted, then a comment\n"
            "cipher-list=\"A#B C\"\n"
            "static-auth-secret=#hash#\n"
            "server-name=a#b\n"
            "fingerprint # a flag with a comment\n"
            "verbose=  \n"));
  EXPECT_EQ(config_.listening_port, 3479);
  EXPECT_EQ(config_.tls_listening_port, 5350);
  EXPECT_EQ(config_.min_port, 40000);
  EXPECT_EQ(config_.max_port, 50000);
  EXPECT_EQ(config_.realm, "example.org");
  EXPECT_EQ(config_.cipher_list, "A#B C");
  EXPECT_EQ(config_.static_auth_secrets, std::vector<std::string>{"#hash#"});
  EXPECT_EQ(config_.server_name, "a#b");
  EXPECT_TRUE(config_.fingerprint);
  EXPECT_TRUE(config_.verbose);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(ConfigTest, QuoteErrorsNameTheLine) {
  EXPECT_EQ(ParseError("\nrealm=\"example.org"),
            "t.conf:2: key 'realm': the value has an opening quote but no closing quote");
  EXPECT_EQ(ParseError("realm=\"a\" b"),
            "t.conf:1: key 'realm': unexpected text after the closing quote: 'b'");
}

TEST_F(ConfigTest, CommentAfterEqualsLeavesNoValue) {
  EXPECT_EQ(ParseError("realm= # later"), "t.conf:1: key 'realm': missing value, expected <realm>");
}

TEST_F(ConfigTest, ValueEndingInSemicolonWarns) {
  ASSERT_FALSE(Parse("realm=example.org;"));
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_EQ(warnings_[0],
            "t.conf:1: key 'realm': the value ends with ';', which becomes part of it; lines need "
            "no terminator");
}

TEST_F(ConfigTest, LineWithoutKeyIsAnError) {
  EXPECT_EQ(ParseError("=3478"), "t.conf:1: expected key or key=value, got '=3478'");
}

TEST_F(ConfigTest, NulByteIsAnError) {
  EXPECT_EQ(ParseError(std::string_view("realm=a\0b", 9)),
            "t.conf:1: the line contains a NUL byte; is this a text file?");
}

// ---------------------------------------------------------------------------------------------
// Errors: file, line, key and the bad value

TEST_F(ConfigTest, ValueErrorsNameFileLineKeyAndValue) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"listening-port", "t.conf:1: key 'listening-port': missing value, expected <port>"},
      {"min-port=abc", "t.conf:1: key 'min-port': expected an integer 1-65535, got 'abc'"},
      {"listening-port=70000",
       "t.conf:1: key 'listening-port': expected an integer 0-65535, got '70000'"},
      {"tls-listening-port=65536",
       "t.conf:1: key 'tls-listening-port': expected an integer 0-65535, got '65536'"},
      {"max-port=-1", "t.conf:1: key 'max-port': expected an integer 1-65535, got '-1'"},
      {"relay-threads=300", "t.conf:1: key 'relay-threads': expected an integer 0-256, got '300'"},
      {"user-quota=99999999999",
       "t.conf:1: key 'user-quota': expected an integer 0-4294967295, got '99999999999'"},
      {"channel-lifetime=0",
       "t.conf:1: key 'channel-lifetime': expected an integer 1-2147483647, got '0'"},
      {"listening-ip=10.0.0.256",
       "t.conf:1: key 'listening-ip': expected an IPv4 or IPv6 address, got '10.0.0.256'"},
      {"relay-ip=turn.example.org",
       "t.conf:1: key 'relay-ip': expected an IPv4 or IPv6 address, got 'turn.example.org'"},
      {"denied-peer-ip=10.0.0.9-10.0.0.1",
       "t.conf:1: key 'denied-peer-ip': expected an IP address, a range first-last or a prefix "
       "address/length, got '10.0.0.9-10.0.0.1'"},
      {"external-ip=1.2.3.4/::1",
       "t.conf:1: key 'external-ip': the public and private addresses must be of one family, got "
       "'1.2.3.4/::1'"},
      {"external-ip=host",
       "t.conf:1: key 'external-ip': expected public-ip or public-ip/private-ip, got 'host'"},
      {"rest-api-separator=::",
       "t.conf:1: key 'rest-api-separator': expected one printable character, got '::'"},
      {"unauth-rate=-1",
       "t.conf:1: key 'unauth-rate': expected a number from 0 to 1000000, got '-1'"},
      {"unauth-burst=0.5",
       "t.conf:1: key 'unauth-burst': expected a number from 1 to 1000000, got '0.5'"},
      {"unauth-burst=lots",
       "t.conf:1: key 'unauth-burst': expected a number from 1 to 1000000, got 'lots'"},
      {"drain-timeout=90000",
       "t.conf:1: key 'drain-timeout': expected an integer 0-86400, got '90000'"},
      {"fingerprint=maybe",
       "t.conf:1: key 'fingerprint': expected a boolean (true/false, yes/no, on/off, 1/0), got "
       "'maybe'"},
      {"realm=exa\x01mple",
       "t.conf:1: key 'realm': control characters are not allowed, got 'exa\\x01mple'"},
      {"realm=" + std::string(128, 'r'),
       "t.conf:1: key 'realm': the realm must be fewer than 128 characters (RFC 8489 REALM)"},
      {"log-file=", "t.conf:1: key 'log-file': missing value, expected <file>"},
      {"static-auth-secret=\"\"",
       "t.conf:1: key 'static-auth-secret': missing value, expected <secret>"},
  };
  for (const auto& [text, expected] : cases) {
    config_ = Config{};
    EXPECT_EQ(ParseError(text), expected) << text;
  }
}

TEST_F(ConfigTest, ErrorNamesTheLineOfTheBadKey) {
  EXPECT_EQ(ParseError("# header\nlistening-port=3478\n\nmin-port=abc\nmax-port=60000\n"),
            "t.conf:4: key 'min-port': expected an integer 1-65535, got 'abc'");
}

TEST_F(ConfigTest, LongAndBinaryValuesAreShownEscapedAndBounded) {
  std::string long_value(300, '7');
  EXPECT_EQ(ParseError("min-port=" + long_value),
            "t.conf:1: key 'min-port': expected an integer 1-65535, got '" + std::string(64, '7') +
                "...' (300 bytes)");
  EXPECT_EQ(ParseError("min-port=1\x1b[2J'\\"),
            "t.conf:1: key 'min-port': expected an integer 1-65535, got '1\\x1b[2J\\'\\\\'");
}

TEST_F(ConfigTest, UserErrorsNeverShowThePassword) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"user=alice",
       "t.conf:1: key 'user': expected name:password or name:0x<32 hex digits> (value not "
       "shown)"},
      {"user=:hunter2", "t.conf:1: key 'user': the user name before ':' is empty"},
      {"user=bob:", "t.conf:1: key 'user': the password of user 'bob' is empty"},
      {"user=bob:0xhunter2",
       "t.conf:1: key 'user': the key of user 'bob' must be 0x followed by 32 hex digits, as "
       "`turnadmin -k` prints (value not shown)"},
  };
  for (const auto& [text, expected] : cases) {
    std::string error = ParseError(text);
    EXPECT_EQ(error, expected);
    EXPECT_EQ(error.find("hunter2"), std::string::npos);
  }
}

// ---------------------------------------------------------------------------------------------
// The three kinds of keys

TEST_F(ConfigTest, UnknownKeyIsAnErrorWithASuggestion) {
  EXPECT_EQ(ParseError("listen-port=3478"),
            "t.conf:1: key 'listen-port': unknown key; did you mean 'listening-port'?");
  EXPECT_EQ(ParseError("ca-file=/x"),
            "t.conf:1: key 'ca-file': unknown key; did you mean 'CA-file'?");
  EXPECT_EQ(ParseError("fingerprint;"),
            "t.conf:1: key 'fingerprint;': unknown key; did you mean 'fingerprint'?");
  EXPECT_EQ(ParseError("\n\nfrobnicate=1"), "t.conf:3: key 'frobnicate': unknown key");
}

TEST_F(ConfigTest, IgnoredKeysWarnAndChangeNothing) {
  ASSERT_FALSE(Parse("no-cli\ncli-password=qwerty"));
  ASSERT_EQ(warnings_.size(), 2u);
  EXPECT_EQ(warnings_[0], "t.conf:1: key 'no-cli': ignored: cvrelay has no telnet CLI");
  EXPECT_EQ(warnings_[1], "t.conf:2: key 'cli-password': ignored: cvrelay has no telnet CLI");
  for (const KeyInfo& key : ListKeys()) {
    if (key.kind != KeyKind::kIgnored) continue;
    Config c;
    std::vector<std::string> warnings;
    std::string line = std::string(key.name) + (key.takes_value ? "=x" : "");
    std::optional<ConfigError> e = ParseConfigText(line, "t.conf", &c, &warnings);
    ASSERT_FALSE(e) << line << " → " << e->ToString();
    ASSERT_EQ(warnings.size(), 1u) << line;
    EXPECT_EQ(warnings[0].rfind("t.conf:1: key '" + std::string(key.name) + "': ignored: ", 0), 0u)
        << warnings[0];
  }
}

TEST_F(ConfigTest, RefusedKeysAreErrorsWithTheReason) {
  EXPECT_EQ(ParseError("userdb=/var/lib/turn/turndb"),
            "t.conf:1: key 'userdb': not supported by cvrelay: cvrelay has no user database; list "
            "accounts with user=, or use use-auth-secret with static-auth-secret");
  EXPECT_EQ(ParseError("secure-stun"),
            "t.conf:1: key 'secure-stun': not supported by cvrelay: Binding requests are always "
            "answered without credentials");
  EXPECT_EQ(ParseError("max-bps=4000000 # fine for small resolutions"),
            "t.conf:1: key 'max-bps': not supported by cvrelay: per-session bandwidth limits are "
            "not offered by cvrelay");
  for (const KeyInfo& key : ListKeys()) {
    if (key.kind != KeyKind::kRefused) continue;
    std::string line = std::string(key.name) + (key.takes_value ? "=7" : "");
    config_ = Config{};
    std::string error = ParseError(line);
    EXPECT_EQ(
        error.rfind("t.conf:1: key '" + std::string(key.name) + "': not supported by cvrelay: ", 0),
        0u)
        << error;
  }
}

TEST_F(ConfigTest, RefusedKeyAskingForTheDefaultIsOnlyAWarning) {
  ASSERT_FALSE(
      Parse("max-bps=0\nsecure-stun=false\nallocation-default-address-family=IPv4\n"
            "daemon=no\nmax-allocate-timeout=60"));
  ASSERT_EQ(warnings_.size(), 5u);
  EXPECT_EQ(warnings_[0],
            "t.conf:1: key 'max-bps': ignored: the value asks for coturn's default, which is what "
            "cvrelay does");
}

// ---------------------------------------------------------------------------------------------
// Implied settings and cross-key validation

Config ValidConfig() {
  Config c;
  c.realm = "example.org";
  c.use_auth_secret = true;
  c.static_auth_secrets = {"s3cret"};
  return c;
}

std::string ValidateError(const Config& c) {
  std::optional<ConfigError> e = Validate(c);
  return e ? e->ToString() : "(no error)";
}

TEST_F(ConfigTest, UsersAloneTurnLtCredMechOn) {
  config_.users.push_back({"alice", "pw", false});
  ApplyImpliedSettings(&config_, &warnings_);
  EXPECT_TRUE(config_.lt_cred_mech);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_EQ(warnings_[0],
            "user accounts are set without lt-cred-mech; turning lt-cred-mech on, as coturn does");
}

TEST_F(ConfigTest, AuthSecretDropsUserAccounts) {
  config_ = ValidConfig();
  config_.users.push_back({"alice", "pw", false});
  ApplyImpliedSettings(&config_, &warnings_);
  EXPECT_TRUE(config_.users.empty());
  EXPECT_FALSE(config_.lt_cred_mech);
  EXPECT_EQ(warnings_[0],
            "use-auth-secret is on, so the 1 user account(s) are never consulted (as in coturn); "
            "dropping them");
}

TEST_F(ConfigTest, NoCredentialsOnlyWarnThatAllocationsWillBeRefused) {
  ApplyImpliedSettings(&config_, &warnings_);
  ASSERT_EQ(warnings_.size(), 1u);
  EXPECT_EQ(warnings_[0],
            "no credentials are configured (use-auth-secret with static-auth-secret, or "
            "lt-cred-mech with user), so every allocation will be refused; coturn would run an "
            "open relay here, which cvrelay never does");
  EXPECT_EQ(ValidateError(config_), "(no error)");
}

TEST_F(ConfigTest, TlsListenersStayOffAndACertSaysSo) {
  config_.no_auth = true;
  ApplyImpliedSettings(&config_, &warnings_);
  EXPECT_TRUE(config_.no_tls && config_.no_dtls);
  EXPECT_TRUE(warnings_.empty()) << "no cert, no TLS wanted: nothing to warn about";

  Config with_cert;
  with_cert.no_auth = true;
  with_cert.cert = "c.pem";
  with_cert.pkey = "k.pem";
  warnings_.clear();
  ApplyImpliedSettings(&with_cert, &warnings_);
  EXPECT_FALSE(with_cert.no_tls || with_cert.no_dtls) << "with a cert, TLS and DTLS are served";
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(ConfigTest, ValidateAcceptsAValidConfig) {
  EXPECT_EQ(ValidateError(ValidConfig()), "(no error)");
  Config open;
  open.no_auth = true;
  EXPECT_EQ(ValidateError(open), "(no error)");
  Config users;
  users.realm = "example.org";
  users.lt_cred_mech = true;
  users.users.push_back({"alice", "pw", false});
  EXPECT_EQ(ValidateError(users), "(no error)");
}

TEST_F(ConfigTest, ValidateRejectsEachContradiction) {
  struct Case {
    std::function<void(Config&)> change;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {[](Config& c) {
         c.min_port = 50000;
         c.max_port = 40000;
       },
       "min-port (50000) must not be greater than max-port (40000)"},
      {[](Config& c) { c.min_port = 0; }, "min-port must be 1-65535"},
      {[](Config& c) { c.no_udp = c.no_tcp = true; },
       "every listener is off: no-udp and no-tcp are set, and TLS and DTLS need cert and pkey and "
       "must not be turned off by no-tls and no-dtls"},
      {[](Config& c) {
         c.cert = "c.pem";
         c.pkey = "k.pem";
         c.tls_listening_port = 3478;
       },
       "listening-port and tls-listening-port must differ (both are 3478)"},
      {[](Config& c) { c.no_udp_relay = c.no_tcp_relay = true; },
       "no-udp-relay is set and TCP relaying is off (it needs tcp-relay, without no-tcp-relay): "
       "nothing could be relayed"},
      {[](Config& c) { c.no_udp_relay = true; },
       "no-udp-relay is set and TCP relaying is off (it needs tcp-relay, without no-tcp-relay): "
       "nothing could be relayed"},
      {[](Config& c) { c.cert = "c.pem"; },
       "cert is set but pkey is not (pkey may name the same file if it holds both)"},
      {[](Config& c) { c.pkey = "k.pem"; }, "pkey is set but cert is not"},
      {[](Config& c) { c.relay_threads = 300; }, "relay-threads must be 0-256, got 300"},
      {[](Config& c) { c.stale_nonce = 0; }, "stale-nonce must be at least 1 second"},
      {[](Config& c) { c.max_allocate_lifetime = 0; },
       "max-allocate-lifetime must be at least 1 second"},
      {[](Config& c) { c.channel_lifetime = 0; }, "channel-lifetime must be at least 1 second"},
      {[](Config& c) { c.permission_lifetime = 0; },
       "permission-lifetime must be at least 1 second"},
      {[](Config& c) { c.rest_api_separator = ""; },
       "rest-api-separator must be exactly one character"},
      {[](Config& c) { c.unauth_rate = NAN; },
       "unauth-rate must be 0 (no limit) or a positive number"},
      {[](Config& c) { c.unauth_burst = 0.5; }, "unauth-burst must be at least 1"},
      {[](Config& c) {
         c.external_ips = {{Ip("1.2.3.4"), std::nullopt}, {Ip("1.2.3.5"), std::nullopt}};
       },
       "external-ip without a /private-ip part may be given only once; map several addresses as "
       "public-ip/private-ip"},
      {[](Config& c) { c.no_auth = c.lt_cred_mech = true; },
       "no-auth and lt-cred-mech contradict each other; choose one"},
      {[](Config& c) { c.no_auth = true; },
       "no-auth and use-auth-secret (or static-auth-secret) contradict each other; choose one"},
      {[](Config& c) {
         c = Config{};
         c.no_auth = true;
         c.users.push_back({"alice", "pw", false});
       },
       "no-auth and user accounts contradict each other; remove no-auth or the user lines"},
      {[](Config& c) { c.static_auth_secrets.clear(); },
       "use-auth-secret needs at least one static-auth-secret or an auth-secrets-file (cvrelay "
       "has no database to read secrets from)"},
      {[](Config& c) {
         c.use_auth_secret = false;
         c.lt_cred_mech = true;
       },
       "lt-cred-mech needs at least one user account, or use-auth-secret with static-auth-secret "
       "(cvrelay has no user database)"},
      {[](Config& c) { c.realm.clear(); },
       "realm is required when authentication is on (lt-cred-mech, user or use-auth-secret)"},
      {[](Config& c) {
         c.use_auth_secret = false;
         c.lt_cred_mech = true;
         c.users = {{"alice", "a", false}, {"alice", "b", false}};
       },
       "user 'alice' is defined more than once"},
  };
  for (const Case& tc : cases) {
    Config c = ValidConfig();
    tc.change(c);
    EXPECT_EQ(ValidateError(c), tc.expected);
  }
}

TEST_F(ConfigTest, SamePortIsFineWhenTlsIsOff) {
  Config c = ValidConfig();
  c.tls_listening_port = c.listening_port;
  EXPECT_EQ(ValidateError(c), "(no error)");
}

// ---------------------------------------------------------------------------------------------
// Command line

TEST_F(ConfigTest, HelpAndVersionWinOverEverythingElse) {
  EXPECT_EQ(Load({"--bogus", "-h"}).outcome, LoadOutcome::kHelp);
  EXPECT_EQ(Load({"--help"}).outcome, LoadOutcome::kHelp);
  EXPECT_EQ(Load({"-c", "/nonexistent", "--version"}).outcome, LoadOutcome::kVersion);
  LoadResult r = Load({"-h"});
  EXPECT_FALSE(r.error);
}

TEST_F(ConfigTest, CommandLineOverridesTheFile) {
  std::string path = WriteFile("override.conf",
                               "listening-port=3478\nrealm=file.org\nrelay-ip=10.0.0.1\n"
                               "relay-ip=10.0.0.2\nfingerprint\nuse-auth-secret\n"
                               "static-auth-secret=file-secret\n");
  LoadResult r = Load({"-c", path, "-p", "3500", "--realm=cli.org", "--relay-ip", "192.0.2.9", "-E",
                       "192.0.2.10", "--fingerprint=false"});
  ASSERT_FALSE(r.error) << r.error->ToString();
  EXPECT_EQ(r.outcome, LoadOutcome::kRun);
  EXPECT_EQ(r.config.config_file, path);
  EXPECT_EQ(r.config.listening_port, 3500);
  EXPECT_EQ(r.config.realm, "cli.org");
  EXPECT_EQ(r.config.relay_ips, (std::vector<IpAddress>{Ip("192.0.2.9"), Ip("192.0.2.10")}));
  EXPECT_FALSE(r.config.fingerprint);
  EXPECT_EQ(r.config.static_auth_secrets, std::vector<std::string>{"file-secret"});
}

TEST_F(ConfigTest, CommandLineAcceptsCoturnOptionForms) {
  std::string path = WriteFile("forms.conf", "realm=example.org\n");
  LoadResult r = Load({"--conf-file=" + path,
                       "-af",
                       "-u",
                       "alice:pw",
                       "-uBob:pw2",
                       "-p=3479",
                       "-L",
                       "10.0.0.1",
                       "-X",
                       "203.0.113.1/10.0.0.1",
                       "-l",
                       "stdout",
                       "-V",
                       "-m",
                       "4",
                       "-q",
                       "3",
                       "-Q",
                       "30",
                       "-C",
                       ".",
                       "--stale-nonce",
                       "120",
                       "--channel-lifetime",
                       "--permission-lifetime=60"});
  ASSERT_FALSE(r.error) << r.error->ToString();
  const Config& c = r.config;
  EXPECT_TRUE(c.lt_cred_mech && c.fingerprint && c.very_verbose && c.verbose);
  ASSERT_EQ(c.users.size(), 2u);
  EXPECT_EQ(c.users[1].name, "Bob");
  EXPECT_EQ(c.listening_port, 3479);
  EXPECT_EQ(c.listening_ips, std::vector<IpAddress>{Ip("10.0.0.1")});
  EXPECT_EQ(c.external_ips.size(), 1u);
  EXPECT_EQ(c.log_file, "stdout");
  EXPECT_EQ(c.relay_threads, 4);
  EXPECT_EQ(c.user_quota, 3u);
  EXPECT_EQ(c.total_quota, 30u);
  EXPECT_EQ(c.rest_api_separator, ".");
  EXPECT_EQ(c.stale_nonce, 120u);
  EXPECT_EQ(c.channel_lifetime, 600u);
  EXPECT_EQ(c.permission_lifetime, 60u);
}

TEST_F(ConfigTest, MinusNReadsNoFile) {
  LoadResult r = Load({"-n", "-z"});
  ASSERT_FALSE(r.error) << r.error->ToString();
  EXPECT_TRUE(r.config.no_auth);
  EXPECT_EQ(r.config.config_file, "");
}

TEST_F(ConfigTest, PidfileMayBeEmptyOnTheCommandLine) {
  LoadResult r = Load({"-n", "-z", "--pidfile="});
  ASSERT_FALSE(r.error) << r.error->ToString();
  EXPECT_EQ(r.config.pidfile, "");
}

TEST_F(ConfigTest, CommandLineErrorsSayCommandLine) {
  EXPECT_EQ(LoadError({"-n", "--min-port=abc"}),
            "command line: key 'min-port': expected an integer 1-65535, got 'abc'");
  EXPECT_EQ(LoadError({"-n", "-p"}),
            "command line: key 'listening-port': missing value, expected <port>");
  EXPECT_EQ(LoadError({"-n", "--listen-port=1"}),
            "command line: key 'listen-port': unknown option; did you mean 'listening-port'?");
  EXPECT_EQ(LoadError({"-n", "-Y"}), "command line: key '-Y': unknown option");
  EXPECT_EQ(LoadError({"-n", "stray"}),
            "command line: unexpected argument 'stray'; options are written --key=value or --key "
            "value");
  EXPECT_EQ(LoadError({"-n", "-o"}),
            "command line: key 'daemon': not supported by cvrelay: cvrelay runs in the "
            "foreground; let the service manager supervise it (systemd Type=simple)");
  EXPECT_EQ(LoadError({"-n", "-c", "x.conf"}),
            "command line: key '-n': -n (no configuration file) and -c FILE contradict each other");
  EXPECT_EQ(LoadError({"-c"}), "command line: key '-c': missing value, expected <file>");
}

TEST_F(ConfigTest, CommandLineWarningsSayCommandLine) {
  LoadResult r = Load({"-n", "-z", "--no-cli"});
  ASSERT_FALSE(r.error) << r.error->ToString();
  EXPECT_EQ(r.warnings[0], "command line: key 'no-cli': ignored: cvrelay has no telnet CLI");
}

TEST_F(ConfigTest, MissingFileIsAnError) {
  EXPECT_EQ(LoadError({"-c", "/nonexistent/cvrelay.conf"}),
            "/nonexistent/cvrelay.conf: cannot open the configuration file: No such file or "
            "directory");
}

TEST_F(ConfigTest, FileErrorsKeepTheirLine) {
  std::string path = WriteFile("bad.conf", "realm=example.org\n\nuserdb=/var/db/turndb\n");
  EXPECT_EQ(LoadError({"-c", path}),
            path +
                ":3: key 'userdb': not supported by cvrelay: cvrelay has no user database; list "
                "accounts with user=, or use use-auth-secret with static-auth-secret");
}

TEST_F(ConfigTest, ValidationRunsAfterLoading) {
  EXPECT_EQ(LoadError({"-n", "--min-port=50000", "--max-port=40000"}),
            "min-port (50000) must not be greater than max-port (40000)");
}

TEST_F(ConfigTest, TestStyleCommandLineLoads) {
  LoadResult r = Load({"--listening-ip=127.0.0.1", "--listening-port=0", "--relay-ip=127.0.0.1",
                       "--realm=it.test", "--unauth-rate=0", "--drain-timeout=2"});
  ASSERT_FALSE(r.error) << r.error->ToString();
  EXPECT_EQ(r.config.listening_port, 0);
  EXPECT_EQ(r.config.unauth_rate, 0);
  EXPECT_EQ(r.config.drain_timeout, 2u);
  EXPECT_EQ(r.config.log_level, log::Level::kInfo);
}

TEST_F(ConfigTest, UsageListsEverySupportedOption) {
  std::string usage = UsageText();
  EXPECT_NE(usage.find("-p, --listening-port=<port>"), std::string::npos);
  EXPECT_NE(usage.find("--stale-nonce[=<seconds>]"), std::string::npos);
  for (const KeyInfo& key : ListKeys()) {
    bool listed = usage.find("--" + std::string(key.name)) != std::string::npos;
    EXPECT_EQ(listed, key.kind == KeyKind::kSupported) << key.name;
  }
}

// ---------------------------------------------------------------------------------------------
// Real-world configurations

// Written the way operators write them (a WebRTC deployment, with the hardening most guides
// recommend); it must load unchanged, with warnings only for keys that change nothing.
constexpr std::string_view kRealWorldCoturnConf = R"(# /etc/turnserver.conf
listening-port=3478
tls-listening-port=5349
listening-ip=0.0.0.0
external-ip=203.0.113.10
min-port=49160
max-port=49200

fingerprint
lt-cred-mech
use-auth-secret
static-auth-secret=4080218913
realm=turn.example.com
server-name=turn.example.com

# consider whether you want to limit the quota of relayed streams per user (or total)
user-quota=12 # 4 streams per video call, so 12 streams = 3 simultaneous relayed calls per user.
total-quota=1200
stale-nonce=600
bps-capacity=0

cert=/etc/letsencrypt/live/turn.example.com/fullchain.pem
pkey=/etc/letsencrypt/live/turn.example.com/privkey.pem
cipher-list="ECDHE-RSA-AES256-GCM-SHA512:DHE-RSA-AES256-GCM-SHA512:ECDHE-RSA-AES256-GCM-SHA384"
no-tlsv1
no-tlsv1_1
dh2066

# VoIP traffic is all UDP. There is no reason to let users connect to arbitrary TCP endpoints.
no-tcp-relay
# don't let the relay ever try to connect to private IP address ranges within your network
denied-peer-ip=0.0.0.0-0.255.255.255
denied-peer-ip=10.0.0.0-10.255.255.255
denied-peer-ip=100.64.0.0-100.127.255.255
denied-peer-ip=127.0.0.0-127.255.255.255
denied-peer-ip=169.254.0.0-169.254.255.255
denied-peer-ip=172.16.0.0-172.31.255.255
denied-peer-ip=192.0.0.0-192.0.0.255
denied-peer-ip=192.168.0.0-192.168.255.255
denied-peer-ip=198.18.0.0-198.19.255.255
denied-peer-ip=::1
denied-peer-ip=64:ff9b::-64:ff9b::ffff:ffff
denied-peer-ip=fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
denied-peer-ip=fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff
# special case the turn server itself so that client->TURN->TURN->client flows work
allowed-peer-ip=10.0.0.1
no-multicast-peers
no-loopback-peers

no-cli
syslog
simple-log
log-file=/var/log/turnserver/turnserver.log
new-log-timestamp
pidfile="/var/run/turnserver.pid"
no-rfc5780
no-stun-backward-compatibility
response-origin-only-with-rfc5780
no-software-attribute
)";

TEST_F(ConfigTest, RealWorldCoturnConfigLoadsUnchangedWithOnlyWarnings) {
  std::string path = WriteFile("turnserver.conf", kRealWorldCoturnConf);
  LoadResult r = Load({"-c", path});
  ASSERT_FALSE(r.error) << r.error->ToString();
  EXPECT_EQ(r.outcome, LoadOutcome::kRun);
  const Config& c = r.config;
  EXPECT_EQ(c.listening_port, 3478);
  EXPECT_EQ(c.listening_ips, std::vector<IpAddress>{Ip("0.0.0.0")});
  EXPECT_EQ(c.external_ips, (std::vector<ExternalIp>{{Ip("203.0.113.10"), std::nullopt}}));
  EXPECT_EQ(c.min_port, 49160);
  EXPECT_EQ(c.max_port, 49200);
  EXPECT_TRUE(c.fingerprint && c.lt_cred_mech && c.use_auth_secret);
  EXPECT_EQ(c.static_auth_secrets, std::vector<std::string>{"4080218913"});
  EXPECT_EQ(c.realm, "turn.example.com");
  EXPECT_EQ(c.user_quota, 12u);
  EXPECT_EQ(c.total_quota, 1200u);
  EXPECT_EQ(c.stale_nonce, 600u);
  EXPECT_EQ(c.cert, "/etc/letsencrypt/live/turn.example.com/fullchain.pem");
  EXPECT_EQ(c.cipher_list,
            "ECDHE-RSA-AES256-GCM-SHA512:DHE-RSA-AES256-GCM-SHA512:ECDHE-RSA-AES256-GCM-SHA384");
  EXPECT_TRUE(c.no_tlsv1 && c.no_tlsv1_1 && !c.no_tlsv1_2);
  EXPECT_FALSE(c.no_tls || c.no_dtls) << "the cert is served over TLS and DTLS";
  EXPECT_TRUE(c.no_tcp_relay && c.no_multicast_peers && c.no_software_attribute);
  EXPECT_EQ(c.denied_peer_ips.size(), 13u);
  EXPECT_TRUE(c.denied_peer_ips[1].Contains(Ip("10.0.0.1")));
  EXPECT_TRUE(c.allowed_peer_ips[0].Contains(Ip("10.0.0.1")));
  EXPECT_EQ(c.log_file, "/var/log/turnserver/turnserver.log");
  EXPECT_EQ(c.pidfile, "/var/run/turnserver.pid");
  // bps-capacity=0, dh2066, no-loopback-peers, no-cli, syslog, simple-log, new-log-timestamp,
  // no-rfc5780, no-stun-backward-compatibility, response-origin-only-with-rfc5780.
  ASSERT_EQ(r.warnings.size(), 10u);
  for (const std::string& w : r.warnings) {
    EXPECT_EQ(w.rfind(path + ":", 0), 0u) << w;
    EXPECT_NE(w.find(": ignored: "), std::string::npos) << w;
  }
}

// ---------------------------------------------------------------------------------------------
// The sample configuration and the reference stay in step with the key table

TEST_F(ConfigTest, SampleConfigLoadsAndWarnsThatNoCredentialsAreSet) {
  std::string sample = RepoFile("config/cvrelay.conf");
  ASSERT_FALSE(sample.empty());
  std::optional<ConfigError> e = Parse(sample, "cvrelay.conf");
  ASSERT_FALSE(e) << e->ToString();
  EXPECT_TRUE(warnings_.empty()) << warnings_[0];
  ApplyImpliedSettings(&config_, &warnings_);
  ASSERT_FALSE(warnings_.empty());
  EXPECT_EQ(warnings_[0].rfind("no credentials are configured", 0), 0u) << warnings_[0];
  EXPECT_EQ(ValidateError(config_), "(no error)");
  EXPECT_TRUE(config_.fingerprint && config_.no_multicast_peers && config_.no_tlsv1);
  EXPECT_TRUE(config_.denied_peer_ips.size() > 10);
}

TEST_F(ConfigTest, SampleConfigShowsEverySupportedKeyWithAValidExample) {
  std::string sample = RepoFile("config/cvrelay.conf");
  std::set<std::string> shown;
  std::istringstream lines(sample);
  for (std::string line; std::getline(lines, line);) {
    std::string body = line.substr(0, 1) == "#" ? line.substr(1) : line;
    std::string key = body.substr(0, body.find_first_of("= \t"));
    bool supported = false;
    for (const KeyInfo& info : ListKeys()) {
      supported |= info.kind == KeyKind::kSupported && info.name == key;
    }
    if (!supported) continue;
    shown.insert(key);
    Config c;
    std::vector<std::string> warnings;
    std::optional<ConfigError> error = ParseConfigText(body, "cvrelay.conf", &c, &warnings);
    EXPECT_FALSE(error) << line << " → " << error->ToString();
  }
  for (const KeyInfo& key : ListKeys()) {
    if (key.kind == KeyKind::kSupported) {
      EXPECT_TRUE(shown.count(std::string(key.name))) << key.name << " missing from the sample";
    }
  }
}

TEST_F(ConfigTest, ReferenceDocumentsEveryKey) {
  std::string doc = RepoFile("docs/configuration.md");
  ASSERT_FALSE(doc.empty());
  for (const KeyInfo& key : ListKeys()) {
    EXPECT_NE(doc.find("`" + std::string(key.name) + "`"), std::string::npos) << key.name;
  }
}

}  // namespace
}  // namespace cv::server
