// The call session token keys: the Ed25519 key cvadmin signs with, from a PKCS#8 PEM file (made,
// mode 600, on first start when asked to), plus older keys that tokens may still verify with
// during a rotation. Each key's kid is its RFC 7638 thumbprint.
//
// Threading: loaded once on the main thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "admin/service/call_service.h"

namespace cv::admin {

// A "<signing_key_file>.retired.<not-after>" file a rotation left (admin/service/rotation.h).
struct RetiredKeyFile {
  int64_t not_after = 0;  // Unix seconds
  std::string path;
};
// The retired key files beside the signing key, latest not-after first. nullopt with `error`
// when the directory cannot be listed.
std::optional<std::vector<RetiredKeyFile>> ListRetiredKeyFiles(const std::string& signing_key_file,
                                                               std::string* error);

// Also loads the retired keys of a rotation (admin/service/rotation.h) still in force at now_s.
// nullopt with `error` ("<path>: …") when a file cannot be read or is not an Ed25519 key.
std::optional<KeyRing> LoadKeyRing(const std::string& signing_key_file,
                                   const std::vector<std::string>& verify_only_files,
                                   bool create_missing, int64_t now_s, std::string* error);

}  // namespace cv::admin
