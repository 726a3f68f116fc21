// cvrelay's control endpoint: a small HTTP/1.1 JSON API on its own listener (127.0.0.1:9641 by
// default), for operators and cvadmin. Every request needs "Authorization: Bearer <token>"; the
// token is compared in constant time. Errors are RFC 9457 problem+json with a stable "code".
//
//   GET    /v1/health                    200 {"status":"ok","uptime_s":…,"workers":…}
//   GET    /v1/ready                     200 {"ready":true} | 503
//   {"ready":false,"reason":"draining"} GET    /v1/allocations[?user=&session=]
//                                        200 {"allocations":[AllocationInfo…],"count":n}
//   DELETE /v1/allocations/{id}          204 | 404 NOT_FOUND
//   GET    /v1/revocations               200 {"revocations":[{"kind","id","until"}…]}
//   POST   /v1/revocations               body {"user":"…"} or {"session":"…"}, optional "ttl_s"
//                                        (1..2592000, default 86400) → 201 {"kind","id","until",
//                                        "ended_allocations":n}
//   DELETE /v1/revocations/{user|session}/{id}
//                                        204 | 404 NOT_FOUND
//   GET    /v1/usage/users/{id}          200 the user's day, month and rolling 24 h relay usage,
//                                        abuse guard and effective relay limits
//   GET    /v1/usage/sessions/{id}       200 one call session's totals
//   GET    /v1/usage/records[?user=&session=&live=1&limit=]
//                                        200 {"records":[…],"count":n} (ledger records)
//   GET    /metrics                      200 Prometheus text (when metrics are enabled)
// The usage routes answer 503 LEDGER_OFF when the relay runs with no-usage-ledger.
// A metrics-only listener (prometheus-port apart from admin-port, or no admin token) serves
// /metrics alone; without a token it asks for none.
// Anything else: 404 NOT_FOUND, 405 METHOD_NOT_ALLOWED (with Allow), 401 UNAUTHORIZED (with
// WWW-Authenticate: Bearer), 400 BAD_REQUEST (bad JSON, bad field), 413 PAYLOAD_TOO_LARGE
// (bodies over 16 KiB), 503 UNAVAILABLE when the backend does not answer in time.
//
// Threading: the listener runs its own thread with its own libevent loop; ControlBackend methods
// are called on that thread, one request at a time, and may block briefly (they wait for the
// workers to answer).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cv/auth/usage_ledger.h"
#include "cv/auth/usage_store.h"
#include "relay/common/address.h"

namespace cv::server {

struct AllocationInfo {
  uint64_t id = 0;  // unique on this relay; shown as 16 hex digits
  std::string user, session, line, plan;
  std::string transport;  // "udp", "tcp", "tls", "dtls"
  SocketAddress client;
  std::vector<SocketAddress> relayed;
  int64_t age_s = 0;
  uint64_t bytes_to_peer = 0, bytes_to_client = 0;
  uint64_t packets_to_peer = 0, packets_to_client = 0;
  uint32_t bandwidth_kbps = 0;  // 0 = uncapped
  int64_t ends_in_s = -1;       // seconds to the duration cap; -1 = none
};

enum class RevocationKind : uint8_t { kUser, kSession };
const char* RevocationKindName(RevocationKind kind);  // "user", "session"

struct Revocation {
  RevocationKind kind = RevocationKind::kUser;
  std::string id;
  int64_t until = 0;  // Unix seconds
};

// A user's usage as the ledger has it, with what it means under their plan now.
struct UserUsageReport {
  auth::UserUsage usage;
  uint32_t monthly_relay_minutes = 0;  // the plan's; 0 = no limit
  bool guard_applies = false;          // the plan has the relay-abuse guard
  uint32_t max_call_duration_s = 0;    // the plan's maximum call duration; 0 = none
  auth::UsageVerdict verdict;          // quota used up, capped duration now
};

struct HealthInfo {
  int64_t uptime_s = 0;
  size_t workers = 0;
  size_t allocations = 0;
  bool ready = false;
  std::string not_ready_reason;  // "draining", "starting"
};

// What the endpoint asks of the relay.
class ControlBackend {
 public:
  virtual ~ControlBackend() = default;
  virtual HealthInfo Health() = 0;
  // Every relay counter by name, summed over the workers.
  virtual std::vector<std::pair<std::string, uint64_t>> Counters() = 0;
  // nullopt when the workers did not answer in time (→ 503).
  virtual std::optional<std::vector<AllocationInfo>> ListAllocations() = 0;
  // nullopt: no answer in time; false: no such allocation.
  virtual std::optional<bool> EndAllocation(uint64_t id) = 0;
  // Records the revocation and ends matching live allocations; returns how many ended.
  virtual size_t Revoke(const Revocation& revocation) = 0;
  virtual std::vector<Revocation> ListRevocations() = 0;
  virtual bool LiftRevocation(RevocationKind kind, const std::string& id) = 0;
  // The Prometheus text exposition; nullopt when the workers did not answer in time (→ 503).
  virtual std::optional<std::string> MetricsText() = 0;
  // Usage from the ledger. False from ledger_enabled() → 503 LEDGER_OFF; nullopt with `error`
  // when the store could not be read (→ 503 UNAVAILABLE).
  virtual bool ledger_enabled() const = 0;
  virtual std::optional<UserUsageReport> UserUsage(const std::string& user, std::string* error) = 0;
  virtual std::optional<auth::UsageTotals> SessionUsage(const std::string& session,
                                                        std::string* error) = 0;
  virtual std::optional<std::vector<auth::UsageRecord>> UsageRecords(
      const auth::RecordFilter& filter, std::string* error) = 0;
};

struct ControlListenerConfig {
  SocketAddress address;       // port 0: the kernel picks (tests)
  std::string token;           // at least 16 bytes; may be empty only without control_routes
  bool control_routes = true;  // the /v1 API
  bool metrics = false;        // GET /metrics
  int request_timeout_s = 10;
};

class ControlListener {
 public:
  // Binds and starts the listener thread. nullptr with `error` when it cannot.
  static std::unique_ptr<ControlListener> Start(const ControlListenerConfig& config,
                                                ControlBackend& backend, std::string* error);
  virtual ~ControlListener() = default;
  virtual SocketAddress address() const = 0;  // the bound address (resolved port)
  virtual void Stop() = 0;                    // idempotent; joins the thread
};

}  // namespace cv::server
