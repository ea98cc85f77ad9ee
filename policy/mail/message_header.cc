// message_header.cc - see message_header.h.
#include "policy/mail/message_header.h"

#include <cctype>

namespace hato::mail {

namespace {

constexpr size_t kExcerptLength = 40;

// Why `line` (without its line end) cannot start a header field, or nullptr when it can.
const char* field_start_error(std::string_view line) {
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return "no colon";
  std::string_view name = line.substr(0, colon);
  // obs-optional (RFC 5322 4.5.8): white space between the name and the colon.
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  if (name.empty()) return "no field name before the colon";
  for (char c : name) {
    // ftext: printable US-ASCII but the colon (RFC 5322 3.6.8).
    if (c < 33 || c > 126) return "a field name with a space or a control character";
  }
  return nullptr;
}

HeaderSyntaxError error_at(size_t number, std::string_view line, const char* reason) {
  HeaderSyntaxError e;
  e.line = number;
  e.reason = reason;
  e.truncated = line.size() > kExcerptLength;
  for (char c : line.substr(0, kExcerptLength))
    e.excerpt += (c >= 32 && c <= 126 && c != '"' && c != '\\') ? c : '?';
  return e;
}

}  // namespace

std::string HeaderSyntaxError::describe() const {
  return "header line " + std::to_string(line) + " is not a header field (" + reason + "): \"" +
         excerpt + (truncated ? "...\"" : "\"");
}

std::optional<HeaderSyntaxError> check_header_section(std::string_view message) {
  size_t pos = 0;
  for (size_t number = 1; pos < message.size(); ++number) {
    size_t nl = message.find('\n', pos);
    size_t next = nl == std::string_view::npos ? message.size() : nl + 1;
    std::string_view line = message.substr(pos, next - pos);
    if (line.ends_with('\n')) line.remove_suffix(1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    pos = next;
    if (line.empty()) return std::nullopt;  // the end of the header section
    if (line.front() == ' ' || line.front() == '\t') {
      if (number == 1) return error_at(number, line, "a continuation line with no field above");
      continue;
    }
    if (const char* why = field_start_error(line)) return error_at(number, line, why);
  }
  return std::nullopt;
}

std::string header_value(std::string_view message, std::string_view name) {
  std::string value;
  bool inside = false;  // the lines read belong to the field asked for
  size_t pos = 0;
  while (pos < message.size()) {
    size_t nl = message.find('\n', pos);
    size_t next = nl == std::string_view::npos ? message.size() : nl + 1;
    std::string_view line = message.substr(pos, next - pos);
    if (line.ends_with('\n')) line.remove_suffix(1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    pos = next;
    if (line.empty()) break;  // the end of the header section
    if (line.front() == ' ' || line.front() == '\t') {
      if (inside) value += line;
      continue;
    }
    if (inside) break;  // the field asked for ended
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view field = line.substr(0, colon);
    while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.remove_suffix(1);
    if (field.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < field.size() && same; ++i)
      same = std::tolower(static_cast<unsigned char>(field[i])) ==
             std::tolower(static_cast<unsigned char>(name[i]));
    if (!same) continue;
    inside = true;
    value = line.substr(colon + 1);
  }
  size_t first = value.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  size_t last = value.find_last_not_of(" \t");
  return value.substr(first, last - first + 1);
}

}  // namespace hato::mail
