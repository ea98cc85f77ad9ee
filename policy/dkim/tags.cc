// tags.cc - the RFC 6376 3.2 tag-list grammar, checked character by character.
#include "policy/dkim/tags.h"

namespace hato::dkim {

namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// VALCHAR = %x21-3A / %x3C-7E: printable ASCII but ';'.
bool is_valchar(char c) {
  auto u = static_cast<unsigned char>(c);
  return u >= 0x21 && u <= 0x7e && c != ';';
}

// Skips whitespace, including a folding CRLF (which must be followed by WSP). Returns false on a
// CR or LF that is not part of a fold.
bool skip_fws(std::string_view s, size_t& i) {
  while (i < s.size()) {
    if (is_wsp(s[i])) {
      ++i;
    } else if (s[i] == '\r' && i + 2 < s.size() && s[i + 1] == '\n' && is_wsp(s[i + 2])) {
      i += 3;
    } else if (s[i] == '\r' || s[i] == '\n') {
      return false;
    } else {
      break;
    }
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_wsp(s.front()) || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (is_wsp(s.back()) || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

Result<TagList> TagList::parse(std::string_view text) {
  TagList list;
  size_t i = 0;
  while (i < text.size()) {
    if (!skip_fws(text, i)) return Result<TagList>::error("bad line break in tag list");
    if (i == text.size()) break;
    if (text[i] == ';') {  // an empty tag-spec: not in the grammar, but harmless and common
      ++i;
      continue;
    }
    if (!is_alpha(text[i])) return Result<TagList>::error("bad tag name in tag list");
    size_t name_start = i;
    while (i < text.size() && (is_alpha(text[i]) || is_digit(text[i]) || text[i] == '_')) ++i;
    std::string_view name = text.substr(name_start, i - name_start);
    if (!skip_fws(text, i) || i == text.size() || text[i] != '=') {
      return Result<TagList>::error("tag " + std::string(name) + " has no '='");
    }
    ++i;
    size_t value_start = i;
    while (i < text.size() && text[i] != ';') {
      if (is_valchar(text[i])) {
        ++i;
      } else if (!skip_fws(text, i) ||
                 (i < text.size() && !is_valchar(text[i]) && text[i] != ';' && !is_wsp(text[i]))) {
        return Result<TagList>::error("bad character in tag " + std::string(name));
      }
    }
    std::string_view value = trim(text.substr(value_start, i - value_start));
    if (i < text.size()) ++i;  // the ';'
    if (list.tags_.size() == kMaxTags) return Result<TagList>::error("too many tags");
    if (list.find(name)) return Result<TagList>::error("duplicate tag " + std::string(name));
    list.tags_.push_back(Tag{std::string(name), std::string(value)});
  }
  return list;
}

const std::string* TagList::find(std::string_view name) const {
  for (const auto& tag : tags_) {
    if (tag.name == name) return &tag.value;
  }
  return nullptr;
}

std::string strip_whitespace(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (!is_wsp(c) && c != '\r' && c != '\n') out += c;
  }
  return out;
}

std::vector<std::string> split_colon_list(std::string_view value) {
  std::vector<std::string> out;
  while (true) {
    size_t colon = value.find(':');
    out.emplace_back(trim(value.substr(0, colon)));
    if (colon == std::string_view::npos) break;
    value.remove_prefix(colon + 1);
  }
  return out;
}

}  // namespace hato::dkim
