// One TURN client connection over a byte stream: plain TCP or TLS over TCP (RFC 8656 §3.1, §11),
// and RFC 6062 data connections once bound (raw mode). Non-blocking; made for a level-triggered
// epoll loop: OnReadable() when the fd is readable, Flush() once per batch when wants_write().
//
// Threading and ownership: a StreamConn owns its fd and its SSL, and is used by one worker thread
// at a time. It keeps no thread-local state between calls (the OpenSSL error queue is cleared
// before every SSL call), so it may be handed to another worker between two events.
//
// Memory: the receive buffer (RoundUp4(max_message) + 16 KiB) and the send buffer (grows up to
// max_tx) are allocated on first use and kept while the connection is busy, so the steady state
// allocates nothing per message; ReleaseIdleBuffers() frees the empty ones (and OpenSSL's).
#pragma once

#include <openssl/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "relay/net/stream_framer.h"

namespace cv::net {

struct StreamLimits {
  size_t max_message = 4096 + 4;         // largest frame accepted (ChannelData header + 4096)
  size_t max_tx = 256 * 1024;            // bytes waiting to be written before Append refuses
  size_t max_read_per_call = 64 * 1024;  // fairness: OnReadable returns after this many bytes
};

class StreamConn {
 public:
  // kClosed: the peer closed (EOF, close_notify, reset) or a socket/TLS error after the handshake.
  // kTooLarge, kInvalid: framing errors (see NextFrame). kTlsFailed: the TLS handshake failed.
  // kOverflow: a buffer could not be allocated. Every status but kOk is final: the connection
  // should be closed, and later calls return the same status.
  enum class Status : uint8_t { kOk, kClosed, kTooLarge, kInvalid, kTlsFailed, kOverflow };

  // Takes ownership of `fd` (non-blocking, connected) and of `ssl` (null for plain TCP). With an
  // SSL, calls SSL_set_fd and SSL_set_accept_state, enables partial writes and moving write
  // buffers, and turns read-ahead off (so that what OpenSSL holds is at most one record, which
  // OnReadable drains before it returns).
  StreamConn(int fd, SSL* ssl, const StreamLimits& limits);
  ~StreamConn();  // sends close_notify if the TLS session is intact, frees ssl, closes fd
  StreamConn(const StreamConn&) = delete;
  StreamConn& operator=(const StreamConn&) = delete;

  int fd() const { return fd_; }
  bool tls() const { return ssl_ != nullptr; }
  bool handshake_done() const { return handshake_done_; }  // always true for plain TCP

  // Raw mode (RFC 6062 data connection after ConnectionBind): no framing; every byte read is
  // delivered as is, and Append() sends bytes as is. Bytes already buffered but not yet framed
  // when raw mode starts are delivered first by the next OnReadable (or taken by TakeBuffered()).
  // Called from on_message, OnReadable returns right after that message: the caller (maybe on
  // another worker after a handoff) must call OnReadable again itself, since epoll will not
  // report bytes this object or OpenSSL already hold.
  void SetRaw() { raw_ = true; }
  bool raw() const { return raw_; }
  // Unframed bytes held (for a handoff).
  std::span<const uint8_t> buffered_input() const {
    if (!rx_) return {};
    return {rx_.get() + rx_begin_, rx_end_ - rx_begin_};
  }
  // Moves up to out.size() bytes of buffered_input() into `out`; returns how many.
  size_t TakeBuffered(std::span<uint8_t> out);

  // Reads as much as the socket has (bounded by max_read_per_call, then what OpenSSL holds),
  // advances the TLS handshake if pending, and calls on_message(std::span<const uint8_t>) for
  // every complete message (without padding), or with the bytes as read in raw mode. on_message
  // may call Append, Flush, SetRaw and TakeBuffered on this conn; it must not destroy it.
  // Returns the error status on a protocol error (messages before it are delivered), kClosed on
  // EOF/ECONNRESET, kOk otherwise (including EAGAIN and a handshake still in progress).
  template <typename F>
  Status OnReadable(F&& on_message);

  // Queues bytes to send; with pad=true adds the stream padding of a ChannelData message (pass
  // pad=true for ChannelData, false for STUN and raw). Writes nothing: Flush() does. Returns false
  // and queues nothing if max_tx would be exceeded (or the connection has failed).
  bool Append(std::span<const uint8_t> bytes, bool pad);
  // write()/SSL_write as much as the socket takes (advancing a pending TLS handshake first).
  // kOk even if data remains (wants_write()).
  Status Flush();
  // Data pending once the handshake is done, or TLS wants to write during the handshake.
  bool wants_write() const;
  size_t pending_tx() const { return tx_end_ - tx_begin_; }

  // Frees the receive and send buffers if they are empty, and OpenSSL's buffers if it holds
  // nothing (for idle connections: 1,000 idle connections then hold ~no buffer memory).
  void ReleaseIdleBuffers();
  // Bytes of receive and send buffer currently allocated by this object (not OpenSSL's).
  size_t buffer_bytes() const;

 private:
  // One read into the receive buffer (after advancing the handshake if pending). Sets *more to
  // false when this OnReadable call should stop reading (EAGAIN, short read, budget spent).
  Status ReadSome(size_t* budget, bool* more);
  Status Handshake();
  Status Fail(Status status);
  bool MakeTxRoom(size_t need);

  int fd_;
  SSL* ssl_;
  const StreamLimits limits_;
  const size_t rx_capacity_;
  bool handshake_done_;
  bool handshake_wants_write_ = false;
  bool raw_ = false;
  bool delivering_ = false;  // inside on_message: the receive buffer must stay
  Status error_ = Status::kOk;

  std::unique_ptr<uint8_t[]> rx_;  // rx_capacity_ bytes once allocated
  size_t rx_begin_ = 0;
  size_t rx_end_ = 0;
  std::unique_ptr<uint8_t[]> tx_;
  size_t tx_capacity_ = 0;
  size_t tx_begin_ = 0;
  size_t tx_end_ = 0;
};

template <typename F>
StreamConn::Status StreamConn::OnReadable(F&& on_message) {
  if (error_ != Status::kOk) return error_;
  size_t budget = limits_.max_read_per_call;
  bool more = true;
  for (;;) {
    // Deliver what the buffer holds, then read more.
    if (raw_) {
      if (rx_end_ > rx_begin_) {
        const std::span<const uint8_t> bytes = buffered_input();
        rx_begin_ = rx_end_ = 0;
        delivering_ = true;
        on_message(bytes);
        delivering_ = false;
      }
    } else {
      for (;;) {
        const Frame frame = NextFrame(buffered_input(), limits_.max_message);
        if (frame.status == Frame::Status::kNeedMore) break;
        if (frame.status == Frame::Status::kTooLarge) return Fail(Status::kTooLarge);
        if (frame.status == Frame::Status::kInvalid) return Fail(Status::kInvalid);
        const std::span<const uint8_t> message(rx_.get() + rx_begin_, frame.length);
        rx_begin_ += frame.consumed;
        delivering_ = true;
        on_message(message);
        delivering_ = false;
        if (raw_) return Status::kOk;  // the rest is raw data for whoever takes the connection
      }
      if (rx_begin_ == rx_end_) rx_begin_ = rx_end_ = 0;
    }
    if (!more) return Status::kOk;
    const Status status = ReadSome(&budget, &more);
    if (status != Status::kOk) return status;
  }
}

}  // namespace cv::net
