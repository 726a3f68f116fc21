#include "tests/bench/cvbench/binding.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cv::bench {
namespace {
constexpr uint32_t kSlotShift = 22;
constexpr uint32_t kGenerationMask = (1u << kSlotShift) - 1;
}  // namespace

BindingRunner::BindingRunner(BenchContext& ctx)
    : ctx_(ctx),
      sockets_(ctx.options.binding_sockets),
      batch_(std::make_unique<SendBatch>()),
      recv_(std::make_unique<RecvBatch>()) {}

BindingRunner::~BindingRunner() {
  for (Socket& s : sockets_) {
    if (s.fd >= 0) {
      ctx_.loop.Remove(s.fd);
      close(s.fd);
    }
  }
  ctx_.loop.Forget(this);
}

void BindingRunner::Queue(uint32_t socket, uint32_t slot, uint64_t now) {
  Outstanding& o = sockets_[socket].window[slot];
  o.generation = (o.generation + 1) & kGenerationMask;
  o.sent_ns = now;
  const auto id = MakeTransactionId(socket, (slot << kSlotShift) | o.generation, ctx_.salt);
  const size_t size =
      BuildBinding({batch_->NextSlot(), kSlotSize}, id, ctx_.options.binding_fingerprint);
  batch_->Add(size, reinterpret_cast<const sockaddr*>(&ctx_.server_sa), ctx_.server_len);
  if (batch_->full()) Flush(socket);
}

void BindingRunner::Flush(uint32_t socket) {
  if (!batch_->empty()) batch_->Flush(sockets_[socket].fd, &refused_);
}

void BindingRunner::OnReadable(uint32_t index) {
  Socket& s = sockets_[index];
  for (;;) {
    const size_t n = recv_->Receive(s.fd);
    if (n == 0) break;
    const uint64_t now = NowNs();
    for (size_t j = 0; j < n; ++j) {
      Reply r;
      if (!ParseReply({recv_->data(j), recv_->size(j)}, &r)) continue;
      if (r.method != stun::Method::kBinding || TransactionOwner(r.id) != index) continue;
      const uint32_t counter = TransactionCounter(r.id);
      const uint32_t slot = counter >> kSlotShift;
      if (slot >= s.window.size() || s.window[slot].generation != (counter & kGenerationMask)) {
        continue;  // an answer to a request already given up
      }
      if (r.id != MakeTransactionId(index, counter, ctx_.salt)) continue;
      if (r.error != 0) {
        ++errors_;
        if (first_error_ == 0) first_error_ = r.error;
      } else {
        ++total_responses_;
        if (InWindow(now)) {
          ++result_->responses;
          result_->rtt_ns.Record(now - s.window[slot].sent_ns);
        }
      }
      Queue(index, slot, now);
    }
    Flush(index);
    if (n < kBatch) break;
  }
}

void BindingRunner::CheckTimeouts(uint64_t now) {
  const uint64_t timeout = ctx_.timeout_ns();
  for (uint32_t i = 0; i < sockets_.size(); ++i) {
    Socket& s = sockets_[i];
    for (uint32_t slot = 0; slot < s.window.size(); ++slot) {
      if (now - s.window[slot].sent_ns < timeout) continue;
      if (InWindow(now)) ++result_->timeouts;
      Queue(i, slot, now);
    }
    Flush(i);
  }
}

bool BindingRunner::Run(BindingResult* result, std::string* error) {
  const Options& o = ctx_.options;
  result_ = result;
  result->sockets = o.binding_sockets;
  result->seconds = o.binding_s;
  result->window_per_socket = o.binding_window;
  result->fingerprint = o.binding_fingerprint;
  for (uint32_t i = 0; i < sockets_.size(); ++i) {
    Socket& s = sockets_[i];
    SocketAddress local;
    std::string err;
    s.fd = OpenUdpSocket(ctx_.client_ip, ctx_.options.client_buffer, &local, &err);
    if (s.fd < 0) {
      *error = "[binding] client socket: " + err;
      return false;
    }
    ctx_.loop.Add(s.fd, this, i);
    s.window.resize(o.binding_window);
  }
  const uint64_t start = NowNs();
  for (uint32_t i = 0; i < sockets_.size(); ++i) {
    for (uint32_t slot = 0; slot < o.binding_window; ++slot) Queue(i, slot, start);
    Flush(i);
  }
  window_start_ns_ = start + static_cast<uint64_t>(std::llround(o.binding_warmup_s * 1e9));
  window_end_ns_ = window_start_ns_ + static_cast<uint64_t>(std::llround(o.binding_s * 1e9));
  CpuMeter meter(ctx_);
  bool measuring = false;
  uint64_t next_check = start + 10'000'000;
  ctx_.progress.Reset();
  for (;;) {
    const uint64_t now = NowNs();
    if (!measuring && now >= window_start_ns_) {
      meter.Start();
      measuring = true;
    }
    if (now >= window_end_ns_ || Interrupted()) break;
    if (now >= next_check) {
      CheckTimeouts(now);
      next_check = now + 10'000'000;
    }
    if (ctx_.progress.Due(now)) {
      const double t = static_cast<double>(now - (measuring ? window_start_ns_ : start)) / 1e9;
      ctx_.progress.PrintRate("binding", measuring, t, measuring ? o.binding_s : o.binding_warmup_s,
                              total_responses_, now, "responses");
    }
    ctx_.loop.Poll(std::min(next_check, window_end_ns_) - now);
  }
  result->window = meter.Stop();
  if (total_responses_ == 0) {
    if (first_error_ != 0) {
      *error = "[binding] " + ErrorHint("Binding", first_error_, false);
    } else {
      *error = "[binding] Binding: no answer — is a STUN server listening on " +
               o.server.ToString() +
               "? (cvrelay limits unauthenticated answers per source: "
               "unauth-rate=0)";
    }
    return false;
  }
  return true;
}

}  // namespace cv::bench
