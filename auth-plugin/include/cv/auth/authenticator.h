// The one interface through which cvrelay decides who may use it. relay/ depends on this header
// only; the implementation (plain REST/static users today, entitlement-aware later) is chosen by
// the server wiring, so an operator can swap it without touching the relay.
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
  kMalformed,    // REST username that does not parse (timestamp missing, overflowing…) → 401
};
const char* LookupStatusName(LookupStatus s);

// What the relay may do for a request whose MESSAGE-INTEGRITY checked out with candidate
// `key_index`.
struct Grant {
  bool allowed = true;         // false → 403 Forbidden
  std::string user;            // the quota key: REST "<rest>" part or the static user name
  std::string refusal_reason;  // for the log and counters when !allowed (not sent to the client)
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;

  // Realm this authenticator answers for (sent in 401 challenges).
  virtual std::string_view realm() const = 0;

  // Keys that may verify a request from `username` at Unix time `now`.
  virtual LookupStatus Lookup(std::string_view username, int64_t now, Candidates* out) const = 0;

  // Called once MESSAGE-INTEGRITY verified with candidate `key_index` from Lookup().
  virtual Grant Authorize(std::string_view username, size_t key_index, int64_t now) const = 0;
};

}  // namespace cv::auth
