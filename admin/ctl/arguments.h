// What operators type, turned into what the admin API takes (docs/admin-api.md):
//   TIME      Unix seconds, YYYY-MM-DD (midnight UTC) or YYYY-MM-DDTHH:MM:SSZ  → Unix seconds
//   DURATION  seconds, or a number with s, m, h or d (90s, 15m, 7d)           → seconds
//   VALUE     an integer → JSON number, true/false → JSON boolean, else a JSON string
// and the percent-encoding of ids in paths and queries. Pure functions, no I/O.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cv::ctl {

// nullopt with `error` ("bad TIME '2026-02-30': …").
std::optional<int64_t> ParseTime(std::string_view text, std::string* error);
// Positive seconds, at most ten years; nullopt with `error`.
std::optional<int64_t> ParseDuration(std::string_view text, std::string* error);
// "2026-11-21T08:00:00Z" (the TIME form), for tables.
std::string FormatTime(int64_t unix_seconds);

// An override or grant value as JSON: "5" → 5, "true" → true, "pro" → "pro".
nlohmann::ordered_json JsonScalar(std::string_view text);

// RFC 3986 percent-encoding of everything but the unreserved characters, so an id is one path
// segment or one query value whatever it holds ('/', '?', '+', '%', …).
std::string PercentEncode(std::string_view text);

// A request target: "/admin/users" plus "?name=value&…" for the pairs whose value is not empty,
// values percent-encoded.
std::string Target(std::string path, const std::vector<std::pair<std::string, std::string>>& query);

// CLI11 checks that refuse a bad TIME or DURATION at parse time (a usage error, exit 2).
CLI::Validator TimeCheck();
CLI::Validator DurationCheck();

}  // namespace cv::ctl
