// A bandwidth cap for one direction of one allocation: a token bucket on payload bytes, kept in
// GCRA form (one timestamp: when the bucket will be full again). The bucket holds `burst` worth
// of bytes so that a video keyframe's burst of packets passes, while the long-run rate cannot
// exceed the cap.
//
// Threading: belongs to the allocation's worker thread; no lock, no allocation, a few integer
// operations per packet.
#pragma once

#include <algorithm>
#include <cstdint>

#include "relay/common/clock.h"

namespace cv::turn {

class BandwidthCap {
 public:
  // Minimum bucket depth: a handful of full-size datagrams.
  static constexpr uint64_t kMinBurstBytes = 16 * 1024;
  static constexpr uint64_t kBurstMilliseconds = 200;

  BandwidthCap() = default;
  // kbps = 0: uncapped. The bucket holds max(kBurstMilliseconds at the cap, kMinBurstBytes).
  explicit BandwidthCap(uint32_t kbps) {
    if (kbps == 0) return;
    // 1 kbit/s = 125 bytes/s, so a byte takes 8e6 / kbps ns; kept ×256 for precision.
    ns256_per_byte_ = (uint64_t{8'000'000} << 8) / kbps;
    const uint64_t bytes_per_s = uint64_t{kbps} * 125;
    const uint64_t burst_bytes =
        std::max<uint64_t>(bytes_per_s * kBurstMilliseconds / 1000, kMinBurstBytes);
    tolerance_ = Nanoseconds((burst_bytes * ns256_per_byte_) >> 8);
  }

  bool capped() const { return ns256_per_byte_ != 0; }

  // True (and the bytes are counted) when `bytes` more fit under the cap at `now`.
  bool Allow(size_t bytes, MonoTime now) {
    if (!capped()) return true;
    const Duration cost = Nanoseconds((bytes * ns256_per_byte_) >> 8);
    const MonoTime next = std::max(tat_, now) + cost;
    if (next - now > tolerance_) return false;
    tat_ = next;
    return true;
  }

 private:
  static Duration Nanoseconds(uint64_t ns) {
    return std::chrono::duration_cast<Duration>(std::chrono::nanoseconds(static_cast<int64_t>(ns)));
  }

  uint64_t ns256_per_byte_ = 0;
  Duration tolerance_{};
  MonoTime tat_{};
};

}  // namespace cv::turn
