#include "cv/auth/entitlement_authenticator.h"

#include <algorithm>
#include <array>
#include <functional>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "claims_view.h"
#include "cv/auth/claims.h"

namespace cv::auth {

// Declared in authenticator.h; cvauth is the library every Authenticator links against.
const char* LookupStatusName(LookupStatus s) {
  switch (s) {
    case LookupStatus::kOk:
      return "ok";
    case LookupStatus::kUnknownUser:
      return "unknown_user";
    case LookupStatus::kExpired:
      return "expired";
    case LookupStatus::kMalformed:
      return "malformed";
    case LookupStatus::kUnknownKey:
      return "unknown_key";
  }
  return "unknown";
}

const char* RefusalName(Refusal r) {
  switch (r) {
    case Refusal::kNone:
      return "none";
    case Refusal::kPlanMayNotRelay:
      return "plan_may_not_relay";
    case Refusal::kClaimlessRefused:
      return "claimless_refused";
    case Refusal::kNoSuchKey:
      return "no_such_key";
    case Refusal::kExpired:
      return "expired";
    case Refusal::kUnknownUser:
      return "unknown_user";
  }
  return "unknown";
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Lets the user table be searched with a string_view, without building a std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// What a credential asks for, whether from claims or implied for a claimless one.
struct Request {
  std::string_view plan;
  bool video = false;
  uint32_t group_size = 2;
  uint32_t bandwidth_kbps = 0;  // 0: the plan decides
  uint32_t max_duration_s = 0;  // 0: the plan decides
  bool session = false;         // a call session to cap allocations for
};

// The request bounded by the plan (entitlement_authenticator.h, "Authorize"). Fills in the
// limits of `*e`; the caller fills in who it is.
Refusal Entitle(const Plans& plans, const Request& req, Entitlement* e) {
  const PlanPolicy& plan = plans.Find(req.plan);
  e->plan = plan.name;
  if (!plan.turn_relay) return Refusal::kPlanMayNotRelay;

  uint32_t g = req.group_size;
  if (plan.group_size != 0) g = std::min(g, plan.group_size);
  e->group_size = g;
  // "direct_only": video may flow peer to peer, never through the relay.
  e->video = req.video && plan.video == VideoPolicy::kAlways;

  const RelayPolicy& relay = plan.relay;
  e->max_allocations_per_user = relay.max_allocations_per_user;
  if (req.session && relay.allocations_per_peer != 0) {
    const uint64_t peers = std::max<uint32_t>(1, g - 1);
    e->max_allocations_per_session =
        static_cast<uint32_t>(std::min<uint64_t>(relay.allocations_per_peer * peers, UINT32_MAX));
  } else {
    e->max_allocations_per_session = 0;
  }

  const BandwidthPolicy& bw = relay.bandwidth;
  const uint32_t plan_kbps = (g > bw.large_group_above && bw.large_group_kbps != 0)
                                 ? bw.large_group_kbps
                                 : (e->video ? bw.video_kbps : bw.audio_kbps);
  e->bandwidth_kbps = TighterLimit(req.bandwidth_kbps, plan_kbps);
  e->max_duration_s = TighterLimit(req.max_duration_s, plan.max_call_duration_s);
  e->monthly_relay_minutes = relay.monthly_relay_minutes;
  e->abuse_guard = relay.abuse_guard.enabled;
  return Refusal::kNone;
}

struct PreparedSecret {
  std::string key_id;
  int64_t not_after;
  RestSecret rest;

  bool ActiveAt(int64_t now) const { return not_after == 0 || now <= not_after; }
};

class EntitlementAuthenticator final : public Authenticator {
 public:
  explicit EntitlementAuthenticator(AuthConfig config)
      : realm_(std::move(config.realm)),
        use_auth_secret_(config.use_auth_secret),
        separator_(config.separator),
        max_rest_lifetime_(config.max_rest_lifetime_seconds),
        plans_(std::move(config.plans)),
        claimless_plan_(std::move(config.claimless_plan)) {
    secrets_.reserve(config.secrets.size());
    for (const Secret& s : config.secrets) {
      secrets_.push_back(PreparedSecret{s.key_id, s.not_after, RestSecret(s.value)});
    }
    users_.reserve(config.users.size());
    for (AuthConfig::User& u : config.users) users_.emplace(std::move(u.name), u.key);
  }

  std::string_view realm() const override { return realm_; }

  LookupStatus Lookup(std::string_view username, int64_t now, Candidates* out) const override {
    out->count = 0;
    const Resolved r = Resolve(username, now);
    if (r.status != LookupStatus::kOk) return r.status;
    if (r.kind == Kind::kStatic) {
      out->keys[0] = r.user->second;
      out->count = 1;
      return LookupStatus::kOk;
    }
    for (size_t i = 0; i < r.count; ++i) {
      out->keys[i] = secrets_[r.secrets[i]].rest.KeyFor(username, realm_);
    }
    out->count = r.count;
    return LookupStatus::kOk;
  }

  Grant Authorize(std::string_view username, size_t key_index, int64_t now) const override {
    // The same resolution as Lookup(), so key_index names the same secret.
    const Resolved r = Resolve(username, now);
    switch (r.status) {
      case LookupStatus::kOk:
        break;
      case LookupStatus::kExpired:
        return Refuse(Refusal::kExpired);
      case LookupStatus::kUnknownKey:
        return Refuse(Refusal::kNoSuchKey);
      case LookupStatus::kUnknownUser:
      case LookupStatus::kMalformed:
        return Refuse(Refusal::kUnknownUser);
    }
    const size_t candidates = r.kind == Kind::kStatic ? 1 : r.count;
    if (key_index >= candidates) return Refuse(Refusal::kNoSuchKey);

    Grant grant;
    Entitlement& e = grant.entitlement;
    Request req;
    switch (r.kind) {
      case Kind::kClaims:
        e.user = std::string(r.claims.user);
        e.session = std::string(r.claims.session);
        e.line = std::string(r.claims.line);
        e.claims = true;
        req.plan = r.claims.plan;
        req.video = r.claims.video;
        req.group_size = r.claims.group_size;
        req.bandwidth_kbps = r.claims.bandwidth_kbps;
        req.max_duration_s = r.claims.max_duration_s;
        req.session = true;
        break;
      case Kind::kClaimless:
        e.user = std::string(r.rest.empty() ? username : r.rest);
        break;
      case Kind::kStatic:
        e.user = r.user->first;
        break;
    }
    if (r.kind != Kind::kStatic) e.key_id = secrets_[r.secrets[key_index]].key_id;
    if (r.kind != Kind::kClaims) {
      // No claims: a 1:1 call with video, on the claimless plan, if there is one.
      if (claimless_plan_.empty()) {
        grant.refusal = Refusal::kClaimlessRefused;
        return grant;
      }
      req.plan = claimless_plan_;
      req.video = true;
    }
    grant.refusal = Entitle(plans_, req, &e);
    return grant;
  }

  std::string ClaimedUser(std::string_view username) const override {
    if (username.size() > kMaxUsernameLength) return {};
    if (use_auth_secret_) {
      if (auto rest = ParseRestUsername(username, separator_)) {
        if (LooksLikeClaims(rest->rest)) {
          internal::ClaimsView claims;
          internal::ClaimsError error;
          if (!internal::ScanClaims(rest->rest, &claims, &error)) return {};
          return std::string(claims.user);
        }
        return std::string(rest->rest.empty() ? username : rest->rest);
      }
    }
    if (auto it = users_.find(username); it != users_.end()) return it->first;
    return {};
  }

 private:
  using UserMap = std::unordered_map<std::string, Key, StringHash, std::equal_to<>>;
  enum class Kind : uint8_t { kClaims, kClaimless, kStatic };

  // What a username resolves to at `now`: the Lookup() steps of entitlement_authenticator.h, as
  // views into the username and this authenticator, without allocating.
  struct Resolved {
    LookupStatus status = LookupStatus::kUnknownUser;
    Kind kind = Kind::kClaimless;
    std::string_view rest;                          // REST <rest> part
    internal::ClaimsView claims;                    // kClaims
    std::array<uint8_t, kMaxCandidates> secrets{};  // candidate i is secrets_[secrets[i]]
    size_t count = 0;
    UserMap::const_iterator user;  // kStatic
  };

  Resolved Resolve(std::string_view username, int64_t now) const {
    Resolved r;
    if (username.size() > kMaxUsernameLength) {
      r.status = LookupStatus::kMalformed;
      return r;
    }
    if (use_auth_secret_) {
      if (auto rest = ParseRestUsername(username, separator_)) {
        r.status = CheckExpiry(rest->expiry, now);
        if (r.status != LookupStatus::kOk) return r;
        r.rest = rest->rest;
        if (LooksLikeClaims(r.rest)) {
          internal::ClaimsError error;
          if (!internal::ScanClaims(r.rest, &r.claims, &error)) {
            r.status = LookupStatus::kMalformed;
            return r;
          }
          r.kind = Kind::kClaims;
        }
        // Configured order, so a candidate index means the same secret in Lookup and Authorize.
        for (size_t i = 0; i < secrets_.size() && r.count < kMaxCandidates; ++i) {
          const PreparedSecret& s = secrets_[i];
          if (!s.ActiveAt(now)) continue;
          // With claims, k= (or its absence) names the secret; claimless: any may have signed.
          if (r.kind == Kind::kClaims && s.key_id != r.claims.key_id) continue;
          r.secrets[r.count++] = static_cast<uint8_t>(i);
        }
        r.status = r.count == 0 ? LookupStatus::kUnknownKey : LookupStatus::kOk;
        return r;
      }
    }
    if (auto it = users_.find(username); it != users_.end()) {
      r.status = LookupStatus::kOk;
      r.kind = Kind::kStatic;
      r.user = it;
      return r;
    }
    r.status = use_auth_secret_ && LooksLikeRest(username) ? LookupStatus::kMalformed
                                                           : LookupStatus::kUnknownUser;
    return r;
  }

  static Grant Refuse(Refusal refusal) {
    Grant g;
    g.refusal = refusal;
    return g;
  }

  LookupStatus CheckExpiry(int64_t expiry, int64_t now) const {
    if (expiry < now) return LookupStatus::kExpired;
    // Here now <= expiry, so with now >= 0 the difference cannot overflow.
    if (max_rest_lifetime_ > 0 && now >= 0 && expiry - now > max_rest_lifetime_) {
      return LookupStatus::kMalformed;
    }
    return LookupStatus::kOk;
  }

  bool LooksLikeRest(std::string_view username) const {
    if (username.find(separator_) != std::string_view::npos) return true;
    const char c = username.empty() ? '\0' : username.front();
    return (c >= '0' && c <= '9') || c == '+' || c == '-';
  }

  const std::string realm_;
  const bool use_auth_secret_;
  const char separator_;
  const int64_t max_rest_lifetime_;
  const Plans plans_;
  const std::string claimless_plan_;
  std::vector<PreparedSecret> secrets_;
  UserMap users_;
};

}  // namespace

AuthConfig::User MakeUserWithPassword(std::string_view name, std::string_view realm,
                                      std::string_view password) {
  return {std::string(name), LongTermKey(name, realm, password)};
}

std::optional<AuthConfig::User> MakeUserWithKey(std::string_view name, std::string_view hex_key) {
  if (hex_key.size() >= 2 && hex_key[0] == '0' && (hex_key[1] == 'x' || hex_key[1] == 'X')) {
    hex_key.remove_prefix(2);
  }
  AuthConfig::User user{std::string(name), {}};
  if (hex_key.size() != 2 * user.key.bytes.size()) return std::nullopt;
  for (size_t i = 0; i < user.key.bytes.size(); ++i) {
    const int hi = HexValue(hex_key[2 * i]);
    const int lo = HexValue(hex_key[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    user.key.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return user;
}

std::string ValidateAuthConfig(const AuthConfig& config) {
  if (config.realm.empty()) return "realm is empty";
  if (config.use_auth_secret) {
    if (config.secrets.empty()) return "use-auth-secret is set but no secret is given";
    if (config.separator >= '0' && config.separator <= '9') {
      return "rest-api-separator must not be a digit";
    }
  }
  if (config.secrets.size() > kMaxCandidates) {
    return "more than " + std::to_string(kMaxCandidates) + " secrets";
  }
  std::unordered_set<std::string_view> key_ids;
  for (const Secret& s : config.secrets) {
    if (s.value.empty()) return "a secret is empty";
    if (!s.key_id.empty() && !IsValidKeyId(s.key_id)) {
      return "a secret's key id is not [A-Za-z0-9_-]{1,16}";
    }
    if (!s.key_id.empty() && !key_ids.insert(s.key_id).second) {
      return "key id '" + s.key_id + "' is given to two secrets";
    }
  }
  if (config.max_rest_lifetime_seconds < 0) return "maximum REST credential lifetime is negative";
  std::unordered_set<std::string_view> names;
  for (const AuthConfig::User& u : config.users) {
    if (u.name.empty()) return "a static user has an empty name";
    if (u.name.size() > kMaxUsernameLength) {
      return "a static user name is longer than " + std::to_string(kMaxUsernameLength) + " bytes";
    }
    if (!names.insert(u.name).second) return "static user listed twice";
  }
  if (!config.claimless_plan.empty() && !config.plans.Has(config.claimless_plan)) {
    return "claimless-plan '" + config.claimless_plan + "' is not a plan in the plans table";
  }
  return {};
}

std::unique_ptr<Authenticator> MakeEntitlementAuthenticator(AuthConfig config) {
  if (!ValidateAuthConfig(config).empty()) return nullptr;
  return std::make_unique<EntitlementAuthenticator>(std::move(config));
}

}  // namespace cv::auth
