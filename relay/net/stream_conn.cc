#include "relay/net/stream_conn.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>

namespace cv::net {
namespace {

// Free space the receive buffer keeps behind a partial frame: one read's worth, and room for the
// plaintext of a whole TLS record (2^14 bytes, RFC 8446 §5.1).
constexpr size_t kReadChunk = 16 * 1024;
// First allocation of the send buffer (it grows by doubling up to max_tx).
constexpr size_t kInitialTx = 16 * 1024;

size_t RoundUp4(size_t n) { return (n + 3) & ~size_t{3}; }

bool WouldBlock(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

}  // namespace

StreamConn::StreamConn(int fd, SSL* ssl, const StreamLimits& limits)
    : fd_(fd),
      ssl_(ssl),
      limits_{limits.max_message, limits.max_tx, std::max<size_t>(limits.max_read_per_call, 1)},
      rx_capacity_(RoundUp4(limits.max_message) + kReadChunk),
      handshake_done_(ssl == nullptr) {
  if (ssl_ == nullptr) return;
  ERR_clear_error();
  if (SSL_set_fd(ssl_, fd_) != 1) {
    error_ = Status::kTlsFailed;
    ERR_clear_error();
    return;
  }
  SSL_set_accept_state(ssl_);
  // Flush() hands SSL_write the whole pending buffer and keeps what it did not take; the buffer
  // may move (compaction, growth) between a WANT_WRITE and the retry.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Without read-ahead OpenSSL reads one record at a time, so draining what it holds before
  // OnReadable returns is bounded; with it a flooding peer could keep a reader in the loop.
  SSL_set_read_ahead(ssl_, 0);
}

StreamConn::~StreamConn() {
  if (ssl_ != nullptr) {
    if (handshake_done_ && error_ != Status::kClosed && error_ != Status::kTlsFailed) {
      ERR_clear_error();
      SSL_shutdown(ssl_);  // one non-blocking attempt at close_notify
    }
    SSL_free(ssl_);
    ERR_clear_error();
  }
  if (fd_ >= 0) close(fd_);
}

StreamConn::Status StreamConn::Fail(Status status) {
  if (error_ == Status::kOk) error_ = status;
  return error_;
}

size_t StreamConn::TakeBuffered(std::span<uint8_t> out) {
  const std::span<const uint8_t> held = buffered_input();
  const size_t n = std::min(out.size(), held.size());
  if (n == 0) return 0;
  std::memcpy(out.data(), held.data(), n);
  rx_begin_ += n;
  if (rx_begin_ == rx_end_) rx_begin_ = rx_end_ = 0;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Receive

StreamConn::Status StreamConn::Handshake() {
  ERR_clear_error();
  const int r = SSL_accept(ssl_);
  if (r == 1) {
    handshake_done_ = true;
    handshake_wants_write_ = false;
    return Status::kOk;
  }
  const int error = SSL_get_error(ssl_, r);
  handshake_wants_write_ = error == SSL_ERROR_WANT_WRITE;
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return Status::kOk;
  handshake_wants_write_ = false;
  // A client that leaves mid-handshake (EOF, reset) is a closed connection; anything else that
  // OpenSSL refuses (garbage instead of a ClientHello, no common cipher) is a failed handshake.
  const bool peer_left = error == SSL_ERROR_ZERO_RETURN || error == SSL_ERROR_SYSCALL ||
                         (error == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_last_error()) ==
                                                        SSL_R_UNEXPECTED_EOF_WHILE_READING);
  ERR_clear_error();
  return Fail(peer_left ? Status::kClosed : Status::kTlsFailed);
}

StreamConn::Status StreamConn::ReadSome(size_t* budget, bool* more) {
  *more = false;
  if (ssl_ != nullptr && !handshake_done_) {
    const Status status = Handshake();
    if (status != Status::kOk || !handshake_done_) return status;
  }
  // Past the budget, only what OpenSSL already holds is read: epoll will not report it.
  if (*budget == 0 && (ssl_ == nullptr || SSL_has_pending(ssl_) == 0)) return Status::kOk;

  if (!rx_) {
    rx_.reset(new (std::nothrow) uint8_t[rx_capacity_]);
    if (!rx_) return Fail(Status::kOverflow);
    rx_begin_ = rx_end_ = 0;
  }
  // Compact: move the partial frame to the front when the tail has less than a read's worth. A
  // partial frame is shorter than RoundUp4(max_message), so this always leaves kReadChunk free.
  if (rx_begin_ == rx_end_) {
    rx_begin_ = rx_end_ = 0;
  } else if (rx_capacity_ - rx_end_ < kReadChunk && rx_begin_ > 0) {
    std::memmove(rx_.get(), rx_.get() + rx_begin_, rx_end_ - rx_begin_);
    rx_end_ -= rx_begin_;
    rx_begin_ = 0;
  }
  size_t room = rx_capacity_ - rx_end_;
  if (*budget > 0) room = std::min(room, *budget);
  if (room == 0) return Fail(Status::kOverflow);  // unreachable: see above

  size_t n = 0;
  if (ssl_ != nullptr) {
    ERR_clear_error();
    if (SSL_read_ex(ssl_, rx_.get() + rx_end_, room, &n) != 1) {
      const int error = SSL_get_error(ssl_, 0);
      // WANT_WRITE: OpenSSL must send something first (a retry follows the next read event).
      if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return Status::kOk;
      ERR_clear_error();
      return Fail(Status::kClosed);  // close_notify, EOF, reset or a bad record
    }
    rx_end_ += n;
    *budget -= std::min(*budget, n);
    *more = *budget > 0 || SSL_has_pending(ssl_) != 0;
    return Status::kOk;
  }

  ssize_t r;
  do {
    r = read(fd_, rx_.get() + rx_end_, room);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return WouldBlock(errno) ? Status::kOk : Fail(Status::kClosed);
  if (r == 0) return Fail(Status::kClosed);
  n = static_cast<size_t>(r);
  rx_end_ += n;
  *budget -= std::min(*budget, n);
  // A short read drained the socket: stop without another read() that would say EAGAIN. Bytes
  // arriving meanwhile keep the fd readable for the next epoll_wait.
  *more = *budget > 0 && n == room;
  return Status::kOk;
}

// ---------------------------------------------------------------------------------------------
// Send

bool StreamConn::MakeTxRoom(size_t need) {
  const size_t pending = pending_tx();
  if (pending + need <= tx_capacity_) {
    std::memmove(tx_.get(), tx_.get() + tx_begin_, pending);
  } else {
    size_t capacity = std::max(kInitialTx, tx_capacity_ * 2);
    capacity = std::max(std::min(capacity, limits_.max_tx), pending + need);
    std::unique_ptr<uint8_t[]> grown(new (std::nothrow) uint8_t[capacity]);
    if (!grown) return false;
    if (pending > 0) std::memcpy(grown.get(), tx_.get() + tx_begin_, pending);
    tx_ = std::move(grown);
    tx_capacity_ = capacity;
  }
  tx_begin_ = 0;
  tx_end_ = pending;
  return true;
}

bool StreamConn::Append(std::span<const uint8_t> bytes, bool pad) {
  if (error_ != Status::kOk) return false;
  const size_t padding = pad ? StreamPadding(FrameKind::kChannelData, bytes.size()) : 0;
  const size_t need = bytes.size() + padding;
  if (need == 0) return true;
  if (need > limits_.max_tx || pending_tx() > limits_.max_tx - need) return false;
  if (tx_capacity_ - tx_end_ < need && !MakeTxRoom(need)) return false;
  std::memcpy(tx_.get() + tx_end_, bytes.data(), bytes.size());
  std::memset(tx_.get() + tx_end_ + bytes.size(), 0, padding);
  tx_end_ += need;
  return true;
}

StreamConn::Status StreamConn::Flush() {
  if (error_ != Status::kOk) return error_;
  if (ssl_ != nullptr && !handshake_done_) {
    const Status status = Handshake();
    if (status != Status::kOk || !handshake_done_) return status;
  }
  while (tx_end_ > tx_begin_) {
    const uint8_t* data = tx_.get() + tx_begin_;
    const size_t length = tx_end_ - tx_begin_;
    size_t n = 0;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      if (SSL_write_ex(ssl_, data, length, &n) != 1) {
        const int error = SSL_get_error(ssl_, 0);
        if (error == SSL_ERROR_WANT_WRITE || error == SSL_ERROR_WANT_READ) return Status::kOk;
        ERR_clear_error();
        return Fail(Status::kClosed);
      }
    } else {
      const ssize_t r = send(fd_, data, length, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r < 0) {
        if (errno == EINTR) continue;
        return WouldBlock(errno) ? Status::kOk : Fail(Status::kClosed);
      }
      n = static_cast<size_t>(r);
    }
    tx_begin_ += n;
  }
  tx_begin_ = tx_end_ = 0;
  return Status::kOk;
}

bool StreamConn::wants_write() const {
  if (error_ != Status::kOk) return false;
  if (!handshake_done_) return handshake_wants_write_;
  return pending_tx() > 0;
}

// ---------------------------------------------------------------------------------------------
// Memory

void StreamConn::ReleaseIdleBuffers() {
  if (!delivering_ && rx_begin_ == rx_end_) {
    rx_.reset();
    rx_begin_ = rx_end_ = 0;
  }
  if (tx_begin_ == tx_end_) {
    tx_.reset();
    tx_capacity_ = 0;
    tx_begin_ = tx_end_ = 0;
  }
  if (ssl_ != nullptr && handshake_done_ && error_ == Status::kOk) {
    ERR_clear_error();
    SSL_free_buffers(ssl_);  // refuses (0) while it holds unread or unwritten data
    ERR_clear_error();
  }
}

size_t StreamConn::buffer_bytes() const { return (rx_ ? rx_capacity_ : 0) + tx_capacity_; }

}  // namespace cv::net
