#include "tests/bench/cvbench/allocation_pool.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "relay/stun/channel_data.h"

namespace cv::bench {
namespace {

constexpr uint16_t kChannel = 0x4000;  // channel numbers are per allocation: one each suffices
constexpr uint8_t kMaxStaleRetries = 3;
constexpr uint32_t kDefaultLifetime = 600;
constexpr uint64_t kRebindNs = 240'000'000'000u;  // ChannelBind renews channel and permission
constexpr uint64_t kMaxDuePerTick = 4096;         // a stalled bench skips, it does not burst
constexpr uint64_t kMaxFramesPerTick = 4;

uint64_t SecondsNs(double s) { return static_cast<uint64_t>(std::llround(s * 1e9)); }

}  // namespace

AllocationPool::AllocationPool(BenchContext& ctx, std::string phase, uint32_t count,
                               bool bind_channel)
    : ctx_(ctx),
      phase_(std::move(phase)),
      bind_channel_(bind_channel),
      sessions_(count),
      client_batch_(std::make_unique<SendBatch>()),
      recv_(std::make_unique<RecvBatch>()) {
  const uint32_t peers = std::max<uint32_t>(1, ctx.options.peer_sockets);
  for (uint32_t i = 0; i < count; ++i) {
    sessions_[i].peer = static_cast<uint8_t>(i % peers);
    sessions_[i].channel = kChannel;
    sessions_[i].phase = static_cast<double>(i) / count;
  }
}

AllocationPool::~AllocationPool() {
  for (uint32_t i = 0; i < sessions_.size(); ++i) Close(i);
  for (PeerSocket& p : peers_) {
    if (p.fd >= 0) {
      ctx_.loop.Remove(p.fd);
      close(p.fd);
    }
  }
  ctx_.loop.Forget(this);
}

void AllocationPool::Close(uint32_t i) {
  Session& s = sessions_[i];
  if (s.fd < 0) return;
  ctx_.loop.Remove(s.fd);
  close(s.fd);
  s.fd = -1;
}

bool AllocationPool::OpenPeers() {
  const uint32_t n = std::max<uint32_t>(1, ctx_.options.peer_sockets);
  for (uint32_t p = 0; p < n; ++p) {
    PeerSocket peer;
    std::string err;
    peer.fd = OpenUdpSocket(ctx_.options.peer_ip, ctx_.options.peer_buffer, &peer.address, &err);
    if (peer.fd < 0) {
      failed_ = true;
      error_ = "[" + phase_ + "] peer socket on " + ctx_.options.peer_ip.ToString() + ": " + err;
      return false;
    }
    peer.len = peer.address.ToSockaddr(&peer.sa);
    peer.batch = std::make_unique<SendBatch>();
    ctx_.loop.Add(peer.fd, this, kPeerIndex + p);
    peers_.push_back(std::move(peer));
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Control plane

bool AllocationPool::Setup() {
  const uint64_t start = NowNs();
  if (!OpenPeers()) return false;
  const uint32_t count = size();
  const uint32_t window = ctx_.options.setup_window;
  ctx_.progress.Reset();
  while (!failed_ && ready_ < count) {
    if (Interrupted()) {
      failed_ = true;
      error_ = "[" + phase_ + "] interrupted during set-up";
      break;
    }
    // One allocation first: a wrong secret or a refused peer then costs one failed request, not
    // a window of them (cvrelay bans a source after auth-failure-limit failures).
    const size_t limit = ready_ > 0 ? window : 1;
    while (!failed_ && started_ < count && active_.size() < limit) Start(started_++);
    const uint64_t now = NowNs();
    CheckTimeouts(now);
    if (ctx_.progress.Due(now)) {
      ctx_.progress.Print("[" + phase_ + "] setup " + std::to_string(ready_) + "/" +
                          std::to_string(count) + " allocations");
    }
    if (!failed_ && ready_ < count) ctx_.loop.Poll(2'000'000);
  }
  setup_s_ = static_cast<double>(NowNs() - start) / 1e9;
  return !failed_;
}

bool AllocationPool::Start(uint32_t i) {
  Session& s = sessions_[i];
  std::string err;
  s.fd = OpenUdpSocket(ctx_.client_ip, ctx_.options.client_buffer, &s.local, &err);
  if (s.fd < 0) {
    Fail(i, "client socket: " + err);
    return false;
  }
  s.local_len = s.local.ToSockaddr(&s.local_sa);
  ctx_.loop.Add(s.fd, this, i);
  s.username = Credentials::Username(BenchContext::Expiry(), phase_, ctx_.next_user++);
  s.txn = MakeTransactionId(i, ++s.counter, ctx_.salt);
  const size_t size = BuildAllocate(s.request, s.txn, nullptr, ctx_.options.peer_ip.is_v6());
  Send(i, size, State::kChallenge);
  return true;
}

LongTermAuth AllocationPool::Auth(const Session& s) const {
  return LongTermAuth{s.username, s.realm, s.nonce, &s.key};
}

void AllocationPool::Send(uint32_t i, size_t size, State state) {
  Session& s = sessions_[i];
  if (size == 0) {
    Fail(i, "request does not fit in " + std::to_string(kMaxRequestSize) +
                " bytes (realm or nonce too long)");
    return;
  }
  s.request_size = static_cast<uint16_t>(size);
  s.state = state;
  s.tries = 1;
  s.deadline_ns = NowNs() + ctx_.timeout_ns();
  if (!s.in_flight) {
    s.in_flight = true;
    s.active_pos = static_cast<uint32_t>(active_.size());
    active_.push_back(i);
  }
  sendto(s.fd, s.request.data(), size, 0, reinterpret_cast<const sockaddr*>(&ctx_.server_sa),
         ctx_.server_len);
}

void AllocationPool::Resend(uint32_t i) {
  Session& s = sessions_[i];
  ++s.tries;
  s.deadline_ns = NowNs() + ctx_.timeout_ns();
  sendto(s.fd, s.request.data(), s.request_size, 0,
         reinterpret_cast<const sockaddr*>(&ctx_.server_sa), ctx_.server_len);
}

void AllocationPool::Complete(uint32_t i) {
  Session& s = sessions_[i];
  if (!s.in_flight) return;
  s.in_flight = false;
  const uint32_t last = active_.back();
  active_[s.active_pos] = last;
  sessions_[last].active_pos = s.active_pos;
  active_.pop_back();
}

void AllocationPool::Fail(uint32_t i, const std::string& why) {
  Complete(i);
  sessions_[i].state = State::kFailed;
  if (failed_) return;
  failed_ = true;
  error_ = "[" + phase_ + "] allocation " + std::to_string(i) + ": " + why;
}

bool AllocationPool::SendAuthenticated(uint32_t i, State state) {
  Session& s = sessions_[i];
  s.txn = MakeTransactionId(i, ++s.counter, ctx_.salt);
  const LongTermAuth auth = Auth(s);
  const SocketAddress& peer = peers_[s.peer].address;
  size_t size = 0;
  switch (state) {
    case State::kAllocate:
      size = BuildAllocate(s.request, s.txn, &auth, ctx_.options.peer_ip.is_v6());
      break;
    case State::kPermission:
      size = BuildCreatePermission(s.request, s.txn, peer, auth);
      break;
    case State::kChannel:
      size = BuildChannelBind(s.request, s.txn, s.channel, peer, auth);
      break;
    case State::kRefreshing:
      // Renewal: a Refresh when the allocation is due, else a ChannelBind (which renews the
      // channel and the peer's permission, RFC 8656 §12).
      size = s.refresh_at_ns <= NowNs() ? BuildRefresh(s.request, s.txn, kDefaultLifetime, auth)
                                        : BuildChannelBind(s.request, s.txn, s.channel, peer, auth);
      break;
    case State::kDeleting:
      size = BuildRefresh(s.request, s.txn, 0, auth);
      break;
    default:
      return false;
  }
  Send(i, size, state);
  return true;
}

void AllocationPool::OnControl(uint32_t i, std::span<const uint8_t> datagram) {
  Reply r;
  if (!ParseReply(datagram, &r)) {
    ++stray_;
    return;
  }
  Session& s = sessions_[i];
  if (!s.in_flight || r.id != s.txn) return;  // an answer to a retransmission already answered
  Complete(i);
  const uint64_t now = NowNs();

  if (s.state == State::kChallenge) {
    if (r.error == 401 && r.realm && r.nonce) {
      s.realm = ctx_.options.realm.empty() ? std::string(*r.realm) : ctx_.options.realm;
      s.nonce = std::string(*r.nonce);
      s.key = ctx_.credentials->Key(s.username, s.realm);
      SendAuthenticated(i, State::kAllocate);
      return;
    }
    if (r.error != 0) {
      Fail(i, ErrorHint("Allocate (unauthenticated)", r.error, false));
      return;
    }
    s.state = State::kAllocate;  // a server that asked for no credentials: go on
  }

  // RFC 8489 §9.2.5: 438 Stale Nonce carries a fresh NONCE; resend with it.
  if (r.error == 438 && r.nonce && s.stale_retries < kMaxStaleRetries && s.state != State::kIdle) {
    ++s.stale_retries;
    s.nonce = std::string(*r.nonce);
    if (r.realm && ctx_.options.realm.empty() && *r.realm != s.realm) {
      s.realm = std::string(*r.realm);
      s.key = ctx_.credentials->Key(s.username, s.realm);
    }
    SendAuthenticated(i, s.state);
    return;
  }
  s.stale_retries = 0;

  switch (s.state) {
    case State::kAllocate:
      if (r.error != 0) {
        Fail(i, ErrorHint("Allocate", r.error, true));
        return;
      }
      if (!r.relayed) {
        Fail(i, "Allocate: success without XOR-RELAYED-ADDRESS");
        return;
      }
      s.allocated = true;
      s.relayed = *r.relayed;
      s.relayed_len = s.relayed.ToSockaddr(&s.relayed_sa);
      s.refresh_at_ns = now + uint64_t{r.lifetime.value_or(kDefaultLifetime)} * 500'000'000u;
      if (bind_channel_) {
        SendAuthenticated(i, State::kPermission);
      } else {
        s.state = State::kReady;
        ++ready_;
      }
      return;
    case State::kPermission:
      if (r.error != 0) {
        Fail(i, ErrorHint("CreatePermission", r.error, true));
        return;
      }
      SendAuthenticated(i, State::kChannel);
      return;
    case State::kChannel:
      if (r.error != 0) {
        Fail(i, ErrorHint("ChannelBind", r.error, true));
        return;
      }
      s.rebind_at_ns = now + kRebindNs;
      s.state = State::kReady;
      ++ready_;
      return;
    case State::kRefreshing:
      if (r.error != 0) {
        ++maintenance_errors_;
      } else if (r.method == stun::Method::kRefresh) {
        s.refresh_at_ns = now + uint64_t{r.lifetime.value_or(kDefaultLifetime)} * 500'000'000u;
      } else {
        s.rebind_at_ns = now + kRebindNs;
      }
      s.state = State::kReady;
      return;
    case State::kDeleting:
      s.state = State::kDone;
      s.allocated = false;
      return;
    default:
      return;
  }
}

void AllocationPool::CheckTimeouts(uint64_t now) {
  for (size_t k = 0; k < active_.size();) {
    const uint32_t i = active_[k];
    Session& s = sessions_[i];
    if (now < s.deadline_ns) {
      ++k;
      continue;
    }
    if (s.tries < ctx_.options.request_tries) {
      Resend(i);
      ++k;
      continue;
    }
    // Given up: Complete() moves the last active session into slot k, so k stays.
    const std::string tries = std::to_string(ctx_.options.request_tries) + " tries, " +
                              std::to_string(ctx_.options.request_timeout_ms) + " ms apart";
    switch (s.state) {
      case State::kDeleting:
        Complete(i);
        s.state = State::kDone;
        ++maintenance_errors_;
        break;
      case State::kRefreshing:
        Complete(i);
        s.state = State::kReady;
        ++maintenance_errors_;
        break;
      case State::kChallenge:
        Fail(i, "Allocate (unauthenticated): no answer after " + tries +
                    " — is a TURN server listening on " + ctx_.options.server.ToString() +
                    "? (cvrelay limits 401 answers per source: unauth-rate=0)");
        break;
      case State::kAllocate:
        Fail(i, "Allocate: no answer after " + tries);
        break;
      case State::kPermission:
        Fail(i, "CreatePermission: no answer after " + tries);
        break;
      case State::kChannel:
        Fail(i, "ChannelBind: no answer after " + tries);
        break;
      default:
        Complete(i);
        break;
    }
  }
}

void AllocationPool::Maintain(uint64_t now) {
  for (uint32_t i = 0; i < sessions_.size(); ++i) {
    if (active_.size() >= ctx_.options.setup_window) return;
    Session& s = sessions_[i];
    if (s.state != State::kReady || s.in_flight) continue;
    if (now >= s.refresh_at_ns || (bind_channel_ && now >= s.rebind_at_ns)) {
      SendAuthenticated(i, State::kRefreshing);
    }
  }
}

void AllocationPool::DeleteAll() {
  sending_ = false;
  // Whatever is in flight is abandoned: its answer, if any, is ignored.
  while (!active_.empty()) Complete(active_.back());
  std::vector<uint32_t> queue;
  for (uint32_t i = 0; i < sessions_.size(); ++i) {
    if (sessions_[i].allocated && sessions_[i].fd >= 0) queue.push_back(i);
  }
  size_t next = 0;
  ctx_.progress.Reset();
  while (next < queue.size() || !active_.empty()) {
    while (next < queue.size() && active_.size() < ctx_.options.setup_window) {
      SendAuthenticated(queue[next++], State::kDeleting);
    }
    const uint64_t now = NowNs();
    CheckTimeouts(now);
    if (queue.size() > 1000 && ctx_.progress.Due(now)) {
      ctx_.progress.Print("[" + phase_ + "] deleting " + std::to_string(next - active_.size()) +
                          "/" + std::to_string(queue.size()) + " allocations");
    }
    if (!active_.empty()) ctx_.loop.Poll(2'000'000);
  }
  for (uint32_t i = 0; i < sessions_.size(); ++i) Close(i);
}

// ---------------------------------------------------------------------------------------------
// Data plane

EpochStats& AllocationPool::Epoch(uint8_t epoch) {
  auto& e = epochs_[epoch];
  if (!e) e = std::make_unique<EpochStats>();
  return *e;
}

void AllocationPool::StartTraffic(const TrafficPlan& plan, uint8_t epoch) {
  plan_ = plan;
  epoch_ = epoch;
  sending_ = true;
  run_start_ns_ = NowNs();
  const uint32_t n = size();
  const double frame_ns = 1e9 / plan.fps;
  for (uint32_t i = 0; i < n; ++i) {
    Session& s = sessions_[i];
    s.flows[0].sent_in_run = 0;
    s.flows[1].sent_in_run = 0;
    s.frame = 0;
    // Frames of different flows are spread over one frame interval, and their keyframes over
    // one keyframe interval.
    s.next_frame_ns = run_start_ns_ + static_cast<uint64_t>(s.phase * frame_ns);
    s.keyframe_offset = static_cast<uint32_t>(uint64_t{i} * plan.keyframe_every / n);
  }
  Epoch(epoch);
}

void AllocationPool::Run(double seconds, const std::function<void(uint64_t)>& on_second) {
  const uint64_t start = NowNs();
  const uint64_t end = start + SecondsNs(seconds);
  uint64_t next_tick = start;
  uint64_t next_second = start + 1'000'000'000u;
  if (next_maintain_ns_ == 0) next_maintain_ns_ = start + 1'000'000'000u;
  for (;;) {
    uint64_t now = NowNs();
    if (now >= end || Interrupted()) break;
    if (now >= next_tick) {
      if (sending_) SendDue(now);
      if (!active_.empty()) CheckTimeouts(now);
      if (maintain_ && now >= next_maintain_ns_) {
        Maintain(now);
        next_maintain_ns_ = now + 1'000'000'000u;
      }
      next_tick = now + ctx_.tick_ns();
      now = NowNs();
    }
    if (on_second && now >= next_second) {
      on_second(now);
      next_second += 1'000'000'000u;
    }
    const uint64_t until = std::min(next_tick, end);
    ctx_.loop.Poll(until > now ? until - now : 0);
  }
}

void AllocationPool::FillMedia(uint8_t* payload, uint32_t flow, Direction d, uint8_t flags,
                               uint32_t burst, uint64_t now) {
  MediaHeader h;
  h.flow = flow;
  h.direction = d;
  h.epoch = epoch_;
  h.flags = flags;
  h.sequence = sessions_[flow].flows[static_cast<int>(d)].next_sequence++;
  h.sent_ns = now;
  h.burst = burst;
  EncodeMedia(h, {payload, plan_.payload});
}

void AllocationPool::SendDue(uint64_t now) {
  const double elapsed = static_cast<double>(now - run_start_ns_) / 1e9;
  TrafficStats& stats = Epoch(epoch_).traffic;
  const uint32_t n = size();
  const bool relayed = plan_.relayed;
  const size_t up_size = plan_.payload + (relayed ? stun::kChannelDataHeaderSize : 0);
  for (uint32_t i = 0; i < n; ++i) {
    Session& s = sessions_[i];
    if (s.state != State::kReady && s.state != State::kRefreshing) continue;
    if (plan_.video) {
      SendVideo(i, now);
      continue;
    }
    uint64_t due[2] = {0, 0};
    for (int d = 0; d < 2; ++d) {
      if (plan_.pps[d] <= 0) continue;
      const auto target = static_cast<uint64_t>(elapsed * plan_.pps[d] + s.phase);
      if (target > s.flows[d].sent_in_run) {
        due[d] = std::min(target - s.flows[d].sent_in_run, kMaxDuePerTick);
        s.flows[d].sent_in_run = target;
      }
    }
    if (due[0] == 0 && due[1] == 0) continue;
    const uint64_t t = NowNs();
    // Client → peer: ChannelData to the relay (or the bare payload to the peer: baseline).
    const sockaddr* up_to = relayed ? reinterpret_cast<const sockaddr*>(&ctx_.server_sa)
                                    : reinterpret_cast<const sockaddr*>(&peers_[s.peer].sa);
    const socklen_t up_len = relayed ? ctx_.server_len : peers_[s.peer].len;
    for (uint64_t k = 0; k < due[0]; ++k) {
      uint8_t* slot = client_batch_->NextSlot();
      uint8_t* payload = slot;
      if (relayed) {
        stun::WriteChannelDataHeader(s.channel, static_cast<uint16_t>(plan_.payload), slot);
        payload = slot + stun::kChannelDataHeaderSize;
      }
      FillMedia(payload, i, Direction::kToPeer, 0, 0, t);
      client_batch_->Add(up_size, up_to, up_len);
      if (client_batch_->full()) stats.sent[0] += client_batch_->Flush(s.fd, &send_refused_);
    }
    if (!client_batch_->empty()) stats.sent[0] += client_batch_->Flush(s.fd, &send_refused_);
    // Peer → client: to the relayed address (or the client socket itself: baseline).
    PeerSocket& p = peers_[s.peer];
    const sockaddr* down_to = relayed ? reinterpret_cast<const sockaddr*>(&s.relayed_sa)
                                      : reinterpret_cast<const sockaddr*>(&s.local_sa);
    const socklen_t down_len = relayed ? s.relayed_len : s.local_len;
    for (uint64_t k = 0; k < due[1]; ++k) {
      FillMedia(p.batch->NextSlot(), i, Direction::kToClient, 0, 0, t);
      p.batch->Add(plan_.payload, down_to, down_len);
      if (p.batch->full()) stats.sent[1] += p.batch->Flush(p.fd, &send_refused_);
    }
  }
  for (PeerSocket& p : peers_) {
    if (!p.batch->empty()) stats.sent[1] += p.batch->Flush(p.fd, &send_refused_);
  }
}

void AllocationPool::SendVideo(uint32_t i, uint64_t now) {
  Session& s = sessions_[i];
  EpochStats& epoch = Epoch(epoch_);
  const double frame_ns = 1e9 / plan_.fps;
  const bool relayed = plan_.relayed;
  const size_t size = plan_.payload + (relayed ? stun::kChannelDataHeaderSize : 0);
  const sockaddr* to = relayed ? reinterpret_cast<const sockaddr*>(&ctx_.server_sa)
                               : reinterpret_cast<const sockaddr*>(&peers_[s.peer].sa);
  const socklen_t to_len = relayed ? ctx_.server_len : peers_[s.peer].len;
  uint64_t frames = 0;
  while (s.next_frame_ns <= now) {
    const bool key = (s.frame + s.keyframe_offset) % plan_.keyframe_every == 0;
    if (frames++ < kMaxFramesPerTick) {
      const uint32_t packets = key ? plan_.keyframe_packets : plan_.delta_packets;
      const uint64_t t = NowNs();
      // A frame leaves back to back: one sendmmsg per kBatch packets.
      for (uint32_t k = 0; k < packets; ++k) {
        uint8_t* slot = client_batch_->NextSlot();
        uint8_t* payload = slot;
        if (relayed) {
          stun::WriteChannelDataHeader(s.channel, static_cast<uint16_t>(plan_.payload), slot);
          payload = slot + stun::kChannelDataHeaderSize;
        }
        FillMedia(payload, i, Direction::kToPeer, key ? kFlagKeyframe : 0,
                  static_cast<uint32_t>(s.frame), t);
        client_batch_->Add(size, to, to_len);
        if (client_batch_->full()) {
          epoch.traffic.sent[0] += client_batch_->Flush(s.fd, &send_refused_);
        }
      }
      if (!client_batch_->empty()) {
        epoch.traffic.sent[0] += client_batch_->Flush(s.fd, &send_refused_);
      }
      if (key) ++epoch.keyframes_sent;
    }
    ++s.frame;
    s.next_frame_ns = run_start_ns_ + static_cast<uint64_t>(s.phase * frame_ns) +
                      static_cast<uint64_t>(static_cast<double>(s.frame) * frame_ns);
  }
}

void AllocationPool::CountDrops(std::optional<uint32_t> counter, uint32_t* seen) {
  if (!counter) return;
  rx_drops_ += static_cast<uint32_t>(*counter - *seen);
  *seen = *counter;
}

void AllocationPool::OnReadable(uint32_t index) {
  if (index >= kPeerIndex) {
    PeerSocket& p = peers_[index - kPeerIndex];
    for (;;) {
      const size_t n = recv_->Receive(p.fd);
      if (n == 0) return;
      const uint64_t now = NowNs();
      CountDrops(recv_->drops(), &p.drops_seen);
      for (size_t j = 0; j < n; ++j) {
        const size_t size = recv_->size(j);
        if (size > 0 && LooksLikeMedia(recv_->data(j)[0])) {
          OnMedia({recv_->data(j), size}, Direction::kToPeer, now);
        } else {
          ++stray_;
        }
      }
      if (n < kBatch) return;
    }
  }
  Session& s = sessions_[index];
  if (s.fd < 0) return;
  for (;;) {
    const size_t n = recv_->Receive(s.fd);
    if (n == 0) return;
    const uint64_t now = NowNs();
    CountDrops(recv_->drops(), &s.drops_seen);
    for (size_t j = 0; j < n; ++j) {
      const uint8_t* data = recv_->data(j);
      const size_t size = recv_->size(j);
      if (size == 0) continue;
      if (stun::LooksLikeChannelData(data[0])) {
        auto frame = stun::ParseChannelData({data, size});
        if (frame) {
          OnMedia(frame->data, Direction::kToClient, now);
        } else {
          ++stray_;
        }
      } else if (LooksLikeMedia(data[0])) {
        OnMedia({data, size}, Direction::kToClient, now);
      } else {
        OnControl(index, {data, size});
      }
    }
    if (n < kBatch || s.fd < 0) return;
  }
}

void AllocationPool::OnMedia(std::span<const uint8_t> payload, Direction expected, uint64_t now) {
  auto h = DecodeMedia(payload);
  if (!h || h->direction != expected || h->flow >= sessions_.size()) {
    ++stray_;
    return;
  }
  ++arrivals_;
  Session& s = sessions_[h->flow];
  const int d = static_cast<int>(h->direction);
  const SequenceTracker::Arrival arrival = s.flows[d].tracker.Record(h->sequence);
  if (h->epoch == 0) return;  // warm-up: tracked for duplicates, not counted
  EpochStats& e = Epoch(h->epoch);
  TrafficStats& t = e.traffic;
  switch (arrival) {
    case SequenceTracker::Arrival::kDuplicate:
      ++t.duplicates;
      return;
    case SequenceTracker::Arrival::kReordered:
      ++t.reordered;
      break;
    case SequenceTracker::Arrival::kTooOld:
      ++t.late;
      break;
    case SequenceTracker::Arrival::kNew:
      break;
  }
  ++t.received[d];
  const uint64_t latency = now > h->sent_ns ? now - h->sent_ns : 0;
  t.latency.Record(latency);
  if ((h->flags & kFlagKeyframe) == 0) return;
  if (s.kf_open && (s.kf_burst != h->burst || s.kf_epoch != h->epoch)) {
    s.kf_open = false;  // the previous keyframe never completed
  }
  if (!s.kf_open) {
    s.kf_open = true;
    s.kf_epoch = h->epoch;
    s.kf_burst = h->burst;
    s.kf_count = 0;
    s.kf_latency_ns = 0;
  }
  ++s.kf_count;
  s.kf_latency_ns = std::max(s.kf_latency_ns, latency);
  if (s.kf_count == plan_.keyframe_packets) {
    e.keyframes.Record(s.kf_latency_ns);
    s.kf_open = false;
  }
}

void AllocationPool::FinishKeyframes() {
  for (Session& s : sessions_) s.kf_open = false;
}

}  // namespace cv::bench
