// Rotating the two secrets cvadmin signs with, without a restart and with an overlap window in
// which the old one still verifies (docs/cvadmin.md "Rotating secrets").
//
// Token signing key (call session tokens, EdDSA):
//   <token-key-file>                        the key cvadmin signs with (PKCS#8 PEM, mode 600)
//   <token-key-file>.retired.<not-after>    a former key; tokens it signed verify, and the JWKS
//                                           lists it, until <not-after> (Unix seconds)
// RotateTokenKey writes the current key to a retired file, a new key to <token-key-file> (a
// temporary file renamed over it, so a crash leaves one or the other), and updates the ring.
// LoadKeyRing (key_ring.h) loads the retired files still in force; PruneKeyRing drops keys whose
// time has passed (and deletes their files).
//
// TURN secret (auth-secrets-file, shared with cvrelay, which re-reads it within a second):
// RotateTurnSecret writes a new random secret (32 bytes, hex) under a new key id first in the
// file, gives every secret that had no end (or a later one) not-after = now + overlap, drops
// secrets already past their end, and writes the file atomically with mode 600 (temporary file in
// the same directory, fsync, rename). The secret itself is never logged or returned.
//
// Threading: call from one thread (cvadmin's loop).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "admin/service/call_service.h"
#include "cv/auth/secrets.h"

namespace cv::admin {

// Keeps the verify keys whose not-after is later than now_s; deletes the retired files of the
// others. True when the ring changed.
bool PruneKeyRing(const std::string& signing_key_file, int64_t now_s, KeyRing* ring);

// The new signing key's kid, or nullopt with `error` (the ring and files are unchanged then).
std::optional<std::string> RotateTokenKey(const std::string& signing_key_file, int64_t overlap_s,
                                          int64_t now_s, KeyRing* ring, std::string* error);

struct TurnRotation {
  std::string key_id;                 // the new secret's key id ("k" + Unix seconds, unique)
  std::vector<auth::Secret> secrets;  // the file's new content, new secret first
};
// nullopt with `error` when the file cannot be read, parsed or written (it is unchanged then).
std::optional<TurnRotation> RotateTurnSecret(const std::string& secrets_file, int64_t overlap_s,
                                             int64_t now_s, std::string* error);

}  // namespace cv::admin
