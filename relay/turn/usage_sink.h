// What the TURN layer asks of the usage ledger (auth::UsageLedger behind it in cvrelay; a fake in
// tests). Called on the worker thread; implementations must not block on I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cv/auth/usage.h"
#include "cv/auth/usage_ledger.h"

namespace cv::turn {

class UsageSink {
 public:
  virtual ~UsageSink() = default;
  // Snapshots of allocations (checkpoints) or their final records.
  virtual void Submit(std::vector<auth::UsageRecord> records) = 0;
  // The user's standing (monthly relay time, abuse guard) as the ledger last saw it.
  virtual auth::Standing Lookup(std::string_view user) const = 0;
};

// Where the records a TurnServer writes say they come from.
struct UsageOrigin {
  std::string node;  // node-id
  std::string run;   // this process run's id
};

}  // namespace cv::turn
