#include "cv/auth/claims.h"

#include <charconv>

#include "claims_view.h"

namespace cv::auth {

namespace {

bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool IsIdChar(char c) {
  return IsAlnum(c) || c == '.' || c == '_' || c == '@' || c == '+' || c == '-';
}

bool IsKeyIdChar(char c) { return IsAlnum(c) || c == '_' || c == '-'; }

bool IsPlanChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

template <typename Pred>
bool AllOf(std::string_view s, size_t max_length, Pred pred) {
  if (s.empty() || s.size() > max_length) return false;
  for (char c : s) {
    if (!pred(c)) return false;
  }
  return true;
}

// Canonical decimal in [min, max]: digits only, no sign, no leading zero. One text per value, so
// FormatClaims(ParseClaims(x)) == x for every valid x.
bool ParseNumber(std::string_view s, uint32_t min, uint32_t max, uint32_t* out) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v < min || v > max) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// An unknown key is named in the reason only when it cannot carry anything harmful into a log.
bool ClaimsKeyIsPrintable(std::string_view key) { return AllOf(key, 16, IsKeyIdChar); }

}  // namespace

namespace internal {

//   rest   = "cv1" *( ";" key "=" value )
//   key    = "k" / "u" / "s" / "l" / "p" / "v" / "g" / "b" / "d"     each at most once
//   value  = 1*( any byte but ";" ), then checked against the key's charset or range
//
//   "cv1;k=2026a;u=alice;s=9f2c41d0;l=home;p=pro;v=1;g=2"
//    ^^^ version  ^^^^^^^ one claim per ';'-separated item
bool ScanClaims(std::string_view rest, ClaimsView* out, ClaimsError* error) {
  *out = ClaimsView{};
  auto fail = [error](const char* what, std::string_view key = {}) {
    *error = ClaimsError{what, key};
    return false;
  };
  if (!LooksLikeClaims(rest)) return fail("claims version is not cv1");
  rest.remove_prefix(kClaimsVersion.size());

  // One bit per key letter seen, to refuse repeats.
  uint32_t seen = 0;
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the ';' before every item
    const size_t end = rest.find(';');
    const std::string_view item = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (item.empty()) return fail("empty claim (';;' or a trailing ';')");
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return fail("claim without '='");
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    static constexpr std::string_view kKeys = "kuslpvgbd";
    const size_t bit = key.size() == 1 ? kKeys.find(key[0]) : std::string_view::npos;
    if (bit == std::string_view::npos) {
      return ClaimsKeyIsPrintable(key) ? fail("unknown key", key) : fail("unknown key");
    }
    if (seen & (1u << bit)) return fail("repeated key", key);
    seen |= 1u << bit;
    if (value.empty()) return fail("empty value", key);

    switch (key[0]) {
      case 'k':
        if (!IsValidKeyId(value)) return fail("not [A-Za-z0-9_-]{1,16}", key);
        out->key_id = value;
        break;
      case 'u':
        if (!IsValidId(value, kMaxUserIdLength)) return fail("not [A-Za-z0-9._@+-]{1,64}", key);
        out->user = value;
        break;
      case 's':
        if (!IsValidId(value, kMaxSessionIdLength)) {
          return fail("not [A-Za-z0-9._@+-]{1,64}", key);
        }
        out->session = value;
        break;
      case 'l':
        if (!IsValidId(value, kMaxLineLength)) return fail("not [A-Za-z0-9._@+-]{1,32}", key);
        out->line = value;
        break;
      case 'p':
        if (!IsValidPlanName(value)) return fail("not [a-z0-9_-]{1,16}", key);
        out->plan = value;
        break;
      case 'v':
        if (value != "0" && value != "1") return fail("not 0 or 1", key);
        out->video = value == "1";
        break;
      case 'g':
        if (!ParseNumber(value, 1, kMaxGroupSize, &out->group_size)) {
          return fail("not an integer in 1-64", key);
        }
        break;
      case 'b':
        if (!ParseNumber(value, 1, kMaxBandwidthKbps, &out->bandwidth_kbps)) {
          return fail("not an integer in 1-1000000", key);
        }
        break;
      case 'd':
        if (!ParseNumber(value, 1, kMaxClaimedDurationSeconds, &out->max_duration_s)) {
          return fail("not an integer in 1-604800", key);
        }
        break;
    }
  }
  if (out->user.empty()) return fail("missing", "u");
  if (out->session.empty()) return fail("missing", "s");
  if (out->plan.empty()) return fail("missing", "p");
  return true;
}

}  // namespace internal

bool LooksLikeClaims(std::string_view rest) {
  return rest.substr(0, kClaimsVersion.size()) == kClaimsVersion &&
         (rest.size() == kClaimsVersion.size() || rest[kClaimsVersion.size()] == ';');
}

std::optional<Claims> ParseClaims(std::string_view rest, std::string* why) {
  internal::ClaimsView view;
  internal::ClaimsError error;
  if (!internal::ScanClaims(rest, &view, &error)) {
    if (why != nullptr) {
      why->clear();
      if (!error.key.empty()) {
        why->append(error.key).append(": ");
      }
      why->append(error.what);
    }
    return std::nullopt;
  }
  if (why != nullptr) why->clear();
  Claims c;
  c.key_id = std::string(view.key_id);
  c.user = std::string(view.user);
  c.session = std::string(view.session);
  c.line = std::string(view.line);
  c.plan = std::string(view.plan);
  c.video = view.video;
  c.group_size = view.group_size;
  c.bandwidth_kbps = view.bandwidth_kbps;
  c.max_duration_s = view.max_duration_s;
  return c;
}

std::string FormatClaims(const Claims& claims, std::string* why) {
  auto fail = [why](const char* what) {
    if (why != nullptr) *why = what;
    return std::string();
  };
  if (!claims.key_id.empty() && !IsValidKeyId(claims.key_id)) {
    return fail("k: not [A-Za-z0-9_-]{1,16}");
  }
  if (!IsValidId(claims.user, kMaxUserIdLength)) return fail("u: not [A-Za-z0-9._@+-]{1,64}");
  if (!IsValidId(claims.session, kMaxSessionIdLength)) {
    return fail("s: not [A-Za-z0-9._@+-]{1,64}");
  }
  if (!claims.line.empty() && !IsValidId(claims.line, kMaxLineLength)) {
    return fail("l: not [A-Za-z0-9._@+-]{1,32}");
  }
  if (!IsValidPlanName(claims.plan)) return fail("p: not [a-z0-9_-]{1,16}");
  if (claims.group_size < 1 || claims.group_size > kMaxGroupSize) {
    return fail("g: not an integer in 1-64");
  }
  if (claims.bandwidth_kbps > kMaxBandwidthKbps) return fail("b: not an integer in 1-1000000");
  if (claims.max_duration_s > kMaxClaimedDurationSeconds) {
    return fail("d: not an integer in 1-604800");
  }
  if (why != nullptr) why->clear();

  auto number = [](uint32_t v) {
    char buf[16];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    return std::string(buf, ec == std::errc() ? end : buf);
  };
  std::string out(kClaimsVersion);
  auto add = [&out](char key, std::string_view value) {
    out.push_back(';');
    out.push_back(key);
    out.push_back('=');
    out.append(value);
  };
  if (!claims.key_id.empty()) add('k', claims.key_id);
  add('u', claims.user);
  add('s', claims.session);
  if (!claims.line.empty()) add('l', claims.line);
  add('p', claims.plan);
  add('v', claims.video ? "1" : "0");
  add('g', number(claims.group_size));
  if (claims.bandwidth_kbps != 0) add('b', number(claims.bandwidth_kbps));
  if (claims.max_duration_s != 0) add('d', number(claims.max_duration_s));
  return out;
}

bool IsValidId(std::string_view id, size_t max_length) { return AllOf(id, max_length, IsIdChar); }

bool IsValidKeyId(std::string_view key_id) { return AllOf(key_id, kMaxKeyIdLength, IsKeyIdChar); }

bool IsValidPlanName(std::string_view plan) { return AllOf(plan, kMaxPlanLength, IsPlanChar); }

}  // namespace cv::auth
