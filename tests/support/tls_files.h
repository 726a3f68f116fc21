// Throwaway TLS credentials for tests: a self-signed P-256 certificate and its unencrypted key,
// made by the system's openssl(1) in a scratch directory.
#pragma once

#include <optional>
#include <string>

#include "tests/support/process.h"

namespace cv::testing {

// Debian's openssl command line tool (package openssl).
inline constexpr char kOpensslPath[] = "/usr/bin/openssl";

struct TlsFiles {
  std::string cert;  // PEM: one self-signed certificate
  std::string key;   // PEM: its private key, unencrypted
};

// Writes <dir>/<stem>.pem and <dir>/<stem>.key for subject CN=`common_name`, valid for two days,
// replacing files of those names. nullopt when openssl is missing or fails; then *error (when
// given) holds why. `common_name` and `stem` must not contain '/'.
std::optional<TlsFiles> MakeSelfSignedCert(const TempDir& dir, const std::string& common_name,
                                           const std::string& stem = "server",
                                           std::string* error = nullptr);

}  // namespace cv::testing
