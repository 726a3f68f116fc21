#include "relay/net/socket.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cv::net {
namespace {

void SetBuffer(int fd, int force_opt, int opt, int bytes) {
  if (bytes <= 0) return;
  // SO_*BUFFORCE passes the rmem_max/wmem_max cap when we are privileged; otherwise the plain
  // option gets what the cap allows.
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) != 0) {
    setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
  }
}

}  // namespace

int OpenUdpSocket(const SocketAddress& bind_to, const UdpSocketOptions& options,
                  std::string* error) {
  const int family = bind_to.ip.is_v4() ? AF_INET : AF_INET6;
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (error) *error = std::string("socket: ") + strerror(errno);
    return -1;
  }
  int one = 1;
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (options.reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  SetBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, options.receive_buffer);
  SetBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, options.send_buffer);
  if (options.dont_fragment) {
    int mode = IP_PMTUDISC_DO;
    if (family == AF_INET) {
      setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &mode, sizeof(mode));
    } else {
      mode = IPV6_PMTUDISC_DO;
      setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &mode, sizeof(mode));
    }
  }
  sockaddr_storage ss;
  socklen_t len = bind_to.ToSockaddr(&ss);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int saved = errno;
    if (error) *error = "bind " + bind_to.ToString() + ": " + strerror(saved);
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

int OpenTcpSocket(const SocketAddress& bind_to, bool reuse_port, int backlog, std::string* error) {
  const int family = bind_to.ip.is_v4() ? AF_INET : AF_INET6;
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    if (error) *error = std::string("socket: ") + strerror(errno);
    return -1;
  }
  int one = 1;
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  // Replies and relayed media are written once per batch: Nagle would only add delay.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_storage ss;
  socklen_t len = bind_to.ToSockaddr(&ss);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      (backlog > 0 && listen(fd, backlog) != 0)) {
    int saved = errno;
    if (error) *error = "bind " + bind_to.ToString() + " (tcp): " + strerror(saved);
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

bool StartConnect(int fd, const SocketAddress& to) {
  sockaddr_storage ss;
  socklen_t len = to.ToSockaddr(&ss);
  return connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 || errno == EINPROGRESS;
}

int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

SocketAddress LocalAddress(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return SocketAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&ss), len)
      .value_or(SocketAddress{});
}

std::vector<IpAddress> InterfaceAddresses() {
  std::vector<IpAddress> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || !(i->ifa_flags & IFF_UP)) continue;
    socklen_t len = i->ifa_addr->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    auto a = SocketAddress::FromSockaddr(i->ifa_addr, len);
    if (!a) continue;
    // Link-local IPv6 needs a scope id to be usable; a relay does not listen there.
    if (a->ip.is_v6() && a->ip.data()[0] == 0xfe && (a->ip.data()[1] & 0xc0) == 0x80) continue;
    bool seen = false;
    for (const auto& o : out) seen = seen || o == a->ip;
    if (!seen) out.push_back(a->ip);
  }
  freeifaddrs(list);
  return out;
}

}  // namespace cv::net
