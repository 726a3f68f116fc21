#include "tests/support/tls_files.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <vector>

namespace cv::testing {

std::optional<TlsFiles> MakeSelfSignedCert(const TempDir& dir, const std::string& common_name,
                                           const std::string& stem, std::string* error) {
  auto fail = [error](const std::string& why) -> std::optional<TlsFiles> {
    if (error != nullptr) *error = why;
    return std::nullopt;
  };
  if (common_name.empty() || common_name.find('/') != std::string::npos || stem.empty() ||
      stem.find('/') != std::string::npos) {
    return fail("common name and file stem must be non-empty and free of '/'");
  }
  if (access(kOpensslPath, X_OK) != 0) return fail(std::string(kOpensslPath) + " is missing");
  TlsFiles files{dir.path() + "/" + stem + ".pem", dir.path() + "/" + stem + ".key"};
  // openssl writes the new files in place; remove old ones first so a failure cannot leave the
  // previous certificate looking like the new one.
  std::error_code ec;
  std::filesystem::remove(files.cert, ec);
  std::filesystem::remove(files.key, ec);
  const std::vector<std::string> argv = {kOpensslPath,
                                         "req",
                                         "-x509",
                                         "-newkey",
                                         "ec",
                                         "-pkeyopt",
                                         "ec_paramgen_curve:P-256",
                                         "-nodes",
                                         "-days",
                                         "2",
                                         "-subj",
                                         "/CN=" + common_name,
                                         "-keyout",
                                         files.key,
                                         "-out",
                                         files.cert};
  RunResult r = RunCommand(argv, std::chrono::seconds(20));
  if (r.timed_out || r.exit_code != 0) {
    return fail("openssl req failed (exit " + std::to_string(r.exit_code) + "): " + r.output);
  }
  if (!std::filesystem::exists(files.cert) || !std::filesystem::exists(files.key)) {
    return fail("openssl req wrote no certificate or key: " + r.output);
  }
  return files;
}

}  // namespace cv::testing
