// Who is calling: every client request is either signed with the user's Ed25519 identity key
// (admin/token/signed_request.h: X-CV-User, X-CV-Timestamp, X-CV-Nonce, X-CV-Signature) or made
// by the app's own backend in service mode ("Authorization: Bearer <service API key>" plus
// X-CV-User naming the user it acts for).
//
// Checks, in order, each refusal with its own code and counted by reason
// (cvadmin_auth_failures_total{source="request"|"service",reason}):
//   no signature headers and no Authorization   401 SIGNATURE_REQUIRED  (reason "missing")
//   a header that does not parse                 400 BAD_REQUEST         ("malformed")
//   no such user, or no key registered           401 UNKNOWN_KEY         ("unknown_key")
//   |server time - timestamp| > max skew         401 CLOCK_SKEW          ("skew"; the reply
//                                                                         carries server_time)
//   signature does not verify                    401 BAD_SIGNATURE       ("bad_signature")
//   the nonce was accepted before                401 TOKEN_REPLAYED      ("replay")
//   the nonce store failed                       503 STORE_UNAVAILABLE   (fail closed)
// A nonce is remembered until its timestamp can no longer pass the skew check, so it is accepted
// exactly once, also across cvadmin processes that share the store.
//
// Threading: used on cvadmin's event loop thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "admin/service/admin_metrics.h"
#include "admin/service/reply.h"
#include "admin/store/admin_store.h"
#include "relay/common/clock.h"
#include "relay/common/http_server.h"

namespace cv::admin {

struct RequestAuthOptions {
  int64_t max_skew_s = 120;
  std::vector<http::TokenDigest> service_keys;  // service mode off when empty
};

struct Caller {
  User user;             // the user the request is for (from the store)
  bool service = false;  // true: the app's backend with an API key
};

class RequestAuthenticator {
 public:
  RequestAuthenticator(AdminStore& store, const Clock& clock, AdminMetrics& metrics,
                       RequestAuthOptions options);

  // The caller, or the refusal to send.
  std::optional<Caller> Authenticate(const http::Request& request, Refusal* refusal);

 private:
  std::optional<Caller> Service(const http::Request& request, Refusal* refusal);
  Refusal Fail(const char* source, const char* reason, Refusal refusal);

  AdminStore& store_;
  const Clock& clock_;
  AdminMetrics& metrics_;
  RequestAuthOptions options_;
};

}  // namespace cv::admin
