// The claims grammar (cv/auth/claims.h) scanned without allocating: the one implementation that
// both ParseClaims() and the authenticator's Lookup() use, so they cannot disagree about what is
// malformed. Private to cvauth.
#pragma once

#include <cstdint>
#include <string_view>

namespace cv::auth::internal {

// Claims as views into the scanned text; valid while that text lives.
struct ClaimsView {
  std::string_view key_id;
  std::string_view user;
  std::string_view session;
  std::string_view line;
  std::string_view plan;
  bool video = false;
  uint32_t group_size = 2;
  uint32_t bandwidth_kbps = 0;
  uint32_t max_duration_s = 0;
};

// Why a scan failed: a fixed sentence, and the claim key it is about when there is one (empty
// for errors about the whole text). The key is a view into the scanned text and only ever one of
// the known keys, or an unknown key that ClaimsKeyIsPrintable() accepts; values are never kept.
struct ClaimsError {
  const char* what = "";
  std::string_view key;
};

// True and `*out` filled when `rest` follows the grammar; false and `*error` filled otherwise.
bool ScanClaims(std::string_view rest, ClaimsView* out, ClaimsError* error);

}  // namespace cv::auth::internal
