// The STUN/TURN requests cvbench sends and the replies it reads, on top of the project's codec
// (relay/stun). Requests are built into caller buffers (no allocation); replies are read into a
// view over the receive buffer.
//
// Transaction ids carry who sent the request, so a reply finds its sender without a table:
//   bytes 0-3  owner (allocation, churn slot or binding socket) index
//   bytes 4-7  a per-owner counter
//   bytes 8-11 a salt drawn once per run
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "cv/auth/authenticator.h"
#include "cv/auth/rest_credentials.h"
#include "relay/common/address.h"
#include "relay/stun/message.h"

namespace cv::bench {

inline constexpr size_t kMaxRequestSize = 640;

stun::TransactionId MakeTransactionId(uint32_t owner, uint32_t counter, uint32_t salt);
uint32_t TransactionOwner(const stun::TransactionId& id);
uint32_t TransactionCounter(const stun::TransactionId& id);

// USERNAME, REALM, NONCE and the key for MESSAGE-INTEGRITY.
struct LongTermAuth {
  std::string_view username;
  std::string_view realm;
  std::string_view nonce;
  const auth::Key* key = nullptr;
};

// Each returns the request's size, 0 when `out` is too small.
// Allocate with REQUESTED-TRANSPORT UDP (and REQUESTED-ADDRESS-FAMILY IPv6 when `ipv6`);
// without `auth` it is the first, unauthenticated request that earns the 401.
size_t BuildAllocate(std::span<uint8_t> out, const stun::TransactionId& id,
                     const LongTermAuth* auth, bool ipv6);
size_t BuildCreatePermission(std::span<uint8_t> out, const stun::TransactionId& id,
                             const SocketAddress& peer, const LongTermAuth& auth);
size_t BuildChannelBind(std::span<uint8_t> out, const stun::TransactionId& id, uint16_t channel,
                        const SocketAddress& peer, const LongTermAuth& auth);
size_t BuildRefresh(std::span<uint8_t> out, const stun::TransactionId& id, uint32_t lifetime,
                    const LongTermAuth& auth);
size_t BuildBinding(std::span<uint8_t> out, const stun::TransactionId& id, bool fingerprint);

// What cvbench reads from a response. Views point into the datagram.
struct Reply {
  stun::Method method = stun::Method::kBinding;
  stun::MessageClass message_class = stun::MessageClass::kRequest;
  stun::TransactionId id{};
  uint16_t error = 0;  // 0: success response
  std::optional<std::string_view> realm;
  std::optional<std::string_view> nonce;
  std::optional<SocketAddress> relayed;
  std::optional<SocketAddress> mapped;
  std::optional<uint32_t> lifetime;
};
// False for anything that is not a well-formed success or error response.
bool ParseReply(std::span<const uint8_t> datagram, Reply* out);

// REST credentials: "<now + ttl>:cvbench-<phase>-<n>" and the long-term key for a realm, from
// a secret prepared once.
class Credentials {
 public:
  explicit Credentials(std::string_view secret) : secret_(secret) {}
  static std::string Username(int64_t expiry, std::string_view phase, uint64_t n);
  auth::Key Key(std::string_view username, std::string_view realm) const {
    return secret_.KeyFor(username, realm);
  }

 private:
  auth::RestSecret secret_;
};

// "401 Unauthorized"-style text for the codes a TURN server answers with.
const char* ErrorReason(uint16_t code);
// A hint for the operator for a refusal at `step` ("Allocate", "CreatePermission", ...).
std::string ErrorHint(std::string_view step, uint16_t code, bool authenticated);

}  // namespace cv::bench
