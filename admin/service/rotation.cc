#include "admin/service/rotation.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include "admin/service/key_ring.h"
#include "cv/auth/claims.h"
#include "relay/common/hex.h"
#include "relay/common/log.h"

namespace cv::admin {

namespace {

// Names tried for a retired key file when its not-after is taken (two rotations in one second):
// the not-after moves up a second each time.
constexpr int kRetiredNameAttempts = 1000;
// Key ids tried for a new TURN secret rotated in a second that already has one.
constexpr int kKeyIdAttempts = 1000;

void SetError(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
}

std::string Errno(const std::string& path, const char* what, int err) {
  return path + ": " + what + ": " + std::strerror(err);
}

std::string DirectoryOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  return dir.empty() ? "." : dir;
}

// A file name beside `path` that nothing else uses; created by the caller with O_EXCL.
std::string TemporaryPath(const std::string& path) { return path + ".tmp-" + RandomHex(8); }

std::string RetiredPath(const std::string& signing_key_file, int64_t not_after) {
  return signing_key_file + ".retired." + std::to_string(not_after);
}

// Makes the renames and links in `dir` durable.
bool SyncDirectory(const std::string& dir, std::string* error) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    SetError(error, Errno(dir, "cannot open the directory", errno));
    return false;
  }
  const bool ok = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) SetError(error, Errno(dir, "cannot sync the directory", err));
  return ok;
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Replaces `path` with `text` so that a reader (or a crash) sees the old file or the new one,
// never a mix: a mode-600 temporary file in the same directory, written, synced, renamed over
// `path`, then the directory synced.
bool WriteFileAtomically(const std::string& path, std::string_view text, std::string* error) {
  const std::string temp = TemporaryPath(path);
  const int fd =
      ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
  if (fd < 0) {
    SetError(error, Errno(temp, "cannot create", errno));
    return false;
  }
  bool ok = WriteAll(fd, text);
  int err = errno;
  if (ok && ::fsync(fd) != 0) {
    ok = false;
    err = errno;
  }
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(temp.c_str());
    SetError(error, Errno(temp, "cannot write", err));
    return false;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(temp.c_str());
    SetError(error, Errno(path, "cannot replace", err));
    return false;
  }
  // The new content is in place; a failed directory sync only weakens durability after a crash.
  std::string sync_error;
  if (!SyncDirectory(DirectoryOf(path), &sync_error)) {
    CV_WARN("file.sync_failed", "error=%s", log::Quote(sync_error).c_str());
  }
  return true;
}

// Writes `key` (PEM, mode 600) to "<signing_key_file>.retired.<not-after>", moving not-after up
// while the name is taken: written under a temporary name, then linked, which never replaces an
// existing file. Sets *not_after and *path to what was used.
bool WriteRetiredKey(const token::Ed25519Key& key, const std::string& signing_key_file,
                     int64_t* not_after, std::string* path, std::string* error) {
  const std::string temp = TemporaryPath(signing_key_file);
  if (!key.SavePem(temp, error)) return false;
  bool linked = false;
  int err = 0;
  for (int i = 0; i < kRetiredNameAttempts; ++i, ++*not_after) {
    *path = RetiredPath(signing_key_file, *not_after);
    if (::link(temp.c_str(), path->c_str()) == 0) {
      linked = true;
      break;
    }
    err = errno;
    if (err != EEXIST) break;
  }
  ::unlink(temp.c_str());
  if (!linked) {
    SetError(error, Errno(*path, "cannot create", err));
    return false;
  }
  // It must be on disk before the new key replaces the current one.
  if (!SyncDirectory(DirectoryOf(signing_key_file), error)) {
    ::unlink(path->c_str());
    return false;
  }
  return true;
}

// "k<now_s>", or "k<now_s>-<n>" when that id is taken; empty when no id fits.
std::string NewKeyId(const std::vector<auth::Secret>& secrets, int64_t now_s) {
  std::set<std::string, std::less<>> used;
  for (const auth::Secret& s : secrets) used.insert(s.key_id);
  const std::string base = "k" + std::to_string(now_s);
  for (int n = 1; n <= kKeyIdAttempts; ++n) {
    std::string id = n == 1 ? base : base + "-" + std::to_string(n);
    if (!auth::IsValidKeyId(id)) break;
    if (used.count(id) == 0) return id;
  }
  return {};
}

}  // namespace

bool PruneKeyRing(const std::string& signing_key_file, int64_t now_s, KeyRing* ring) {
  bool changed = false;
  for (auto it = ring->not_after.begin(); it != ring->not_after.end();) {
    if (it->second > now_s) {
      ++it;
      continue;
    }
    const std::string& kid = it->first;
    auto& verify = ring->verify;
    verify.erase(std::remove_if(verify.begin(), verify.end(),
                                [&](const token::VerifyKey& k) {
                                  return k.kid == kid && k.kid != ring->signing.kid;
                                }),
                 verify.end());
    it = ring->not_after.erase(it);
    changed = true;
  }

  // Every retired file past its time goes, also those LoadKeyRing skipped at start.
  std::string error;
  auto retired = ListRetiredKeyFiles(signing_key_file, &error);
  if (!retired) {
    CV_WARN("token.key_prune_failed", "error=%s", log::Quote(error).c_str());
    return changed;
  }
  for (const auto& [not_after, path] : *retired) {
    if (not_after > now_s) continue;
    if (::unlink(path.c_str()) == 0) {
      CV_INFO("token.key_pruned", "file=%s", log::Quote(path).c_str());
    } else if (errno != ENOENT) {
      CV_WARN("token.key_prune_failed", "file=%s error=%s", log::Quote(path).c_str(),
              std::strerror(errno));
    }
  }
  return changed;
}

std::optional<std::string> RotateTokenKey(const std::string& signing_key_file, int64_t overlap_s,
                                          int64_t now_s, KeyRing* ring, std::string* error) {
  if (overlap_s < 0) {
    SetError(error, "the overlap must not be negative");
    return std::nullopt;
  }
  auto fresh = token::Ed25519Key::Generate(error);
  if (!fresh) return std::nullopt;
  const std::string public_key = fresh->PublicKey();
  token::VerifyKey next{token::JwkThumbprint(public_key), public_key};

  // The current key first, so that a crash in between leaves it signing (and also retired, which
  // LoadKeyRing ignores for the signing key). With no overlap it stops verifying at once.
  int64_t not_after = now_s + overlap_s;
  std::string retired_path;
  if (overlap_s > 0 &&
      !WriteRetiredKey(ring->signing.key, signing_key_file, &not_after, &retired_path, error)) {
    return std::nullopt;
  }
  auto undo = [&] {
    if (!retired_path.empty()) ::unlink(retired_path.c_str());
  };

  const std::string temp = TemporaryPath(signing_key_file);
  if (!fresh->SavePem(temp, error)) {
    undo();
    return std::nullopt;
  }
  if (::rename(temp.c_str(), signing_key_file.c_str()) != 0) {
    SetError(error, Errno(signing_key_file, "cannot replace", errno));
    ::unlink(temp.c_str());
    undo();
    return std::nullopt;
  }
  std::string sync_error;
  if (!SyncDirectory(DirectoryOf(signing_key_file), &sync_error)) {
    CV_WARN("file.sync_failed", "error=%s", log::Quote(sync_error).c_str());
  }

  // The ring: the new key signs and comes first; the old one verifies until not_after.
  const std::string old_kid = ring->signing.kid;
  std::vector<token::VerifyKey> verify{next};
  for (token::VerifyKey& k : ring->verify) {
    if (k.kid == next.kid || (k.kid == old_kid && overlap_s == 0)) continue;
    verify.push_back(std::move(k));
  }
  ring->verify = std::move(verify);
  if (overlap_s > 0) {
    ring->not_after[old_kid] = not_after;
  } else {
    ring->not_after.erase(old_kid);
  }
  ring->not_after.erase(next.kid);
  ring->signing = token::SigningKey{next.kid, std::move(*fresh)};
  return next.kid;
}

std::optional<TurnRotation> RotateTurnSecret(const std::string& secrets_file, int64_t overlap_s,
                                             int64_t now_s, std::string* error) {
  if (overlap_s < 0) {
    SetError(error, "the overlap must not be negative");
    return std::nullopt;
  }
  // Refuses a file that is missing, unparsable or readable by others; never quotes a secret.
  auto current = auth::LoadSecretsFile(secrets_file, error);
  if (!current) return std::nullopt;

  TurnRotation out;
  out.key_id = NewKeyId(*current, now_s);
  if (out.key_id.empty()) {
    SetError(error,
             secrets_file + ": no free key id for a secret rotated at " + std::to_string(now_s));
    return std::nullopt;
  }
  std::string value = RandomHex(32);
  if (value.empty()) {
    SetError(error, "cannot draw random bytes for a new TURN secret");
    return std::nullopt;
  }
  out.secrets.push_back(auth::Secret{out.key_id, std::move(value), 0});

  // Old secrets verify until now + overlap at the latest; those already past their end go.
  const int64_t end = std::max<int64_t>(1, now_s + overlap_s);
  for (auth::Secret& s : *current) {
    if (!s.ActiveAt(now_s)) continue;
    if (s.not_after == 0 || s.not_after > end) s.not_after = end;
    out.secrets.push_back(std::move(s));
  }

  std::string text = "# TURN REST secrets, rotated by cvadmin at " + std::to_string(now_s) +
                     ": <key-id> <secret> [<not-after>], the one to mint with first\n";
  for (const auth::Secret& s : out.secrets) {
    text += s.key_id + " " + s.value;
    if (s.not_after != 0) text += " " + std::to_string(s.not_after);
    text += "\n";
  }
  // What cvrelay will read must parse; a check here costs nothing.
  bool ok = auth::ParseSecretsFile(text, secrets_file, error).has_value() &&
            WriteFileAtomically(secrets_file, text, error);
  OPENSSL_cleanse(text.data(), text.size());
  if (!ok) return std::nullopt;
  return out;
}

}  // namespace cv::admin
