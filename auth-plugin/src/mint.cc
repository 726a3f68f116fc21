#include "cv/auth/mint.h"

#include "cv/auth/rest_credentials.h"

namespace cv::auth {

std::optional<MintedCredential> MintCredential(const MintRequest& request, const Secret& secret,
                                               int64_t now, std::string* error) {
  if (request.ttl_s < 1 || request.ttl_s > kMaxMintTtlSeconds) {
    *error = "ttl must be 1 to " + std::to_string(kMaxMintTtlSeconds) + " seconds";
    return std::nullopt;
  }
  if (secret.value.empty()) {
    *error = "the secret is empty";
    return std::nullopt;
  }
  if (!secret.ActiveAt(now)) {
    *error = "secret '" + secret.key_id + "' is retired (not-after has passed)";
    return std::nullopt;
  }
  std::string rest;
  if (request.claims) {
    Claims claims = *request.claims;
    claims.key_id = secret.key_id;
    std::string why;
    rest = FormatClaims(claims, &why);
    if (rest.empty()) {
      *error = "invalid claims: " + why;
      return std::nullopt;
    }
  } else {
    for (char c : request.claimless_user) {
      if (c == request.separator || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        *error = "the user must not contain the separator or control characters";
        return std::nullopt;
      }
    }
    if (LooksLikeClaims(request.claimless_user)) {
      *error = "a claimless user must not start with the claims version tag";
      return std::nullopt;
    }
    rest = request.claimless_user;
  }
  MintedCredential out;
  out.ttl_s = request.ttl_s;
  out.expires = now + request.ttl_s;
  out.username = MintRestUsername(out.expires, rest, request.separator);
  if (out.username.size() > kMaxUsernameLength) {
    *error = "the username would be longer than " + std::to_string(kMaxUsernameLength) + " bytes";
    return std::nullopt;
  }
  out.password = RestPassword(secret.value, out.username);
  return out;
}

}  // namespace cv::auth
