#include "tests/support/admin_client.h"

#include <openssl/rand.h>

#include <sstream>

#include "admin/token/base64url.h"
#include "admin/token/signed_request.h"
#include "tests/support/credentials.h"

namespace cv::testing {

namespace {

using json = nlohmann::json;

bool Names(const std::vector<std::string>& args, const std::string& key) {
  for (const std::string& a : args) {
    if (a.rfind("--" + key, 0) == 0) return true;
  }
  return false;
}

std::string FreshNonce() {
  unsigned char bytes[18];
  RAND_bytes(bytes, sizeof(bytes));
  return token::Base64UrlEncode(std::string(reinterpret_cast<char*>(bytes), sizeof(bytes)));
}

}  // namespace

bool AdminProcess::Start(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv = {BinaryPath("cvadmin"), "--listening-port=0", "--admin-port=0"};
  if (!Names(args, "db")) argv.push_back("--db=" + db());
  if (!Names(args, "token-key-file")) {
    argv.push_back("--token-key-file=" + state_.path() + "/token-key.pem");
  }
  if (!Names(args, "admin-token-file")) {
    const std::string token_file = state_.path() + "/admin-token";
    WriteFile(token_file, kAdminToken);  // mode 600, as cvadmin insists
    argv.push_back("--admin-token-file=" + token_file);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  if (!process_.Start(argv) || !process_.WaitForOutput("server.ready", timeout)) return false;
  const std::string out = process_.Output();
  auto client = LoggedAddress(out, "http-client");
  if (!client) client = LoggedAddress(out, "https-client");
  auto admin = LoggedAddress(out, "http-admin");
  if (!client || !admin) return false;
  client_ = *client;
  admin_ = *admin;
  return true;
}

std::optional<HttpResponse> AdminProcess::Admin(const std::string& method,
                                                const std::string& target, const json& body) {
  return HttpRequest(admin_, method, target, body.is_null() ? "" : body.dump(),
                     {{"Authorization", std::string("Bearer ") + kAdminToken},
                      {"Content-Type", "application/json"}});
}

bool AdminProcess::CreateUser(const std::string& id, const std::string& tier,
                              const std::string& public_key) {
  auto r = Admin("POST", "/admin/users", {{"id", id}, {"tier", tier}, {"public_key", public_key}});
  return r && r->status == 201;
}

double AdminProcess::Metric(const std::string& series) {
  auto r = Admin("GET", "/metrics");
  if (!r || r->status != 200) return -1;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

AppUser::AppUser(std::string id, const SocketAddress& server)
    : id_(std::move(id)), server_(server), key_(*token::Ed25519Key::Generate(nullptr)) {}

std::string AppUser::public_key_b64() const { return token::Base64UrlEncode(key_.PublicKey()); }

std::vector<std::pair<std::string, std::string>> AppUser::SignedHeaders(const std::string& method,
                                                                        const std::string& target,
                                                                        const std::string& body,
                                                                        int64_t skew_s,
                                                                        const std::string& nonce) {
  const int64_t now = UnixNowMs() / 1000 + skew_s;
  auto sig = token::SignRequest(key_, id_, now, nonce.empty() ? FreshNonce() : nonce, method,
                                target, body);
  return {{token::kUserHeader, sig.user},
          {token::kTimestampHeader, sig.timestamp},
          {token::kNonceHeader, sig.nonce},
          {token::kSignatureHeader, sig.signature},
          {"Content-Type", "application/json"}};
}

std::optional<HttpResponse> AppUser::Send(const std::string& method, const std::string& target,
                                          const json& body, int64_t skew_s,
                                          const std::string& nonce) {
  const std::string text = body.is_null() ? "" : body.dump();
  return HttpRequest(server_, method, target, text,
                     SignedHeaders(method, target, text, skew_s, nonce));
}

json JsonBody(const std::optional<HttpResponse>& response) {
  if (!response) return nullptr;
  json body = json::parse(response->body, nullptr, false);
  return body.is_discarded() ? json(nullptr) : body;
}

}  // namespace cv::testing
