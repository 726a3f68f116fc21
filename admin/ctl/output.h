// How cvctl prints an answer of the admin API (docs/cvctl.md "Output").
//
// JSON (-o json): the answer as the server sent it (members in its order), 2-space indent.
//
// Table (the default), readable and never truncated:
//   - an object's scalar members are key/value rows; arrays of scalars are joined with ", ";
//   - an array of objects is a table: upper-case column headers (the union of the items' keys,
//     in order of appearance), one row per item;
//   - an object whose members are all objects (entitlement values, token health by source) is a
//     table with a KEY column;
//   - other nested objects are sections of their own, titled "name:" ("entitlements:");
//   - when the answer leads with its list ({"users": […], "next_after": …}) the list comes first,
//     untitled unless other lists follow, and an empty one reads "no users";
//   - null is "-"; Unix times (keys at, since, from, to, until, not_after, *_at, *_not_after) are
//     shown as YYYY-MM-DDTHH:MM:SSZ; control characters from the server are replaced.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

namespace cv::ctl {

void PrintJson(const nlohmann::ordered_json& answer, std::ostream& out);
void PrintTable(const nlohmann::ordered_json& answer, std::ostream& out);

}  // namespace cv::ctl
