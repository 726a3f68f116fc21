#include "tests/support/tls_stun_client.h"

#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>

namespace cv::testing {

std::vector<uint8_t> BindingHeader(uint16_t length, uint32_t cookie) {
  std::vector<uint8_t> h = {0x00,
                            0x01,
                            static_cast<uint8_t>(length >> 8),
                            static_cast<uint8_t>(length),
                            static_cast<uint8_t>(cookie >> 24),
                            static_cast<uint8_t>(cookie >> 16),
                            static_cast<uint8_t>(cookie >> 8),
                            static_cast<uint8_t>(cookie)};
  h.resize(20);
  RAND_bytes(h.data() + 8, 12);
  return h;
}

bool IsBindingSuccessFor(const std::vector<uint8_t>& request,
                         const std::vector<uint8_t>& response) {
  return request.size() >= 20 && response.size() >= 20 && response[0] == 0x01 &&
         response[1] == 0x01 &&
         std::equal(request.begin() + 4, request.begin() + 20, response.begin() + 4);
}

bool BindSource(int fd, const char* source_ip) {
  if (source_ip == nullptr) return true;
  auto a = SocketAddress::Parse(std::string(source_ip) + ":0");
  if (!a) return false;
  sockaddr_storage ss;
  socklen_t len = a->ToSockaddr(&ss);
  return bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0;
}

TlsStunClient::~TlsStunClient() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) close(fd_);
}

bool TlsStunClient::Connect(const SocketAddress& server, const char* source_ip,
                            std::chrono::milliseconds timeout) {
  fd_ = socket(server.ip.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0 || !BindSource(fd_, source_ip)) return false;
  SetTimeout(timeout);
  sockaddr_storage ss;
  socklen_t len = server.ToSockaddr(&ss);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) return false;
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) return false;
  ssl_ = SSL_new(ctx_);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) return false;
  return SSL_connect(ssl_) == 1;
}

bool TlsStunClient::Send(const std::vector<uint8_t>& data) {
  return SSL_write(ssl_, data.data(), static_cast<int>(data.size())) ==
         static_cast<int>(data.size());
}

bool TlsStunClient::Binding() {
  const std::vector<uint8_t> request = BindingHeader(0);
  if (!Send(request)) return false;
  std::vector<uint8_t> response(20);
  if (!ReadExactly(response.data(), 20)) return false;
  const size_t body = (size_t{response[2]} << 8) | response[3];
  response.resize(20 + body);
  if (body > 0 && !ReadExactly(response.data() + 20, body)) return false;
  return IsBindingSuccessFor(request, response);
}

std::string TlsStunClient::PeerCommonName() const {
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (cert == nullptr) return "";
  std::array<char, 256> cn{};
  const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn.data(),
                                          static_cast<int>(cn.size()));
  X509_free(cert);
  return n > 0 ? std::string(cn.data(), static_cast<size_t>(n)) : "";
}

bool TlsStunClient::ClosedWithin(std::chrono::milliseconds timeout) {
  SetTimeout(timeout);
  std::array<uint8_t, 4096> buf;
  for (;;) {
    const int r = SSL_read(ssl_, buf.data(), static_cast<int>(buf.size()));
    if (r > 0) continue;
    // A receive timeout surfaces as WANT_READ on a blocking socket; anything else is the end.
    return SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ;
  }
}

void TlsStunClient::SetTimeout(std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>((t.count() % 1000) * 1000)};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

bool TlsStunClient::ReadExactly(uint8_t* out, size_t n) {
  size_t got = 0;
  while (got < n) {
    const int r = SSL_read(ssl_, out + got, static_cast<int>(n - got));
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

}  // namespace cv::testing
