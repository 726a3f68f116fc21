#include "tests/bench/cvbench/net.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>

namespace cv::bench {
namespace {

void SetBuffer(int fd, int force_option, int option, uint32_t bytes) {
  int v = static_cast<int>(bytes);
  if (setsockopt(fd, SOL_SOCKET, force_option, &v, sizeof(v)) != 0) {
    setsockopt(fd, SOL_SOCKET, option, &v, sizeof(v));
  }
}

}  // namespace

int OpenUdpSocket(const IpAddress& ip, uint32_t buffer_bytes, SocketAddress* bound,
                  std::string* error) {
  const int family = ip.is_v4() ? AF_INET : AF_INET6;
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, buffer_bytes);
  SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, buffer_bytes);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
  sockaddr_storage ss;
  socklen_t len = SocketAddress{ip, 0}.ToSockaddr(&ss);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    *error = "bind " + ip.ToString() + ": " + std::strerror(errno);
    close(fd);
    return -1;
  }
  len = sizeof(ss);
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  auto local = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  if (!local) {
    *error = "getsockname: unreadable address";
    close(fd);
    return -1;
  }
  *bound = *local;
  return fd;
}

std::optional<IpAddress> RouteSourceFor(const SocketAddress& destination) {
  int fd = socket(destination.ip.is_v4() ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_storage ss;
  socklen_t len = destination.ToSockaddr(&ss);
  std::optional<IpAddress> out;
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
    len = sizeof(ss);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      if (auto a = SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len)) out = a->ip;
    }
  }
  close(fd);
  return out;
}

bool RaiseFileLimit(uint64_t needed, std::string* error) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    *error = std::string("getrlimit: ") + std::strerror(errno);
    return false;
  }
  if (lim.rlim_cur >= needed) return true;
  if (lim.rlim_max < needed) {
    rlimit raised{needed, needed};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return true;
    *error = "needs " + std::to_string(needed) + " file descriptors but RLIMIT_NOFILE's hard " +
             "limit is " + std::to_string(lim.rlim_max) + " (raise it: ulimit -Hn, or run as root)";
    return false;
  }
  lim.rlim_cur = needed;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    *error = std::string("setrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
    return false;
  }
  return true;
}

SendBatch::SendBatch() {
  for (size_t i = 0; i < kBatch; ++i) {
    iov_[i].iov_base = slots_[i].data();
    iov_[i].iov_len = 0;
    std::memset(&headers_[i], 0, sizeof(headers_[i]));
    headers_[i].msg_hdr.msg_iov = &iov_[i];
    headers_[i].msg_hdr.msg_iovlen = 1;
    std::memset(slots_[i].data(), 0, kSlotSize);
  }
}

void SendBatch::Add(size_t size, const sockaddr* to, socklen_t to_len) {
  iov_[count_].iov_len = size;
  headers_[count_].msg_hdr.msg_name = const_cast<sockaddr*>(to);
  headers_[count_].msg_hdr.msg_namelen = to_len;
  ++count_;
}

size_t SendBatch::Flush(int fd, uint64_t* refused) {
  size_t sent = 0, i = 0;
  while (i < count_) {
    int n = sendmmsg(fd, headers_.data() + i, static_cast<unsigned>(count_ - i), 0);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      i += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // sendmmsg fails only on its first datagram: EAGAIN (send buffer full), ECONNREFUSED (an
    // ICMP error an earlier datagram earned) or worse. That datagram is lost; go on.
    ++*refused;
    ++i;
  }
  count_ = 0;
  return sent;
}

RecvBatch::RecvBatch() {
  for (size_t i = 0; i < kBatch; ++i) {
    iov_[i].iov_base = slots_[i].data();
    iov_[i].iov_len = kSlotSize;
  }
}

size_t RecvBatch::Receive(int fd) {
  for (size_t i = 0; i < kBatch; ++i) {
    std::memset(&headers_[i], 0, sizeof(headers_[i]));
    headers_[i].msg_hdr.msg_iov = &iov_[i];
    headers_[i].msg_hdr.msg_iovlen = 1;
    headers_[i].msg_hdr.msg_name = &from_[i];
    headers_[i].msg_hdr.msg_namelen = sizeof(from_[i]);
    headers_[i].msg_hdr.msg_control = control_[i].data();
    headers_[i].msg_hdr.msg_controllen = kControlSize;
  }
  drops_.reset();
  int n;
  do {
    n = recvmmsg(fd, headers_.data(), kBatch, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return 0;
  msghdr& last = headers_[static_cast<size_t>(n) - 1].msg_hdr;
  for (cmsghdr* c = CMSG_FIRSTHDR(&last); c != nullptr; c = CMSG_NXTHDR(&last, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
      uint32_t v;
      std::memcpy(&v, CMSG_DATA(c), sizeof(v));
      drops_ = v;
    }
  }
  return static_cast<size_t>(n);
}

EventLoop::EventLoop() { epfd_ = epoll_create1(EPOLL_CLOEXEC); }

EventLoop::~EventLoop() {
  if (epfd_ >= 0) close(epfd_);
}

uint32_t EventLoop::OwnerId(ReadableCallbacks* owner) {
  for (uint32_t i = 0; i < owners_.size(); ++i) {
    if (owners_[i] == owner) return i;
  }
  for (uint32_t i = 0; i < owners_.size(); ++i) {
    if (owners_[i] == nullptr) {
      owners_[i] = owner;
      return i;
    }
  }
  owners_.push_back(owner);
  return static_cast<uint32_t>(owners_.size() - 1);
}

bool EventLoop::Add(int fd, ReadableCallbacks* owner, uint32_t index) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = (uint64_t{OwnerId(owner)} << 32) | index;
  return epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0;
}

void EventLoop::Forget(ReadableCallbacks* owner) {
  for (auto& o : owners_) {
    if (o == owner) o = nullptr;
  }
}

void EventLoop::Remove(int fd) { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

int EventLoop::Poll(uint64_t timeout_ns) {
  epoll_event events[256];
  int n = -1;
  if (have_pwait2_) {
    timespec ts;
    ts.tv_sec = static_cast<time_t>(timeout_ns / 1'000'000'000u);
    ts.tv_nsec = static_cast<long>(timeout_ns % 1'000'000'000u);
    n = epoll_pwait2(epfd_, events, 256, &ts, nullptr);
    if (n < 0 && errno == ENOSYS) have_pwait2_ = false;
  }
  if (!have_pwait2_) {
    n = epoll_wait(epfd_, events, 256, static_cast<int>((timeout_ns + 999'999) / 1'000'000));
  }
  if (n <= 0) return 0;
  for (int i = 0; i < n; ++i) {
    const uint64_t tag = events[i].data.u64;
    const uint32_t owner = static_cast<uint32_t>(tag >> 32);
    if (owner < owners_.size() && owners_[owner] != nullptr)
      owners_[owner]->OnReadable(static_cast<uint32_t>(tag));
  }
  return n;
}

}  // namespace cv::bench
