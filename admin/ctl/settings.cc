#include "admin/ctl/settings.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "cv/auth/secrets.h"

namespace cv::ctl {
namespace {

constexpr size_t kMaxTokenFileBytes = 4096;
constexpr size_t kMaxConfigBytes = 64 * 1024;
constexpr int kMaxTimeoutS = 3600;
constexpr const char* kConfigKeys[] = {"url", "token-file", "token", "timeout", "output"};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// A setting's value and where it came from ("--url", "CVCTL_URL", "/etc/…/cvctl.conf:3").
struct Sourced {
  std::string value;
  std::string source;
};

// The config file in force, read and parsed; path "" when there is none.
struct Config {
  std::string path;
  ConfigValues values;

  std::optional<Sourced> Get(std::string_view key) const {
    auto it = values.find(key);
    if (it == values.end()) return std::nullopt;
    return Sourced{it->second.value, path + ":" + std::to_string(it->second.line)};
  }
};

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::optional<Config> LoadConfig(const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read config file " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxConfigBytes) {
    *error = "config file " + path + " is larger than 64 KiB";
    return std::nullopt;
  }
  auto values = ParseConfig(text.str(), path, error);
  if (!values) return std::nullopt;
  if (values->count("token") != 0) {
    // A token in the config file makes the file a secret, as a token file is.
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
      *error = path +
               ": holds a token but group or others have access to it; chmod 600 (or "
               "put the token in a private token-file)";
      return std::nullopt;
    }
  }
  return Config{path, std::move(*values)};
}

// --config, else $CVCTL_CONFIG (both must exist), else the first default file that exists.
std::optional<Config> FindConfig(const GlobalOptions& flags, const Environment& env,
                                 std::string* error) {
  if (!flags.config.empty()) return LoadConfig(flags.config, error);
  if (auto path = env.get("CVCTL_CONFIG"); path && !path->empty()) return LoadConfig(*path, error);
  std::vector<std::string> defaults;
  if (auto home = env.get("HOME"); home && !home->empty()) {
    defaults.push_back(*home + "/.config/cvctl/config");
  }
  if (!env.system_config.empty()) defaults.push_back(env.system_config);
  for (const std::string& path : defaults) {
    if (Exists(path)) return LoadConfig(path, error);
  }
  return Config{};
}

// The first of flag, environment variable and config key that is set.
std::optional<Sourced> Pick(const std::string& flag_value, const char* flag_name,
                            const Environment& env, const char* variable, const Config& config,
                            const char* key) {
  if (!flag_value.empty()) return Sourced{flag_value, flag_name};
  if (variable != nullptr) {
    if (auto value = env.get(variable); value && !value->empty()) {
      return Sourced{*value, variable};
    }
  }
  return config.Get(key);
}

// A token is sent in a header: printable ASCII without blanks.
bool IsValidToken(std::string_view token) {
  if (token.empty()) return false;
  for (unsigned char c : token) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// The token of a token file: its first line that is neither blank nor a '#' comment.
std::optional<std::string> ReadTokenFile(const std::string& path, const std::string& source,
                                         std::string* error) {
  std::string why;
  std::optional<std::string> text = auth::ReadPrivateFile(path, kMaxTokenFileBytes, &why);
  if (!text) {
    *error = "cannot use token file " + why + " (from " + source + ")";
    return std::nullopt;
  }
  std::optional<std::string> token;
  std::string problem = "is empty";
  std::istringstream lines(*text);
  std::string line;
  while (std::getline(lines, line)) {
    std::string_view trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    if (IsValidToken(trimmed)) {
      token = std::string(trimmed);
    } else {
      problem = "must hold the token alone on its first line, without blanks";
    }
    break;
  }
  OPENSSL_cleanse(line.data(), line.size());
  OPENSSL_cleanse(text->data(), text->size());
  if (!token) *error = "token file " + path + " (from " + source + ") " + problem;
  return token;
}

// The token from the first level (flags, environment, config) that names one.
std::optional<std::string> ResolveToken(const GlobalOptions& flags, const Environment& env,
                                        const Config& config, std::string* error) {
  struct Level {
    std::optional<Sourced> token, file;
  };
  std::vector<Level> levels;
  auto sourced = [](const std::string& value, const char* name) -> std::optional<Sourced> {
    if (value.empty()) return std::nullopt;
    return Sourced{value, name};
  };
  auto from_env = [&](const char* name) -> std::optional<Sourced> {
    auto value = env.get(name);
    if (!value || value->empty()) return std::nullopt;
    return Sourced{*value, name};
  };
  levels.push_back({sourced(flags.token, "--token"), sourced(flags.token_file, "--token-file")});
  levels.push_back({from_env("CVCTL_TOKEN"), from_env("CVCTL_TOKEN_FILE")});
  Level from_config{config.Get("token"), config.Get("token-file")};
  if (from_config.file && from_config.file->value[0] != '/') {
    // A relative token-file is relative to the config file's directory.
    const size_t slash = config.path.rfind('/');
    if (slash != std::string::npos) {
      from_config.file->value = config.path.substr(0, slash + 1) + from_config.file->value;
    }
  }
  levels.push_back(from_config);

  for (const Level& level : levels) {
    if (level.token && level.file) {
      *error = "give a token (" + level.token->source + ") or a token file (" + level.file->source +
               "), not both";
      return std::nullopt;
    }
    if (level.file) return ReadTokenFile(level.file->value, level.file->source, error);
    if (level.token) {
      if (!IsValidToken(level.token->value)) {
        *error = "the token from " + level.token->source + " holds a blank or control character";
        return std::nullopt;
      }
      return level.token->value;
    }
  }
  *error =
      "no admin token: give --token-file FILE (or set CVCTL_TOKEN_FILE, or token-file in a "
      "config file; see cvctl --help)";
  return std::nullopt;
}

}  // namespace

Environment Environment::Real() {
  Environment env;
  env.get = [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  return env;
}

std::optional<ConfigValues> ParseConfig(std::string_view text, const std::string& path,
                                        std::string* error) {
  ConfigValues values;
  int number = 0;
  std::istringstream lines{std::string(text)};
  std::string line;
  while (std::getline(lines, line)) {
    ++number;
    std::string_view trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#') continue;
    const std::string where = path + ":" + std::to_string(number) + ": ";
    const size_t equals = trimmed.find('=');
    if (equals == std::string_view::npos) {
      *error = where + "expected 'key = value'";
      return std::nullopt;
    }
    const std::string key(Trim(trimmed.substr(0, equals)));
    const std::string value(Trim(trimmed.substr(equals + 1)));
    bool known = false;
    for (const char* k : kConfigKeys) known = known || key == k;
    if (!known) {
      *error = where + "unknown key '" + key + "' (keys: url, token-file, token, timeout, output)";
      return std::nullopt;
    }
    if (value.empty()) {
      *error = where + "'" + key + "' has no value";
      return std::nullopt;
    }
    if (!values.emplace(key, ConfigEntry{value, number}).second) {
      *error = where + "'" + key + "' is set twice";
      return std::nullopt;
    }
  }
  return values;
}

std::optional<Settings> ResolveSettings(const GlobalOptions& flags, const Environment& env,
                                        std::string* error) {
  std::optional<Config> config = FindConfig(flags, env, error);
  if (!config) return std::nullopt;
  Settings settings;
  settings.config_path = config->path;

  const Sourced url = Pick(flags.url, "--url", env, "CVCTL_URL", *config, "url")
                          .value_or(Sourced{kDefaultUrl, "the default"});
  std::string why;
  std::optional<http::Url> parsed = http::Url::Parse(url.value, &why);
  if (!parsed) {
    *error = "bad URL from " + url.source + ": " + why;
    return std::nullopt;
  }
  settings.url = *parsed;

  if (auto timeout = Pick(flags.timeout, "--timeout", env, nullptr, *config, "timeout")) {
    const std::string& t = timeout->value;
    const bool digits =
        !t.empty() && t.size() <= 4 && t.find_first_not_of("0123456789") == std::string::npos;
    const int seconds = digits ? std::stoi(t) : 0;
    if (seconds < 1 || seconds > kMaxTimeoutS) {
      *error = "bad timeout '" + t + "' from " + timeout->source + ": seconds, 1 to 3600";
      return std::nullopt;
    }
    settings.timeout_s = seconds;
  }

  if (auto output = Pick(flags.output, "--output", env, nullptr, *config, "output")) {
    if (output->value == "table") {
      settings.output = OutputFormat::kTable;
    } else if (output->value == "json") {
      settings.output = OutputFormat::kJson;
    } else {
      *error = "bad output '" + output->value + "' from " + output->source + ": table or json";
      return std::nullopt;
    }
  }

  std::optional<std::string> token = ResolveToken(flags, env, *config, error);
  if (!token) return std::nullopt;
  settings.token = std::move(*token);
  return settings;
}

}  // namespace cv::ctl
