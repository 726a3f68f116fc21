#include "admin/ctl/cli.h"

#include "admin/ctl/mint_command.h"

#ifndef CV_VERSION
#define CV_VERSION "dev"
#endif

namespace cv::ctl {
namespace {

constexpr char kArguments[] =
    "TIME: Unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC).\n"
    "DURATION: seconds, or a number with s, m, h or d (90s, 15m, 7d).\n";

constexpr char kRootFooter[] =
    "Global options go before or after the command. Each setting comes from its flag, else the\n"
    "environment (CVCTL_URL, CVCTL_TOKEN, CVCTL_TOKEN_FILE), else a config file (--config PATH,\n"
    "else $CVCTL_CONFIG, else ~/.config/cvctl/config or /etc/cvrelay/cvctl.conf if it exists)\n"
    "with 'key = value' lines: url, token-file, token, timeout, output. Token files must be\n"
    "mode 600. `cvctl COMMAND --help` shows a command's arguments; docs/cvctl.md has examples.\n"
    "\n"
    "Exit codes:\n"
    "  0  success\n"
    "  1  the server refused the request (a 4xx other than those below)\n"
    "  2  usage or configuration error (bad arguments, unreadable token file)\n"
    "  3  not found (404)\n"
    "  4  not authorised (401, 403)\n"
    "  5  cvadmin unreachable or timed out, a 5xx, or an unreadable answer\n"
    "  (mint: 1 when the secret cannot be read)";

constexpr char kCommandFooter[] =
    "Global options (--url, --token-file, -o json, …): see cvctl --help.\n"
    "Exit codes: 0 success, 1 refused (4xx), 2 usage or config error, 3 not found, 4 not\n"
    "authorised, 5 unreachable, 5xx or unreadable answer.";

void SetFooters(CLI::App* command) {
  for (CLI::App* sub : command->get_subcommands([](CLI::App*) { return true; })) {
    if (sub->get_name().empty()) continue;  // an option group: part of its command's help
    sub->footer(std::string(kArguments) + kCommandFooter);
    SetFooters(sub);
  }
}

}  // namespace

void BuildCli(CLI::App& app, CommandContext& ctx, std::function<int64_t()> now) {
  app.description(
      "cvctl: CallVault Relay operator command line, over cvadmin's admin API (and `mint`, "
      "which works offline)");
  app.set_version_flag("--version", "cvctl " CV_VERSION);
  app.require_subcommand(1);
  app.fallthrough();  // global options after the command too; inherited by every subcommand
  app.footer(std::string(kArguments) + "\n" + kRootFooter);

  GlobalOptions& g = ctx.globals;
  app.add_option("--url", g.url, "cvadmin's admin API (default http://127.0.0.1:9651)")
      ->type_name("URL");
  app.add_option("--token-file", g.token_file,
                 "File holding the admin token on its first line (mode 600)")
      ->type_name("FILE");
  app.add_option("--token", g.token, "The admin token itself (visible in ps; prefer --token-file)")
      ->type_name("TOKEN");
  app.add_option("--config", g.config, "Config file ('key = value' lines)")->type_name("PATH");
  app.add_option("--timeout", g.timeout, "Seconds to wait for cvadmin (default 10)")
      ->type_name("SECONDS")
      ->check(CLI::Range(1, 3600));
  app.add_option("-o,--output", g.output, "table (default) or json")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"table", "json"}));

  AddUserCommands(app, ctx);
  AddSettingCommands(app, ctx);
  AddRevocationCommands(app, ctx);
  AddReportCommands(app, ctx);
  AddKeyCommands(app, ctx);
  SetFooters(&app);
  // Last, and with its own footer-less help and exit codes (docs/auth.md).
  AddMintCommand(app, ctx.out, ctx.err, &ctx.exit_code, std::move(now));
}

int RunCvctl(const std::vector<std::string>& args, CommandContext& ctx,
             std::function<int64_t()> now) {
  CLI::App app;
  BuildCli(app, ctx, std::move(now));
  std::vector<const char*> argv{"cvctl"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    // CLI11 says "A subcommand is required" for `cvctl bogus`; name the stray word instead.
    const std::vector<std::string> stray = app.remaining(true);
    if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr && !stray.empty()) {
      ctx.err << "cvctl: unknown command or unexpected argument:";
      for (const std::string& s : stray) ctx.err << " " << s;
      ctx.err << "\nRun with --help for more information.\n";
      return kExitUsage;
    }
    const int code = app.exit(e, ctx.out, ctx.err);
    // --help and --version exit 0; every usage error exits 2, as scripts expect.
    return code == 0 ? kExitOk : kExitUsage;
  }
  return ctx.exit_code;
}

}  // namespace cv::ctl
