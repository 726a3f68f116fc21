// `cvctl mint`: mints a TURN credential offline, from a secret and claims given as flags — what
// coturn's `turnadmin` is to coturn. Prints JSON:
//   {"username": "...", "credential": "...", "ttl": 86400, "expires": 1767225600}
// Exit codes: 0 minted; 2 bad flags or claims; 1 the secret could not be read.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

namespace cv::ctl {

struct MintOptions {
  std::string secret;       // --secret (visible to other local users in ps: prefer a file)
  std::string secret_file;  // --secret-file: a bare secret, or an auth-secrets-file
  std::string key_id;       // --kid: which secret of an auth-secrets-file
  std::string user, plan = "trial", session, line;
  bool video = false;
  uint32_t group = 2, bandwidth_kbps = 0, max_duration_s = 0;
  int64_t ttl_s = 86400;
  std::string separator = ":";
  bool claimless = false;  // --claimless: coturn's "<expiry>:<user>", no claims
};

// Registers `mint` on `app`; when it runs, writes JSON to `out`, errors to `err`, and stores the
// exit code in *exit_code. `now` gives Unix seconds (injected for tests).
void AddMintCommand(CLI::App& app, std::ostream& out, std::ostream& err, int* exit_code,
                    std::function<int64_t()> now);

// The minting itself, for tests: returns the exit code.
int RunMint(const MintOptions& options, int64_t now, std::ostream& out, std::ostream& err);

}  // namespace cv::ctl
