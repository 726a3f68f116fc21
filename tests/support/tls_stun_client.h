// A blocking TLS client that speaks STUN over one TCP connection, for tests of cvrelay's TLS
// listeners: connect (from a chosen source address), handshake without verifying the server's
// (self-signed) certificate, send Binding requests, and watch for the server closing.
// Every socket operation is bounded by a timeout. One thread.
#pragma once

#include <openssl/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "relay/common/address.h"

namespace cv::testing {

// A STUN Binding request header (RFC 8489 §5): type 0x0001, `length`, `cookie`, a random
// transaction ID. Length 0 and the magic cookie make a whole, valid request.
std::vector<uint8_t> BindingHeader(uint16_t length, uint32_t cookie = 0x2112A442);
// True when `response` (a whole STUN message) is a Binding success response to `request`.
bool IsBindingSuccessFor(const std::vector<uint8_t>& request, const std::vector<uint8_t>& response);
// Binds `fd` to `source_ip` (port 0) when given; true otherwise too.
bool BindSource(int fd, const char* source_ip);

class TlsStunClient {
 public:
  TlsStunClient() = default;
  ~TlsStunClient();
  TlsStunClient(const TlsStunClient&) = delete;
  TlsStunClient& operator=(const TlsStunClient&) = delete;

  // TCP connect (from `source_ip` when given) and TLS handshake.
  bool Connect(const SocketAddress& server, const char* source_ip = nullptr,
               std::chrono::milliseconds timeout = std::chrono::seconds(3));
  bool Send(const std::vector<uint8_t>& data);
  // A Binding request; true when the success response comes back on this connection.
  bool Binding();
  // The subject CN of the certificate the server presented.
  std::string PeerCommonName() const;
  // True when the server closes the connection (close_notify, EOF or reset) within `timeout`.
  bool ClosedWithin(std::chrono::milliseconds timeout);

 private:
  void SetTimeout(std::chrono::milliseconds t);
  bool ReadExactly(uint8_t* out, size_t n);

  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
};

}  // namespace cv::testing
