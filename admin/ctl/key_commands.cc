// `cvctl keys …` and `cvctl secrets …`: docs/admin-api.md "Rotating secrets".
#include <memory>

#include "admin/ctl/arguments.h"
#include "admin/ctl/commands.h"

namespace cv::ctl {
namespace {

using Json = nlohmann::ordered_json;

// POST with {"overlap_s"} when --overlap was given, {} otherwise.
ApiCall Rotate(std::string target, const std::string& overlap) {
  ApiCall call;
  call.method = "POST";
  call.target = std::move(target);
  Json body = Json::object();
  if (!overlap.empty()) body["overlap_s"] = *ParseDuration(overlap, nullptr);
  call.body = std::move(body);
  return call;
}

}  // namespace

void AddKeyCommands(CLI::App& app, CommandContext& ctx) {
  CLI::App* keys =
      AddGroup(app, "keys", "Token signing keys and TURN secret ids; rotate the token key");
  OnRun(keys->add_subcommand(
            "list", "List token signing keys and TURN secrets: ids and dates, never a secret"),
        ctx, [] {
          ApiCall call;
          call.target = "/admin/keys";
          return call;
        });
  auto token_overlap = std::make_shared<std::string>();
  CLI::App* rotate_token = keys->add_subcommand(
      "rotate-token",
      "Sign call session tokens with a new Ed25519 key now; the old one keeps verifying for the "
      "overlap (admin role)");
  rotate_token
      ->add_option("--overlap", *token_overlap,
                   "How long the old key keeps verifying, 60s-30d (default 1h)")
      ->type_name("DURATION")
      ->check(DurationCheck());
  OnRun(rotate_token, ctx,
        [overlap = token_overlap] { return Rotate("/admin/keys/token/rotate", *overlap); });

  CLI::App* secrets = AddGroup(app, "secrets", "Rotate the TURN secret shared with the relays");
  auto turn_overlap = std::make_shared<std::string>();
  CLI::App* rotate_turn = secrets->add_subcommand(
      "rotate-turn",
      "Write a new TURN secret at the top of auth-secrets-file; the old ones keep verifying for "
      "the overlap, which must outlast the longest call (admin role)");
  rotate_turn
      ->add_option("--overlap", *turn_overlap,
                   "How long the old secrets keep verifying, 60s-30d (default 1d)")
      ->type_name("DURATION")
      ->check(DurationCheck());
  OnRun(rotate_turn, ctx,
        [overlap = turn_overlap] { return Rotate("/admin/secrets/turn/rotate", *overlap); });
}

}  // namespace cv::ctl
