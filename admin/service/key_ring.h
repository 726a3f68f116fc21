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

// Also loads the retired keys of a rotation (admin/service/rotation.h) still in force at now_s.
// nullopt with `error` ("<path>: …") when a file cannot be read or is not an Ed25519 key.
std::optional<KeyRing> LoadKeyRing(const std::string& signing_key_file,
                                   const std::vector<std::string>& verify_only_files,
                                   bool create_missing, int64_t now_s, std::string* error);

}  // namespace cv::admin
