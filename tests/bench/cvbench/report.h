// The figures of a run: each phase fills a PhaseReport (figures in order, with units, plus any
// details such as per-step lists); Report prints them as a table and as one JSON object:
//
//   {"label": "...", "server": "127.0.0.1:3478", "server_pid": 123 | null,
//    "started_unix": 1700000000, "complete": true,
//    "phases": {"efficiency": {"parameters": {...}, "forwarded_pps": 99850.2, ...,
//                              "warnings": [...]}, ...}}
//
// A figure that could not be measured (no --server-pid, nothing received) is null in JSON and
// "-" in the table; a non-finite value is reported the same way, never as NaN.
//
// Threading: none.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace cv::bench {

using Json = nlohmann::ordered_json;

struct TableRow {
  std::string figure;
  std::optional<double> value;
  std::string unit;
};

class PhaseReport {
 public:
  explicit PhaseReport(std::string phase);
  const std::string& phase() const { return phase_; }

  // A figure: a JSON member of the phase and a table row.
  void Add(const std::string& name, std::optional<double> value, const std::string& unit);
  // A count: an integer in JSON.
  void AddCount(const std::string& name, uint64_t value, const std::string& unit);
  // A table row only (its JSON lives in details()).
  void AddRow(const std::string& figure, std::optional<double> value, const std::string& unit);
  // The phase's JSON object: parameters, figures, details such as "steps" or "runs".
  Json& json() { return json_; }
  const Json& json() const { return json_; }
  void Warn(const std::string& text);
  const std::vector<std::string>& warnings() const { return warnings_; }
  const std::vector<TableRow>& rows() const { return rows_; }

 private:
  std::string phase_;
  Json json_ = Json::object();
  std::vector<TableRow> rows_;
  std::vector<std::string> warnings_;
};

// A finite value, or JSON null.
Json JsonNumber(std::optional<double> value);

class Report {
 public:
  Report(std::string label, std::string server, std::optional<int64_t> server_pid,
         int64_t started_unix);
  PhaseReport& Begin(const std::string& phase);
  void set_complete(bool complete) { complete_ = complete; }
  void set_error(const std::string& error) { error_ = error; }

  Json ToJson() const;
  // phase  figure  value  unit, aligned; warnings after the rows of their phase.
  void PrintTable(std::ostream& out) const;

 private:
  std::string label_, server_;
  std::optional<int64_t> server_pid_;
  int64_t started_unix_;
  bool complete_ = false;
  std::string error_;
  std::vector<PhaseReport> phases_;
};

// "12345.6", "0.00012", "-": a compact rendering for the table.
std::string FormatValue(std::optional<double> value);

}  // namespace cv::bench
