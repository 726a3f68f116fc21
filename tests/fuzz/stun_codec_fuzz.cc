// libFuzzer target for the STUN codec: message parsing, typed getters, MESSAGE-INTEGRITY,
// address decoding, ChannelData framing, and MessageBuilder round trips.
//
// Invariants checked (a violation traps, which libFuzzer and the corpus test report):
// - parsing the same bytes at another alignment gives the same result;
// - a parsed message rebuilt attribute by attribute parses again to the same attributes, and its
//   MESSAGE-INTEGRITY verifies with the key it was rebuilt with;
// - the builder never writes past its buffer.
//
// No main() here: libFuzzer supplies one in the fuzz build, GoogleTest in the corpus replay test.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "relay/stun/channel_data.h"
#include "relay/stun/constants.h"
#include "relay/stun/crypto.h"
#include "relay/stun/message.h"

namespace {

using cv::stun::Attribute;
using cv::stun::Bytes;
using cv::stun::MessageBuilder;
using cv::stun::MessageView;
using cv::stun::ParseError;
namespace attr = cv::stun::attr;

constexpr uint8_t kKey[] = {'f', 'u', 'z', 'z', '-', 'k', 'e', 'y'};

void Check(bool condition) {
  if (!condition) __builtin_trap();
}

bool IsIntegrityOrFingerprint(uint16_t type) {
  return type == attr::kMessageIntegrity || type == attr::kMessageIntegritySha256 ||
         type == attr::kFingerprint;
}

bool SameBytes(Bytes a, Bytes b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

void ExerciseGetters(const MessageView& view) {
  const Bytes raw = view.raw();
  for (const Attribute& a : view.attributes()) {
    const Bytes value = view.Value(a);
    Check(value.data() >= raw.data() && value.data() + value.size() <= raw.data() + raw.size());
    (void)view.DecodeXorAddress(a);
  }
  for (uint16_t type : {attr::kUsername, attr::kRealm, attr::kNonce, attr::kSoftware}) {
    (void)view.GetString(type);
  }
  (void)view.GetU32(attr::kLifetime);
  (void)view.GetU32(attr::kPriority);
  (void)view.GetXorAddress(attr::kXorMappedAddress);
  (void)view.GetXorAddress(attr::kXorPeerAddress);
  (void)view.GetXorAddress(attr::kXorRelayedAddress);
  (void)view.GetAddress(attr::kMappedAddress);
  (void)view.GetAddress(attr::kAlternateServer);
  if (auto code = view.GetErrorCode()) Check(*code >= 300 && *code <= 699);
  (void)view.GetChannelNumber();
  (void)view.GetRequestedTransport();
  (void)view.GetFamily(attr::kRequestedAddressFamily);
  (void)view.GetFamily(attr::kAdditionalAddressFamily);
  (void)view.GetEvenPort();

  const uint16_t known[] = {attr::kUsername,
                            attr::kRealm,
                            attr::kNonce,
                            attr::kMessageIntegrity,
                            attr::kMessageIntegritySha256,
                            attr::kLifetime};
  uint16_t unknown[cv::stun::kMaxAttributes];
  const size_t n = view.UnknownRequired(known, unknown, cv::stun::kMaxAttributes);
  for (size_t i = 0; i < n; ++i) Check(attr::IsComprehensionRequired(unknown[i]));
  Check(view.UnknownRequired(known, unknown, 1) <= 1);

  const bool has_integrity = view.has_message_integrity() || view.has_message_integrity_sha256();
  const bool verified = view.VerifyIntegrity(kKey);
  Check(has_integrity || !verified);
  (void)view.VerifyIntegrity({});
}

void CheckSameParse(const MessageView& view, Bytes data) {
  std::vector<uint8_t> shifted(data.size() + 3);
  if (!data.empty()) std::memcpy(shifted.data() + 3, data.data(), data.size());
  MessageView other;
  const ParseError error = MessageView::Parse(Bytes(shifted).subspan(3), &other);
  Check(error == ParseError::kOk);
  Check(other.attributes().size() == view.attributes().size());
  for (size_t i = 0; i < view.attributes().size(); ++i) {
    Check(other.attributes()[i].type == view.attributes()[i].type);
    Check(other.attributes()[i].offset == view.attributes()[i].offset);
    Check(other.attributes()[i].length == view.attributes()[i].length);
  }
  Check(other.VerifyIntegrity(kKey) == view.VerifyIntegrity(kKey));
}

// Rebuilds `view` into a fixed buffer with a guard region behind it, then parses the result.
void CheckRebuild(const MessageView& view) {
  constexpr size_t kCapacity = 1024;
  constexpr size_t kGuard = 32;
  std::array<uint8_t, kCapacity + kGuard> storage;
  storage.fill(0xA5);
  MessageBuilder b(std::span<uint8_t>(storage).first(kCapacity));
  b.Start(view.method(), view.message_class(), view.transaction_id());
  for (const Attribute& a : view.attributes()) {
    if (!IsIntegrityOrFingerprint(a.type)) b.AddBytes(a.type, view.Value(a));
  }
  if (view.has_message_integrity()) b.AddMessageIntegrity(kKey);
  if (view.has_message_integrity_sha256()) b.AddMessageIntegritySha256(kKey);
  if (view.has_fingerprint()) b.AddFingerprint();
  for (size_t i = kCapacity; i < storage.size(); ++i) Check(storage[i] == 0xA5);
  if (!b.ok()) {
    Check(b.Finish().empty());
    return;
  }

  MessageView rebuilt;
  Check(MessageView::Parse(b.Finish(), &rebuilt) == ParseError::kOk);
  Check(rebuilt.method() == view.method());
  Check(rebuilt.message_class() == view.message_class());
  Check(rebuilt.transaction_id() == view.transaction_id());
  Check(rebuilt.attributes().size() == view.attributes().size());
  for (size_t i = 0; i < view.attributes().size(); ++i) {
    const Attribute& original = view.attributes()[i];
    const Attribute& copy = rebuilt.attributes()[i];
    Check(original.type == copy.type);
    if (!IsIntegrityOrFingerprint(original.type)) {
      Check(SameBytes(view.Value(original), rebuilt.Value(copy)));
    }
  }
  Check(rebuilt.has_fingerprint() == view.has_fingerprint());
  if (view.has_message_integrity() || view.has_message_integrity_sha256()) {
    Check(rebuilt.VerifyIntegrity(kKey));
  }
}

void ExerciseMessage(const MessageView& view, Bytes data) {
  ExerciseGetters(view);
  CheckSameParse(view, data);
  CheckRebuild(view);
}

// Rewrites the value of a FINGERPRINT attribute in the last 8 bytes to the correct CRC.
bool RepairFingerprint(std::vector<uint8_t>& message) {
  if (message.size() < cv::stun::kHeaderSize + 8) return false;
  uint8_t* fingerprint = message.data() + message.size() - 8;
  const uint8_t header[] = {0x80, 0x28, 0x00, 0x04};
  if (std::memcmp(fingerprint, header, sizeof(header)) != 0) return false;
  const uint32_t crc =
      cv::stun::Crc32(Bytes(message).first(message.size() - 8)) ^ cv::stun::kFingerprintXor;
  for (int i = 0; i < 4; ++i) fingerprint[4 + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
  return true;
}

void FuzzChannelData(Bytes data) {
  auto frame = cv::stun::ParseChannelData(data);
  if (!frame) return;
  Check(frame->channel >= cv::stun::kMinChannel && frame->channel <= cv::stun::kMaxChannel);
  Check(frame->data.data() == data.data() + cv::stun::kChannelDataHeaderSize);
  Check(frame->data.size() <= data.size() - cv::stun::kChannelDataHeaderSize);
  Check(cv::stun::LooksLikeChannelData(data[0]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bytes input(data, size);

  size_t total = 0;
  if (cv::stun::PeekStunLength(input, &total)) Check(total >= cv::stun::kHeaderSize);

  MessageView view;
  const ParseError error = MessageView::Parse(input, &view);
  if (error == ParseError::kOk) {
    Check(view.raw().data() == data && view.raw().size() == size);
    ExerciseMessage(view, input);
  } else if (error == ParseError::kBadFingerprint) {
    // The fuzzer rarely guesses a CRC-32: repair a trailing FINGERPRINT and go deeper.
    std::vector<uint8_t> repaired(input.begin(), input.end());
    if (RepairFingerprint(repaired) && MessageView::Parse(repaired, &view) == ParseError::kOk) {
      Check(view.has_fingerprint());
      ExerciseMessage(view, repaired);
    }
  }

  FuzzChannelData(input);
  return 0;
}
