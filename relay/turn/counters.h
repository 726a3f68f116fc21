// Per-worker counters. Each worker owns one TurnCounters and is its only writer, so increments
// are plain relaxed stores (no lock, no contended cache line); any thread may read them.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace cv::turn {

// X(enumerator, name): the name is what logs, the control endpoint and metrics show.
#define CV_TURN_COUNTERS(X)                                                                       \
  /* Requests and outcomes. */                                                                    \
  X(kBindingRequests, "binding_requests")                                                         \
  X(kAllocateRequests, "allocate_requests")                                                       \
  X(kAllocationsCreated, "allocations_created")                                                   \
  X(kAllocationsDeleted, "allocations_deleted") /* by the client (Refresh lifetime 0) */          \
  X(kAllocationsExpired, "allocations_expired")                                                   \
  X(kEndedDurationCap, "allocations_ended_duration_cap")                                          \
  X(kEndedQuota, "allocations_ended_quota") /* monthly relay minutes used up */                   \
  X(kEndedRevoked, "allocations_ended_revoked")                                                   \
  X(kEndedByOperator, "allocations_ended_by_operator")                                            \
  X(kEndedShutdown, "allocations_ended_shutdown")                                                 \
  X(kRefreshRequests, "refresh_requests")                                                         \
  X(kPermissionRequests, "create_permission_requests")                                            \
  X(kChannelBindRequests, "channel_bind_requests")                                                \
  X(kSendIndications, "send_indications")                                                         \
  X(kChallenges, "auth_challenges") /* 401 + nonce to a request without integrity */              \
  X(kAuthOk, "auth_ok")             /* requests whose credentials checked out */                  \
  X(kAuthUnknownUser, "auth_unknown_user")                                                        \
  X(kAuthExpired, "auth_expired")                                                                 \
  X(kAuthMalformed, "auth_malformed")                                                             \
  X(kAuthUnknownKey, "auth_unknown_key")                                                          \
  X(kAuthBadIntegrity, "auth_bad_integrity")                                                      \
  X(kAuthStaleNonce, "auth_stale_nonce")                                                          \
  X(kAuthForgedNonce, "auth_forged_nonce")                                                        \
  X(kAuthPlanRefused, "auth_plan_may_not_relay")     /* 403: Free or unknown plan */              \
  X(kAuthClaimlessRefused, "auth_claimless_refused") /* 403 */                                    \
  X(kAuthForbidden, "auth_forbidden")                /* 403 for any other refusal */              \
  X(kAuthRevoked, "auth_revoked")                    /* 403: user or call session revoked */      \
  X(kAuthBannedSource, "auth_banned_source")         /* 403 after repeated failures */            \
  X(kAuthBannedUser, "auth_banned_user")                                                          \
  X(kAuthBansImposed, "auth_bans_imposed")                                                        \
  X(kWrongCredentials, "auth_wrong_credentials") /* 441 */                                        \
  X(kRetransmissions, "retransmissions")         /* answered from the transaction cache */        \
  X(kErrorResponses, "error_responses")                                                           \
  X(kPeerDenied, "peer_denied")                   /* 403 for a peer address the policy refuses */ \
  X(kQuotaUser, "quota_user")                     /* 486 */                                       \
  X(kQuotaSession, "quota_session")               /* 486 */                                       \
  X(kQuotaTotal, "quota_total")                   /* 508 */                                       \
  X(kQuotaMonthly, "quota_monthly_relay_minutes") /* 486: the month's relay minutes used */       \
  X(kRateLimitedSource, "allocate_rate_limited_source") /* 486 */                                 \
  X(kRateLimitedUser, "allocate_rate_limited_user")     /* 486 */                                 \
  X(kNoRelayPort, "no_relay_port")                      /* 508 */                                 \
  X(kRefusedDraining, "refused_draining")               /* 508 while shutting down */             \
  /* RFC 6062 TCP allocations. */                                                                 \
  X(kTcpConnectRequests, "tcp_connect_requests")                                                  \
  X(kTcpConnectFailed, "tcp_connect_failed") /* 447: not started, failed or timed out */          \
  X(kTcpPeerAccepted, "tcp_peer_connections_accepted")                                            \
  X(kTcpPeerRefused, "tcp_peer_connections_refused") /* no permission, policy, or full */         \
  X(kTcpBindTimeouts, "tcp_bind_timeouts") /* peer connections closed: no ConnectionBind */       \
  X(kConnectionBindOk, "connection_bind_ok")                                                      \
  X(kConnectionBindFailed, "connection_bind_failed")               /* 400 or 441 */               \
  X(kEndedConnectionClosed, "allocations_ended_connection_closed") /* TCP/TLS client left */      \
  /* TURN over TCP, TLS and DTLS: connections (the net layer counts these). */                    \
  X(kStreamAccepted, "stream_connections_accepted")                                               \
  X(kStreamRefusedCap, "stream_refused_unauth_cap")        /* max-unauth-connections-per-ip */    \
  X(kStreamHandshakeTimeouts, "stream_handshake_timeouts") /* tls-handshake-timeout */            \
  X(kStreamAuthTimeouts, "stream_auth_timeouts")           /* stream-auth-timeout */              \
  X(kStreamTooLarge, "stream_closed_frame_too_large")                                             \
  X(kStreamInvalid, "stream_closed_invalid_frame")                                                \
  X(kStreamTlsFailed, "stream_tls_handshake_failed")                                              \
  X(kStreamOverflow, "stream_closed_send_overflow") /* the client did not read its data */        \
  X(kDtlsSessions, "dtls_sessions_established")                                                   \
  /* Data path. */                                                                                \
  X(kClientToPeerPackets, "client_to_peer_packets")                                               \
  X(kClientToPeerBytes, "client_to_peer_bytes")                                                   \
  X(kPeerToClientPackets, "peer_to_client_packets")                                               \
  X(kPeerToClientBytes, "peer_to_client_bytes")                                                   \
  /* Drops, by reason. */                                                                         \
  X(kDropMalformed, "drop_malformed")                                                             \
  X(kDropBadFingerprint, "drop_bad_fingerprint")                                                  \
  X(kDropNoAllocation, "drop_no_allocation")                                                      \
  X(kDropNoPermission, "drop_no_permission")                                                      \
  X(kDropNoChannel, "drop_no_channel")                                                            \
  X(kDropPeerPolicy, "drop_peer_policy")                                                          \
  X(kDropRateLimited, "drop_rate_limited")                                                        \
  X(kDropBandwidth, "drop_bandwidth_cap") /* over the allocation's bandwidth cap */               \
  X(kDropUnexpectedClass, "drop_unexpected_class")                                                \
  X(kDropSendOnTcpAllocation, "drop_send_on_tcp_allocation") /* RFC 6062: no Send on TCP */       \
  X(kDropSendFailed, "drop_send_failed")                     /* the kernel refused a datagram */

enum class Counter : uint16_t {
#define CV_COUNTER_ENUM(id, name) id,
  CV_TURN_COUNTERS(CV_COUNTER_ENUM)
#undef CV_COUNTER_ENUM
      kCount,
};
const char* CounterName(Counter c);

class TurnCounters {
 public:
  void Add(Counter c, uint64_t n = 1) {
    auto& slot = values_[static_cast<size_t>(c)];
    slot.store(slot.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t Get(Counter c) const {
    return values_[static_cast<size_t>(c)].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Counter::kCount)> values_{};
};

}  // namespace cv::turn
