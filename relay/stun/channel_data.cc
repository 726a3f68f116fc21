#include "relay/stun/channel_data.h"

#include "relay/stun/constants.h"

namespace cv::stun {

std::optional<ChannelDataView> ParseChannelData(std::span<const uint8_t> datagram) {
  if (datagram.size() < kChannelDataHeaderSize) return std::nullopt;
  const uint16_t channel = static_cast<uint16_t>((datagram[0] << 8) | datagram[1]);
  const size_t length = static_cast<size_t>((datagram[2] << 8) | datagram[3]);
  if (channel < kMinChannel || channel > kMaxChannel) return std::nullopt;
  // Bytes after the data are padding (§12.5), allowed on UDP too.
  if (length > datagram.size() - kChannelDataHeaderSize) return std::nullopt;
  return ChannelDataView{channel, datagram.subspan(kChannelDataHeaderSize, length)};
}

void WriteChannelDataHeader(uint16_t channel, uint16_t length, uint8_t* out) {
  out[0] = static_cast<uint8_t>(channel >> 8);
  out[1] = static_cast<uint8_t>(channel);
  out[2] = static_cast<uint8_t>(length >> 8);
  out[3] = static_cast<uint8_t>(length);
}

}  // namespace cv::stun
