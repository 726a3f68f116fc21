// libFuzzer target: what a stranger sends cvadmin to prove who they are — a call session token
// (compact JWT) and the four signed-request header values — through base64url, the JWT verifier
// and the request-signature verifier. Invariants (any violation traps):
//   - nothing crashes or reads out of bounds, whatever the bytes;
//   - base64url is canonical: text that decodes encodes back to the same text;
//   - nothing verifies without the key's signature: no input accepted as a token or as a signed
//     request unless it carries a valid Ed25519 signature by the test key (the fuzzer cannot
//     forge one, so any acceptance of a mutated input is a bug).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "admin/token/base64url.h"
#include "admin/token/ed25519.h"
#include "admin/token/jwt.h"
#include "admin/token/signed_request.h"

namespace {

constexpr int64_t kNow = 1'700'000'000;

// RFC 8032 TEST 1's seed: the fuzzer's inputs are checked against this key.
const cv::token::Ed25519Key& Key() {
  static const cv::token::Ed25519Key key = *cv::token::Ed25519Key::FromSeed(
      std::string("\x9d\x61\xb1\x9d\xef\xfd\x5a\x60\xba\x84\x4a\xf4\x92\xec\x2c\xc4"
                  "\x44\x49\xc5\x69\x7b\x32\x69\x19\x70\x3b\xac\x03\x1c\xae\x7f\x60",
                  32),
      nullptr);
  return key;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto decoded = cv::token::Base64UrlDecode(input)) {
    Check(cv::token::Base64UrlEncode(*decoded) == input);
  }

  const std::vector<cv::token::VerifyKey> keys = {
      {cv::token::JwkThumbprint(Key().PublicKey()), Key().PublicKey()}};
  cv::token::TokenError error = cv::token::TokenError::kNone;
  auto verified = cv::token::VerifyJwt(input, keys, {kNow, 30, 3600}, &error);
  Check(verified.has_value() == (error == cv::token::TokenError::kNone));
  if (verified) {
    // Only a token the key really signed can get here: re-verify its signature by hand.
    const size_t dot = input.rfind('.');
    auto signature = cv::token::Base64UrlDecode(input.substr(dot + 1));
    Check(signature &&
          cv::token::Ed25519Verify(Key().PublicKey(), input.substr(0, dot), *signature));
  }

  // The same bytes as "user\ntimestamp\nnonce\nsignature\nbody".
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (fields.size() < 4) {
    const size_t nl = input.find('\n', start);
    if (nl == std::string_view::npos) break;
    fields.push_back(input.substr(start, nl - start));
    start = nl + 1;
  }
  if (fields.size() == 4) {
    cv::token::SignedRequest request{fields[0], fields[1],           fields[2],          fields[3],
                                     "POST",    "/v1/call-sessions", input.substr(start)};
    int64_t timestamp = 0;
    auto result = cv::token::VerifySignedRequest(request, Key().PublicKey(), kNow, 120, &timestamp);
    if (result == cv::token::RequestError::kNone) {
      auto signature = cv::token::Base64UrlDecode(fields[3]);
      Check(signature.has_value() &&
            cv::token::Ed25519Verify(
                Key().PublicKey(),
                cv::token::RequestSigningString(fields[0], fields[1], fields[2], "POST",
                                                "/v1/call-sessions", input.substr(start)),
                *signature));
    }
  }
  return 0;
}
