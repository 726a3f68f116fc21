// Real processes for integration and interop tests: started with posix_spawn in their own
// process group, output captured to a file, every wait bounded, and killed (the whole group) when
// the handle goes away, so a failing test never leaves a server behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "relay/common/address.h"

namespace cv::testing {

class Process {
 public:
  Process() = default;
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Starts argv[0] (a path) with stdout and stderr going to one temporary file.
  bool Start(const std::vector<std::string>& argv);
  pid_t pid() const { return pid_; }
  bool running();

  // Everything the process wrote so far.
  std::string Output() const;
  // Waits until Output() contains `needle`; false on timeout or when the process exits first.
  bool WaitForOutput(const std::string& needle, std::chrono::milliseconds timeout);
  // Waits for exit; returns the exit code (or 128 + signal), nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  void Signal(int sig);
  void Kill();

 private:
  pid_t pid_ = -1;
  std::string output_path_;
  std::optional<int> exit_code_;
};

// Runs a command to completion (bounded); returns exit code and output.
struct RunResult {
  int exit_code = -1;
  bool timed_out = false;
  std::string output;
};
RunResult RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// Wall-clock Unix milliseconds (what the relay stamps usage records with).
int64_t UnixNowMs();

// A UDP (or TCP) port on `ip` that was free a moment ago.
uint16_t FreeUdpPort(const char* ip = "127.0.0.1");
uint16_t FreeTcpPort(const char* ip = "127.0.0.1");
// A UDP socket bound to 127.0.0.1 on a port the kernel picks (a test's peer); -1 on failure.
// `receive_buffer` > 0 sets SO_RCVBUF.
int BindLoopbackUdp(SocketAddress* bound, int receive_buffer = 0);

// The address a server logged as "server.listening transport=<transport> address=<address>".
std::optional<SocketAddress> LoggedAddress(const std::string& output, const std::string& transport);

// A scratch directory removed with the object.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// A started cvrelay: waits for "server.ready" and reads the listening address from its log.
class RelayProcess {
 public:
  // `args` are cvrelay flags; --listening-port=0 etc. are the caller's choice. Unless they name a
  // usage-db (or no-usage-ledger), the ledger goes to a scratch directory of this object's.
  bool Start(const std::vector<std::string>& args,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  Process& process() { return process_; }
  // The first listening address the relay logged.
  SocketAddress address() const { return address_; }
  // The control endpoint's address, when the relay logged one.
  std::optional<SocketAddress> control_address() const { return control_; }
  // A /metrics listener of its own, when the relay logged one.
  std::optional<SocketAddress> metrics_address() const { return metrics_; }
  // The scratch ledger file (meaningful when Start chose it).
  std::string usage_db() const { return state_.path() + "/usage.db"; }
  uint16_t port() const { return address_.port; }

 private:
  TempDir state_;
  Process process_;
  SocketAddress address_;
  std::optional<SocketAddress> control_;
  std::optional<SocketAddress> metrics_;
};

// Path of a binary built by this project (build/bin/NAME of this build tree).
std::string BinaryPath(const std::string& name);
// base64(HMAC-SHA1(secret, username)): the TURN REST API password.
std::string RestPassword(const std::string& secret, const std::string& username);
}  // namespace cv::testing
