#include "admin/service/reports.h"

#include <algorithm>
#include <array>
#include <functional>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cv/auth/usage.h"
#include "relay/common/log.h"

namespace cv::admin {

namespace {

using json = nlohmann::json;

constexpr char kUnknownNetwork[] = "unknown";

// The token-health reasons always listed (docs/admin-api.md), and the sources always shown.
constexpr std::array<std::string_view, 8> kAuthReasons = {
    "expired",     "skew",      "replay",  "bad_signature",
    "unknown_key", "malformed", "missing", "not_yours"};
constexpr std::array<std::string_view, 3> kAuthSources = {"request", "service", "token"};

// Rounding is done on integers (half up), so 10.175 minutes is 10.18 whatever the binary
// fraction of 10.175 is: `units` of 1/scale in num/den.
uint64_t RoundedUnits(uint64_t num, uint64_t den, uint64_t scale) {
  return (num * scale * 2 + den) / (den * 2);
}

// relayed / (relayed + direct) to 4 decimals, and its complement; null when nothing was routed.
json RelayedShare(uint64_t relayed, uint64_t direct) {
  if (relayed + direct == 0) return nullptr;
  return static_cast<double>(RoundedUnits(relayed, relayed + direct, 10000)) / 10000.0;
}
json DirectShare(uint64_t relayed, uint64_t direct) {
  if (relayed + direct == 0) return nullptr;
  return static_cast<double>(10000 - RoundedUnits(relayed, relayed + direct, 10000)) / 10000.0;
}

double Minutes(uint64_t ms) { return static_cast<double>(RoundedUnits(ms, 60000, 100)) / 100.0; }
double Seconds(uint64_t ms) { return static_cast<double>(ms) / 1000.0; }
// participants / calls to 2 decimals; null without calls.
json Average(uint64_t participants, uint64_t calls) {
  if (calls == 0) return nullptr;
  return static_cast<double>(RoundedUnits(participants, calls, 100)) / 100.0;
}

std::string NetworkOf(const CallSession& s) {
  return s.network.empty() ? kUnknownNetwork : s.network;
}

enum class Route { kNotConnected, kRelayed, kDirect, kUnknown };

// docs/admin-api.md "Call Quality": of the connected sessions, relayed (a relay route at least
// once), direct (only host/srflx/prflx), unknown (no route report).
Route RouteOf(const CallSession& s) {
  if (s.connected_ms == 0) return Route::kNotConnected;
  if (s.relayed || s.route == "relay") return Route::kRelayed;
  if (s.route == "host" || s.route == "srflx" || s.route == "prflx") return Route::kDirect;
  return Route::kUnknown;
}

json WindowSeconds(const ReportWindow& window) {
  return {{"from", window.from_ms / 1000}, {"to", window.to_ms / 1000}};
}

Reply Unavailable(const char* report, const char* what, const std::string& error) {
  CV_WARN("admin.report_failed", "report=%s what=%s error=%s", report, what,
          log::Quote(error, 200).c_str());
  return Reply::Refuse(StoreUnavailable(what));
}

// Sorts breakdown rows most calls first, ties by key.
template <typename Key, typename Tally>
std::vector<std::pair<Key, Tally>> ByCalls(std::unordered_map<Key, Tally> tallies) {
  std::vector<std::pair<Key, Tally>> rows(std::make_move_iterator(tallies.begin()),
                                          std::make_move_iterator(tallies.end()));
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    if (a.second.calls != b.second.calls) return a.second.calls > b.second.calls;
    return a.first < b.first;
  });
  return rows;
}

// The ledger's per-session totals of the allocations that started in a window, each joined to
// cvadmin's call session of the same id: Match() while visiting the window's sessions, then
// Resolve() looks up the rest (sessions that started before the window) one by one.
class LedgerJoin {
 public:
  struct Row {
    auth::SessionUsage usage;
    bool resolved = false;
    bool known = false;  // cvadmin has the session; the fields below are its
    std::string network = kUnknownNetwork;
    CallKind kind = CallKind::kDirect;
  };

  bool Load(auth::UsageStore& usage, const ReportWindow& window, std::string* error) {
    auto sessions = usage.Sessions(window.from_ms, window.to_ms, error);
    if (!sessions) return false;
    rows_.reserve(sessions->size());
    for (auth::SessionUsage& s : *sessions) {
      Row row;
      row.usage = std::move(s);
      row.resolved = row.usage.session.empty();  // claimless: no cvadmin session
      if (!row.resolved) by_session_.emplace(row.usage.session, rows_.size());
      rows_.push_back(std::move(row));
    }
    return true;
  }

  void Match(const CallSession& s) {
    auto [begin, end] = by_session_.equal_range(s.id);
    for (auto it = begin; it != end; ++it) Join(s, rows_[it->second]);
  }

  StoreStatus Resolve(AdminStore& store, std::string* error) {
    for (Row& row : rows_) {
      if (row.resolved) continue;
      CallSession s;
      const StoreStatus status = store.FindSession(row.usage.session, &s, error);
      if (status == StoreStatus::kError) return status;
      if (status == StoreStatus::kOk) {
        Match(s);
      } else {
        auto [begin, end] = by_session_.equal_range(row.usage.session);
        for (auto it = begin; it != end; ++it) rows_[it->second].resolved = true;
      }
    }
    return StoreStatus::kOk;
  }

  const std::vector<Row>& rows() const { return rows_; }

 private:
  static void Join(const CallSession& s, Row& row) {
    row.resolved = true;
    row.known = true;
    row.network = NetworkOf(s);
    row.kind = s.kind;
  }

  std::vector<Row> rows_;
  std::unordered_multimap<std::string, size_t> by_session_;
};

// Loads and joins the ledger for a report; nullopt when `usage` is nullptr. On failure `failed`
// holds the refusal.
std::optional<LedgerJoin> JoinLedger(AdminStore& store, auth::UsageStore* usage,
                                     const ReportWindow& window, const char* report,
                                     const std::function<void(const CallSession&)>& visit,
                                     std::optional<Reply>* failed) {
  std::optional<LedgerJoin> ledger;
  std::string error;
  if (usage != nullptr) {
    ledger.emplace();
    if (!ledger->Load(*usage, window, &error)) {
      *failed = Unavailable(report, "usage ledger", error);
      return std::nullopt;
    }
  }
  StoreStatus status = store.ForEachSession(
      window.from_ms, window.to_ms,
      [&](const CallSession& s) {
        visit(s);
        if (ledger) ledger->Match(s);
      },
      &error);
  if (status == StoreStatus::kOk && ledger) status = ledger->Resolve(store, &error);
  if (status != StoreStatus::kOk) {
    *failed = Unavailable(report, "call sessions", error);
    return std::nullopt;
  }
  return ledger;
}

struct RouteTally {
  uint64_t calls = 0, connected = 0, relayed = 0, direct = 0, unknown_route = 0;
  uint64_t relayed_ms = 0;  // the ledger's

  void Add(const CallSession& s) {
    ++calls;
    switch (RouteOf(s)) {
      case Route::kNotConnected:
        return;
      case Route::kRelayed:
        ++relayed;
        break;
      case Route::kDirect:
        ++direct;
        break;
      case Route::kUnknown:
        ++unknown_route;
        break;
    }
    ++connected;
  }

  // A by_plan / by_network row (without the key).
  json Row(bool ledger) const {
    return {{"calls", calls},
            {"connected", connected},
            {"relayed", relayed},
            {"direct", direct},
            {"relayed_share", RelayedShare(relayed, direct)},
            {"relay_minutes", ledger ? json(Minutes(relayed_ms)) : json(nullptr)}};
  }
};

struct UserRelay {
  uint64_t relayed_ms = 0;
  uint64_t calls = 0;
};

std::string CsvField(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + '"';
}

}  // namespace

Reply CallQualityReport(AdminStore& store, auth::UsageStore* usage, const ReportWindow& window,
                        size_t top) {
  RouteTally all;
  std::unordered_map<std::string, RouteTally> by_plan, by_network;
  std::optional<Reply> failed;
  std::optional<LedgerJoin> ledger = JoinLedger(
      store, usage, window, "call-quality",
      [&](const CallSession& s) {
        all.Add(s);
        by_plan[s.plan].Add(s);
        by_network[NetworkOf(s)].Add(s);
      },
      &failed);
  if (failed) return std::move(*failed);

  json body = WindowSeconds(window);
  body["usage_ledger"] = ledger.has_value();
  body["calls"] = all.calls;
  body["connected"] = all.connected;
  body["relayed"] = all.relayed;
  body["direct"] = all.direct;
  body["unknown_route"] = all.unknown_route;
  body["relayed_share"] = RelayedShare(all.relayed, all.direct);
  body["direct_share"] = DirectShare(all.relayed, all.direct);

  if (ledger) {
    // Relay time: by the ledger's user and plan, and by the network of cvadmin's session.
    std::unordered_map<std::string, UserRelay> users;
    for (const LedgerJoin::Row& row : ledger->rows()) {
      const auth::UsageTotals& t = row.usage.totals;
      all.relayed_ms += t.relayed_ms;
      by_plan[row.usage.plan].relayed_ms += t.relayed_ms;
      by_network[row.network].relayed_ms += t.relayed_ms;
      UserRelay& u = users[row.usage.user];
      u.relayed_ms += t.relayed_ms;
      u.calls += t.calls;
    }
    std::vector<std::pair<std::string, UserRelay>> ranked;
    for (auto& [user, relay] : users) {
      if (relay.relayed_ms > 0) ranked.emplace_back(user, relay);
    }
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      if (a.second.relayed_ms != b.second.relayed_ms) {
        return a.second.relayed_ms > b.second.relayed_ms;
      }
      return a.first < b.first;
    });
    if (ranked.size() > top) ranked.resize(top);
    json top_users = json::array();
    for (const auto& [user, relay] : ranked) {
      top_users.push_back({{"user", user},
                           {"relay_minutes", Minutes(relay.relayed_ms)},
                           {"relayed_calls", relay.calls}});
    }
    body["relay_seconds"] = Seconds(all.relayed_ms);
    body["relay_minutes"] = Minutes(all.relayed_ms);
    body["top_users"] = std::move(top_users);
  } else {
    body["relay_seconds"] = nullptr;
    body["relay_minutes"] = nullptr;
    body["top_users"] = nullptr;
  }

  json plans = json::array();
  for (const auto& [plan, tally] : ByCalls(std::move(by_plan))) {
    json row = tally.Row(ledger.has_value());
    row["plan"] = plan;
    plans.push_back(std::move(row));
  }
  json networks = json::array();
  for (const auto& [network, tally] : ByCalls(std::move(by_network))) {
    json row = tally.Row(ledger.has_value());
    row["network"] = network;
    networks.push_back(std::move(row));
  }
  body["by_plan"] = std::move(plans);
  body["by_network"] = std::move(networks);
  return Reply::Ok(std::move(body));
}

Reply UsageReport(AdminStore& store, auth::UsageStore* usage, const ReportWindow& window,
                  UsagePeriod period, std::string_view user, bool csv) {
  struct Row {
    uint64_t calls = 0, call_seconds = 0;
    uint64_t relayed_ms = 0, bytes_to_peer = 0, bytes_to_client = 0, allocations = 0;
  };
  auto period_of = [period](int64_t ms) {
    return period == UsagePeriod::kDay ? auth::UtcDay(ms) : auth::UtcMonth(ms);
  };
  std::map<std::pair<std::string, std::string>, Row> rows;  // (period, user): ordered as shown
  std::string error;

  // The ledger's daily totals of every UTC day the window touches (a window that starts
  // mid-day gets that whole day's relay totals: the ledger keeps nothing finer per day).
  if (usage != nullptr && window.from_ms < window.to_ms) {
    auto days = usage->Daily(auth::UtcDayStartMs(window.from_ms), window.to_ms, user, &error);
    if (!days) return Unavailable("usage", "usage ledger", error);
    for (const auth::DailyUsage& d : *days) {
      Row& row = rows[{period_of(d.day_ms), d.user}];
      row.relayed_ms += d.totals.relayed_ms;
      row.bytes_to_peer += d.totals.bytes_to_peer;
      row.bytes_to_client += d.totals.bytes_to_client;
      row.allocations += d.totals.allocations;
    }
  }
  const StoreStatus status = store.ForEachSession(
      window.from_ms, window.to_ms,
      [&](const CallSession& s) {
        if (!user.empty() && s.user != user) return;
        Row& row = rows[{period_of(s.started_ms), s.user}];
        ++row.calls;
        if (s.ended_ms != 0) row.call_seconds += s.call_seconds;
      },
      &error);
  if (status != StoreStatus::kOk) return Unavailable("usage", "call sessions", error);

  const bool ledger = usage != nullptr;
  if (csv) {
    std::string text =
        "period,user,calls,call_seconds,relayed_seconds,bytes_to_peer,bytes_to_client,"
        "allocations\n";
    auto relay = [ledger](uint64_t value) { return ledger ? std::to_string(value) : ""; };
    for (const auto& [key, row] : rows) {
      text += key.first + ',' + CsvField(key.second) + ',' + std::to_string(row.calls) + ',' +
              std::to_string(row.call_seconds) + ',' +
              (ledger ? json(Seconds(row.relayed_ms)).dump() : "") + ',' +
              relay(row.bytes_to_peer) + ',' + relay(row.bytes_to_client) + ',' +
              relay(row.allocations) + '\n';
    }
    return Reply::Ok({{"csv", std::move(text)}});
  }

  json out = json::array();
  for (const auto& [key, row] : rows) {
    auto relay = [ledger](auto value) { return ledger ? json(value) : json(nullptr); };
    out.push_back({{"period", key.first},
                   {"user", key.second},
                   {"calls", row.calls},
                   {"call_seconds", row.call_seconds},
                   {"relayed_seconds", relay(Seconds(row.relayed_ms))},
                   {"bytes_to_peer", relay(row.bytes_to_peer)},
                   {"bytes_to_client", relay(row.bytes_to_client)},
                   {"allocations", relay(row.allocations)}});
  }
  json body = WindowSeconds(window);
  body["period"] = period == UsagePeriod::kDay ? "day" : "month";
  body["rows"] = std::move(out);
  return Reply::Ok(std::move(body));
}

Reply GroupCallsReport(AdminStore& store, auth::UsageStore* usage, const ReportWindow& window) {
  struct Tally {
    uint64_t calls = 0, participants = 0, call_seconds = 0, relayed_ms = 0;
  };
  Tally all;
  uint64_t connected = 0, relayed = 0;
  std::unordered_map<std::string, Tally> by_plan;
  std::unordered_map<uint32_t, Tally> by_size;
  std::optional<Reply> failed;
  std::optional<LedgerJoin> ledger = JoinLedger(
      store, usage, window, "group-calls",
      [&](const CallSession& s) {
        if (s.kind != CallKind::kGroup) return;
        const Route route = RouteOf(s);
        if (route != Route::kNotConnected) ++connected;
        if (route == Route::kRelayed) ++relayed;
        const uint64_t seconds = s.ended_ms != 0 ? s.call_seconds : 0;
        for (Tally* t : {&all, &by_plan[s.plan], &by_size[s.group_size]}) {
          ++t->calls;
          t->participants += s.group_size;
          t->call_seconds += seconds;
        }
      },
      &failed);
  if (failed) return std::move(*failed);

  if (ledger) {
    for (const LedgerJoin::Row& row : ledger->rows()) {
      if (!row.known || row.kind != CallKind::kGroup) continue;
      all.relayed_ms += row.usage.totals.relayed_ms;
      by_plan[row.usage.plan].relayed_ms += row.usage.totals.relayed_ms;
    }
  }
  auto relay_minutes = [&](uint64_t ms) { return ledger ? json(Minutes(ms)) : json(nullptr); };

  json body = WindowSeconds(window);
  body["calls"] = all.calls;
  body["connected"] = connected;
  body["participants"] = all.participants;
  body["average_group_size"] = Average(all.participants, all.calls);
  body["call_minutes"] = Minutes(all.call_seconds * 1000);
  body["relayed"] = relayed;
  body["relay_minutes"] = relay_minutes(all.relayed_ms);
  json plans = json::array();
  for (const auto& [plan, t] : ByCalls(std::move(by_plan))) {
    plans.push_back({{"plan", plan},
                     {"calls", t.calls},
                     {"call_minutes", Minutes(t.call_seconds * 1000)},
                     {"relay_minutes", relay_minutes(t.relayed_ms)},
                     {"average_group_size", Average(t.participants, t.calls)}});
  }
  json sizes = json::array();
  for (const auto& [size, t] : ByCalls(std::move(by_size))) {
    sizes.push_back({{"group_size", size}, {"calls", t.calls}});
  }
  body["by_plan"] = std::move(plans);
  body["by_size"] = std::move(sizes);
  return Reply::Ok(std::move(body));
}

Reply TokenHealthReport(const std::map<std::pair<std::string, std::string>, uint64_t>& counts,
                        int64_t since_s) {
  std::map<std::string, uint64_t> reasons;
  std::map<std::string, std::map<std::string, uint64_t>> by_source;
  for (std::string_view reason : kAuthReasons) reasons[std::string(reason)] = 0;
  for (std::string_view source : kAuthSources) by_source[std::string(source)];
  uint64_t total = 0;
  for (const auto& [key, count] : counts) {
    if (count == 0) continue;
    const auto& [source, reason] = key;
    reasons[reason] += count;
    by_source[source][reason] += count;
    total += count;
  }
  json sources = json::object();
  for (const auto& [source, by_reason] : by_source) sources[source] = json(by_reason);
  return Reply::Ok(
      {{"since", since_s}, {"reasons", reasons}, {"by_source", sources}, {"total", total}});
}

}  // namespace cv::admin
