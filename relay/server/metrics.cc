#include "relay/server/metrics.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <sstream>
#include <string_view>

namespace cv::server {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;
using turn::Counter;

// One label value and the per-worker counter summed into it.
struct LabelledCounter {
  const char* value;
  Counter counter;
};

// Why allocations ended. Every reason is always emitted, 0 included, so dashboards have the series.
constexpr LabelledCounter kEndedReasons[] = {
    {"client", Counter::kAllocationsDeleted},
    {"lifetime", Counter::kAllocationsExpired},
    {"duration_cap", Counter::kEndedDurationCap},
    {"quota", Counter::kEndedQuota},
    {"revoked", Counter::kEndedRevoked},
    {"operator", Counter::kEndedByOperator},
    {"shutdown", Counter::kEndedShutdown},
    {"connection_closed", Counter::kEndedConnectionClosed},
};

constexpr LabelledCounter kRefusedReasons[] = {
    {"user_quota", Counter::kQuotaUser},
    {"session_quota", Counter::kQuotaSession},
    {"total_quota", Counter::kQuotaTotal},
    {"monthly_relay_minutes", Counter::kQuotaMonthly},
    {"rate_limited_source", Counter::kRateLimitedSource},
    {"rate_limited_user", Counter::kRateLimitedUser},
    {"no_relay_port", Counter::kNoRelayPort},
    {"draining", Counter::kRefusedDraining},
};

constexpr LabelledCounter kAuthResults[] = {
    {"ok", Counter::kAuthOk},
    {"challenge", Counter::kChallenges},
    {"unknown_user", Counter::kAuthUnknownUser},
    {"expired", Counter::kAuthExpired},
    {"malformed", Counter::kAuthMalformed},
    {"unknown_key", Counter::kAuthUnknownKey},
    {"bad_integrity", Counter::kAuthBadIntegrity},
    {"stale_nonce", Counter::kAuthStaleNonce},
    {"forged_nonce", Counter::kAuthForgedNonce},
    {"plan_may_not_relay", Counter::kAuthPlanRefused},
    {"claimless_refused", Counter::kAuthClaimlessRefused},
    {"forbidden", Counter::kAuthForbidden},
    {"revoked", Counter::kAuthRevoked},
    {"banned_source", Counter::kAuthBannedSource},
    {"banned_user", Counter::kAuthBannedUser},
    {"wrong_credentials", Counter::kWrongCredentials},
};

constexpr LabelledCounter kRateLimitScopes[] = {
    {"source", Counter::kRateLimitedSource},
    {"user", Counter::kRateLimitedUser},
    {"unauthenticated", Counter::kDropRateLimited},
};

constexpr LabelledCounter kRequestMethods[] = {
    {"binding", Counter::kBindingRequests},
    {"allocate", Counter::kAllocateRequests},
    {"refresh", Counter::kRefreshRequests},
    {"create_permission", Counter::kPermissionRequests},
    {"channel_bind", Counter::kChannelBindRequests},
    {"send_indication", Counter::kSendIndications},
    {"connect", Counter::kTcpConnectRequests},
};

// TURN over TCP, TLS and DTLS connections, and RFC 6062 peer connections.
constexpr LabelledCounter kStreamEvents[] = {
    {"accepted", Counter::kStreamAccepted},
    {"refused_unauth_cap", Counter::kStreamRefusedCap},
    {"handshake_timeout", Counter::kStreamHandshakeTimeouts},
    {"auth_timeout", Counter::kStreamAuthTimeouts},
    {"frame_too_large", Counter::kStreamTooLarge},
    {"invalid_frame", Counter::kStreamInvalid},
    {"tls_handshake_failed", Counter::kStreamTlsFailed},
    {"send_overflow", Counter::kStreamOverflow},
    {"dtls_established", Counter::kDtlsSessions},
    {"tcp_connect_failed", Counter::kTcpConnectFailed},
    {"tcp_peer_accepted", Counter::kTcpPeerAccepted},
    {"tcp_peer_refused", Counter::kTcpPeerRefused},
    {"tcp_bind_timeout", Counter::kTcpBindTimeouts},
    {"connection_bind_ok", Counter::kConnectionBindOk},
    {"connection_bind_failed", Counter::kConnectionBindFailed},
};

// Every counter with its name, from the X-macro: each "drop_*" counter becomes a reason of
// cvrelay_dropped_packets_total, so a new drop reason shows up without a change here.
struct NamedCounter {
  std::string_view name;
  Counter counter;
};
constexpr NamedCounter kAllCounters[] = {
#define CV_METRICS_COUNTER(id, name) {name, Counter::id},
    CV_TURN_COUNTERS(CV_METRICS_COUNTER)
#undef CV_METRICS_COUNTER
};
constexpr std::string_view kDropPrefix = "drop_";

// Builds the families in order. prometheus-cpp's serializer writes labels in the order given and
// escapes label values, but not HELP text: help strings here hold no backslash or newline.
class Exposition {
 public:
  // Starts a family; samples added with Add() go to it until the next Family() call.
  void Family(std::string name, std::string help, MetricType type) {
    MetricFamily& family = families_.emplace_back();
    family.name = std::move(name);
    family.help = std::move(help);
    family.type = type;
  }

  void Add(double value, Labels labels = {}) {
    MetricFamily& family = families_.back();
    ClientMetric& metric = family.metric.emplace_back();
    // Sorted by name, as the Prometheus client libraries (and prometheus-cpp's Registry) do.
    std::sort(labels.begin(), labels.end());
    metric.label = std::move(labels);
    if (family.type == MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
  }

  // A counter family with one sample per table row, the value summed over the workers.
  template <size_t N>
  void CounterTable(std::string name, std::string help, const std::string& label,
                    const LabelledCounter (&rows)[N], const RelayMetrics& m) {
    Family(std::move(name), std::move(help), MetricType::Counter);
    for (const LabelledCounter& row : rows) {
      Add(static_cast<double>(m.Sum(row.counter)), {{label, row.value}});
    }
  }

  std::string Serialize() const {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, families_);
    return out.str();
  }

 private:
  std::vector<MetricFamily> families_;
};

double AsDouble(uint64_t v) { return static_cast<double>(v); }

void AddBuildAndAllocations(const RelayMetrics& m, Exposition& e) {
  e.Family("cvrelay_build_info", "Version of the running cvrelay; always 1.", MetricType::Gauge);
  e.Add(1, {{"version", m.version}});

  e.Family("cvrelay_uptime_seconds", "Seconds since this cvrelay process started.",
           MetricType::Gauge);
  e.Add(static_cast<double>(m.uptime_s));

  e.Family("cvrelay_allocations", "Live TURN allocations, by plan and client transport.",
           MetricType::Gauge);
  for (const auto& [key, count] : m.live) {
    e.Add(AsDouble(count), {{"plan", key.first}, {"transport", key.second}});
  }

  e.Family("cvrelay_allocation_capacity",
           "Most allocations the relay can hold at once: total-quota if set, else the size of "
           "the relay port range.",
           MetricType::Gauge);
  e.Add(AsDouble(m.allocation_capacity));

  e.Family("cvrelay_allocations_created_total",
           "TURN allocations created since start, by plan and client transport.",
           MetricType::Counter);
  for (const auto& [key, count] : m.created) {
    e.Add(AsDouble(count), {{"plan", key.first}, {"transport", key.second}});
  }

  e.CounterTable("cvrelay_allocations_ended_total",
                 "TURN allocations that ended, by why: client (Refresh with lifetime 0), lifetime "
                 "(not refreshed), duration_cap, quota (monthly relay minutes used up), revoked, "
                 "operator, shutdown.",
                 "reason", kEndedReasons, m);

  e.CounterTable("cvrelay_allocations_refused_total",
                 "Allocate requests refused after authentication, by reason (quotas, rate limits, "
                 "no free relay port, draining).",
                 "reason", kRefusedReasons, m);
}

void AddTraffic(const RelayMetrics& m, Exposition& e) {
  e.Family("cvrelay_relayed_bytes_total",
           "Payload bytes relayed, by plan and direction (to_peer: from the client to its peers; "
           "to_client: from peers to the client).",
           MetricType::Counter);
  for (const auto& [plan, t] : m.traffic) {
    e.Add(AsDouble(t.bytes_to_peer), {{"plan", plan}, {"direction", "to_peer"}});
    e.Add(AsDouble(t.bytes_to_client), {{"plan", plan}, {"direction", "to_client"}});
  }

  e.Family("cvrelay_relayed_packets_total", "Packets relayed, by plan and direction.",
           MetricType::Counter);
  for (const auto& [plan, t] : m.traffic) {
    e.Add(AsDouble(t.packets_to_peer), {{"plan", plan}, {"direction", "to_peer"}});
    e.Add(AsDouble(t.packets_to_client), {{"plan", plan}, {"direction", "to_client"}});
  }

  e.Family("cvrelay_relayed_seconds_total",
           "Relay time by plan: seconds during which an allocation relayed packets either way, "
           "summed over allocations (divide by 60 for relay minutes).",
           MetricType::Counter);
  for (const auto& [plan, t] : m.traffic) {
    e.Add(static_cast<double>(t.relayed_ms) / 1000.0, {{"plan", plan}});
  }
}

void AddRequestsAndAuth(const RelayMetrics& m, Exposition& e) {
  e.CounterTable(
      "cvrelay_auth_results_total",
      "Outcomes of STUN/TURN authentication: ok, challenge (401 with a nonce, the normal "
      "first answer), or the reason a request was refused (plan_may_not_relay is a Free "
      "or unknown plan asking for a relay).",
      "result", kAuthResults, m);

  e.Family("cvrelay_auth_bans_total",
           "Temporary bans imposed on a source address or user after repeated failed "
           "authentication.",
           MetricType::Counter);
  e.Add(AsDouble(m.Sum(Counter::kAuthBansImposed)));

  e.CounterTable("cvrelay_rate_limited_requests_total",
                 "Requests refused or dropped by a rate limit, by scope: Allocate per source "
                 "address, Allocate per user, unauthenticated requests per source.",
                 "scope", kRateLimitScopes, m);

  e.Family("cvrelay_dropped_packets_total", "Packets dropped without an answer, by reason.",
           MetricType::Counter);
  for (const NamedCounter& c : kAllCounters) {
    if (!c.name.starts_with(kDropPrefix)) continue;
    e.Add(AsDouble(m.Sum(c.counter)), {{"reason", std::string(c.name.substr(kDropPrefix.size()))}});
  }

  e.CounterTable("cvrelay_requests_total",
                 "STUN/TURN requests received, by method (send_indication counts Send "
                 "indications).",
                 "method", kRequestMethods, m);

  e.CounterTable("cvrelay_stream_events_total",
                 "TCP, TLS and DTLS client connections and RFC 6062 peer connections, by event.",
                 "event", kStreamEvents, m);

  e.Family("cvrelay_stun_binding_requests_total", "STUN Binding requests received.",
           MetricType::Counter);
  e.Add(AsDouble(m.Sum(Counter::kBindingRequests)));

  e.Family("cvrelay_retransmissions_total",
           "Retransmitted requests answered from the transaction cache.", MetricType::Counter);
  e.Add(AsDouble(m.Sum(Counter::kRetransmissions)));

  e.Family("cvrelay_error_responses_total", "STUN/TURN error responses sent.", MetricType::Counter);
  e.Add(AsDouble(m.Sum(Counter::kErrorResponses)));

  e.Family("cvrelay_peer_denied_total",
           "Requests refused with 403 because the peer address is not allowed by the peer "
           "policy.",
           MetricType::Counter);
  e.Add(AsDouble(m.Sum(Counter::kPeerDenied)));
}

void AddWorkers(const RelayMetrics& m, Exposition& e) {
  e.Family("cvrelay_worker_allocations", "Live TURN allocations on each worker thread.",
           MetricType::Gauge);
  for (const WorkerMetrics& w : m.workers) {
    e.Add(AsDouble(w.allocations), {{"worker", std::to_string(w.id)}});
  }

  e.Family("cvrelay_worker_relayed_packets_total",
           "Packets relayed by each worker thread, by direction.", MetricType::Counter);
  for (const WorkerMetrics& w : m.workers) {
    const std::string id = std::to_string(w.id);
    e.Add(AsDouble(w.Get(Counter::kClientToPeerPackets)),
          {{"worker", id}, {"direction", "to_peer"}});
    e.Add(AsDouble(w.Get(Counter::kPeerToClientPackets)),
          {{"worker", id}, {"direction", "to_client"}});
  }

  e.Family("cvrelay_worker_requests_total",
           "STUN/TURN requests and Send indications handled by each worker thread.",
           MetricType::Counter);
  for (const WorkerMetrics& w : m.workers) {
    uint64_t requests = 0;
    for (const LabelledCounter& row : kRequestMethods) requests += w.Get(row.counter);
    e.Add(AsDouble(requests), {{"worker", std::to_string(w.id)}});
  }
}

void AddLedger(const LedgerMetrics& l, Exposition& e) {
  e.Family("cvrelay_ledger_queued_records",
           "Usage records waiting for the ledger writer to commit them.", MetricType::Gauge);
  e.Add(AsDouble(l.queued));

  e.Family("cvrelay_ledger_records_written_total", "Usage records committed to the ledger.",
           MetricType::Counter);
  e.Add(AsDouble(l.records_written));

  e.Family("cvrelay_ledger_commits_total", "Ledger commits that succeeded.", MetricType::Counter);
  e.Add(AsDouble(l.commits));

  e.Family("cvrelay_ledger_write_errors_total",
           "Ledger commits that failed (their records are retried).", MetricType::Counter);
  e.Add(AsDouble(l.write_errors));

  e.Family("cvrelay_ledger_last_commit_duration_seconds", "How long the latest ledger commit took.",
           MetricType::Gauge);
  e.Add(l.last_commit_seconds);

  e.Family("cvrelay_ledger_last_commit_timestamp_seconds",
           "Unix time when the latest ledger commit finished; 0 if none yet.", MetricType::Gauge);
  e.Add(static_cast<double>(l.last_commit_unix_ms) / 1000.0);

  e.Family("cvrelay_abuse_guards_active",
           "Users currently under the relay-abuse guard (their allocations get the capped "
           "duration).",
           MetricType::Gauge);
  e.Add(AsDouble(l.guards_active));

  e.Family("cvrelay_monthly_quota_exhausted_users",
           "Users whose monthly relay minutes are used up this UTC month.", MetricType::Gauge);
  e.Add(AsDouble(l.quota_exhausted_users));
}

void AddTopUsers(const RelayMetrics& m, Exposition& e) {
  e.Family("cvrelay_top_user_relayed_seconds",
           "Relay seconds this UTC month of the users who relayed the most (opt-in with "
           "prometheus-username-labels, at most prometheus-top-users series).",
           MetricType::Gauge);
  for (const auto& [user, ms] : m.top_users) {
    e.Add(static_cast<double>(ms) / 1000.0, {{"user", user}});
  }
}

}  // namespace

std::string RenderPrometheus(const RelayMetrics& metrics) {
  Exposition e;
  AddBuildAndAllocations(metrics, e);
  AddTraffic(metrics, e);
  AddRequestsAndAuth(metrics, e);
  AddWorkers(metrics, e);
  if (metrics.ledger.enabled) AddLedger(metrics.ledger, e);
  if (!metrics.top_users.empty()) AddTopUsers(metrics, e);
  return e.Serialize();
}

}  // namespace cv::server
