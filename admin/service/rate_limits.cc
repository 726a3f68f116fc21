#include "admin/service/rate_limits.h"

#include <chrono>

namespace cv::admin {

namespace {

constexpr const char* kEndpointNames[kEndpointCount] = {"call_start", "event", "credential",
                                                        "contact", "public"};

std::unique_ptr<RateTable> Table(uint32_t per_minute, size_t slots) {
  const double per_second = per_minute / 60.0;  // 0 → unlimited
  return std::make_unique<RateTable>(per_second, per_minute == 0 ? 1 : per_minute, slots);
}

}  // namespace

const char* EndpointName(Endpoint endpoint) {
  return kEndpointNames[static_cast<size_t>(endpoint)];
}

std::optional<Endpoint> ParseEndpoint(std::string_view name) {
  for (size_t i = 0; i < kEndpointCount; ++i) {
    if (name == kEndpointNames[i]) return static_cast<Endpoint>(i);
  }
  return std::nullopt;
}

RateLimits::RateLimits(const RateLimitOptions& options, const Clock& clock)
    : clock_(clock), key_(/*ipv6_prefix_bits=*/64, /*seed=*/0) {
  for (size_t i = 0; i < kEndpointCount; ++i) {
    ip_[i] = Table(options.per_ip[i], options.slots);
    user_[i] = Table(options.per_user[i], options.slots);
  }
}

int64_t RateLimits::Check(RateTable& table, uint64_t key) {
  const MonoTime now = clock_.Now();
  if (table.Allow(key, now)) return 0;
  const auto wait = std::chrono::ceil<std::chrono::seconds>(table.RetryAfter(key, now)).count();
  return wait < 1 ? 1 : wait;
}

int64_t RateLimits::CheckIp(Endpoint endpoint, const IpAddress& ip) {
  return Check(*ip_[static_cast<size_t>(endpoint)], key_(ip));
}

int64_t RateLimits::CheckUser(Endpoint endpoint, std::string_view user) {
  return Check(*user_[static_cast<size_t>(endpoint)], key_(user));
}

}  // namespace cv::admin
