// The one interface through which cvrelay decides who may use it and on what terms. relay/
// depends on this header only; the implementation (cvauth's entitlement-aware REST
// authenticator) is chosen by the server wiring, so an operator can swap it without touching
// the relay.
//
// Threading: one Authenticator instance is shared read-only by every worker thread. All methods
// are const, must be thread-safe, must not block (no disk, no network) and must not throw.
// Reloading (SIGHUP) builds a new instance and hands it to each worker; the old one is destroyed
// once no worker uses it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace cv::auth {

// A long-term credential key (RFC 8489 §9.2.2): MD5(username:realm:password), 16 bytes.
struct Key {
  std::array<uint8_t, 16> bytes{};
};

// Up to kMaxCandidates keys that may have produced a request's MESSAGE-INTEGRITY. TURN REST
// credentials with several active secrets (rotation) give one candidate per secret.
inline constexpr size_t kMaxCandidates = 8;
struct Candidates {
  std::array<Key, kMaxCandidates> keys{};
  size_t count = 0;
};

enum class LookupStatus : uint8_t {
  kOk,           // candidates filled in
  kUnknownUser,  // no such static user → 401
  kExpired,      // REST credential whose expiry has passed → 401
  kMalformed,    // REST username or claims that do not parse (timestamp overflowing…) → 401
  kUnknownKey,   // claims name a key id no active secret has → 401
};
const char* LookupStatusName(LookupStatus s);

// What the relay enforces for one allocation: the credential's claims, bounded by the plan.
// Limits of 0 mean "no limit".
struct Entitlement {
  std::string user;     // quota key: the claims' user id, else the REST <rest> or static name
  std::string session;  // call session id; empty for a claimless credential
  std::string line;     // Call ID (line); may be empty
  std::string plan;     // effective plan name (an unknown plan reads "free")
  std::string key_id;   // key id that verified the credential; empty for kid-less secrets
  bool claims = false;  // false for claimless REST credentials and static users
  bool video = false;
  uint32_t group_size = 2;
  uint32_t max_allocations_per_user = 0;     // concurrent, across workers → 486
  uint32_t max_allocations_per_session = 0;  // concurrent, across workers → 486
  uint32_t bandwidth_kbps = 0;               // per allocation and direction
  uint32_t max_duration_s = 0;               // from the allocation's creation
  // Enforced from the usage ledger (usage_ledger.h), not from the credential:
  uint32_t monthly_relay_minutes = 0;  // the plan's; 0 = no limit
  bool abuse_guard = false;            // the plan's relay-abuse guard applies
};

enum class Refusal : uint8_t {
  kNone,
  kPlanMayNotRelay,   // Free, or a plan without turn_relay → 403
  kClaimlessRefused,  // claimless credentials are switched off → 403
  kNoSuchKey,         // key index out of range (a caller bug) → 403
  kExpired,           // expired between Lookup and Authorize → 403
  kUnknownUser,       // → 403
};
const char* RefusalName(Refusal r);

// What the relay may do for a request whose MESSAGE-INTEGRITY checked out with candidate
// `key_index`.
struct Grant {
  Refusal refusal = Refusal::kNone;  // anything else → 403 Forbidden
  Entitlement entitlement;           // meaningful when allowed()

  bool allowed() const { return refusal == Refusal::kNone; }
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;

  // Realm this authenticator answers for (sent in 401 challenges).
  virtual std::string_view realm() const = 0;

  // Keys that may verify a request from `username` at Unix time `now`.
  virtual LookupStatus Lookup(std::string_view username, int64_t now, Candidates* out) const = 0;

  // Called once MESSAGE-INTEGRITY verified with candidate `key_index` from the Lookup() made with
  // the same `username` and `now`.
  virtual Grant Authorize(std::string_view username, size_t key_index, int64_t now) const = 0;

  // Which user a username speaks for, before it is verified: for rate-limiting failed attempts
  // per user. Empty when it names nobody. Never trusted for anything else.
  virtual std::string ClaimedUser(std::string_view username) const = 0;
};

}  // namespace cv::auth
