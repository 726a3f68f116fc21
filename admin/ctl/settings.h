// Where cvadmin is and how to talk to it: the URL, the admin token, the timeout and the output
// format. Each setting comes from the first of (docs/cvctl.md "Configuration"):
//   1. a global flag:        --url, --token / --token-file, --timeout, -o/--output
//   2. the environment:      CVCTL_URL, CVCTL_TOKEN / CVCTL_TOKEN_FILE
//   3. the config file:      --config PATH, else $CVCTL_CONFIG, else ~/.config/cvctl/config or
//                            /etc/cvrelay/cvctl.conf when one exists; "key = value" lines with
//                            keys url, token-file, token, timeout, output
//   4. the default:          http://127.0.0.1:9651, no token (an error), 10 s, table
// A token and a token file at the same level are refused as ambiguous. Files that hold a token
// (a token file, a config file with `token`) must not be accessible to group or others.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "relay/common/http_client.h"

namespace cv::ctl {

inline constexpr char kDefaultUrl[] = "http://127.0.0.1:9651";
inline constexpr int kDefaultTimeoutS = 10;

enum class OutputFormat { kTable, kJson };

// The global options as given on the command line; "" when not given.
struct GlobalOptions {
  std::string url, token, token_file, config, timeout, output;
};

// The process's surroundings, injected so that tests need not touch the real environment, $HOME
// or /etc.
struct Environment {
  std::function<std::optional<std::string>(const std::string& name)> get;  // nullopt: unset
  std::string system_config = "/etc/cvrelay/cvctl.conf";

  static Environment Real();  // getenv
};

struct Settings {
  http::Url url;
  std::string token;  // never printed or logged
  int timeout_s = kDefaultTimeoutS;
  OutputFormat output = OutputFormat::kTable;
  std::string config_path;  // the config file that was read; "" for none
};

// A config file's keys, each with the line it came from.
struct ConfigEntry {
  std::string value;
  int line = 0;
};
using ConfigValues = std::map<std::string, ConfigEntry, std::less<>>;

// Parses "key = value" lines ('#' lines and blank lines skipped). nullopt with `error` =
// "<path>:<line>: <what>" on a malformed line, an unknown or repeated key.
std::optional<ConfigValues> ParseConfig(std::string_view text, const std::string& path,
                                        std::string* error);

// The settings for one run. nullopt with `error` (a whole sentence naming the flag, variable or
// file at fault; never the token) when something is missing, malformed or unreadable.
std::optional<Settings> ResolveSettings(const GlobalOptions& flags, const Environment& env,
                                        std::string* error);

}  // namespace cv::ctl
