// cvadmin's Prometheus metrics (names and labels: docs/cvadmin.md "Metrics"). Counters live in a
// prometheus-cpp registry; label values come from fixed sets (plans, codes, reasons, route names),
// never from user input, so the series count stays bounded.
//
// Threading: cvadmin updates and renders them on its event loop thread; prometheus-cpp counters
// are atomic, so reading from another thread is also safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace cv::admin {

class AdminMetrics {
 public:
  AdminMetrics();

  // route: a route template ("POST /v1/call-sessions"), status: the HTTP status.
  void Request(std::string_view route, int status);
  // source: "request" (signed requests) or "token" (call session tokens); reason: expired, skew,
  // replay, bad_signature, unknown_key, malformed, …
  void AuthFailure(std::string_view source, std::string_view reason);
  // result: "started" or the refusal code in lower case.
  void CallStart(std::string_view plan, std::string_view result);
  // result: "issued" or the refusal code in lower case.
  void TurnCredential(std::string_view plan, std::string_view result);
  void SessionEnded(std::string_view plan, std::string_view reason);
  void SetLiveSessions(std::string_view plan, double count);
  void RouteReport(std::string_view route, std::string_view network);
  // scope: "ip" or "user"; endpoint: the rate-limit class.
  void RateLimited(std::string_view scope, std::string_view endpoint);
  void StoreError();

  std::string Render() const;  // Prometheus text format 0.0.4

  // Failures counted by AuthFailure since start, by (source, reason) (token health report).
  const std::map<std::pair<std::string, std::string>, uint64_t>& AuthFailures() const {
    return auth_failure_counts_;
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& auth_failures_;
  prometheus::Family<prometheus::Counter>& call_starts_;
  prometheus::Family<prometheus::Counter>& turn_credentials_;
  prometheus::Family<prometheus::Counter>& sessions_ended_;
  prometheus::Family<prometheus::Gauge>& sessions_live_;
  prometheus::Family<prometheus::Counter>& route_reports_;
  prometheus::Family<prometheus::Counter>& rate_limited_;
  prometheus::Counter& store_errors_;
  std::map<std::pair<std::string, std::string>, uint64_t> auth_failure_counts_;
};

}  // namespace cv::admin
