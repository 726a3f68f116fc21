#include "admin/service/key_ring.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

#include "relay/common/log.h"

namespace cv::admin {

namespace {

token::VerifyKey VerifyKeyOf(const token::Ed25519Key& key) {
  std::string public_key = key.PublicKey();
  return token::VerifyKey{token::JwkThumbprint(public_key), public_key};
}

bool HasKid(const std::vector<token::VerifyKey>& keys, std::string_view kid) {
  return std::any_of(keys.begin(), keys.end(),
                     [&](const token::VerifyKey& k) { return k.kid == kid; });
}

// 1-19 decimal digits, > 0, fitting in int64_t.
bool ParseNotAfter(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    const int d = c - '0';
    if (v > (INT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return v > 0;
}

}  // namespace

std::optional<std::vector<RetiredKeyFile>> ListRetiredKeyFiles(const std::string& signing_key_file,
                                                               std::string* error) {
  const std::filesystem::path key_path(signing_key_file);
  const std::string prefix = key_path.filename().string() + ".retired.";
  std::filesystem::path dir = key_path.parent_path();
  if (dir.empty()) dir = ".";
  std::vector<RetiredKeyFile> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    int64_t not_after = 0;
    if (name.compare(0, prefix.size(), prefix) == 0 &&
        ParseNotAfter(std::string_view(name).substr(prefix.size()), &not_after)) {
      out.push_back({not_after, (dir / name).string()});
    }
  }
  if (ec) {
    if (error != nullptr)
      *error = dir.string() + ": cannot list the retired token keys: " + ec.message();
    return std::nullopt;
  }
  std::sort(out.begin(), out.end(), [](const RetiredKeyFile& a, const RetiredKeyFile& b) {
    return a.not_after != b.not_after ? a.not_after > b.not_after : a.path < b.path;
  });
  return out;
}

std::optional<KeyRing> LoadKeyRing(const std::string& signing_key_file,
                                   const std::vector<std::string>& verify_only_files,
                                   bool create_missing, int64_t now_s, std::string* error) {
  struct stat st {};
  if (create_missing && stat(signing_key_file.c_str(), &st) != 0 && errno == ENOENT) {
    auto fresh = token::Ed25519Key::Generate(error);
    if (!fresh || !fresh->SavePem(signing_key_file, error)) return std::nullopt;
    CV_INFO("token.key_created", "file=%s", log::Quote(signing_key_file).c_str());
  }
  auto signing = token::Ed25519Key::LoadPem(signing_key_file, error);
  if (!signing) return std::nullopt;
  token::VerifyKey current = VerifyKeyOf(*signing);
  KeyRing ring{token::SigningKey{current.kid, *signing}, {current}, {}};

  // Keys the operator listed verify without an end.
  std::vector<token::VerifyKey> verify_only;
  for (const std::string& path : verify_only_files) {
    auto old = token::Ed25519Key::LoadPem(path, error);
    if (!old) return std::nullopt;
    token::VerifyKey key = VerifyKeyOf(*old);
    if (key.kid != current.kid && !HasKid(verify_only, key.kid)) {
      verify_only.push_back(std::move(key));
    }
  }

  // Retired keys verify until their not-after, the latest retired first (the order a rotation
  // leaves the ring in). A key retired twice keeps its later end.
  auto retired = ListRetiredKeyFiles(signing_key_file, error);
  if (!retired) return std::nullopt;
  for (const RetiredKeyFile& file : *retired) {
    if (file.not_after <= now_s) continue;  // PruneKeyRing deletes it
    auto old = token::Ed25519Key::LoadPem(file.path, error);
    if (!old) return std::nullopt;
    token::VerifyKey key = VerifyKeyOf(*old);
    if (HasKid(ring.verify, key.kid) || HasKid(verify_only, key.kid)) continue;
    ring.not_after[key.kid] = file.not_after;
    ring.verify.push_back(std::move(key));
  }
  for (token::VerifyKey& key : verify_only) ring.verify.push_back(std::move(key));
  return ring;
}

}  // namespace cv::admin
