// `cvctl revoke|revocations|sessions|allocations`: docs/admin-api.md "Revocations" and "Live
// allocations".
#include <memory>

#include "admin/ctl/arguments.h"
#include "admin/ctl/commands.h"

namespace cv::ctl {
namespace {

using Json = nlohmann::ordered_json;

struct RevokeOptions {
  std::string kind, id, ttl, reason;
};

struct AllocationFilter {
  std::string user, session;
};

std::string RevokePath(const std::string& kind, const std::string& id) {
  return (kind == "user" ? UserPath(id) : "/admin/sessions/" + PercentEncode(id)) + "/revoke";
}

void AddRevoke(CLI::App* revoke, CommandContext& ctx, const std::string& kind,
               const std::string& description, const std::string& id_name,
               const std::string& id_description) {
  auto o = std::make_shared<RevokeOptions>();
  o->kind = kind;
  CLI::App* command = revoke->add_subcommand(kind, description);
  command->add_option(id_name, o->id, id_description)->required();
  command->add_option("--ttl", o->ttl, "How long the revocation lasts, up to 30d (default 1d)")
      ->type_name("DURATION")
      ->check(DurationCheck());
  command->add_option("--reason", o->reason, "Why (kept with the revocation)");
  OnRun(command, ctx, [o] {
    ApiCall call;
    call.method = "POST";
    call.target = RevokePath(o->kind, o->id);
    Json body = Json::object();
    if (!o->ttl.empty()) body["ttl_s"] = *ParseDuration(o->ttl, nullptr);
    if (!o->reason.empty()) body["reason"] = o->reason;
    call.body = std::move(body);
    return call;
  });
}

}  // namespace

void AddRevocationCommands(CLI::App& app, CommandContext& ctx) {
  CLI::App* revoke = AddGroup(app, "revoke", "Revoke a user or a call session on every relay");
  AddRevoke(revoke, ctx, "user",
            "Revoke a user on every relay at once: their live relay allocations and call sessions "
            "end, new calls and TURN credentials are refused until it ends or is lifted",
            "ID", "The user id");
  AddRevoke(revoke, ctx, "session",
            "Revoke one call session on every relay at once: it ends, and its TURN credentials "
            "are refused",
            "SESSION_ID", "The call session id");

  CLI::App* revocations = AddGroup(app, "revocations", "Revocations in force: list them, lift one");
  OnRun(revocations->add_subcommand("list", "List the revocations in force"), ctx, [] {
    ApiCall call;
    call.target = "/admin/revocations";
    return call;
  });
  auto lift = std::make_shared<RevokeOptions>();
  CLI::App* lift_command =
      revocations->add_subcommand("lift", "Lift a revocation before it ends, on every relay");
  lift_command->add_option("KIND", lift->kind, "user or session")
      ->required()
      ->check(CLI::IsMember({"user", "session"}));
  lift_command->add_option("ID", lift->id, "The user id or call session id")->required();
  OnRun(lift_command, ctx, [o = lift] {
    ApiCall call;
    call.method = "DELETE";
    call.target = RevokePath(o->kind, o->id);
    call.done = "revocation lifted";
    return call;
  });

  CLI::App* sessions = AddGroup(app, "sessions", "Call sessions");
  auto session = std::make_shared<RevokeOptions>();
  CLI::App* show = sessions->add_subcommand("show", "Show a call session (any user's)");
  show->add_option("SESSION_ID", session->id, "The call session id")->required();
  OnRun(show, ctx, [o = session] {
    ApiCall call;
    call.target = "/admin/sessions/" + PercentEncode(o->id);
    return call;
  });

  auto filter = std::make_shared<AllocationFilter>();
  CLI::App* allocations =
      app.add_subcommand("allocations", "List live relay allocations, asking every relay");
  allocations->add_option("--user", filter->user, "Only this user's")->type_name("ID");
  allocations->add_option("--session", filter->session, "Only this call session's")
      ->type_name("SESSION_ID");
  OnRun(allocations, ctx, [o = filter] {
    ApiCall call;
    call.target = Target("/admin/allocations", {{"user", o->user}, {"session", o->session}});
    return call;
  });
}

}  // namespace cv::ctl
