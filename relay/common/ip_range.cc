#include "relay/common/ip_range.h"

#include <array>
#include <cstring>

namespace cv {
namespace {

// Parses a CIDR prefix length: 1-3 decimal digits, at most `max_bits`.
std::optional<int> ParsePrefixLength(std::string_view text, int max_bits) {
  if (text.empty() || text.size() > 3) return std::nullopt;
  int bits = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    bits = bits * 10 + (c - '0');
  }
  if (bits > max_bits) return std::nullopt;
  return bits;
}

// Returns `a` with every bit after the first `bits` set to `fill` (0x00 or 0xff).
IpAddress FillHostBits(const IpAddress& a, int bits, uint8_t fill) {
  std::array<uint8_t, 16> b{};
  std::memcpy(b.data(), a.data(), a.size());
  const int total = static_cast<int>(a.size()) * 8;
  for (int i = bits; i < total; ++i) {
    const uint8_t mask = static_cast<uint8_t>(0x80u >> (i % 8));
    if (fill != 0) {
      b[i / 8] |= mask;
    } else {
      b[i / 8] &= static_cast<uint8_t>(~mask);
    }
  }
  return a.is_v4() ? IpAddress::V4FromBytes(b.data()) : IpAddress::V6FromBytes(b.data());
}

int CompareBytes(const IpAddress& a, const IpAddress& b) {
  return std::memcmp(a.data(), b.data(), a.size());
}

// The prefix length when [first, last] is exactly one CIDR block, else -1.
int CidrLength(const IpAddress& first, const IpAddress& last) {
  const int total = static_cast<int>(first.size()) * 8;
  for (int bits = 0; bits <= total; ++bits) {
    if (FillHostBits(first, bits, 0x00) == first && FillHostBits(first, bits, 0xff) == last) {
      return bits;
    }
  }
  return -1;
}

}  // namespace

std::optional<IpRange> IpRange::Parse(std::string_view text) {
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    auto base = IpAddress::Parse(text.substr(0, slash));
    if (!base) return std::nullopt;
    auto bits = ParsePrefixLength(text.substr(slash + 1), base->is_v4() ? 32 : 128);
    if (!bits) return std::nullopt;
    // Host bits below the prefix are ignored: "10.1.2.3/8" is 10.0.0.0/8.
    return IpRange{FillHostBits(*base, *bits, 0x00), FillHostBits(*base, *bits, 0xff)};
  }
  if (size_t dash = text.find('-'); dash != std::string_view::npos) {
    auto first = IpAddress::Parse(text.substr(0, dash));
    auto last = IpAddress::Parse(text.substr(dash + 1));
    if (!first || !last || first->family() != last->family()) return std::nullopt;
    if (CompareBytes(*first, *last) > 0) return std::nullopt;
    return IpRange{*first, *last};
  }
  auto single = IpAddress::Parse(text);
  if (!single) return std::nullopt;
  return Single(*single);
}

bool IpRange::Contains(const IpAddress& a) const {
  if (a.family() != first.family()) return false;
  return CompareBytes(first, a) <= 0 && CompareBytes(a, last) <= 0;
}

std::string IpRange::ToString() const {
  if (first == last) return first.ToString();
  if (int bits = CidrLength(first, last); bits >= 0) {
    return first.ToString() + "/" + std::to_string(bits);
  }
  return first.ToString() + "-" + last.ToString();
}

}  // namespace cv
