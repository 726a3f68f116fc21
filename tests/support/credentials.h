// Credentials and files for integration tests: TURN credentials minted by our own library (as
// cvadmin and cvctl mint them), and small private files (secrets, tokens, plans).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace cv::testing {

struct Credential {
  std::string username, password;
};

// An entitlement-aware REST credential (docs/auth.md) signed with `secret` under key id `kid`.
Credential Mint(const std::string& secret, const std::string& kid, const std::string& user,
                const std::string& plan, const std::string& session = "s1", int64_t ttl = 600,
                uint32_t bandwidth_kbps = 0, uint32_t group = 2, bool video = false);

// Writes `text` to `path` (truncating) and sets its mode.
void WriteFile(const std::string& path, const std::string& text, mode_t mode = 0600);

}  // namespace cv::testing
