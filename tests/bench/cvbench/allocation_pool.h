// N TURN allocations, each on its own client socket (its own 5-tuple), sharing a few peer
// sockets; the control plane that sets them up and tears them down, and the data plane that
// sends paced media both ways and counts what comes back.
//
//   client socket i ──ChannelData(channel 0x4000+i)──▶ relay ──UDP from relayed_i──▶ peer p
//   client socket i ◀──ChannelData────────────────── relay ◀──UDP to relayed_i──── peer p
//
// Set-up per allocation (RFC 8656 §7, §9, §11; RFC 8489 §9.2 long-term credentials):
//   Allocate (no credentials) → 401 REALM NONCE → Allocate (USERNAME REALM NONCE
//   MESSAGE-INTEGRITY) → [CreatePermission peer → ChannelBind channel peer]; 438 Stale Nonce
//   resends with the new nonce. Requests are retransmitted after --request-timeout-ms, at most
//   --request-tries times; set-ups are pipelined, --setup-window at once.
// Tear-down: Refresh LIFETIME=0 (437 counts as gone).
//
// The baseline of the latency phase runs the same data plane without the relay: the client
// socket sends the bare payload to the peer socket, and the peer to the client socket.
//
// Threading: the one bench thread. The pool owns its sockets and registers them with the loop.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tests/bench/cvbench/context.h"
#include "tests/bench/cvbench/loss_tracker.h"
#include "tests/bench/cvbench/net.h"
#include "tests/bench/cvbench/payload.h"
#include "tests/bench/cvbench/results.h"

namespace cv::bench {

// How the pool sends while traffic runs.
struct TrafficPlan {
  bool relayed = true;     // false: straight between client and peer sockets
  double pps[2] = {0, 0};  // per allocation, by Direction (constant-rate mode)
  uint32_t payload = 172;  // bytes after the ChannelData header
  bool video = false;      // video frames client → peer instead of constant rates
  double fps = 30;
  uint32_t keyframe_every = 60;  // frames
  uint32_t keyframe_packets = 60;
  uint32_t delta_packets = 3;
};

// What one measured epoch collected.
struct EpochStats {
  TrafficStats traffic;
  LatencyHistogram keyframes;  // per whole keyframe: send → arrival of its last packet
  uint64_t keyframes_sent = 0;
};

class AllocationPool final : public ReadableCallbacks {
 public:
  // `bind_channel`: CreatePermission and ChannelBind for the peer after each Allocate.
  AllocationPool(BenchContext& ctx, std::string phase, uint32_t count, bool bind_channel);
  ~AllocationPool() override;
  AllocationPool(const AllocationPool&) = delete;
  AllocationPool& operator=(const AllocationPool&) = delete;

  // Allocates all; false with error() at the first refusal or request left unanswered.
  bool Setup();
  // Deletes every allocation that exists and closes the client sockets (bounded wait).
  void DeleteAll();
  const std::string& error() const { return error_; }
  uint32_t size() const { return static_cast<uint32_t>(sessions_.size()); }
  double setup_seconds() const { return setup_s_; }
  // Refresh and ChannelBind before lifetimes run out while traffic runs (on by default).
  void set_maintain(bool on) { maintain_ = on; }

  // Starts (or restarts) pacing from now; packets carry `epoch` (0 = warm-up, not counted).
  void StartTraffic(const TrafficPlan& plan, uint8_t epoch);
  void SetEpoch(uint8_t epoch) { epoch_ = epoch; }
  void StopTraffic() { sending_ = false; }
  // Runs the loop for `seconds`: sends what is due each tick, receives, retransmits.
  // `on_second` runs about once a second (progress).
  void Run(double seconds, const std::function<void(uint64_t now_ns)>& on_second = nullptr);
  // Closes the keyframes still being received (after the drain).
  void FinishKeyframes();

  EpochStats& Epoch(uint8_t epoch);
  // Media packets received so far (any epoch, duplicates included), for arrival rates.
  uint64_t arrivals() const { return arrivals_; }
  // Datagrams the bench's own sockets dropped (SO_RXQ_OVFL), so far.
  uint64_t rx_drops() const { return rx_drops_; }
  uint64_t send_refused() const { return send_refused_; }
  uint64_t maintenance_errors() const { return maintenance_errors_; }
  // Datagrams that were neither an expected reply nor a media packet of this pool.
  uint64_t stray() const { return stray_; }

  void OnReadable(uint32_t index) override;

 private:
  enum class State : uint8_t {
    kIdle,        // not started
    kChallenge,   // unauthenticated Allocate sent
    kAllocate,    // authenticated Allocate sent
    kPermission,  // CreatePermission sent
    kChannel,     // ChannelBind sent
    kReady,
    kRefreshing,  // Refresh or ChannelBind renewal sent while ready
    kDeleting,
    kDone,  // deleted, or never allocated
    kFailed,
  };

  struct Flow {
    uint32_t next_sequence = 0;
    uint64_t sent_in_run = 0;
    SequenceTracker tracker;  // receiver side
  };

  struct Session {
    int fd = -1;
    State state = State::kIdle;
    bool allocated = false;
    bool in_flight = false;
    uint8_t tries = 0;
    uint8_t stale_retries = 0;
    uint8_t peer = 0;
    uint16_t channel = 0;
    uint16_t request_size = 0;
    uint32_t counter = 0;
    uint32_t active_pos = 0;  // position in active_ while in_flight
    uint32_t drops_seen = 0;
    uint64_t deadline_ns = 0;
    uint64_t refresh_at_ns = 0;
    uint64_t rebind_at_ns = 0;
    double phase = 0;  // pacing offset in [0, 1): spreads flows over a packet interval
    SocketAddress local, relayed;
    sockaddr_storage local_sa{}, relayed_sa{};
    socklen_t local_len = 0, relayed_len = 0;
    std::string username, realm, nonce;
    auth::Key key;
    stun::TransactionId txn{};
    std::array<uint8_t, kMaxRequestSize> request{};
    Flow flows[2];
    // Video.
    uint64_t frame = 0;
    uint64_t next_frame_ns = 0;
    uint32_t keyframe_offset = 0;
    // Keyframe being received.
    bool kf_open = false;
    uint8_t kf_epoch = 0;
    uint32_t kf_burst = 0;
    uint32_t kf_count = 0;
    uint64_t kf_latency_ns = 0;
  };

  struct PeerSocket {
    int fd = -1;
    SocketAddress address;
    sockaddr_storage sa{};
    socklen_t len = 0;
    uint32_t drops_seen = 0;
    std::unique_ptr<SendBatch> batch;
  };

  static constexpr uint32_t kPeerIndex = 0x80000000u;

  bool OpenPeers();
  bool Start(uint32_t i);
  void Send(uint32_t i, size_t size, State state);  // sends session i's request as a new txn
  void Resend(uint32_t i);
  void Complete(uint32_t i);  // the request in flight got its answer
  void Fail(uint32_t i, const std::string& why);
  void OnControl(uint32_t i, std::span<const uint8_t> datagram);
  void CheckTimeouts(uint64_t now);
  void Maintain(uint64_t now);
  bool SendAuthenticated(uint32_t i, State state);
  LongTermAuth Auth(const Session& s) const;
  void SendDue(uint64_t now);
  void SendVideo(uint32_t i, uint64_t now);
  void FillMedia(uint8_t* payload, uint32_t flow, Direction d, uint8_t flags, uint32_t burst,
                 uint64_t now);
  void OnMedia(std::span<const uint8_t> payload, Direction expected, uint64_t now);
  void CountDrops(std::optional<uint32_t> counter, uint32_t* seen);
  void Close(uint32_t i);

  BenchContext& ctx_;
  std::string phase_;
  bool bind_channel_;
  bool maintain_ = true;
  std::vector<Session> sessions_;
  std::vector<PeerSocket> peers_;
  std::vector<uint32_t> active_;  // sessions with a request in flight
  std::string error_;
  bool failed_ = false;
  uint32_t ready_ = 0;
  uint32_t started_ = 0;
  double setup_s_ = 0;

  // Data plane.
  TrafficPlan plan_;
  bool sending_ = false;
  uint8_t epoch_ = 0;
  uint64_t run_start_ns_ = 0;
  uint64_t next_maintain_ns_ = 0;
  std::array<std::unique_ptr<EpochStats>, 256> epochs_;
  std::unique_ptr<SendBatch> client_batch_;
  std::unique_ptr<RecvBatch> recv_;
  uint64_t arrivals_ = 0;
  uint64_t rx_drops_ = 0;
  uint64_t send_refused_ = 0;
  uint64_t maintenance_errors_ = 0;
  uint64_t stray_ = 0;
};

}  // namespace cv::bench
