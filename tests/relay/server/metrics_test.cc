#include "relay/server/metrics.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace cv::server {
namespace {

using turn::Counter;

void Set(WorkerMetrics& w, Counter c, uint64_t value) {
  w.counters[static_cast<size_t>(c)] = value;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

::testing::AssertionResult HasLine(const std::string& text, const std::string& line) {
  for (const std::string& l : Lines(text)) {
    if (l == line) return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no line '" << line << "' in:\n" << text;
}

// Metric name of a sample line: up to the labels or the value.
std::string SampleName(const std::string& line) { return line.substr(0, line.find_first_of("{ ")); }

// "# TYPE name type" lines, as name -> type.
std::map<std::string, std::string> Types(const std::string& text) {
  std::map<std::string, std::string> types;
  for (const std::string& line : Lines(text)) {
    std::istringstream in(line);
    std::string hash, keyword, name, type;
    in >> hash >> keyword >> name >> type;
    if (hash == "#" && keyword == "TYPE") types[name] = type;
  }
  return types;
}

// "# HELP name text" lines, as name -> text.
std::map<std::string, std::string> Helps(const std::string& text) {
  std::map<std::string, std::string> helps;
  const std::string prefix = "# HELP ";
  for (const std::string& line : Lines(text)) {
    if (line.rfind(prefix, 0) != 0) continue;
    const size_t space = line.find(' ', prefix.size());
    if (space == std::string::npos) {
      helps[line.substr(prefix.size())] = "";
    } else {
      helps[line.substr(prefix.size(), space - prefix.size())] = line.substr(space + 1);
    }
  }
  return helps;
}

bool HasFamily(const std::string& text, const std::string& name) {
  return Types(text).count(name) > 0;
}

const std::vector<std::string> kAlwaysFamilies = {
    "cvrelay_build_info",
    "cvrelay_uptime_seconds",
    "cvrelay_allocations",
    "cvrelay_allocation_capacity",
    "cvrelay_allocations_created_total",
    "cvrelay_allocations_ended_total",
    "cvrelay_allocations_refused_total",
    "cvrelay_relayed_bytes_total",
    "cvrelay_relayed_packets_total",
    "cvrelay_relayed_seconds_total",
    "cvrelay_auth_results_total",
    "cvrelay_auth_bans_total",
    "cvrelay_rate_limited_requests_total",
    "cvrelay_dropped_packets_total",
    "cvrelay_requests_total",
    "cvrelay_stream_events_total",
    "cvrelay_stun_binding_requests_total",
    "cvrelay_retransmissions_total",
    "cvrelay_error_responses_total",
    "cvrelay_peer_denied_total",
    "cvrelay_worker_allocations",
    "cvrelay_worker_relayed_packets_total",
    "cvrelay_worker_requests_total",
};

const std::vector<std::string> kLedgerFamilies = {
    "cvrelay_ledger_queued_records",
    "cvrelay_ledger_records_written_total",
    "cvrelay_ledger_commits_total",
    "cvrelay_ledger_write_errors_total",
    "cvrelay_ledger_last_commit_duration_seconds",
    "cvrelay_ledger_last_commit_timestamp_seconds",
    "cvrelay_abuse_guards_active",
    "cvrelay_monthly_quota_exhausted_users",
};

class MetricsTest : public ::testing::Test {
 protected:
  // A relay with two workers, two plans, the ledger on and two top users.
  static RelayMetrics Full() {
    RelayMetrics m;
    m.version = "0.1.0";
    m.uptime_s = 812;
    m.allocation_capacity = 16384;

    WorkerMetrics w0{.id = 0, .allocations = 2};
    Set(w0, Counter::kBindingRequests, 10);
    Set(w0, Counter::kAllocateRequests, 5);
    Set(w0, Counter::kRefreshRequests, 3);
    Set(w0, Counter::kAuthOk, 20);
    Set(w0, Counter::kAuthPlanRefused, 1);
    Set(w0, Counter::kEndedQuota, 2);
    Set(w0, Counter::kDropBandwidth, 7);
    Set(w0, Counter::kDropRateLimited, 9);
    Set(w0, Counter::kClientToPeerPackets, 100);
    Set(w0, Counter::kPeerToClientPackets, 90);
    WorkerMetrics w1{.id = 1, .allocations = 1};
    Set(w1, Counter::kBindingRequests, 1);
    Set(w1, Counter::kPermissionRequests, 2);
    Set(w1, Counter::kChannelBindRequests, 2);
    Set(w1, Counter::kSendIndications, 4);
    Set(w1, Counter::kStreamRefusedCap, 968);
    Set(w1, Counter::kEndedConnectionClosed, 3);
    Set(w1, Counter::kAuthPlanRefused, 3);
    Set(w1, Counter::kWrongCredentials, 6);
    Set(w1, Counter::kQuotaMonthly, 8);
    m.workers = {w0, w1};

    m.live = {{{"pro", "udp"}, 2}, {{"trial", "tcp"}, 1}};
    m.created = {{{"pro", "udp"}, 40}, {{"trial", "tcp"}, 5}};
    m.traffic["pro"] = {.relayed_ms = 90500,
                        .bytes_to_peer = 1234,
                        .bytes_to_client = 1234567890123,
                        .packets_to_peer = 10,
                        .packets_to_client = 11};
    m.traffic["trial"] = {.relayed_ms = 1000};

    m.ledger = {.enabled = true,
                .queued = 3,
                .records_written = 500,
                .commits = 40,
                .write_errors = 1,
                .last_commit_seconds = 0.0025,
                .last_commit_unix_ms = 1700000000123,
                .guards_active = 2,
                .quota_exhausted_users = 5};
    m.top_users = {{"alice", 60500}, {"bob", 1000}};
    return m;
  }
};

TEST_F(MetricsTest, SamplesHaveLabelsSortedByNameAndPlainNumbers) {
  const std::string text = RenderPrometheus(Full());

  EXPECT_TRUE(HasLine(text, "cvrelay_build_info{version=\"0.1.0\"} 1"));
  EXPECT_TRUE(HasLine(text, "cvrelay_uptime_seconds 812"));
  EXPECT_TRUE(HasLine(text, "cvrelay_allocation_capacity 16384"));
  EXPECT_TRUE(HasLine(text, "cvrelay_allocations{plan=\"pro\",transport=\"udp\"} 2"));
  EXPECT_TRUE(HasLine(text, "cvrelay_allocations{plan=\"trial\",transport=\"tcp\"} 1"));
  EXPECT_TRUE(
      HasLine(text, "cvrelay_allocations_created_total{plan=\"pro\",transport=\"udp\"} 40"));
  EXPECT_TRUE(
      HasLine(text, "cvrelay_relayed_bytes_total{direction=\"to_peer\",plan=\"pro\"} 1234"));
  // Large counters stay integers, not exponent notation.
  EXPECT_TRUE(HasLine(
      text, "cvrelay_relayed_bytes_total{direction=\"to_client\",plan=\"pro\"} 1234567890123"));
  EXPECT_TRUE(
      HasLine(text, "cvrelay_relayed_packets_total{direction=\"to_client\",plan=\"pro\"} 11"));
  EXPECT_TRUE(HasLine(text, "cvrelay_relayed_seconds_total{plan=\"pro\"} 90.5"));
  EXPECT_TRUE(HasLine(text, "cvrelay_relayed_seconds_total{plan=\"trial\"} 1"));
}

TEST_F(MetricsTest, CountersAreSummedOverWorkers) {
  const std::string text = RenderPrometheus(Full());

  EXPECT_TRUE(HasLine(text, "cvrelay_auth_results_total{result=\"plan_may_not_relay\"} 4"));
  EXPECT_TRUE(HasLine(text, "cvrelay_auth_results_total{result=\"ok\"} 20"));
  EXPECT_TRUE(HasLine(text, "cvrelay_auth_results_total{result=\"wrong_credentials\"} 6"));
  EXPECT_TRUE(HasLine(text, "cvrelay_auth_results_total{result=\"banned_user\"} 0"));
  EXPECT_TRUE(HasLine(text, "cvrelay_requests_total{method=\"binding\"} 11"));
  EXPECT_TRUE(HasLine(text, "cvrelay_requests_total{method=\"send_indication\"} 4"));
  EXPECT_TRUE(HasLine(text, "cvrelay_stream_events_total{event=\"refused_unauth_cap\"} 968"));
  EXPECT_TRUE(HasLine(text, "cvrelay_stream_events_total{event=\"accepted\"} 0"));
  EXPECT_TRUE(HasLine(text, "cvrelay_allocations_ended_total{reason=\"connection_closed\"} 3"));
  EXPECT_TRUE(HasLine(text, "cvrelay_stun_binding_requests_total 11"));
  EXPECT_TRUE(HasLine(text, "cvrelay_allocations_ended_total{reason=\"quota\"} 2"));
  EXPECT_TRUE(
      HasLine(text, "cvrelay_allocations_refused_total{reason=\"monthly_relay_minutes\"} 8"));
  EXPECT_TRUE(HasLine(text, "cvrelay_rate_limited_requests_total{scope=\"unauthenticated\"} 9"));
  EXPECT_TRUE(HasLine(text, "cvrelay_dropped_packets_total{reason=\"bandwidth_cap\"} 7"));
  EXPECT_TRUE(HasLine(text, "cvrelay_dropped_packets_total{reason=\"rate_limited\"} 9"));
}

TEST_F(MetricsTest, WorkerSeriesCarryTheWorkerId) {
  const std::string text = RenderPrometheus(Full());

  EXPECT_TRUE(HasLine(text, "cvrelay_worker_allocations{worker=\"0\"} 2"));
  EXPECT_TRUE(HasLine(text, "cvrelay_worker_allocations{worker=\"1\"} 1"));
  EXPECT_TRUE(HasLine(
      text, "cvrelay_worker_relayed_packets_total{direction=\"to_peer\",worker=\"0\"} 100"));
  EXPECT_TRUE(HasLine(text,
                      "cvrelay_worker_relayed_packets_total{direction=\"to_client\",worker=\"0\"} "
                      "90"));
  EXPECT_TRUE(HasLine(text, "cvrelay_worker_requests_total{worker=\"0\"} 18"));  // 10 + 5 + 3
  EXPECT_TRUE(HasLine(text, "cvrelay_worker_requests_total{worker=\"1\"} 9"));   // 1 + 2 + 2 + 4
}

TEST_F(MetricsTest, EveryFamilyHasHelpAndType) {
  const std::string text = RenderPrometheus(Full());
  const auto types = Types(text);
  const auto helps = Helps(text);

  std::vector<std::string> expected = kAlwaysFamilies;
  expected.insert(expected.end(), kLedgerFamilies.begin(), kLedgerFamilies.end());
  expected.push_back("cvrelay_top_user_relayed_seconds");
  std::set<std::string> names;
  for (const std::string& name : expected) {
    names.insert(name);
    ASSERT_TRUE(types.count(name)) << name;
    EXPECT_TRUE(types.at(name) == "counter" || types.at(name) == "gauge") << name;
    ASSERT_TRUE(helps.count(name)) << name;
    EXPECT_GE(helps.at(name).size(), 10u) << name;
  }
  // No family outside the documented list, and every sample belongs to a typed family.
  for (const auto& [name, type] : types) EXPECT_TRUE(names.count(name)) << name;
  for (const std::string& line : Lines(text)) {
    if (line.empty() || line[0] == '#') continue;
    EXPECT_TRUE(types.count(SampleName(line))) << line;
  }
}

TEST_F(MetricsTest, CounterFamiliesEndInTotalAndGaugesDoNot) {
  const auto types = Types(RenderPrometheus(Full()));

  ASSERT_FALSE(types.empty());
  for (const auto& [name, type] : types) {
    const bool total = name.size() > 6 && name.ends_with("_total");
    if (type == "counter") {
      EXPECT_TRUE(total) << name;
    } else {
      EXPECT_FALSE(total) << name;
    }
  }
}

TEST_F(MetricsTest, EmptyRelayStillHasEveryReasonAtZero) {
  const std::string text = RenderPrometheus(RelayMetrics{});

  for (const char* reason :
       {"client", "lifetime", "duration_cap", "quota", "revoked", "operator", "shutdown"}) {
    EXPECT_TRUE(
        HasLine(text, std::string("cvrelay_allocations_ended_total{reason=\"") + reason + "\"} 0"));
  }
  for (const char* reason :
       {"user_quota", "session_quota", "total_quota", "monthly_relay_minutes",
        "rate_limited_source", "rate_limited_user", "no_relay_port", "draining"}) {
    EXPECT_TRUE(HasLine(
        text, std::string("cvrelay_allocations_refused_total{reason=\"") + reason + "\"} 0"));
  }
  for (const char* reason :
       {"malformed", "bad_fingerprint", "no_allocation", "no_permission", "no_channel",
        "peer_policy", "rate_limited", "bandwidth_cap", "unexpected_class", "send_failed"}) {
    EXPECT_TRUE(
        HasLine(text, std::string("cvrelay_dropped_packets_total{reason=\"") + reason + "\"} 0"));
  }
  for (const std::string& name : kAlwaysFamilies) EXPECT_TRUE(HasFamily(text, name)) << name;
}

TEST_F(MetricsTest, TopUsersOnlyWhenSet) {
  RelayMetrics m = Full();
  const std::string with = RenderPrometheus(m);
  EXPECT_TRUE(HasLine(with, "cvrelay_top_user_relayed_seconds{user=\"alice\"} 60.5"));
  EXPECT_TRUE(HasLine(with, "cvrelay_top_user_relayed_seconds{user=\"bob\"} 1"));

  m.top_users.clear();
  const std::string without = RenderPrometheus(m);
  EXPECT_FALSE(HasFamily(without, "cvrelay_top_user_relayed_seconds"));
  EXPECT_EQ(without.find("cvrelay_top_user"), std::string::npos) << without;
}

TEST_F(MetricsTest, LedgerFamiliesOnlyWhenTheLedgerIsOn) {
  RelayMetrics m = Full();
  const std::string on = RenderPrometheus(m);
  EXPECT_TRUE(HasLine(on, "cvrelay_ledger_queued_records 3"));
  EXPECT_TRUE(HasLine(on, "cvrelay_ledger_records_written_total 500"));
  EXPECT_TRUE(HasLine(on, "cvrelay_ledger_commits_total 40"));
  EXPECT_TRUE(HasLine(on, "cvrelay_ledger_write_errors_total 1"));
  EXPECT_TRUE(HasLine(on, "cvrelay_ledger_last_commit_duration_seconds 0.0025"));
  EXPECT_TRUE(HasLine(on, "cvrelay_ledger_last_commit_timestamp_seconds 1700000000.123"));
  EXPECT_TRUE(HasLine(on, "cvrelay_abuse_guards_active 2"));
  EXPECT_TRUE(HasLine(on, "cvrelay_monthly_quota_exhausted_users 5"));

  m.ledger.enabled = false;
  const std::string off = RenderPrometheus(m);
  for (const std::string& name : kLedgerFamilies) {
    EXPECT_FALSE(HasFamily(off, name)) << name;
    EXPECT_EQ(off.find(name), std::string::npos) << name;
  }
}

TEST_F(MetricsTest, LabelValuesAreEscaped) {
  RelayMetrics m;
  m.traffic["we\"ird\\plan\nx"] = {.relayed_ms = 2000};
  m.top_users = {{"a\"b", 1000}};

  const std::string text = RenderPrometheus(m);

  EXPECT_TRUE(HasLine(text, "cvrelay_relayed_seconds_total{plan=\"we\\\"ird\\\\plan\\nx\"} 2"));
  EXPECT_TRUE(HasLine(text, "cvrelay_top_user_relayed_seconds{user=\"a\\\"b\"} 1"));
}

// `promtool check metrics` (its parser and linter: names, units, _total) on one exposition.
struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};

PromtoolResult RunPromtool(const std::string& promtool, const std::string& text) {
  PromtoolResult result;
  std::string path = ::testing::TempDir() + "cvrelay_metrics_XXXXXX";
  const int fd = mkstemp(path.data());
  if (fd < 0) return result;
  close(fd);
  {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
  const std::string command = promtool + " check metrics < '" + path + "' 2>&1";
  if (FILE* pipe = popen(command.c_str(), "r")) {
    char buffer[512];
    for (size_t n; (n = fread(buffer, 1, sizeof(buffer), pipe)) > 0;) {
      result.output.append(buffer, n);
    }
    const int status = pclose(pipe);
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  }
  std::filesystem::remove(path);
  return result;
}

TEST_F(MetricsTest, PromtoolAcceptsTheExposition) {
  const std::string promtool = "/usr/bin/promtool";
  if (!std::filesystem::exists(promtool)) GTEST_SKIP() << "promtool is not installed";

  RelayMetrics full = Full();
  full.traffic["we\"ird\\plan\nx"] = {.relayed_ms = 2000};
  for (const RelayMetrics& m : {full, RelayMetrics{}}) {
    const std::string text = RenderPrometheus(m);
    const PromtoolResult result = RunPromtool(promtool, text);
    EXPECT_EQ(result.exit_code, 0) << result.output << "\non:\n" << text;
    EXPECT_EQ(result.output, "");
  }
}

}  // namespace
}  // namespace cv::server
