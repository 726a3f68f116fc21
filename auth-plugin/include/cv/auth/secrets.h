// The shared secrets that sign TURN REST credentials, each with a key id, so secrets rotate with
// an overlap window: mint with the new one while the old one still verifies, then retire it.
//
// Secrets file (auth-secrets-file), one secret per line, fields separated by blanks; a '#' at
// the start of a line or of a field starts a comment (a '#' inside a secret is part of it),
// blank lines are skipped:
//   <key-id> <secret> [<not-after>]
//     key-id     [A-Za-z0-9_-]{1,16}, unique in the file
//     secret     at least 16 bytes, no whitespace or control byte
//     not-after  Unix seconds (> 0) after which the secret no longer verifies (nor mints);
//                optional
// The first secret that is not retired is the one minters use. coturn's static-auth-secret values
// join the set with an empty key id: they verify credentials without k= and claimless ones.
//
// Threading: a SecretSet is a value; share it read-only once built.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cv::auth {

struct Secret {
  std::string key_id;     // empty for a static-auth-secret
  std::string value;      // never logged
  int64_t not_after = 0;  // 0 = no end

  bool ActiveAt(int64_t now) const { return not_after == 0 || now <= not_after; }
  friend bool operator==(const Secret&, const Secret&) = default;
};

inline constexpr size_t kMinSecretFileLength = 16;

// Parses a secrets file's text. nullopt with `error` = "<source>:<line>: <what>" (the secret
// itself is never quoted) on the first bad line, a duplicate key id, or an empty file.
std::optional<std::vector<Secret>> ParseSecretsFile(std::string_view text, std::string_view source,
                                                    std::string* error);
// Reads and parses `path`; refuses a file readable by group or others ("chmod 600").
std::optional<std::vector<Secret>> LoadSecretsFile(const std::string& path, std::string* error);

// Reads a file that holds secrets (secrets file, admin token): a regular file that group and
// others cannot access, at most `max_bytes`. nullopt with `error` = "<path>: <what>" otherwise.
// The caller should OPENSSL_cleanse the text once done with it.
std::optional<std::string> ReadPrivateFile(const std::string& path, size_t max_bytes,
                                           std::string* error);

// The secret a minter should use at `now` with `key_id` (empty: the first active one).
const Secret* PickSecret(const std::vector<Secret>& secrets, std::string_view key_id, int64_t now);

}  // namespace cv::auth
