#include "tests/bench/cvbench/payload.h"

namespace cv::bench {
namespace {

void Put32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}

uint32_t Get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

bool EncodeMedia(const MediaHeader& header, std::span<uint8_t> out) {
  if (out.size() < kMediaHeaderSize) return false;
  uint8_t* p = out.data();
  p[0] = kMediaMagic;
  p[1] = static_cast<uint8_t>(header.direction);
  p[2] = header.epoch;
  p[3] = header.flags;
  Put32(p + 4, header.flow);
  Put32(p + 8, header.sequence);
  Put32(p + 12, static_cast<uint32_t>(header.sent_ns >> 32));
  Put32(p + 16, static_cast<uint32_t>(header.sent_ns));
  Put32(p + 20, header.burst);
  return true;
}

std::optional<MediaHeader> DecodeMedia(std::span<const uint8_t> payload) {
  if (payload.size() < kMediaHeaderSize) return std::nullopt;
  const uint8_t* p = payload.data();
  if (p[0] != kMediaMagic || p[1] > 1) return std::nullopt;
  MediaHeader h;
  h.direction = static_cast<Direction>(p[1]);
  h.epoch = p[2];
  h.flags = p[3];
  h.flow = Get32(p + 4);
  h.sequence = Get32(p + 8);
  h.sent_ns = (uint64_t{Get32(p + 12)} << 32) | Get32(p + 16);
  h.burst = Get32(p + 20);
  return h;
}

}  // namespace cv::bench
