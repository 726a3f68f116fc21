// `cvctl flags|overrides|grants|lines …`: a user's settings, docs/admin-api.md "Flags,
// overrides, grants" and "Call IDs".
#include <memory>

#include "admin/ctl/arguments.h"
#include "admin/ctl/commands.h"

namespace cv::ctl {
namespace {

using Json = nlohmann::ordered_json;

struct SettingOptions {
  std::string id, name, value;
  bool all = false;
  uint64_t grant_id = 0;
  std::string for_duration, until, from, reason;
};

using Options = std::shared_ptr<SettingOptions>;

// A subcommand whose first argument is the user id.
CLI::App* AddUserCommand(CLI::App* group, const std::string& name, const std::string& description,
                         const Options& o) {
  CLI::App* command = group->add_subcommand(name, description);
  command->add_option("ID", o->id, "The user id")->required();
  return command;
}

ApiCall Get(std::string target) {
  ApiCall call;
  call.target = std::move(target);
  return call;
}

ApiCall Delete(std::string target, std::string done) {
  ApiCall call;
  call.method = "DELETE";
  call.target = std::move(target);
  call.done = std::move(done);
  return call;
}

ApiCall Send(std::string method, std::string target, Json body) {
  ApiCall call;
  call.method = std::move(method);
  call.target = std::move(target);
  call.body = std::move(body);
  return call;
}

void AddFlags(CLI::App& app, CommandContext& ctx) {
  CLI::App* flags = AddGroup(
      app, "flags", "A user's feature flags, over the plan and the mode (recording, exports, …)");

  auto list = std::make_shared<SettingOptions>();
  OnRun(AddUserCommand(flags, "list", "List a user's feature flags", list), ctx,
        [o = list] { return Get(UserPath(o->id) + "/flags"); });

  auto set = std::make_shared<SettingOptions>();
  CLI::App* set_command =
      AddUserCommand(flags, "set", "Switch a feature on or off for a user", set);
  set_command
      ->add_option("FEATURE", set->name,
                   "approved_contacts_only, external_links, recording, transcription, "
                   "large_uploads or exports")
      ->required();
  set_command->add_option("STATE", set->value, "on or off")
      ->required()
      ->check(CLI::IsMember({"on", "off"}));
  OnRun(set_command, ctx, [o = set] {
    return Send("PUT", UserPath(o->id) + "/flags/" + PercentEncode(o->name),
                Json{{"enabled", o->value == "on"}});
  });

  auto clear = std::make_shared<SettingOptions>();
  CLI::App* clear_command = AddUserCommand(
      flags, "clear", "Remove a user's flag: the feature follows the plan and mode again", clear);
  clear_command->add_option("FEATURE", clear->name, "The feature")->required();
  OnRun(clear_command, ctx, [o = clear] {
    return Delete(UserPath(o->id) + "/flags/" + PercentEncode(o->name), "flag cleared");
  });
}

void AddOverrides(CLI::App& app, CommandContext& ctx) {
  CLI::App* overrides = AddGroup(
      app, "overrides", "A user's limits and video, over the plan (calls_per_day, video, …)");

  auto list = std::make_shared<SettingOptions>();
  OnRun(AddUserCommand(overrides, "list", "List a user's overrides", list), ctx,
        [o = list] { return Get(UserPath(o->id) + "/overrides"); });

  auto set = std::make_shared<SettingOptions>();
  CLI::App* set_command = AddUserCommand(overrides, "set", "Set an override for a user", set);
  set_command
      ->add_option("KEY", set->name,
                   "group_size, call_ids, max_call_duration_s, calls_per_day, "
                   "call_seconds_per_month, call_attempts_per_hour, failed_starts_per_day or video")
      ->required();
  set_command
      ->add_option("VALUE", set->value,
                   "An integer 0-4294967295 (0 = no limit; sent as a number), or always / "
                   "direct_only for video")
      ->required();
  OnRun(set_command, ctx, [o = set] {
    return Send("PUT", UserPath(o->id) + "/overrides/" + PercentEncode(o->name),
                Json{{"value", JsonScalar(o->value)}});
  });

  auto clear = std::make_shared<SettingOptions>();
  CLI::App* clear_command = AddUserCommand(
      overrides, "clear", "Remove a user's override: the value follows the plan again", clear);
  clear_command->add_option("KEY", clear->name, "The limit")->required();
  OnRun(clear_command, ctx, [o = clear] {
    return Delete(UserPath(o->id) + "/overrides/" + PercentEncode(o->name), "override cleared");
  });
}

void AddGrants(CLI::App& app, CommandContext& ctx) {
  CLI::App* grants = AddGroup(
      app, "grants", "A user's temporary grants: a tier, a limit or a feature for a while");

  auto list = std::make_shared<SettingOptions>();
  CLI::App* list_command =
      AddUserCommand(grants, "list", "List a user's grants that have not ended", list);
  list_command->add_flag("--all", list->all, "Every grant, ended ones too");
  OnRun(list_command, ctx, [o = list] {
    return Get(Target(UserPath(o->id) + "/grants", {{"all", o->all ? "1" : ""}}));
  });

  auto add = std::make_shared<SettingOptions>();
  CLI::App* add_command = AddUserCommand(
      grants, "add",
      "Grant a user a tier, a limit or a feature for a while (at most 366 days); e.g. a week of "
      "relay for a Free user: grants add alice tier pro --for 7d",
      add);
  add_command
      ->add_option("KEY", add->name,
                   "tier, an override key (calls_per_day, …) or features.<feature>")
      ->required();
  add_command
      ->add_option("VALUE", add->value,
                   "A tier name, an integer (sent as a number) or true/false (sent as a boolean)")
      ->required();
  CLI::Option_group* end = add_command->add_option_group("end", "When the grant ends (give one)");
  end->add_option("--for", add->for_duration, "How long, from its start")
      ->type_name("DURATION")
      ->check(DurationCheck());
  end->add_option("--until", add->until, "When it ends")->type_name("TIME")->check(TimeCheck());
  end->require_option(1);
  add_command->add_option("--from", add->from, "When it starts (default: now)")
      ->type_name("TIME")
      ->check(TimeCheck());
  add_command->add_option("--reason", add->reason, "Why, up to 200 characters (kept with it)");
  OnRun(add_command, ctx, [o = add] {
    Json body = {{"key", o->name}, {"value", JsonScalar(o->value)}};
    const int64_t starts_at = o->from.empty() ? 0 : *ParseTime(o->from, nullptr);
    if (!o->until.empty()) {
      body["ends_at"] = *ParseTime(o->until, nullptr);
    } else if (starts_at != 0) {
      // The API counts duration_s from now; a grant that starts later lasts from its start.
      body["ends_at"] = starts_at + *ParseDuration(o->for_duration, nullptr);
    } else {
      body["duration_s"] = *ParseDuration(o->for_duration, nullptr);
    }
    if (starts_at != 0) body["starts_at"] = starts_at;
    if (!o->reason.empty()) body["reason"] = o->reason;
    return Send("POST", UserPath(o->id) + "/grants", std::move(body));
  });

  auto remove = std::make_shared<SettingOptions>();
  CLI::App* remove_command =
      AddUserCommand(grants, "remove", "End a grant now and remove it", remove);
  remove_command->add_option("GRANT_ID", remove->grant_id, "The grant's id (grants list)")
      ->required();
  OnRun(remove_command, ctx, [o = remove] {
    return Delete(UserPath(o->id) + "/grants/" + std::to_string(o->grant_id), "grant removed");
  });
}

void AddLines(CLI::App& app, CommandContext& ctx) {
  CLI::App* lines = AddGroup(app, "lines", "A user's Call IDs (lines)");

  auto list = std::make_shared<SettingOptions>();
  OnRun(AddUserCommand(lines, "list", "List a user's Call IDs and how many they may hold", list),
        ctx, [o = list] { return Get(UserPath(o->id) + "/lines"); });

  auto add = std::make_shared<SettingOptions>();
  CLI::App* add_command = AddUserCommand(
      lines, "add", "Give a user a Call ID, up to their effective call_ids limit", add);
  add_command->add_option("CALL_ID", add->name, "The Call ID")->required();
  OnRun(add_command, ctx, [o = add] {
    return Send("POST", UserPath(o->id) + "/lines", Json{{"call_id", o->name}});
  });

  auto remove = std::make_shared<SettingOptions>();
  CLI::App* remove_command = AddUserCommand(lines, "remove", "Take a Call ID from a user", remove);
  remove_command->add_option("CALL_ID", remove->name, "The Call ID")->required();
  OnRun(remove_command, ctx, [o = remove] {
    return Delete(UserPath(o->id) + "/lines/" + PercentEncode(o->name), "Call ID removed");
  });
}

}  // namespace

void AddSettingCommands(CLI::App& app, CommandContext& ctx) {
  AddFlags(app, ctx);
  AddOverrides(app, ctx);
  AddGrants(app, ctx);
  AddLines(app, ctx);
}

}  // namespace cv::ctl
