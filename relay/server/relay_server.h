// Wires a Config into running workers: picks listening and relay addresses, builds the
// authenticator and the peer policy, starts one worker thread per core, and handles signals:
// SIGHUP reloads secrets and users (and reopens the log file), SIGTERM/SIGINT drain and exit.
//
// Threading: everything here runs on the main thread; workers run on their own threads and are
// reached only through their thread-safe methods.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cv/auth/authenticator.h"
#include "relay/common/clock.h"
#include "relay/net/worker.h"
#include "relay/server/config.h"

namespace cv::server {

// The authenticator a config describes (REST secrets and/or static users).
std::shared_ptr<const auth::Authenticator> BuildAuthenticator(const Config& config,
                                                              std::string* error);

class RelayServer {
 public:
  explicit RelayServer(Config config);
  ~RelayServer();

  // Binds every socket and starts the workers. False, with `error`, when something is wrong.
  bool Start(std::string* error);
  // Blocks, handling signals, until a shutdown completes; returns the process exit code.
  // The caller must have blocked SIGHUP, SIGTERM and SIGINT in every thread (BlockSignals()).
  int Run();
  // Re-reads the config file (if any) and swaps in new secrets and users.
  bool Reload(std::string* error);
  void Stop();

  std::vector<SocketAddress> listening_addresses() const;
  size_t allocation_count() const;

  static void BlockSignals();

 private:
  Config config_;
  RealClock clock_;
  net::WorkerShared shared_;
  std::vector<std::unique_ptr<net::Worker>> workers_;
  std::vector<std::thread> threads_;
};

}  // namespace cv::server
