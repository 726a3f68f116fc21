// Users and call sessions whose relay use has been revoked until a given time (by an operator or
// by cvadmin through the control endpoint). Each worker keeps its own copy, updated by tasks
// posted to its loop, so checking it needs no lock.
//
// Threading: one instance per worker; not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cv/auth/authenticator.h"

namespace cv::turn {

enum class RevocationKind : uint8_t { kUser, kSession };

class RevocationTable {
 public:
  // Adds or extends a revocation; entries past their end are dropped on the way.
  void Add(RevocationKind kind, std::string_view id, int64_t until, int64_t now);
  // False when there was no such revocation.
  bool Lift(RevocationKind kind, std::string_view id);
  // Whether the user or the call session of `e` is revoked at `now` (Unix seconds).
  bool Revoked(const auth::Entitlement& e, int64_t now) const;
  bool Matches(RevocationKind kind, std::string_view id, const auth::Entitlement& e) const {
    return kind == RevocationKind::kUser ? e.user == id : (!e.session.empty() && e.session == id);
  }
  size_t size() const { return users_.size() + sessions_.size(); }

 private:
  using Map = std::unordered_map<std::string, int64_t>;
  Map& MapFor(RevocationKind kind) { return kind == RevocationKind::kUser ? users_ : sessions_; }
  static bool Live(const Map& map, const std::string& id, int64_t now);

  Map users_, sessions_;  // id → until (Unix seconds)
};

}  // namespace cv::turn
