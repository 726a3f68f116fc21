#include "admin/token/jwt.h"

#include <openssl/evp.h>

#include <limits>
#include <set>
#include <utility>

#include "admin/token/base64url.h"

namespace cv::token {
namespace {

using nlohmann::json;

std::string Sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) return {};
  return std::string(reinterpret_cast<const char*>(digest), len);
}

// Parses a JSON object without exceptions. A repeated member name makes the text malformed
// (RFC 7515 §5.2 lets us refuse it): a reader that kept the first "alg" or "exp" must not see a
// different token than we verified.
std::optional<json> ParseObject(std::string_view text) {
  std::vector<std::set<std::string>> names;  // one set per open object
  bool duplicate = false;
  json::parser_callback_t track = [&](int, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        names.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!names.empty()) names.pop_back();
        break;
      case json::parse_event_t::key:
        if (!names.empty() && parsed.is_string() &&
            !names.back().insert(parsed.get_ref<const std::string&>()).second) {
          duplicate = true;
        }
        break;
      default:
        break;
    }
    return true;
  };
  json value = json::parse(text.begin(), text.end(), track, /*allow_exceptions=*/false);
  if (value.is_discarded() || duplicate || !value.is_object()) return std::nullopt;
  return value;
}

// An integer claim (RFC 7519 §2 NumericDate, here without fractions) that fits int64.
enum class IntClaim { kAbsent, kInvalid, kOk };
IntClaim GetInt(const json& claims, const char* name, int64_t* out) {
  auto it = claims.find(name);
  if (it == claims.end()) return IntClaim::kAbsent;
  if (it->is_number_unsigned()) {
    const uint64_t v = it->get<uint64_t>();
    if (v > uint64_t(std::numeric_limits<int64_t>::max())) return IntClaim::kInvalid;
    *out = int64_t(v);
    return IntClaim::kOk;
  }
  if (it->is_number_integer()) {
    *out = it->get<int64_t>();
    return IntClaim::kOk;
  }
  return IntClaim::kInvalid;
}

// Exact arithmetic for the time checks: claims may hold any int64, so now ± leeway and exp - iat
// must not wrap.
using Wide = __int128;

std::optional<VerifiedToken> Fail(TokenError* error, TokenError why) {
  if (error != nullptr) *error = why;
  return std::nullopt;
}

}  // namespace

std::string JwkThumbprint(std::string_view public_key) {
  // RFC 7638 §3.2: the required members of an OKP key (RFC 8037 §2) in lexicographic order,
  // no whitespace.
  const std::string canonical =
      R"({"crv":"Ed25519","kty":"OKP","x":")" + Base64UrlEncode(public_key) + R"("})";
  return Base64UrlEncode(Sha256(canonical));
}

json Jwks(const std::vector<VerifyKey>& keys) {
  json list = json::array();
  for (const VerifyKey& k : keys) {
    list.push_back({{"kty", "OKP"},
                    {"crv", "Ed25519"},
                    {"x", Base64UrlEncode(k.public_key)},
                    {"kid", k.kid},
                    {"alg", "EdDSA"},
                    {"use", "sig"}});
  }
  return json{{"keys", std::move(list)}};
}

// Compact serialization (RFC 7515 §7.1):
//
//   BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature)
//
// where the signature is Ed25519 over the ASCII of the first two parts and the dot between
// them (RFC 8037 §3.1).
std::string SignJwt(const json& claims, const SigningKey& key) {
  if (!claims.is_object()) return {};
  std::string header_text, payload_text;
  try {
    // Invalid UTF-8 in a string cannot be serialized; json::dump reports it by throwing.
    header_text = json{{"alg", "EdDSA"}, {"kid", key.kid}, {"typ", "JWT"}}.dump();
    payload_text = claims.dump();
  } catch (const json::exception&) {
    return {};
  }
  std::string token = Base64UrlEncode(header_text) + "." + Base64UrlEncode(payload_text);
  const std::string signature = key.key.Sign(token);
  if (signature.size() != kEd25519SignatureBytes) return {};
  token += ".";
  token += Base64UrlEncode(signature);
  return token;
}

const char* TokenErrorName(TokenError error) {
  switch (error) {
    case TokenError::kNone:
      return "none";
    case TokenError::kMalformed:
      return "malformed";
    case TokenError::kBadAlgorithm:
      return "bad_algorithm";
    case TokenError::kUnknownKey:
      return "unknown_key";
    case TokenError::kBadSignature:
      return "bad_signature";
    case TokenError::kExpired:
      return "expired";
    case TokenError::kNotYetValid:
      return "not_yet_valid";
    case TokenError::kLifetimeTooLong:
      return "lifetime_too_long";
  }
  return "unknown";
}

std::optional<VerifiedToken> VerifyJwt(std::string_view token, const std::vector<VerifyKey>& keys,
                                       const VerifyOptions& options, TokenError* error) {
  // 1. Exactly three parts, each strict base64url; header and payload JSON objects.
  const size_t dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return Fail(error, TokenError::kMalformed);
  const size_t dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Fail(error, TokenError::kMalformed);
  }
  const auto header_text = Base64UrlDecode(token.substr(0, dot1));
  const auto payload_text = Base64UrlDecode(token.substr(dot1 + 1, dot2 - dot1 - 1));
  const auto signature = Base64UrlDecode(token.substr(dot2 + 1));
  if (!header_text || !payload_text || !signature) return Fail(error, TokenError::kMalformed);
  std::optional<json> header = ParseObject(*header_text);
  std::optional<json> claims = ParseObject(*payload_text);
  if (!header || !claims) return Fail(error, TokenError::kMalformed);

  // 2. Only EdDSA (never "none", never an HMAC keyed with a public key), and no critical
  //    extensions, which we understand none of (RFC 7515 §4.1.11).
  auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string() || alg->get_ref<const std::string&>() != "EdDSA" ||
      header->contains("crit")) {
    return Fail(error, TokenError::kBadAlgorithm);
  }

  // 3. The key named by "kid".
  auto kid = header->find("kid");
  if (kid == header->end() || !kid->is_string()) return Fail(error, TokenError::kUnknownKey);
  const std::string& kid_text = kid->get_ref<const std::string&>();
  const VerifyKey* key = nullptr;
  for (const VerifyKey& k : keys) {
    if (k.kid == kid_text) {
      key = &k;
      break;
    }
  }
  if (key == nullptr) return Fail(error, TokenError::kUnknownKey);

  // 4. The signature over "header.payload" as received (RFC 7515 §5.2 step 8).
  if (!Ed25519Verify(key->public_key, token.substr(0, dot2), *signature)) {
    return Fail(error, TokenError::kBadSignature);
  }

  // 5. Times (RFC 7519 §4.1.4-6), with the leeway in the token's favour.
  int64_t exp = 0, iat = 0, nbf = 0;
  if (GetInt(*claims, "exp", &exp) != IntClaim::kOk ||
      GetInt(*claims, "iat", &iat) != IntClaim::kOk) {
    return Fail(error, TokenError::kMalformed);
  }
  const IntClaim has_nbf = GetInt(*claims, "nbf", &nbf);
  if (has_nbf == IntClaim::kInvalid) return Fail(error, TokenError::kMalformed);
  const Wide now = options.now;
  const Wide leeway = options.leeway_s;
  if (Wide(exp) <= now - leeway) return Fail(error, TokenError::kExpired);
  if (Wide(iat) > now + leeway || (has_nbf == IntClaim::kOk && Wide(nbf) > now + leeway)) {
    return Fail(error, TokenError::kNotYetValid);
  }
  if (options.max_lifetime_s > 0 && Wide(exp) - Wide(iat) > Wide(options.max_lifetime_s)) {
    return Fail(error, TokenError::kLifetimeTooLong);
  }

  if (error != nullptr) *error = TokenError::kNone;
  return VerifiedToken{kid_text, std::move(*claims)};
}

}  // namespace cv::token
