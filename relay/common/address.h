// IP and transport addresses shared by every layer. Plain values: no allocation, cheap to copy,
// usable as hash keys. Bytes are kept in network order.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace cv {

enum class Family : uint8_t { kV4 = 4, kV6 = 6 };

class IpAddress {
 public:
  IpAddress() = default;  // 0.0.0.0

  static IpAddress V4(uint32_t host_order);
  static IpAddress V4FromBytes(const uint8_t* network_order4);
  static IpAddress V6FromBytes(const uint8_t* network_order16);
  // Accepts dotted quad or any RFC 4291 text form (including "::ffff:1.2.3.4").
  static std::optional<IpAddress> Parse(std::string_view text);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::kV4; }
  bool is_v6() const { return family_ == Family::kV6; }
  // The IPv4 address in host order; only meaningful when is_v4().
  uint32_t v4() const;
  // 4 (IPv4) or 16 (IPv6) bytes in network order.
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return is_v4() ? 4 : 16; }
  bool IsUnspecified() const;
  bool IsLoopback() const;  // 127.0.0.0/8 or ::1

  std::string ToString() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  std::array<uint8_t, 16> bytes_{};
  Family family_ = Family::kV4;
};

struct SocketAddress {
  IpAddress ip;
  uint16_t port = 0;

  static std::optional<SocketAddress> FromSockaddr(const sockaddr* sa, socklen_t len);
  // "1.2.3.4:5", "[::1]:5"; a bare address gets `default_port`.
  static std::optional<SocketAddress> Parse(std::string_view text, uint16_t default_port = 0);
  socklen_t ToSockaddr(sockaddr_storage* out) const;
  std::string ToString() const;

  friend bool operator==(const SocketAddress&, const SocketAddress&) = default;
  friend auto operator<=>(const SocketAddress&, const SocketAddress&) = default;
};

size_t HashBytes(const void* data, size_t len, size_t seed = 0);

struct IpAddressHash {
  size_t operator()(const IpAddress& a) const { return HashBytes(a.data(), a.size(), a.size()); }
};
struct SocketAddressHash {
  size_t operator()(const SocketAddress& a) const {
    return HashBytes(a.ip.data(), a.ip.size(), a.port);
  }
};

}  // namespace cv
