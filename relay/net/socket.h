// Socket helpers for the relay: non-blocking UDP sockets, buffer sizing, local addresses.
#pragma once

#include <string>
#include <vector>

#include "relay/common/address.h"

namespace cv::net {

struct UdpSocketOptions {
  bool reuse_port = false;  // SO_REUSEPORT: one listener per worker on the same address
  int receive_buffer = 0;   // bytes; 0 keeps the kernel default
  int send_buffer = 0;
  bool dont_fragment = false;  // IP_PMTUDISC_DO / IPV6_PMTUDISC_DO
};

// Returns the fd, or -1 with `error` set (errno preserved).
int OpenUdpSocket(const SocketAddress& bind_to, const UdpSocketOptions& options,
                  std::string* error);
// A non-blocking TCP socket bound to `bind_to` with SO_REUSEADDR (and SO_REUSEPORT when asked:
// one listener per worker, or an RFC 6062 relay address shared by its listener and its outgoing
// connections). With backlog > 0 it listens; otherwise it is left for connect().
int OpenTcpSocket(const SocketAddress& bind_to, bool reuse_port, int backlog, std::string* error);
// Starts a non-blocking connect; true when it completed or is in progress (EINPROGRESS).
bool StartConnect(int fd, const SocketAddress& to);
// The pending error of a socket (SO_ERROR), 0 when none.
int SocketError(int fd);
// The address a socket is bound to (resolves port 0).
SocketAddress LocalAddress(int fd);
// Addresses of the host's interfaces that are up: IPv4 and global/ULA IPv6, loopback included.
std::vector<IpAddress> InterfaceAddresses();

}  // namespace cv::net
