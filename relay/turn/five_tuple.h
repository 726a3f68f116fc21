// The identity of a client's transport connection to the relay (RFC 8656 §2: the "5-tuple").
#pragma once

#include <cstdint>

#include "relay/common/address.h"

namespace cv::turn {

enum class Transport : uint8_t { kUdp = 0, kTcp = 1, kTls = 2, kDtls = 3 };
const char* TransportName(Transport t);

struct FiveTuple {
  SocketAddress client;
  SocketAddress server;
  Transport transport = Transport::kUdp;
  // The net layer's socket (UDP listener or TCP connection) this tuple arrives on. Opaque to
  // turn/; it lets the net layer answer from the right socket without a lookup.
  uint32_t socket_id = 0;

  friend bool operator==(const FiveTuple&, const FiveTuple&) = default;
};

struct FiveTupleHash {
  size_t operator()(const FiveTuple& t) const {
    return SocketAddressHash{}(t.client) * 31 + SocketAddressHash{}(t.server) +
           static_cast<size_t>(t.transport) + t.socket_id * 0x9E3779B9u;
  }
};

}  // namespace cv::turn
