#include "admin/ctl/commands.h"

#include "admin/ctl/arguments.h"

namespace cv::ctl {

int CommandContext::Run(const ApiCall& call) {
  std::string error;
  std::optional<Settings> settings = ResolveSettings(globals, env, &error);
  if (!settings) {
    err << "cvctl: " << error << "\n";
    return kExitUsage;
  }
  return RunApiCall(call, *settings, fetch, out, err);
}

void OnRun(CLI::App* command, CommandContext& ctx, std::function<ApiCall()> build) {
  command->callback([&ctx, build = std::move(build)] { ctx.exit_code = ctx.Run(build()); });
}

CLI::App* AddGroup(CLI::App& app, const std::string& name, const std::string& description) {
  CLI::App* group = app.add_subcommand(name, description);
  group->require_subcommand(1);
  return group;
}

std::string UserPath(const std::string& id) { return "/admin/users/" + PercentEncode(id); }

}  // namespace cv::ctl
