#include "relay/stun/message.h"

#include <algorithm>
#include <cstring>

#include "relay/stun/crypto.h"

namespace cv::stun {
namespace {

// Byte-wise big-endian loads and stores: valid at any alignment.
uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t Load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
void Store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void Store32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

constexpr size_t Padded(size_t length) { return (length + 3) & ~size_t{3}; }

constexpr size_t kAttributeHeaderSize = 4;
constexpr size_t kMaxBodyLength = 0xFFFC;  // largest multiple of 4 in the 16-bit length field
constexpr size_t kSha1Size = 20;
constexpr size_t kMinSha256Size = 16;
constexpr size_t kSha256Size = 32;
constexpr size_t kFingerprintSize = 4;
constexpr size_t kIpv4AddressValueSize = 8;
constexpr size_t kIpv6AddressValueSize = 20;

// Where the TLV walk is relative to MESSAGE-INTEGRITY(-SHA256) (RFC 8489 §14.5, §14.6).
enum class Region {
  kBeforeIntegrity,  // everything is exposed
  kAfterSha1,        // only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count
  kAfterSha256,      // only FINGERPRINT counts
};

// The XOR mask for addresses: the magic cookie, then (IPv6 only) the transaction id.
//   X-Port = port ^ (cookie >> 16);  X-Address = address ^ (cookie || transaction id)
std::array<uint8_t, 16> XorMask(const uint8_t* transaction_id) {
  std::array<uint8_t, 16> mask{};
  Store32(mask.data(), kMagicCookie);
  std::memcpy(mask.data() + 4, transaction_id, kTransactionIdSize);
  return mask;
}

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |0 0 0 0 0 0 0 0|    Family     |         (X-)Port              |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                 (X-)Address (32 bits or 128 bits)             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
std::optional<SocketAddress> DecodeAddressValue(Bytes value, const uint8_t* xor_mask) {
  if (value.size() < 4) return std::nullopt;
  const uint8_t family = value[1];
  size_t address_size = 0;
  if (family == kFamilyIPv4 && value.size() == kIpv4AddressValueSize) {
    address_size = 4;
  } else if (family == kFamilyIPv6 && value.size() == kIpv6AddressValueSize) {
    address_size = 16;
  } else {
    return std::nullopt;
  }
  uint8_t address[16];
  std::memcpy(address, value.data() + 4, address_size);
  uint16_t port = Load16(value.data() + 2);
  if (xor_mask != nullptr) {
    port ^= Load16(xor_mask);
    for (size_t i = 0; i < address_size; ++i) address[i] ^= xor_mask[i];
  }
  SocketAddress out;
  out.ip = address_size == 4 ? IpAddress::V4FromBytes(address) : IpAddress::V6FromBytes(address);
  out.port = port;
  return out;
}

}  // namespace

const char* ParseErrorName(ParseError e) {
  switch (e) {
    case ParseError::kOk:
      return "ok";
    case ParseError::kTooShort:
      return "too_short";
    case ParseError::kNotStun:
      return "not_stun";
    case ParseError::kBadLength:
      return "bad_length";
    case ParseError::kAttributeOverrun:
      return "attribute_overrun";
    case ParseError::kTooManyAttributes:
      return "too_many_attributes";
    case ParseError::kBadFingerprint:
      return "bad_fingerprint";
    case ParseError::kBadIntegrity:
      return "bad_integrity";
  }
  return "unknown";
}

uint16_t EncodeType(Method method, MessageClass cls) {
  const uint16_t m = static_cast<uint16_t>(method) & 0x0FFF;
  const uint16_t c = static_cast<uint16_t>(cls) & 0x3;
  return static_cast<uint16_t>((m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) |
                               ((c & 0x1) << 4) | ((c & 0x2) << 7));
}

void DecodeType(uint16_t type, uint16_t* method, MessageClass* cls) {
  *method =
      static_cast<uint16_t>((type & 0x000F) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0F80));
  *cls = static_cast<MessageClass>(((type >> 4) & 0x1) | ((type >> 7) & 0x2));
}

bool PeekStunLength(Bytes data, size_t* total_length) {
  if (data.size() < 4 || (data[0] & 0xC0) != 0) return false;
  *total_length = kHeaderSize + Load16(data.data() + 2);
  return true;
}

// Header (RFC 8489 §5), then attributes (§14) until the end of the message:
//
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Type                  |            Length             |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                         Value (variable)                ....
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Every value is padded to a multiple of 4 bytes; Length excludes the padding.
ParseError MessageView::Parse(Bytes data, MessageView* out) {
  *out = MessageView();
  if (data.size() < kHeaderSize) return ParseError::kTooShort;
  const uint8_t* p = data.data();
  if ((p[0] & 0xC0) != 0 || Load32(p + 4) != kMagicCookie) return ParseError::kNotStun;
  const size_t body_length = Load16(p + 2);
  if (body_length % 4 != 0 || kHeaderSize + body_length != data.size()) {
    return ParseError::kBadLength;
  }

  MessageView view;
  view.data_ = data;
  uint16_t method = 0;
  DecodeType(Load16(p), &method, &view.class_);
  view.method_ = static_cast<Method>(method);
  std::memcpy(view.transaction_id_.data(), p + 8, kTransactionIdSize);

  Region region = Region::kBeforeIntegrity;
  size_t pos = kHeaderSize;
  // `pos` and the size are multiples of 4, so a whole attribute header always fits here.
  while (pos < data.size()) {
    const uint16_t type = Load16(p + pos);
    const uint16_t length = Load16(p + pos + 2);
    const size_t value_offset = pos + kAttributeHeaderSize;
    if (Padded(length) > data.size() - value_offset) return ParseError::kAttributeOverrun;
    const size_t next = value_offset + Padded(length);

    bool expose = false;
    if (type == attr::kFingerprint) {
      // §14.7: last attribute, CRC-32 of everything before it XOR 0x5354554e.
      if (length != kFingerprintSize || next != data.size()) return ParseError::kBadFingerprint;
      const uint32_t expected = Crc32(data.first(pos)) ^ kFingerprintXor;
      if (Load32(p + value_offset) != expected) return ParseError::kBadFingerprint;
      view.has_fingerprint_ = true;
      expose = true;
    } else if (type == attr::kMessageIntegrity && region == Region::kBeforeIntegrity) {
      if (length != kSha1Size) return ParseError::kBadIntegrity;
      view.integrity_index_ = static_cast<int>(view.count_);
      region = Region::kAfterSha1;
      expose = true;
    } else if (type == attr::kMessageIntegritySha256 && region != Region::kAfterSha256) {
      if (length < kMinSha256Size || length > kSha256Size || length % 4 != 0) {
        return ParseError::kBadIntegrity;
      }
      view.integrity_sha256_index_ = static_cast<int>(view.count_);
      region = Region::kAfterSha256;
      expose = true;
    } else {
      // Anything after an integrity attribute is ignored (§14.5, §14.6).
      expose = region == Region::kBeforeIntegrity;
    }

    if (expose) {
      if (view.count_ == kMaxAttributes) return ParseError::kTooManyAttributes;
      view.attributes_[view.count_++] =
          Attribute{type, static_cast<uint32_t>(value_offset), length};
    }
    pos = next;
  }
  *out = view;
  return ParseError::kOk;
}

const Attribute* MessageView::Find(uint16_t type) const {
  for (const Attribute& a : attributes()) {
    if (a.type == type) return &a;
  }
  return nullptr;
}

std::optional<Bytes> MessageView::FindValue(uint16_t type) const {
  const Attribute* a = Find(type);
  if (a == nullptr) return std::nullopt;
  return Value(*a);
}

std::optional<std::string_view> MessageView::GetString(uint16_t type) const {
  auto value = FindValue(type);
  if (!value) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(value->data()), value->size());
}

std::optional<uint32_t> MessageView::GetU32(uint16_t type) const {
  auto value = FindValue(type);
  if (!value || value->size() != 4) return std::nullopt;
  return Load32(value->data());
}

std::optional<SocketAddress> MessageView::GetXorAddress(uint16_t type) const {
  const Attribute* a = Find(type);
  if (a == nullptr) return std::nullopt;
  return DecodeXorAddress(*a);
}

std::optional<SocketAddress> MessageView::DecodeXorAddress(const Attribute& a) const {
  const auto mask = XorMask(transaction_id_.data());
  return DecodeAddressValue(Value(a), mask.data());
}

std::optional<SocketAddress> MessageView::GetAddress(uint16_t type) const {
  auto value = FindValue(type);
  if (!value) return std::nullopt;
  return DecodeAddressValue(*value, nullptr);
}

//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |           Reserved, should be 0         |Class|     Number    |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |      Reason Phrase (variable)                                ..
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
std::optional<uint16_t> MessageView::GetErrorCode() const {
  auto value = FindValue(attr::kErrorCode);
  if (!value || value->size() < 4) return std::nullopt;
  const uint8_t error_class = (*value)[2] & 0x07;
  const uint8_t number = (*value)[3];
  if (error_class < 3 || error_class > 6 || number > 99) return std::nullopt;
  return static_cast<uint16_t>(error_class * 100 + number);
}

std::optional<uint16_t> MessageView::GetChannelNumber() const {
  auto value = FindValue(attr::kChannelNumber);
  if (!value || value->size() != 4) return std::nullopt;
  return Load16(value->data());
}

std::optional<uint8_t> MessageView::GetRequestedTransport() const {
  auto value = FindValue(attr::kRequestedTransport);
  if (!value || value->size() != 4) return std::nullopt;
  return (*value)[0];
}

std::optional<uint8_t> MessageView::GetFamily(uint16_t type) const {
  // The byte is returned as sent: an unsupported family is the handler's 440, not "absent".
  auto value = FindValue(type);
  if (!value || value->size() != 4) return std::nullopt;
  return (*value)[0];
}

std::optional<bool> MessageView::GetEvenPort() const {
  auto value = FindValue(attr::kEvenPort);
  if (!value || value->size() != 1) return std::nullopt;
  return ((*value)[0] & 0x80) != 0;
}

size_t MessageView::UnknownRequired(std::span<const uint16_t> known, uint16_t* out,
                                    size_t max) const {
  size_t n = 0;
  for (const Attribute& a : attributes()) {
    if (n == max) break;
    if (!attr::IsComprehensionRequired(a.type)) continue;
    if (std::find(known.begin(), known.end(), a.type) != known.end()) continue;
    if (std::find(out, out + n, a.type) != out + n) continue;  // report each type once
    out[n++] = a.type;
  }
  return n;
}

// RFC 8489 §14.5/§14.6: the HMAC covers the message up to the integrity attribute, with the
// header length set as if the checked attribute were the last one.
bool MessageView::VerifyIntegrity(Bytes key) const {
  int index = integrity_sha256_index_ >= 0 ? integrity_sha256_index_ : integrity_index_;
  if (index < 0) return false;
  const Attribute& a = attributes_[static_cast<size_t>(index)];
  const size_t attribute_start = a.offset - kAttributeHeaderSize;
  const size_t covered_length = a.offset + a.length - kHeaderSize;

  std::array<uint8_t, kHeaderSize> header;
  std::memcpy(header.data(), data_.data(), kHeaderSize);
  Store16(header.data() + 2, static_cast<uint16_t>(covered_length));
  const Bytes body = data_.subspan(kHeaderSize, attribute_start - kHeaderSize);
  const Bytes received = Value(a);

  if (a.type == attr::kMessageIntegritySha256) {
    const Sha256Digest mac = HmacSha256(key, header, body);
    return ConstantTimeEqual(Bytes(mac).first(received.size()), received);
  }
  const Sha1Digest mac = HmacSha1(key, header, body);
  return ConstantTimeEqual(mac, received);
}

// --- MessageBuilder ---

bool MessageBuilder::Start(Method method, MessageClass cls, const TransactionId& id) {
  size_ = 0;
  ok_ = buf_.size() >= kHeaderSize;
  if (!ok_) return false;
  uint8_t* p = buf_.data();
  Store16(p, EncodeType(method, cls));
  Store16(p + 2, 0);
  Store32(p + 4, kMagicCookie);
  std::memcpy(p + 8, id.data(), kTransactionIdSize);
  size_ = kHeaderSize;
  return true;
}

// Appends an attribute header and zeroed padding, updates the header length, and returns where
// `length` bytes of value go; nullptr (and the builder fails) when it does not fit.
uint8_t* MessageBuilder::Reserve(uint16_t type, size_t length) {
  if (!ok_) return nullptr;
  const size_t total = kAttributeHeaderSize + Padded(length);
  if (length > 0xFFFF || total > buf_.size() - size_ ||
      size_ - kHeaderSize + total > kMaxBodyLength) {
    ok_ = false;
    return nullptr;
  }
  uint8_t* p = buf_.data() + size_;
  Store16(p, type);
  Store16(p + 2, static_cast<uint16_t>(length));
  std::memset(p + kAttributeHeaderSize + length, 0, Padded(length) - length);
  size_ += total;
  Store16(buf_.data() + 2, static_cast<uint16_t>(size_ - kHeaderSize));
  return p + kAttributeHeaderSize;
}

bool MessageBuilder::AddBytes(uint16_t type, Bytes value) {
  uint8_t* p = Reserve(type, value.size());
  if (p == nullptr) return false;
  if (!value.empty()) std::memcpy(p, value.data(), value.size());
  return true;
}

bool MessageBuilder::AddString(uint16_t type, std::string_view value) {
  return AddBytes(type, Bytes(reinterpret_cast<const uint8_t*>(value.data()), value.size()));
}

bool MessageBuilder::AddU32(uint16_t type, uint32_t value) {
  uint8_t* p = Reserve(type, 4);
  if (p == nullptr) return false;
  Store32(p, value);
  return true;
}

bool MessageBuilder::AddXorAddress(uint16_t type, const SocketAddress& addr) {
  const size_t address_size = addr.ip.size();
  uint8_t* p = Reserve(type, 4 + address_size);
  if (p == nullptr) return false;
  const auto mask = XorMask(buf_.data() + 8);
  p[0] = 0;
  p[1] = addr.ip.is_v4() ? kFamilyIPv4 : kFamilyIPv6;
  Store16(p + 2, static_cast<uint16_t>(addr.port ^ Load16(mask.data())));
  for (size_t i = 0; i < address_size; ++i) {
    p[4 + i] = static_cast<uint8_t>(addr.ip.data()[i] ^ mask[i]);
  }
  return true;
}

bool MessageBuilder::AddAddress(uint16_t type, const SocketAddress& addr) {
  const size_t address_size = addr.ip.size();
  uint8_t* p = Reserve(type, 4 + address_size);
  if (p == nullptr) return false;
  p[0] = 0;
  p[1] = addr.ip.is_v4() ? kFamilyIPv4 : kFamilyIPv6;
  Store16(p + 2, addr.port);
  std::memcpy(p + 4, addr.ip.data(), address_size);
  return true;
}

bool MessageBuilder::AddErrorCode(uint16_t code, std::string_view reason) {
  // §14.8: class 3-6 in the hundreds digit, number 0-99.
  if (code < 300 || code > 699) {
    ok_ = false;
    return false;
  }
  uint8_t* p = Reserve(attr::kErrorCode, 4 + reason.size());
  if (p == nullptr) return false;
  p[0] = 0;
  p[1] = 0;
  p[2] = static_cast<uint8_t>(code / 100);
  p[3] = static_cast<uint8_t>(code % 100);
  if (!reason.empty()) std::memcpy(p + 4, reason.data(), reason.size());
  return true;
}

bool MessageBuilder::AddUnknownAttributes(std::span<const uint16_t> types) {
  if (types.size() > 0xFFFF / 2) {
    ok_ = false;
    return false;
  }
  uint8_t* p = Reserve(attr::kUnknownAttributes, 2 * types.size());
  if (p == nullptr) return false;
  for (size_t i = 0; i < types.size(); ++i) Store16(p + 2 * i, types[i]);
  return true;
}

bool MessageBuilder::AddChannelNumber(uint16_t channel) {
  uint8_t* p = Reserve(attr::kChannelNumber, 4);
  if (p == nullptr) return false;
  Store16(p, channel);
  Store16(p + 2, 0);  // RFFU
  return true;
}

bool MessageBuilder::AddRequestedTransport(uint8_t protocol) {
  uint8_t* p = Reserve(attr::kRequestedTransport, 4);
  if (p == nullptr) return false;
  Store32(p, uint32_t{protocol} << 24);
  return true;
}

bool MessageBuilder::AddFamily(uint16_t type, uint8_t family) {
  uint8_t* p = Reserve(type, 4);
  if (p == nullptr) return false;
  Store32(p, uint32_t{family} << 24);
  return true;
}

bool MessageBuilder::AddEvenPort(bool reserve_next) {
  uint8_t* p = Reserve(attr::kEvenPort, 1);
  if (p == nullptr) return false;
  p[0] = reserve_next ? 0x80 : 0x00;
  return true;
}

bool MessageBuilder::AddFlag(uint16_t type) { return Reserve(type, 0) != nullptr; }

// §14.5: the header length already counts MESSAGE-INTEGRITY when the HMAC is computed over
// everything before it.
bool MessageBuilder::AddMessageIntegrity(Bytes key) {
  uint8_t* p = Reserve(attr::kMessageIntegrity, kSha1Size);
  if (p == nullptr) return false;
  const size_t covered = static_cast<size_t>(p - buf_.data()) - kAttributeHeaderSize;
  const Sha1Digest mac = HmacSha1(key, Bytes(buf_.data(), covered), {});
  std::memcpy(p, mac.data(), mac.size());
  return true;
}

bool MessageBuilder::AddMessageIntegritySha256(Bytes key) {
  uint8_t* p = Reserve(attr::kMessageIntegritySha256, kSha256Size);
  if (p == nullptr) return false;
  const size_t covered = static_cast<size_t>(p - buf_.data()) - kAttributeHeaderSize;
  const Sha256Digest mac = HmacSha256(key, Bytes(buf_.data(), covered), {});
  std::memcpy(p, mac.data(), mac.size());
  return true;
}

// §14.7: CRC-32 of the message up to FINGERPRINT, with the header length counting it.
bool MessageBuilder::AddFingerprint() {
  uint8_t* p = Reserve(attr::kFingerprint, kFingerprintSize);
  if (p == nullptr) return false;
  const size_t covered = static_cast<size_t>(p - buf_.data()) - kAttributeHeaderSize;
  Store32(p, Crc32(Bytes(buf_.data(), covered)) ^ kFingerprintXor);
  return true;
}

std::span<const uint8_t> MessageBuilder::Finish() const {
  if (!ok_) return {};
  return {buf_.data(), size_};
}

}  // namespace cv::stun
