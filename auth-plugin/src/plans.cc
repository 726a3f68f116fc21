#include "cv/auth/plans.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "cv/auth/claims.h"

namespace cv::auth {

namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// Every plan lists each of these; the file may set no other. In the order ToJson() prints them.
constexpr std::string_view kFeatures[] = {"approved_contacts_only", "external_links", "recording",
                                          "transcription",          "large_uploads",  "exports"};
// The built-in plans, in the order ToJson() prints them (others follow by name).
constexpr std::string_view kBuiltinPlans[] = {"free", "trial", "pro", "business", "founder"};

// A plans file is far smaller than this; a bigger one is a mistake, not a table.
constexpr size_t kMaxPlansFileSize = 1 << 20;

void SetFeatures(PlanPolicy* p, bool approved_contacts_only, bool external_links, bool recording,
                 bool transcription, bool large_uploads, bool exports) {
  p->features = {{"approved_contacts_only", approved_contacts_only},
                 {"external_links", external_links},
                 {"recording", recording},
                 {"transcription", transcription},
                 {"large_uploads", large_uploads},
                 {"exports", exports}};
}

void SetRelay(PlanPolicy* p, uint32_t monthly_minutes, uint32_t per_user, uint32_t per_peer,
              uint32_t audio, uint32_t video, uint32_t large_group) {
  p->relay.monthly_relay_minutes = monthly_minutes;
  p->relay.max_allocations_per_user = per_user;
  p->relay.allocations_per_peer = per_peer;
  p->relay.bandwidth.audio_kbps = audio;
  p->relay.bandwidth.video_kbps = video;
  p->relay.bandwidth.large_group_kbps = large_group;
  p->relay.bandwidth.large_group_above = 4;
}

// The product spec's table (shared/DESIGN.md "Plans and entitlements"); config/plans.json is this
// table written out, and a test keeps the two equal.
PlanPolicy FreePlan() {
  PlanPolicy p;
  p.name = std::string(kFreePlan);
  p.turn_relay = false;
  p.video = VideoPolicy::kDirectOnly;
  p.group_size = 1;
  p.call_ids = 1;
  p.max_call_duration_s = 600;
  p.calls_per_day = 2;
  p.call_seconds_per_month = 1800;
  p.call_attempts_per_hour = 5;
  p.failed_starts_per_day = 10;
  SetFeatures(&p, /*approved_contacts_only=*/true, /*external_links=*/false, /*recording=*/false,
              /*transcription=*/false, /*large_uploads=*/false, /*exports=*/false);
  SetRelay(&p, 0, 0, 0, 0, 0, 0);
  p.relay.abuse_guard.enabled = false;
  return p;
}

// A paying plan: relays, video always, no daily or monthly call limits.
PlanPolicy RelayingPlan(std::string name, uint32_t group_size, uint32_t call_ids,
                        uint32_t max_call_duration_s) {
  PlanPolicy p;
  p.name = std::move(name);
  p.turn_relay = true;
  p.video = VideoPolicy::kAlways;
  p.group_size = group_size;
  p.call_ids = call_ids;
  p.max_call_duration_s = max_call_duration_s;
  p.calls_per_day = 0;
  p.call_seconds_per_month = 0;
  p.call_attempts_per_hour = 0;
  p.failed_starts_per_day = 0;
  p.relay.abuse_guard.enabled = false;
  return p;
}

const PlanPolicy& FallbackFreePlan() {
  // For a Plans that was never filled in (Plans{}): Find() must still return Free.
  static const PlanPolicy& plan = *new PlanPolicy(FreePlan());
  return plan;
}

// A key as it appears in an error's path: as is when it is a plain name, else JSON-quoted so a
// control byte or a dot in it cannot confuse the message.
std::string PathKey(const std::string& key) {
  bool plain = !key.empty();
  for (char c : key) {
    plain = plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-');
  }
  return plain ? key : Json(key).dump(-1, ' ', true, Json::error_handler_t::replace);
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? PathKey(key) : path + "." + PathKey(key);
}

// First pass over the text: syntax errors with their line and column, and repeated keys, which
// the DOM parser would otherwise resolve silently (the last one wins).
class StrictSax final : public nlohmann::json_sax<Json> {
 public:
  const std::string& error() const { return error_; }

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    objects_.emplace_back();
    return true;
  }
  bool key(string_t& key) override {
    Object& top = objects_.back();
    top.current = key;
    if (!top.keys.insert(key).second) {
      std::string path;
      for (const Object& o : objects_) path = Join(path, o.current);
      error_ = path + ": repeated key";
      return false;
    }
    return true;
  }
  bool end_object() override {
    objects_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    // "[json.exception.parse_error.101] parse error at line 3, column 5: …": keep from "parse".
    std::string_view what = ex.what();
    if (const size_t end = what.find("] "); end != std::string_view::npos) {
      what.remove_prefix(end + 2);
    }
    error_ = std::string(what);
    return false;
  }

 private:
  struct Object {
    std::set<std::string> keys;
    std::string current;
  };
  std::vector<Object> objects_;
  std::string error_;
};

// Reads the DOM into a Plans, checking every type itself (nothing here may throw).
class Reader {
 public:
  using Handler = std::function<bool(const Json&, const std::string& path)>;
  using Field = std::pair<std::string_view, Handler>;

  Reader(std::string_view source, std::string* error) : source_(source), error_(error) {}

  bool Fail(const std::string& path, std::string_view what) {
    if (error_ != nullptr) {
      *error_ = std::string(source_) + ": " + (path.empty() ? "" : path + ": ") + std::string(what);
    }
    return false;
  }

  // `j` must be an object whose every key is one of `fields`.
  bool Object(const Json& j, const std::string& path, std::initializer_list<Field> fields) {
    const auto* obj = j.get_ptr<const Json::object_t*>();
    if (obj == nullptr) return Fail(path, "expected an object");
    for (const auto& [key, value] : *obj) {
      const std::string at = Join(path, key);
      const Field* field = nullptr;
      for (const Field& f : fields) {
        if (f.first == key) field = &f;
      }
      if (field == nullptr) return Fail(at, "unknown key");
      if (!field->second(value, at)) return false;
    }
    return true;
  }

  bool Bool(const Json& j, const std::string& path, bool* out) {
    const auto* b = j.get_ptr<const Json::boolean_t*>();
    if (b == nullptr) return Fail(path, "expected true or false");
    *out = *b;
    return true;
  }

  bool U32(const Json& j, const std::string& path, uint32_t* out) {
    if (const auto* u = j.get_ptr<const Json::number_unsigned_t*>()) {
      if (*u > UINT32_MAX) return Fail(path, "more than 4294967295");
      *out = static_cast<uint32_t>(*u);
      return true;
    }
    if (j.is_number_integer()) return Fail(path, "negative");
    return Fail(path, "expected an integer");
  }

  bool Video(const Json& j, const std::string& path, VideoPolicy* out) {
    const auto* s = j.get_ptr<const Json::string_t*>();
    if (s != nullptr && *s == "always") {
      *out = VideoPolicy::kAlways;
    } else if (s != nullptr && *s == "direct_only") {
      *out = VideoPolicy::kDirectOnly;
    } else {
      return Fail(path, "expected \"always\" or \"direct_only\"");
    }
    return true;
  }

  Handler U32Field(uint32_t* out) {
    return [this, out](const Json& j, const std::string& at) { return U32(j, at, out); };
  }
  Handler BoolField(bool* out) {
    return [this, out](const Json& j, const std::string& at) { return Bool(j, at, out); };
  }

  bool Plan(const Json& j, const std::string& path, PlanPolicy* p) {
    RelayPolicy& r = p->relay;
    BandwidthPolicy& bw = r.bandwidth;
    AbuseGuardPolicy& guard = r.abuse_guard;
    return Object(
        j, path,
        {
            {"turn_relay", BoolField(&p->turn_relay)},
            {"video",
             [this, p](const Json& v, const std::string& at) { return Video(v, at, &p->video); }},
            {"group_size", U32Field(&p->group_size)},
            {"call_ids", U32Field(&p->call_ids)},
            {"max_call_duration_s", U32Field(&p->max_call_duration_s)},
            {"calls_per_day", U32Field(&p->calls_per_day)},
            {"call_seconds_per_month", U32Field(&p->call_seconds_per_month)},
            {"call_attempts_per_hour", U32Field(&p->call_attempts_per_hour)},
            {"failed_starts_per_day", U32Field(&p->failed_starts_per_day)},
            {"features",
             [this, p](const Json& v, const std::string& at) { return Features(v, at, p); }},
            {"relay",
             [&](const Json& v, const std::string& at) {
               return Object(
                   v, at,
                   {
                       {"monthly_relay_minutes", U32Field(&r.monthly_relay_minutes)},
                       {"max_allocations_per_user", U32Field(&r.max_allocations_per_user)},
                       {"allocations_per_peer", U32Field(&r.allocations_per_peer)},
                       {"bandwidth_kbps",
                        [&](const Json& b, const std::string& b_at) {
                          return Object(b, b_at,
                                        {
                                            {"audio", U32Field(&bw.audio_kbps)},
                                            {"video", U32Field(&bw.video_kbps)},
                                            {"large_group", U32Field(&bw.large_group_kbps)},
                                        });
                        }},
                       {"large_group_above", U32Field(&bw.large_group_above)},
                       {"abuse_guard",
                        [&](const Json& g, const std::string& g_at) {
                          return Object(
                              g, g_at,
                              {
                                  {"enabled", BoolField(&guard.enabled)},
                                  {"relayed_calls", U32Field(&guard.relayed_calls)},
                                  {"window_s", U32Field(&guard.window_s)},
                                  {"capped_duration_s", U32Field(&guard.capped_duration_s)},
                                  {"penalty_s", U32Field(&guard.penalty_s)},
                              });
                        }},
                   });
             }},
        });
  }

  bool Features(const Json& j, const std::string& path, PlanPolicy* p) {
    const auto* obj = j.get_ptr<const Json::object_t*>();
    if (obj == nullptr) return Fail(path, "expected an object");
    for (const auto& [key, value] : *obj) {
      const std::string at = Join(path, key);
      auto it = p->features.find(key);
      if (it == p->features.end()) return Fail(at, "unknown key");
      if (!Bool(value, at, &it->second)) return false;
    }
    return true;
  }

 private:
  std::string_view source_;
  std::string* error_;
};

OrderedJson PlanToJson(const PlanPolicy& p) {
  OrderedJson features = OrderedJson::object();
  for (std::string_view name : kFeatures) {
    if (auto it = p.features.find(name); it != p.features.end()) features[it->first] = it->second;
  }
  for (const auto& [name, on] : p.features) {
    if (!features.contains(name)) features[name] = on;
  }
  const BandwidthPolicy& bw = p.relay.bandwidth;
  const AbuseGuardPolicy& guard = p.relay.abuse_guard;
  OrderedJson j;
  j["turn_relay"] = p.turn_relay;
  j["video"] = p.video == VideoPolicy::kAlways ? "always" : "direct_only";
  j["group_size"] = p.group_size;
  j["call_ids"] = p.call_ids;
  j["max_call_duration_s"] = p.max_call_duration_s;
  j["calls_per_day"] = p.calls_per_day;
  j["call_seconds_per_month"] = p.call_seconds_per_month;
  j["call_attempts_per_hour"] = p.call_attempts_per_hour;
  j["failed_starts_per_day"] = p.failed_starts_per_day;
  j["features"] = std::move(features);
  OrderedJson& relay = j["relay"];
  relay["monthly_relay_minutes"] = p.relay.monthly_relay_minutes;
  relay["max_allocations_per_user"] = p.relay.max_allocations_per_user;
  relay["allocations_per_peer"] = p.relay.allocations_per_peer;
  relay["bandwidth_kbps"]["audio"] = bw.audio_kbps;
  relay["bandwidth_kbps"]["video"] = bw.video_kbps;
  relay["bandwidth_kbps"]["large_group"] = bw.large_group_kbps;
  relay["large_group_above"] = bw.large_group_above;
  relay["abuse_guard"]["enabled"] = guard.enabled;
  relay["abuse_guard"]["relayed_calls"] = guard.relayed_calls;
  relay["abuse_guard"]["window_s"] = guard.window_s;
  relay["abuse_guard"]["capped_duration_s"] = guard.capped_duration_s;
  relay["abuse_guard"]["penalty_s"] = guard.penalty_s;
  return j;
}

}  // namespace

bool PlanPolicy::Feature(std::string_view name) const {
  auto it = features.find(name);
  return it != features.end() && it->second;
}

Plans Plans::Defaults() {
  Plans plans;
  auto add = [&plans](PlanPolicy p) {
    std::string name = p.name;
    plans.plans_.emplace(std::move(name), std::move(p));
  };
  add(FreePlan());

  PlanPolicy trial = RelayingPlan("trial", /*group_size=*/6, /*call_ids=*/2,
                                  /*max_call_duration_s=*/3600);
  SetFeatures(&trial, /*approved_contacts_only=*/false, /*external_links=*/true,
              /*recording=*/false, /*transcription=*/false, /*large_uploads=*/false,
              /*exports=*/false);
  SetRelay(&trial, /*monthly_minutes=*/600, /*per_user=*/12, /*per_peer=*/3, /*audio=*/128,
           /*video=*/2500, /*large_group=*/1200);
  // A trial user relaying in 2 calls within a day gets 5-minute calls for a week.
  trial.relay.abuse_guard = {/*enabled=*/true, /*relayed_calls=*/2, /*window_s=*/86400,
                             /*capped_duration_s=*/300, /*penalty_s=*/7 * 86400};
  add(std::move(trial));

  PlanPolicy pro = RelayingPlan("pro", 6, 2, 0);
  SetFeatures(&pro, false, true, true, true, true, true);
  SetRelay(&pro, 6000, 12, 3, 256, 4000, 1500);
  add(std::move(pro));

  PlanPolicy business = RelayingPlan("business", 10, 5, 0);
  SetFeatures(&business, false, true, true, true, true, true);
  SetRelay(&business, 0, 30, 3, 256, 6000, 2000);
  add(std::move(business));

  PlanPolicy founder = RelayingPlan("founder", 0, 0, 0);
  SetFeatures(&founder, false, true, true, true, true, true);
  SetRelay(&founder, 0, 30, 3, 256, 8000, 2500);
  add(std::move(founder));
  return plans;
}

std::optional<Plans> Plans::Load(const std::string& path, std::string* error) {
  auto fail = [&](std::string_view what) {
    if (error != nullptr) *error = path + ": " + std::string(what);
    return std::nullopt;
  };
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return fail(std::strerror(errno));
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) {
    text.append(buf, n);
    if (text.size() > kMaxPlansFileSize) break;
  }
  const bool read_error = std::ferror(f) != 0;
  std::fclose(f);
  if (read_error) return fail("read error");
  if (text.size() > kMaxPlansFileSize) return fail("larger than 1 MiB");
  return Parse(text, path, error);
}

std::optional<Plans> Plans::Parse(std::string_view json_text, std::string_view source,
                                  std::string* error) {
  Reader reader(source, error);
  StrictSax sax;
  if (!Json::sax_parse(json_text.begin(), json_text.end(), &sax)) {
    reader.Fail("", sax.error());
    return std::nullopt;
  }
  const Json root = Json::parse(json_text.begin(), json_text.end(), nullptr,
                                /*allow_exceptions=*/false);
  if (root.is_discarded()) {  // not expected once the SAX pass accepted the text
    reader.Fail("", "not valid JSON");
    return std::nullopt;
  }

  Plans plans = Defaults();
  bool has_version = false;
  const bool ok =
      reader.Object(root, "",
                    {
                        {"version",
                         [&](const Json& v, const std::string& at) {
                           const auto* u = v.get_ptr<const Json::number_unsigned_t*>();
                           if (u == nullptr || *u != 1) return reader.Fail(at, "expected 1");
                           has_version = true;
                           return true;
                         }},
                        {"plans",
                         [&](const Json& v, const std::string& at) {
                           const auto* obj = v.get_ptr<const Json::object_t*>();
                           if (obj == nullptr) return reader.Fail(at, "expected an object");
                           for (const auto& [name, plan] : *obj) {
                             const std::string plan_at = Join(at, name);
                             if (!IsValidPlanName(name)) {
                               return reader.Fail(plan_at, "plan name is not [a-z0-9_-]{1,16}");
                             }
                             // A new plan starts from Free; a built-in one from itself.
                             auto it = plans.plans_.find(name);
                             if (it == plans.plans_.end()) {
                               PlanPolicy base = FreePlan();
                               base.name = name;
                               it = plans.plans_.emplace(name, std::move(base)).first;
                             }
                             if (!reader.Plan(plan, plan_at, &it->second)) return false;
                           }
                           return true;
                         }},
                    });
  if (!ok) return std::nullopt;
  if (!has_version) {
    reader.Fail("version", "missing (expected 1)");
    return std::nullopt;
  }
  return plans;
}

const PlanPolicy& Plans::Find(std::string_view name) const {
  if (auto it = plans_.find(name); it != plans_.end()) return it->second;
  if (auto it = plans_.find(kFreePlan); it != plans_.end()) return it->second;
  return FallbackFreePlan();
}

bool Plans::Has(std::string_view name) const { return plans_.find(name) != plans_.end(); }

std::vector<std::string> Plans::Names() const {
  std::vector<std::string> names;
  names.reserve(plans_.size());
  for (const auto& [name, plan] : plans_) names.push_back(name);
  return names;
}

std::string Plans::ToJson() const {
  OrderedJson table = OrderedJson::object();
  for (std::string_view name : kBuiltinPlans) {
    if (auto it = plans_.find(name); it != plans_.end()) table[it->first] = PlanToJson(it->second);
  }
  for (const auto& [name, plan] : plans_) {
    if (!table.contains(name)) table[name] = PlanToJson(plan);
  }
  OrderedJson root;
  root["version"] = 1;
  root["plans"] = std::move(table);
  return root.dump(2, ' ', false, OrderedJson::error_handler_t::replace) + "\n";
}

}  // namespace cv::auth
