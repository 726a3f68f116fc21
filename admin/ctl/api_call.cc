#include "admin/ctl/api_call.h"

#include <sstream>
#include <string_view>

#include "admin/ctl/output.h"

namespace cv::ctl {
namespace {

using Json = nlohmann::ordered_json;

std::string FirstLine(std::string_view text, size_t max) {
  text = text.substr(0, text.find_first_of("\r\n"));
  std::string line(text.substr(0, max));
  for (char& c : line) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return line;
}

// Members of an answer that may not be what the spec says: never throws.
std::string StringMember(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// "cvctl: 404 NOT_FOUND: no such user" from a problem+json answer; from anything else, the
// first line of the body.
void PrintProblem(const http::ClientResponse& response, std::ostream& err) {
  const Json problem = Json::parse(response.body, nullptr, false);
  std::string code, detail;
  if (problem.is_object()) {
    code = StringMember(problem, "code");
    if (code.empty()) code = StringMember(problem, "title");
    detail = StringMember(problem, "detail");
    const std::string role = StringMember(problem, "required_role");
    if (!role.empty() && detail.find(role) == std::string::npos) {
      detail += (detail.empty() ? "" : " ") + std::string("(needs the role ") + role + ")";
    }
  } else {
    detail = FirstLine(response.body, 200);
  }
  err << "cvctl: " << response.status;
  if (!code.empty()) err << " " << FirstLine(code, 100);
  if (!detail.empty()) err << ": " << FirstLine(detail, 1000);
  err << "\n";
}

// Revocations reach every relay; the answer says which did not take it. It is recorded (and
// resent) all the same, so this is a warning, not a failure.
void WarnAboutRelays(const Json& answer, std::ostream& err) {
  if (!answer.is_object() || !answer.contains("relays") || !answer["relays"].is_array()) return;
  for (const Json& relay : answer["relays"]) {
    if (!relay.is_object() || !relay.contains("ok") || relay["ok"] != false) continue;
    std::string name = StringMember(relay, "relay");
    if (name.empty()) name = "?";
    std::string why = StringMember(relay, "error");
    if (why.empty()) {
      auto status = relay.find("status");
      why = "answered " + (status != relay.end() ? status->dump() : std::string("nothing"));
    }
    err << "cvctl: warning: relay " << FirstLine(name, 100) << ": " << FirstLine(why, 500) << "\n";
  }
}

// The error lines with the token taken out, should a server or a proxy ever echo it.
std::string Redacted(std::string text, const std::string& token) {
  if (token.empty()) return text;
  for (size_t at = text.find(token); at != std::string::npos; at = text.find(token, at)) {
    text.replace(at, token.size(), "[token]");
  }
  return text;
}

// Sends the request and prints what came of it; `err` gets the error lines, unredacted.
int Exchange(const ApiCall& call, const Settings& settings, const Fetcher& fetch, std::ostream& out,
             std::ostream& err) {
  http::ClientRequest request;
  request.method = call.method;
  request.target = call.target;
  request.headers.emplace_back("Authorization", "Bearer " + settings.token);
  request.headers.emplace_back("Accept", call.csv ? "text/csv" : "application/json");
  if (call.body) {
    request.body = call.body->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } else if (call.method == "POST" || call.method == "PUT") {
    request.body = "{}";
  }
  http::FetchOptions options;
  options.timeout_ms = settings.timeout_s * 1000;

  const std::string url = settings.url.ToString();
  std::string error;
  std::optional<http::ClientResponse> response = fetch(settings.url, request, options, &error);
  if (!response) {
    err << "cvctl: cannot reach " << url << ": " << error << "\n";
    return kExitUnavailable;
  }
  const int status = response->status;
  if (status < 200 || (status >= 300 && status < 400)) {
    err << "cvctl: unreadable answer from " << url << ": unexpected status " << status << "\n";
    return kExitUnavailable;
  }
  if (status >= 400) {
    PrintProblem(*response, err);
    return ExitCodeForStatus(status);
  }

  const bool json_output = settings.output == OutputFormat::kJson;
  if (call.csv) {
    out << response->body;
    return kExitOk;
  }
  if (status == 204 || response->body.empty()) {
    if (json_output) {
      out << "{}\n";
    } else {
      out << (call.done.empty() ? "done" : call.done) << "\n";
    }
    return kExitOk;
  }
  const Json answer = Json::parse(response->body, nullptr, false);
  if (answer.is_discarded()) {
    err << "cvctl: unreadable answer from " << url << ": " << status << " with a body that is "
        << "not JSON\n";
    return kExitUnavailable;
  }
  if (json_output) {
    PrintJson(answer, out);
  } else {
    if (!call.done.empty()) out << call.done << "\n\n";
    PrintTable(answer, out);
  }
  WarnAboutRelays(answer, err);
  return kExitOk;
}

}  // namespace

int ExitCodeForStatus(int status) {
  if (status >= 200 && status < 300) return kExitOk;
  if (status == 401 || status == 403) return kExitNotAuthorised;
  if (status == 404) return kExitNotFound;
  if (status >= 400 && status < 500) return kExitRefused;
  return kExitUnavailable;
}

int RunApiCall(const ApiCall& call, const Settings& settings, const Fetcher& fetch,
               std::ostream& out, std::ostream& err) {
  std::ostringstream errors;
  const int code = Exchange(call, settings, fetch, out, errors);
  err << Redacted(errors.str(), settings.token);
  return code;
}

}  // namespace cv::ctl
