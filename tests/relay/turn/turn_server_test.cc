#include "relay/turn/turn_server.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "relay/common/log.h"
#include "relay/stun/channel_data.h"
#include "relay/stun/crypto.h"

namespace cv::turn {
namespace {

using stun::MessageBuilder;
using stun::MessageClass;
using stun::MessageView;
using stun::Method;
namespace attr = stun::attr;

constexpr char kRealm[] = "example.org";

// Static users with a fixed entitlement each; enough to drive TurnServer. The real
// authenticator is tested in auth-plugin.
class FakeAuthenticator final : public auth::Authenticator {
 public:
  void AddUser(const std::string& name, const std::string& password,
               auth::Refusal refusal = auth::Refusal::kNone, auth::Entitlement ent = {}) {
    auth::Key key;
    auto md5 = stun::LongTermKeyMd5(name, kRealm, password);
    std::copy(md5.begin(), md5.end(), key.bytes.begin());
    if (ent.user.empty()) ent.user = name;
    users_[name] = {key, refusal, std::move(ent)};
  }
  std::string_view realm() const override { return kRealm; }
  auth::LookupStatus Lookup(std::string_view username, int64_t,
                            auth::Candidates* out) const override {
    auto it = users_.find(std::string(username));
    if (it == users_.end()) return auth::LookupStatus::kUnknownUser;
    out->keys[0] = it->second.key;
    out->count = 1;
    return auth::LookupStatus::kOk;
  }
  auth::Grant Authorize(std::string_view username, size_t, int64_t) const override {
    const User& u = users_.at(std::string(username));
    auth::Grant g;
    g.refusal = u.refusal;
    g.entitlement = u.entitlement;
    return g;
  }
  std::string ClaimedUser(std::string_view username) const override {
    return std::string(username);
  }

 private:
  struct User {
    auth::Key key;
    auth::Refusal refusal;
    auth::Entitlement entitlement;
  };
  std::map<std::string, User> users_;
};

struct Sent {
  FiveTuple tuple;
  std::vector<uint8_t> data;
};
struct PeerSent {
  RelayHandle relay;
  SocketAddress peer;
  std::vector<uint8_t> data;
};

class FakeNet final : public TurnCallbacks {
 public:
  void SendToClient(const FiveTuple& tuple, std::span<const uint8_t> data) override {
    to_client.push_back({tuple, {data.begin(), data.end()}});
  }
  void SendToPeer(const Relay& relay, const SocketAddress& peer,
                  std::span<const uint8_t> data) override {
    to_peer.push_back({relay.handle, peer, {data.begin(), data.end()}});
  }
  RelayOpenResult OpenRelays(const RelayRequest& request, Allocation* owner) override {
    last_request = request;
    RelayOpenResult r;
    if (fail_with != 0) {
      r.error = fail_with;
      return r;
    }
    if (request.want_v4) r.relays[0] = {next_handle++, {*IpAddress::Parse("198.51.100.1"), port}};
    if (request.want_v6) {
      r.relays[1] = {next_handle++, {*IpAddress::Parse("2001:db8::1"), port}};
    }
    port += 2;
    if (request.reserve_next) r.reservation_token = 0x1122334455667788ull;
    owners.push_back(owner);
    ++open;
    return r;
  }
  void CloseRelays(Allocation& a) override {
    for (auto& r : a.relays) {
      if (r.handle != kNoRelay) closed.push_back(r.handle);
    }
    --open;
  }
  uint32_t ConnectPeer(Allocation& a, const SocketAddress& peer) override {
    connects.push_back({&a, peer});
    return refuse_connect ? 0 : next_connection_id++;
  }
  void BindPeerConnection(uint32_t id, const FiveTuple& data) override {
    binds.push_back({id, data});
  }
  void ClosePeerConnection(uint32_t id) override { closed_connections.push_back(id); }

  struct ConnectCall {
    Allocation* allocation;
    SocketAddress peer;
  };
  std::vector<ConnectCall> connects;
  std::vector<std::pair<uint32_t, FiveTuple>> binds;
  std::vector<uint32_t> closed_connections;
  bool refuse_connect = false;
  uint32_t next_connection_id = 0x01000001;  // worker 1's

  std::vector<Sent> to_client;
  std::vector<PeerSent> to_peer;
  std::vector<Allocation*> owners;
  std::vector<RelayHandle> closed;
  RelayRequest last_request;
  uint16_t fail_with = 0;
  RelayHandle next_handle = 1;
  uint16_t port = 50000;
  int open = 0;
};

// A parsed copy of a response, so tests can read it after the buffer moves on.
struct Response {
  std::vector<uint8_t> bytes;
  MessageView view;
  uint16_t error() const { return view.GetErrorCode().value_or(0); }
  bool success() const { return view.message_class() == MessageClass::kSuccessResponse; }
};

class TurnServerTest : public ::testing::Test {
 protected:
  TurnServerTest() {
    log::SetLevel(log::Level::kWarning);
    config_.unauth_rate = 0;  // unlimited, except where a test sets it
    Rebuild();
  }

  void Rebuild() {
    auth_ = std::make_shared<FakeAuthenticator>();
    auth_->AddUser("alice", "secret");
    auth_->AddUser("bob", "hunter2");
    auth_->AddUser("freeloader", "x", auth::Refusal::kPlanMayNotRelay);
    for (const auto& [name, ent] : extra_users_)
      auth_->AddUser(name, "pw", auth::Refusal::kNone, ent);
    PeerPolicyConfig policy;
    policy.allow_loopback = false;
    quotas_ = std::make_unique<QuotaTracker>(user_quota_, total_quota_);
    limits_ = std::make_unique<RequestLimits>(limits_config_, /*seed=*/42);
    server_.reset();
    std::array<uint8_t, 32> key{};
    key[0] = 7;
    server_ =
        std::make_unique<TurnServer>(config_, clock_, net_, *quotas_, *limits_,
                                     std::make_shared<PeerPolicy>(policy), auth_, key, 600, 0);
  }

  FiveTuple Client(uint16_t port = 40000) {
    FiveTuple t;
    t.client = *SocketAddress::Parse("203.0.113.50:" + std::to_string(port));
    t.server = *SocketAddress::Parse("192.0.2.1:3478");
    return t;
  }

  stun::TransactionId NewId() {
    stun::TransactionId id{};
    uint64_t n = ++txn_;
    std::memcpy(id.data(), &n, sizeof(n));
    return id;
  }

  // Builds a request; `add` adds method attributes; credentials are added when `user` is set.
  template <typename F>
  std::vector<uint8_t> Request(Method method, F add, const std::string& user = "",
                               const std::string& password = "", stun::TransactionId id = {},
                               bool sha256 = false) {
    if (id == stun::TransactionId{}) id = NewId();
    std::vector<uint8_t> buf(1500);
    MessageBuilder b(buf);
    b.Start(method, MessageClass::kRequest, id);
    add(b);
    if (!user.empty()) {
      b.AddString(attr::kUsername, user);
      b.AddString(attr::kRealm, kRealm);
      b.AddString(attr::kNonce, nonce_);
      auto key = stun::LongTermKeyMd5(user, kRealm, password);
      if (sha256) {
        b.AddMessageIntegritySha256(key);
      } else {
        b.AddMessageIntegrity(key);
      }
    }
    EXPECT_TRUE(b.ok());
    buf.resize(b.size());
    return buf;
  }

  Response Exchange(const FiveTuple& tuple, const std::vector<uint8_t>& request) {
    size_t before = net_.to_client.size();
    server_->OnClientPacket(tuple, request, clock_.Now());
    EXPECT_EQ(net_.to_client.size(), before + 1) << "expected exactly one response";
    Response r;
    if (net_.to_client.size() == before) return r;
    r.bytes = net_.to_client.back().data;
    EXPECT_EQ(MessageView::Parse(r.bytes, &r.view), stun::ParseError::kOk);
    return r;
  }

  // The 401 round trip: learns the nonce.
  void Challenge(const FiveTuple& tuple) {
    Response r = Exchange(tuple, Request(Method::kAllocate, [](MessageBuilder& b) {
                            b.AddRequestedTransport(stun::kTransportUdp);
                          }));
    ASSERT_EQ(r.error(), 401);
    nonce_ = std::string(*r.view.GetString(attr::kNonce));
  }

  Response Allocate(const FiveTuple& tuple, const std::string& user = "alice",
                    const std::string& password = "secret") {
    return Exchange(
        tuple, Request(
                   Method::kAllocate,
                   [](MessageBuilder& b) { b.AddRequestedTransport(stun::kTransportUdp); }, user,
                   password));
  }

  // Challenge + Allocate; returns the relayed address.
  SocketAddress Allocated(const FiveTuple& tuple, const std::string& user = "alice",
                          const std::string& password = "secret") {
    Challenge(tuple);
    Response r = Allocate(tuple, user, password);
    EXPECT_TRUE(r.success()) << "error " << r.error();
    return r.view.GetXorAddress(attr::kXorRelayedAddress).value_or(SocketAddress{});
  }

  Response CreatePermission(const FiveTuple& tuple, const std::string& peer,
                            const std::string& user = "alice",
                            const std::string& password = "secret") {
    auto addr = *SocketAddress::Parse(peer);
    return Exchange(
        tuple, Request(
                   Method::kCreatePermission,
                   [&](MessageBuilder& b) { b.AddXorAddress(attr::kXorPeerAddress, addr); }, user,
                   password));
  }

  Response ChannelBind(const FiveTuple& tuple, uint16_t channel, const std::string& peer,
                       const std::string& user = "alice", const std::string& password = "secret") {
    auto addr = *SocketAddress::Parse(peer);
    return Exchange(tuple, Request(
                               Method::kChannelBind,
                               [&](MessageBuilder& b) {
                                 b.AddChannelNumber(channel);
                                 b.AddXorAddress(attr::kXorPeerAddress, addr);
                               },
                               user, password));
  }

  // A client on another address (nonces are bound to the address: Challenge() it first).
  FiveTuple ClientAt(const std::string& ip, uint16_t port = 40000) {
    FiveTuple t = Client(port);
    t.client = *SocketAddress::Parse(ip + ":" + std::to_string(port));
    return t;
  }

  // Sends `count` ChannelData frames of `size` payload bytes, one every `gap`; returns the
  // payload bytes that reached the peer.
  size_t Stream(const FiveTuple& c, uint16_t channel, size_t size, int count, Duration gap) {
    std::vector<uint8_t> frame(stun::kChannelDataHeaderSize + size, 0x55);
    stun::WriteChannelDataHeader(channel, static_cast<uint16_t>(size), frame.data());
    size_t before = 0;
    for (const PeerSent& p : net_.to_peer) before += p.data.size();
    for (int i = 0; i < count; ++i) {
      server_->OnClientPacket(c, frame, clock_.Now());
      clock_.Advance(gap);
    }
    size_t after = 0;
    for (const PeerSent& p : net_.to_peer) after += p.data.size();
    return after - before;
  }

  Response Refresh(const FiveTuple& tuple, std::optional<uint32_t> lifetime,
                   const std::string& user = "alice", const std::string& password = "secret",
                   stun::TransactionId id = {}) {
    return Exchange(tuple, Request(
                               Method::kRefresh,
                               [&](MessageBuilder& b) {
                                 if (lifetime) b.AddU32(attr::kLifetime, *lifetime);
                               },
                               user, password, id));
  }

  void PeerSends(const std::string& peer, std::vector<uint8_t> payload) {
    ASSERT_FALSE(net_.owners.empty());
    std::vector<uint8_t> buf(kPeerHeadroom + payload.size() + kPeerTailroom);
    std::copy(payload.begin(), payload.end(), buf.begin() + kPeerHeadroom);
    server_->OnPeerPacket(net_.owners.back(), *SocketAddress::Parse(peer),
                          {buf.data() + kPeerHeadroom, payload.size()}, clock_.Now());
  }

  uint64_t Count(Counter c) const { return server_->counters().Get(c); }

  TurnConfig config_;
  uint32_t user_quota_ = 0;
  uint32_t total_quota_ = 0;
  SimulatedClock clock_;
  FakeNet net_;
  std::shared_ptr<FakeAuthenticator> auth_;
  std::unique_ptr<QuotaTracker> quotas_;
  static RequestLimitsConfig Unlimited() {
    RequestLimitsConfig c;
    c.allocate_rate_per_source = 0;
    c.allocate_rate_per_user = 0;
    c.auth_failures_per_source = 0;
    c.auth_failures_per_user = 0;
    return c;
  }
  RequestLimitsConfig limits_config_ = Unlimited();  // a test may set limits, then Rebuild()
  std::unique_ptr<RequestLimits> limits_;
  // Users with password "pw" and the given entitlement, added by Rebuild().
  std::map<std::string, auth::Entitlement> extra_users_;
  std::unique_ptr<TurnServer> server_;
  std::string nonce_;
  uint64_t txn_ = 0;
};

// --- STUN Binding -----------------------------------------------------------------------------

TEST_F(TurnServerTest, BindingRequestGetsXorMappedAddressWithoutAuthentication) {
  FiveTuple c = Client();
  Response r = Exchange(c, Request(Method::kBinding, [](MessageBuilder&) {}));
  ASSERT_TRUE(r.success());
  EXPECT_EQ(r.view.GetXorAddress(attr::kXorMappedAddress), c.client);
  EXPECT_FALSE(r.view.Find(attr::kSoftware)) << "no SOFTWARE towards strangers";
  EXPECT_EQ(server_->allocation_count(), 0u);
}

TEST_F(TurnServerTest, UnknownComprehensionRequiredAttributeGets420ListingIt) {
  Response r = Exchange(Client(), Request(Method::kBinding, [](MessageBuilder& b) {
                          b.AddU32(0x0077, 1);
                          b.AddU32(0x8077, 1);  // optional: ignored
                        }));
  EXPECT_EQ(r.error(), 420);
  auto unknown = r.view.FindValue(attr::kUnknownAttributes);
  ASSERT_TRUE(unknown);
  ASSERT_EQ(unknown->size(), 2u);
  EXPECT_EQ((*unknown)[0] << 8 | (*unknown)[1], 0x0077);
}

// --- Authentication ---------------------------------------------------------------------------

TEST_F(TurnServerTest, AllocateWithoutIntegrityGets401WithRealmAndNonceAndCreatesNoState) {
  FiveTuple c = Client();
  Response r = Exchange(c, Request(Method::kAllocate, [](MessageBuilder& b) {
                          b.AddRequestedTransport(stun::kTransportUdp);
                        }));
  EXPECT_EQ(r.error(), 401);
  EXPECT_EQ(r.view.GetString(attr::kRealm), kRealm);
  EXPECT_TRUE(r.view.GetString(attr::kNonce));
  EXPECT_FALSE(r.view.Find(attr::kSoftware));
  EXPECT_EQ(server_->allocation_count(), 0u);
  EXPECT_EQ(net_.open, 0);
  EXPECT_EQ(Count(Counter::kChallenges), 1u);
}

TEST_F(TurnServerTest, ChallengeIsSmallAndHasNoReasonPhrase) {
  auto request = Request(Method::kAllocate, [](MessageBuilder& b) {
    b.AddRequestedTransport(stun::kTransportUdp);
    b.AddString(attr::kSoftware, "some client 1.0");
  });
  Response r = Exchange(Client(), request);
  auto code = r.view.FindValue(attr::kErrorCode);
  ASSERT_TRUE(code);
  EXPECT_EQ(code->size(), 4u) << "no reason phrase to unauthenticated clients";
  EXPECT_LE(r.bytes.size(), 100u);
}

TEST_F(TurnServerTest, AllocateWithValidCredentialsSucceeds) {
  FiveTuple c = Client();
  Challenge(c);
  Response r = Allocate(c);
  ASSERT_TRUE(r.success()) << r.error();
  EXPECT_TRUE(r.view.VerifyIntegrity(stun::LongTermKeyMd5("alice", kRealm, "secret")));
  EXPECT_EQ(r.view.GetXorAddress(attr::kXorMappedAddress), c.client);
  EXPECT_EQ(r.view.GetXorAddress(attr::kXorRelayedAddress)->ip.ToString(), "198.51.100.1");
  EXPECT_EQ(r.view.GetU32(attr::kLifetime), 600u);
  EXPECT_EQ(server_->allocation_count(), 1u);
  EXPECT_EQ(Count(Counter::kAllocationsCreated), 1u);
}

TEST_F(TurnServerTest, ResponseUsesSha256IntegrityWhenRequestDid) {
  FiveTuple c = Client();
  Challenge(c);
  Response r =
      Exchange(c, Request(
                      Method::kAllocate,
                      [](MessageBuilder& b) { b.AddRequestedTransport(stun::kTransportUdp); },
                      "alice", "secret", {}, /*sha256=*/true));
  ASSERT_TRUE(r.success()) << r.error();
  EXPECT_TRUE(r.view.has_message_integrity_sha256());
}

TEST_F(TurnServerTest, WrongPasswordGets401AndNoAllocation) {
  FiveTuple c = Client();
  Challenge(c);
  Response r = Allocate(c, "alice", "wrong");
  EXPECT_EQ(r.error(), 401);
  EXPECT_EQ(server_->allocation_count(), 0u);
  EXPECT_EQ(Count(Counter::kAuthBadIntegrity), 1u);
}

TEST_F(TurnServerTest, UnknownUserGets401) {
  FiveTuple c = Client();
  Challenge(c);
  EXPECT_EQ(Allocate(c, "mallory", "x").error(), 401);
  EXPECT_EQ(Count(Counter::kAuthUnknownUser), 1u);
}

TEST_F(TurnServerTest, AuthorizationRefusalGets403WithIntegrity) {
  FiveTuple c = Client();
  Challenge(c);
  Response r = Allocate(c, "freeloader", "x");
  EXPECT_EQ(r.error(), 403);
  EXPECT_TRUE(r.view.VerifyIntegrity(stun::LongTermKeyMd5("freeloader", kRealm, "x")));
  EXPECT_EQ(server_->allocation_count(), 0u);
  EXPECT_EQ(Count(Counter::kAuthPlanRefused), 1u);
}

TEST_F(TurnServerTest, ExpiredNonceGets438WithAFreshNonce) {
  FiveTuple c = Client();
  Challenge(c);
  clock_.Advance(seconds(601));
  Response r = Allocate(c);
  EXPECT_EQ(r.error(), 438);
  auto fresh = r.view.GetString(attr::kNonce);
  ASSERT_TRUE(fresh);
  EXPECT_NE(*fresh, nonce_);
  nonce_ = std::string(*fresh);
  EXPECT_TRUE(Allocate(c).success());
}

TEST_F(TurnServerTest, NonceIsBoundToTheClientAddress) {
  FiveTuple a = Client(40000);
  FiveTuple b = Client(40001);
  Challenge(a);
  EXPECT_EQ(Allocate(b).error(), 438);
  EXPECT_EQ(Count(Counter::kAuthForgedNonce), 1u);
}

TEST_F(TurnServerTest, IntegrityWithoutUsernameGets400) {
  FiveTuple c = Client();
  Challenge(c);
  std::vector<uint8_t> buf(200);
  MessageBuilder b(buf);
  b.Start(Method::kAllocate, MessageClass::kRequest, NewId());
  b.AddRequestedTransport(stun::kTransportUdp);
  b.AddMessageIntegrity(stun::LongTermKeyMd5("alice", kRealm, "secret"));
  buf.resize(b.size());
  EXPECT_EQ(Exchange(c, buf).error(), 400);
}

TEST_F(TurnServerTest, UnauthenticatedRepliesAreRateLimitedPerSourceAddress) {
  config_.unauth_rate = 1;
  config_.unauth_burst = 3;
  Rebuild();
  size_t answered = 0;
  for (uint16_t port = 1000; port < 1010; ++port) {
    size_t before = net_.to_client.size();
    server_->OnClientPacket(
        Client(port),
        Request(Method::kAllocate,
                [](MessageBuilder& b) { b.AddRequestedTransport(stun::kTransportUdp); }),
        clock_.Now());
    answered += net_.to_client.size() - before;
  }
  EXPECT_EQ(answered, 3u) << "changing the source port must not reset the limit";
  EXPECT_EQ(Count(Counter::kDropRateLimited), 7u);
}

// --- Allocate ---------------------------------------------------------------------------------

TEST_F(TurnServerTest, SecondAllocateOnSameFiveTupleGets437) {
  FiveTuple c = Client();
  Allocated(c);
  EXPECT_EQ(Allocate(c).error(), 437);
  EXPECT_EQ(server_->allocation_count(), 1u);
}

TEST_F(TurnServerTest, RetransmittedAllocateGetsTheSameSuccess) {
  FiveTuple c = Client();
  Challenge(c);
  auto request = Request(
      Method::kAllocate, [](MessageBuilder& b) { b.AddRequestedTransport(stun::kTransportUdp); },
      "alice", "secret");
  Response first = Exchange(c, request);
  Response again = Exchange(c, request);
  ASSERT_TRUE(first.success());
  EXPECT_EQ(first.bytes, again.bytes);
  EXPECT_EQ(server_->allocation_count(), 1u);
  EXPECT_EQ(Count(Counter::kRetransmissions), 1u);
}

TEST_F(TurnServerTest, MissingRequestedTransportGets400) {
  FiveTuple c = Client();
  Challenge(c);
  Response r = Exchange(c, Request(
                               Method::kAllocate, [](MessageBuilder&) {}, "alice", "secret"));
  EXPECT_EQ(r.error(), 400);
}

TEST_F(TurnServerTest, TcpRequestedTransportGets442) {
  FiveTuple c = Client();
  Challenge(c);
  Response r =
      Exchange(c, Request(
                      Method::kAllocate,
                      [](MessageBuilder& b) { b.AddRequestedTransport(stun::kTransportTcp); },
                      "alice", "secret"));
  EXPECT_EQ(r.error(), 442);
}

TEST_F(TurnServerTest, RequestedIpv6FamilyGetsAnIpv6Relay) {
  FiveTuple c = Client();
  Challenge(c);
  Response r = Exchange(c, Request(
                               Method::kAllocate,
                               [](MessageBuilder& b) {
                                 b.AddRequestedTransport(stun::kTransportUdp);
                                 b.AddFamily(attr::kRequestedAddressFamily, stun::kFamilyIPv6);
                               },
                               "alice", "secret"));
  ASSERT_TRUE(r.success()) << r.error();
  EXPECT_TRUE(r.view.GetXorAddress(attr::kXorRelayedAddress)->ip.is_v6());
  EXPECT_FALSE(net_.last_request.want_v4);
}

TEST_F(TurnServerTest, AdditionalAddressFamilyGivesTwoRelayedAddresses) {
  FiveTuple c = Client();
  Challenge(c);
  Response r = Exchange(c, Request(
                               Method::kAllocate,
                               [](MessageBuilder& b) {
                                 b.AddRequestedTransport(stun::kTransportUdp);
                                 b.AddFamily(attr::kAdditionalAddressFamily, stun::kFamilyIPv6);
                               },
                               "alice", "secret"));
  ASSERT_TRUE(r.success()) << r.error();
  int relayed = 0;
  for (const auto& a : r.view.attributes()) relayed += a.type == attr::kXorRelayedAddress;
  EXPECT_EQ(relayed, 2);
}

TEST_F(TurnServerTest, UnknownRequestedFamilyGets440AndBothFamilyAttributesGet400) {
  FiveTuple c = Client();
  Challenge(c);
  EXPECT_EQ(Exchange(c, Request(
                            Method::kAllocate,
                            [](MessageBuilder& b) {
                              b.AddRequestedTransport(stun::kTransportUdp);
                              b.AddFamily(attr::kRequestedAddressFamily, 0x07);
                            },
                            "alice", "secret"))
                .error(),
            440);
  EXPECT_EQ(Exchange(c, Request(
                            Method::kAllocate,
                            [](MessageBuilder& b) {
                              b.AddRequestedTransport(stun::kTransportUdp);
                              b.AddFamily(attr::kRequestedAddressFamily, stun::kFamilyIPv4);
                              b.AddFamily(attr::kAdditionalAddressFamily, stun::kFamilyIPv6);
                            },
                            "alice", "secret"))
                .error(),
            400);
}

TEST_F(TurnServerTest, EvenPortWithReserveReturnsAReservationToken) {
  FiveTuple c = Client();
  Challenge(c);
  Response r = Exchange(c, Request(
                               Method::kAllocate,
                               [](MessageBuilder& b) {
                                 b.AddRequestedTransport(stun::kTransportUdp);
                                 b.AddEvenPort(true);
                               },
                               "alice", "secret"));
  ASSERT_TRUE(r.success());
  EXPECT_TRUE(net_.last_request.even_port);
  EXPECT_TRUE(net_.last_request.reserve_next);
  auto token = r.view.FindValue(attr::kReservationToken);
  ASSERT_TRUE(token);
  EXPECT_EQ(token->size(), 8u);
}

TEST_F(TurnServerTest, ReservationTokenIsPassedToTheNetLayerAndRejectsEvenPortBesideIt) {
  FiveTuple c = Client();
  Challenge(c);
  uint8_t token[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  Response ok = Exchange(c, Request(
                                Method::kAllocate,
                                [&](MessageBuilder& b) {
                                  b.AddRequestedTransport(stun::kTransportUdp);
                                  b.AddBytes(attr::kReservationToken, {token, 8});
                                },
                                "alice", "secret"));
  ASSERT_TRUE(ok.success());
  ASSERT_TRUE(net_.last_request.reservation_token);
  FiveTuple d = Client(40001);
  Challenge(d);
  Response bad = Exchange(d, Request(
                                 Method::kAllocate,
                                 [&](MessageBuilder& b) {
                                   b.AddRequestedTransport(stun::kTransportUdp);
                                   b.AddBytes(attr::kReservationToken, {token, 8});
                                   b.AddEvenPort(false);
                                 },
                                 "alice", "secret"));
  EXPECT_EQ(bad.error(), 400);
}

TEST_F(TurnServerTest, NoRelayPortGets508AndReleasesQuota) {
  user_quota_ = 1;
  Rebuild();
  net_.fail_with = 508;
  FiveTuple c = Client();
  Challenge(c);
  EXPECT_EQ(Allocate(c).error(), 508);
  net_.fail_with = 0;
  EXPECT_TRUE(Allocate(c).success()) << "the failed attempt must not hold quota";
}

TEST_F(TurnServerTest, PerUserQuotaGets486) {
  user_quota_ = 2;
  Rebuild();
  Allocated(Client(1));
  Allocated(Client(2));
  FiveTuple third = Client(3);
  Challenge(third);
  EXPECT_EQ(Allocate(third).error(), 486);
  FiveTuple other_user = Client(4);
  Challenge(other_user);
  EXPECT_TRUE(Allocate(other_user, "bob", "hunter2").success());
  EXPECT_EQ(Count(Counter::kQuotaUser), 1u);
}

TEST_F(TurnServerTest, TotalQuotaGets508) {
  total_quota_ = 1;
  Rebuild();
  Allocated(Client(1));
  FiveTuple c = Client(2);
  Challenge(c);
  EXPECT_EQ(Allocate(c, "bob", "hunter2").error(), 508);
}

TEST_F(TurnServerTest, DrainingRefusesNewAllocationsButKeepsOldOnes) {
  FiveTuple a = Client(1);
  Allocated(a);
  server_->SetDraining(true);
  FiveTuple b = Client(2);
  Challenge(b);
  EXPECT_EQ(Allocate(b).error(), 508);
  Challenge(a);  // nonces are bound to the client address: get one for `a`
  EXPECT_TRUE(Refresh(a, 600).success());
}

// --- Refresh ----------------------------------------------------------------------------------

TEST_F(TurnServerTest, RefreshClampsLifetimeToTheMaximumAndNeverBelowDefault) {
  FiveTuple c = Client();
  Allocated(c);
  EXPECT_EQ(Refresh(c, 100000).view.GetU32(attr::kLifetime), 3600u);
  EXPECT_EQ(Refresh(c, 30).view.GetU32(attr::kLifetime), 600u);
  EXPECT_EQ(Refresh(c, std::nullopt).view.GetU32(attr::kLifetime), 600u);
}

TEST_F(TurnServerTest, RefreshWithZeroDeletesAndFreesEverything) {
  user_quota_ = 1;
  Rebuild();
  FiveTuple c = Client();
  Allocated(c);
  ASSERT_TRUE(CreatePermission(c, "8.8.8.8:1").success());
  Response r = Refresh(c, 0);
  EXPECT_TRUE(r.success());
  EXPECT_EQ(r.view.GetU32(attr::kLifetime), 0u);
  EXPECT_EQ(server_->allocation_count(), 0u);
  EXPECT_EQ(net_.open, 0);
  EXPECT_EQ(quotas_->total(), 0u);
  server_->CollectGarbage();
  FiveTuple again = Client(40001);
  Challenge(again);
  EXPECT_TRUE(Allocate(again).success()) << "the quota slot came back";
}

TEST_F(TurnServerTest, RetransmittedRefreshZeroGetsTheSameSuccessNot437) {
  FiveTuple c = Client();
  Allocated(c);
  stun::TransactionId id = NewId();
  Response first = Refresh(c, 0, "alice", "secret", id);
  Response again = Refresh(c, 0, "alice", "secret", id);
  EXPECT_TRUE(first.success());
  EXPECT_EQ(first.bytes, again.bytes);
}

TEST_F(TurnServerTest, RefreshWithoutAllocationGets437) {
  FiveTuple c = Client();
  Challenge(c);
  EXPECT_EQ(Refresh(c, 600).error(), 437);
}

TEST_F(TurnServerTest, RefreshWithDifferentUsernameGets441) {
  FiveTuple c = Client();
  Allocated(c);
  Response r = Refresh(c, 600, "bob", "hunter2");
  EXPECT_EQ(r.error(), 441);
  EXPECT_EQ(server_->allocation_count(), 1u);
}

TEST_F(TurnServerTest, RefreshKeepsWorkingAfterTheAuthenticatorForgetsTheUser) {
  FiveTuple c = Client();
  Allocated(c);
  server_->SetAuthenticator(std::make_shared<FakeAuthenticator>());
  EXPECT_TRUE(Refresh(c, 600).success()) << "an allocation keeps the key that created it";
}

TEST_F(TurnServerTest, RefreshWithMismatchedFamilyGets443) {
  FiveTuple c = Client();
  Allocated(c);
  Response r = Exchange(c, Request(
                               Method::kRefresh,
                               [](MessageBuilder& b) {
                                 b.AddFamily(attr::kRequestedAddressFamily, stun::kFamilyIPv6);
                               },
                               "alice", "secret"));
  EXPECT_EQ(r.error(), 443);
}

// --- Expiry -----------------------------------------------------------------------------------

TEST_F(TurnServerTest, AllocationExpiresAfterItsLifetime) {
  FiveTuple c = Client();
  Allocated(c);
  clock_.Advance(seconds(599));
  server_->OnTimer(clock_.Now());
  EXPECT_EQ(server_->allocation_count(), 1u);
  clock_.Advance(seconds(3));
  server_->OnTimer(clock_.Now());
  EXPECT_EQ(server_->allocation_count(), 0u);
  EXPECT_EQ(net_.open, 0);
  EXPECT_EQ(Count(Counter::kAllocationsExpired), 1u);
}

TEST_F(TurnServerTest, PermissionExpiresAfter300Seconds) {
  FiveTuple c = Client();
  Allocated(c);
  ASSERT_TRUE(CreatePermission(c, "8.8.8.8:1").success());
  PeerSends("8.8.8.8:5000", {1, 2, 3});
  EXPECT_EQ(net_.to_client.back().data[1], 0x17) << "a Data indication reached the client";
  size_t before = net_.to_client.size();
  clock_.Advance(seconds(301));
  server_->OnTimer(clock_.Now());
  PeerSends("8.8.8.8:5000", {1, 2, 3});
  EXPECT_EQ(net_.to_client.size(), before);
  EXPECT_EQ(Count(Counter::kDropNoPermission), 1u);
}

// --- Permissions and data ---------------------------------------------------------------------

TEST_F(TurnServerTest, CreatePermissionToPrivatePeerGets403) {
  FiveTuple c = Client();
  Allocated(c);
  for (const char* peer : {"10.0.0.1:1", "127.0.0.1:1", "169.254.169.254:80", "[::1]:1",
                           "[::ffff:127.0.0.1]:1", "[64:ff9b::a00:1]:1"}) {
    EXPECT_EQ(CreatePermission(c, peer).error(), 403) << peer;
  }
  EXPECT_TRUE(CreatePermission(c, "8.8.8.8:1").success());
}

TEST_F(TurnServerTest, CreatePermissionWithOneBadPeerInstallsNone) {
  FiveTuple c = Client();
  Allocated(c);
  Response r =
      Exchange(c, Request(
                      Method::kCreatePermission,
                      [](MessageBuilder& b) {
                        b.AddXorAddress(attr::kXorPeerAddress, *SocketAddress::Parse("8.8.8.8:1"));
                        b.AddXorAddress(attr::kXorPeerAddress, *SocketAddress::Parse("10.1.1.1:1"));
                      },
                      "alice", "secret"));
  EXPECT_EQ(r.error(), 403);
  EXPECT_TRUE(server_->FindAllocation(c)->permissions.empty());
}

TEST_F(TurnServerTest, Ipv6PeerOnIpv4AllocationGets443) {
  FiveTuple c = Client();
  Allocated(c);
  EXPECT_EQ(CreatePermission(c, "[2606:4700::1111]:1").error(), 443);
}

TEST_F(TurnServerTest, TooManyPermissionsGet508) {
  config_.max_permissions = 2;
  Rebuild();
  FiveTuple c = Client();
  Allocated(c);
  EXPECT_TRUE(CreatePermission(c, "8.8.8.8:1").success());
  EXPECT_TRUE(CreatePermission(c, "8.8.4.4:1").success());
  EXPECT_TRUE(CreatePermission(c, "8.8.4.4:2").success()) << "refreshing is not a new one";
  EXPECT_EQ(CreatePermission(c, "1.1.1.1:1").error(), 508);
}

TEST_F(TurnServerTest, SendIndicationReachesPermittedPeerOnly) {
  FiveTuple c = Client();
  Allocated(c);
  ASSERT_TRUE(CreatePermission(c, "8.8.8.8:1").success());
  auto send = [&](const char* peer) {
    std::vector<uint8_t> buf(200);
    MessageBuilder b(buf);
    b.Start(Method::kSend, MessageClass::kIndication, NewId());
    b.AddXorAddress(attr::kXorPeerAddress, *SocketAddress::Parse(peer));
    uint8_t payload[5] = {'h', 'e', 'l', 'l', 'o'};
    b.AddBytes(attr::kData, payload);
    buf.resize(b.size());
    server_->OnClientPacket(c, buf, clock_.Now());
  };
  send("8.8.8.8:9999");
  ASSERT_EQ(net_.to_peer.size(), 1u);
  EXPECT_EQ(net_.to_peer[0].peer, *SocketAddress::Parse("8.8.8.8:9999"));
  EXPECT_EQ(std::string(net_.to_peer[0].data.begin(), net_.to_peer[0].data.end()), "hello");
  send("9.9.9.9:1");
  EXPECT_EQ(net_.to_peer.size(), 1u);
  EXPECT_EQ(Count(Counter::kDropNoPermission), 1u);
  EXPECT_EQ(server_->FindAllocation(c)->traffic.bytes_to_peer, 5u);
}

TEST_F(TurnServerTest, PeerDataBecomesDataIndicationWithPeerAddress) {
  FiveTuple c = Client();
  Allocated(c);
  ASSERT_TRUE(CreatePermission(c, "8.8.8.8:1").success());
  PeerSends("8.8.8.8:4242", {9, 8, 7, 6, 5});
  MessageView v;
  ASSERT_EQ(MessageView::Parse(net_.to_client.back().data, &v), stun::ParseError::kOk);
  EXPECT_EQ(v.method(), Method::kData);
  EXPECT_EQ(v.message_class(), MessageClass::kIndication);
  EXPECT_EQ(v.GetXorAddress(attr::kXorPeerAddress), *SocketAddress::Parse("8.8.8.8:4242"));
  auto data = v.FindValue(attr::kData);
  ASSERT_TRUE(data);
  EXPECT_EQ(std::vector<uint8_t>(data->begin(), data->end()),
            (std::vector<uint8_t>{9, 8, 7, 6, 5}));
}

TEST_F(TurnServerTest, DataIndicationCarriesFingerprintWhenConfigured) {
  config_.fingerprint = true;
  Rebuild();
  FiveTuple c = Client();
  Allocated(c);
  ASSERT_TRUE(CreatePermission(c, "8.8.8.8:1").success());
  PeerSends("[::ffff:8.8.8.8]:4242", {1});  // not the same peer: dropped
  PeerSends("8.8.8.8:4242", {1, 2, 3});
  MessageView v;
  ASSERT_EQ(MessageView::Parse(net_.to_client.back().data, &v), stun::ParseError::kOk);
  EXPECT_TRUE(v.has_fingerprint());
}

// --- Channels ---------------------------------------------------------------------------------

TEST_F(TurnServerTest, ChannelDataFlowsBothWaysAfterChannelBind) {
  FiveTuple c = Client();
  Allocated(c);
  ASSERT_TRUE(ChannelBind(c, 0x4001, "8.8.8.8:3480").success());
  uint8_t frame[8];
  stun::WriteChannelDataHeader(0x4001, 3, frame);
  frame[4] = 'a';
  frame[5] = 'b';
  frame[6] = 'c';
  server_->OnClientPacket(c, {frame, 7}, clock_.Now());
  ASSERT_EQ(net_.to_peer.size(), 1u);
  EXPECT_EQ(net_.to_peer[0].peer, *SocketAddress::Parse("8.8.8.8:3480"));
  EXPECT_EQ(net_.to_peer[0].data.size(), 3u);

  PeerSends("8.8.8.8:3480", {1, 2, 3, 4, 5});
  auto cd = stun::ParseChannelData(net_.to_client.back().data);
  ASSERT_TRUE(cd);
  EXPECT_EQ(cd->channel, 0x4001);
  EXPECT_EQ(cd->data.size(), 5u);
  EXPECT_EQ(net_.to_client.back().data.size(), 9u) << "no padding over UDP";
}

TEST_F(TurnServerTest, ChannelBindOutsideRangeGets400) {
  FiveTuple c = Client();
  Allocated(c);
  EXPECT_EQ(ChannelBind(c, 0x3FFF, "8.8.8.8:1").error(), 400);
  EXPECT_EQ(ChannelBind(c, 0x8000, "8.8.8.8:1").error(), 400);
  EXPECT_TRUE(ChannelBind(c, 0x6d04, "8.8.8.8:1").success())
      << "RFC 5766 range, as coturn's clients use";
}

TEST_F(TurnServerTest, ChannelRebindingRules) {
  FiveTuple c = Client();
  Allocated(c);
  ASSERT_TRUE(ChannelBind(c, 0x4000, "8.8.8.8:1").success());
  EXPECT_TRUE(ChannelBind(c, 0x4000, "8.8.8.8:1").success()) << "same pair refreshes";
  EXPECT_EQ(ChannelBind(c, 0x4000, "8.8.8.8:2").error(), 400) << "channel taken by another peer";
  EXPECT_EQ(ChannelBind(c, 0x4001, "8.8.8.8:1").error(), 400) << "peer bound to another channel";
}

TEST_F(TurnServerTest, ChannelBindToDeniedPeerGets403) {
  FiveTuple c = Client();
  Allocated(c);
  EXPECT_EQ(ChannelBind(c, 0x4000, "192.168.1.1:1").error(), 403);
  EXPECT_EQ(ChannelBind(c, 0x4000, "[::ffff:c0a8:101]:1").error(), 403);
}

TEST_F(TurnServerTest, ChannelBindInstallsPermissionAndExpiresAfter600Seconds) {
  FiveTuple c = Client();
  Allocated(c);
  ASSERT_TRUE(ChannelBind(c, 0x4000, "8.8.8.8:1").success());
  EXPECT_EQ(server_->FindAllocation(c)->permissions.size(), 1u);
  Refresh(c, 3600);
  clock_.Advance(seconds(601));
  server_->OnTimer(clock_.Now());
  EXPECT_TRUE(server_->FindAllocation(c)->channels.empty());
  uint8_t frame[5];
  stun::WriteChannelDataHeader(0x4000, 1, frame);
  frame[4] = 1;
  server_->OnClientPacket(c, {frame, 5}, clock_.Now());
  EXPECT_TRUE(net_.to_peer.empty());
  EXPECT_EQ(Count(Counter::kDropNoChannel), 1u);
}

TEST_F(TurnServerTest, ChannelDataForUnknownChannelOrMalformedIsDropped) {
  FiveTuple c = Client();
  Allocated(c);
  uint8_t frame[8] = {0x40, 0x09, 0x00, 0x10, 1, 2, 3, 4};  // length 16 > 4 bytes present
  server_->OnClientPacket(c, {frame, 8}, clock_.Now());
  stun::WriteChannelDataHeader(0x4009, 4, frame);
  server_->OnClientPacket(c, {frame, 8}, clock_.Now());
  EXPECT_TRUE(net_.to_peer.empty());
  EXPECT_EQ(Count(Counter::kDropMalformed), 1u);
  EXPECT_EQ(Count(Counter::kDropNoChannel), 1u);
}

// --- Robustness -------------------------------------------------------------------------------

TEST_F(TurnServerTest, GarbageFromClientsIsDroppedWithoutReply) {
  FiveTuple c = Client();
  Allocated(c);
  size_t before = net_.to_client.size();
  std::vector<std::vector<uint8_t>> junk = {
      {0x00},
      {0x00, 0x01, 0x00, 0x03, 0x21, 0x12, 0xa4, 0x42},
      std::vector<uint8_t>(20, 0xff),
      {0x40},
      {0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42, 1,    2,    3, 4, 5, 6,
       7,    8,    9,    10,   11,   12,   0x00, 0x06, 0xff, 0xff, 0, 0, 0, 0},
  };
  for (const auto& j : junk) server_->OnClientPacket(c, j, clock_.Now());
  EXPECT_EQ(net_.to_client.size(), before);
  EXPECT_EQ(server_->allocation_count(), 1u);
}

TEST_F(TurnServerTest, ChurnLeavesNoAllocationSocketOrQuotaBehind) {
  user_quota_ = 1;
  Rebuild();
  for (int i = 0; i < 200; ++i) {
    FiveTuple c = Client(static_cast<uint16_t>(10000 + i));
    Allocated(c);
    ASSERT_TRUE(ChannelBind(c, 0x4000, "8.8.8.8:1").success());
    ASSERT_TRUE(Refresh(c, 0).success());
    server_->CollectGarbage();
  }
  EXPECT_EQ(server_->allocation_count(), 0u);
  EXPECT_EQ(net_.open, 0);
  EXPECT_EQ(quotas_->total(), 0u);
  EXPECT_EQ(Count(Counter::kAllocationsCreated), 200u);
  EXPECT_EQ(Count(Counter::kAllocationsDeleted), 200u);
}

// ---------------------------------------------------------------------------------------------
// Entitlements: plan refusals, per-session caps, duration and bandwidth caps, revocation, and
// request limits.

auth::Entitlement Ent(const std::string& session, uint32_t per_user = 0, uint32_t per_session = 0,
                      uint32_t kbps = 0, uint32_t max_duration_s = 0) {
  auth::Entitlement e;
  e.session = session;
  e.plan = "pro";
  e.claims = true;
  e.max_allocations_per_user = per_user;
  e.max_allocations_per_session = per_session;
  e.bandwidth_kbps = kbps;
  e.max_duration_s = max_duration_s;
  return e;
}

TEST_F(TurnServerTest, PlanCapOnAllocationsPerUserGets486) {
  extra_users_["carol"] = Ent("s1", /*per_user=*/1);
  Rebuild();
  Allocated(Client(1), "carol", "pw");
  FiveTuple second = Client(2);
  Challenge(second);
  Response r = Allocate(second, "carol", "pw");
  EXPECT_EQ(r.error(), 486);
  EXPECT_EQ(Count(Counter::kQuotaUser), 1u);
}

TEST_F(TurnServerTest, PerCallSessionCapGets486AndFreesOnDelete) {
  extra_users_["carol"] = Ent("s1", /*per_user=*/0, /*per_session=*/2);
  Rebuild();
  Allocated(Client(1), "carol", "pw");
  Allocated(Client(2), "carol", "pw");
  FiveTuple third = Client(3);
  Challenge(third);
  EXPECT_EQ(Allocate(third, "carol", "pw").error(), 486);
  EXPECT_EQ(Count(Counter::kQuotaSession), 1u);
  EXPECT_EQ(quotas_->ForSession("carol", "s1"), 2u);
  Challenge(Client(1));  // nonces are bound to the client's address and port
  ASSERT_TRUE(Refresh(Client(1), 0, "carol", "pw").success());
  FiveTuple fourth = Client(4);
  Challenge(fourth);
  EXPECT_TRUE(Allocate(fourth, "carol", "pw").success());
}

TEST_F(TurnServerTest, DurationCapEndsTheAllocationHoweverOftenItIsRefreshed) {
  extra_users_["carol"] = Ent("s1", 0, 0, 0, /*max_duration_s=*/100);
  Rebuild();
  FiveTuple c = Client();
  Challenge(c);
  Response r = Allocate(c, "carol", "pw");
  ASSERT_TRUE(r.success());
  EXPECT_EQ(r.view.GetU32(attr::kLifetime), 100u) << "lifetime never promises past the cap";
  clock_.Advance(seconds(60));
  server_->OnTimer(clock_.Now());
  Response refreshed = Refresh(c, 600, "carol", "pw");
  ASSERT_TRUE(refreshed.success());
  EXPECT_EQ(refreshed.view.GetU32(attr::kLifetime), 40u);
  clock_.Advance(seconds(39));
  server_->OnTimer(clock_.Now());
  EXPECT_EQ(server_->allocation_count(), 1u);
  clock_.Advance(seconds(2));
  server_->OnTimer(clock_.Now());
  EXPECT_EQ(server_->allocation_count(), 0u);
  EXPECT_EQ(Count(Counter::kEndedDurationCap), 1u);
  EXPECT_EQ(Count(Counter::kAllocationsExpired), 0u);
  EXPECT_EQ(Refresh(c, 600, "carol", "pw").error(), 437);
}

TEST_F(TurnServerTest, BandwidthCapHoldsTheRateInBothDirections) {
  // 800 kbit/s = 100,000 bytes/s; offered: 1000 bytes every millisecond = 1,000,000 bytes/s.
  extra_users_["carol"] = Ent("s1", 0, 0, /*kbps=*/800);
  Rebuild();
  FiveTuple c = Client();
  Allocated(c, "carol", "pw");
  ASSERT_TRUE(ChannelBind(c, 0x4000, "8.8.8.8:3478", "carol", "pw").success());
  const size_t passed = Stream(c, 0x4000, 1000, 5000, milliseconds(1));
  // Five seconds at the cap plus at most one bucket (200 ms at the cap, or 16 KiB).
  EXPECT_GE(passed, 500'000u);
  EXPECT_LE(passed, 500'000u + 20'000u + 1000u);
  EXPECT_GT(Count(Counter::kDropBandwidth), 4000u);

  size_t to_client_before = net_.to_client.size();
  for (int i = 0; i < 5000; ++i) {
    PeerSends("8.8.8.8:3478", std::vector<uint8_t>(1000, 7));
    clock_.Advance(milliseconds(1));
  }
  const size_t delivered = (net_.to_client.size() - to_client_before) * 1000;
  EXPECT_GE(delivered, 500'000u);
  EXPECT_LE(delivered, 521'000u);
}

TEST_F(TurnServerTest, UncappedAllocationRelaysEverything) {
  FiveTuple c = Client();
  Allocated(c);
  ASSERT_TRUE(ChannelBind(c, 0x4000, "8.8.8.8:3478").success());
  EXPECT_EQ(Stream(c, 0x4000, 1000, 1000, milliseconds(1)), 1'000'000u);
  EXPECT_EQ(Count(Counter::kDropBandwidth), 0u);
}

TEST_F(TurnServerTest, RevokedUserLosesLiveAllocationsAndIsRefusedUntilTheRevocationEnds) {
  FiveTuple c = Client();
  Allocated(c);
  EXPECT_EQ(server_->Revoke(RevocationKind::kUser, "alice", clock_.UnixNow() + 60), 1u);
  EXPECT_EQ(server_->allocation_count(), 0u);
  EXPECT_EQ(Count(Counter::kEndedRevoked), 1u);
  EXPECT_EQ(quotas_->total(), 0u);
  FiveTuple again = Client(2);
  Challenge(again);
  Response r = Allocate(again, "alice", "secret");
  EXPECT_EQ(r.error(), 403);
  EXPECT_TRUE(r.view.VerifyIntegrity(stun::LongTermKeyMd5("alice", kRealm, "secret")));
  EXPECT_EQ(Count(Counter::kAuthRevoked), 1u);
  clock_.Advance(seconds(61));
  FiveTuple later = Client(3);
  Challenge(later);
  EXPECT_TRUE(Allocate(later, "alice", "secret").success());
}

TEST_F(TurnServerTest, RevokedSessionEndsOnlyThatSessionAndCanBeLifted) {
  extra_users_["carol"] = Ent("s1");
  extra_users_["dave"] = Ent("s2");
  Rebuild();
  Allocated(Client(1), "carol", "pw");
  Allocated(Client(2), "dave", "pw");
  EXPECT_EQ(server_->Revoke(RevocationKind::kSession, "s1", clock_.UnixNow() + 600), 1u);
  EXPECT_EQ(server_->allocation_count(), 1u);
  EXPECT_TRUE(server_->LiftRevocation(RevocationKind::kSession, "s1"));
  EXPECT_FALSE(server_->LiftRevocation(RevocationKind::kSession, "s1"));
  Allocated(Client(3), "carol", "pw");
  EXPECT_EQ(server_->allocation_count(), 2u);
}

TEST_F(TurnServerTest, OperatorEndsOneAllocationById) {
  Allocated(Client(1));
  Allocated(Client(2));
  std::vector<uint64_t> ids;
  server_->VisitAllocations([&](const Allocation& a) { ids.push_back(a.id); });
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_TRUE(server_->EndAllocation(ids[0]));
  EXPECT_FALSE(server_->EndAllocation(ids[0]));
  EXPECT_EQ(server_->allocation_count(), 1u);
  EXPECT_EQ(Count(Counter::kEndedByOperator), 1u);
}

TEST_F(TurnServerTest, AllocateRateIsLimitedPerSourceAddressAcrossPorts) {
  limits_config_.allocate_rate_per_source = 1;
  limits_config_.allocate_burst_per_source = 2;
  Rebuild();
  Allocated(Client(1));
  Allocated(Client(2));
  FiveTuple third = Client(3);
  Challenge(third);
  EXPECT_EQ(Allocate(third, "bob", "hunter2").error(), 486) << "a new port is the same source";
  EXPECT_EQ(Count(Counter::kRateLimitedSource), 1u);
  FiveTuple elsewhere = ClientAt("203.0.113.99");
  Challenge(elsewhere);
  EXPECT_TRUE(Allocate(elsewhere, "bob", "hunter2").success());
  clock_.Advance(seconds(1));
  FiveTuple later = Client(4);
  Challenge(later);
  EXPECT_TRUE(Allocate(later, "bob", "hunter2").success());
}

TEST_F(TurnServerTest, AllocateRateIsLimitedPerUserAcrossAddresses) {
  limits_config_.allocate_rate_per_user = 1;
  limits_config_.allocate_burst_per_user = 1;
  Rebuild();
  Allocated(ClientAt("203.0.113.1"));
  FiveTuple other = ClientAt("203.0.113.2");
  Challenge(other);
  EXPECT_EQ(Allocate(other, "alice", "secret").error(), 486);
  EXPECT_EQ(Count(Counter::kRateLimitedUser), 1u);
  EXPECT_TRUE(Allocate(other, "bob", "hunter2").success()) << "other users are not affected";
}

TEST_F(TurnServerTest, RepeatedAuthFailuresBanTheSourceForTheBanTime) {
  limits_config_.auth_failures_per_source = 3;
  limits_config_.auth_failure_window_s = 60;
  limits_config_.auth_ban_s = 30;
  Rebuild();
  FiveTuple c = Client();
  Challenge(c);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Allocate(c, "alice", "guess").error(), 401);
  EXPECT_EQ(Count(Counter::kAuthBansImposed), 1u);
  Response banned = Allocate(c, "alice", "secret");
  EXPECT_EQ(banned.error(), 403) << "even the right password is refused during the ban";
  EXPECT_EQ(Count(Counter::kAuthBannedSource), 1u);
  FiveTuple other_port = Client(2);
  Challenge(other_port);
  EXPECT_EQ(Allocate(other_port, "bob", "hunter2").error(), 403) << "the ban is per address";
  clock_.Advance(seconds(31));
  Challenge(c);
  EXPECT_TRUE(Allocate(c, "alice", "secret").success());
}

TEST_F(TurnServerTest, RepeatedAuthFailuresForOneUserBanThatUserFromEverywhere) {
  limits_config_.auth_failures_per_user = 3;
  limits_config_.auth_ban_s = 30;
  Rebuild();
  for (int i = 0; i < 3; ++i) {
    FiveTuple c = ClientAt("198.18.0." + std::to_string(i + 1));
    Challenge(c);
    EXPECT_EQ(Allocate(c, "alice", "guess").error(), 401);
  }
  FiveTuple fresh = ClientAt("203.0.113.7");
  Challenge(fresh);
  EXPECT_EQ(Allocate(fresh, "alice", "secret").error(), 403);
  EXPECT_EQ(Count(Counter::kAuthBannedUser), 1u);
  EXPECT_TRUE(Allocate(fresh, "bob", "hunter2").success());
}

TEST_F(TurnServerTest, FailuresWithoutAValidNonceNeverCountTowardABan) {
  // A spoofed source never sees the nonce sent to the real address, so it cannot get it banned.
  limits_config_.auth_failures_per_source = 1;
  Rebuild();
  FiveTuple c = Client();
  nonce_ = "forged-nonce-forged-nonce-forged";
  for (int i = 0; i < 5; ++i) Allocate(c, "alice", "guess");
  EXPECT_EQ(Count(Counter::kAuthBansImposed), 0u);
  Challenge(c);
  EXPECT_TRUE(Allocate(c, "alice", "secret").success());
}

TEST_F(TurnServerTest, AllocationCarriesItsEntitlementForListing) {
  auth::Entitlement e = Ent("s9", 0, 0, 256, 0);
  e.line = "work";
  extra_users_["carol"] = e;
  Rebuild();
  Allocated(Client(), "carol", "pw");
  int seen = 0;
  server_->VisitAllocations([&](const Allocation& a) {
    ++seen;
    EXPECT_EQ(a.user(), "carol");
    EXPECT_EQ(a.entitlement.session, "s9");
    EXPECT_EQ(a.entitlement.line, "work");
    EXPECT_EQ(a.entitlement.plan, "pro");
    EXPECT_TRUE(a.cap_to_peer.capped());
  });
  EXPECT_EQ(seen, 1);
}

// --- Metering: usage records, monthly relay minutes, the abuse guard ---------------------------

// Records what the server meters; hands out standings the test sets.
class FakeUsage final : public UsageSink {
 public:
  void Submit(std::vector<auth::UsageRecord> records) override {
    for (auth::UsageRecord& r : records) this->records.push_back(std::move(r));
  }
  auth::Standing Lookup(std::string_view user) const override {
    auto it = standings.find(std::string(user));
    return it == standings.end() ? auth::Standing{} : it->second;
  }
  std::vector<auth::UsageRecord> records;
  std::map<std::string, auth::Standing> standings;
};

class TurnServerMeteringTest : public TurnServerTest {
 protected:
  TurnServerMeteringTest() {
    auth::Entitlement trial = Ent("call-1");
    trial.plan = "trial";
    trial.line = "line-2";
    trial.monthly_relay_minutes = 10;
    trial.abuse_guard = true;
    extra_users_["tina"] = trial;
    Rebuild();
    server_->SetUsageSink(&usage_, {"node-a", "00000000000000aa"});
  }
  ~TurnServerMeteringTest() override { server_.reset(); }  // its last records need usage_
  int64_t NowMs() const { return clock_.UnixNowMs(); }
  FakeUsage usage_;
};

TEST_F(TurnServerMeteringTest, ACheckpointSnapshotsEveryLiveAllocationWithItsIdentity) {
  FiveTuple c = Client();
  Allocated(c, "tina", "pw");
  ASSERT_TRUE(ChannelBind(c, 0x4000, "8.8.8.8:3478", "tina", "pw").success());
  ASSERT_TRUE(CreatePermission(c, "9.9.9.9:1", "tina", "pw").success());
  Stream(c, 0x4000, 100, 10, milliseconds(20));
  PeerSends("8.8.8.8:3478", std::vector<uint8_t>(60, 1));
  server_->Checkpoint();
  ASSERT_EQ(usage_.records.size(), 1u);
  const auth::UsageRecord& r = usage_.records[0];
  EXPECT_EQ(r.node, "node-a");
  EXPECT_EQ(r.run, "00000000000000aa");
  EXPECT_EQ(r.user, "tina");
  EXPECT_EQ(r.session, "call-1");
  EXPECT_EQ(r.line, "line-2");
  EXPECT_EQ(r.plan, "trial");
  EXPECT_EQ(r.transport, "udp");
  EXPECT_EQ(r.client, "203.0.113.50:40000");
  EXPECT_EQ(r.peers, (std::vector<std::string>{"8.8.8.8", "9.9.9.9"}));
  EXPECT_EQ(r.reason, auth::EndReason::kLive);
  EXPECT_EQ(r.bytes_to_peer, 1000u);
  EXPECT_EQ(r.packets_to_peer, 10u);
  EXPECT_EQ(r.bytes_to_client, 60u);
  EXPECT_EQ(r.packets_to_client, 1u);
  EXPECT_EQ(r.relayed_ms, 200u) << "ten packets 20 ms apart, then the peer's 20 ms later";
  EXPECT_EQ(r.last_ms, NowMs());
  EXPECT_LT(r.start_ms, r.last_ms);
}

TEST_F(TurnServerMeteringTest, ACheckpointSkipsAllocationsThatHaveNotRelayedSinceTheLastOne) {
  FiveTuple busy = Client(1), idle = Client(2);
  Allocated(busy, "tina", "pw");
  ASSERT_TRUE(ChannelBind(busy, 0x4000, "8.8.8.8:3478", "tina", "pw").success());
  Allocated(idle, "tina", "pw");
  server_->Checkpoint();
  EXPECT_TRUE(usage_.records.empty()) << "a bound channel alone bills nothing";

  Stream(busy, 0x4000, 100, 3, milliseconds(20));
  server_->Checkpoint();
  ASSERT_EQ(usage_.records.size(), 1u) << "only the allocation that relayed";
  EXPECT_EQ(usage_.records[0].client, busy.client.ToString());
  EXPECT_EQ(usage_.records[0].packets_to_peer, 3u);
  EXPECT_EQ(usage_.records[0].peers, (std::vector<std::string>{"8.8.8.8"}));

  server_->Checkpoint();
  EXPECT_EQ(usage_.records.size(), 1u) << "nothing relayed since";

  Stream(busy, 0x4000, 100, 1, milliseconds(20));
  server_->Checkpoint();
  ASSERT_EQ(usage_.records.size(), 2u);
  EXPECT_EQ(usage_.records[1].packets_to_peer, 4u);

  server_->DeleteAll(clock_.Now());
  ASSERT_EQ(usage_.records.size(), 4u) << "each ends with a final record, the idle one too";
  EXPECT_EQ(usage_.records[3].packets_to_peer + usage_.records[2].packets_to_peer, 4u);
}

TEST_F(TurnServerMeteringTest, RelayedTimeLeavesOutSilencesLongerThanTwoSeconds) {
  FiveTuple c = Client();
  Allocated(c, "tina", "pw");
  ASSERT_TRUE(ChannelBind(c, 0x4000, "8.8.8.8:3478", "tina", "pw").success());
  Stream(c, 0x4000, 10, 51, milliseconds(100));  // 5 s of traffic
  clock_.Advance(seconds(30));                   // on hold
  Stream(c, 0x4000, 10, 11, milliseconds(100));  // 1 s more
  server_->Checkpoint();
  ASSERT_EQ(usage_.records.size(), 1u);
  EXPECT_EQ(usage_.records[0].relayed_ms, 6000u);
}

TEST_F(TurnServerMeteringTest, EveryEndWritesAFinalRecordWithItsReason) {
  FiveTuple a = Client(1), b = Client(2), c = Client(3);
  Allocated(a, "tina", "pw");
  Allocated(b, "tina", "pw");
  Allocated(c, "tina", "pw");
  Challenge(a);
  ASSERT_TRUE(Refresh(a, 0, "tina", "pw").success());
  ASSERT_EQ(server_->Revoke(RevocationKind::kUser, "tina", clock_.UnixNow() + 600), 2u);
  ASSERT_EQ(usage_.records.size(), 3u);
  EXPECT_EQ(usage_.records[0].reason, auth::EndReason::kClient);
  EXPECT_EQ(usage_.records[1].reason, auth::EndReason::kRevoked);
  EXPECT_EQ(usage_.records[2].reason, auth::EndReason::kRevoked);

  server_->LiftRevocation(RevocationKind::kUser, "tina");
  FiveTuple d = Client(4);
  Allocated(d, "tina", "pw");
  server_->DeleteAll(clock_.Now());
  ASSERT_EQ(usage_.records.size(), 4u);
  EXPECT_EQ(usage_.records[3].reason, auth::EndReason::kShutdown);
  EXPECT_EQ(Count(Counter::kEndedShutdown), 1u);
}

TEST_F(TurnServerMeteringTest, AUsedUpMonthIsRefusedWith486) {
  usage_.standings["tina"] = {auth::UtcMonthStartMs(NowMs()), 10 * 60'000, 0, 0};
  FiveTuple c = Client();
  Challenge(c);
  EXPECT_EQ(Allocate(c, "tina", "pw").error(), 486);
  EXPECT_EQ(Count(Counter::kQuotaMonthly), 1u);
  EXPECT_EQ(server_->allocation_count(), 0u);
  // Last month's usage does not count.
  usage_.standings["tina"].month_start_ms -= 31LL * 86'400'000;
  EXPECT_TRUE(Allocate(Client(), "tina", "pw").success());
}

TEST_F(TurnServerMeteringTest, PlansWithoutAMonthlyLimitAreNeverRefusedForUsage) {
  usage_.standings["alice"] = {auth::UtcMonthStartMs(NowMs()), 1'000'000'000, 0, 0};
  Allocated(Client(), "alice", "secret");
  EXPECT_EQ(server_->allocation_count(), 1u);
}

TEST_F(TurnServerMeteringTest, AStandingWithTheMonthUsedUpEndsLiveAllocationsWithReasonQuota) {
  FiveTuple c = Client(1);
  Allocated(c, "tina", "pw");
  Allocated(Client(2), "alice", "secret");
  const auth::Standing used_up{auth::UtcMonthStartMs(NowMs()), 10 * 60'000, 0, 0};
  EXPECT_EQ(server_->ApplyStanding("tina", used_up, clock_.Now()), 1u);
  EXPECT_EQ(server_->allocation_count(), 1u) << "alice's allocation is not hers";
  EXPECT_EQ(Count(Counter::kEndedQuota), 1u);
  ASSERT_EQ(usage_.records.size(), 1u);
  EXPECT_EQ(usage_.records[0].reason, auth::EndReason::kQuota);
  Challenge(c);
  EXPECT_EQ(Refresh(c, 600, "tina", "pw").error(), 437);
}

TEST_F(TurnServerMeteringTest, TheAbuseGuardCapsNewAllocations) {
  usage_.standings["tina"] = {0, 0, NowMs() + 7LL * 86'400'000, 300};
  FiveTuple c = Client();
  Challenge(c);
  Response r = Allocate(c, "tina", "pw");
  ASSERT_TRUE(r.success());
  EXPECT_EQ(r.view.GetU32(attr::kLifetime), 300u);
  const Allocation* a = server_->FindAllocation(c);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->entitlement.max_duration_s, 300u) << "visible in the effective entitlement";
  clock_.Advance(seconds(301));
  server_->OnTimer(clock_.Now());
  EXPECT_EQ(server_->allocation_count(), 0u);
  EXPECT_EQ(Count(Counter::kEndedDurationCap), 1u);
}

TEST_F(TurnServerMeteringTest, AGuardStartingMidCallCapsLiveAllocationsFromTheirCreation) {
  FiveTuple early = Client(1);
  Allocated(early, "tina", "pw");
  clock_.Advance(seconds(200));
  FiveTuple late = Client(2);
  Allocated(late, "tina", "pw");
  clock_.Advance(seconds(150));  // early: 350 s old, late: 150 s
  const auth::Standing guarded{0, 0, NowMs() + 7LL * 86'400'000, 300};
  EXPECT_EQ(server_->ApplyStanding("tina", guarded, clock_.Now()), 1u) << "early is past 300 s";
  EXPECT_EQ(server_->FindAllocation(early), nullptr);
  ASSERT_NE(server_->FindAllocation(late), nullptr);
  clock_.Advance(seconds(151));
  server_->OnTimer(clock_.Now());
  EXPECT_EQ(server_->FindAllocation(late), nullptr);
  EXPECT_EQ(Count(Counter::kEndedDurationCap), 2u);
}

TEST_F(TurnServerMeteringTest, TheGuardDoesNotApplyToPlansWithoutIt) {
  usage_.standings["alice"] = {0, 0, NowMs() + 86'400'000, 300};
  FiveTuple c = Client();
  Challenge(c);
  Response r = Allocate(c, "alice", "secret");
  ASSERT_TRUE(r.success());
  EXPECT_EQ(r.view.GetU32(attr::kLifetime), 600u);
}

TEST_F(TurnServerMeteringTest, PlanStatsCountCreationsAndEndedTrafficByPlanAndTransport) {
  FiveTuple c = Client();
  Allocated(c, "tina", "pw");
  ASSERT_TRUE(ChannelBind(c, 0x4000, "8.8.8.8:3478", "tina", "pw").success());
  Stream(c, 0x4000, 100, 3, milliseconds(20));
  Challenge(c);
  ASSERT_TRUE(Refresh(c, 0, "tina", "pw").success());
  const auto& stats = server_->plan_stats();
  auto it = stats.find({"trial", Transport::kUdp});
  ASSERT_NE(it, stats.end());
  EXPECT_EQ(it->second.created, 1u);
  EXPECT_EQ(it->second.ended.bytes_to_peer, 300u);
  EXPECT_EQ(it->second.ended.packets_to_peer, 3u);
}

// --- RFC 6062: TCP allocations, peer connections, and stream-connection lifetime --------------

class TurnServerTcpTest : public TurnServerTest {
 protected:
  TurnServerTcpTest() {
    config_.tcp_relay = true;
    Rebuild();
    server_->SetUsageSink(&usage_, {"node-a", "00000000000000aa"});
  }
  ~TurnServerTcpTest() override { server_.reset(); }  // its last records need usage_

  // A client connection over a stream transport; each port is its own connection.
  FiveTuple StreamClient(uint16_t port = 40000, Transport transport = Transport::kTcp) {
    FiveTuple c = Client(port);
    c.transport = transport;
    c.socket_id = port;
    return c;
  }

  template <typename F>
  Response AllocateTransport(const FiveTuple& c, uint8_t protocol, F extra) {
    Challenge(c);
    return Exchange(c, Request(
                           Method::kAllocate,
                           [&](MessageBuilder& b) {
                             b.AddRequestedTransport(protocol);
                             extra(b);
                           },
                           "alice", "secret"));
  }
  Response AllocateTransport(const FiveTuple& c, uint8_t protocol) {
    return AllocateTransport(c, protocol, [](MessageBuilder&) {});
  }

  // A TCP allocation on a new control connection.
  FiveTuple TcpAllocated(uint16_t port = 40000, Transport transport = Transport::kTcp) {
    FiveTuple c = StreamClient(port, transport);
    Response r = AllocateTransport(c, stun::kTransportTcp);
    EXPECT_TRUE(r.success()) << "error " << r.error();
    return c;
  }

  std::vector<uint8_t> ConnectRequest(const std::string& peer, stun::TransactionId id = {}) {
    auto addr = *SocketAddress::Parse(peer);
    return Request(
        Method::kConnect, [&](MessageBuilder& b) { b.AddXorAddress(attr::kXorPeerAddress, addr); },
        "alice", "secret", id);
  }

  // Sends a Connect that the server accepts to try: no answer yet. Returns its transaction id.
  stun::TransactionId StartConnect(const FiveTuple& c, const std::string& peer) {
    Challenge(c);
    const size_t answers = net_.to_client.size();
    stun::TransactionId id = NewId();
    server_->OnClientPacket(c, ConnectRequest(peer, id), clock_.Now());
    EXPECT_EQ(net_.to_client.size(), answers) << "a Connect is answered once its outcome is known";
    return id;
  }

  // Connect to `peer`, connected: returns the connection id, pending bind.
  uint32_t Connected(const FiveTuple& c, const std::string& peer) {
    StartConnect(c, peer);
    const uint32_t id = net_.next_connection_id - 1;
    server_->OnPeerConnected(id, true, clock_.Now());
    return id;
  }

  Response ConnectionBind(const FiveTuple& data, uint32_t id, const std::string& user = "alice",
                          const std::string& password = "secret") {
    Challenge(data);
    return Exchange(
        data, Request(
                  Method::kConnectionBind,
                  [&](MessageBuilder& b) { b.AddU32(attr::kConnectionId, id); }, user, password));
  }

  // The last message the server sent to a client.
  Response LastToClient() {
    Response r;
    if (net_.to_client.empty()) return r;
    r.bytes = net_.to_client.back().data;
    EXPECT_EQ(MessageView::Parse(r.bytes, &r.view), stun::ParseError::kOk);
    return r;
  }

  // A peer connection accepted on the allocation of control connection `c`.
  bool PeerConnects(const FiveTuple& c, uint32_t id, const std::string& peer) {
    auto* a = const_cast<Allocation*>(server_->FindAllocation(c));
    return server_->OnPeerAccepted(a, id, *SocketAddress::Parse(peer), clock_.Now());
  }

  static std::vector<uint8_t> Key(const std::string& user, const std::string& password) {
    auto key = stun::LongTermKeyMd5(user, kRealm, password);
    return {key.begin(), key.end()};
  }

  FakeUsage usage_;
};

// Allocate.

TEST_F(TurnServerTcpTest, TcpAllocateGets442WhenTcpRelayIsOff) {
  config_.tcp_relay = false;
  Rebuild();
  EXPECT_EQ(AllocateTransport(StreamClient(1), stun::kTransportTcp).error(), 442);
  EXPECT_EQ(AllocateTransport(Client(2), stun::kTransportTcp).error(), 442);
  EXPECT_EQ(server_->allocation_count(), 0u);
}

TEST_F(TurnServerTcpTest, TcpAllocateOverUdpOrDtlsGets400) {
  // RFC 6062 §5.1 step 2: the client connection must be TCP or TLS.
  EXPECT_EQ(AllocateTransport(Client(1), stun::kTransportTcp).error(), 400);
  EXPECT_EQ(AllocateTransport(StreamClient(2, Transport::kDtls), stun::kTransportTcp).error(), 400);
  EXPECT_EQ(server_->allocation_count(), 0u);
  EXPECT_EQ(net_.open, 0);
}

TEST_F(TurnServerTcpTest, TcpAllocateOverTcpAndTlsGetsATcpRelay) {
  for (Transport t : {Transport::kTcp, Transport::kTls}) {
    const uint16_t port = t == Transport::kTcp ? 1 : 2;
    Response r = AllocateTransport(StreamClient(port, t), stun::kTransportTcp);
    ASSERT_TRUE(r.success()) << "error " << r.error();
    EXPECT_TRUE(r.view.GetXorAddress(attr::kXorRelayedAddress).has_value());
    EXPECT_EQ(r.view.Find(attr::kReservationToken), nullptr);
    EXPECT_TRUE(net_.last_request.tcp);
    const Allocation* a = server_->FindAllocation(StreamClient(port, t));
    ASSERT_NE(a, nullptr);
    EXPECT_TRUE(a->tcp);
    EXPECT_NE(a->relays[0].handle, kNoRelay) << "the listening socket, as for UDP";
  }
}

TEST_F(TurnServerTcpTest, TcpAllocateWithDontFragmentEvenPortOrReservationTokenGets400) {
  // RFC 6062 §5.1 step 3.
  FiveTuple c = StreamClient();
  EXPECT_EQ(AllocateTransport(c, stun::kTransportTcp,
                              [](MessageBuilder& b) { b.AddFlag(attr::kDontFragment); })
                .error(),
            400);
  EXPECT_EQ(
      AllocateTransport(c, stun::kTransportTcp, [](MessageBuilder& b) { b.AddEvenPort(false); })
          .error(),
      400);
  EXPECT_EQ(AllocateTransport(c, stun::kTransportTcp,
                              [](MessageBuilder& b) {
                                uint8_t token[8] = {1, 2, 3, 4, 5, 6, 7, 8};
                                b.AddBytes(attr::kReservationToken, {token, 8});
                              })
                .error(),
            400);
  EXPECT_EQ(server_->allocation_count(), 0u);
  EXPECT_EQ(net_.open, 0);
}

TEST_F(TurnServerTcpTest, UdpAllocateIsForbiddenWhenUdpRelayIsOff) {
  // RFC 6062 §5.1 step 1: UDP forbidden by local policy → 403.
  config_.udp_relay = false;
  Rebuild();
  EXPECT_EQ(AllocateTransport(StreamClient(1), stun::kTransportUdp).error(), 403);
  EXPECT_EQ(AllocateTransport(Client(2), stun::kTransportUdp).error(), 403);
  EXPECT_TRUE(AllocateTransport(StreamClient(3), stun::kTransportTcp).success());
}

TEST_F(TurnServerTcpTest, UdpAllocateOverTcpOrTlsGetsAUdpRelay) {
  for (Transport t : {Transport::kTcp, Transport::kTls}) {
    FiveTuple c = StreamClient(t == Transport::kTcp ? 1 : 2, t);
    ASSERT_TRUE(AllocateTransport(c, stun::kTransportUdp).success());
    EXPECT_FALSE(net_.last_request.tcp);
    EXPECT_FALSE(server_->FindAllocation(c)->tcp);
  }
}

// ChannelBind, Send and CreatePermission on a TCP allocation.

TEST_F(TurnServerTcpTest, ChannelBindOnTcpAllocationGets400AndSendIsDropped) {
  FiveTuple c = TcpAllocated();
  Challenge(c);
  EXPECT_EQ(ChannelBind(c, 0x4000, "8.8.8.8:3478").error(), 400);
  ASSERT_TRUE(CreatePermission(c, "8.8.8.8:3478").success()) << "permissions work as for UDP";
  std::vector<uint8_t> buf(200);
  MessageBuilder b(buf);
  b.Start(Method::kSend, MessageClass::kIndication, NewId());
  b.AddXorAddress(attr::kXorPeerAddress, *SocketAddress::Parse("8.8.8.8:3478"));
  uint8_t payload[4] = {1, 2, 3, 4};
  b.AddBytes(attr::kData, {payload, 4});
  server_->OnClientPacket(c, b.Finish(), clock_.Now());
  EXPECT_TRUE(net_.to_peer.empty());
  EXPECT_EQ(Count(Counter::kDropSendOnTcpAllocation), 1u);
}

TEST_F(TurnServerTcpTest, CreatePermissionToPrivatePeerGets403OnTcpAllocation) {
  FiveTuple c = TcpAllocated();
  Challenge(c);
  EXPECT_EQ(CreatePermission(c, "10.0.0.1:80").error(), 403);
}

// Connect (RFC 6062 §5.2).

TEST_F(TurnServerTcpTest, ConnectSuccessAnswersWithConnectionIdUnderTheConnectsTransaction) {
  FiveTuple c = TcpAllocated();
  stun::TransactionId txn = StartConnect(c, "8.8.8.8:443");
  ASSERT_EQ(net_.connects.size(), 1u);
  EXPECT_EQ(net_.connects[0].allocation, server_->FindAllocation(c));
  EXPECT_EQ(net_.connects[0].peer, *SocketAddress::Parse("8.8.8.8:443"));
  EXPECT_EQ(Count(Counter::kTcpConnectRequests), 1u);

  const uint32_t id = net_.next_connection_id - 1;
  clock_.Advance(seconds(2));
  server_->OnPeerConnected(id, true, clock_.Now());
  ASSERT_EQ(net_.to_client.back().tuple, c) << "on the control connection";
  Response r = LastToClient();
  EXPECT_TRUE(r.success());
  EXPECT_EQ(r.view.method(), Method::kConnect);
  EXPECT_EQ(r.view.transaction_id(), txn);
  EXPECT_EQ(r.view.GetU32(attr::kConnectionId), id);
  EXPECT_TRUE(r.view.VerifyIntegrity(Key("alice", "secret")));
  EXPECT_TRUE(net_.closed_connections.empty());
}

TEST_F(TurnServerTcpTest, ConnectAnswerUsesSha256IntegrityWhenTheConnectDid) {
  FiveTuple c = TcpAllocated();
  Challenge(c);
  stun::TransactionId txn = NewId();
  auto peer = *SocketAddress::Parse("8.8.8.8:443");
  server_->OnClientPacket(
      c,
      Request(
          Method::kConnect,
          [&](MessageBuilder& b) { b.AddXorAddress(attr::kXorPeerAddress, peer); }, "alice",
          "secret", txn, /*sha256=*/true),
      clock_.Now());
  server_->OnPeerConnected(net_.next_connection_id - 1, true, clock_.Now());
  Response r = LastToClient();
  EXPECT_TRUE(r.success());
  EXPECT_TRUE(r.view.has_message_integrity_sha256());
  EXPECT_TRUE(r.view.VerifyIntegrity(Key("alice", "secret")));
}

TEST_F(TurnServerTcpTest, ConnectFailureGets447) {
  FiveTuple c = TcpAllocated();
  stun::TransactionId txn = StartConnect(c, "8.8.8.8:443");
  const uint32_t id = net_.next_connection_id - 1;
  server_->OnPeerConnected(id, false, clock_.Now());
  Response r = LastToClient();
  EXPECT_EQ(r.error(), 447);
  EXPECT_EQ(r.view.transaction_id(), txn);
  EXPECT_TRUE(r.view.VerifyIntegrity(Key("alice", "secret")));
  EXPECT_EQ(Count(Counter::kTcpConnectFailed), 1u);
  // The id is forgotten: a late report is ignored, and the peer can be tried again.
  const size_t answers = net_.to_client.size();
  server_->OnPeerConnected(id, true, clock_.Now());
  EXPECT_EQ(net_.to_client.size(), answers);
  StartConnect(c, "8.8.8.8:443");
  EXPECT_EQ(net_.connects.size(), 2u);
}

TEST_F(TurnServerTcpTest, ConnectThatNeverCompletesGets447AfterTheTimeout) {
  FiveTuple c = TcpAllocated();
  stun::TransactionId txn = StartConnect(c, "8.8.8.8:443");
  const uint32_t id = net_.next_connection_id - 1;
  const size_t answers = net_.to_client.size();
  clock_.Advance(seconds(29));
  server_->OnTimer(clock_.Now());
  EXPECT_EQ(net_.to_client.size(), answers) << "RFC 6062 §5.2: at least 30 s";
  clock_.Advance(seconds(2));
  server_->OnTimer(clock_.Now());
  ASSERT_EQ(net_.to_client.size(), answers + 1);
  Response r = LastToClient();
  EXPECT_EQ(r.error(), 447);
  EXPECT_EQ(r.view.transaction_id(), txn);
  EXPECT_EQ(net_.closed_connections, std::vector<uint32_t>{id}) << "the attempt is abandoned";
  server_->OnPeerConnected(id, true, clock_.Now());
  EXPECT_EQ(net_.to_client.size(), answers + 1) << "a late success is ignored";
  EXPECT_NE(server_->FindAllocation(c), nullptr);
}

TEST_F(TurnServerTcpTest, SecondConnectToTheSamePeerGets446) {
  FiveTuple c = TcpAllocated();
  StartConnect(c, "8.8.8.8:443");
  Challenge(c);
  EXPECT_EQ(Exchange(c, ConnectRequest("8.8.8.8:443")).error(), 446) << "in progress";
  server_->OnPeerConnected(net_.next_connection_id - 1, true, clock_.Now());
  Challenge(c);
  EXPECT_EQ(Exchange(c, ConnectRequest("8.8.8.8:443")).error(), 446) << "pending bind";
  EXPECT_EQ(net_.connects.size(), 1u);
  StartConnect(c, "8.8.8.8:444");  // another port is another peer
  EXPECT_EQ(net_.connects.size(), 2u);
}

TEST_F(TurnServerTcpTest, ConnectToAPeerThePolicyDeniesGets403) {
  FiveTuple c = TcpAllocated();
  for (const char* peer :
       {"10.0.0.1:80", "127.0.0.1:22", "169.254.169.254:80", "[::ffff:10.0.0.1]:80"}) {
    Challenge(c);
    EXPECT_EQ(Exchange(c, ConnectRequest(peer)).error(), 403) << peer;
  }
  EXPECT_TRUE(net_.connects.empty());
}

TEST_F(TurnServerTcpTest, ConnectRefusals) {
  FiveTuple udp = StreamClient(1);
  ASSERT_TRUE(AllocateTransport(udp, stun::kTransportUdp).success());
  Challenge(udp);
  EXPECT_EQ(Exchange(udp, ConnectRequest("8.8.8.8:443")).error(), 400) << "not a TCP allocation";

  FiveTuple none = StreamClient(2);
  Challenge(none);
  EXPECT_EQ(Exchange(none, ConnectRequest("8.8.8.8:443")).error(), 437) << "no allocation";

  FiveTuple c = TcpAllocated(3);
  Challenge(c);
  EXPECT_EQ(Exchange(c, Request(
                            Method::kConnect, [](MessageBuilder&) {}, "alice", "secret"))
                .error(),
            400)
      << "no XOR-PEER-ADDRESS";
  Challenge(c);
  EXPECT_EQ(Exchange(c, ConnectRequest("8.8.8.8:0")).error(), 400) << "no port";
  Challenge(c);
  EXPECT_EQ(Exchange(c, ConnectRequest("[2001:4860::8888]:443")).error(), 443);

  net_.refuse_connect = true;
  Challenge(c);
  EXPECT_EQ(Exchange(c, ConnectRequest("8.8.8.8:443")).error(), 447) << "none could be started";
  EXPECT_EQ(Count(Counter::kTcpConnectFailed), 1u);
}

TEST_F(TurnServerTcpTest, ConnectBeyondMaxTcpConnectionsGets508) {
  config_.max_tcp_connections = 2;
  Rebuild();
  server_->SetUsageSink(&usage_, {"node-a", "00000000000000aa"});
  FiveTuple c = TcpAllocated();
  StartConnect(c, "8.8.8.8:1");
  StartConnect(c, "8.8.8.8:2");
  Challenge(c);
  EXPECT_EQ(Exchange(c, ConnectRequest("8.8.8.8:3")).error(), 508);
  EXPECT_FALSE(PeerConnects(c, 0x02000001, "8.8.8.8:4")) << "passive ones count too";
}

// ConnectionBind (RFC 6062 §5.4).

TEST_F(TurnServerTcpTest, ConnectionBindOnANewConnectionBindsThePeerConnection) {
  FiveTuple c = TcpAllocated(1);
  const uint32_t id = Connected(c, "8.8.8.8:443");
  FiveTuple data = StreamClient(2);
  EXPECT_FALSE(server_->IsAuthenticated(data));
  Response r = ConnectionBind(data, id);
  ASSERT_TRUE(r.success()) << "error " << r.error();
  EXPECT_EQ(net_.to_client.back().tuple, data) << "answered on the data connection";
  EXPECT_TRUE(r.view.VerifyIntegrity(Key("alice", "secret")));
  ASSERT_EQ(net_.binds.size(), 1u);
  EXPECT_EQ(net_.binds[0].first, id);
  EXPECT_EQ(net_.binds[0].second, data);
  EXPECT_TRUE(server_->IsAuthenticated(data));
  EXPECT_EQ(Count(Counter::kConnectionBindOk), 1u);
  // Bound connections have no deadline.
  clock_.Advance(seconds(120));
  server_->OnTimer(clock_.Now());
  EXPECT_TRUE(net_.closed_connections.empty());
}

TEST_F(TurnServerTcpTest, ConnectionBindOverTlsWorksToo) {
  FiveTuple c = TcpAllocated(1, Transport::kTls);
  const uint32_t id = Connected(c, "8.8.8.8:443");
  EXPECT_TRUE(ConnectionBind(StreamClient(2, Transport::kTls), id).success());
}

TEST_F(TurnServerTcpTest, ConnectionBindWithAnotherUsersCredentialsGets441) {
  FiveTuple c = TcpAllocated(1);
  const uint32_t id = Connected(c, "8.8.8.8:443");
  FiveTuple data = StreamClient(2);
  EXPECT_EQ(ConnectionBind(data, id, "bob", "hunter2").error(), 441);
  EXPECT_TRUE(net_.binds.empty());
  EXPECT_FALSE(server_->IsAuthenticated(data));
  EXPECT_EQ(Count(Counter::kConnectionBindFailed), 1u);
  EXPECT_TRUE(ConnectionBind(data, id).success()) << "still pending for its owner";
}

TEST_F(TurnServerTcpTest, ConnectionBindWithAWrongPasswordIsChallenged) {
  FiveTuple c = TcpAllocated(1);
  const uint32_t id = Connected(c, "8.8.8.8:443");
  EXPECT_EQ(ConnectionBind(StreamClient(2), id, "alice", "wrong").error(), 401);
  EXPECT_TRUE(net_.binds.empty());
}

TEST_F(TurnServerTcpTest, ConnectionBindWithUnknownOrMissingIdGets400) {
  TcpAllocated(1);
  FiveTuple data = StreamClient(2);
  EXPECT_EQ(ConnectionBind(data, 0x7777).error(), 400);
  Challenge(data);
  EXPECT_EQ(Exchange(data, Request(
                               Method::kConnectionBind, [](MessageBuilder&) {}, "alice", "secret"))
                .error(),
            400);
  EXPECT_TRUE(net_.binds.empty());
  EXPECT_EQ(Count(Counter::kConnectionBindFailed), 2u);
}

TEST_F(TurnServerTcpTest, ConnectionBindWithoutCredentialsIsChallenged) {
  FiveTuple c = TcpAllocated(1);
  const uint32_t id = Connected(c, "8.8.8.8:443");
  Response r = Exchange(StreamClient(2), Request(Method::kConnectionBind, [&](MessageBuilder& b) {
                          b.AddU32(attr::kConnectionId, id);
                        }));
  EXPECT_EQ(r.error(), 401);
  EXPECT_TRUE(r.view.GetString(attr::kNonce).has_value());
}

TEST_F(TurnServerTcpTest, ConnectionBindOverUdpGets400) {
  FiveTuple c = TcpAllocated(1);
  const uint32_t id = Connected(c, "8.8.8.8:443");
  EXPECT_EQ(ConnectionBind(Client(2), id).error(), 400);
  EXPECT_EQ(ConnectionBind(StreamClient(3, Transport::kDtls), id).error(), 400);
  EXPECT_TRUE(net_.binds.empty());
}

TEST_F(TurnServerTcpTest, SecondConnectionBindForTheSameConnectionGets400) {
  FiveTuple c = TcpAllocated(1);
  const uint32_t id = Connected(c, "8.8.8.8:443");
  ASSERT_TRUE(ConnectionBind(StreamClient(2), id).success());
  EXPECT_EQ(ConnectionBind(StreamClient(3), id).error(), 400);
  EXPECT_EQ(net_.binds.size(), 1u);
}

TEST_F(TurnServerTcpTest, ConnectionBindOnTheControlConnectionGets400) {
  FiveTuple c = TcpAllocated(1);
  const uint32_t id = Connected(c, "8.8.8.8:443");
  EXPECT_EQ(ConnectionBind(c, id).error(), 400);
  EXPECT_TRUE(net_.binds.empty());
  EXPECT_NE(server_->FindAllocation(c), nullptr);
}

TEST_F(TurnServerTcpTest, ConnectionBindBeforeTheConnectSucceedsGets400) {
  FiveTuple c = TcpAllocated(1);
  StartConnect(c, "8.8.8.8:443");
  EXPECT_EQ(ConnectionBind(StreamClient(2), net_.next_connection_id - 1).error(), 400);
}

TEST_F(TurnServerTcpTest, UnboundPeerConnectionIsClosedAfterTheBindTimeout) {
  FiveTuple c = TcpAllocated(1);
  Challenge(c);
  ASSERT_TRUE(CreatePermission(c, "8.8.4.4:1").success());
  const uint32_t active = Connected(c, "8.8.8.8:443");
  ASSERT_TRUE(PeerConnects(c, 0x02000001, "8.8.4.4:5555"));
  clock_.Advance(seconds(29));
  server_->OnTimer(clock_.Now());
  EXPECT_TRUE(net_.closed_connections.empty());
  clock_.Advance(seconds(2));
  server_->OnTimer(clock_.Now());
  EXPECT_EQ(net_.closed_connections, (std::vector<uint32_t>{active, 0x02000001}));
  EXPECT_EQ(Count(Counter::kTcpBindTimeouts), 2u);
  EXPECT_EQ(ConnectionBind(StreamClient(2), active).error(), 400) << "too late";
  EXPECT_NE(server_->FindAllocation(c), nullptr) << "the allocation lives on";
}

// Passive open (RFC 6062 §5.3).

TEST_F(TurnServerTcpTest, PeerWithPermissionGetsAConnectionAttemptIndication) {
  FiveTuple c = TcpAllocated(1);
  Challenge(c);
  ASSERT_TRUE(CreatePermission(c, "8.8.4.4:1").success());
  ASSERT_TRUE(PeerConnects(c, 0x02000001, "8.8.4.4:5555"));
  EXPECT_EQ(net_.to_client.back().tuple, c);
  Response r = LastToClient();
  EXPECT_EQ(r.view.message_class(), MessageClass::kIndication);
  EXPECT_EQ(r.view.method(), Method::kConnectionAttempt);
  EXPECT_EQ(r.view.GetXorAddress(attr::kXorPeerAddress), SocketAddress::Parse("8.8.4.4:5555"));
  EXPECT_EQ(r.view.GetU32(attr::kConnectionId), 0x02000001u);
  EXPECT_EQ(Count(Counter::kTcpPeerAccepted), 1u);

  FiveTuple data = StreamClient(2);
  ASSERT_TRUE(ConnectionBind(data, 0x02000001).success());
  ASSERT_EQ(net_.binds.size(), 1u);
  EXPECT_EQ(net_.binds[0].first, 0x02000001u);
}

TEST_F(TurnServerTcpTest, PeerWithoutPermissionIsRefused) {
  FiveTuple c = TcpAllocated(1);
  const size_t sent = net_.to_client.size();
  EXPECT_FALSE(PeerConnects(c, 0x02000001, "8.8.4.4:5555"));
  EXPECT_EQ(net_.to_client.size(), sent) << "nothing is sent to the client";
  EXPECT_EQ(Count(Counter::kTcpPeerRefused), 1u);
  EXPECT_EQ(ConnectionBind(StreamClient(2), 0x02000001).error(), 400);

  Challenge(c);
  ASSERT_TRUE(CreatePermission(c, "8.8.4.4:1").success());
  clock_.Advance(seconds(301));  // the permission expires
  EXPECT_FALSE(PeerConnects(c, 0x02000002, "8.8.4.4:5555"));
}

TEST_F(TurnServerTcpTest, PassiveOpenIsRefusedOnAUdpAllocationOrWithoutOne) {
  FiveTuple udp = StreamClient(1);
  ASSERT_TRUE(AllocateTransport(udp, stun::kTransportUdp).success());
  EXPECT_FALSE(PeerConnects(udp, 0x02000001, "8.8.4.4:5555"));
  EXPECT_FALSE(server_->OnPeerAccepted(nullptr, 0x02000002, *SocketAddress::Parse("8.8.4.4:1"),
                                       clock_.Now()));
}

// Lifetime: allocations, control and data connections.

TEST_F(TurnServerTcpTest, DeletingTheAllocationClosesAllItsPeerConnections) {
  FiveTuple c = TcpAllocated(1);
  const uint32_t bound = Connected(c, "8.8.8.8:443");
  FiveTuple data = StreamClient(2);
  ASSERT_TRUE(ConnectionBind(data, bound).success());
  const uint32_t pending = Connected(c, "8.8.8.8:444");
  StartConnect(c, "8.8.8.8:445");
  const uint32_t connecting = net_.next_connection_id - 1;
  Challenge(c);
  ASSERT_TRUE(Refresh(c, 0).success());
  std::vector<uint32_t> closed = net_.closed_connections;
  std::sort(closed.begin(), closed.end());
  EXPECT_EQ(closed, (std::vector<uint32_t>{bound, pending, connecting}));
  EXPECT_FALSE(server_->IsAuthenticated(data));
  EXPECT_EQ(net_.open, 0);

  // Whatever the net layer still reports about them is ignored.
  const size_t sent = net_.to_client.size();
  server_->OnPeerConnected(connecting, true, clock_.Now());
  server_->OnTcpRelayed(bound, 100, true, clock_.Now());
  server_->OnPeerConnectionClosed(pending, clock_.Now());
  server_->OnClientClosed(data, clock_.Now());
  server_->OnTimer(clock_.Now() + seconds(60));
  EXPECT_EQ(net_.to_client.size(), sent);
  EXPECT_EQ(net_.closed_connections.size(), 3u);
}

TEST_F(TurnServerTcpTest, ClosingTheControlConnectionEndsTheAllocationWithReasonClient) {
  FiveTuple c = TcpAllocated(1);
  const uint32_t id = Connected(c, "8.8.8.8:443");
  EXPECT_TRUE(server_->IsAuthenticated(c));
  server_->OnClientClosed(c, clock_.Now());
  EXPECT_EQ(server_->FindAllocation(c), nullptr);
  EXPECT_FALSE(server_->IsAuthenticated(c));
  EXPECT_EQ(net_.closed_connections, std::vector<uint32_t>{id});
  EXPECT_EQ(net_.open, 0);
  EXPECT_EQ(Count(Counter::kEndedConnectionClosed), 1u);
  ASSERT_EQ(usage_.records.size(), 1u);
  EXPECT_EQ(usage_.records[0].reason, auth::EndReason::kClient);
  EXPECT_EQ(usage_.records[0].transport, "tcp");
}

TEST_F(TurnServerTcpTest, ClosingAStreamWithAUdpAllocationEndsItToo) {
  FiveTuple c = StreamClient(1, Transport::kTls);
  ASSERT_TRUE(AllocateTransport(c, stun::kTransportUdp).success());
  server_->OnClientClosed(c, clock_.Now());
  EXPECT_EQ(server_->allocation_count(), 0u);
  EXPECT_EQ(net_.open, 0);
}

TEST_F(TurnServerTcpTest, ClosingADataConnectionClosesItsPeerConnectionOnly) {
  FiveTuple c = TcpAllocated(1);
  const uint32_t id = Connected(c, "8.8.8.8:443");
  FiveTuple data = StreamClient(2);
  ASSERT_TRUE(ConnectionBind(data, id).success());
  server_->OnClientClosed(data, clock_.Now());
  EXPECT_EQ(net_.closed_connections, std::vector<uint32_t>{id});
  EXPECT_FALSE(server_->IsAuthenticated(data));
  EXPECT_NE(server_->FindAllocation(c), nullptr);
  StartConnect(c, "8.8.8.8:443");  // the peer is free again
  EXPECT_EQ(net_.connects.size(), 2u);
}

TEST_F(TurnServerTcpTest, PeerConnectionClosedIsForgotten) {
  FiveTuple c = TcpAllocated(1);
  const uint32_t bound = Connected(c, "8.8.8.8:443");
  FiveTuple data = StreamClient(2);
  ASSERT_TRUE(ConnectionBind(data, bound).success());
  server_->OnPeerConnectionClosed(bound, clock_.Now());
  EXPECT_FALSE(server_->IsAuthenticated(data)) << "the net layer closes the data connection";
  EXPECT_TRUE(net_.closed_connections.empty()) << "nothing left to close";

  // One closing while its Connect waits: the Connect gets 447.
  stun::TransactionId txn = StartConnect(c, "8.8.8.8:444");
  server_->OnPeerConnectionClosed(net_.next_connection_id - 1, clock_.Now());
  Response r = LastToClient();
  EXPECT_EQ(r.error(), 447);
  EXPECT_EQ(r.view.transaction_id(), txn);
}

TEST_F(TurnServerTcpTest, IsAuthenticatedOnlyForControlAndBoundDataConnections) {
  FiveTuple stranger = StreamClient(9);
  Challenge(stranger);
  EXPECT_FALSE(server_->IsAuthenticated(stranger)) << "a 401 is not authentication";
  FiveTuple c = TcpAllocated(1);
  EXPECT_TRUE(server_->IsAuthenticated(c));
  const uint32_t id = Connected(c, "8.8.8.8:443");
  FiveTuple data = StreamClient(2);
  EXPECT_EQ(ConnectionBind(data, id, "bob", "hunter2").error(), 441);
  EXPECT_FALSE(server_->IsAuthenticated(data));
  ASSERT_TRUE(ConnectionBind(data, id).success());
  EXPECT_TRUE(server_->IsAuthenticated(data));
}

TEST_F(TurnServerTcpTest, UnknownConnectionIdsAreIgnored) {
  FiveTuple c = TcpAllocated(1);
  const size_t sent = net_.to_client.size();
  server_->OnPeerConnected(0, true, clock_.Now());
  server_->OnPeerConnected(0xDEAD, false, clock_.Now());
  server_->OnPeerConnectionClosed(0xDEAD, clock_.Now());
  server_->OnTcpRelayed(0xDEAD, 1000, false, clock_.Now());
  server_->OnClientClosed(StreamClient(7), clock_.Now());
  EXPECT_EQ(net_.to_client.size(), sent);
  EXPECT_TRUE(net_.closed_connections.empty());
  EXPECT_EQ(server_->FindAllocation(c)->traffic.bytes_to_client, 0u);
}

// Metering.

TEST_F(TurnServerTcpTest, RelayedTcpBytesShowInTheCheckpointSnapshot) {
  FiveTuple c = TcpAllocated(1);
  const uint32_t id = Connected(c, "8.8.8.8:443");
  ASSERT_TRUE(ConnectionBind(StreamClient(2), id).success());
  server_->OnTcpRelayed(id, 1000, true, clock_.Now());
  clock_.Advance(milliseconds(500));
  server_->OnTcpRelayed(id, 4000, false, clock_.Now());
  server_->OnTcpRelayed(id, 500, true, clock_.Now());
  server_->Checkpoint();
  ASSERT_FALSE(usage_.records.empty());
  const auth::UsageRecord& r = usage_.records.back();
  EXPECT_EQ(r.reason, auth::EndReason::kLive);
  EXPECT_EQ(r.bytes_to_peer, 1500u);
  EXPECT_EQ(r.packets_to_peer, 2u);
  EXPECT_EQ(r.bytes_to_client, 4000u);
  EXPECT_EQ(r.packets_to_client, 1u);
  EXPECT_EQ(r.relayed_ms, 500u);
  EXPECT_EQ(r.peers, std::vector<std::string>{"8.8.8.8"});
  EXPECT_EQ(Count(Counter::kClientToPeerBytes), 1500u);
  EXPECT_EQ(Count(Counter::kPeerToClientBytes), 4000u);
}

}  // namespace
}  // namespace cv::turn
