// macro.cc - SPF macro strings: the grammar of RFC 7208 section 7.1 and the expansion of 7.3.
#include "policy/spf/macro.h"

#include <algorithm>
#include <cctype>

namespace hato::policy::spf {

namespace {

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}

bool is_delimiter(char c) {
  return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

bool letter_allowed(char lower, MacroSyntax syntax) {
  static constexpr std::string_view kAlways = "slodiphv";
  static constexpr std::string_view kExpOnly = "crt";  // section 7.3: only in explanations
  if (kAlways.find(lower) != std::string_view::npos) return true;
  return syntax != MacroSyntax::kDomainSpec && kExpOnly.find(lower) != std::string_view::npos;
}

// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool valid_toplabel(std::string_view label) {
  if (label.empty()) return false;
  if (std::all_of(label.begin(), label.end(), is_alnum))
    return std::any_of(label.begin(), label.end(), is_alpha);
  return is_alnum(label.front()) && is_alnum(label.back()) &&
         std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

// Everything but the unreserved characters of RFC 3986, as section 7.3 asks of upper-case
// macro letters.
std::string url_escape(std::string_view in) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : in) {
    auto c = static_cast<unsigned char>(ch);
    if (is_alnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0F];
    }
  }
  return out;
}

const std::string& value_of(char letter, const MacroVars& v) {
  static const std::string kEmpty;
  switch (letter) {
    case 's':
      return v.sender;
    case 'l':
      return v.local_part;
    case 'o':
      return v.sender_domain;
    case 'd':
      return v.domain;
    case 'i':
      return v.ip_dotted;
    case 'c':
      return v.ip_readable;
    case 'v':
      return v.ip_version;
    case 'h':
      return v.helo;
    case 'p':
      return v.validated;
    case 'r':
      return v.receiver;
    case 't':
      return v.timestamp;
  }
  return kEmpty;
}

// Split on the delimiters, reverse if asked, keep the rightmost parts, join with dots.
std::string transform(const std::string& value, const MacroPiece& m) {
  std::string_view delimiters = ".";
  if (!m.delimiters.empty()) delimiters = m.delimiters;
  std::vector<std::string_view> parts;
  std::string_view rest = value;
  for (;;) {
    auto at = rest.find_first_of(delimiters);
    parts.push_back(rest.substr(0, at));
    if (at == std::string_view::npos) break;
    rest.remove_prefix(at + 1);
  }
  if (m.reverse) std::reverse(parts.begin(), parts.end());
  size_t keep = parts.size();
  if (m.digits > 0 && static_cast<size_t>(m.digits) < keep) keep = static_cast<size_t>(m.digits);
  size_t first = parts.size() - keep;
  std::string out;
  for (size_t i = first; i < parts.size(); ++i) {
    if (i > first) out += '.';
    out += parts[i];
  }
  return out;
}

}  // namespace

bool MacroString::uses(char letter) const {
  return std::any_of(pieces.begin(), pieces.end(), [letter](const MacroPiece& p) {
    return p.kind == MacroPiece::Kind::kExpand && p.letter == letter;
  });
}

Result<MacroString> parse_macro_string(std::string_view text, MacroSyntax syntax) {
  MacroString out;
  auto add_text = [&out](MacroPiece::Kind kind, std::string_view s) {
    if (kind == MacroPiece::Kind::kLiteral && !out.pieces.empty() &&
        out.pieces.back().kind == kind) {
      out.pieces.back().text += s;
      return;
    }
    MacroPiece piece;
    piece.kind = kind;
    piece.text = std::string(s);
    out.pieces.push_back(std::move(piece));
  };
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '%') {
      // macro-literal = %x21-24 / %x26-7E; explanations may also hold spaces.
      bool ok = (c >= 0x21 && c <= 0x7E) || (c == ' ' && syntax == MacroSyntax::kExplanation);
      if (!ok) return Result<MacroString>::error("character not allowed in a macro string");
      add_text(MacroPiece::Kind::kLiteral, text.substr(i, 1));
      ++i;
      continue;
    }
    if (i + 1 >= text.size()) return Result<MacroString>::error("'%' at the end of a macro string");
    char next = text[i + 1];
    if (next == '%' || next == '_' || next == '-') {
      add_text(MacroPiece::Kind::kEscape, next == '%' ? "%" : next == '_' ? " " : "%20");
      i += 2;
      continue;
    }
    if (next != '{') return Result<MacroString>::error("'%' not followed by '{', '%', '_' or '-'");
    size_t j = i + 2;
    if (j >= text.size()) return Result<MacroString>::error("unterminated macro");
    MacroPiece m;
    m.kind = MacroPiece::Kind::kExpand;
    char letter = text[j++];
    m.letter = static_cast<char>(std::tolower(static_cast<unsigned char>(letter)));
    m.url_escape = letter >= 'A' && letter <= 'Z';
    if (!is_alpha(letter) || !letter_allowed(m.letter, syntax))
      return Result<MacroString>::error(std::string("macro letter '") + letter +
                                        "' not allowed here");
    bool had_digits = false;
    while (j < text.size() && is_digit(text[j])) {
      had_digits = true;
      // More parts than a name can have (127) keeps them all; saturate rather than overflow.
      m.digits = std::min(m.digits * 10 + (text[j] - '0'), 1000);
      ++j;
    }
    if (had_digits && m.digits == 0) return Result<MacroString>::error("macro keeps zero parts");
    if (j < text.size() && (text[j] == 'r' || text[j] == 'R')) {
      m.reverse = true;
      ++j;
    }
    while (j < text.size() && is_delimiter(text[j])) m.delimiters += text[j++];
    if (j >= text.size() || text[j] != '}') return Result<MacroString>::error("malformed macro");
    out.pieces.push_back(std::move(m));
    i = j + 1;
  }
  return out;
}

Result<MacroString> parse_domain_spec(std::string_view text) {
  if (text.empty()) return Result<MacroString>::error("empty domain-spec");
  auto parsed = parse_macro_string(text, MacroSyntax::kDomainSpec);
  if (!parsed) return parsed;
  const MacroPiece& last = parsed->pieces.back();
  if (last.kind != MacroPiece::Kind::kLiteral) return parsed;  // domain-end = macro-expand
  // domain-end = "." toplabel [ "." ], all of it literal text.
  std::string_view tail = last.text;
  if (!tail.empty() && tail.back() == '.') tail.remove_suffix(1);
  auto dot = tail.rfind('.');
  if (dot == std::string_view::npos || !valid_toplabel(tail.substr(dot + 1)))
    return Result<MacroString>::error("domain-spec '" + std::string(text) +
                                      "' does not end in a valid top label");
  return parsed;
}

std::string expand_macro_string(const MacroString& macro, const MacroVars& vars) {
  std::string out;
  for (const MacroPiece& p : macro.pieces) {
    if (p.kind != MacroPiece::Kind::kExpand) {
      out += p.text;
      continue;
    }
    std::string value = transform(value_of(p.letter, vars), p);
    out += p.url_escape ? url_escape(value) : value;
  }
  return out;
}

std::string query_name(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  while (name.size() > 253) {
    auto dot = name.find('.');
    // What is left is one label too long for any query (fuzzing found
    // "a:mail.xxx...x" with 300 x's): there is no name to look up.
    if (dot == std::string::npos) return {};
    name.erase(0, dot + 1);
  }
  return name;
}

}  // namespace hato::policy::spf
