#include "relay/turn/allocation.h"

#include <algorithm>

namespace cv::turn {

Permission* Allocation::FindPermission(const IpAddress& peer, MonoTime now) {
  for (auto& p : permissions) {
    if (p.peer == peer && p.expires > now) return &p;
  }
  return nullptr;
}

ChannelBinding* Allocation::FindChannel(uint16_t number, MonoTime now) {
  for (auto& c : channels) {
    if (c.number == number && c.expires > now) return &c;
  }
  return nullptr;
}

ChannelBinding* Allocation::FindChannelByPeer(const SocketAddress& peer, MonoTime now) {
  for (auto& c : channels) {
    if (c.peer == peer && c.expires > now) return &c;
  }
  return nullptr;
}

TcpConnection* Allocation::FindTcpConnection(uint32_t id) {
  for (auto& c : tcp_connections) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

TcpConnection* Allocation::FindTcpConnectionByPeer(const SocketAddress& peer) {
  for (auto& c : tcp_connections) {
    if (c.peer == peer) return &c;
  }
  return nullptr;
}

MonoTime Allocation::Sweep(MonoTime now) {
  std::erase_if(permissions, [now](const Permission& p) { return p.expires <= now; });
  std::erase_if(channels, [now](const ChannelBinding& c) { return c.expires <= now; });
  MonoTime next = expires;
  for (const auto& p : permissions) next = std::min(next, p.expires);
  for (const auto& c : channels) next = std::min(next, c.expires);
  for (const auto& c : tcp_connections) {
    if (c.state != TcpConnection::State::kBound) next = std::min(next, c.deadline);
  }
  return next;
}

}  // namespace cv::turn
