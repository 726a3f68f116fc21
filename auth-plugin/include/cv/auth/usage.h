// The usage ledger's unit: one record per relay allocation, identified by (node, run, allocation).
// A record carries cumulative totals, so a snapshot taken later supersedes an earlier one and
// delivering the same snapshot twice changes nothing: the store keeps the larger of each total.
// The relay writes a snapshot at every checkpoint while the allocation lives and a final one
// (with its end reason) when it ends. See docs/usage.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cv::auth {

// Why an allocation ended. kLive: it has not (a checkpoint). Names are stable: they are stored in
// the ledger and shown in metrics and APIs.
enum class EndReason : uint8_t {
  kLive,         // "live"
  kClient,       // "client": Refresh with lifetime 0
  kLifetime,     // "lifetime": not refreshed in time
  kDurationCap,  // "duration_cap": reached the plan's (or the abuse guard's) maximum duration
  kQuota,        // "quota": the user's monthly relay minutes ran out
  kRevoked,      // "revoked": the user or call session was revoked
  kOperator,     // "operator": ended through the control endpoint
  kShutdown,     // "shutdown": the relay stopped cleanly
  kInterrupted,  // "interrupted": the relay died (kill -9, crash); closed at its next start
};
inline constexpr size_t kEndReasonCount = 9;
const char* EndReasonName(EndReason reason);
std::optional<EndReason> ParseEndReason(std::string_view name);

// At most this many distinct peer IPs are kept per record (a WebRTC call uses one or two).
inline constexpr size_t kMaxRecordPeers = 8;

struct UsageRecord {
  std::string node;         // node-id of the relay that owns the allocation
  std::string run;          // id of the relay process run (16 hex digits), so ids never collide
  uint64_t allocation = 0;  // allocation id within the run
  std::string user, session, line, plan;
  std::string transport;           // "udp", "tcp", "tls", "dtls"
  std::string client;              // client address "ip:port" ("[v6]:port")
  std::vector<std::string> peers;  // distinct peer IPs permitted, at most kMaxRecordPeers
  int64_t start_ms = 0;            // Unix ms when the allocation was created
  int64_t last_ms = 0;             // Unix ms of this snapshot: the checkpoint, or the end
  EndReason reason = EndReason::kLive;
  // Relayed time: wall time during which packets flowed either way, gaps over 2 s left out.
  uint64_t relayed_ms = 0;
  uint64_t bytes_to_peer = 0, bytes_to_client = 0;  // payload bytes (without TURN framing)
  uint64_t packets_to_peer = 0, packets_to_client = 0;

  bool ended() const { return reason != EndReason::kLive; }
  friend bool operator==(const UsageRecord&, const UsageRecord&) = default;
};

// UTC calendar helpers shared by the store and the ledger: plain arithmetic on the proleptic
// Gregorian calendar, no time zone or locale. Times before 1970 (negative ms) round down to their
// own day and month; ms beyond ±8.64e15 (±273,790 years, ECMAScript's Date range) are clamped.
int64_t UtcDayStartMs(int64_t unix_ms);    // 00:00:00 UTC of that day
int64_t UtcMonthStartMs(int64_t unix_ms);  // 00:00:00 UTC on the 1st of that month
int64_t UtcNextMonthStartMs(int64_t unix_ms);
std::string UtcDay(int64_t unix_ms);    // "2026-11-21"
std::string UtcMonth(int64_t unix_ms);  // "2026-11"

}  // namespace cv::auth
