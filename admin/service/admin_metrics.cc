#include "admin/service/admin_metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace cv::admin {

namespace {

template <typename T>
prometheus::Family<T>& Build(prometheus::Registry& registry, const char* name, const char* help) {
  if constexpr (std::is_same_v<T, prometheus::Counter>) {
    return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
  } else {
    return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
  }
}

std::string S(std::string_view v) { return std::string(v); }

}  // namespace

AdminMetrics::AdminMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(Build<prometheus::Counter>(*registry_, "cvadmin_requests_total",
                                           "HTTP requests by route and status")),
      auth_failures_(Build<prometheus::Counter>(
          *registry_, "cvadmin_auth_failures_total",
          "Refused signed requests and call session tokens by source and reason")),
      call_starts_(Build<prometheus::Counter>(*registry_, "cvadmin_call_starts_total",
                                              "Call start requests by plan and result")),
      turn_credentials_(Build<prometheus::Counter>(*registry_, "cvadmin_turn_credentials_total",
                                                   "TURN credential requests by plan and result")),
      sessions_ended_(Build<prometheus::Counter>(*registry_, "cvadmin_call_sessions_ended_total",
                                                 "Call sessions ended by plan and reason")),
      sessions_live_(Build<prometheus::Gauge>(*registry_, "cvadmin_call_sessions_live",
                                              "Live call sessions by plan")),
      route_reports_(Build<prometheus::Counter>(*registry_, "cvadmin_route_reports_total",
                                                "Route reports by route and network")),
      rate_limited_(Build<prometheus::Counter>(*registry_, "cvadmin_rate_limited_total",
                                               "Requests refused with 429 by scope and endpoint")),
      store_errors_(Build<prometheus::Counter>(*registry_, "cvadmin_store_errors_total",
                                               "Store operations that failed")
                        .Add({})) {
  // The Free refusal and the signature failures read 0 before the first one happens, so a
  // dashboard's rate() has a series to start from.
  for (const char* reason : {"expired", "skew", "replay", "bad_signature", "unknown_key"}) {
    auth_failures_.Add({{"source", "request"}, {"reason", reason}});
    auth_failures_.Add({{"source", "token"}, {"reason", reason}});
  }
}

void AdminMetrics::Request(std::string_view route, int status) {
  requests_.Add({{"route", S(route)}, {"status", std::to_string(status)}}).Increment();
}

void AdminMetrics::AuthFailure(std::string_view source, std::string_view reason) {
  auth_failures_.Add({{"source", S(source)}, {"reason", S(reason)}}).Increment();
  ++auth_failure_counts_[{S(source), S(reason)}];
}

void AdminMetrics::CallStart(std::string_view plan, std::string_view result) {
  call_starts_.Add({{"plan", S(plan)}, {"result", S(result)}}).Increment();
}

void AdminMetrics::TurnCredential(std::string_view plan, std::string_view result) {
  turn_credentials_.Add({{"plan", S(plan)}, {"result", S(result)}}).Increment();
}

void AdminMetrics::SessionEnded(std::string_view plan, std::string_view reason) {
  sessions_ended_.Add({{"plan", S(plan)}, {"reason", S(reason)}}).Increment();
}

void AdminMetrics::SetLiveSessions(std::string_view plan, double count) {
  sessions_live_.Add({{"plan", S(plan)}}).Set(count);
}

void AdminMetrics::RouteReport(std::string_view route, std::string_view network) {
  route_reports_.Add({{"route", S(route)}, {"network", S(network)}}).Increment();
}

void AdminMetrics::RateLimited(std::string_view scope, std::string_view endpoint) {
  rate_limited_.Add({{"scope", S(scope)}, {"endpoint", S(endpoint)}}).Increment();
}

void AdminMetrics::StoreError() { store_errors_.Increment(); }

std::string AdminMetrics::Render() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, registry_->Collect());
  return out.str();
}

}  // namespace cv::admin
