// STUN message codec (RFC 8489 §5, §14). Pure: no I/O, no allocation, no exceptions.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |0 0|     STUN Message Type     |         Message Length        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                         Magic Cookie                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                     Transaction ID (96 bits)                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//  Message type:  M11..M7 | C1 | M6..M4 | C0 | M3..M0   (14 bits)
//
//  Attribute:  | Type (16) | Length (16) | Value (Length bytes, padded to 4) |
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "relay/common/address.h"
#include "relay/stun/constants.h"

namespace cv::stun {

using Bytes = std::span<const uint8_t>;
using TransactionId = std::array<uint8_t, kTransactionIdSize>;

enum class ParseError : uint8_t {
  kOk = 0,
  kTooShort,          // fewer than 20 bytes
  kNotStun,           // top two bits set, or wrong magic cookie
  kBadLength,         // header length not a multiple of 4, or not equal to the bytes that follow
  kAttributeOverrun,  // an attribute's length runs past the end of the message
  kTooManyAttributes,
  kBadFingerprint,  // FINGERPRINT present but wrong, or not the last attribute
  kBadIntegrity,    // MESSAGE-INTEGRITY not 20 bytes, or MESSAGE-INTEGRITY-SHA256 not 16-32
};
const char* ParseErrorName(ParseError e);

struct Attribute {
  uint16_t type = 0;
  uint32_t offset = 0;  // of the value, from the start of the message (may exceed 0xFFFF)
  uint16_t length = 0;  // of the value, unpadded
};

// A validated, read-only view of one STUN message inside a caller-owned buffer. The buffer must
// outlive the view. Parsing never reads outside `data`, whatever its alignment.
class MessageView {
 public:
  // Validates the header, every attribute TLV and (when present) FINGERPRINT.
  // Attributes after MESSAGE-INTEGRITY other than MESSAGE-INTEGRITY-SHA256 and FINGERPRINT are
  // not exposed (RFC 8489 §14.5: they must be ignored).
  static ParseError Parse(Bytes data, MessageView* out);

  Method method() const { return method_; }
  MessageClass message_class() const { return class_; }
  const TransactionId& transaction_id() const { return transaction_id_; }
  Bytes raw() const { return data_; }

  std::span<const Attribute> attributes() const { return {attributes_.data(), count_}; }
  // First attribute of `type`, if any.
  const Attribute* Find(uint16_t type) const;
  Bytes Value(const Attribute& a) const { return data_.subspan(a.offset, a.length); }
  std::optional<Bytes> FindValue(uint16_t type) const;

  // Typed getters: nullopt when absent or malformed.
  std::optional<std::string_view> GetString(uint16_t type) const;
  std::optional<uint32_t> GetU32(uint16_t type) const;  // exactly 4 bytes
  // XOR-MAPPED-ADDRESS, XOR-PEER-ADDRESS, XOR-RELAYED-ADDRESS. For several XOR-PEER-ADDRESS
  // attributes (CreatePermission), iterate attributes() and use DecodeXorAddress().
  std::optional<SocketAddress> GetXorAddress(uint16_t type) const;
  std::optional<SocketAddress> DecodeXorAddress(const Attribute& a) const;
  std::optional<SocketAddress> GetAddress(uint16_t type) const;  // MAPPED-ADDRESS style (no XOR)
  // ERROR-CODE: class*100 + number; reason is not needed by the relay.
  std::optional<uint16_t> GetErrorCode() const;
  // CHANNEL-NUMBER's high 16 bits (the RFFU half is ignored).
  std::optional<uint16_t> GetChannelNumber() const;
  // REQUESTED-TRANSPORT protocol byte.
  std::optional<uint8_t> GetRequestedTransport() const;
  // REQUESTED-ADDRESS-FAMILY / ADDITIONAL-ADDRESS-FAMILY family byte (0x01/0x02).
  std::optional<uint8_t> GetFamily(uint16_t type) const;
  // EVEN-PORT: the R bit.
  std::optional<bool> GetEvenPort() const;
  // Comprehension-required attribute types not in `known`, in message order (at most `max`).
  size_t UnknownRequired(std::span<const uint16_t> known, uint16_t* out, size_t max) const;

  bool has_message_integrity() const { return integrity_index_ >= 0; }
  bool has_message_integrity_sha256() const { return integrity_sha256_index_ >= 0; }
  bool has_fingerprint() const { return has_fingerprint_; }
  // Checks MESSAGE-INTEGRITY-SHA256 when present (it is the stronger one), else MESSAGE-INTEGRITY,
  // with HMAC key `key` (RFC 8489 §14.5/§14.6: length field adjusted to end at the checked
  // attribute). Constant-time comparison. False when neither is present.
  bool VerifyIntegrity(Bytes key) const;

 private:
  Bytes data_;
  TransactionId transaction_id_{};
  Method method_ = Method::kBinding;
  MessageClass class_ = MessageClass::kRequest;
  std::array<Attribute, kMaxAttributes> attributes_{};
  size_t count_ = 0;
  int integrity_index_ = -1;
  int integrity_sha256_index_ = -1;
  bool has_fingerprint_ = false;
};

// Writes a STUN message into a caller-owned buffer. Every Add* returns false (and the builder
// stays failed) when the buffer is too small; nothing is written past its end.
class MessageBuilder {
 public:
  explicit MessageBuilder(std::span<uint8_t> buffer) : buf_(buffer) {}

  bool Start(Method method, MessageClass cls, const TransactionId& id);
  bool AddBytes(uint16_t type, Bytes value);
  bool AddString(uint16_t type, std::string_view value);
  bool AddU32(uint16_t type, uint32_t value);
  bool AddXorAddress(uint16_t type, const SocketAddress& addr);
  bool AddAddress(uint16_t type, const SocketAddress& addr);  // MAPPED-ADDRESS style
  bool AddErrorCode(uint16_t code, std::string_view reason);
  bool AddUnknownAttributes(std::span<const uint16_t> types);
  bool AddChannelNumber(uint16_t channel);
  bool AddRequestedTransport(uint8_t protocol);
  bool AddFamily(uint16_t type, uint8_t family);
  bool AddEvenPort(bool reserve_next);
  bool AddFlag(uint16_t type);  // zero-length attribute (DONT-FRAGMENT)
  // Integrity and fingerprint must come last, in this order: MI, MI-SHA256, FINGERPRINT.
  bool AddMessageIntegrity(Bytes key);
  bool AddMessageIntegritySha256(Bytes key);
  bool AddFingerprint();

  bool ok() const { return ok_; }
  // The finished message (header length already kept up to date); empty if !ok().
  std::span<const uint8_t> Finish() const;
  size_t size() const { return ok_ ? size_ : 0; }

 private:
  uint8_t* Reserve(uint16_t type, size_t length);
  std::span<uint8_t> buf_;
  size_t size_ = 0;
  bool ok_ = false;
};

// Reads the fixed header without validating the body: for stream framing and fast dispatch.
// Returns false when fewer than 4 bytes are available or the first two bits are not 00.
bool PeekStunLength(Bytes data, size_t* total_length);

// Encodes a 14-bit STUN message type from method and class, and back.
uint16_t EncodeType(Method method, MessageClass cls);
void DecodeType(uint16_t type, uint16_t* method, MessageClass* cls);

}  // namespace cv::stun
