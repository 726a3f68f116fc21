#include "admin/ctl/output.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "admin/ctl/arguments.h"

namespace cv::ctl {
namespace {

using Json = nlohmann::ordered_json;

// One part of a table answer: key/value rows (no header), a table (a header), or a message.
struct Block {
  std::string title;  // "" for none
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::string message;
};

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsTimeKey(std::string_view key) {
  return key == "at" || key == "since" || key == "from" || key == "to" || key == "until" ||
         key == "not_after" || EndsWith(key, "_at") || EndsWith(key, "_not_after");
}

std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Server text made safe for a terminal: no escape sequences, no line breaks inside a row.
std::string Sanitize(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n' || c == '\r' || c == '\t') {
      c = ' ';
    } else if (u < 0x20 || u == 0x7f) {
      c = '?';
    }
  }
  return out;
}

std::string Cell(std::string_view key, const Json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return Sanitize(value.get_ref<const std::string&>());
  if (value.is_number_integer() && IsTimeKey(key) && value.get<int64_t>() > 0) {
    return FormatTime(value.get<int64_t>());
  }
  if (value.is_array()) {
    if (value.empty()) return "-";
    const bool scalars =
        std::none_of(value.begin(), value.end(), [](const Json& v) { return v.is_structured(); });
    if (!scalars) return Sanitize(Dump(value));
    std::string joined;
    for (const Json& v : value) {
      if (!joined.empty()) joined += ", ";
      joined += Cell("", v);
    }
    return joined;
  }
  if (value.is_object() && value.empty()) return "-";
  return Sanitize(Dump(value));
}

bool IsListOfObjects(const Json& value) {
  return value.is_array() && !value.empty() &&
         std::all_of(value.begin(), value.end(), [](const Json& v) { return v.is_object(); });
}

bool IsObjectOfObjects(const Json& value) {
  return value.is_object() && !value.empty() &&
         std::all_of(value.begin(), value.end(), [](const Json& v) { return v.is_object(); });
}

std::string Upper(std::string s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return s;
}

// Columns: the union of the items' keys, in order of appearance.
std::vector<std::string> Columns(const Json& items) {
  std::vector<std::string> columns;
  for (const Json& item : items) {
    for (const auto& [key, unused] : item.items()) {
      if (std::find(columns.begin(), columns.end(), key) == columns.end()) columns.push_back(key);
    }
  }
  return columns;
}

Block TableOfList(const std::string& title, const Json& items) {
  Block block{title, {}, {}, {}};
  const std::vector<std::string> columns = Columns(items);
  for (const std::string& c : columns) block.header.push_back(Upper(c));
  for (const Json& item : items) {
    std::vector<std::string> row;
    for (const std::string& c : columns) row.push_back(item.contains(c) ? Cell(c, item[c]) : "-");
    block.rows.push_back(std::move(row));
  }
  return block;
}

Block TableOfObjects(const std::string& title, const Json& object) {
  Json items = Json::array();
  std::vector<std::string> keys;
  for (const auto& [key, value] : object.items()) {
    keys.push_back(key);
    items.push_back(value);
  }
  Block block = TableOfList(title, items);
  block.header.insert(block.header.begin(), "KEY");
  for (size_t i = 0; i < keys.size(); ++i) block.rows[i].insert(block.rows[i].begin(), keys[i]);
  return block;
}

std::string Join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

void Collect(const Json& object, const std::string& title, std::vector<Block>* blocks) {
  Block values{title, {}, {}, {}};
  std::vector<Block> sections;
  const bool top = title.empty();
  bool lead = true;
  bool list_first = false;
  for (const auto& [key, value] : object.items()) {
    if (top && lead && value.is_array() && (value.empty() || IsListOfObjects(value))) {
      // The answer is a list ({"users": […], …}): it comes first, untitled.
      list_first = true;
      if (value.empty()) {
        sections.push_back(Block{"", {}, {}, "no " + key});
      } else {
        sections.push_back(TableOfList("", value));
      }
    } else if (IsListOfObjects(value)) {
      sections.push_back(TableOfList(Join(title, key), value));
    } else if (IsObjectOfObjects(value)) {
      sections.push_back(TableOfObjects(Join(title, key), value));
    } else if (value.is_object() && !value.empty()) {
      Collect(value, Join(title, key), &sections);
    } else {
      values.rows.push_back({key, Cell(key, value)});
    }
    lead = false;
  }
  if (list_first && sections.size() > 1 && sections[0].message.empty()) {
    // Beside other lists the leading one needs its name too ({"token_keys": …, "turn_secrets": …}).
    sections[0].title = object.begin().key();
  }
  if (!list_first && !values.rows.empty()) blocks->push_back(std::move(values));
  for (Block& b : sections) blocks->push_back(std::move(b));
  if (list_first && !values.rows.empty()) blocks->push_back(std::move(values));
}

size_t Width(std::string_view text) {
  // Code points, not bytes: ids and reasons may be UTF-8.
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

void PrintRows(const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], Width(row[i]));
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - Width(row[i]) + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);  // an empty last cell leaves no trailing blanks
    out << line << "\n";
  }
}

void PrintBlock(const Block& block, std::ostream& out) {
  if (!block.title.empty()) out << block.title << ":\n";
  if (!block.message.empty()) {
    out << block.message << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  if (!block.header.empty()) rows.push_back(block.header);
  rows.insert(rows.end(), block.rows.begin(), block.rows.end());
  PrintRows(rows, out);
}

}  // namespace

void PrintJson(const nlohmann::ordered_json& answer, std::ostream& out) {
  out << answer.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

void PrintTable(const nlohmann::ordered_json& answer, std::ostream& out) {
  std::vector<Block> blocks;
  if (answer.is_object()) {
    Collect(answer, "", &blocks);
  } else if (IsListOfObjects(answer)) {
    blocks.push_back(TableOfList("", answer));
  } else {
    out << Cell("", answer) << "\n";
    return;
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (i > 0) out << "\n";
    PrintBlock(blocks[i], out);
  }
}

}  // namespace cv::ctl
