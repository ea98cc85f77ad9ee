// output.cc - see output.h.
#include "cli/output.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/commands.h"

namespace hato::cli {

int fail(int status, std::string_view message) {
  std::fprintf(stderr, "hato: %.*s\n", static_cast<int>(message.size()), message.data());
  return status;
}

int write_stdout(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(STDOUT_FILENO, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(kExitFailed, std::string("writing to stdout: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return kExitOk;
}

std::string printable(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) c = ' ';
  }
  return out;
}

std::string cell(const JsonValue& v, const char* if_null) {
  return v.is_null() ? if_null : printable(v.text);
}

std::string render_table(const std::vector<std::vector<std::string>>& rows) {
  if (rows.empty()) return "";
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size() && i < widths.size())
        line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

Result<std::vector<JsonValue>> read_json_lines(std::string_view text) {
  std::vector<JsonValue> out;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    if (line.empty()) continue;
    std::optional<JsonValue> v = parse_json(line);
    if (!v || v->kind != JsonValue::Kind::kObject)
      return Result<std::vector<JsonValue>>::error("unreadable answer from the daemon");
    out.push_back(std::move(*v));
  }
  return out;
}

}  // namespace hato::cli
