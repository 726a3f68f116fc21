// cvctl: the CallVault Relay operator command line.
#include <ctime>
#include <iostream>

#include "admin/ctl/mint_command.h"

int main(int argc, char** argv) {
  CLI::App app{"cvctl: CallVault Relay operator command line"};
  app.set_version_flag("--version", "cvctl " CV_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  cv::ctl::AddMintCommand(app, std::cout, std::cerr, &exit_code,
                          [] { return static_cast<int64_t>(std::time(nullptr)); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    // --help and --version exit 0; every usage error exits 2, as scripts expect.
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
