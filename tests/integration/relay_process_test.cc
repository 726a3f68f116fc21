// Integration: the real cvrelay binary, started on loopback port 0, driven by our own small
// client. Covers what only a whole process shows: startup and config errors, SIGHUP reload,
// SIGTERM drain, and what reaches the log.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>

#include "tests/support/process.h"
#include "tests/support/turn_client.h"

namespace cv::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string RestUser(const std::string& name, int64_t ttl = 3600) {
  return std::to_string(time(nullptr) + ttl) + ":" + name;
}

std::vector<std::string> BaseArgs() {
  return {"--listening-ip=127.0.0.1", "--listening-port=0", "--relay-ip=127.0.0.1",
          "--min-port=43000",         "--max-port=43999",   "--relay-threads=2",
          "--realm=it.test"};
}

// BaseArgs() plus REST credentials with `secret` and any `extra` flags.
std::vector<std::string> RestArgs(const std::string& secret,
                                  std::initializer_list<std::string> extra = {}) {
  std::vector<std::string> args = BaseArgs();
  args.push_back("--use-auth-secret");
  args.push_back("--static-auth-secret=" + secret);
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

TEST(RelayProcessTest, AnswersBindingOnTheLoggedPort) {
  RelayProcess relay;
  ASSERT_TRUE(relay.Start(BaseArgs())) << relay.process().Output();
  TurnClient client(relay.address());
  auto reply = client.Binding();
  ASSERT_TRUE(reply.received);
  EXPECT_EQ(reply.error, 0);
  ASSERT_TRUE(reply.mapped);
  EXPECT_EQ(reply.mapped->ip.ToString(), "127.0.0.1");
  EXPECT_EQ(reply.mapped->port, client.local().port);
}

TEST(RelayProcessTest, AllocatesWithRestCredentialAndLogsNoSecret) {
  const std::string secret = "very-secret-value-91";
  RelayProcess relay;
  ASSERT_TRUE(relay.Start(RestArgs(secret))) << relay.process().Output();
  TurnClient client(relay.address());
  std::string user = RestUser("alice");
  std::string password = RestPassword(secret, user);
  auto reply = client.Allocate(user, password);
  ASSERT_EQ(reply.error, 0);
  ASSERT_TRUE(reply.relayed);
  EXPECT_EQ(reply.relayed->ip.ToString(), "127.0.0.1");
  EXPECT_GE(reply.relayed->port, 43000);
  EXPECT_LE(reply.relayed->port, 43999);
  ASSERT_TRUE(relay.process().WaitForOutput("allocation.created", seconds(2)));
  std::string log = relay.process().Output();
  EXPECT_EQ(log.find(secret), std::string::npos) << "the secret must never be logged";
  EXPECT_EQ(log.find(password), std::string::npos) << "passwords must never be logged";
  EXPECT_NE(log.find("user=\"alice\""), std::string::npos)
      << "the REST user part is the user" << log;
}

TEST(RelayProcessTest, ExternalIpIsAdvertisedAsTheRelayedAddress) {
  RelayProcess relay;
  ASSERT_TRUE(relay.Start(RestArgs("s", {"--external-ip=203.0.113.77/127.0.0.1"})))
      << relay.process().Output();
  TurnClient client(relay.address());
  std::string user = RestUser("nat");
  auto reply = client.Allocate(user, RestPassword("s", user));
  ASSERT_EQ(reply.error, 0);
  ASSERT_TRUE(reply.relayed);
  EXPECT_EQ(reply.relayed->ip.ToString(), "203.0.113.77");
  EXPECT_GE(reply.relayed->port, 43000);
}

TEST(RelayProcessTest, UserQuotaHoldsAcrossWorkers) {
  RelayProcess relay;
  ASSERT_TRUE(relay.Start(RestArgs("s", {"--user-quota=2"}))) << relay.process().Output();
  std::string user = RestUser("quota-user");
  std::string password = RestPassword("s", user);
  // Different source ports spread over both workers (SO_REUSEPORT hashing).
  std::vector<std::unique_ptr<TurnClient>> clients;
  int ok = 0, refused = 0;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(std::make_unique<TurnClient>(relay.address()));
    auto reply = clients.back()->Allocate(user, password);
    ok += reply.error == 0;
    refused += reply.error == 486;
  }
  EXPECT_EQ(ok, 2);
  EXPECT_EQ(refused, 3);
  TurnClient other(relay.address());
  std::string other_user = RestUser("someone-else");
  EXPECT_EQ(other.Allocate(other_user, RestPassword("s", other_user)).error, 0);
  // Releasing one allocation frees one slot.
  ASSERT_EQ(clients[0]->Refresh(0).error, 0);
  TurnClient again(relay.address());
  EXPECT_EQ(again.Allocate(user, password).error, 0);
}

TEST(RelayProcessTest, ReservationTokensCannotBePredictedFromOnesAClientSaw) {
  RelayProcess relay;
  ASSERT_TRUE(relay.Start(RestArgs("s", {"--relay-threads=1"}))) << relay.process().Output();
  std::string user = RestUser("rtcp");
  std::vector<uint64_t> tokens;
  std::vector<std::unique_ptr<TurnClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<TurnClient>(relay.address()));
    auto reply = clients.back()->Allocate(user, RestPassword("s", user), /*reserve_next=*/true);
    ASSERT_EQ(reply.error, 0);
    ASSERT_TRUE(reply.reservation_token);
    ASSERT_EQ(reply.relayed->port % 2, 0) << "EVEN-PORT";
    tokens.push_back(*reply.reservation_token);
  }
  // A token is a capability for someone else's reserved port: the next one must not follow from
  // the last one by any simple generator step (this catches a token that is the RNG state).
  for (size_t i = 1; i < tokens.size(); ++i) {
    uint64_t x = tokens[i - 1];
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    EXPECT_NE(tokens[i], x);
    EXPECT_NE(tokens[i], tokens[i - 1] + 1);
    EXPECT_NE(tokens[i], tokens[i - 1]);
  }
}

TEST(RelayProcessTest, HostileUsernameCannotForgeLogLines) {
  RelayProcess relay;
  ASSERT_TRUE(relay.Start(RestArgs("s"))) << relay.process().Output();
  TurnClient client(relay.address());
  std::string evil = "1:x\n2026-01-01T00:00:00.000Z error forged %s%n";
  auto reply = client.Allocate(evil, "whatever");
  EXPECT_EQ(reply.error, 401);
  ASSERT_TRUE(relay.process().WaitForOutput("auth.refused", seconds(2)));
  std::string log = relay.process().Output();
  EXPECT_EQ(log.find("\n2026-01-01T00:00:00.000Z error forged"), std::string::npos) << log;
  EXPECT_TRUE(relay.process().running());
}

TEST(RelayProcessTest, SighupSwapsSecretsWithoutDroppingAllocations) {
  TempDir dir;
  std::string conf = dir.Write("relay.conf", "use-auth-secret\nstatic-auth-secret=old-secret\n");
  RelayProcess relay;
  auto args = BaseArgs();
  args.insert(args.begin(), {"-c", conf});
  ASSERT_TRUE(relay.Start(args)) << relay.process().Output();

  TurnClient live(relay.address());
  std::string user = RestUser("bob");
  ASSERT_EQ(live.Allocate(user, RestPassword("old-secret", user)).error, 0);

  dir.Write("relay.conf", "use-auth-secret\nstatic-auth-secret=new-secret\n");
  relay.process().Signal(SIGHUP);
  ASSERT_TRUE(relay.process().WaitForOutput("server.reloaded", seconds(5)))
      << relay.process().Output();

  TurnClient with_old(relay.address());
  std::string u2 = RestUser("carol");
  EXPECT_EQ(with_old.Allocate(u2, RestPassword("old-secret", u2)).error, 401);
  TurnClient with_new(relay.address());
  EXPECT_EQ(with_new.Allocate(u2, RestPassword("new-secret", u2)).error, 0);
  EXPECT_EQ(live.Refresh(600).error, 0) << "the live allocation keeps working";
}

TEST(RelayProcessTest, SighupWithBrokenConfigKeepsTheOldSecrets) {
  TempDir dir;
  std::string conf = dir.Write("relay.conf", "use-auth-secret\nstatic-auth-secret=keep-me\n");
  RelayProcess relay;
  auto args = BaseArgs();
  args.insert(args.begin(), {"-c", conf});
  ASSERT_TRUE(relay.Start(args)) << relay.process().Output();
  dir.Write("relay.conf", "use-auth-secret\nstatic-auth-secret=x\nmin-port=banana\n");
  relay.process().Signal(SIGHUP);
  ASSERT_TRUE(relay.process().WaitForOutput("server.reload_failed", seconds(5)));
  TurnClient client(relay.address());
  std::string user = RestUser("dave");
  EXPECT_EQ(client.Allocate(user, RestPassword("keep-me", user)).error, 0);
}

TEST(RelayProcessTest, SigtermWithoutAllocationsExitsCleanlyAtOnce) {
  RelayProcess relay;
  ASSERT_TRUE(relay.Start(BaseArgs())) << relay.process().Output();
  auto started = std::chrono::steady_clock::now();
  relay.process().Signal(SIGTERM);
  auto code = relay.process().Wait(seconds(5));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, seconds(2));
  EXPECT_NE(relay.process().Output().find("server.stopped"), std::string::npos);
}

TEST(RelayProcessTest, SigtermDrainsRefusingNewAllocationsUntilTheTimeout) {
  RelayProcess relay;
  ASSERT_TRUE(relay.Start(RestArgs("s", {"--drain-timeout=2"}))) << relay.process().Output();
  TurnClient live(relay.address());
  std::string user = RestUser("erin");
  ASSERT_EQ(live.Allocate(user, RestPassword("s", user)).error, 0);

  relay.process().Signal(SIGTERM);
  ASSERT_TRUE(relay.process().WaitForOutput("server.draining", seconds(2)));
  TurnClient late(relay.address());
  EXPECT_EQ(late.Allocate(user, RestPassword("s", user)).error, 508);
  EXPECT_EQ(live.Refresh(600).error, 0) << "existing calls continue while draining";
  auto code = relay.process().Wait(seconds(6));
  ASSERT_TRUE(code) << "drain-timeout bounds the shutdown";
  EXPECT_EQ(*code, 0);
}

TEST(RelayProcessTest, ConfigErrorNamesFileLineAndKeyAndExitsNonZero) {
  TempDir dir;
  std::string conf = dir.Write("bad.conf", "# comment\nrealm=x\nmin-port=banana\n");
  RunResult r = RunCommand({BinaryPath("cvrelay"), "-c", conf}, seconds(5));
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("bad.conf:3"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("min-port"), std::string::npos) << r.output;
}

TEST(RelayProcessTest, UnknownKeyIsAnError) {
  TempDir dir;
  std::string conf = dir.Write("bad.conf", "realm=x\nlisening-port=3478\n");
  RunResult r = RunCommand({BinaryPath("cvrelay"), "-c", conf}, seconds(5));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("bad.conf:2"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("lisening-port"), std::string::npos) << r.output;
}

TEST(RelayProcessTest, PortInUseIsAClearStartupError) {
  // A port held by a socket without SO_REUSEPORT cannot be shared.
  uint16_t port = FreeUdpPort();
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  auto a = SocketAddress::Parse("127.0.0.1", port);
  sockaddr_storage ss;
  socklen_t len = a->ToSockaddr(&ss);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&ss), len), 0);
  RunResult r =
      RunCommand({BinaryPath("cvrelay"), "--listening-ip=127.0.0.1",
                  "--listening-port=" + std::to_string(port), "--realm=x", "--no-usage-ledger"},
                 seconds(5));
  close(fd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("bind 127.0.0.1:" + std::to_string(port)), std::string::npos) << r.output;
}

}  // namespace
}  // namespace cv::testing
