#include "relay/stun/message.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "relay/stun/crypto.h"

namespace cv::stun {
namespace {

using Buffer = std::vector<uint8_t>;

// --- RFC 5769 test vectors, as printed in the RFC ---

// §2.1 Sample request. Short-term password "VOkJxbRl1RmTxUk/WvJxBt"; note the USERNAME padding
// is three spaces (0x20), not zeros.
const Buffer kSampleRequest = {
    0x00, 0x01, 0x00, 0x58,  // Request type and message length
    0x21, 0x12, 0xa4, 0x42,  // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01,  // }
    0xbc, 0x34, 0xd6, 0x86,  // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae,  // }
    0x80, 0x22, 0x00, 0x10,  // SOFTWARE attribute header
    0x53, 0x54, 0x55, 0x4e,  // }
    0x20, 0x74, 0x65, 0x73,  // }  User-agent...
    0x74, 0x20, 0x63, 0x6c,  // }  ...name
    0x69, 0x65, 0x6e, 0x74,  // }
    0x00, 0x24, 0x00, 0x04,  // PRIORITY attribute header
    0x6e, 0x00, 0x01, 0xff,  // ICE priority value
    0x80, 0x29, 0x00, 0x08,  // ICE-CONTROLLED attribute header
    0x93, 0x2f, 0xf9, 0xb1,  // }  Pseudo-random tie breaker...
    0x51, 0x26, 0x3b, 0x36,  // }   ...for ICE control
    0x00, 0x06, 0x00, 0x09,  // USERNAME attribute header
    0x65, 0x76, 0x74, 0x6a,  // }
    0x3a, 0x68, 0x36, 0x76,  // }  Username (9 bytes) and padding (3 bytes)
    0x59, 0x20, 0x20, 0x20,  // }
    0x00, 0x08, 0x00, 0x14,  // MESSAGE-INTEGRITY attribute header
    0x9a, 0xea, 0xa7, 0x0c,  // }
    0xbf, 0xd8, 0xcb, 0x56,  // }
    0x78, 0x1e, 0xf2, 0xb5,  // }  HMAC-SHA1 fingerprint
    0xb2, 0xd3, 0xf2, 0x49,  // }
    0xc1, 0xb5, 0x71, 0xa2,  // }
    0x80, 0x28, 0x00, 0x04,  // FINGERPRINT attribute header
    0xe5, 0x7a, 0x3b, 0xcf,  // CRC32 fingerprint
};

// §2.2 Sample IPv4 response: 192.0.2.1:32853. SOFTWARE padding is one space (0x20).
const Buffer kSampleIpv4Response = {
    0x01, 0x01, 0x00, 0x3c,  // Response type and message length
    0x21, 0x12, 0xa4, 0x42,  // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01,  // }
    0xbc, 0x34, 0xd6, 0x86,  // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae,  // }
    0x80, 0x22, 0x00, 0x0b,  // SOFTWARE attribute header
    0x74, 0x65, 0x73, 0x74,  // }
    0x20, 0x76, 0x65, 0x63,  // }  UTF-8 server name
    0x74, 0x6f, 0x72, 0x20,  // }
    0x00, 0x20, 0x00, 0x08,  // XOR-MAPPED-ADDRESS attribute header
    0x00, 0x01, 0xa1, 0x47,  // Address family (IPv4) and xor'd mapped port number
    0xe1, 0x12, 0xa6, 0x43,  // Xor'd mapped IPv4 address
    0x00, 0x08, 0x00, 0x14,  // MESSAGE-INTEGRITY attribute header
    0x2b, 0x91, 0xf5, 0x99,  // }
    0xfd, 0x9e, 0x90, 0xc3,  // }
    0x8c, 0x74, 0x89, 0xf9,  // }  HMAC-SHA1 fingerprint
    0x2a, 0xf9, 0xba, 0x53,  // }
    0xf0, 0x6b, 0xe7, 0xd7,  // }
    0x80, 0x28, 0x00, 0x04,  // FINGERPRINT attribute header
    0xc0, 0x7d, 0x4c, 0x96,  // CRC32 fingerprint
};

// §2.3 Sample IPv6 response: [2001:db8:1234:5678:11:2233:4455:6677]:32853.
const Buffer kSampleIpv6Response = {
    0x01, 0x01, 0x00, 0x48,  // Response type and message length
    0x21, 0x12, 0xa4, 0x42,  // Magic cookie
    0xb7, 0xe7, 0xa7, 0x01,  // }
    0xbc, 0x34, 0xd6, 0x86,  // }  Transaction ID
    0xfa, 0x87, 0xdf, 0xae,  // }
    0x80, 0x22, 0x00, 0x0b,  // SOFTWARE attribute header
    0x74, 0x65, 0x73, 0x74,  // }
    0x20, 0x76, 0x65, 0x63,  // }  UTF-8 server name
    0x74, 0x6f, 0x72, 0x20,  // }
    0x00, 0x20, 0x00, 0x14,  // XOR-MAPPED-ADDRESS attribute header
    0x00, 0x02, 0xa1, 0x47,  // Address family (IPv6) and xor'd mapped port number
    0x01, 0x13, 0xa9, 0xfa,  // }
    0xa5, 0xd3, 0xf1, 0x79,  // }  Xor'd mapped IPv6 address
    0xbc, 0x25, 0xf4, 0xb5,  // }
    0xbe, 0xd2, 0xb9, 0xd9,  // }
    0x00, 0x08, 0x00, 0x14,  // MESSAGE-INTEGRITY attribute header
    0xa3, 0x82, 0x95, 0x4e,  // }
    0x4b, 0xe6, 0x7b, 0xf1,  // }
    0x17, 0x84, 0xc9, 0x7c,  // }  HMAC-SHA1 fingerprint
    0x82, 0x92, 0xc2, 0x75,  // }
    0xbf, 0xe3, 0xed, 0x41,  // }
    0x80, 0x28, 0x00, 0x04,  // FINGERPRINT attribute header
    0xc8, 0xfb, 0x0b, 0x4c,  // CRC32 fingerprint
};

// §2.4 Sample request with long-term authentication. Padding here is zeros.
const Buffer kSampleLongTermRequest = {
    0x00, 0x01, 0x00, 0x60,  // Request type and message length
    0x21, 0x12, 0xa4, 0x42,  // Magic cookie
    0x78, 0xad, 0x34, 0x33,  // }
    0xc6, 0xad, 0x72, 0xc0,  // }  Transaction ID
    0x29, 0xda, 0x41, 0x2e,  // }
    0x00, 0x06, 0x00, 0x12,  // USERNAME attribute header
    0xe3, 0x83, 0x9e, 0xe3,  // }
    0x83, 0x88, 0xe3, 0x83,  // }
    0xaa, 0xe3, 0x83, 0x83,  // }  Username value (18 bytes) and padding (2 bytes)
    0xe3, 0x82, 0xaf, 0xe3,  // }
    0x82, 0xb9, 0x00, 0x00,  // }
    0x00, 0x15, 0x00, 0x1c,  // NONCE attribute header
    0x66, 0x2f, 0x2f, 0x34,  // }
    0x39, 0x39, 0x6b, 0x39,  // }
    0x35, 0x34, 0x64, 0x36,  // }
    0x4f, 0x4c, 0x33, 0x34,  // }  Nonce value
    0x6f, 0x4c, 0x39, 0x46,  // }
    0x53, 0x54, 0x76, 0x79,  // }
    0x36, 0x34, 0x73, 0x41,  // }
    0x00, 0x14, 0x00, 0x0b,  // REALM attribute header
    0x65, 0x78, 0x61, 0x6d,  // }
    0x70, 0x6c, 0x65, 0x2e,  // }  Realm value (11 bytes) and padding (1 byte)
    0x6f, 0x72, 0x67, 0x00,  // }
    0x00, 0x08, 0x00, 0x14,  // MESSAGE-INTEGRITY attribute header
    0xf6, 0x70, 0x24, 0x65,  // }
    0x6d, 0xd6, 0x4a, 0x3e,  // }
    0x02, 0xb8, 0xe0, 0x71,  // }  HMAC-SHA1 fingerprint
    0x2e, 0x85, 0xc9, 0xa2,  // }
    0x8c, 0xa8, 0x96, 0x66,  // }
};

// RFC 8489 Appendix B.1, as published (MESSAGE-INTEGRITY-SHA256 and USERHASH).
const Buffer kRfc8489SampleRequest = {
    0x00, 0x01, 0x00, 0x9c,  // Request type and message length
    0x21, 0x12, 0xa4, 0x42,  // Magic cookie
    0x78, 0xad, 0x34, 0x33,  // }
    0xc6, 0xad, 0x72, 0xc0,  // }  Transaction ID
    0x29, 0xda, 0x41, 0x2e,  // }
    0x00, 0x1e, 0x00, 0x20,  // USERHASH attribute header
    0x4a, 0x3c, 0xf3, 0x8f,  // }
    0xef, 0x69, 0x92, 0xbd,  // }
    0xa9, 0x52, 0xc6, 0x78,  // }
    0x04, 0x17, 0xda, 0x0f,  // }  Userhash value (32 bytes)
    0x24, 0x81, 0x94, 0x15,  // }
    0x56, 0x9e, 0x60, 0xb2,  // }
    0x05, 0xc4, 0x6e, 0x41,  // }
    0x40, 0x7f, 0x17, 0x04,  // }
    0x00, 0x15, 0x00, 0x29,  // NONCE attribute header
    0x6f, 0x62, 0x4d, 0x61,  // }
    0x74, 0x4a, 0x6f, 0x73,  // }
    0x32, 0x41, 0x41, 0x41,  // }
    0x43, 0x66, 0x2f, 0x2f,  // }
    0x34, 0x39, 0x39, 0x6b,  // }  Nonce value and padding (3 bytes)
    0x39, 0x35, 0x34, 0x64,  // }
    0x36, 0x4f, 0x4c, 0x33,  // }
    0x34, 0x6f, 0x4c, 0x39,  // }
    0x46, 0x53, 0x54, 0x76,  // }
    0x79, 0x36, 0x34, 0x73,  // }
    0x41, 0x00, 0x00, 0x00,  // }
    0x00, 0x14, 0x00, 0x0b,  // REALM attribute header
    0x65, 0x78, 0x61, 0x6d,  // }
    0x70, 0x6c, 0x65, 0x2e,  // }  Realm value (11 bytes) and padding (1 byte)
    0x6f, 0x72, 0x67, 0x00,  // }
    0x00, 0x1c, 0x00, 0x20,  // MESSAGE-INTEGRITY-SHA256 attribute header
    0xe4, 0x68, 0x6c, 0x8f,  // }
    0x0e, 0xde, 0xb5, 0x90,  // }
    0x13, 0xe0, 0x70, 0x90,  // }
    0x01, 0x0a, 0x93, 0xef,  // }  HMAC-SHA256 value
    0xcc, 0xbc, 0xcc, 0x54,  // }
    0x4c, 0x0a, 0x45, 0xd9,  // }
    0xf8, 0x30, 0xaa, 0x6d,  // }
    0x6f, 0x73, 0x5a, 0x01,  // }
};

constexpr std::string_view kShortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt";
// <U+30DE><U+30C8><U+30EA><U+30C3><U+30AF><U+30B9>
constexpr std::string_view kLongTermUsername = "\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9";
constexpr std::string_view kLongTermRealm = "example.org";
constexpr std::string_view kLongTermPassword = "TheMatrIX";  // after OpaqueString/SASLprep

constexpr TransactionId kSampleTransactionId = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34,
                                                0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};
constexpr TransactionId kLongTermTransactionId = {0x78, 0xad, 0x34, 0x33, 0xc6, 0xad,
                                                  0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e};

Bytes AsBytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

Buffer ToBuffer(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

Buffer Sha256(std::string_view text) {
  Buffer out(32);
  unsigned int size = 0;
  EXPECT_EQ(EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha256(), nullptr), 1);
  return out;
}

Buffer LongTermSha256Key() {
  std::string joined(kLongTermUsername);
  joined += ":";
  joined += kLongTermRealm;
  joined += ":";
  joined += kLongTermPassword;
  return Sha256(joined);
}

// --- Hand-made messages, including malformed ones ---

Buffer Header(uint16_t type = 0x0001) {
  Buffer m = {
      static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type), 0, 0, 0x21, 0x12, 0xa4, 0x42};
  for (uint8_t i = 1; i <= 12; ++i) m.push_back(i);
  return m;
}

// Appends a TLV with `declared` as its length field (defaults to the value's size) and zero
// padding after the value.
void AppendAttribute(Buffer& m, uint16_t type, const Buffer& value, int declared = -1) {
  const uint16_t length =
      declared >= 0 ? static_cast<uint16_t>(declared) : static_cast<uint16_t>(value.size());
  m.push_back(static_cast<uint8_t>(type >> 8));
  m.push_back(static_cast<uint8_t>(type));
  m.push_back(static_cast<uint8_t>(length >> 8));
  m.push_back(static_cast<uint8_t>(length));
  m.insert(m.end(), value.begin(), value.end());
  while (m.size() % 4 != 0) m.push_back(0);
}

void SetLength(Buffer& m, size_t body_length) {
  m[2] = static_cast<uint8_t>(body_length >> 8);
  m[3] = static_cast<uint8_t>(body_length);
}
void FixLength(Buffer& m) { SetLength(m, m.size() - kHeaderSize); }

ParseError ParseBuffer(const Buffer& m, MessageView* view) { return MessageView::Parse(m, view); }

std::string ValueString(const MessageView& view, uint16_t type) {
  auto s = view.GetString(type);
  return s ? std::string(*s) : std::string("<absent>");
}

// --- RFC 5769 ---

TEST(MessageViewTest, Rfc5769SampleRequestVerifiesWithShortTermKey) {
  MessageView view;
  ASSERT_EQ(ParseBuffer(kSampleRequest, &view), ParseError::kOk);
  EXPECT_EQ(view.method(), Method::kBinding);
  EXPECT_EQ(view.message_class(), MessageClass::kRequest);
  EXPECT_EQ(view.transaction_id(), kSampleTransactionId);
  EXPECT_EQ(view.attributes().size(), 6u);
  EXPECT_EQ(ValueString(view, attr::kSoftware), "STUN test client");
  EXPECT_EQ(view.GetU32(attr::kPriority), 0x6e0001ffu);
  EXPECT_EQ(ToBuffer(*view.FindValue(attr::kIceControlled)),
            (Buffer{0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36}));
  EXPECT_EQ(ValueString(view, attr::kUsername), "evtj:h6vY");
  EXPECT_TRUE(view.has_message_integrity());
  EXPECT_FALSE(view.has_message_integrity_sha256());
  EXPECT_TRUE(view.has_fingerprint());
  EXPECT_TRUE(view.VerifyIntegrity(AsBytes(kShortTermPassword)));
  EXPECT_FALSE(view.VerifyIntegrity(AsBytes("VOkJxbRl1RmTxUk/WvJxBT")));
  EXPECT_FALSE(view.VerifyIntegrity({}));
}

TEST(MessageViewTest, Rfc5769Ipv4ResponseDecodesXorMappedAddress) {
  MessageView view;
  ASSERT_EQ(ParseBuffer(kSampleIpv4Response, &view), ParseError::kOk);
  EXPECT_EQ(view.method(), Method::kBinding);
  EXPECT_EQ(view.message_class(), MessageClass::kSuccessResponse);
  EXPECT_EQ(view.transaction_id(), kSampleTransactionId);
  EXPECT_EQ(ValueString(view, attr::kSoftware), "test vector");
  auto mapped = view.GetXorAddress(attr::kXorMappedAddress);
  ASSERT_TRUE(mapped);
  EXPECT_EQ(*mapped, *SocketAddress::Parse("192.0.2.1:32853"));
  EXPECT_TRUE(view.has_fingerprint());
  EXPECT_TRUE(view.VerifyIntegrity(AsBytes(kShortTermPassword)));
  EXPECT_FALSE(view.VerifyIntegrity(AsBytes("wrong")));
}

TEST(MessageViewTest, Rfc5769Ipv6ResponseDecodesXorMappedAddress) {
  MessageView view;
  ASSERT_EQ(ParseBuffer(kSampleIpv6Response, &view), ParseError::kOk);
  EXPECT_EQ(view.message_class(), MessageClass::kSuccessResponse);
  auto mapped = view.GetXorAddress(attr::kXorMappedAddress);
  ASSERT_TRUE(mapped);
  EXPECT_EQ(*mapped, *SocketAddress::Parse("[2001:db8:1234:5678:11:2233:4455:6677]:32853"));
  EXPECT_TRUE(view.has_fingerprint());
  EXPECT_TRUE(view.VerifyIntegrity(AsBytes(kShortTermPassword)));
  EXPECT_FALSE(view.VerifyIntegrity(AsBytes("wrong")));
}

TEST(MessageViewTest, Rfc5769LongTermRequestVerifiesWithMd5Key) {
  MessageView view;
  ASSERT_EQ(ParseBuffer(kSampleLongTermRequest, &view), ParseError::kOk);
  EXPECT_EQ(view.transaction_id(), kLongTermTransactionId);
  EXPECT_EQ(ValueString(view, attr::kUsername), kLongTermUsername);
  EXPECT_EQ(ValueString(view, attr::kNonce), "f//499k954d6OL34oL9FSTvy64sA");
  EXPECT_EQ(ValueString(view, attr::kRealm), kLongTermRealm);
  EXPECT_FALSE(view.has_fingerprint());
  const Md5Digest key = LongTermKeyMd5(kLongTermUsername, kLongTermRealm, kLongTermPassword);
  EXPECT_TRUE(view.VerifyIntegrity(key));
  EXPECT_FALSE(
      view.VerifyIntegrity(LongTermKeyMd5(kLongTermUsername, kLongTermRealm, "TheMatrix")));
  EXPECT_FALSE(view.VerifyIntegrity(AsBytes(kLongTermPassword)));
}

// RFC 5769 pads SOFTWARE and USERNAME with spaces; the builder pads with zeros (RFC 8489 §14).
// The padding bytes are covered by MESSAGE-INTEGRITY and FINGERPRINT, so an exact rebuild writes
// the RFC's padding into the caller's buffer before the builder computes them.
void OverwritePadding(Buffer& buffer, size_t value_end, size_t padded_end) {
  std::fill(buffer.begin() + static_cast<std::ptrdiff_t>(value_end),
            buffer.begin() + static_cast<std::ptrdiff_t>(padded_end), 0x20);
}

TEST(MessageBuilderTest, Rebuilds5769SampleRequestByteForByte) {
  Buffer buffer(512);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kBinding, MessageClass::kRequest, kSampleTransactionId));
  ASSERT_TRUE(b.AddString(attr::kSoftware, "STUN test client"));
  ASSERT_TRUE(b.AddU32(attr::kPriority, 0x6e0001ff));
  const Buffer tie_breaker = {0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36};
  ASSERT_TRUE(b.AddBytes(attr::kIceControlled, tie_breaker));
  ASSERT_TRUE(b.AddString(attr::kUsername, "evtj:h6vY"));
  OverwritePadding(buffer, b.size() - 3, b.size());
  ASSERT_TRUE(b.AddMessageIntegrity(AsBytes(kShortTermPassword)));
  ASSERT_TRUE(b.AddFingerprint());
  EXPECT_EQ(ToBuffer(b.Finish()), kSampleRequest);
}

TEST(MessageBuilderTest, Rebuilds5769Ipv4ResponseByteForByte) {
  Buffer buffer(512);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kBinding, MessageClass::kSuccessResponse, kSampleTransactionId));
  ASSERT_TRUE(b.AddString(attr::kSoftware, "test vector"));
  OverwritePadding(buffer, b.size() - 1, b.size());
  ASSERT_TRUE(b.AddXorAddress(attr::kXorMappedAddress, *SocketAddress::Parse("192.0.2.1:32853")));
  ASSERT_TRUE(b.AddMessageIntegrity(AsBytes(kShortTermPassword)));
  ASSERT_TRUE(b.AddFingerprint());
  EXPECT_EQ(ToBuffer(b.Finish()), kSampleIpv4Response);
}

TEST(MessageBuilderTest, Rebuilds5769Ipv6ResponseByteForByte) {
  Buffer buffer(512);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kBinding, MessageClass::kSuccessResponse, kSampleTransactionId));
  ASSERT_TRUE(b.AddString(attr::kSoftware, "test vector"));
  OverwritePadding(buffer, b.size() - 1, b.size());
  ASSERT_TRUE(
      b.AddXorAddress(attr::kXorMappedAddress,
                      *SocketAddress::Parse("[2001:db8:1234:5678:11:2233:4455:6677]:32853")));
  ASSERT_TRUE(b.AddMessageIntegrity(AsBytes(kShortTermPassword)));
  ASSERT_TRUE(b.AddFingerprint());
  EXPECT_EQ(ToBuffer(b.Finish()), kSampleIpv6Response);
}

TEST(MessageBuilderTest, Rebuilds5769LongTermRequestByteForByte) {
  Buffer buffer(512);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kBinding, MessageClass::kRequest, kLongTermTransactionId));
  ASSERT_TRUE(b.AddString(attr::kUsername, kLongTermUsername));
  ASSERT_TRUE(b.AddString(attr::kNonce, "f//499k954d6OL34oL9FSTvy64sA"));
  ASSERT_TRUE(b.AddString(attr::kRealm, kLongTermRealm));
  ASSERT_TRUE(
      b.AddMessageIntegrity(LongTermKeyMd5(kLongTermUsername, kLongTermRealm, kLongTermPassword)));
  EXPECT_EQ(ToBuffer(b.Finish()), kSampleLongTermRequest);
}

TEST(MessageBuilderTest, ZeroPaddedIpv4ResponseDiffersFromRfcOnlyInPaddingAndChecksums) {
  Buffer buffer(512);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kBinding, MessageClass::kSuccessResponse, kSampleTransactionId));
  ASSERT_TRUE(b.AddString(attr::kSoftware, "test vector"));
  ASSERT_TRUE(b.AddXorAddress(attr::kXorMappedAddress, *SocketAddress::Parse("192.0.2.1:32853")));
  ASSERT_TRUE(b.AddMessageIntegrity(AsBytes(kShortTermPassword)));
  ASSERT_TRUE(b.AddFingerprint());
  const Buffer built = ToBuffer(b.Finish());
  ASSERT_EQ(built.size(), kSampleIpv4Response.size());
  // Byte 35 is SOFTWARE's padding, 52..71 the HMAC, 76..79 the CRC.
  for (size_t i = 0; i < built.size(); ++i) {
    const bool may_differ = i == 35 || (i >= 52 && i < 72) || i >= 76;
    if (!may_differ) {
      EXPECT_EQ(built[i], kSampleIpv4Response[i]) << "byte " << i;
    }
  }
  EXPECT_EQ(built[35], 0);
  MessageView view;
  ASSERT_EQ(ParseBuffer(built, &view), ParseError::kOk);
  EXPECT_TRUE(view.VerifyIntegrity(AsBytes(kShortTermPassword)));
}

// --- RFC 8489 Appendix B.1 ---
//
// The published vector is inconsistent: its length field says 0x9c (156) but 136 bytes follow,
// and its MESSAGE-INTEGRITY-SHA256 was computed over the header with that 0x9c length rather
// than one ending at the attribute (§14.6). The key is SHA-256 of username:realm:password (the
// PASSWORD-ALGORITHM SHA-256 key, §18.5.1.2), not MD5. The tests pin all of that down, then
// check a corrected message built from the same attributes.

TEST(MessageViewTest, Rfc8489SampleRequestAsPublishedIsRejectedForItsLength) {
  MessageView view;
  EXPECT_EQ(ParseBuffer(kRfc8489SampleRequest, &view), ParseError::kBadLength);
}

TEST(MessageViewTest, Rfc8489SampleMacIsHmacSha256WithSha256KeyOverThePublishedHeader) {
  const size_t mac_attribute = kRfc8489SampleRequest.size() - 36;
  const Bytes all(kRfc8489SampleRequest);
  const Sha256Digest mac = HmacSha256(LongTermSha256Key(), all.first(kHeaderSize),
                                      all.subspan(kHeaderSize, mac_attribute - kHeaderSize));
  EXPECT_EQ(ToBuffer(mac), ToBuffer(all.last(32)));
}

TEST(MessageViewTest, Rfc8489SampleWithCorrectedLengthParsesButItsMacDoesNotVerify) {
  Buffer fixed = kRfc8489SampleRequest;
  FixLength(fixed);
  EXPECT_EQ(fixed[3], 0x88);
  MessageView view;
  ASSERT_EQ(ParseBuffer(fixed, &view), ParseError::kOk);
  EXPECT_TRUE(view.has_message_integrity_sha256());
  EXPECT_FALSE(view.has_message_integrity());
  EXPECT_EQ(ValueString(view, attr::kNonce), "obMatJos2AAACf//499k954d6OL34oL9FSTvy64sA");
  EXPECT_EQ(ValueString(view, attr::kRealm), kLongTermRealm);
  // USERHASH is SHA-256(username ":" realm) (§14.4).
  EXPECT_EQ(ToBuffer(*view.FindValue(attr::kUserhash)),
            Sha256(std::string(kLongTermUsername) + ":" + std::string(kLongTermRealm)));
  // The published MAC covers a 0x9c length field, so a correct verifier refuses it.
  EXPECT_FALSE(view.VerifyIntegrity(LongTermSha256Key()));
}

TEST(MessageViewTest, Rfc8489SampleRebuiltVerifiesWithSha256KeyAndFailsWithOthers) {
  MessageView published;
  Buffer fixed = kRfc8489SampleRequest;
  FixLength(fixed);
  ASSERT_EQ(ParseBuffer(fixed, &published), ParseError::kOk);

  Buffer buffer(512);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kBinding, MessageClass::kRequest, published.transaction_id()));
  ASSERT_TRUE(b.AddBytes(attr::kUserhash, *published.FindValue(attr::kUserhash)));
  ASSERT_TRUE(b.AddBytes(attr::kNonce, *published.FindValue(attr::kNonce)));
  ASSERT_TRUE(b.AddBytes(attr::kRealm, *published.FindValue(attr::kRealm)));
  ASSERT_TRUE(b.AddMessageIntegritySha256(LongTermSha256Key()));
  const Buffer rebuilt = ToBuffer(b.Finish());
  // Everything but the MAC matches the published bytes (with the corrected length).
  ASSERT_EQ(rebuilt.size(), fixed.size());
  EXPECT_TRUE(std::equal(rebuilt.begin(), rebuilt.end() - 32, fixed.begin()));

  MessageView view;
  ASSERT_EQ(ParseBuffer(rebuilt, &view), ParseError::kOk);
  EXPECT_TRUE(view.VerifyIntegrity(LongTermSha256Key()));
  EXPECT_FALSE(
      view.VerifyIntegrity(LongTermKeyMd5(kLongTermUsername, kLongTermRealm, kLongTermPassword)));
  EXPECT_FALSE(view.VerifyIntegrity(
      Sha256(std::string(kLongTermUsername) + ":" + std::string(kLongTermRealm) + ":TheMatrix")));
}

// --- Header checks (SECURITY.md: wire and parser) ---

TEST(MessageViewTest, TruncatedHeaderIsTooShort) {
  for (size_t n = 0; n < kHeaderSize; ++n) {
    MessageView view;
    EXPECT_EQ(MessageView::Parse(Bytes(kSampleRequest).first(n), &view), ParseError::kTooShort)
        << n;
  }
}

TEST(MessageViewTest, FirstTwoBitsSetOrWrongCookieIsNotStun) {
  MessageView view;
  for (uint8_t top : {0x40, 0x80, 0xC0}) {
    Buffer m = kSampleIpv4Response;
    m[0] |= top;
    EXPECT_EQ(ParseBuffer(m, &view), ParseError::kNotStun);
  }
  Buffer m = kSampleIpv4Response;
  m[7] ^= 0x01;
  EXPECT_EQ(ParseBuffer(m, &view), ParseError::kNotStun);
}

TEST(MessageViewTest, LengthNotMultipleOfFourIsBadLength) {
  Buffer m = Header();
  AppendAttribute(m, attr::kUsername, {'a', 'b', 'c', 'd'});
  m.push_back(0);
  m.push_back(0);
  FixLength(m);  // 10
  MessageView view;
  EXPECT_EQ(ParseBuffer(m, &view), ParseError::kBadLength);
}

TEST(MessageViewTest, LengthNotMatchingDatagramIsBadLength) {
  Buffer m = Header();
  AppendAttribute(m, attr::kUsername, {'a', 'b', 'c', 'd'});
  MessageView view;
  for (size_t claimed : {0, 4, 12, 16, 0xFFFC}) {
    SetLength(m, claimed);
    EXPECT_EQ(ParseBuffer(m, &view), ParseError::kBadLength) << claimed;
  }
  SetLength(m, 8);
  EXPECT_EQ(ParseBuffer(m, &view), ParseError::kOk);
  // Trailing bytes after a valid message: a datagram is exactly one message.
  Buffer trailing = m;
  trailing.insert(trailing.end(), 4, 0);
  EXPECT_EQ(ParseBuffer(trailing, &view), ParseError::kBadLength);
}

TEST(MessageViewTest, AttributeRunningPastTheEndIsOverrun) {
  MessageView view;
  for (int declared : {5, 9, 0x7FFF, 0xFFFC, 0xFFFD, 0xFFFF}) {
    Buffer m = Header();
    AppendAttribute(m, attr::kUsername, {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'});
    // Declared length larger than what follows (8 bytes of value, then nothing).
    m[22] = static_cast<uint8_t>(declared >> 8);
    m[23] = static_cast<uint8_t>(declared);
    FixLength(m);
    EXPECT_EQ(ParseBuffer(m, &view),
              declared <= 8 ? ParseError::kOk : ParseError::kAttributeOverrun)
        << declared;
  }
}

TEST(MessageViewTest, AttributeWhosePaddingIsMissingIsOverrun) {
  // A 5-byte value needs 3 bytes of padding; here the message ends after 8 bytes of value area
  // but a second attribute claims 1 byte with no room for its padding.
  Buffer m = Header();
  AppendAttribute(m, attr::kUsername, {'a', 'b', 'c', 'd', 'e'});
  m.insert(m.end(), {0x80, 0x22, 0x00, 0x01});
  FixLength(m);
  MessageView view;
  EXPECT_EQ(ParseBuffer(m, &view), ParseError::kAttributeOverrun);
}

TEST(MessageViewTest, OverrunAfterMessageIntegrityIsStillRejected) {
  Buffer m = Header();
  AppendAttribute(m, attr::kMessageIntegrity, Buffer(20, 0));
  AppendAttribute(m, 0x8030, {1, 2, 3, 4});
  m[m.size() - 5] = 0x40;  // declared length 0x40 > 4 bytes that follow
  FixLength(m);
  MessageView view;
  EXPECT_EQ(ParseBuffer(m, &view), ParseError::kAttributeOverrun);
}

TEST(MessageViewTest, MoreThanMaxAttributesIsRejected) {
  Buffer m = Header();
  for (size_t i = 0; i < kMaxAttributes; ++i) AppendAttribute(m, attr::kDontFragment, {});
  FixLength(m);
  MessageView view;
  ASSERT_EQ(ParseBuffer(m, &view), ParseError::kOk);
  EXPECT_EQ(view.attributes().size(), kMaxAttributes);
  AppendAttribute(m, attr::kDontFragment, {});
  FixLength(m);
  EXPECT_EQ(ParseBuffer(m, &view), ParseError::kTooManyAttributes);
}

TEST(MessageViewTest, MessageIntegrityOfWrongSizeIsBadIntegrity) {
  MessageView view;
  for (size_t size : {0, 16, 19, 21, 32}) {
    Buffer m = Header();
    AppendAttribute(m, attr::kMessageIntegrity, Buffer(size, 0));
    FixLength(m);
    EXPECT_EQ(ParseBuffer(m, &view), ParseError::kBadIntegrity) << size;
  }
  for (size_t size : {0, 4, 12, 15, 17, 18, 30, 36, 64}) {
    Buffer m = Header();
    AppendAttribute(m, attr::kMessageIntegritySha256, Buffer(size, 0));
    FixLength(m);
    EXPECT_EQ(ParseBuffer(m, &view), ParseError::kBadIntegrity) << size;
  }
  for (size_t size : {16, 20, 24, 28, 32}) {
    Buffer m = Header();
    AppendAttribute(m, attr::kMessageIntegritySha256, Buffer(size, 0));
    FixLength(m);
    EXPECT_EQ(ParseBuffer(m, &view), ParseError::kOk) << size;
  }
}

// --- FINGERPRINT ---

TEST(MessageViewTest, WrongFingerprintIsBadFingerprint) {
  Buffer m = kSampleIpv4Response;
  m.back() ^= 0x01;
  MessageView view;
  EXPECT_EQ(ParseBuffer(m, &view), ParseError::kBadFingerprint);
}

// A flipped bit is caught by FINGERPRINT, or breaks the TLV walk, or (when it grows an attribute
// length over the rest of the message) swallows FINGERPRINT and MESSAGE-INTEGRITY so neither is
// seen: a receiver that requires FINGERPRINT must check has_fingerprint().
TEST(MessageViewTest, AnySingleBitFlipFailsParsingOrLosesFingerprintAndIntegrity) {
  MessageView view;
  for (const Buffer* vector : {&kSampleRequest, &kSampleIpv4Response, &kSampleIpv6Response}) {
    for (size_t i = 0; i < vector->size() - 8; ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        Buffer m = *vector;
        m[i] ^= static_cast<uint8_t>(1 << bit);
        if (ParseBuffer(m, &view) != ParseError::kOk) continue;
        EXPECT_FALSE(view.has_fingerprint()) << "byte " << i << " bit " << bit;
        EXPECT_FALSE(view.VerifyIntegrity(AsBytes(kShortTermPassword)))
            << "byte " << i << " bit " << bit;
      }
    }
  }
}

TEST(MessageViewTest, FingerprintNotLastIsBadFingerprint) {
  Buffer buffer(128);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kBinding, MessageClass::kRequest, kSampleTransactionId));
  ASSERT_TRUE(b.AddFingerprint());
  ASSERT_TRUE(b.AddFlag(0x8030));
  MessageView view;
  EXPECT_EQ(MessageView::Parse(b.Finish(), &view), ParseError::kBadFingerprint);
}

TEST(MessageViewTest, FingerprintOfWrongSizeIsBadFingerprint) {
  MessageView view;
  for (size_t size : {0, 3, 5, 8}) {
    Buffer m = Header();
    AppendAttribute(m, attr::kFingerprint, Buffer(size, 0));
    FixLength(m);
    EXPECT_EQ(ParseBuffer(m, &view), ParseError::kBadFingerprint) << size;
  }
}

// --- Attributes after MESSAGE-INTEGRITY ---

TEST(MessageViewTest, AttributesAfterMessageIntegrityAreNotExposed) {
  Buffer buffer(256);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kAllocate, MessageClass::kRequest, kSampleTransactionId));
  ASSERT_TRUE(b.AddString(attr::kUsername, "alice"));
  ASSERT_TRUE(b.AddMessageIntegrity(AsBytes("key")));
  // Smuggled after MESSAGE-INTEGRITY: must be invisible.
  ASSERT_TRUE(b.AddString(attr::kRealm, "evil"));
  ASSERT_TRUE(b.AddU32(0x0030, 7));
  ASSERT_TRUE(b.AddMessageIntegrity(AsBytes("other")));
  ASSERT_TRUE(b.AddFingerprint());
  MessageView view;
  ASSERT_EQ(MessageView::Parse(b.Finish(), &view), ParseError::kOk);
  ASSERT_EQ(view.attributes().size(), 3u);
  EXPECT_EQ(view.attributes()[0].type, attr::kUsername);
  EXPECT_EQ(view.attributes()[1].type, attr::kMessageIntegrity);
  EXPECT_EQ(view.attributes()[2].type, attr::kFingerprint);
  EXPECT_FALSE(view.GetString(attr::kRealm));
  EXPECT_TRUE(view.has_fingerprint());
  EXPECT_TRUE(view.VerifyIntegrity(AsBytes("key")));
  EXPECT_FALSE(view.VerifyIntegrity(AsBytes("other")));
  const uint16_t known[] = {attr::kUsername, attr::kMessageIntegrity};
  uint16_t unknown[8];
  EXPECT_EQ(view.UnknownRequired(known, unknown, 8), 0u);
}

TEST(MessageViewTest, OnlyFingerprintCountsAfterMessageIntegritySha256) {
  Buffer buffer(256);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kRefresh, MessageClass::kRequest, kSampleTransactionId));
  ASSERT_TRUE(b.AddU32(attr::kLifetime, 600));
  ASSERT_TRUE(b.AddMessageIntegritySha256(AsBytes("key")));
  ASSERT_TRUE(b.AddMessageIntegrity(AsBytes("key")));  // wrong order: ignored
  ASSERT_TRUE(b.AddFingerprint());
  MessageView view;
  ASSERT_EQ(MessageView::Parse(b.Finish(), &view), ParseError::kOk);
  ASSERT_EQ(view.attributes().size(), 3u);
  EXPECT_TRUE(view.has_message_integrity_sha256());
  EXPECT_FALSE(view.has_message_integrity());
  EXPECT_TRUE(view.VerifyIntegrity(AsBytes("key")));
}

// --- VerifyIntegrity ---

TEST(MessageViewTest, VerifyPrefersSha256WhenBothArePresent) {
  Buffer buffer(256);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kAllocate, MessageClass::kRequest, kSampleTransactionId));
  ASSERT_TRUE(b.AddString(attr::kUsername, "alice"));
  ASSERT_TRUE(b.AddMessageIntegrity(AsBytes("sha1-key")));
  ASSERT_TRUE(b.AddMessageIntegritySha256(AsBytes("sha256-key")));
  ASSERT_TRUE(b.AddFingerprint());
  MessageView view;
  ASSERT_EQ(MessageView::Parse(b.Finish(), &view), ParseError::kOk);
  EXPECT_TRUE(view.has_message_integrity());
  EXPECT_TRUE(view.has_message_integrity_sha256());
  EXPECT_TRUE(view.VerifyIntegrity(AsBytes("sha256-key")));
  EXPECT_FALSE(view.VerifyIntegrity(AsBytes("sha1-key")));
}

TEST(MessageViewTest, VerifyAcceptsTruncatedSha256AndChecksEveryByte) {
  Buffer buffer(256);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kBinding, MessageClass::kRequest, kSampleTransactionId));
  ASSERT_TRUE(b.AddString(attr::kUsername, "bob"));
  ASSERT_TRUE(b.AddBytes(attr::kMessageIntegritySha256, Buffer(16, 0)));
  const size_t mac_at = b.size() - 16;
  // §14.6: the length field already counts the (truncated) attribute.
  const Sha256Digest mac = HmacSha256(AsBytes("key"), Bytes(buffer).first(mac_at - 4), {});
  std::copy(mac.begin(), mac.begin() + 16, buffer.begin() + static_cast<std::ptrdiff_t>(mac_at));
  const Buffer good = ToBuffer(b.Finish());
  MessageView view;
  ASSERT_EQ(ParseBuffer(good, &view), ParseError::kOk);
  EXPECT_TRUE(view.VerifyIntegrity(AsBytes("key")));
  for (size_t i = mac_at; i < good.size(); ++i) {
    Buffer bad = good;
    bad[i] ^= 0x80;
    ASSERT_EQ(ParseBuffer(bad, &view), ParseError::kOk);
    EXPECT_FALSE(view.VerifyIntegrity(AsBytes("key"))) << i;
  }
}

TEST(MessageViewTest, VerifyWithoutIntegrityAttributeFails) {
  Buffer m = Header();
  AppendAttribute(m, attr::kUsername, {'a'});
  FixLength(m);
  MessageView view;
  ASSERT_EQ(ParseBuffer(m, &view), ParseError::kOk);
  EXPECT_FALSE(view.VerifyIntegrity(AsBytes("key")));
  EXPECT_FALSE(view.VerifyIntegrity({}));
}

TEST(MessageViewTest, TamperedCoveredAttributeFailsIntegrity) {
  Buffer m = kSampleLongTermRequest;
  m[40] ^= 0x01;  // inside USERNAME
  MessageView view;
  ASSERT_EQ(ParseBuffer(m, &view), ParseError::kOk);
  EXPECT_FALSE(
      view.VerifyIntegrity(LongTermKeyMd5(kLongTermUsername, kLongTermRealm, kLongTermPassword)));
}

// --- Alignment ---

void ExpectSameParse(const Buffer& message) {
  MessageView reference;
  const ParseError reference_error = ParseBuffer(message, &reference);
  for (size_t offset = 0; offset < 8; ++offset) {
    Buffer storage(message.size() + 16, 0xEE);
    std::copy(message.begin(), message.end(),
              storage.begin() + static_cast<std::ptrdiff_t>(offset));
    MessageView view;
    ASSERT_EQ(MessageView::Parse(Bytes(storage).subspan(offset, message.size()), &view),
              reference_error)
        << offset;
    if (reference_error != ParseError::kOk) continue;
    EXPECT_EQ(view.method(), reference.method());
    EXPECT_EQ(view.message_class(), reference.message_class());
    EXPECT_EQ(view.transaction_id(), reference.transaction_id());
    ASSERT_EQ(view.attributes().size(), reference.attributes().size());
    for (size_t i = 0; i < view.attributes().size(); ++i) {
      const Attribute& a = view.attributes()[i];
      const Attribute& r = reference.attributes()[i];
      EXPECT_EQ(a.type, r.type);
      EXPECT_EQ(a.offset, r.offset);
      EXPECT_EQ(a.length, r.length);
      EXPECT_EQ(ToBuffer(view.Value(a)), ToBuffer(reference.Value(r)));
      EXPECT_EQ(view.DecodeXorAddress(a), reference.DecodeXorAddress(r));
    }
    EXPECT_EQ(view.GetU32(attr::kPriority), reference.GetU32(attr::kPriority));
    EXPECT_EQ(view.GetAddress(attr::kMappedAddress), reference.GetAddress(attr::kMappedAddress));
    EXPECT_EQ(view.has_fingerprint(), reference.has_fingerprint());
    EXPECT_EQ(view.VerifyIntegrity(AsBytes(kShortTermPassword)),
              reference.VerifyIntegrity(AsBytes(kShortTermPassword)));
  }
}

TEST(MessageViewTest, ParsesIdenticallyAtEveryBufferAlignment) {
  for (const Buffer* vector : {&kSampleRequest, &kSampleIpv4Response, &kSampleIpv6Response,
                               &kSampleLongTermRequest, &kRfc8489SampleRequest}) {
    ExpectSameParse(*vector);
    Buffer corrupted = *vector;
    corrupted[corrupted.size() - 1] ^= 0xFF;
    ExpectSameParse(corrupted);
  }
}

TEST(MessageViewTest, ValueOffsetsBeyond16BitsAreRepresented) {
  // The largest message: 20 + 0xFFFC bytes; the last attribute's value starts past 0xFFFF.
  Buffer m = Header(0x0016);  // Send indication
  AppendAttribute(m, attr::kData, Buffer(0xFFFC - 8 - 4, 0x5A));
  AppendAttribute(m, attr::kUsername, {'t', 'a', 'i', 'l'});
  FixLength(m);
  ASSERT_EQ(m.size(), kHeaderSize + 0xFFFC);
  MessageView view;
  ASSERT_EQ(ParseBuffer(m, &view), ParseError::kOk);
  EXPECT_GT(view.Find(attr::kUsername)->offset, 0xFFFFu);
  EXPECT_EQ(ValueString(view, attr::kUsername), "tail");
  EXPECT_EQ(view.FindValue(attr::kData)->size(), 0xFFFCu - 12);
}

// --- Typed getters ---

TEST(MessageViewTest, TypedGettersReadWellFormedValues) {
  Buffer buffer(256);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kAllocate, MessageClass::kErrorResponse, kSampleTransactionId));
  ASSERT_TRUE(b.AddErrorCode(438, "Stale Nonce"));
  ASSERT_TRUE(b.AddChannelNumber(0x4001));
  ASSERT_TRUE(b.AddRequestedTransport(kTransportUdp));
  ASSERT_TRUE(b.AddFamily(attr::kRequestedAddressFamily, kFamilyIPv6));
  ASSERT_TRUE(b.AddEvenPort(true));
  ASSERT_TRUE(b.AddU32(attr::kLifetime, 3600));
  ASSERT_TRUE(b.AddFlag(attr::kDontFragment));
  MessageView view;
  ASSERT_EQ(MessageView::Parse(b.Finish(), &view), ParseError::kOk);
  EXPECT_EQ(view.method(), Method::kAllocate);
  EXPECT_EQ(view.message_class(), MessageClass::kErrorResponse);
  EXPECT_EQ(view.GetErrorCode(), 438);
  EXPECT_EQ(view.GetChannelNumber(), 0x4001);
  EXPECT_EQ(view.GetRequestedTransport(), kTransportUdp);
  EXPECT_EQ(view.GetFamily(attr::kRequestedAddressFamily), kFamilyIPv6);
  EXPECT_EQ(view.GetEvenPort(), true);
  EXPECT_EQ(view.GetU32(attr::kLifetime), 3600u);
  ASSERT_NE(view.Find(attr::kDontFragment), nullptr);
  EXPECT_EQ(view.Find(attr::kDontFragment)->length, 0);
  EXPECT_FALSE(view.GetU32(attr::kPriority));
  EXPECT_FALSE(view.GetString(attr::kSoftware));
  EXPECT_FALSE(view.GetXorAddress(attr::kXorPeerAddress));
}

TEST(MessageViewTest, TypedGettersRejectMalformedValues) {
  Buffer m = Header();
  AppendAttribute(m, attr::kLifetime, {0, 0, 1});
  AppendAttribute(m, attr::kChannelNumber, {0x40, 0x01});
  AppendAttribute(m, attr::kRequestedTransport, {17, 0, 0, 0, 0});
  AppendAttribute(m, attr::kRequestedAddressFamily, {1});
  AppendAttribute(m, attr::kEvenPort, {0x80, 0, 0, 0});
  AppendAttribute(m, attr::kErrorCode, {0, 0, 4});
  FixLength(m);
  MessageView view;
  ASSERT_EQ(ParseBuffer(m, &view), ParseError::kOk);
  EXPECT_FALSE(view.GetU32(attr::kLifetime));
  EXPECT_FALSE(view.GetChannelNumber());
  EXPECT_FALSE(view.GetRequestedTransport());
  EXPECT_FALSE(view.GetFamily(attr::kRequestedAddressFamily));
  EXPECT_FALSE(view.GetEvenPort());
  EXPECT_FALSE(view.GetErrorCode());
}

TEST(MessageViewTest, ErrorCodeClassAndNumberMustBeInRange) {
  MessageView view;
  struct Case {
    uint8_t error_class;
    uint8_t number;
    std::optional<uint16_t> expected;
  };
  for (const Case& c : {Case{4, 1, 401}, Case{3, 0, 300}, Case{6, 99, 699}, Case{2, 0, {}},
                        Case{7, 0, {}}, Case{4, 100, {}}, Case{0xF4, 20, 420}}) {
    Buffer m = Header(0x0111);
    AppendAttribute(m, attr::kErrorCode, {0, 0, c.error_class, c.number, 'x'});
    FixLength(m);
    ASSERT_EQ(ParseBuffer(m, &view), ParseError::kOk);
    EXPECT_EQ(view.GetErrorCode(), c.expected) << int{c.error_class} << " " << int{c.number};
  }
}

TEST(MessageViewTest, FamilyGetterReturnsUnsupportedValuesForTheHandlerToRefuse) {
  Buffer m = Header(0x0003);
  AppendAttribute(m, attr::kRequestedAddressFamily, {0x03, 0, 0, 0});
  FixLength(m);
  MessageView view;
  ASSERT_EQ(ParseBuffer(m, &view), ParseError::kOk);
  EXPECT_EQ(view.GetFamily(attr::kRequestedAddressFamily), 0x03);
}

TEST(MessageViewTest, XorAddressRoundTripsBothFamilies) {
  for (const char* text : {"203.0.113.9:49152", "[2001:db8::dead:beef]:3478", "0.0.0.0:0",
                           "[::ffff:192.0.2.1]:65535"}) {
    const SocketAddress address = *SocketAddress::Parse(text);
    Buffer buffer(128);
    MessageBuilder b(buffer);
    ASSERT_TRUE(b.Start(Method::kAllocate, MessageClass::kSuccessResponse, kSampleTransactionId));
    ASSERT_TRUE(b.AddXorAddress(attr::kXorRelayedAddress, address));
    ASSERT_TRUE(b.AddAddress(attr::kMappedAddress, address));
    MessageView view;
    ASSERT_EQ(MessageView::Parse(b.Finish(), &view), ParseError::kOk);
    EXPECT_EQ(view.GetXorAddress(attr::kXorRelayedAddress), address) << text;
    EXPECT_EQ(view.GetAddress(attr::kMappedAddress), address) << text;
    // On the wire the XOR form differs from the plain one (for a non-zero address).
    if (!address.ip.IsUnspecified()) {
      EXPECT_NE(ToBuffer(*view.FindValue(attr::kXorRelayedAddress)),
                ToBuffer(*view.FindValue(attr::kMappedAddress)));
    }
  }
}

TEST(MessageViewTest, XorAddressWithBadFamilyOrLengthIsRejected) {
  const Buffer cases[] = {
      {0, 0x03, 0, 0, 1, 2, 3, 4},  // unknown family
      {0, 0x01, 0, 0, 1, 2, 3},     // IPv4, 3 address bytes
      {0, 0x01, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},  // IPv4, 16 bytes
      {0, 0x02, 0, 0, 1, 2, 3, 4},                                             // IPv6, 4 bytes
      {0, 0x02, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},      // IPv6, 15 bytes
      {0, 0x01, 0},  // shorter than the fixed part
      {},
  };
  for (const Buffer& value : cases) {
    Buffer m = Header();
    AppendAttribute(m, attr::kXorPeerAddress, value);
    AppendAttribute(m, attr::kMappedAddress, value);
    FixLength(m);
    MessageView view;
    ASSERT_EQ(ParseBuffer(m, &view), ParseError::kOk);
    EXPECT_FALSE(view.GetXorAddress(attr::kXorPeerAddress)) << value.size();
    EXPECT_FALSE(view.GetAddress(attr::kMappedAddress)) << value.size();
  }
}

TEST(MessageViewTest, SeveralXorPeerAddressesDecodeThroughAttributes) {
  const SocketAddress peers[] = {*SocketAddress::Parse("198.51.100.1:1000"),
                                 *SocketAddress::Parse("[2001:db8::1]:2000"),
                                 *SocketAddress::Parse("198.51.100.2:3000")};
  Buffer buffer(256);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kCreatePermission, MessageClass::kRequest, kSampleTransactionId));
  for (const SocketAddress& peer : peers) ASSERT_TRUE(b.AddXorAddress(attr::kXorPeerAddress, peer));
  MessageView view;
  ASSERT_EQ(MessageView::Parse(b.Finish(), &view), ParseError::kOk);
  std::vector<SocketAddress> decoded;
  for (const Attribute& a : view.attributes()) {
    if (a.type == attr::kXorPeerAddress) decoded.push_back(*view.DecodeXorAddress(a));
  }
  EXPECT_EQ(decoded, std::vector<SocketAddress>(std::begin(peers), std::end(peers)));
}

// --- UnknownRequired ---

TEST(MessageViewTest, UnknownRequiredListsOnlyUnknownComprehensionRequiredTypes) {
  Buffer m = Header();
  AppendAttribute(m, attr::kUsername, {'u'});
  AppendAttribute(m, 0x0030, {});
  AppendAttribute(m, 0x8030, {});  // unknown but comprehension-optional
  AppendAttribute(m, 0x7FFF, {});
  AppendAttribute(m, 0x0030, {});  // repeated: reported once
  AppendAttribute(m, attr::kSoftware, {'s'});
  FixLength(m);
  MessageView view;
  ASSERT_EQ(ParseBuffer(m, &view), ParseError::kOk);
  const uint16_t known[] = {attr::kUsername};
  uint16_t out[8] = {};
  ASSERT_EQ(view.UnknownRequired(known, out, 8), 2u);
  EXPECT_EQ(out[0], 0x0030);
  EXPECT_EQ(out[1], 0x7FFF);
  EXPECT_EQ(view.UnknownRequired(known, out, 1), 1u);
  EXPECT_EQ(out[0], 0x0030);
  EXPECT_EQ(view.UnknownRequired(known, out, 0), 0u);
  const uint16_t all[] = {attr::kUsername, 0x0030, 0x7FFF};
  EXPECT_EQ(view.UnknownRequired(all, out, 8), 0u);
}

// --- Type encoding and stream framing ---

TEST(StunTypeTest, EncodesRfcMessageTypes) {
  EXPECT_EQ(EncodeType(Method::kBinding, MessageClass::kRequest), 0x0001);
  EXPECT_EQ(EncodeType(Method::kBinding, MessageClass::kSuccessResponse), 0x0101);
  EXPECT_EQ(EncodeType(Method::kBinding, MessageClass::kErrorResponse), 0x0111);
  EXPECT_EQ(EncodeType(Method::kBinding, MessageClass::kIndication), 0x0011);
  EXPECT_EQ(EncodeType(Method::kAllocate, MessageClass::kRequest), 0x0003);
  EXPECT_EQ(EncodeType(Method::kAllocate, MessageClass::kErrorResponse), 0x0113);
  EXPECT_EQ(EncodeType(Method::kSend, MessageClass::kIndication), 0x0016);
  EXPECT_EQ(EncodeType(Method::kData, MessageClass::kIndication), 0x0017);
  EXPECT_EQ(EncodeType(Method::kChannelBind, MessageClass::kSuccessResponse), 0x0109);
  EXPECT_EQ(EncodeType(Method::kConnectionAttempt, MessageClass::kIndication), 0x001C);
}

TEST(StunTypeTest, DecodeInvertsEncodeForEveryMethodAndClass) {
  for (uint16_t method = 0; method < 0x1000; ++method) {
    for (uint8_t cls = 0; cls < 4; ++cls) {
      const uint16_t type = EncodeType(static_cast<Method>(method), static_cast<MessageClass>(cls));
      EXPECT_EQ(type & 0xC000, 0);
      uint16_t decoded_method = 0;
      MessageClass decoded_class;
      DecodeType(type, &decoded_method, &decoded_class);
      ASSERT_EQ(decoded_method, method);
      ASSERT_EQ(decoded_class, static_cast<MessageClass>(cls));
    }
  }
}

TEST(PeekStunLengthTest, ReadsTotalLengthFromFirstFourBytes) {
  size_t total = 0;
  EXPECT_TRUE(PeekStunLength(Bytes(kSampleRequest).first(4), &total));
  EXPECT_EQ(total, kSampleRequest.size());
  const Buffer max = {0x00, 0x01, 0xFF, 0xFF};
  EXPECT_TRUE(PeekStunLength(max, &total));
  EXPECT_EQ(total, kHeaderSize + 0xFFFF);
}

TEST(PeekStunLengthTest, RefusesShortInputAndNonStunFirstBits) {
  size_t total = 0;
  EXPECT_FALSE(PeekStunLength(Bytes(kSampleRequest).first(3), &total));
  EXPECT_FALSE(PeekStunLength({}, &total));
  const Buffer channel_data = {0x40, 0x00, 0x00, 0x04};
  EXPECT_FALSE(PeekStunLength(channel_data, &total));
  const Buffer high = {0x80, 0x00, 0x00, 0x04};
  EXPECT_FALSE(PeekStunLength(high, &total));
}

TEST(ParseErrorNameTest, NamesEveryErrorDistinctly) {
  const ParseError all[] = {ParseError::kOk,
                            ParseError::kTooShort,
                            ParseError::kNotStun,
                            ParseError::kBadLength,
                            ParseError::kAttributeOverrun,
                            ParseError::kTooManyAttributes,
                            ParseError::kBadFingerprint,
                            ParseError::kBadIntegrity};
  std::vector<std::string> names;
  for (ParseError e : all) names.emplace_back(ParseErrorName(e));
  EXPECT_EQ(names.front(), "ok");
  EXPECT_EQ(std::find(names.begin(), names.end(), "unknown"), names.end());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(std::unique(names.begin(), names.end()), names.end());
}

// --- MessageBuilder ---

TEST(MessageBuilderTest, KeepsHeaderLengthUpToDateAfterEachAttribute) {
  Buffer buffer(128);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kBinding, MessageClass::kRequest, kSampleTransactionId));
  EXPECT_EQ(b.size(), kHeaderSize);
  EXPECT_EQ((Buffer{buffer[0], buffer[1], buffer[2], buffer[3]}), (Buffer{0x00, 0x01, 0, 0}));
  ASSERT_TRUE(b.AddString(attr::kSoftware, "abcde"));
  EXPECT_EQ(b.size(), kHeaderSize + 12);
  EXPECT_EQ(buffer[3], 12);
  MessageView view;
  ASSERT_EQ(MessageView::Parse(b.Finish(), &view), ParseError::kOk);
  ASSERT_TRUE(b.AddFlag(attr::kDontFragment));
  EXPECT_EQ(buffer[3], 16);
  ASSERT_EQ(MessageView::Parse(b.Finish(), &view), ParseError::kOk);
}

TEST(MessageBuilderTest, PadsWithZerosEvenOverDirtyBuffers) {
  Buffer buffer(128, 0xFF);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kBinding, MessageClass::kRequest, kSampleTransactionId));
  ASSERT_TRUE(b.AddString(attr::kSoftware, "a"));
  ASSERT_TRUE(b.AddEvenPort(false));
  const Buffer expected_tail = {0x80, 0x22, 0x00, 0x01, 'a',  0, 0, 0,
                                0x00, 0x18, 0x00, 0x01, 0x00, 0, 0, 0};
  EXPECT_EQ(Buffer(buffer.begin() + 20, buffer.begin() + 36), expected_tail);
}

TEST(MessageBuilderTest, ErrorCodeSplitsClassAndNumberAndPadsReason) {
  Buffer buffer(128);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kAllocate, MessageClass::kErrorResponse, kSampleTransactionId));
  ASSERT_TRUE(b.AddErrorCode(438, "Stale Nonce"));
  const Buffer expected = {0x00, 0x09, 0x00, 0x0F, 0x00, 0x00, 0x04, 0x26, 'S', 't',
                           'a',  'l',  'e',  ' ',  'N',  'o',  'n',  'c',  'e', 0x00};
  EXPECT_EQ(ToBuffer(b.Finish().subspan(kHeaderSize)), expected);
}

TEST(MessageBuilderTest, ErrorCodeOutsideThreeToSixHundredsFailsTheBuilder) {
  for (uint16_t code : {0, 299, 700, 1000}) {
    Buffer buffer(128);
    MessageBuilder b(buffer);
    ASSERT_TRUE(b.Start(Method::kAllocate, MessageClass::kErrorResponse, kSampleTransactionId));
    EXPECT_FALSE(b.AddErrorCode(code, ""));
    EXPECT_FALSE(b.ok());
    EXPECT_TRUE(b.Finish().empty());
  }
}

TEST(MessageBuilderTest, UnknownAttributesIsAPaddedListOfTypes) {
  Buffer buffer(128);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kAllocate, MessageClass::kErrorResponse, kSampleTransactionId));
  const uint16_t types[] = {0x0030, 0x7FFF, 0x0002};
  ASSERT_TRUE(b.AddUnknownAttributes(types));
  const Buffer expected = {0x00, 0x0A, 0x00, 0x06, 0x00, 0x30, 0x7F, 0xFF, 0x00, 0x02, 0, 0};
  EXPECT_EQ(ToBuffer(b.Finish().subspan(kHeaderSize)), expected);
}

TEST(MessageBuilderTest, FixedFormatAttributesMatchTheRfcLayouts) {
  Buffer buffer(128);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kChannelBind, MessageClass::kRequest, kSampleTransactionId));
  ASSERT_TRUE(b.AddChannelNumber(0x4ABC));
  ASSERT_TRUE(b.AddRequestedTransport(kTransportTcp));
  ASSERT_TRUE(b.AddFamily(attr::kAdditionalAddressFamily, kFamilyIPv6));
  ASSERT_TRUE(b.AddEvenPort(true));
  ASSERT_TRUE(b.AddFlag(attr::kDontFragment));
  const Buffer expected = {
      0x00, 0x0C, 0x00, 0x04, 0x4A, 0xBC, 0x00, 0x00,  // CHANNEL-NUMBER + RFFU
      0x00, 0x19, 0x00, 0x04, 0x06, 0x00, 0x00, 0x00,  // REQUESTED-TRANSPORT
      0x80, 0x00, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00,  // ADDITIONAL-ADDRESS-FAMILY
      0x00, 0x18, 0x00, 0x01, 0x80, 0x00, 0x00, 0x00,  // EVEN-PORT, R bit
      0x00, 0x1A, 0x00, 0x00,                          // DONT-FRAGMENT
  };
  EXPECT_EQ(ToBuffer(b.Finish().subspan(kHeaderSize)), expected);
}

TEST(MessageBuilderTest, AddBeforeStartFails) {
  Buffer buffer(128);
  MessageBuilder b(buffer);
  EXPECT_FALSE(b.ok());
  EXPECT_FALSE(b.AddFlag(attr::kDontFragment));
  EXPECT_FALSE(b.AddFingerprint());
  EXPECT_TRUE(b.Finish().empty());
  EXPECT_EQ(b.size(), 0u);
}

// Writes a typical long-term-authenticated response into `buffer`; returns whether every step
// succeeded.
bool BuildTypicalResponse(std::span<uint8_t> buffer) {
  MessageBuilder b(buffer);
  bool ok = b.Start(Method::kAllocate, MessageClass::kSuccessResponse, kSampleTransactionId);
  ok =
      b.AddXorAddress(attr::kXorRelayedAddress, *SocketAddress::Parse("[2001:db8::7]:50000")) && ok;
  ok = b.AddXorAddress(attr::kXorMappedAddress, *SocketAddress::Parse("192.0.2.33:4000")) && ok;
  ok = b.AddU32(attr::kLifetime, 600) && ok;
  ok = b.AddString(attr::kSoftware, "callvault") && ok;
  const uint16_t unknown[] = {0x0031};
  ok = b.AddUnknownAttributes(unknown) && ok;
  ok = b.AddErrorCode(420, "x") && ok;
  ok = b.AddEvenPort(true) && ok;
  ok = b.AddMessageIntegrity(AsBytes("key")) && ok;
  ok = b.AddMessageIntegritySha256(AsBytes("key")) && ok;
  ok = b.AddFingerprint() && ok;
  EXPECT_EQ(ok, b.ok());
  EXPECT_EQ(b.Finish().size(), b.size());
  return ok;
}

TEST(MessageBuilderTest, OverflowNeverWritesPastTheBuffer) {
  Buffer full_buffer(1024);
  ASSERT_TRUE(BuildTypicalResponse(full_buffer));
  MessageView full;
  const size_t full_size = ((full_buffer[2] << 8) | full_buffer[3]) + kHeaderSize;
  ASSERT_EQ(MessageView::Parse(Bytes(full_buffer).first(full_size), &full), ParseError::kOk);

  constexpr size_t kGuard = 64;
  for (size_t capacity = 0; capacity <= full_size + 8; ++capacity) {
    Buffer storage(capacity + kGuard, 0xA5);
    const bool ok = BuildTypicalResponse(std::span<uint8_t>(storage).first(capacity));
    EXPECT_EQ(ok, capacity >= full_size) << capacity;
    for (size_t i = capacity; i < storage.size(); ++i) {
      ASSERT_EQ(storage[i], 0xA5) << "capacity " << capacity << " wrote byte " << i;
    }
    if (ok) {
      EXPECT_TRUE(std::equal(storage.begin(), storage.begin() + full_size, full_buffer.begin()));
    }
  }
}

TEST(MessageBuilderTest, FailedBuilderStaysFailed) {
  Buffer buffer(32);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kBinding, MessageClass::kRequest, kSampleTransactionId));
  EXPECT_FALSE(b.AddString(attr::kSoftware, "this does not fit in twelve bytes"));
  EXPECT_FALSE(b.ok());
  EXPECT_FALSE(b.AddFlag(attr::kDontFragment));  // would fit, but the builder has failed
  EXPECT_TRUE(b.Finish().empty());
  EXPECT_EQ(b.size(), 0u);
}

TEST(MessageBuilderTest, RefusesValuesBeyondTheSixteenBitLengthField) {
  Buffer buffer(kHeaderSize + 0x20000);
  MessageBuilder b(buffer);
  ASSERT_TRUE(b.Start(Method::kSend, MessageClass::kIndication, kSampleTransactionId));
  EXPECT_FALSE(b.AddBytes(attr::kData, Buffer(0x10000, 1)));
  EXPECT_FALSE(b.ok());

  MessageBuilder d(buffer);
  ASSERT_TRUE(d.Start(Method::kAllocate, MessageClass::kErrorResponse, kSampleTransactionId));
  const std::vector<uint16_t> too_many_types(0x8000, 0x0030);
  EXPECT_FALSE(d.AddUnknownAttributes(too_many_types));
  EXPECT_FALSE(d.ok());

  // A body over 0xFFFC bytes cannot be expressed either, even with room in the buffer.
  MessageBuilder c(buffer);
  ASSERT_TRUE(c.Start(Method::kSend, MessageClass::kIndication, kSampleTransactionId));
  ASSERT_TRUE(c.AddBytes(attr::kData, Buffer(0xFFF8 - 4, 1)));
  EXPECT_EQ(c.size(), kHeaderSize + 0xFFF8);
  ASSERT_TRUE(c.AddFlag(attr::kDontFragment));  // exactly 0xFFFC
  EXPECT_FALSE(c.AddFlag(attr::kDontFragment));
  EXPECT_FALSE(c.ok());
}

}  // namespace
}  // namespace cv::stun
