// Per-IP and per-user request limits for cvadmin's client endpoints: one GCRA table
// (relay/common/rate_limiter.h) per endpoint class and scope. A limit of N per minute allows a
// burst of N, then one every 60/N seconds. The IP key is the address only (a new source port
// changes nothing) and an IPv6 client counts as its /64. The per-IP check runs before any
// signature is verified, the per-user check right after.
//
// Threading: cvadmin's event loop thread only.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "relay/common/address.h"
#include "relay/common/clock.h"
#include "relay/common/rate_limiter.h"

namespace cv::admin {

enum class Endpoint : uint8_t { kCallStart, kEvent, kCredential, kContact, kPublic };
inline constexpr size_t kEndpointCount = 5;
// "call_start", "event", "credential", "contact", "public" (config keys and metric labels).
const char* EndpointName(Endpoint endpoint);
std::optional<Endpoint> ParseEndpoint(std::string_view name);

struct RateLimitOptions {
  // Requests per minute; 0 = no limit. Index: Endpoint. kPublic has no per-user limit.
  std::array<uint32_t, kEndpointCount> per_ip = {30, 600, 30, 60, 300};
  std::array<uint32_t, kEndpointCount> per_user = {10, 120, 10, 30, 0};
  size_t slots = 16384;  // entries per table (flat memory under a flood)
};

class RateLimits {
 public:
  RateLimits(const RateLimitOptions& options, const Clock& clock);

  // 0 when the request may go on (and counts it); otherwise whole seconds until it would be
  // allowed (at least 1), for Retry-After.
  int64_t CheckIp(Endpoint endpoint, const IpAddress& ip);
  int64_t CheckUser(Endpoint endpoint, std::string_view user);

 private:
  int64_t Check(RateTable& table, uint64_t key);

  const Clock& clock_;
  SourceKey key_;
  std::array<std::unique_ptr<RateTable>, kEndpointCount> ip_;
  std::array<std::unique_ptr<RateTable>, kEndpointCount> user_;
};

}  // namespace cv::admin
