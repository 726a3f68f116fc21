// Wires a Config into running workers: picks listening and relay addresses, builds the
// authenticator and the peer policy, starts one worker thread per core, and handles signals:
// SIGHUP reloads secrets and users (and reopens the log file), SIGTERM/SIGINT drain and exit.
//
// Threading: everything here runs on the main thread; workers run on their own threads and are
// reached only through their thread-safe methods.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cv/auth/authenticator.h"
#include "cv/auth/plans.h"
#include "cv/auth/usage_ledger.h"
#include "relay/common/clock.h"
#include "relay/net/worker.h"
#include "relay/server/config.h"
#include "relay/server/control_listener.h"
#include "relay/server/metrics.h"

namespace cv::server {

// The authenticator a config describes: REST secrets (static-auth-secret and the
// auth-secrets-file), static users, the plans table (plans-file or the built-in one) and the
// claimless plan. Reads the files it names.
std::shared_ptr<const auth::Authenticator> BuildAuthenticator(const Config& config,
                                                              std::string* error);

// The plans table a config names (plans-file), or the built-in one.
std::shared_ptr<const auth::Plans> LoadPlans(const Config& config, std::string* error);

// Also the control endpoint's backend: its methods run on the control listener's thread and
// reach the workers by posting tasks to them. And the usage ledger's callbacks: a user whose
// monthly relay minutes ran out, or who came under the abuse guard, is posted to every worker.
class RelayServer final : public ControlBackend, public auth::LedgerCallbacks {
 public:
  explicit RelayServer(Config config);
  ~RelayServer();

  // Binds every socket and starts the workers. False, with `error`, when something is wrong.
  bool Start(std::string* error);
  // Blocks, handling signals, until a shutdown completes; returns the process exit code.
  // The caller must have blocked SIGHUP, SIGTERM and SIGINT in every thread (BlockSignals()).
  int Run();
  // Re-reads the config file (if any), the secrets file and the plans file, and swaps in the new
  // authenticator. On error the running one stays.
  bool Reload(std::string* error);
  void Stop();

  std::vector<SocketAddress> listening_addresses() const;
  size_t allocation_count() const;

  static void BlockSignals();

  // ControlBackend (control listener thread).
  HealthInfo Health() override;
  std::vector<std::pair<std::string, uint64_t>> Counters() override;
  std::optional<std::vector<AllocationInfo>> ListAllocations() override;
  std::optional<bool> EndAllocation(uint64_t id) override;
  size_t Revoke(const Revocation& revocation) override;
  std::vector<Revocation> ListRevocations() override;
  bool LiftRevocation(RevocationKind kind, const std::string& id) override;
  std::optional<std::string> MetricsText() override;
  bool ledger_enabled() const override { return ledger_ != nullptr; }
  std::optional<UserUsageReport> UserUsage(const std::string& user, std::string* error) override;
  std::optional<auth::UsageTotals> SessionUsage(const std::string& session,
                                                std::string* error) override;
  std::optional<std::vector<auth::UsageRecord>> UsageRecords(const auth::RecordFilter& filter,
                                                             std::string* error) override;

  // The snapshot /metrics renders; nullopt when the workers do not answer in time.
  std::optional<RelayMetrics> Metrics();

  // auth::LedgerCallbacks (the ledger's writer thread).
  void OnStandingChanged(const std::string& user, const auth::Standing& standing) override;
  void OnWriteError(const std::string& error) override;

 private:
  // Runs `task` on every worker and collects the results; nullopt if they do not all answer
  // within `timeout`.
  template <typename T>
  std::optional<std::vector<T>> AskWorkers(std::function<T(turn::TurnServer&)> task,
                                           Duration timeout);
  bool StartLedger(std::string* error);
  // Loads cert and pkey into shared_.tls (when TLS or DTLS is on); SIGHUP loads them again and
  // hands the new contexts to the workers, which keep open connections on the old ones.
  bool StartTls(std::string* error);
  bool ReloadTls(const Config& next, std::string* error);
  static net::TlsSettings TlsSettingsOf(const Config& c);
  bool StartControl(std::string* error);
  // Reloads the authenticator when the secrets or plans file changed on disk (main thread).
  void PollAuthFiles();
  // Notes the current stamp of the secrets and plans files, for PollAuthFiles.
  void RememberAuthFiles();
  std::pair<int64_t, int64_t> FileStamp(const std::string& path) const;

  Config config_;
  RealClock clock_;
  // Declared before the workers: it outlives them, so their final records reach it.
  std::unique_ptr<auth::UsageLedger> ledger_;
  std::unique_ptr<turn::UsageSink> usage_sink_;
  std::shared_ptr<const auth::Plans> plans_;  // for usage reports; swapped on reload
  std::mutex plans_mu_;
  std::mutex standing_mu_;    // OnStandingChanged vs. the workers going away
  bool workers_gone_ = true;  // until Start() has made them
  MonoTime started_;
  net::WorkerShared shared_;
  std::vector<std::unique_ptr<net::Worker>> workers_;
  std::vector<std::thread> threads_;
  std::unique_ptr<ControlListener> control_;
  std::unique_ptr<ControlListener> metrics_listener_;  // when /metrics has its own address
  std::atomic<bool> draining_{false};
  std::map<std::string, std::pair<int64_t, int64_t>> file_stamps_;  // path → (mtime ns, size)
  std::mutex revocations_mu_;
  std::map<std::pair<RevocationKind, std::string>, int64_t> revocations_;  // → until
};

}  // namespace cv::server
