#include "admin/service/request_auth.h"

#include <openssl/crypto.h>

#include <utility>

#include "admin/token/signed_request.h"
#include "cv/auth/claims.h"

namespace cv::admin {

namespace {

constexpr size_t kMaxUserId = auth::kMaxUserIdLength;

Refusal Unauthenticated(const char* code, std::string detail) {
  return Refusal{401, code, std::move(detail), 0, nullptr};
}

}  // namespace

RequestAuthenticator::RequestAuthenticator(AdminStore& store, const Clock& clock,
                                           AdminMetrics& metrics, RequestAuthOptions options)
    : store_(store), clock_(clock), metrics_(metrics), options_(std::move(options)) {}

Refusal RequestAuthenticator::Fail(const char* source, const char* reason, Refusal refusal) {
  metrics_.AuthFailure(source, reason);
  return refusal;
}

std::optional<Caller> RequestAuthenticator::Authenticate(const http::Request& request,
                                                         Refusal* refusal) {
  if (request.Header("Authorization")) return Service(request, refusal);

  auto user = request.Header(token::kUserHeader);
  auto timestamp = request.Header(token::kTimestampHeader);
  auto nonce = request.Header(token::kNonceHeader);
  auto signature = request.Header(token::kSignatureHeader);
  if (!user && !timestamp && !nonce && !signature) {
    *refusal = Fail("request", "missing",
                    Unauthenticated(code::kSignatureRequired,
                                    "sign the request with your identity key (X-CV-User, "
                                    "X-CV-Timestamp, X-CV-Nonce, X-CV-Signature)"));
    return std::nullopt;
  }
  if (!user || !timestamp || !nonce || !signature || !auth::IsValidId(*user, kMaxUserId)) {
    *refusal = Fail("request", "malformed",
                    BadRequest("each of X-CV-User, X-CV-Timestamp, X-CV-Nonce and X-CV-Signature "
                               "must appear exactly once, well formed"));
    return std::nullopt;
  }

  Caller caller;
  std::string error;
  StoreStatus found = store_.FindUser(*user, &caller.user, &error);
  if (found == StoreStatus::kError) {
    metrics_.StoreError();
    *refusal = StoreUnavailable("users");
    return std::nullopt;
  }
  if (found != StoreStatus::kOk || caller.user.public_key.empty()) {
    *refusal = Fail("request", "unknown_key",
                    Unauthenticated(code::kUnknownKey,
                                    "no identity key is registered for this "
                                    "user"));
    return std::nullopt;
  }

  const int64_t now = clock_.UnixNow();
  int64_t signed_at = 0;
  token::SignedRequest signed_request{*user,          *timestamp,     *nonce,      *signature,
                                      request.method, request.target, request.body};
  switch (token::VerifySignedRequest(signed_request, caller.user.public_key, now,
                                     options_.max_skew_s, &signed_at)) {
    case token::RequestError::kNone:
      break;
    case token::RequestError::kMalformed:
      *refusal = Fail("request", "malformed",
                      BadRequest("the signature headers are malformed (see the signing format)"));
      return std::nullopt;
    case token::RequestError::kClockSkew: {
      Refusal r = Unauthenticated(code::kClockSkew,
                                  "the request's timestamp is more than " +
                                      std::to_string(options_.max_skew_s) +
                                      " s from the server's clock; sign again with server_time");
      r.extra = {{"server_time", now}};
      *refusal = Fail("request", "skew", std::move(r));
      return std::nullopt;
    }
    case token::RequestError::kBadSignature:
      *refusal = Fail("request", "bad_signature",
                      Unauthenticated(code::kBadSignature,
                                      "the signature does not verify with the user's key"));
      return std::nullopt;
  }

  // Once the timestamp is out of the skew window the nonce can no longer pass; keep it until then.
  const int64_t expires_ms = (signed_at + options_.max_skew_s + 1) * 1000;
  switch (store_.UseOnce("nonce:" + caller.user.id, *nonce, expires_ms, &error)) {
    case StoreStatus::kOk:
      return caller;
    case StoreStatus::kConflict:
      *refusal = Fail("request", "replay",
                      Unauthenticated(code::kTokenReplayed,
                                      "this request's nonce was used before; sign every request "
                                      "with a fresh nonce"));
      return std::nullopt;
    default:
      metrics_.StoreError();
      *refusal = StoreUnavailable("nonces");
      return std::nullopt;
  }
}

std::optional<Caller> RequestAuthenticator::Service(const http::Request& request,
                                                    Refusal* refusal) {
  bool known = false;
  for (const http::TokenDigest& key : options_.service_keys) {
    known = http::BearerMatches(request, key) || known;
  }
  if (!known) {
    *refusal = Fail("service", "unknown_key",
                    Unauthenticated(code::kUnknownKey, "the service API key is not known"));
    return std::nullopt;
  }
  auto user = request.Header(token::kUserHeader);
  if (!user || !auth::IsValidId(*user, kMaxUserId)) {
    *refusal = Fail("service", "malformed",
                    BadRequest("service requests name the user they act for in X-CV-User"));
    return std::nullopt;
  }
  Caller caller;
  caller.service = true;
  std::string error;
  switch (store_.FindUser(*user, &caller.user, &error)) {
    case StoreStatus::kOk:
      return caller;
    case StoreStatus::kError:
      metrics_.StoreError();
      *refusal = StoreUnavailable("users");
      return std::nullopt;
    default:
      *refusal = Fail("service", "unknown_key", Unauthenticated(code::kUnknownKey, "no such user"));
      return std::nullopt;
  }
}

}  // namespace cv::admin
