// One request to cvadmin's admin API and what cvctl makes of the answer: the exit code, the
// output (admin/ctl/output.h) and the error line.
//
//   2xx          the answer on stdout (204: a one-line confirmation, or {} with -o json)   exit 0
//   401, 403     cvctl: <status> <code>: <detail>                                          exit 4
//   404          the same                                                                  exit 3
//   other 4xx    the same                                                                  exit 1
//   5xx          the same                                                                  exit 5
//   no answer    cvctl: cannot reach <url>: <why>                                          exit 5
//   bad answer   cvctl: unreadable answer from <url>: <why>                                exit 5
// The token goes in the Authorization header and nowhere else.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

#include "admin/ctl/settings.h"
#include "relay/common/http_client.h"

namespace cv::ctl {

// Exit codes; scripts rely on them (docs/cvctl.md "Exit codes").
inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;        // the server refused the request (other 4xx)
inline constexpr int kExitUsage = 2;          // bad arguments or configuration
inline constexpr int kExitNotFound = 3;       // 404
inline constexpr int kExitNotAuthorised = 4;  // 401, 403
inline constexpr int kExitUnavailable = 5;    // unreachable, timed out, 5xx, unreadable answer

// The transport: http::Fetch in cvctl, a fake in tests.
using Fetcher = std::function<std::optional<http::ClientResponse>(
    const http::Url& url, const http::ClientRequest& request, const http::FetchOptions& options,
    std::string* error)>;

// What a command asks of cvadmin.
struct ApiCall {
  std::string method = "GET";
  std::string target;  // "/admin/users?limit=5", ids percent-encoded
  // Sent as JSON. POST and PUT without one send {}.
  std::optional<nlohmann::ordered_json> body;
  // Table output: printed on success, before the answer if there is one ("flag cleared").
  std::string done;
  bool csv = false;  // the answer is text/csv: printed exactly as sent, in either output mode
};

int ExitCodeForStatus(int status);

// Sends `call` with `settings`' URL, token and timeout; prints the answer on `out` or the error
// on `err`, and warns on `err` about relays that did not take a revocation. Returns the exit code.
int RunApiCall(const ApiCall& call, const Settings& settings, const Fetcher& fetch,
               std::ostream& out, std::ostream& err);

}  // namespace cv::ctl
