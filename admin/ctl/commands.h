// The admin commands of cvctl, one file per command group, registered on one CLI11 app by
// admin/ctl/cli.cc:
//   users_commands.cc       users list|show|create|set-key|set-tier|set-mode|entitlements
//   setting_commands.cc     flags, overrides, grants, lines (a user's settings)
//   revocation_commands.cc  revoke, revocations, sessions, allocations
//   report_commands.cc      reports, audit
//   key_commands.cc         keys, secrets
// A command turns its parsed arguments into an ApiCall (admin/ctl/api_call.h); the context
// resolves the connection settings and sends it.
//
// Threading: one run, one thread. Ownership: the CommandContext outlives the CLI::App that the
// commands are registered on; callbacks hold a reference to it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <ostream>
#include <string>

#include "admin/ctl/api_call.h"
#include "admin/ctl/settings.h"

namespace cv::ctl {

struct CommandContext {
  CommandContext(std::ostream& out_stream, std::ostream& err_stream, Fetcher fetcher,
                 Environment environment)
      : out(out_stream), err(err_stream), fetch(std::move(fetcher)), env(std::move(environment)) {}

  std::ostream& out;
  std::ostream& err;
  Fetcher fetch;
  Environment env;
  GlobalOptions globals;  // bound to the root app's global options
  int exit_code = 0;

  // Resolves the settings (a usage error when they are bad) and sends `call`: the exit code.
  int Run(const ApiCall& call);
};

// Makes `command` send the call that `build` makes from its parsed arguments when the command
// is selected. `build` may throw CLI::ValidationError for what CLI11 cannot check by itself.
void OnRun(CLI::App* command, CommandContext& ctx, std::function<ApiCall()> build);

// A command group (`users`, `flags`, …): it needs exactly one of its subcommands.
CLI::App* AddGroup(CLI::App& app, const std::string& name, const std::string& description);

// "/admin/users/<id>", the id percent-encoded.
std::string UserPath(const std::string& id);

void AddUserCommands(CLI::App& app, CommandContext& ctx);
void AddSettingCommands(CLI::App& app, CommandContext& ctx);
void AddRevocationCommands(CLI::App& app, CommandContext& ctx);
void AddReportCommands(CLI::App& app, CommandContext& ctx);
void AddKeyCommands(CLI::App& app, CommandContext& ctx);

}  // namespace cv::ctl
