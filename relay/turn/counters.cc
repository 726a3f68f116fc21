#include "relay/turn/counters.h"

#include "relay/turn/five_tuple.h"

namespace cv::turn {

const char* TransportName(Transport t) {
  switch (t) {
    case Transport::kUdp:
      return "udp";
    case Transport::kTcp:
      return "tcp";
    case Transport::kTls:
      return "tls";
    case Transport::kDtls:
      return "dtls";
  }
  return "?";
}

const char* CounterName(Counter c) {
  switch (c) {
    case Counter::kBindingRequests:
      return "binding_requests";
    case Counter::kAllocateRequests:
      return "allocate_requests";
    case Counter::kAllocationsCreated:
      return "allocations_created";
    case Counter::kAllocationsDeleted:
      return "allocations_deleted";
    case Counter::kAllocationsExpired:
      return "allocations_expired";
    case Counter::kRefreshRequests:
      return "refresh_requests";
    case Counter::kPermissionRequests:
      return "create_permission_requests";
    case Counter::kChannelBindRequests:
      return "channel_bind_requests";
    case Counter::kSendIndications:
      return "send_indications";
    case Counter::kChallenges:
      return "auth_challenges";
    case Counter::kAuthUnknownUser:
      return "auth_unknown_user";
    case Counter::kAuthExpired:
      return "auth_expired";
    case Counter::kAuthMalformed:
      return "auth_malformed";
    case Counter::kAuthBadIntegrity:
      return "auth_bad_integrity";
    case Counter::kAuthStaleNonce:
      return "auth_stale_nonce";
    case Counter::kAuthForgedNonce:
      return "auth_forged_nonce";
    case Counter::kAuthForbidden:
      return "auth_forbidden";
    case Counter::kWrongCredentials:
      return "auth_wrong_credentials";
    case Counter::kRetransmissions:
      return "retransmissions";
    case Counter::kErrorResponses:
      return "error_responses";
    case Counter::kPeerDenied:
      return "peer_denied";
    case Counter::kQuotaUser:
      return "quota_user";
    case Counter::kQuotaTotal:
      return "quota_total";
    case Counter::kNoRelayPort:
      return "no_relay_port";
    case Counter::kRefusedDraining:
      return "refused_draining";
    case Counter::kClientToPeerPackets:
      return "client_to_peer_packets";
    case Counter::kClientToPeerBytes:
      return "client_to_peer_bytes";
    case Counter::kPeerToClientPackets:
      return "peer_to_client_packets";
    case Counter::kPeerToClientBytes:
      return "peer_to_client_bytes";
    case Counter::kDropMalformed:
      return "drop_malformed";
    case Counter::kDropBadFingerprint:
      return "drop_bad_fingerprint";
    case Counter::kDropNoAllocation:
      return "drop_no_allocation";
    case Counter::kDropNoPermission:
      return "drop_no_permission";
    case Counter::kDropNoChannel:
      return "drop_no_channel";
    case Counter::kDropPeerPolicy:
      return "drop_peer_policy";
    case Counter::kDropRateLimited:
      return "drop_rate_limited";
    case Counter::kDropUnexpectedClass:
      return "drop_unexpected_class";
    case Counter::kDropSendFailed:
      return "drop_send_failed";
    case Counter::kCount:
      break;
  }
  return "?";
}

}  // namespace cv::turn
