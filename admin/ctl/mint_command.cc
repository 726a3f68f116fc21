#include "admin/ctl/mint_command.h"

#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "cv/auth/mint.h"
#include "cv/auth/secrets.h"
#include "relay/common/hex.h"

namespace cv::ctl {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// The secret to mint with: --secret, or --secret-file holding either one bare secret or the
// auth-secrets-file format ("kid secret [not-after]" per line; --kid picks one).
std::optional<auth::Secret> ReadSecret(const MintOptions& o, int64_t now, std::string* error) {
  if (!o.secret.empty()) {
    if (!o.secret_file.empty()) {
      *error = "give --secret or --secret-file, not both";
      return std::nullopt;
    }
    if (!o.key_id.empty() && !auth::IsValidKeyId(o.key_id)) {
      *error = "--kid must be 1-16 of [A-Za-z0-9_-]";
      return std::nullopt;
    }
    return auth::Secret{o.key_id, o.secret, 0};
  }
  if (o.secret_file.empty()) {
    *error = "no secret: give --secret-file FILE (or --secret, or CVRELAY_SECRET)";
    return std::nullopt;
  }
  std::ifstream in(o.secret_file);
  if (!in) {
    *error = "cannot read " + o.secret_file;
    return std::nullopt;
  }
  std::stringstream text;
  text << in.rdbuf();
  std::istringstream words(text.str());
  std::string first, second;
  words >> first >> second;
  if (!first.empty() && second.empty() && first[0] != '#') {
    // One bare secret, as coturn's static-auth-secret.
    return auth::Secret{o.key_id, first, 0};
  }
  auto secrets = auth::ParseSecretsFile(text.str(), o.secret_file, error);
  if (!secrets) return std::nullopt;
  const auth::Secret* picked = auth::PickSecret(*secrets, o.key_id, now);
  if (picked == nullptr) {
    *error = o.key_id.empty()
                 ? "no active secret in " + o.secret_file
                 : "no active secret with key id '" + o.key_id + "' in " + o.secret_file;
    return std::nullopt;
  }
  return *picked;
}

}  // namespace

int RunMint(const MintOptions& o, int64_t now, std::ostream& out, std::ostream& err) {
  auth::MintRequest request;
  request.ttl_s = o.ttl_s;
  if (o.separator.size() != 1) {
    err << "cvctl mint: --separator must be one character\n";
    return kExitUsage;
  }
  request.separator = o.separator[0];
  if (o.claimless) {
    request.claimless_user = o.user;
  } else {
    if (o.user.empty()) {
      err << "cvctl mint: --user is required (or --claimless for coturn-style credentials)\n";
      return kExitUsage;
    }
    auth::Claims c;
    c.user = o.user;
    c.session = o.session.empty() ? RandomHex(8) : o.session;
    c.line = o.line;
    c.plan = o.plan;
    c.video = o.video;
    c.group_size = o.group;
    c.bandwidth_kbps = o.bandwidth_kbps;
    c.max_duration_s = o.max_duration_s;
    request.claims = c;
  }
  std::string error;
  auto secret = ReadSecret(o, now, &error);
  if (!secret) {
    err << "cvctl mint: " << error << "\n";
    return kExitFailure;
  }
  auto minted = auth::MintCredential(request, *secret, now, &error);
  if (!minted) {
    err << "cvctl mint: " << error << "\n";
    return kExitUsage;
  }
  nlohmann::ordered_json j;
  j["username"] = minted->username;
  j["credential"] = minted->password;
  j["ttl"] = minted->ttl_s;
  j["expires"] = minted->expires;
  out << j.dump(2) << "\n";
  return kExitOk;
}

void AddMintCommand(CLI::App& app, std::ostream& out, std::ostream& err, int* exit_code,
                    std::function<int64_t()> now) {
  auto options = std::make_shared<MintOptions>();
  CLI::App* mint = app.add_subcommand(
      "mint",
      "Mint a TURN REST credential offline (works without cvadmin). Prints JSON with "
      "username, credential, ttl and expires.");
  mint->add_option("--secret-file", options->secret_file,
                   "File with the secret: one bare secret, or an auth-secrets-file "
                   "('kid secret [not-after]' per line)");
  mint->add_option("--secret", options->secret,
                   "The secret itself (visible in ps; prefer --secret-file)")
      ->envname("CVRELAY_SECRET");
  mint->add_option("--kid", options->key_id,
                   "Key id: selects the secret in an auth-secrets-file, and is written in the "
                   "claims");
  mint->add_option("--user", options->user, "User id (required unless --claimless)");
  mint->add_option("--plan", options->plan, "Plan: free, trial, pro, business, founder, …")
      ->capture_default_str();
  mint->add_option("--session", options->session, "Call session id (default: random)");
  mint->add_option("--line", options->line, "Call ID (line) used for the call");
  mint->add_flag("--video", options->video, "Video allowed");
  mint->add_option("--group", options->group, "Participants in the call (1-64)")
      ->capture_default_str();
  mint->add_option("--bandwidth", options->bandwidth_kbps,
                   "Bandwidth cap in kbit/s per direction (default: the plan's)");
  mint->add_option("--max-duration", options->max_duration_s,
                   "Maximum call duration in seconds (default: the plan's)");
  mint->add_option("--ttl", options->ttl_s, "Seconds until the credential expires")
      ->capture_default_str();
  mint->add_option("--separator", options->separator, "coturn's rest-api-separator")
      ->capture_default_str();
  mint->add_flag("--claimless", options->claimless,
                 "Mint a plain coturn-style '<expiry>:<user>' credential without claims");
  mint->callback([options, &out, &err, exit_code, now = std::move(now)] {
    *exit_code = RunMint(*options, now(), out, err);
  });
}

}  // namespace cv::ctl
