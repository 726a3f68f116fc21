// CallVault claims: what a TURN REST credential says about who relays, for which call, on which
// plan. They ride in the <rest> part of the REST username, so the HMAC covers them and a stock
// coturn accepts the credential unchanged (it only checks the expiry and the HMAC).
//
//   username = <expiry> ":" "cv1" *( ";" <key> "=" <value> )
//   e.g.       1767225600:cv1;k=2026a;u=alice;s=9f2c41d0;l=home;p=pro;v=1;g=2
//
//   key  meaning                         value                         required
//   k    key id: which secret signed it  [A-Za-z0-9_-]{1,16}           no (then: kid-less secrets)
//   u    user id                         id charset, 1-64              yes
//   s    call session id                 id charset, 1-64              yes
//   l    Call ID (line) used             id charset, 1-32              no
//   p    plan                            [a-z0-9_-]{1,16}              yes
//   v    video allowed                   0 | 1                         no (default 0)
//   g    group size (participants)       1-64                          no (default 2: 1:1 call)
//   b    bandwidth cap, kbit/s per way   1-1000000                     no (plan decides)
//   d    maximum call duration, seconds  1-604800                      no (plan decides)
//
//   id charset: [A-Za-z0-9._@+-] — no separator, quote, space, control byte or '%', so a claim
//   is safe in logs, SQL parameters and Redis keys as it stands.
//
// Keys appear at most once, in any order. Numbers are plain decimal: no sign, no leading zero
// (one text per value). An unknown key, a repeated key, a value outside its range or charset, or
// a version other than "cv1" makes the whole credential malformed: a relay must not
// under-enforce a claim it does not understand. A newer format gets a new version tag.
// Nothing secret and no personal data beyond the user id is carried: the session id is random,
// the line is an opaque id chosen by the app (never a phone number).
//
// Threading: pure functions, thread-safe, no global state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cv::auth {

inline constexpr std::string_view kClaimsVersion = "cv1";
inline constexpr size_t kMaxUserIdLength = 64;
inline constexpr size_t kMaxSessionIdLength = 64;
inline constexpr size_t kMaxLineLength = 32;
inline constexpr size_t kMaxPlanLength = 16;
inline constexpr size_t kMaxKeyIdLength = 16;
inline constexpr uint32_t kMaxGroupSize = 64;
inline constexpr uint32_t kMaxBandwidthKbps = 1'000'000;
inline constexpr uint32_t kMaxClaimedDurationSeconds = 7 * 86400;

struct Claims {
  std::string key_id;           // empty: no k=
  std::string user;             // u=
  std::string session;          // s=
  std::string line;             // l=; empty when absent
  std::string plan;             // p=
  bool video = false;           // v=
  uint32_t group_size = 2;      // g=
  uint32_t bandwidth_kbps = 0;  // b=; 0 = absent (the plan decides)
  uint32_t max_duration_s = 0;  // d=; 0 = absent (the plan decides)

  friend bool operator==(const Claims&, const Claims&) = default;
};

// True when `rest` (the part after the first separator) starts with the claims version tag
// followed by ';' or end: it is meant as claims, and must then parse or be refused.
bool LooksLikeClaims(std::string_view rest);

// Parses the <rest> part of a REST username. nullopt on any deviation from the grammar above;
// `why`, when given, receives a short reason for the log ("x: unknown key", "u: missing", …)
// that never quotes the offending value.
std::optional<Claims> ParseClaims(std::string_view rest, std::string* why = nullptr);

// The <rest> text for `claims` in canonical order (k u s l p v g b d; absent ones omitted).
// Empty when a claim is invalid; `why` then says which.
std::string FormatClaims(const Claims& claims, std::string* why = nullptr);

// Character-set checks, shared with the minting command and cvadmin.
bool IsValidId(std::string_view id, size_t max_length);  // id charset
bool IsValidKeyId(std::string_view key_id);
bool IsValidPlanName(std::string_view plan);

}  // namespace cv::auth
