#include "tests/bench/cvbench/churn.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cv::bench {
namespace {
constexpr uint8_t kMaxStaleRetries = 3;
}

ChurnRunner::ChurnRunner(BenchContext& ctx)
    : ctx_(ctx), slots_(ctx.options.churn_concurrency), recv_(std::make_unique<RecvBatch>()) {}

ChurnRunner::~ChurnRunner() {
  for (uint32_t i = 0; i < slots_.size(); ++i) CloseSlot(i);
  ctx_.loop.Forget(this);
}

bool ChurnRunner::Open(uint32_t i) {
  Slot& s = slots_[i];
  SocketAddress local;
  std::string err;
  s.fd = OpenUdpSocket(ctx_.client_ip, 256 * 1024, &local, &err);
  if (s.fd < 0) {
    socket_error_ = err;
    return false;
  }
  ctx_.loop.Add(s.fd, this, i);
  return true;
}

void ChurnRunner::CloseSlot(uint32_t i) {
  Slot& s = slots_[i];
  if (s.fd < 0) return;
  ctx_.loop.Remove(s.fd);
  close(s.fd);
  s.fd = -1;
}

void ChurnRunner::Transmit(uint32_t i, size_t size, State state) {
  Slot& s = slots_[i];
  s.state = state;
  s.request_size = static_cast<uint16_t>(size);
  s.tries = 1;
  s.deadline_ns = NowNs() + ctx_.timeout_ns();
  sendto(s.fd, s.request.data(), size, 0, reinterpret_cast<const sockaddr*>(&ctx_.server_sa),
         ctx_.server_len);
}

void ChurnRunner::StartAttempt(uint32_t i) {
  Slot& s = slots_[i];
  if (s.fd < 0 && !Open(i)) {
    s.state = State::kIdle;
    return;
  }
  s.username = Credentials::Username(BenchContext::Expiry(), "churn", ctx_.next_user++);
  s.stale_retries = 0;
  s.allocated = false;
  s.txn = MakeTransactionId(i, ++s.counter, ctx_.salt);
  s.started_ns = NowNs();
  Transmit(i, BuildAllocate(s.request, s.txn, nullptr, ctx_.options.peer_ip.is_v6()),
           State::kChallenge);
}

void ChurnRunner::SendAuthenticated(uint32_t i, State state) {
  Slot& s = slots_[i];
  s.txn = MakeTransactionId(i, ++s.counter, ctx_.salt);
  const LongTermAuth auth{s.username, s.realm, s.nonce, &s.key};
  const size_t size = state == State::kAllocate
                          ? BuildAllocate(s.request, s.txn, &auth, ctx_.options.peer_ip.is_v6())
                          : BuildRefresh(s.request, s.txn, 0, auth);
  if (size == 0) {
    Failed(i, "request_too_large", "request does not fit (realm or nonce too long)");
    return;
  }
  Transmit(i, size, state);
}

void ChurnRunner::Failed(uint32_t i, const std::string& code, const std::string& why) {
  const uint64_t now = NowNs();
  if (InWindow(now)) ++result_->errors[code];
  if (first_error_.empty()) first_error_ = why;
  // A fresh 5-tuple: whatever the server still holds for the old one is left to expire.
  CloseSlot(i);
  slots_[i].state = State::kIdle;
  Next(i);
}

void ChurnRunner::Next(uint32_t i) {
  if (running_) {
    StartAttempt(i);
  } else {
    slots_[i].state = State::kIdle;
  }
}

void ChurnRunner::OnReply(uint32_t i, std::span<const uint8_t> datagram) {
  Reply r;
  if (!ParseReply(datagram, &r)) return;
  Slot& s = slots_[i];
  if (s.state == State::kIdle || r.id != s.txn) return;
  const uint64_t now = NowNs();
  switch (s.state) {
    case State::kChallenge:
      if (r.error == 401 && r.realm && r.nonce) {
        s.realm = ctx_.options.realm.empty() ? std::string(*r.realm) : ctx_.options.realm;
        s.nonce = std::string(*r.nonce);
        s.key = ctx_.credentials->Key(s.username, s.realm);
        SendAuthenticated(i, State::kAllocate);
      } else {
        Failed(i, r.error == 0 ? std::string("no_challenge") : std::to_string(r.error),
               r.error == 0 ? std::string("Allocate (unauthenticated): the server did not ask "
                                          "for credentials")
                            : ErrorHint("Allocate (unauthenticated)", r.error, false));
      }
      return;
    case State::kAllocate:
    case State::kDelete:
      if (r.error == 438 && r.nonce && s.stale_retries < kMaxStaleRetries) {
        ++s.stale_retries;
        s.nonce = std::string(*r.nonce);
        SendAuthenticated(i, s.state);
        return;
      }
      if (s.state == State::kAllocate) {
        if (r.error != 0) {
          Failed(i, std::to_string(r.error), ErrorHint("Allocate", r.error, true));
          return;
        }
        s.allocated = true;
        ++total_successes_;
        if (InWindow(now)) {
          ++result_->successes;
          result_->allocate_ns.Record(now - s.started_ns);
        }
        s.stale_retries = 0;
        SendAuthenticated(i, State::kDelete);
        return;
      }
      if (r.error != 0 && r.error != 437) {
        Failed(i, std::to_string(r.error), ErrorHint("Refresh (delete)", r.error, true));
        return;
      }
      s.allocated = false;
      Next(i);
      return;
    case State::kIdle:
      return;
  }
}

void ChurnRunner::CheckTimeouts(uint64_t now) {
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.state == State::kIdle || now < s.deadline_ns) continue;
    if (s.tries < ctx_.options.request_tries) {
      ++s.tries;
      s.deadline_ns = now + ctx_.timeout_ns();
      sendto(s.fd, s.request.data(), s.request_size, 0,
             reinterpret_cast<const sockaddr*>(&ctx_.server_sa), ctx_.server_len);
      continue;
    }
    const char* step = s.state == State::kChallenge  ? "Allocate (unauthenticated)"
                       : s.state == State::kAllocate ? "Allocate"
                                                     : "Refresh (delete)";
    Failed(i, "timeout",
           std::string(step) + ": no answer after " + std::to_string(ctx_.options.request_tries) +
               " tries — is a TURN server listening on " + ctx_.options.server.ToString() +
               "? (cvrelay limits 401 answers per source: unauth-rate=0)");
  }
}

void ChurnRunner::OnReadable(uint32_t index) {
  for (;;) {
    Slot& s = slots_[index];
    if (s.fd < 0) return;
    const int fd = s.fd;
    const size_t n = recv_->Receive(fd);
    for (size_t j = 0; j < n; ++j) {
      // A reply may close this slot's socket (a failure): the rest of the batch is stale.
      if (slots_[index].fd != fd) return;
      OnReply(index, {recv_->data(j), recv_->size(j)});
    }
    if (n < kBatch) return;
  }
}

bool ChurnRunner::Run(ChurnResult* result, std::string* error) {
  const Options& o = ctx_.options;
  result_ = result;
  result->concurrency = o.churn_concurrency;
  result->seconds = o.churn_s;
  running_ = true;
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    StartAttempt(i);
    if (slots_[i].fd < 0) {
      running_ = false;
      *error = "[churn] client socket: " + socket_error_;
      return false;
    }
  }
  const uint64_t start = NowNs();
  window_start_ns_ = start + static_cast<uint64_t>(std::llround(o.churn_warmup_s * 1e9));
  window_end_ns_ = window_start_ns_ + static_cast<uint64_t>(std::llround(o.churn_s * 1e9));
  CpuMeter meter(ctx_);
  bool measuring = false;
  ctx_.progress.Reset();
  for (;;) {
    const uint64_t now = NowNs();
    if (!measuring && now >= window_start_ns_) {
      meter.Start();
      measuring = true;
    }
    if (now >= window_end_ns_ || Interrupted()) break;
    CheckTimeouts(now);
    if (ctx_.progress.Due(now)) {
      const double t = static_cast<double>(now - (measuring ? window_start_ns_ : start)) / 1e9;
      ctx_.progress.PrintRate("churn", measuring, t, measuring ? o.churn_s : o.churn_warmup_s,
                              total_successes_, now, "allocations");
    }
    ctx_.loop.Poll(std::min<uint64_t>(window_end_ns_ - now, ctx_.tick_ns()));
  }
  result->window = meter.Stop();
  // Let every slot finish its cycle (and delete what it allocated), bounded by the timeouts.
  running_ = false;
  const uint64_t limit =
      NowNs() + 4 * uint64_t{o.request_tries} * ctx_.timeout_ns() + 1'000'000'000u;
  for (;;) {
    const uint64_t now = NowNs();
    bool busy = false;
    for (const Slot& s : slots_) busy |= s.state != State::kIdle;
    if (!busy || now >= limit) break;
    CheckTimeouts(now);
    ctx_.loop.Poll(ctx_.tick_ns());
  }
  for (uint32_t i = 0; i < slots_.size(); ++i) CloseSlot(i);
  if (total_successes_ == 0) {
    *error = "[churn] no allocation succeeded: " +
             (first_error_.empty() ? std::string("no attempt completed") : first_error_);
    return false;
  }
  return true;
}

}  // namespace cv::bench
