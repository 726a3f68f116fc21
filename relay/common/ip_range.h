// An inclusive range of IP addresses of one family, written as coturn writes them:
// "10.0.0.1" (one address), "10.0.0.0-10.255.255.255" (range), or "10.0.0.0/8" (CIDR).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "relay/common/address.h"

namespace cv {

struct IpRange {
  IpAddress first;
  IpAddress last;

  static std::optional<IpRange> Parse(std::string_view text);
  static IpRange Single(const IpAddress& a) { return {a, a}; }
  // Both ends must be of one family and first <= last; Parse() guarantees it.
  bool Contains(const IpAddress& a) const;
  std::string ToString() const;
};

}  // namespace cv
