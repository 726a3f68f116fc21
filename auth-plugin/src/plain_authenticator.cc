#include "cv/auth/plain_authenticator.h"

#include <functional>
#include <unordered_map>
#include <utility>

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

class PlainAuthenticator final : public Authenticator {
 public:
  explicit PlainAuthenticator(PlainAuthConfig config)
      : realm_(std::move(config.realm)),
        use_auth_secret_(config.use_auth_secret),
        separator_(config.separator),
        max_rest_lifetime_(config.max_rest_lifetime_seconds) {
    secrets_.reserve(config.secrets.size());
    for (const std::string& s : config.secrets) secrets_.emplace_back(s);
    users_.reserve(config.users.size());
    for (PlainAuthConfig::User& u : config.users) users_.emplace(std::move(u.name), u.key);
  }

  std::string_view realm() const override { return realm_; }

  LookupStatus Lookup(std::string_view username, int64_t now, Candidates* out) const override {
    out->count = 0;
    if (username.size() > kMaxUsernameLength) return LookupStatus::kMalformed;
    if (use_auth_secret_) {
      if (auto rest = ParseRestUsername(username, separator_)) {
        if (LookupStatus s = CheckExpiry(rest->expiry, now); s != LookupStatus::kOk) return s;
        for (const RestSecret& secret : secrets_) {
          out->keys[out->count++] = secret.KeyFor(username, realm_);
        }
        return LookupStatus::kOk;
      }
    }
    if (auto it = users_.find(username); it != users_.end()) {
      out->keys[0] = it->second;
      out->count = 1;
      return LookupStatus::kOk;
    }
    if (use_auth_secret_ && LooksLikeRest(username)) return LookupStatus::kMalformed;
    return LookupStatus::kUnknownUser;
  }

  Grant Authorize(std::string_view username, size_t key_index, int64_t now) const override {
    Grant g;
    if (username.size() > kMaxUsernameLength) return Refuse("malformed username");
    if (use_auth_secret_) {
      if (auto rest = ParseRestUsername(username, separator_)) {
        if (key_index >= secrets_.size()) return Refuse("no such key");
        if (CheckExpiry(rest->expiry, now) != LookupStatus::kOk) return Refuse("expired");
        g.user = std::string(rest->rest.empty() ? username : rest->rest);
        return g;
      }
    }
    if (auto it = users_.find(username); it != users_.end() && key_index == 0) {
      g.user = it->first;
      return g;
    }
    return Refuse("unknown user");
  }

 private:
  static Grant Refuse(const char* reason) {
    Grant g;
    g.allowed = false;
    g.refusal_reason = reason;
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

  std::string realm_;
  bool use_auth_secret_;
  char separator_;
  int64_t max_rest_lifetime_;
  std::vector<RestSecret> secrets_;
  std::unordered_map<std::string, Key, StringHash, std::equal_to<>> users_;
};

}  // namespace

PlainAuthConfig::User MakeUserWithPassword(std::string_view name, std::string_view realm,
                                           std::string_view password) {
  return {std::string(name), LongTermKey(name, realm, password)};
}

std::optional<PlainAuthConfig::User> MakeUserWithKey(std::string_view name,
                                                     std::string_view hex_key) {
  if (hex_key.size() >= 2 && hex_key[0] == '0' && (hex_key[1] == 'x' || hex_key[1] == 'X')) {
    hex_key.remove_prefix(2);
  }
  PlainAuthConfig::User user{std::string(name), {}};
  if (hex_key.size() != 2 * user.key.bytes.size()) return std::nullopt;
  for (size_t i = 0; i < user.key.bytes.size(); ++i) {
    const int hi = HexValue(hex_key[2 * i]);
    const int lo = HexValue(hex_key[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    user.key.bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return user;
}

std::string ValidatePlainAuthConfig(const PlainAuthConfig& config) {
  if (config.realm.empty()) return "realm is empty";
  if (config.use_auth_secret) {
    if (config.secrets.empty()) return "use-auth-secret is set but no static-auth-secret is given";
    if (config.secrets.size() > kMaxCandidates) {
      return "more than " + std::to_string(kMaxCandidates) + " static-auth-secret values";
    }
    for (const std::string& s : config.secrets) {
      if (s.empty()) return "a static-auth-secret is empty";
    }
    if (config.separator >= '0' && config.separator <= '9') {
      return "rest-api-separator must not be a digit";
    }
  }
  if (config.max_rest_lifetime_seconds < 0) return "maximum REST credential lifetime is negative";
  std::unordered_map<std::string_view, int> seen;
  for (const PlainAuthConfig::User& u : config.users) {
    if (u.name.empty()) return "a static user has an empty name";
    if (u.name.size() > kMaxUsernameLength) return "a static user name is longer than 512 bytes";
    if (++seen[u.name] > 1) return "static user listed twice";
  }
  return {};
}

std::unique_ptr<Authenticator> MakePlainAuthenticator(PlainAuthConfig config) {
  if (!ValidatePlainAuthConfig(config).empty()) return nullptr;
  return std::make_unique<PlainAuthenticator>(std::move(config));
}

}  // namespace cv::auth
