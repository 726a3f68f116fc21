// `cvctl users …`: docs/admin-api.md "Users" and "Effective entitlements".
#include <memory>

#include "admin/ctl/arguments.h"
#include "admin/ctl/commands.h"

namespace cv::ctl {
namespace {

using Json = nlohmann::ordered_json;

struct ListOptions {
  std::string tier, after;
  int limit = 0;
};

struct UserOptions {
  std::string id, tier, public_key, mode, trial_ends, key;
};

CLI::App* AddUserId(CLI::App* command, UserOptions* o) {
  command->add_option("ID", o->id, "The user id")->required();
  return command;
}

void AddTrialEnds(CLI::App* command, UserOptions* o) {
  command
      ->add_option("--trial-ends", o->trial_ends,
                   "When a trial ends (default: 14 days after it is set); trial only")
      ->type_name("TIME")
      ->check(TimeCheck());
}

void SetTrialEnds(const UserOptions& o, Json* body) {
  if (!o.trial_ends.empty()) (*body)["trial_ends_at"] = *ParseTime(o.trial_ends, nullptr);
}

}  // namespace

void AddUserCommands(CLI::App& app, CommandContext& ctx) {
  CLI::App* users =
      AddGroup(app, "users", "Users: list, show, create; identity key, tier, mode; entitlements");

  auto list_options = std::make_shared<ListOptions>();
  CLI::App* list = users->add_subcommand("list", "List users, ordered by id, a page at a time");
  list->add_option("--tier", list_options->tier, "Only users of this tier")->type_name("TIER");
  list->add_option("--after", list_options->after,
                   "Start after this id (the next_after of the previous page)")
      ->type_name("ID");
  list->add_option("--limit", list_options->limit, "Users per page, 1-1000 (default 100)")
      ->check(CLI::PositiveNumber);
  OnRun(list, ctx, [o = list_options] {
    ApiCall call;
    call.target = Target("/admin/users", {{"tier", o->tier},
                                          {"after", o->after},
                                          {"limit", o->limit > 0 ? std::to_string(o->limit) : ""}});
    return call;
  });

  auto show_options = std::make_shared<UserOptions>();
  CLI::App* show =
      users->add_subcommand("show", "Show a user with their entitlements, Call IDs and revocation");
  AddUserId(show, show_options.get());
  OnRun(show, ctx, [o = show_options] {
    ApiCall call;
    call.target = UserPath(o->id);
    return call;
  });

  auto create_options = std::make_shared<UserOptions>();
  CLI::App* create = users->add_subcommand("create", "Create a user");
  AddUserId(create, create_options.get());
  create
      ->add_option("--tier", create_options->tier,
                   "The plan: free, trial, pro, business, founder (or one the plans file adds)")
      ->type_name("TIER")
      ->required();
  create
      ->add_option("--public-key", create_options->public_key,
                   "The user's Ed25519 identity key, base64url (43 characters)")
      ->type_name("B64URL");
  create
      ->add_option("--mode", create_options->mode, "PERSONAL (default), CREATOR, BUSINESS or STAGE")
      ->type_name("MODE");
  AddTrialEnds(create, create_options.get());
  OnRun(create, ctx, [o = create_options] {
    ApiCall call;
    call.method = "POST";
    call.target = "/admin/users";
    Json body = {{"id", o->id}, {"tier", o->tier}};
    if (!o->public_key.empty()) body["public_key"] = o->public_key;
    if (!o->mode.empty()) body["mode"] = o->mode;
    SetTrialEnds(*o, &body);
    call.body = std::move(body);
    return call;
  });

  auto key_options = std::make_shared<UserOptions>();
  CLI::App* set_key =
      users->add_subcommand("set-key", "Register or replace a user's Ed25519 identity key");
  AddUserId(set_key, key_options.get());
  set_key->add_option("KEY", key_options->key, "The public key, base64url (43 characters)")
      ->required();
  OnRun(set_key, ctx, [o = key_options] {
    ApiCall call;
    call.method = "PUT";
    call.target = UserPath(o->id) + "/key";
    call.body = Json{{"public_key", o->key}};
    return call;
  });

  auto tier_options = std::make_shared<UserOptions>();
  CLI::App* set_tier = users->add_subcommand(
      "set-tier",
      "Change a user's tier. A tier that may not relay revokes the user on every relay at once; "
      "an upgrade lifts such a downgrade revocation");
  AddUserId(set_tier, tier_options.get());
  set_tier
      ->add_option("TIER", tier_options->tier,
                   "The plan: free, trial, pro, business, founder (or one the plans file adds)")
      ->required();
  AddTrialEnds(set_tier, tier_options.get());
  OnRun(set_tier, ctx, [o = tier_options] {
    ApiCall call;
    call.method = "POST";
    call.target = UserPath(o->id) + "/tier";
    Json body = {{"tier", o->tier}};
    SetTrialEnds(*o, &body);
    call.body = std::move(body);
    return call;
  });

  auto mode_options = std::make_shared<UserOptions>();
  CLI::App* set_mode = users->add_subcommand(
      "set-mode", "Change a user's mode, which switches product features on or off");
  AddUserId(set_mode, mode_options.get());
  set_mode
      ->add_option("MODE", mode_options->mode,
                   "PERSONAL, CREATOR, BUSINESS or STAGE (any letter case)")
      ->required();
  OnRun(set_mode, ctx, [o = mode_options] {
    ApiCall call;
    call.method = "POST";
    call.target = UserPath(o->id) + "/mode";
    call.body = Json{{"mode", o->mode}};
    return call;
  });

  auto entitlements_options = std::make_shared<UserOptions>();
  CLI::App* entitlements = users->add_subcommand(
      "entitlements",
      "Show what a user may do now, and which layer (plan, mode, flag, override, grant) set "
      "each value");
  AddUserId(entitlements, entitlements_options.get());
  OnRun(entitlements, ctx, [o = entitlements_options] {
    ApiCall call;
    call.target = UserPath(o->id) + "/entitlements";
    return call;
  });
}

}  // namespace cv::ctl
