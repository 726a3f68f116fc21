// `cvctl reports …` and `cvctl audit`: docs/admin-api.md "Reports" and "The audit log".
#include <memory>

#include "admin/ctl/arguments.h"
#include "admin/ctl/commands.h"

namespace cv::ctl {
namespace {

struct ReportOptions {
  std::string from, to, period, user;
  int top = 0;
  bool csv = false;
};

struct AuditOptions {
  std::string since, actor, target;
  int limit = 0;
};

std::string Unix(const std::string& time) {
  return time.empty() ? "" : std::to_string(*ParseTime(time, nullptr));
}

std::string Count(int n) { return n > 0 ? std::to_string(n) : ""; }

// --from and --to: a window of UTC time, the 7 days before now by default.
void AddWindow(CLI::App* command, ReportOptions* o) {
  command->add_option("--from", o->from, "Start of the window, inclusive (default: 7 days ago)")
      ->type_name("TIME")
      ->check(TimeCheck());
  command->add_option("--to", o->to, "End of the window, exclusive (default: now)")
      ->type_name("TIME")
      ->check(TimeCheck());
}

}  // namespace

void AddReportCommands(CLI::App& app, CommandContext& ctx) {
  CLI::App* reports =
      AddGroup(app, "reports", "Reports: call quality, usage, group calls, token health");

  auto quality = std::make_shared<ReportOptions>();
  CLI::App* call_quality = reports->add_subcommand(
      "call-quality",
      "Calls, connected, relayed and direct shares, relay minutes, top users by relay time, by "
      "plan and by network");
  AddWindow(call_quality, quality.get());
  call_quality->add_option("--top", quality->top, "How many top users, 1-100 (default 10)")
      ->check(CLI::PositiveNumber);
  OnRun(call_quality, ctx, [o = quality] {
    ApiCall call;
    call.target = Target("/admin/reports/call-quality",
                         {{"from", Unix(o->from)}, {"to", Unix(o->to)}, {"top", Count(o->top)}});
    return call;
  });

  auto usage = std::make_shared<ReportOptions>();
  CLI::App* usage_command = reports->add_subcommand(
      "usage", "Calls, call seconds and relay use per user per UTC day or month");
  usage_command->add_option("--period", usage->period, "day (default) or month")
      ->check(CLI::IsMember({"day", "month"}));
  AddWindow(usage_command, usage.get());
  usage_command->add_option("--user", usage->user, "Only this user")->type_name("ID");
  usage_command->add_flag("--csv", usage->csv, "Print CSV, as the server writes it");
  OnRun(usage_command, ctx, [o = usage] {
    ApiCall call;
    call.target = Target("/admin/reports/usage", {{"period", o->period},
                                                  {"from", Unix(o->from)},
                                                  {"to", Unix(o->to)},
                                                  {"user", o->user},
                                                  {"format", o->csv ? "csv" : ""}});
    call.csv = o->csv;
    return call;
  });

  auto group = std::make_shared<ReportOptions>();
  CLI::App* group_calls = reports->add_subcommand(
      "group-calls", "Group calls: participants, average group size, minutes, by plan and size");
  AddWindow(group_calls, group.get());
  OnRun(group_calls, ctx, [o = group] {
    ApiCall call;
    call.target =
        Target("/admin/reports/group-calls", {{"from", Unix(o->from)}, {"to", Unix(o->to)}});
    return call;
  });

  OnRun(reports->add_subcommand(
            "token-health",
            "Verification failures since cvadmin started, by reason and by where they happened"),
        ctx, [] {
          ApiCall call;
          call.target = "/admin/reports/token-health";
          return call;
        });

  auto audit_options = std::make_shared<AuditOptions>();
  CLI::App* audit =
      app.add_subcommand("audit", "The audit log of changes, newest first: who did what to whom");
  audit->add_option("--since", audit_options->since, "Only entries from this time on")
      ->type_name("TIME")
      ->check(TimeCheck());
  audit->add_option("--actor", audit_options->actor, "Only this token name's entries")
      ->type_name("NAME");
  audit
      ->add_option("--target", audit_options->target,
                   "Only entries about this user, session "
                   "or key")
      ->type_name("ID");
  audit->add_option("--limit", audit_options->limit, "How many entries, 1-10000 (default 100)")
      ->check(CLI::PositiveNumber);
  OnRun(audit, ctx, [o = audit_options] {
    ApiCall call;
    call.target = Target("/admin/audit", {{"since", Unix(o->since)},
                                          {"actor", o->actor},
                                          {"target", o->target},
                                          {"limit", Count(o->limit)}});
    return call;
  });
}

}  // namespace cv::ctl
