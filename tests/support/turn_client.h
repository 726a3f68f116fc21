// A small blocking STUN/TURN client over UDP for integration tests: enough to authenticate,
// allocate, refresh and bind channels against a real cvrelay. Bounded waits, no retries.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "relay/common/address.h"
#include "relay/stun/message.h"

namespace cv::testing {

class TurnClient {
 public:
  static constexpr uint16_t kNoReply = 0xFFFF;
  explicit TurnClient(const SocketAddress& server);
  ~TurnClient();

  struct Reply {
    bool received = false;
    uint16_t error = 0;  // 0 for a success response; kNoReply when nothing came back
    std::vector<uint8_t> bytes;
    std::optional<SocketAddress> relayed;
    std::optional<SocketAddress> mapped;
    std::optional<uint32_t> lifetime;
    std::optional<uint64_t> reservation_token;  // RESERVATION-TOKEN, as sent
  };

  Reply Binding();
  // Full long-term credential exchange: 401, then Allocate with REALM/NONCE/MESSAGE-INTEGRITY.
  // `reserve_next` adds EVEN-PORT with the R bit (RFC 8656 §7.2).
  Reply Allocate(const std::string& username, const std::string& password,
                 bool reserve_next = false);
  Reply Refresh(uint32_t lifetime);
  Reply CreatePermission(const SocketAddress& peer);
  Reply ChannelBind(uint16_t channel, const SocketAddress& peer);
  // Sends one ChannelData frame; does not wait for anything.
  void SendChannelData(uint16_t channel, const std::vector<uint8_t>& payload);
  // Sends raw bytes and returns the next datagram (bounded wait).
  std::optional<std::vector<uint8_t>> SendRaw(const std::vector<uint8_t>& bytes,
                                              int timeout_ms = 3000);
  // The next datagram from the relay (bounded wait).
  std::optional<std::vector<uint8_t>> Receive(int timeout_ms = 3000);
  SocketAddress local() const;

 private:
  Reply Transact(stun::Method method,
                 const std::vector<std::pair<uint16_t, std::vector<uint8_t>>>& attrs,
                 bool authenticate);

  int fd_ = -1;
  SocketAddress server_;
  std::string username_, password_, realm_, nonce_;
  uint64_t txn_ = 0;
};

}  // namespace cv::testing
