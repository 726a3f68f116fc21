// The relays cvadmin steers: every cvrelay control endpoint it is configured with (docs/cvadmin.md
// "Relays"). cvadmin tells them about revocations, and asks them for their live allocations.
//
// Broadcast sends one request to every relay at once (a thread per relay, each bounded by the
// timeout) and returns when all have answered or timed out, so one dead relay delays an operator
// by at most the timeout, never more.
//
// Revocations are kept in force: SetWanted hands the fleet the full set cvadmin wants (from its
// store), and a background thread sends each relay every wanted revocation again every
// resync interval (POST /v1/revocations with ttl_s = what is left; a relay extends, never
// shortens, so a re-send is harmless). A relay that restarted (its revocations live in memory)
// gets them back within one interval.
//
// Threading: every public method is thread-safe. The resync thread starts in the constructor
// (when there is at least one relay) and stops in the destructor.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "relay/common/http_client.h"

namespace cv::admin {

struct RelayEndpoint {
  std::string name;   // for answers and logs: "relay-a" (defaults to host:port)
  http::Url url;      // the control endpoint, "http://127.0.0.1:9641"
  std::string token;  // its bearer token (never logged)
};

struct RelayAnswer {
  std::string relay;    // RelayEndpoint::name
  bool ok = false;      // a 2xx answer
  int status = 0;       // 0 when there was no HTTP answer
  std::string error;    // why not ok: the transport error or the problem's code and detail
  nlohmann::json body;  // the parsed JSON body (null when none or not JSON)
};

struct WantedRevocation {
  std::string kind;  // "user" or "session"
  std::string id;
  int64_t until_ms = 0;
};

struct FleetOptions {
  int timeout_ms = 1000;           // per request
  int resync_interval_ms = 30000;  // 0 = no background resync
};

class RelayFleet {
 public:
  // `clock_ms` gives Unix milliseconds (injected for tests); defaults to the system clock.
  RelayFleet(std::vector<RelayEndpoint> relays, FleetOptions options,
             std::function<int64_t()> clock_ms = nullptr);
  ~RelayFleet();
  RelayFleet(const RelayFleet&) = delete;
  RelayFleet& operator=(const RelayFleet&) = delete;

  size_t size() const { return relays_.size(); }

  // One request to every relay, in parallel; answers in configuration order.
  std::vector<RelayAnswer> Broadcast(std::string_view method, std::string_view target,
                                     const nlohmann::json* body = nullptr) const;

  // POST /v1/revocations {"user"|"session": id, "ttl_s": ceil((until_ms - now) / 1000)} to every
  // relay. An until_ms already past sends nothing and returns no answers.
  std::vector<RelayAnswer> Revoke(const WantedRevocation& revocation) const;
  // DELETE /v1/revocations/{kind}/{id} on every relay (404 counts as ok: nothing to lift).
  std::vector<RelayAnswer> Lift(std::string_view kind, std::string_view id) const;

  // Replaces the set the resync thread keeps in force (entries past until_ms are skipped).
  void SetWanted(std::vector<WantedRevocation> wanted);
  // Runs one resync pass now, on the calling thread (tests; the thread does the same). Returns
  // the number of requests that failed.
  size_t ResyncOnce();

 private:
  void ResyncLoop();

  std::vector<RelayEndpoint> relays_;
  FleetOptions options_;
  std::function<int64_t()> clock_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<WantedRevocation> wanted_;
  std::thread resync_;
};

// Parses a "relay" config value: "http://host:port" or "name=http://host:port".
// nullopt with `error`.
std::optional<RelayEndpoint> ParseRelayEndpoint(std::string_view text, std::string* error);

}  // namespace cv::admin
