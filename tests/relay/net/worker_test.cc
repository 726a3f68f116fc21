// The worker on real loopback sockets: its batched sends, both ways, and the order of sends
// against relay sockets closed and reopened within one batch.
#include "relay/net/worker.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <thread>

#include "cv/auth/entitlement_authenticator.h"
#include "gtest/gtest.h"
#include "relay/stun/channel_data.h"
#include "tests/support/process.h"
#include "tests/support/turn_client.h"

namespace cv::net {
namespace {

constexpr char kRealm[] = "worker.test";

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const IpAddress loopback = *IpAddress::Parse("127.0.0.1");
    shared_.clock = &clock_;
    shared_.listeners = {{loopback, 0}};
    shared_.relay_v4 = {{loopback, loopback}};
    turn::PeerPolicyConfig policy;
    policy.allow_loopback = true;
    shared_.policy = std::make_shared<const turn::PeerPolicy>(policy);
    shared_.quotas = std::make_unique<turn::QuotaTracker>(0, 0);
    shared_.limits = std::make_unique<turn::RequestLimits>(turn::RequestLimitsConfig{});
    shared_.ports = std::make_unique<PortPool>(49152, 65535);
    shared_.reservations = std::make_unique<ReservationTable>();
    auth::AuthConfig ac;
    ac.realm = kRealm;
    ac.users.push_back(auth::MakeUserWithPassword("alice", kRealm, "pw"));
    ac.users.push_back(auth::MakeUserWithPassword("bob", kRealm, "pw"));
    worker_ = std::make_unique<Worker>(0, shared_, auth::MakeEntitlementAuthenticator(ac));
    std::string error;
    ASSERT_TRUE(worker_->Open(&error)) << error;
    server_ = worker_->listening_addresses().at(0);
    thread_ = std::thread([this] { worker_->Run(); });
    peer_fd_ = testing::BindLoopbackUdp(&peer_, 1 << 20);
    ASSERT_GE(peer_fd_, 0);
  }

  void TearDown() override {
    if (worker_) worker_->Stop();
    if (thread_.joinable()) thread_.join();
    worker_.reset();
    if (peer_fd_ >= 0) close(peer_fd_);
  }

  // Runs `task` on the worker thread and waits for it.
  void OnWorker(std::function<void()> task) {
    std::promise<void> done;
    worker_->Post([&](turn::TurnServer&) {
      task();
      done.set_value();
    });
    ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready);
  }

  // The next datagram at the peer socket and where it came from; nullopt after 2 s.
  std::optional<std::pair<std::vector<uint8_t>, SocketAddress>> PeerReceive() {
    pollfd p{peer_fd_, POLLIN, 0};
    if (poll(&p, 1, 2000) != 1) return std::nullopt;
    std::vector<uint8_t> buf(2048);
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    ssize_t n = recvfrom(peer_fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from),
                         &from_len);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    auto source = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&from), from_len);
    if (!source) return std::nullopt;
    return std::make_pair(std::move(buf), *source);
  }

  void PeerSend(const SocketAddress& to, const std::vector<uint8_t>& data) {
    sockaddr_storage sa{};
    socklen_t len = to.ToSockaddr(&sa);
    ASSERT_EQ(sendto(peer_fd_, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&sa), len),
              static_cast<ssize_t>(data.size()));
  }

  RealClock clock_;
  WorkerShared shared_;
  std::unique_ptr<Worker> worker_;
  std::thread thread_;
  SocketAddress server_;
  SocketAddress peer_;
  int peer_fd_ = -1;
};

std::vector<uint8_t> Numbered(uint32_t i) {
  std::vector<uint8_t> payload(160, static_cast<uint8_t>(i));
  payload[0] = static_cast<uint8_t>(i >> 8);
  payload[1] = static_cast<uint8_t>(i);
  return payload;
}

TEST_F(WorkerTest, ABurstFromOneClientReachesThePeerWholeAndInOrder) {
  testing::TurnClient client(server_);
  auto allocated = client.Allocate("alice", "pw");
  ASSERT_EQ(allocated.error, 0);
  ASSERT_TRUE(allocated.relayed);
  ASSERT_EQ(client.ChannelBind(0x4000, peer_).error, 0);

  // More frames than one receive batch and than the send queue: several sendmmsg runs.
  constexpr uint32_t kFrames = 200;
  for (uint32_t i = 0; i < kFrames; ++i) client.SendChannelData(0x4000, Numbered(i));
  for (uint32_t i = 0; i < kFrames; ++i) {
    auto got = PeerReceive();
    ASSERT_TRUE(got) << "frame " << i << " never arrived";
    EXPECT_EQ(got->first, Numbered(i)) << "frame " << i;
    EXPECT_EQ(got->second, *allocated.relayed);
  }
}

TEST_F(WorkerTest, ABurstFromThePeerReachesTheClientAsChannelDataInOrder) {
  testing::TurnClient client(server_);
  auto allocated = client.Allocate("alice", "pw");
  ASSERT_EQ(allocated.error, 0);
  ASSERT_EQ(client.ChannelBind(0x4001, peer_).error, 0);

  constexpr uint32_t kFrames = 200;
  for (uint32_t i = 0; i < kFrames; ++i) PeerSend(*allocated.relayed, Numbered(i));
  for (uint32_t i = 0; i < kFrames; ++i) {
    auto got = client.Receive(2000);
    ASSERT_TRUE(got) << "frame " << i << " never arrived";
    auto frame = stun::ParseChannelData(*got);
    ASSERT_TRUE(frame) << "frame " << i;
    EXPECT_EQ(frame->channel, 0x4001);
    EXPECT_EQ(std::vector<uint8_t>(frame->data.begin(), frame->data.end()), Numbered(i));
  }
}

TEST_F(WorkerTest, DataQueuedForAClosedRelayLeavesFromThatRelayNotFromOneOpenedAfterIt) {
  // Within one batch: data queued on relay A, A closed, relay B opened. The kernel hands B the
  // descriptor number A just gave back, so data still queued when A closes would leave from B.
  turn::Allocation a, b;
  SocketAddress a_address, b_address;
  OnWorker([&] {
    turn::RelayOpenResult opened = worker_->OpenRelays(turn::RelayRequest{}, &a);
    ASSERT_EQ(opened.error, 0);
    a.relays = opened.relays;
    a_address = a.relays[0].address;
    worker_->SendToPeer(a.relays[0], peer_, Numbered(1));
    worker_->CloseRelays(a);
    opened = worker_->OpenRelays(turn::RelayRequest{}, &b);
    ASSERT_EQ(opened.error, 0);
    b.relays = opened.relays;
    b_address = b.relays[0].address;
  });
  auto got = PeerReceive();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->first, Numbered(1));
  EXPECT_EQ(got->second, a_address);
  EXPECT_NE(got->second, b_address);
  OnWorker([&] { worker_->CloseRelays(b); });
}

TEST_F(WorkerTest, TwoClientsInterleavedBothGetEverythingTheirPeerSent) {
  testing::TurnClient alice(server_), bob(server_);
  auto a = alice.Allocate("alice", "pw");
  auto b = bob.Allocate("bob", "pw");
  ASSERT_EQ(a.error, 0);
  ASSERT_EQ(b.error, 0);
  ASSERT_EQ(alice.ChannelBind(0x4000, peer_).error, 0);
  ASSERT_EQ(bob.ChannelBind(0x4000, peer_).error, 0);
  constexpr uint32_t kFrames = 100;
  for (uint32_t i = 0; i < kFrames; ++i) {
    PeerSend(*a.relayed, Numbered(i));
    PeerSend(*b.relayed, Numbered(1000 + i));
  }
  for (uint32_t i = 0; i < kFrames; ++i) {
    auto got_a = alice.Receive(2000);
    auto got_b = bob.Receive(2000);
    ASSERT_TRUE(got_a && got_b) << "frame " << i;
    auto fa = stun::ParseChannelData(*got_a);
    auto fb = stun::ParseChannelData(*got_b);
    ASSERT_TRUE(fa && fb);
    EXPECT_EQ(std::vector<uint8_t>(fa->data.begin(), fa->data.end()), Numbered(i));
    EXPECT_EQ(std::vector<uint8_t>(fb->data.begin(), fb->data.end()), Numbered(1000 + i));
  }
}

}  // namespace
}  // namespace cv::net
