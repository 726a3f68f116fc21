#include "tests/bench/cvbench/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cv::bench {

Json JsonNumber(std::optional<double> value) {
  if (!value || !std::isfinite(*value)) return nullptr;
  return *value;
}

PhaseReport::PhaseReport(std::string phase) : phase_(std::move(phase)) {}

void PhaseReport::Add(const std::string& name, std::optional<double> value,
                      const std::string& unit) {
  json_[name] = JsonNumber(value);
  AddRow(name, value, unit);
}

void PhaseReport::AddCount(const std::string& name, uint64_t value, const std::string& unit) {
  json_[name] = value;
  AddRow(name, static_cast<double>(value), unit);
}

void PhaseReport::AddRow(const std::string& figure, std::optional<double> value,
                         const std::string& unit) {
  if (value && !std::isfinite(*value)) value.reset();
  rows_.push_back({figure, value, unit});
}

void PhaseReport::Warn(const std::string& text) { warnings_.push_back(text); }

Report::Report(std::string label, std::string server, std::optional<int64_t> server_pid,
               int64_t started_unix)
    : label_(std::move(label)),
      server_(std::move(server)),
      server_pid_(server_pid),
      started_unix_(started_unix) {}

PhaseReport& Report::Begin(const std::string& phase) {
  phases_.emplace_back(phase);
  return phases_.back();
}

Json Report::ToJson() const {
  Json j = Json::object();
  j["label"] = label_;
  j["server"] = server_;
  j["server_pid"] = server_pid_ ? Json(*server_pid_) : Json(nullptr);
  j["started_unix"] = started_unix_;
  j["complete"] = complete_;
  if (!error_.empty()) j["error"] = error_;
  Json phases = Json::object();
  for (const PhaseReport& p : phases_) {
    Json pj = p.json();
    pj["warnings"] = p.warnings();
    phases[p.phase()] = std::move(pj);
  }
  j["phases"] = std::move(phases);
  return j;
}

std::string FormatValue(std::optional<double> value) {
  if (!value || !std::isfinite(*value)) return "-";
  char buf[64];
  const double v = *value;
  const double a = std::fabs(v);
  if (v == std::floor(v) && a < 1e15) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else if (a >= 100) {
    std::snprintf(buf, sizeof(buf), "%.1f", v);
  } else if (a >= 0.01) {
    std::snprintf(buf, sizeof(buf), "%.4g", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.3g", v);
  }
  return buf;
}

void Report::PrintTable(std::ostream& out) const {
  size_t wp = 5, wf = 6, wv = 5;
  for (const PhaseReport& p : phases_) {
    wp = std::max(wp, p.phase().size());
    for (const TableRow& r : p.rows()) {
      wf = std::max(wf, r.figure.size());
      wv = std::max(wv, FormatValue(r.value).size());
    }
  }
  size_t rows = 0;
  for (const PhaseReport& p : phases_) rows += p.rows().size() + p.warnings().size();
  if (rows == 0) {
    if (!error_.empty()) out << "error: " << error_ << "\n";
    return;
  }
  auto pad = [](const std::string& s, size_t w) { return s + std::string(w - s.size(), ' '); };
  auto lpad = [](const std::string& s, size_t w) { return std::string(w - s.size(), ' ') + s; };
  out << pad("phase", wp) << "  " << pad("figure", wf) << "  " << lpad("value", wv) << "  unit\n";
  for (const PhaseReport& p : phases_) {
    for (const TableRow& r : p.rows()) {
      out << pad(p.phase(), wp) << "  " << pad(r.figure, wf) << "  "
          << lpad(FormatValue(r.value), wv) << "  " << r.unit << "\n";
    }
    for (const std::string& w : p.warnings())
      out << pad(p.phase(), wp) << "  warning: " << w << "\n";
  }
  if (!error_.empty()) out << "error: " << error_ << "\n";
}

}  // namespace cv::bench
