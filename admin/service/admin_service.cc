#include "admin/service/admin_service.h"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <utility>

#include "admin/service/reports.h"
#include "admin/service/rotation.h"
#include "admin/token/base64url.h"
#include "admin/token/ed25519.h"
#include "cv/auth/claims.h"
#include "relay/common/log.h"

namespace cv::admin {

namespace {

using json = nlohmann::json;

constexpr int64_t kMaxRevokeTtlS = 2'592'000;  // 30 days, as the relays accept
constexpr int64_t kMaxGrantS = 366 * 86400;
constexpr int64_t kMinOverlapS = 60;
constexpr int64_t kMaxOverlapS = 2'592'000;
constexpr int64_t kDefaultWindowS = 7 * 86400;
constexpr size_t kMaxReasonBytes = 200;
constexpr char kRevoked[] = "revoked";
constexpr char kDowngrade[] = "downgrade";

Refusal NotFound(const std::string& what) {
  return Refusal{404, code::kNotFound, "no such " + what, 0, nullptr};
}

json Seconds(int64_t ms) { return ms == 0 ? json(nullptr) : json(ms / 1000); }

json UserJson(const User& u) {
  return {{"id", u.id},
          {"tier", u.tier},
          {"trial_ends_at", u.tier == "trial" ? Seconds(u.trial_ends_ms) : json(nullptr)},
          {"mode", u.mode},
          {"public_key",
           u.public_key.empty() ? json(nullptr) : json(token::Base64UrlEncode(u.public_key))},
          {"created_at", u.created_ms / 1000},
          {"updated_at", u.updated_ms / 1000}};
}

// Stored setting text back to JSON: booleans and numbers typed, anything else a string.
json TypedValue(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc() && end == text.data() + text.size() && !text.empty()) return n;
  return text;
}

// A JSON value as setting text ("true", "600", "pro"); false for other types.
bool ValueText(const json& value, std::string* out) {
  if (value.is_boolean()) {
    *out = value.get<bool>() ? "true" : "false";
  } else if (value.is_number_unsigned() ||
             (value.is_number_integer() && value.get<int64_t>() >= 0)) {
    *out = std::to_string(value.get<uint64_t>());
  } else if (value.is_string()) {
    *out = value.get<std::string>();
  } else {
    return false;
  }
  return true;
}

json SettingJson(const Setting& s) {
  return {{"key", s.key},
          {"value", TypedValue(s.value)},
          {"updated_at", s.updated_ms / 1000},
          {"actor", s.actor}};
}

json GrantJson(const Grant& g, int64_t now_ms) {
  return {{"id", g.id},
          {"key", g.key},
          {"value", TypedValue(g.value)},
          {"starts_at", g.starts_ms / 1000},
          {"ends_at", g.ends_ms / 1000},
          {"reason", g.reason},
          {"actor", g.actor},
          {"active", g.starts_ms <= now_ms && now_ms < g.ends_ms}};
}

json RevocationJson(const Revocation& r) {
  return {{"kind", r.kind},     {"id", r.id},       {"until", r.until_ms / 1000},
          {"reason", r.reason}, {"actor", r.actor}, {"created_at", r.created_ms / 1000}};
}

json AnswersJson(const std::vector<RelayAnswer>& answers) {
  json out = json::array();
  for (const RelayAnswer& a : answers) {
    json one = {{"relay", a.relay}, {"ok", a.ok}, {"status", a.status}};
    if (!a.ok) one["error"] = a.error;
    if (a.body.is_object() && a.body.contains("ended_allocations")) {
      one["ended_allocations"] = a.body["ended_allocations"];
    }
    out.push_back(std::move(one));
  }
  return out;
}

// An optional integer member in [min, max]; false with `error` when present and wrong.
bool ReadInt(const json& body, const char* name, int64_t min, int64_t max, int64_t* out,
             std::string* error) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return true;
  if (!it->is_number_integer() || it->get<int64_t>() < min || it->get<int64_t>() > max) {
    *error = std::string("\"") + name + "\" must be an integer from " + std::to_string(min) +
             " to " + std::to_string(max);
    return false;
  }
  *out = it->get<int64_t>();
  return true;
}

// Free text for the records: at most kMaxReasonBytes printable bytes.
bool ReadReason(const json& body, std::string* out, std::string* error) {
  auto it = body.find("reason");
  if (it == body.end() || it->is_null()) return true;
  if (!it->is_string() || it->get_ref<const std::string&>().size() > kMaxReasonBytes) {
    *error = "\"reason\" must be text of at most 200 bytes";
    return false;
  }
  for (unsigned char c : it->get_ref<const std::string&>()) {
    if (c < 0x20 || c == 0x7f) {
      *error = "\"reason\" must not contain control characters";
      return false;
    }
  }
  *out = it->get<std::string>();
  return true;
}

// A report time: Unix seconds or a UTC date YYYY-MM-DD.
bool ParseTime(const std::string& text, int64_t* out_s) {
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec == std::errc() && end == text.data() + text.size() && n >= 0) {
    *out_s = n;
    return true;
  }
  std::tm tm{};
  if (text.size() != 10 || strptime(text.c_str(), "%Y-%m-%d", &tm) != text.c_str() + 10) {
    return false;
  }
  *out_s = timegm(&tm);
  return true;
}

std::string QueryValue(const std::map<std::string, std::string>& query, const char* name) {
  auto it = query.find(name);
  return it == query.end() ? std::string() : it->second;
}

SettingLayer LayerOf(SettingKind kind) {
  return kind == SettingKind::kFlag ? SettingLayer::kFlag : SettingLayer::kOverride;
}

}  // namespace

AdminService::AdminService(AdminStore& store, CallService& calls, const Clock& clock,
                           AdminMetrics& metrics, RelayFleet* fleet, auth::UsageStore* usage,
                           AdminServiceOptions options)
    : store_(store),
      calls_(calls),
      clock_(clock),
      metrics_(metrics),
      fleet_(fleet),
      usage_(usage),
      options_(std::move(options)) {}

bool AdminService::Start(std::string* error) {
  last_sweep_ms_ = clock_.UnixNowMs();
  started_s_ = clock_.UnixNow();
  if (!PublishWanted()) {
    *error = "the store's revocations cannot be read";
    return false;
  }
  return true;
}

Reply AdminService::StoreFailed(const char* what) {
  metrics_.StoreError();
  return Reply::Refuse(StoreUnavailable(what));
}

auth::UsageStore* AdminService::Usage() {
  if (usage_ != nullptr || options_.usage_db.empty()) return usage_;
  auth::SqliteStoreOptions read_only;
  read_only.read_only = true;
  std::string error;
  opened_usage_ = auth::OpenSqliteUsageStore(options_.usage_db, read_only, &error);
  if (!opened_usage_) {
    CV_WARN("admin.usage_db_unavailable", "why=%s", log::Quote(error).c_str());
    return nullptr;
  }
  usage_ = opened_usage_.get();
  return usage_;
}

Reply AdminService::FindUser(std::string_view id, User* out) {
  if (!auth::IsValidId(id, auth::kMaxUserIdLength)) return Reply::Refuse(NotFound("user"));
  std::string error;
  switch (store_.FindUser(id, out, &error)) {
    case StoreStatus::kOk:
      return Reply::Ok(nullptr);
    case StoreStatus::kNotFound:
      return Reply::Refuse(NotFound("user"));
    default:
      return StoreFailed("users");
  }
}

StoreStatus AdminService::Resolve(const User& user, int64_t now_ms, Effective* out,
                                  std::string* error) {
  UserSettings settings;
  StoreStatus status = LoadUserSettings(store_, user, now_ms, &settings, error);
  if (status == StoreStatus::kOk) *out = cv::admin::Resolve(calls_.plans(), settings, now_ms);
  return status;
}

bool AdminService::MayRelay(const User& user, int64_t now_ms) {
  Effective effective;
  std::string error;
  if (Resolve(user, now_ms, &effective, &error) != StoreStatus::kOk) {
    metrics_.StoreError();
    return false;  // unknown counts as not relaying: revoking is the safe side
  }
  return effective.plan.turn_relay;
}

// --- Users ---

Reply AdminService::ListUsers(std::string_view tier, std::string_view after, int64_t limit) {
  if (!tier.empty() && !calls_.plans().Has(tier)) {
    return Reply::Refuse({400, code::kUnknownTier, "no plan named like that", 0, nullptr});
  }
  if (!after.empty() && !auth::IsValidId(after, auth::kMaxUserIdLength)) {
    return Reply::Refuse(BadRequest("\"after\" must be a user id"));
  }
  if (limit < 1 || limit > 1000) return Reply::Refuse(BadRequest("\"limit\" must be 1-1000"));
  std::vector<User> users;
  std::string error;
  if (store_.ListUsers(after, tier, static_cast<size_t>(limit), &users, &error) !=
      StoreStatus::kOk) {
    return StoreFailed("users");
  }
  json list = json::array();
  for (const User& u : users) list.push_back(UserJson(u));
  json next = users.size() == static_cast<size_t>(limit) ? json(users.back().id) : json(nullptr);
  return Reply::Ok({{"users", std::move(list)}, {"next_after", std::move(next)}});
}

namespace {

// "tier" and "trial_ends_at" of a body; a trial without an end gets the default length.
bool ReadTier(const json& body, const auth::Plans& plans, int64_t now_ms, int64_t default_trial_s,
              std::string* tier, int64_t* trial_ends_ms, Refusal* refusal) {
  auto it = body.find("tier");
  if (it == body.end() || !it->is_string() || !plans.Has(it->get<std::string>())) {
    std::string names;
    for (const std::string& n : plans.Names()) names += (names.empty() ? "" : ", ") + n;
    *refusal = {400, code::kUnknownTier, "\"tier\" must be one of the plans: " + names, 0, nullptr};
    return false;
  }
  *tier = it->get<std::string>();
  *trial_ends_ms = 0;
  auto end = body.find("trial_ends_at");
  if (end != body.end() && !end->is_null()) {
    if (*tier != "trial") {
      *refusal = BadRequest("\"trial_ends_at\" is only for the trial tier");
      return false;
    }
    if (!end->is_number_integer() || end->get<int64_t>() * 1000 <= now_ms ||
        end->get<int64_t>() > now_ms / 1000 + kMaxGrantS) {
      *refusal = BadRequest("\"trial_ends_at\" must be Unix seconds in the next 366 days");
      return false;
    }
    *trial_ends_ms = end->get<int64_t>() * 1000;
  } else if (*tier == "trial") {
    *trial_ends_ms = now_ms + default_trial_s * 1000;
  }
  return true;
}

bool ReadPublicKey(const json& body, bool required, std::string* out, Refusal* refusal) {
  auto key = body.find("public_key");
  if (key == body.end() || key->is_null()) {
    if (required) *refusal = BadRequest("\"public_key\" is required");
    return !required;
  }
  auto raw = key->is_string() ? token::Base64UrlDecode(key->get<std::string>()) : std::nullopt;
  if (!raw || raw->size() != token::kEd25519PublicKeyBytes) {
    *refusal = BadRequest(
        "\"public_key\" must be the 32-byte Ed25519 public key, base64url without padding (43 "
        "characters)");
    return false;
  }
  *out = *raw;
  return true;
}

}  // namespace

Reply AdminService::CreateUser(const json& body, std::string_view actor) {
  if (!body.is_object()) return Reply::Refuse(BadRequest("the body must be a JSON object"));
  User u;
  std::string error;
  auto id = body.find("id");
  if (id == body.end() || !id->is_string() ||
      !auth::IsValidId(id->get<std::string>(), auth::kMaxUserIdLength)) {
    return Reply::Refuse(BadRequest("\"id\" must be 1-64 characters from [A-Za-z0-9._@+-]"));
  }
  u.id = id->get<std::string>();
  const int64_t now_ms = clock_.UnixNowMs();
  Refusal refusal;
  if (!ReadTier(body, calls_.plans(), now_ms, options_.default_trial_s, &u.tier, &u.trial_ends_ms,
                &refusal) ||
      !ReadPublicKey(body, false, &u.public_key, &refusal)) {
    return Reply::Refuse(std::move(refusal));
  }
  if (auto mode = body.find("mode"); mode != body.end() && !mode->is_null()) {
    auto parsed = mode->is_string() ? ParseMode(mode->get<std::string>()) : std::nullopt;
    if (!parsed) {
      return Reply::Refuse(BadRequest("\"mode\" must be PERSONAL, CREATOR, BUSINESS or STAGE"));
    }
    u.mode = ModeName(*parsed);
  }
  u.created_ms = u.updated_ms = now_ms;
  switch (store_.CreateUser(u, &error)) {
    case StoreStatus::kOk:
      CV_INFO("admin.user_created", "tier=%s actor=%s", u.tier.c_str(), log::Quote(actor).c_str());
      return Reply::Ok(UserJson(u), 201);
    case StoreStatus::kConflict:
      return Reply::Refuse({409, code::kUserExists, "a user with this id exists", 0, nullptr});
    default:
      return StoreFailed("users");
  }
}

Reply AdminService::GetUser(std::string_view id) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  const int64_t now_ms = clock_.UnixNowMs();
  Effective effective;
  std::vector<std::string> lines;
  Revocation revocation;
  std::string error;
  if (Resolve(u, now_ms, &effective, &error) != StoreStatus::kOk) return StoreFailed("settings");
  if (store_.Lines(u.id, &lines, &error) != StoreStatus::kOk) return StoreFailed("call ids");
  StoreStatus revoked = store_.FindRevocation("user", u.id, &revocation, &error);
  if (revoked == StoreStatus::kError) return StoreFailed("revocations");
  json out = UserJson(u);
  out["entitlements"] = EffectiveJson(effective, u.trial_ends_ms);
  Reply limits = calls_.Entitlements(u);
  if (!limits.ok()) return limits;
  out["limits"] = std::move(limits.body);
  out["lines"] = lines;
  out["revocation"] = revoked == StoreStatus::kOk && revocation.until_ms > now_ms
                          ? RevocationJson(revocation)
                          : json(nullptr);
  return Reply::Ok(std::move(out));
}

Reply AdminService::SetKey(std::string_view id, const json& body) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  Refusal refusal;
  std::string key, error;
  if (!body.is_object() || !ReadPublicKey(body, true, &key, &refusal)) {
    return Reply::Refuse(refusal.code.empty() ? BadRequest("\"public_key\" is required")
                                              : std::move(refusal));
  }
  if (store_.SetPublicKey(u.id, key, clock_.UnixNowMs(), &error) != StoreStatus::kOk) {
    return StoreFailed("users");
  }
  CV_INFO("admin.key_set", "replaced=%s", u.public_key.empty() ? "false" : "true");
  return GetUser(id);
}

Reply AdminService::SetTier(std::string_view id, const json& body, std::string_view actor) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  if (!body.is_object()) return Reply::Refuse(BadRequest("the body must be a JSON object"));
  const int64_t now_ms = clock_.UnixNowMs();
  std::string tier, error;
  int64_t trial_ends_ms = 0;
  Refusal refusal;
  if (!ReadTier(body, calls_.plans(), now_ms, options_.default_trial_s, &tier, &trial_ends_ms,
                &refusal)) {
    return Reply::Refuse(std::move(refusal));
  }
  const bool could_relay = MayRelay(u, now_ms);
  if (store_.SetTier(u.id, tier, trial_ends_ms, now_ms, &error) != StoreStatus::kOk) {
    return StoreFailed("users");
  }
  u.tier = tier;
  u.trial_ends_ms = trial_ends_ms;
  json relays = RelayUseChanged(u, could_relay, actor);
  CV_INFO("admin.tier_set", "tier=%s", tier.c_str());
  Reply out = GetUser(id);
  if (out.ok() && !relays.empty()) out.body["relays"] = std::move(relays);
  return out;
}

Reply AdminService::SetMode(std::string_view id, const json& body) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  auto mode = body.is_object() ? body.find("mode") : body.end();
  auto parsed =
      mode != body.end() && mode->is_string() ? ParseMode(mode->get<std::string>()) : std::nullopt;
  if (!parsed) {
    return Reply::Refuse(BadRequest("\"mode\" must be PERSONAL, CREATOR, BUSINESS or STAGE"));
  }
  std::string error;
  if (store_.SetMode(u.id, ModeName(*parsed), clock_.UnixNowMs(), &error) != StoreStatus::kOk) {
    return StoreFailed("users");
  }
  return GetUser(id);
}

Reply AdminService::Entitlements(std::string_view id) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  Effective effective;
  std::string error;
  if (Resolve(u, clock_.UnixNowMs(), &effective, &error) != StoreStatus::kOk) {
    return StoreFailed("settings");
  }
  json out = EffectiveJson(effective, u.trial_ends_ms);
  out["user"] = u.id;
  return Reply::Ok(std::move(out));
}

// --- Flags and overrides ---

Reply AdminService::ListSettings(std::string_view id, SettingKind kind) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  std::vector<Setting> settings;
  std::string error;
  if (store_.Settings(u.id, kind, &settings, &error) != StoreStatus::kOk) {
    return StoreFailed("settings");
  }
  json list = json::array();
  for (const Setting& s : settings) list.push_back(SettingJson(s));
  return Reply::Ok({{kind == SettingKind::kFlag ? "flags" : "overrides", std::move(list)}});
}

Reply AdminService::PutSetting(std::string_view id, SettingKind kind, std::string_view key,
                               const json& body, std::string_view actor) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  const char* member = kind == SettingKind::kFlag ? "enabled" : "value";
  auto it = body.is_object() ? body.find(member) : body.end();
  Setting s;
  s.key = std::string(key);
  if (it == body.end() || !ValueText(*it, &s.value) ||
      (kind == SettingKind::kFlag && !it->is_boolean())) {
    return Reply::Refuse(BadRequest(kind == SettingKind::kFlag
                                        ? "the body must be {\"enabled\": true|false}"
                                        : "the body must be {\"value\": <number or text>}"));
  }
  std::string error;
  if (!ValidateSetting(calls_.plans(), LayerOf(kind), key, &s.value, &error)) {
    return Reply::Refuse({400, code::kBadSetting, error, 0, nullptr});
  }
  s.updated_ms = clock_.UnixNowMs();
  s.actor = std::string(actor);
  if (store_.PutSetting(u.id, kind, s, &error) != StoreStatus::kOk) {
    return StoreFailed("settings");
  }
  return Reply::Ok(SettingJson(s));
}

Reply AdminService::RemoveSetting(std::string_view id, SettingKind kind, std::string_view key) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  std::string error;
  switch (store_.RemoveSetting(u.id, kind, key, &error)) {
    case StoreStatus::kOk:
      return Reply::Ok(nullptr, 204);
    case StoreStatus::kNotFound:
      return Reply::Refuse(NotFound(kind == SettingKind::kFlag ? "flag" : "override"));
    default:
      return StoreFailed("settings");
  }
}

// --- Grants ---

Reply AdminService::ListGrants(std::string_view id, bool all) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  const int64_t now_ms = clock_.UnixNowMs();
  std::vector<Grant> grants;
  std::string error;
  if (store_.Grants(u.id, now_ms, all, &grants, &error) != StoreStatus::kOk) {
    return StoreFailed("grants");
  }
  json list = json::array();
  for (const Grant& g : grants) list.push_back(GrantJson(g, now_ms));
  return Reply::Ok({{"grants", std::move(list)}});
}

Reply AdminService::AddGrant(std::string_view id, const json& body, std::string_view actor) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  if (!body.is_object()) return Reply::Refuse(BadRequest("the body must be a JSON object"));
  const int64_t now_ms = clock_.UnixNowMs();
  const int64_t now_s = now_ms / 1000;
  Grant g;
  g.user = u.id;
  g.actor = std::string(actor);
  std::string error;
  auto key = body.find("key");
  auto value = body.find("value");
  if (key == body.end() || !key->is_string() || value == body.end() ||
      !ValueText(*value, &g.value)) {
    return Reply::Refuse(BadRequest("a grant needs \"key\" and \"value\""));
  }
  g.key = key->get<std::string>();
  if (!ValidateSetting(calls_.plans(), SettingLayer::kGrant, g.key, &g.value, &error)) {
    return Reply::Refuse({400, code::kBadSetting, error, 0, nullptr});
  }
  int64_t starts_s = now_s, ends_s = 0, duration_s = 0;
  if (!ReadInt(body, "starts_at", now_s - 60, now_s + kMaxGrantS, &starts_s, &error) ||
      !ReadInt(body, "ends_at", now_s + 1, now_s + 2 * kMaxGrantS, &ends_s, &error) ||
      !ReadInt(body, "duration_s", 1, kMaxGrantS, &duration_s, &error) ||
      !ReadReason(body, &g.reason, &error)) {
    return Reply::Refuse(BadRequest(error));
  }
  if ((ends_s == 0) == (duration_s == 0)) {
    return Reply::Refuse(BadRequest("give exactly one of \"ends_at\" and \"duration_s\""));
  }
  if (ends_s == 0) ends_s = starts_s + duration_s;
  if (ends_s <= starts_s || ends_s - starts_s > kMaxGrantS) {
    return Reply::Refuse(BadRequest("a grant ends after it starts, within 366 days"));
  }
  g.starts_ms = starts_s * 1000;
  g.ends_ms = ends_s * 1000;
  const bool could_relay = MayRelay(u, now_ms);
  if (store_.AddGrant(&g, &error) != StoreStatus::kOk) return StoreFailed("grants");
  CV_INFO("admin.grant_added", "key=%s ends_at=%lld", log::Quote(g.key).c_str(),
          static_cast<long long>(ends_s));
  json out = GrantJson(g, now_ms);
  json relays = RelayUseChanged(u, could_relay, actor);
  if (!relays.empty()) out["relays"] = std::move(relays);
  return Reply::Ok(std::move(out), 201);
}

Reply AdminService::RemoveGrant(std::string_view id, std::string_view grant_id,
                                std::string_view actor) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  int64_t gid = 0;
  auto [end, ec] = std::from_chars(grant_id.data(), grant_id.data() + grant_id.size(), gid);
  if (ec != std::errc() || end != grant_id.data() + grant_id.size() || gid <= 0) {
    return Reply::Refuse(NotFound("grant"));
  }
  const int64_t now_ms = clock_.UnixNowMs();
  const bool could_relay = MayRelay(u, now_ms);
  std::string error;
  switch (store_.RemoveGrant(u.id, gid, &error)) {
    case StoreStatus::kOk:
      break;
    case StoreStatus::kNotFound:
      return Reply::Refuse(NotFound("grant"));
    default:
      return StoreFailed("grants");
  }
  RelayUseChanged(u, could_relay, actor);
  return Reply::Ok(nullptr, 204);
}

// --- Call IDs ---

Reply AdminService::ListLines(std::string_view id) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  auth::PlanPolicy plan;
  Reply failure;
  if (!calls_.EffectivePlan(u, clock_.UnixNowMs(), &plan, &failure)) return failure;
  std::vector<std::string> lines;
  std::string error;
  if (store_.Lines(u.id, &lines, &error) != StoreStatus::kOk) return StoreFailed("call ids");
  return Reply::Ok({{"lines", lines}, {"max", plan.call_ids}});
}

Reply AdminService::AddLine(std::string_view id, const json& body) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  auto line = body.is_object() ? body.find("call_id") : body.end();
  if (line == body.end() || !line->is_string() ||
      !auth::IsValidId(line->get<std::string>(), auth::kMaxLineLength)) {
    return Reply::Refuse(BadRequest("\"call_id\" must be 1-" +
                                    std::to_string(auth::kMaxLineLength) +
                                    " characters from [A-Za-z0-9._@+-]"));
  }
  const int64_t now_ms = clock_.UnixNowMs();
  auth::PlanPolicy plan;
  Reply failure;
  if (!calls_.EffectivePlan(u, now_ms, &plan, &failure)) return failure;
  LineClaim claim = LineClaim::kOwned;
  std::string error;
  if (store_.ClaimLine(u.id, line->get<std::string>(), plan.call_ids, now_ms, &claim, &error) !=
      StoreStatus::kOk) {
    return StoreFailed("call ids");
  }
  if (claim == LineClaim::kTaken) {
    return Reply::Refuse(
        {409, code::kCallIdTaken, "this Call ID belongs to another user", 0, nullptr});
  }
  if (claim == LineClaim::kFull) {
    return Reply::Refuse({409, code::kLinesFull,
                          "the user's plan allows " + std::to_string(plan.call_ids) +
                              " Call ID(s), and they are in use",
                          0, nullptr});
  }
  std::vector<std::string> lines;
  if (store_.Lines(u.id, &lines, &error) != StoreStatus::kOk) return StoreFailed("call ids");
  return Reply::Ok(
      {{"call_id", line->get<std::string>()}, {"lines", lines}, {"max", plan.call_ids}},
      claim == LineClaim::kClaimed ? 201 : 200);
}

Reply AdminService::RemoveLine(std::string_view id, std::string_view line) {
  User u;
  if (Reply found = FindUser(id, &u); !found.ok()) return found;
  std::string error;
  switch (store_.ReleaseLine(u.id, line, &error)) {
    case StoreStatus::kOk:
      return Reply::Ok(nullptr, 204);
    case StoreStatus::kNotFound:
      return Reply::Refuse(NotFound("Call ID of this user"));
    default:
      return StoreFailed("call ids");
  }
}

// --- Revocations ---

json AdminService::SendRevocation(const Revocation& r) {
  if (fleet_ == nullptr) return json::array();
  return AnswersJson(fleet_->Revoke({r.kind, r.id, r.until_ms}));
}

bool AdminService::PublishWanted() {
  std::vector<Revocation> active;
  std::string error;
  if (store_.ActiveRevocations(clock_.UnixNowMs(), &active, &error) != StoreStatus::kOk) {
    metrics_.StoreError();
    CV_ERROR("admin.revocations_unreadable", "why=%s", log::Quote(error).c_str());
    return false;
  }
  if (fleet_ == nullptr) return true;
  std::vector<WantedRevocation> wanted;
  for (const Revocation& r : active) wanted.push_back({r.kind, r.id, r.until_ms});
  fleet_->SetWanted(std::move(wanted));
  return true;
}

json AdminService::RelayUseChanged(const User& user, bool could_relay, std::string_view actor) {
  const int64_t now_ms = clock_.UnixNowMs();
  const bool can_relay = MayRelay(user, now_ms);
  if (can_relay == could_relay) return json::array();
  std::string error;
  Revocation existing;
  StoreStatus found = store_.FindRevocation("user", user.id, &existing, &error);
  if (found == StoreStatus::kError) metrics_.StoreError();
  if (!can_relay) {
    calls_.SetRelayAllowed(user.id, false);
    Revocation r{"user",
                 user.id,
                 now_ms + (calls_.turn_credential_ttl_s() + 60) * 1000,
                 kDowngrade,
                 std::string(actor),
                 now_ms};
    if (found == StoreStatus::kOk && existing.reason == kRevoked) {  // a ban stays a ban
      r.reason = kRevoked;
      r.actor = existing.actor;
      r.created_ms = existing.created_ms;
      r.until_ms = std::max(r.until_ms, existing.until_ms);
    }
    if (store_.PutRevocation(r, &error) != StoreStatus::kOk) metrics_.StoreError();
    CV_INFO("admin.relay_revoked", "reason=downgrade relays=%zu",
            fleet_ == nullptr ? size_t{0} : fleet_->size());
    json answers = SendRevocation(r);
    PublishWanted();
    return answers;
  }
  // Relay use is back: lift a downgrade revocation (an operator's ban stays).
  if (found != StoreStatus::kOk || existing.reason != kDowngrade) return json::array();
  if (store_.RemoveRevocation("user", user.id, &error) != StoreStatus::kOk) {
    metrics_.StoreError();
  }
  PublishWanted();
  CV_INFO("admin.relay_restored", "relays=%zu", fleet_ == nullptr ? size_t{0} : fleet_->size());
  return fleet_ == nullptr ? json::array() : AnswersJson(fleet_->Lift("user", user.id));
}

Reply AdminService::Revoke(std::string_view kind, std::string_view id, const json& body,
                           std::string_view actor) {
  if (!body.is_object()) return Reply::Refuse(BadRequest("the body must be a JSON object"));
  int64_t ttl_s = options_.default_revoke_ttl_s;
  std::string error, reason;
  if (!ReadInt(body, "ttl_s", 1, kMaxRevokeTtlS, &ttl_s, &error) ||
      !ReadReason(body, &reason, &error)) {
    return Reply::Refuse(BadRequest(error));
  }
  if (kind == "user") {
    User u;
    if (Reply found = FindUser(id, &u); !found.ok()) return found;
  } else {
    CallSession s;
    StoreStatus found = auth::IsValidId(id, auth::kMaxSessionIdLength)
                            ? store_.FindSession(id, &s, &error)
                            : StoreStatus::kNotFound;
    if (found == StoreStatus::kError) return StoreFailed("call sessions");
    if (found != StoreStatus::kOk) return Reply::Refuse(NotFound("call session"));
  }
  const int64_t now_ms = clock_.UnixNowMs();
  Revocation r{std::string(kind), std::string(id),    now_ms + ttl_s * 1000,
               kRevoked,          std::string(actor), now_ms};
  Revocation existing;
  if (store_.FindRevocation(kind, id, &existing, &error) == StoreStatus::kOk &&
      existing.reason == kRevoked && existing.until_ms > r.until_ms) {
    r.until_ms = existing.until_ms;  // revoking again extends, never shortens
  }
  if (store_.PutRevocation(r, &error) != StoreStatus::kOk) return StoreFailed("revocations");
  const size_t ended =
      kind == "user" ? calls_.EndLive(id, "", kRevoked) : calls_.EndLive("", id, kRevoked);
  json relays = SendRevocation(r);
  PublishWanted();
  CV_INFO("admin.revoked", "kind=%s ended_sessions=%zu", r.kind.c_str(), ended);
  return Reply::Ok(
      {{"revocation", RevocationJson(r)}, {"ended_sessions", ended}, {"relays", relays}});
}

Reply AdminService::Lift(std::string_view kind, std::string_view id) {
  Revocation existing;
  std::string error;
  switch (store_.FindRevocation(kind, id, &existing, &error)) {
    case StoreStatus::kOk:
      break;
    case StoreStatus::kNotFound:
      return Reply::Refuse(NotFound("revocation"));
    default:
      return StoreFailed("revocations");
  }
  if (store_.RemoveRevocation(kind, id, &error) == StoreStatus::kError) {
    return StoreFailed("revocations");
  }
  PublishWanted();
  json relays = fleet_ == nullptr ? json::array() : AnswersJson(fleet_->Lift(kind, id));
  return Reply::Ok({{"lifted", RevocationJson(existing)}, {"relays", std::move(relays)}});
}

Reply AdminService::ListRevocations() {
  std::vector<Revocation> active;
  std::string error;
  if (store_.ActiveRevocations(clock_.UnixNowMs(), &active, &error) != StoreStatus::kOk) {
    return StoreFailed("revocations");
  }
  json list = json::array();
  for (const Revocation& r : active) list.push_back(RevocationJson(r));
  return Reply::Ok({{"revocations", std::move(list)}});
}

Reply AdminService::GetSession(std::string_view id) {
  CallSession s;
  std::string error;
  StoreStatus found = auth::IsValidId(id, auth::kMaxSessionIdLength)
                          ? store_.FindSession(id, &s, &error)
                          : StoreStatus::kNotFound;
  if (found == StoreStatus::kError) return StoreFailed("call sessions");
  if (found != StoreStatus::kOk) return Reply::Refuse(NotFound("call session"));
  json out = calls_.SessionJson(s, clock_.UnixNowMs());
  out["user"] = s.user;
  out["relayed"] = s.relayed;
  return Reply::Ok(std::move(out));
}

Reply AdminService::Allocations(std::string_view user, std::string_view session) {
  for (std::string_view v : {user, session}) {
    if (!v.empty() && !auth::IsValidId(v, auth::kMaxUserIdLength)) {
      return Reply::Refuse(BadRequest("\"user\" and \"session\" must be ids"));
    }
  }
  json out = {{"count", 0}, {"allocations", json::array()}, {"relays", json::array()}};
  if (fleet_ == nullptr) return Reply::Ok(std::move(out));
  std::string target = "/v1/allocations";
  char sep = '?';
  if (!user.empty()) target += std::exchange(sep, '&') + std::string("user=") + std::string(user);
  if (!session.empty()) target += sep + std::string("session=") + std::string(session);
  size_t count = 0;
  for (const RelayAnswer& a : fleet_->Broadcast("GET", target)) {
    json relay = {{"relay", a.relay}, {"ok", a.ok}};
    if (a.ok && a.body.is_object() && a.body.contains("allocations") &&
        a.body["allocations"].is_array()) {
      relay["count"] = a.body["allocations"].size();
      for (json allocation : a.body["allocations"]) {
        allocation["relay"] = a.relay;
        out["allocations"].push_back(std::move(allocation));
        ++count;
      }
    } else {
      relay["error"] = a.ok ? "unexpected answer" : a.error;
    }
    out["relays"].push_back(std::move(relay));
  }
  out["count"] = count;
  return Reply::Ok(std::move(out));
}

// --- Reports ---

Reply AdminService::Report(std::string_view name, const std::map<std::string, std::string>& query) {
  if (name == "token-health") {
    return TokenHealthReport(metrics_.AuthFailures(), started_s_);
  }
  const int64_t now_s = clock_.UnixNow();
  int64_t to_s = now_s + 1, from_s = 0;  // by default up to and including this second
  const std::string from = QueryValue(query, "from"), to = QueryValue(query, "to");
  if ((!to.empty() && !ParseTime(to, &to_s)) || (!from.empty() && !ParseTime(from, &from_s))) {
    return Reply::Refuse(BadRequest("\"from\" and \"to\" are Unix seconds or YYYY-MM-DD (UTC)"));
  }
  if (from.empty()) from_s = to_s - kDefaultWindowS;
  if (from_s >= to_s) return Reply::Refuse(BadRequest("\"from\" must be before \"to\""));
  const ReportWindow window{from_s * 1000, to_s * 1000};
  if (name == "call-quality") {
    int64_t top = 10;
    const std::string text = QueryValue(query, "top");
    if (!text.empty()) {
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), top);
      if (ec != std::errc() || end != text.data() + text.size() || top < 1 || top > 100) {
        return Reply::Refuse(BadRequest("\"top\" must be 1-100"));
      }
    }
    return CallQualityReport(store_, Usage(), window, static_cast<size_t>(top));
  }
  if (name == "usage") {
    const std::string period = QueryValue(query, "period"), format = QueryValue(query, "format");
    const std::string user = QueryValue(query, "user");
    if (!period.empty() && period != "day" && period != "month") {
      return Reply::Refuse(BadRequest("\"period\" must be day or month"));
    }
    if (!format.empty() && format != "json" && format != "csv") {
      return Reply::Refuse(BadRequest("\"format\" must be json or csv"));
    }
    if (!user.empty() && !auth::IsValidId(user, auth::kMaxUserIdLength)) {
      return Reply::Refuse(BadRequest("\"user\" must be a user id"));
    }
    return UsageReport(store_, Usage(), window,
                       period == "month" ? UsagePeriod::kMonth : UsagePeriod::kDay, user,
                       format == "csv");
  }
  if (name == "group-calls") return GroupCallsReport(store_, Usage(), window);
  return Reply::Refuse(NotFound("report"));
}

// --- The audit log ---

Reply AdminService::Audit(const std::map<std::string, std::string>& query) {
  AuditFilter filter;
  const std::string since = QueryValue(query, "since"), limit = QueryValue(query, "limit");
  int64_t since_s = 0;
  if (!since.empty() && !ParseTime(since, &since_s)) {
    return Reply::Refuse(BadRequest("\"since\" is Unix seconds or YYYY-MM-DD (UTC)"));
  }
  filter.since_ms = since_s * 1000;
  if (!limit.empty()) {
    int64_t n = 0;
    auto [end, ec] = std::from_chars(limit.data(), limit.data() + limit.size(), n);
    if (ec != std::errc() || end != limit.data() + limit.size() || n < 1 || n > 10000) {
      return Reply::Refuse(BadRequest("\"limit\" must be 1-10000"));
    }
    filter.limit = static_cast<size_t>(n);
  }
  filter.actor = QueryValue(query, "actor");
  filter.target = QueryValue(query, "target");
  if (filter.actor.size() > 64 || filter.target.size() > 128) {
    return Reply::Refuse(BadRequest("\"actor\" or \"target\" is too long"));
  }
  std::vector<AuditEntry> entries;
  std::string error;
  if (store_.Audit(filter, &entries, &error) != StoreStatus::kOk) return StoreFailed("audit log");
  json list = json::array();
  for (const AuditEntry& e : entries) {
    json detail = json::parse(e.detail, nullptr, /*allow_exceptions=*/false);
    list.push_back({{"id", e.id},
                    {"at", e.at_ms / 1000},
                    {"actor", e.actor},
                    {"role", e.role},
                    {"action", e.action},
                    {"target", e.target},
                    {"detail", detail.is_discarded() ? json(e.detail) : detail},
                    {"status", e.status}});
  }
  return Reply::Ok({{"entries", std::move(list)}});
}

// --- Keys and secrets ---

Reply AdminService::Keys() {
  const KeyRing& ring = calls_.keys();
  json token_keys = json::array();
  for (const token::VerifyKey& k : ring.verify) {
    auto end = ring.not_after.find(k.kid);
    token_keys.push_back(
        {{"kid", k.kid},
         {"signing", k.kid == ring.signing.kid},
         {"not_after", end == ring.not_after.end() ? json(nullptr) : json(end->second)}});
  }
  const int64_t now_s = clock_.UnixNow();
  const auth::Secret* minting = auth::PickSecret(calls_.turn_secrets(), "", now_s);
  json secrets = json::array();
  for (const auth::Secret& s : calls_.turn_secrets()) {
    secrets.push_back({{"key_id", s.key_id.empty() ? json(nullptr) : json(s.key_id)},
                       {"minting", &s == minting},
                       {"active", s.ActiveAt(now_s)},
                       {"not_after", s.not_after == 0 ? json(nullptr) : json(s.not_after)}});
  }
  return Reply::Ok({{"token_keys", std::move(token_keys)}, {"turn_secrets", std::move(secrets)}});
}

Reply AdminService::RotateTokenKey(const json& body) {
  int64_t overlap_s = 3600;
  std::string error;
  if (!body.is_object() ||
      !ReadInt(body, "overlap_s", kMinOverlapS, kMaxOverlapS, &overlap_s, &error)) {
    return Reply::Refuse(BadRequest(error.empty() ? "the body must be a JSON object" : error));
  }
  KeyRing ring = calls_.keys();
  const std::string previous = ring.signing.kid;
  const int64_t now_s = clock_.UnixNow();
  auto kid = admin::RotateTokenKey(options_.token_key_file, overlap_s, now_s, &ring, &error);
  if (!kid) {
    CV_ERROR("admin.rotate_failed", "what=token_key why=%s", log::Quote(error).c_str());
    return Reply::Refuse(
        {500, "INTERNAL", "the new key could not be written: " + error, 0, nullptr});
  }
  auto previous_end = ring.not_after.find(previous);
  const json previous_not_after =
      previous_end == ring.not_after.end() ? json(nullptr) : json(previous_end->second);
  calls_.SetKeys(std::move(ring));
  CV_INFO("admin.token_key_rotated", "kid=%s previous=%s overlap_s=%lld", kid->c_str(),
          previous.c_str(), static_cast<long long>(overlap_s));
  Reply keys = Keys();
  return Reply::Ok({{"kid", *kid},
                    {"previous_kid", previous},
                    {"previous_not_after", previous_not_after},
                    {"token_keys", keys.body["token_keys"]}});
}

Reply AdminService::RotateTurnSecret(const json& body) {
  if (options_.auth_secrets_file.empty()) {
    return Reply::Refuse({409, code::kNotConfigured,
                          "TURN secret rotation needs auth-secrets-file (static-auth-secret "
                          "values are rotated by editing the configuration)",
                          0, nullptr});
  }
  int64_t overlap_s = 86400;
  std::string error;
  if (!body.is_object() ||
      !ReadInt(body, "overlap_s", kMinOverlapS, kMaxOverlapS, &overlap_s, &error)) {
    return Reply::Refuse(BadRequest(error.empty() ? "the body must be a JSON object" : error));
  }
  const int64_t now_ms = clock_.UnixNowMs();
  const auth::Secret* previous = auth::PickSecret(calls_.turn_secrets(), "", now_ms / 1000);
  const std::string previous_id = previous == nullptr ? "" : previous->key_id;
  auto rotation =
      admin::RotateTurnSecret(options_.auth_secrets_file, overlap_s, now_ms / 1000, &error);
  if (!rotation) {
    CV_ERROR("admin.rotate_failed", "what=turn_secret why=%s", log::Quote(error).c_str());
    return Reply::Refuse(
        {500, "INTERNAL", "the secrets file could not be rewritten: " + error, 0, nullptr});
  }
  std::vector<auth::Secret> secrets = std::move(rotation->secrets);
  for (const auth::Secret& s : calls_.turn_secrets()) {
    if (s.key_id.empty()) secrets.push_back(s);  // static-auth-secret values stay
  }
  calls_.SetTurnSecrets(std::move(secrets), previous_id, now_ms + options_.turn_propagation_ms);
  CV_INFO("admin.turn_secret_rotated", "key_id=%s previous=%s overlap_s=%lld",
          rotation->key_id.c_str(), previous_id.c_str(), static_cast<long long>(overlap_s));
  Reply keys = Keys();
  return Reply::Ok({{"key_id", rotation->key_id},
                    {"previous_key_id", previous_id.empty() ? json(nullptr) : json(previous_id)},
                    {"previous_not_after", now_ms / 1000 + overlap_s},
                    {"turn_secrets", keys.body["turn_secrets"]}});
}

// --- The clock ---

void AdminService::Sweep() {
  const int64_t now_ms = clock_.UnixNowMs();
  if (now_ms <= last_sweep_ms_) return;
  std::vector<std::string> users;
  std::string error;
  if (store_.UsersChanging(last_sweep_ms_, now_ms, &users, &error) != StoreStatus::kOk) {
    metrics_.StoreError();
    return;  // the same window is tried again next time
  }
  for (const std::string& id : users) {
    User u;
    if (store_.FindUser(id, &u, &error) != StoreStatus::kOk) continue;
    RelayUseChanged(u, MayRelay(u, last_sweep_ms_), "clock");
  }
  last_sweep_ms_ = now_ms;
  KeyRing ring = calls_.keys();
  if (!ring.not_after.empty() && PruneKeyRing(options_.token_key_file, now_ms / 1000, &ring)) {
    calls_.SetKeys(std::move(ring));
    CV_INFO("admin.token_key_retired", "keys=%zu", calls_.keys().verify.size());
  }
}

}  // namespace cv::admin
