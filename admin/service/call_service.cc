#include "admin/service/call_service.h"

#include <algorithm>
#include <utility>

#include "admin/token/base64url.h"
#include "admin/token/ed25519.h"
#include "cv/auth/claims.h"
#include "cv/auth/mint.h"
#include "cv/auth/usage.h"
#include "relay/common/hex.h"
#include "relay/common/log.h"

namespace cv::admin {

namespace {

using json = nlohmann::json;

constexpr int64_t kDayMs = 86400 * 1000;
constexpr int64_t kHourMs = 3600 * 1000;
constexpr int64_t kPruneEveryMs = 60 * 1000;
constexpr uint32_t kMaxGroupSize = auth::kMaxGroupSize;
constexpr std::string_view kFreePlanName = auth::kFreePlan;

// Every end reason a session can have (metric labels, GET /v1/call-sessions/{id}).
constexpr char kEndClient[] = "client";
constexpr char kEndDuration[] = "duration_limit";
constexpr char kEndMonthly[] = "monthly_limit";
constexpr char kEndHeartbeat[] = "heartbeat_timeout";

bool IsId(std::string_view id, size_t max = auth::kMaxUserIdLength) {
  return auth::IsValidId(id, max);
}

std::string Lower(std::string_view code) {
  std::string out(code);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

int64_t SecondsUntil(int64_t from_ms, int64_t to_ms) {
  return std::max<int64_t>(1, (to_ms - from_ms + 999) / 1000);
}

// A string member, or an error naming it.
bool ReadString(const json& body, const char* name, bool required, size_t max, std::string* out,
                std::string* error) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    if (required) *error = std::string("\"") + name + "\" is required";
    return !required;
  }
  if (!it->is_string() || it->get_ref<const std::string&>().empty() ||
      !IsId(it->get_ref<const std::string&>(), max)) {
    *error = std::string("\"") + name + "\" must be 1-" + std::to_string(max) +
             " characters from [A-Za-z0-9._@+-]";
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

Refusal Forbidden(const char* code, std::string detail, int64_t retry_after_s = 0) {
  return Refusal{403, code, std::move(detail), retry_after_s, nullptr};
}

const char* RouteName(std::string_view route) {
  for (const char* r : {"host", "srflx", "prflx", "relay"}) {
    if (route == r) return r;
  }
  return nullptr;
}

const char* NetworkName(std::string_view network) {
  for (const char* n : {"wifi", "cellular", "ethernet", "unknown"}) {
    if (network == n) return n;
  }
  return nullptr;
}

}  // namespace

std::string RandomId() { return RandomHex(16); }

CallService::CallService(AdminStore& store, const Clock& clock, AdminMetrics& metrics, KeyRing keys,
                         auth::Plans plans, std::vector<auth::Secret> turn_secrets,
                         ServiceOptions options)
    : store_(store),
      clock_(clock),
      metrics_(metrics),
      keys_(std::move(keys)),
      plans_(std::move(plans)),
      turn_secrets_(std::move(turn_secrets)),
      options_(std::move(options)),
      jwks_(token::Jwks(keys_.verify)) {}

bool CallService::Start(std::string* error) {
  std::vector<CallSession> sessions;
  if (store_.LiveSessions(&sessions, error) != StoreStatus::kOk) return false;
  const int64_t now = clock_.UnixNowMs();
  for (CallSession& s : sessions) {
    Live live;
    live.last_event_ms = now;
    const auto& plan = plans_.Find(s.plan);
    live.cap_reason =
        (plan.max_call_duration_s != 0 && plan.max_call_duration_s <= s.max_duration_s)
            ? kEndDuration
            : (s.max_duration_s != 0 ? kEndMonthly : kEndDuration);
    std::string id = s.id;
    live.session = std::move(s);
    live_.emplace(std::move(id), std::move(live));
  }
  return true;
}

bool CallService::StoreReachable() {
  User ignored;
  std::string error;
  return store_.FindUser("readyz-probe", &ignored, &error) != StoreStatus::kError;
}

Reply CallService::StoreFailed(const char* what) {
  metrics_.StoreError();
  return Refuse(StoreUnavailable(what));
}

uint64_t CallService::LiveCallSeconds(std::string_view user, int64_t now_ms) const {
  uint64_t total = 0;
  for (const auto& [id, live] : live_) {
    const CallSession& s = live.session;
    if (s.user != user || s.connected_ms == 0 || live.end_pending) continue;
    total += static_cast<uint64_t>(std::max<int64_t>(0, now_ms - s.connected_ms) / 1000);
  }
  return total;
}

json CallService::EntitlementsJson(const auth::PlanPolicy& plan, const CallCounts& counts,
                                   uint64_t live_seconds) const {
  auto left = [](uint64_t limit, uint64_t used) -> json {
    if (limit == 0) return nullptr;  // no limit
    return used >= limit ? 0 : limit - used;
  };
  json features = json::object();
  for (const auto& [name, on] : plan.features) features[name] = on;
  const uint64_t month_used = counts.call_seconds_month + live_seconds;
  return {{"plan", plan.name},
          {"turn_relay", plan.turn_relay},
          {"video", plan.video == auth::VideoPolicy::kAlways ? "always" : "direct_only"},
          {"group_calls", plan.group_size != 1},
          {"group_size", plan.group_size},
          {"call_ids", plan.call_ids},
          {"max_call_duration_s", plan.max_call_duration_s},
          {"calls_per_day", plan.calls_per_day},
          {"calls_left_today", left(plan.calls_per_day, counts.calls_started_today)},
          {"call_seconds_per_month", plan.call_seconds_per_month},
          {"call_seconds_left_this_month", left(plan.call_seconds_per_month, month_used)},
          {"call_attempts_per_hour", plan.call_attempts_per_hour},
          {"failed_starts_per_day", plan.failed_starts_per_day},
          {"features", std::move(features)}};
}

json CallService::SessionJson(const CallSession& s, int64_t now) const {
  json out = {{"id", s.id},
              {"call_id", s.line},
              {"kind", CallKindName(s.kind)},
              {"plan", s.plan},
              {"allow_turn", s.allow_turn},
              {"allow_video", s.allow_video},
              {"group_size", s.group_size},
              {"max_duration_s", s.max_duration_s},
              {"started_at", s.started_ms / 1000},
              {"connected_at", s.connected_ms == 0 ? json(nullptr) : json(s.connected_ms / 1000)},
              {"reconnects", s.reconnects},
              {"route", s.route.empty() ? json(nullptr) : json(s.route)},
              {"network", s.network.empty() ? json(nullptr) : json(s.network)}};
  if (!s.callee.empty()) out["callee"] = s.callee;
  if (s.ended_ms != 0) {
    out["state"] = "ended";
    out["ended_at"] = s.ended_ms / 1000;
    out["end_reason"] = s.end_reason;
    out["call_seconds"] = s.call_seconds;
  } else {
    out["state"] = s.connected_ms != 0 ? "connected" : "started";
    const int64_t base = s.connected_ms != 0 ? s.connected_ms : s.started_ms;
    out["ends_in_s"] = s.max_duration_s == 0
                           ? json(nullptr)
                           : json(std::max<int64_t>(
                                 0, (base + int64_t{s.max_duration_s} * 1000 - now + 999) / 1000));
  }
  return out;
}

std::string CallService::MintToken(const CallSession& s, int64_t now, int64_t* expires) {
  *expires = now + options_.token_ttl_s;
  json claims = {{"iss", options_.issuer},
                 {"sub", s.user},
                 {"sid", s.id},
                 {"call_id", s.line},
                 {"plan", s.plan},
                 {"allow_turn", s.allow_turn},
                 {"allow_video", s.allow_video},
                 {"group_size", s.group_size},
                 {"max_duration_s", s.max_duration_s},
                 {"iat", now},
                 {"exp", *expires},
                 {"jti", RandomId()}};
  return token::SignJwt(claims, keys_.signing);
}

Reply CallService::RefuseStart(const User& user, const auth::PlanPolicy& plan, Refusal refusal,
                               bool record) {
  metrics_.CallStart(plan.name, Lower(refusal.code));
  if (record) {
    std::string error;
    if (store_.RecordAttempt(user.id, clock_.UnixNowMs(), /*failed=*/true, refusal.code, &error) !=
        StoreStatus::kOk) {
      metrics_.StoreError();
    }
  }
  return Refuse(std::move(refusal));
}

Reply CallService::StartCall(const User& user, const json& body) {
  if (!body.is_object()) return Refuse(BadRequest("the body must be a JSON object"));
  auth::PlanPolicy plan;
  Reply failure;
  if (!EffectivePlan(user, clock_.UnixNowMs(), &plan, &failure)) return failure;
  if (auto banned = Banned(user.id, clock_.UnixNowMs())) return *banned;

  // The request: {"call_id": …, "kind": "direct"|"group"|"external_link", "callee": …,
  //               "group_size": n, "video": bool}
  std::string error, line, callee;
  if (!ReadString(body, "call_id", true, auth::kMaxLineLength, &line, &error)) {
    return Refuse(BadRequest(error));
  }
  CallKind kind = CallKind::kDirect;
  if (auto it = body.find("kind"); it != body.end()) {
    auto parsed = it->is_string() ? ParseCallKind(it->get<std::string>()) : std::nullopt;
    if (!parsed) return Refuse(BadRequest("\"kind\" must be direct, group or external_link"));
    kind = *parsed;
  }
  uint32_t group_size = 2;
  if (kind == CallKind::kGroup) {
    auto it = body.find("group_size");
    if (it == body.end() || !it->is_number_integer() || it->get<int64_t>() < 3 ||
        it->get<int64_t>() > kMaxGroupSize) {
      return Refuse(BadRequest("a group call needs \"group_size\" 3-" +
                               std::to_string(kMaxGroupSize) + " (participants, you included)"));
    }
    group_size = static_cast<uint32_t>(it->get<int64_t>());
  }
  if (kind == CallKind::kDirect) {
    if (!ReadString(body, "callee", true, auth::kMaxUserIdLength, &callee, &error)) {
      return Refuse(BadRequest(error));
    }
    if (callee == user.id) return Refuse(BadRequest("a call needs someone else to call"));
  }
  bool video = false;
  if (auto it = body.find("video"); it != body.end()) {
    if (!it->is_boolean()) return Refuse(BadRequest("\"video\" must be true or false"));
    video = it->get<bool>();
  }

  const int64_t now_ms = clock_.UnixNowMs();
  CallCounts counts;
  if (store_.Counts(user.id, now_ms, &counts, &error) != StoreStatus::kOk) {
    return StoreFailed("call counts");
  }
  const int64_t next_day_ms = auth::UtcDayStartMs(now_ms) + kDayMs;

  // Limits on trying: not recorded as attempts, so hammering cannot grow the store.
  if (plan.call_attempts_per_hour != 0 &&
      counts.attempts_last_hour >= plan.call_attempts_per_hour) {
    Refusal r{429, code::kLimitCallAttempts,
              "your plan allows " + std::to_string(plan.call_attempts_per_hour) +
                  " call attempts per hour",
              SecondsUntil(now_ms, counts.oldest_attempt_in_hour_ms + kHourMs), nullptr};
    return RefuseStart(user, plan, std::move(r), false);
  }
  if (plan.failed_starts_per_day != 0 && counts.failed_starts_today >= plan.failed_starts_per_day) {
    return RefuseStart(user, plan,
                       Forbidden(code::kLimitFailedStarts,
                                 "too many calls could not start today (" +
                                     std::to_string(plan.failed_starts_per_day) +
                                     " per UTC day); try again tomorrow",
                                 SecondsUntil(now_ms, next_day_ms)),
                       false);
  }

  // What the call is.
  if (kind == CallKind::kGroup && plan.group_size == 1) {
    return RefuseStart(
        user, plan, Forbidden(code::kGroupCallsNotAllowed, "your plan has no group calls"), true);
  }
  if (kind == CallKind::kGroup && plan.group_size != 0 && group_size > plan.group_size) {
    return RefuseStart(user, plan,
                       Forbidden(code::kGroupTooLarge, "your plan allows groups of up to " +
                                                           std::to_string(plan.group_size)),
                       true);
  }
  if (kind == CallKind::kExternalLink && !plan.Feature("external_links")) {
    return RefuseStart(
        user, plan,
        Forbidden(code::kExternalLinksNotAllowed, "your plan has no external call links"), true);
  }
  LineClaim claim = LineClaim::kOwned;
  if (store_.ClaimLine(user.id, line, plan.call_ids, now_ms, &claim, &error) != StoreStatus::kOk) {
    return StoreFailed("call ids");
  }
  if (claim == LineClaim::kTaken || claim == LineClaim::kFull) {
    return RefuseStart(
        user, plan,
        Forbidden(code::kCallIdNotAllowed,
                  claim == LineClaim::kTaken ? "this Call ID belongs to another user"
                                             : "your plan allows " + std::to_string(plan.call_ids) +
                                                   " Call ID(s), and they are in use"),
        true);
  }
  if (kind == CallKind::kDirect) {
    // A Free callee only takes calls from approved contacts too; an unknown one counts as Free
    // (and is refused the same way, so the answer does not tell who exists).
    User callee_user;
    StoreStatus found = store_.FindUser(callee, &callee_user, &error);
    if (found == StoreStatus::kError) return StoreFailed("users");
    auth::PlanPolicy callee_plan = plans_.Find(kFreePlanName);
    if (found == StoreStatus::kOk && !EffectivePlan(callee_user, now_ms, &callee_plan, &failure)) {
      return failure;
    }
    if (plan.Feature("approved_contacts_only") || callee_plan.Feature("approved_contacts_only")) {
      bool mutual = false;
      if (store_.MutuallyApproved(user.id, callee, &mutual, &error) != StoreStatus::kOk) {
        return StoreFailed("contacts");
      }
      if (!mutual) {
        return RefuseStart(user, plan,
                           Forbidden(code::kNotApprovedContact,
                                     "calls on this plan are between contacts who approved each "
                                     "other"),
                           true);
      }
    }
  }
  if (plan.calls_per_day != 0 && counts.calls_started_today >= plan.calls_per_day) {
    return RefuseStart(
        user, plan,
        Forbidden(code::kLimitDailyCalls,
                  "your plan allows " + std::to_string(plan.calls_per_day) + " calls per UTC day",
                  SecondsUntil(now_ms, next_day_ms)),
        true);
  }
  const uint64_t month_used = counts.call_seconds_month + LiveCallSeconds(user.id, now_ms);
  if (plan.call_seconds_per_month != 0 && month_used >= plan.call_seconds_per_month) {
    return RefuseStart(user, plan,
                       Forbidden(code::kLimitMonthlyMinutes,
                                 "your plan's " + std::to_string(plan.call_seconds_per_month / 60) +
                                     " call minutes this UTC month are used up",
                                 SecondsUntil(now_ms, auth::UtcNextMonthStartMs(now_ms))),
                       true);
  }

  // Started.
  CallSession s;
  s.id = RandomId();
  s.user = user.id;
  s.line = line;
  s.kind = kind;
  s.callee = callee;
  s.group_size = group_size;
  s.plan = plan.name;
  s.allow_turn = plan.turn_relay;
  s.allow_video = video;  // Free: video goes direct only, and Free never relays
  s.started_ms = now_ms;
  const char* cap_reason = kEndDuration;
  s.max_duration_s = plan.max_call_duration_s;
  if (plan.call_seconds_per_month != 0) {
    const auto left = static_cast<uint32_t>(plan.call_seconds_per_month - month_used);
    if (s.max_duration_s == 0 || left < s.max_duration_s) {
      s.max_duration_s = left;
      cap_reason = kEndMonthly;
    }
  }
  if (store_.InsertSession(s, &error) != StoreStatus::kOk) return StoreFailed("call sessions");
  if (store_.RecordAttempt(user.id, now_ms, /*failed=*/false, "", &error) != StoreStatus::kOk) {
    metrics_.StoreError();
  }
  metrics_.CallStart(plan.name, "started");

  int64_t token_expires = 0;
  std::string token = MintToken(s, now_ms / 1000, &token_expires);
  if (token.empty())
    return Refuse(Refusal{500, "INTERNAL", "the token could not be signed", 0, {}});

  ++counts.calls_started_today;
  json reply = {
      {"session_id", s.id},
      {"token", token},
      {"token_expires_at", token_expires},
      {"allow_turn", s.allow_turn},
      {"max_duration_s", s.max_duration_s},
      {"heartbeat_interval_s", options_.heartbeat_interval_s},
      {"heartbeat_timeout_s", options_.heartbeat_timeout_s},
      {"iceServers", json::array({{{"urls", options_.stun_urls}}})},
      {"entitlements", EntitlementsJson(plan, counts, month_used - counts.call_seconds_month)}};
  Live live;
  live.session = std::move(s);
  live.last_event_ms = now_ms;
  live.cap_reason = cap_reason;
  live_.emplace(live.session.id, std::move(live));
  CV_INFO("call.started", "plan=%s kind=%s", plan.name.c_str(), CallKindName(kind));
  return Reply::Ok(std::move(reply), 201);
}

Reply CallService::TurnCredentials(const User& user, const json& body) {
  auth::PlanPolicy current;
  Reply failure;
  if (!EffectivePlan(user, clock_.UnixNowMs(), &current, &failure)) return failure;
  if (auto banned = Banned(user.id, clock_.UnixNowMs())) return *banned;
  auto it = body.is_object() ? body.find("token") : body.end();
  if (it == body.end() || !it->is_string()) {
    return Refuse(BadRequest("\"token\" (the call session token) is required"));
  }
  const int64_t now = clock_.UnixNow();
  token::TokenError error = token::TokenError::kNone;
  token::VerifyOptions verify{now, options_.token_leeway_s, options_.token_ttl_s};
  auto verified = token::VerifyJwt(it->get<std::string>(), keys_.verify, verify, &error);
  if (!verified) {
    const char* reason = token::TokenErrorName(error);
    metrics_.AuthFailure("token", reason);
    switch (error) {
      case token::TokenError::kExpired:
        return Refuse({401, code::kTokenExpired, "the call session token has expired", 0, {}});
      case token::TokenError::kUnknownKey:
        return Refuse({401, code::kUnknownKey, "the token's key (kid) is not known", 0, {}});
      case token::TokenError::kBadSignature:
        return Refuse({401, code::kBadSignature, "the token's signature does not verify", 0, {}});
      default:
        return Refuse({401,
                       code::kTokenInvalid,
                       std::string("the call session token is not valid (") + reason + ")",
                       0,
                       {}});
    }
  }
  const json& claims = verified->claims;
  auto claim_string = [&claims](const char* name) {
    auto c = claims.find(name);
    return c != claims.end() && c->is_string() ? c->get<std::string>() : std::string();
  };
  const std::string sub = claim_string("sub"), sid = claim_string("sid");
  if (sub != user.id) {
    metrics_.AuthFailure("token", "not_yours");
    return Refuse({403, code::kTokenNotYours, "this token was issued to another user", 0, {}});
  }
  auto live = live_.find(sid);
  if (live == live_.end() || live->second.end_pending) {
    return Refuse({409, code::kSessionEnded, "the call session has ended; start a new one", 0, {}});
  }
  const CallSession& s = live->second.session;
  auto allow_turn = claims.find("allow_turn");
  const bool token_allows =
      allow_turn != claims.end() && allow_turn->is_boolean() && allow_turn->get<bool>();
  // The token says what the plan was at call start; the user's plan now must still relay.
  if (!token_allows || !current.turn_relay || !s.allow_turn) {
    metrics_.TurnCredential(current.name, "turn_not_entitled");
    Refusal r{403, code::kTurnNotEntitled, kTurnNotEntitledMessage, 0, nullptr};
    r.extra = {{"message", kTurnNotEntitledMessage}, {"upgrade", true}};
    return Refuse(std::move(r));
  }
  // No relay configured, or every secret retired: refuse before the token id is spent.
  // Right after a rotation, the previous secret until every relay has read the new one.
  const bool hold = !hold_key_id_.empty() && clock_.UnixNowMs() < hold_until_ms_;
  const auth::Secret* secret = hold ? auth::PickSecret(turn_secrets_, hold_key_id_, now) : nullptr;
  if (secret == nullptr) secret = auth::PickSecret(turn_secrets_, "", now);
  if (secret == nullptr || options_.turn_urls.empty()) {
    metrics_.TurnCredential(current.name, "turn_unavailable");
    return Refuse(
        {503, "TURN_UNAVAILABLE", "no relay (TURN URL and active secret) is configured", 0, {}});
  }
  auto jti = claims.find("jti");
  auto exp = claims.find("exp");
  if (jti == claims.end() || !jti->is_string() || jti->get<std::string>().empty()) {
    metrics_.AuthFailure("token", "malformed");
    return Refuse({401, code::kTokenInvalid, "the token has no id (jti)", 0, {}});
  }
  std::string store_error;
  const int64_t keep_until_ms = (exp->get<int64_t>() + options_.token_leeway_s + 1) * 1000;
  switch (store_.UseOnce("jti", jti->get<std::string>(), keep_until_ms, &store_error)) {
    case StoreStatus::kOk:
      break;
    case StoreStatus::kConflict:
      metrics_.AuthFailure("token", "replay");
      return Refuse({401,
                     code::kTokenReplayed,
                     "this call session token was used before; reconnect for a new one",
                     0,
                     {}});
    default:
      return StoreFailed("token ids");
  }

  auth::MintRequest mint;
  auth::Claims c;
  c.key_id = secret->key_id;
  c.user = s.user;
  c.session = s.id;
  c.line = s.line;
  c.plan = s.plan;
  c.video = s.allow_video;
  c.group_size = s.group_size;
  c.max_duration_s = std::min<uint32_t>(s.max_duration_s, auth::kMaxClaimedDurationSeconds);
  mint.claims = c;
  mint.ttl_s = options_.turn_credential_ttl_s;
  std::string mint_error;
  auto credential = auth::MintCredential(mint, *secret, now, &mint_error);
  if (!credential) {
    CV_ERROR("turn.mint_failed", "why=%s", log::Quote(mint_error).c_str());
    return Refuse({500, "INTERNAL", "the TURN credential could not be minted", 0, {}});
  }
  metrics_.TurnCredential(s.plan, "issued");
  json servers = json::array();
  if (!options_.stun_urls.empty()) servers.push_back({{"urls", options_.stun_urls}});
  servers.push_back({{"urls", options_.turn_urls},
                     {"username", credential->username},
                     {"credential", credential->password}});
  return Reply::Ok({{"iceServers", std::move(servers)},
                    {"ttl", credential->ttl_s},
                    {"expires_at", credential->expires}});
}

Reply CallService::EndedReply(const CallSession& s) const {
  const char* code = s.end_reason == kEndDuration  ? code::kLimitCallDuration
                     : s.end_reason == kEndMonthly ? code::kLimitMonthlyMinutes
                                                   : code::kSessionEnded;
  Refusal r{409, code, "the call session has ended (" + s.end_reason + ")", 0, nullptr};
  r.extra = {{"end_reason", s.end_reason}, {"call_seconds", s.call_seconds}};
  return Reply::Refuse(std::move(r));
}

CallSession CallService::End(Live& live, int64_t end_ms, const char* reason) {
  CallSession& s = live.session;
  if (!live.end_pending) {
    s.ended_ms = end_ms;
    s.end_reason = reason;
    int64_t seconds =
        s.connected_ms == 0 ? 0 : std::max<int64_t>(0, end_ms - s.connected_ms) / 1000;
    if (s.max_duration_s != 0) seconds = std::min<int64_t>(seconds, s.max_duration_s);
    s.call_seconds = static_cast<uint32_t>(seconds);
    live.end_pending = true;
    metrics_.SessionEnded(s.plan, reason);
    CV_INFO("call.ended", "plan=%s reason=%s call_seconds=%u", s.plan.c_str(), reason,
            s.call_seconds);
  }
  CallSession ended = s;
  std::string error;
  StoreStatus status = store_.EndSession(s, &error);
  if (status == StoreStatus::kError) {
    metrics_.StoreError();  // kept; Sweep retries
    return ended;
  }
  live_.erase(ended.id);  // `live` and `s` are gone from here on
  return ended;
}

Reply CallService::PostEvent(const User& user, std::string_view session_id, const json& body) {
  if (!body.is_object() || !body.contains("type") || !body["type"].is_string()) {
    return Refuse(
        BadRequest("\"type\" is required: connected, reconnected, route, heartbeat or "
                   "ended"));
  }
  const std::string type = body["type"].get<std::string>();
  auto it = live_.find(session_id);
  if (it == live_.end() || it->second.session.user != user.id || it->second.end_pending) {
    CallSession stored;
    if (Reply found = FindOwnSession(user, session_id, &stored); !found.ok()) return found;
    if (it != live_.end() && it->second.end_pending) return EndedReply(it->second.session);
    return EndedReply(stored);
  }
  Live& live = it->second;
  CallSession& s = live.session;
  const int64_t now_ms = clock_.UnixNowMs();
  live.last_event_ms = now_ms;

  if (type == "connected") {
    if (s.connected_ms == 0) s.connected_ms = now_ms;
  } else if (type == "heartbeat") {
    // the time stamp above is the whole point
  } else if (type == "route") {
    const char* route = body.contains("route") && body["route"].is_string()
                            ? RouteName(body["route"].get<std::string>())
                            : nullptr;
    const char* network = body.contains("network") && body["network"].is_string()
                              ? NetworkName(body["network"].get<std::string>())
                              : (body.contains("network") ? nullptr : "unknown");
    if (route == nullptr || network == nullptr) {
      return Refuse(
          BadRequest("a route report needs \"route\" (host, srflx, prflx or relay) and "
                     "may have \"network\" (wifi, cellular, ethernet or unknown)"));
    }
    s.route = route;
    s.network = network;
    s.relayed = s.relayed || s.route == "relay";
    metrics_.RouteReport(route, network);
  } else if (type == "reconnected") {
    ++s.reconnects;
    // Limits are checked again: the plan may have changed, the month may be used up.
    auth::PlanPolicy plan;
    Reply failure;
    if (!EffectivePlan(user, now_ms, &plan, &failure)) return failure;
    CallCounts counts;
    std::string error;
    if (store_.Counts(user.id, now_ms, &counts, &error) != StoreStatus::kOk) {
      return StoreFailed("call counts");
    }
    const uint64_t used = counts.call_seconds_month + LiveCallSeconds(user.id, now_ms);
    if (plan.call_seconds_per_month != 0 && used >= plan.call_seconds_per_month) {
      return EndedReply(End(live, now_ms, kEndMonthly));
    }
    s.allow_turn = s.allow_turn && plan.turn_relay;
    s.plan = plan.name;
    int64_t expires = 0;
    std::string token = MintToken(s, now_ms / 1000, &expires);
    json reply = {
        {"session", SessionJson(s, now_ms)}, {"token", token}, {"token_expires_at", expires}};
    return Reply::Ok(std::move(reply));
  } else if (type == "ended") {
    CallSession ended = End(live, now_ms, kEndClient);
    return Reply::Ok({{"session", SessionJson(ended, now_ms)}});
  } else {
    return Refuse(
        BadRequest("unknown event type; use connected, reconnected, route, heartbeat or "
                   "ended"));
  }
  return Reply::Ok({{"session", SessionJson(s, now_ms)}});
}

Reply CallService::GetSession(const User& user, std::string_view session_id) {
  const int64_t now_ms = clock_.UnixNowMs();
  auto it = live_.find(session_id);
  if (it != live_.end() && it->second.session.user == user.id) {
    return Reply::Ok(SessionJson(it->second.session, now_ms));
  }
  CallSession stored;
  if (Reply found = FindOwnSession(user, session_id, &stored); !found.ok()) return found;
  return Reply::Ok(SessionJson(stored, now_ms));
}

Reply CallService::FindOwnSession(const User& user, std::string_view session_id, CallSession* out) {
  std::string error;
  StoreStatus found = store_.FindSession(session_id, out, &error);
  if (found == StoreStatus::kError) return StoreFailed("call sessions");
  // Someone else's session is as unknown as a missing one.
  if (found != StoreStatus::kOk || out->user != user.id) {
    return Refuse({404, code::kNotFound, "no such call session", 0, {}});
  }
  return Reply::Ok(nullptr);
}

const char* CallService::DueToEnd(const Live& live, int64_t now_ms, int64_t* end_ms) const {
  const CallSession& s = live.session;
  if (live.end_pending) {  // ended already; only the store write is being retried
    *end_ms = s.ended_ms;
    return "";
  }
  const int64_t base = s.connected_ms != 0 ? s.connected_ms : s.started_ms;
  const int64_t cap_ms = base + int64_t{s.max_duration_s} * 1000;
  if (s.max_duration_s != 0 && now_ms >= cap_ms) {
    *end_ms = cap_ms;
    return live.cap_reason;
  }
  if (now_ms - live.last_event_ms >= options_.heartbeat_timeout_s * 1000) {
    *end_ms = live.last_event_ms;  // charged up to the last sign of life, not the silence
    return kEndHeartbeat;
  }
  return nullptr;
}

void CallService::Sweep() {
  const int64_t now_ms = clock_.UnixNowMs();
  struct Due {
    std::string id;
    int64_t end_ms;
    const char* reason;
  };
  std::vector<Due> due;  // End() erases from live_, so end them after the scan
  for (const auto& [id, live] : live_) {
    int64_t end_ms = 0;
    if (const char* reason = DueToEnd(live, now_ms, &end_ms)) due.push_back({id, end_ms, reason});
  }
  for (const Due& d : due) {
    if (auto it = live_.find(d.id); it != live_.end()) End(it->second, d.end_ms, d.reason);
  }
  if (now_ms >= next_prune_ms_) {
    next_prune_ms_ = now_ms + kPruneEveryMs;
    std::string error;
    if (store_.Prune(now_ms, &error) != StoreStatus::kOk) metrics_.StoreError();
  }
}

void CallService::PublishLiveSessions() {
  std::map<std::string, double, std::less<>> per_plan;
  for (const std::string& name : plans_.Names()) per_plan[name] = 0;
  for (const auto& [id, live] : live_) {
    if (!live.end_pending) per_plan[live.session.plan] += 1;
  }
  for (const auto& [plan, count] : per_plan) metrics_.SetLiveSessions(plan, count);
}

Reply CallService::ApproveContact(const User& user, const json& body) {
  std::string contact, error;
  if (!body.is_object() ||
      !ReadString(body, "contact", true, auth::kMaxUserIdLength, &contact, &error)) {
    return Refuse(BadRequest(error.empty() ? "\"contact\" is required" : error));
  }
  if (contact == user.id) return Refuse(BadRequest("you cannot approve yourself"));
  switch (store_.Approve(user.id, contact, options_.max_contacts, clock_.UnixNowMs(), &error)) {
    case StoreStatus::kOk:
      break;
    case StoreStatus::kConflict:
      return Refuse({409,
                     code::kTooManyContacts,
                     "at most " + std::to_string(options_.max_contacts) + " contacts",
                     0,
                     {}});
    default:
      return StoreFailed("contacts");
  }
  bool mutual = false;
  if (store_.MutuallyApproved(user.id, contact, &mutual, &error) != StoreStatus::kOk) {
    return StoreFailed("contacts");
  }
  return Reply::Ok({{"contact", contact}, {"approved", true}, {"mutual", mutual}});
}

Reply CallService::RemoveContact(const User& user, std::string_view contact) {
  if (!IsId(contact)) return Refuse(BadRequest("not a user id"));
  std::string error;
  switch (store_.Remove(user.id, contact, &error)) {
    case StoreStatus::kOk:
      return Reply::Ok(nullptr, 204);
    case StoreStatus::kNotFound:
      return Refuse({404, code::kNotFound, "not in your contacts", 0, {}});
    default:
      return StoreFailed("contacts");
  }
}

Reply CallService::ListContacts(const User& user) {
  std::vector<AdminStore::Contact> contacts;
  std::string error;
  if (store_.Contacts(user.id, &contacts, &error) != StoreStatus::kOk) {
    return StoreFailed("contacts");
  }
  json list = json::array();
  for (const auto& c : contacts) list.push_back({{"contact", c.id}, {"mutual", c.mutual}});
  return Reply::Ok({{"contacts", std::move(list)}});
}

Reply CallService::Entitlements(const User& user) {
  const int64_t now_ms = clock_.UnixNowMs();
  CallCounts counts;
  std::string error;
  if (store_.Counts(user.id, now_ms, &counts, &error) != StoreStatus::kOk) {
    return StoreFailed("call counts");
  }
  auth::PlanPolicy plan;
  Reply failure;
  if (!EffectivePlan(user, now_ms, &plan, &failure)) return failure;
  return Reply::Ok(EntitlementsJson(plan, counts, LiveCallSeconds(user.id, now_ms)));
}

// --- For the admin API ---

StoreStatus LoadUserSettings(AdminStore& store, const User& user, int64_t now_ms, UserSettings* out,
                             std::string* error) {
  out->tier = user.tier;
  out->trial_ends_ms = user.trial_ends_ms;
  out->mode = user.mode;
  StoreStatus status = store.Settings(user.id, SettingKind::kFlag, &out->flags, error);
  if (status != StoreStatus::kOk) return status;
  status = store.Settings(user.id, SettingKind::kOverride, &out->overrides, error);
  if (status != StoreStatus::kOk) return status;
  return store.Grants(user.id, now_ms, /*include_ended=*/false, &out->grants, error);
}

bool CallService::EffectivePlan(const User& user, int64_t now_ms, auth::PlanPolicy* out,
                                Reply* failure) {
  UserSettings settings;
  std::string error;
  if (LoadUserSettings(store_, user, now_ms, &settings, &error) != StoreStatus::kOk) {
    *failure = StoreFailed("user settings");
    return false;
  }
  *out = Resolve(plans_, settings, now_ms).plan;
  return true;
}

std::optional<Reply> CallService::Banned(std::string_view user, int64_t now_ms) {
  Revocation r;
  std::string error;
  switch (store_.FindRevocation("user", user, &r, &error)) {
    case StoreStatus::kOk:
      break;
    case StoreStatus::kNotFound:
      return std::nullopt;
    default:
      return StoreFailed("revocations");
  }
  if (r.reason != "revoked" || r.until_ms <= now_ms) return std::nullopt;
  Refusal refusal{403, code::kUserRevoked, "this account may not place calls at the moment",
                  SecondsUntil(now_ms, r.until_ms), nullptr};
  return Refuse(std::move(refusal));
}

size_t CallService::EndLive(std::string_view user, std::string_view session_id,
                            const char* reason) {
  const int64_t now_ms = clock_.UnixNowMs();
  std::vector<std::string> ids;
  for (const auto& [id, live] : live_) {
    if (live.end_pending) continue;
    if (!session_id.empty() ? id == session_id : live.session.user == user) ids.push_back(id);
  }
  for (const std::string& id : ids) {
    if (auto it = live_.find(id); it != live_.end()) End(it->second, now_ms, reason);
  }
  return ids.size();
}

void CallService::SetRelayAllowed(std::string_view user, bool may_relay) {
  for (auto& [id, live] : live_) {
    if (live.session.user == user && !may_relay) live.session.allow_turn = false;
  }
}

void CallService::SetKeys(KeyRing keys) {
  keys_ = std::move(keys);
  jwks_ = token::Jwks(keys_.verify);
}

void CallService::SetTurnSecrets(std::vector<auth::Secret> secrets, std::string hold_key_id,
                                 int64_t hold_until_ms) {
  turn_secrets_ = std::move(secrets);
  hold_key_id_ = std::move(hold_key_id);
  hold_until_ms_ = hold_until_ms;
}

}  // namespace cv::admin
