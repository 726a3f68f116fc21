// base64url without padding (RFC 4648 §5, as JOSE uses it: RFC 7515 §2).
// Threading: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace cv::token {

std::string Base64UrlEncode(std::string_view bytes);
// Strict: only [A-Za-z0-9_-], no padding, no whitespace, a length that is not 1 mod 4, and the
// unused low bits of the last character zero (one text per value, so a token cannot be edited
// into another spelling of the same bytes). nullopt otherwise.
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace cv::token
