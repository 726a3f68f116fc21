// The admin API's reports (docs/admin-api.md "Reports"), computed from cvadmin's call sessions
// (AdminStore) and the relays' usage ledger (auth::UsageStore, read-only; may be absent).
//
// Each function validates nothing about HTTP: the window and options arrive parsed. A failure of
// the store or of the ledger is a refusal (503 STORE_UNAVAILABLE) in the Reply.
//
// Choices the doc leaves open: shares and minutes are rounded half up on integers (10.175 min is
// 10.18); breakdowns (by_plan, by_network, by_size) list most calls first, ties by key; relay time
// is joined to a session by id, looking up in the store the sessions that started before the
// window; a plan or network that has only relay time gets a row with 0 calls.
//
// Threading: call from one thread (the stores are single-connection).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "admin/service/reply.h"
#include "admin/store/admin_store.h"
#include "cv/auth/usage_store.h"

namespace cv::admin {

struct ReportWindow {
  int64_t from_ms = 0;  // inclusive
  int64_t to_ms = 0;    // exclusive
};

// `usage` may be nullptr (no usage-db): relay fields (top_users included) are null and
// "usage_ledger" false. `top`: how many top_users at most. top_users' relayed_calls are the
// ledger's calls (a claimless allocation is a call of its own).
Reply CallQualityReport(AdminStore& store, auth::UsageStore* usage, const ReportWindow& window,
                        size_t top);

enum class UsagePeriod { kDay, kMonth };
// JSON as documented; `csv` true: the body is {"csv": "<text>"} (the server sends the text):
// lines end with "\n", a user with a comma, quote or line break is quoted (RFC 4180), and relay
// fields are empty without a ledger. The relay fields are the ledger's daily rows of every UTC day
// the window touches (a window starting mid-day gets that whole day: the ledger keeps nothing
// finer per day). `user` empty: every user.
Reply UsageReport(AdminStore& store, auth::UsageStore* usage, const ReportWindow& window,
                  UsagePeriod period, std::string_view user, bool csv);

// Group calls (kind "group") started in the window. participants: the sum of their group sizes;
// average_group_size: participants / calls, 2 decimals, null without calls; relayed: connected
// and relayed, as in Call Quality; relay time: the ledger's of group sessions, by its plan.
Reply GroupCallsReport(AdminStore& store, auth::UsageStore* usage, const ReportWindow& window);

// counts: (source, reason) → failures since `since_s` (from AdminMetrics::AuthFailures()).
// "reasons" always has the documented reasons (0 when none) and any other reason with a count;
// "by_source" always has request, service and token, each with its non-zero reasons.
Reply TokenHealthReport(const std::map<std::pair<std::string, std::string>, uint64_t>& counts,
                        int64_t since_s);

}  // namespace cv::admin
