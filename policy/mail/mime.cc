// mime.cc - see mime.h.
#include "policy/mail/mime.h"

#include "common/strings.h"

namespace hato::mail {

std::string Entity::field(std::string_view name) const {
  for (const auto& [n, v] : fields) {
    if (n == name) return v;
  }
  return "";
}

std::string Entity::media_type() const {
  std::string type = ascii_lower(field("content-type"));
  return std::string(trim(type.substr(0, type.find(';'))));
}

Entity split_entity(std::string_view text) {
  Entity e;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = eol + 1;
    if (line.empty()) break;
    if ((line[0] == ' ' || line[0] == '\t') && !e.fields.empty()) {
      e.fields.back().second += " " + std::string(trim(line));
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    e.fields.emplace_back(ascii_lower(trim(line.substr(0, colon))),
                          std::string(trim(line.substr(colon + 1))));
  }
  e.body = pos < text.size() ? text.substr(pos) : std::string_view();
  return e;
}

std::string parameter(std::string_view value, std::string_view name) {
  std::string l = ascii_lower(value);
  for (size_t at = l.find(name); at != std::string::npos; at = l.find(name, at + 1)) {
    if (at > 0 && l[at - 1] != ';' && l[at - 1] != ' ' && l[at - 1] != '\t') continue;
    size_t eq = at + name.size();
    while (eq < l.size() && l[eq] == ' ') ++eq;
    if (eq >= l.size() || l[eq] != '=') continue;
    size_t start = eq + 1;
    while (start < l.size() && l[start] == ' ') ++start;
    if (start < value.size() && value[start] == '"') {
      size_t end = value.find('"', start + 1);
      return std::string(value.substr(start + 1, end - start - 1));
    }
    size_t end = value.find_first_of("; \t", start);
    return std::string(value.substr(start, end - start));
  }
  return "";
}

std::vector<std::string_view> multipart_parts(const Entity& e) {
  std::vector<std::string_view> parts;
  std::string boundary = parameter(e.field("content-type"), "boundary");
  if (boundary.empty()) return parts;
  std::string delimiter = "--" + boundary;
  size_t at = e.body.find(delimiter);
  while (at != std::string_view::npos) {
    size_t start = e.body.find('\n', at);
    if (start == std::string_view::npos) break;
    if (e.body.substr(at + delimiter.size(), 2) == "--") break;  // the closing delimiter
    size_t next = e.body.find("\n" + delimiter, start);
    parts.push_back(e.body.substr(
        start + 1, next == std::string_view::npos ? std::string_view::npos : next - start - 1));
    at = next == std::string_view::npos ? next : next + 1;
  }
  return parts;
}

}  // namespace hato::mail
