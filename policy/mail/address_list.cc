// address_list.cc - RFC 5322 3.4 address lists: a tokenizer, then a recursive descent that
// recovers at the list separators (see address_list.h).
#include "policy/mail/address_list.h"

#include <algorithm>
#include <cctype>

#include "common/strings.h"

namespace hato::mail {

namespace {

constexpr size_t npos = std::string_view::npos;

enum class Kind { kWord, kQuoted, kLiteral, kSpecial };

struct Token {
  Kind kind;
  std::string text;  // a special's one character; a quoted string's content, unescaped
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// atext (RFC 5322 3.2.3), '.' (so that a dot-atom is one token) and UTF-8 (RFC 6532).
bool is_atext(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u >= 0x80 || std::isalnum(u)) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~.").find(c) != npos;
}

// The length of an RFC 2047 encoded word at the start of `s` ("=?charset?Q?text?="), or 0.
// Taken whole: mailers put unencoded commas and '@' in them, which must not split the list.
size_t encoded_word_length(std::string_view s) {
  if (!s.starts_with("=?")) return 0;
  size_t charset_end = s.find('?', 2);
  if (charset_end == npos || charset_end == 2 || charset_end + 2 >= s.size() ||
      s[charset_end + 2] != '?')
    return 0;
  char encoding = static_cast<char>(std::toupper(static_cast<unsigned char>(s[charset_end + 1])));
  if (encoding != 'B' && encoding != 'Q') return 0;
  size_t end = s.find("?=", charset_end + 3);
  if (end == npos) return 0;
  if (std::any_of(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(end), is_space)) return 0;
  return end + 2;
}

size_t read_quoted(std::string_view s, size_t i, std::string* text) {
  for (++i; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') return i + 1;
    if (c == '\\' && i + 1 < s.size()) c = s[++i];
    if (c != '\r' && c != '\n') *text += c;
  }
  return npos;
}

// Comments and white space go; an unterminated comment, quoted string or domain literal ends
// the tokens (what it swallowed cannot be told apart from text).
std::vector<Token> tokenize(std::string_view s, std::string* error) {
  std::vector<Token> out;
  size_t i = 0;
  auto stop = [&](const char* why) {
    if (error->empty()) *error = why;
    i = s.size();
  };
  while (i < s.size()) {
    char c = s[i];
    if (is_space(c)) {
      ++i;
    } else if (c == '(') {
      i = skip_comment(s, i);
      if (i == npos) stop("unterminated comment");
    } else if (c == '"') {
      Token t{Kind::kQuoted, {}};
      i = read_quoted(s, i, &t.text);
      if (i == npos) {
        stop("unterminated quoted string");
      } else {
        out.push_back(std::move(t));
      }
    } else if (c == '[') {
      size_t end = s.find(']', i);
      if (end == npos) {
        stop("unterminated domain literal");
      } else {
        out.push_back({Kind::kLiteral, std::string(s.substr(i, end + 1 - i))});
        i = end + 1;
      }
    } else if (size_t n = encoded_word_length(s.substr(i))) {
      out.push_back({Kind::kWord, std::string(s.substr(i, n))});
      i += n;
    } else if (is_atext(c)) {
      size_t start = i;
      while (i < s.size() && is_atext(s[i])) ++i;
      out.push_back({Kind::kWord, std::string(s.substr(start, i - start))});
    } else {
      out.push_back({Kind::kSpecial, std::string(1, c)});
      ++i;
    }
  }
  return out;
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, AddressList& out) : t_(std::move(tokens)), out_(out) {}
  void list();

 private:
  bool at_end() const { return pos_ >= t_.size(); }
  bool at(char c) const { return !at_end() && special(pos_, c); }
  bool special(size_t i, char c) const {
    return t_[i].kind == Kind::kSpecial && t_[i].text[0] == c;
  }
  bool is_word(size_t i) const {
    return i < t_.size() && (t_[i].kind == Kind::kWord || t_[i].kind == Kind::kQuoted);
  }
  std::string word(size_t i) const {
    return t_[i].kind == Kind::kQuoted ? quoted(t_[i].text) : t_[i].text;
  }
  size_t find_special(std::string_view set) const;
  void fail(std::string why) {
    if (out_.error.empty()) out_.error = std::move(why);
  }
  void group(size_t colon);
  void mailbox(const std::string& group, std::string_view stops);
  void angle_addr(Mailbox m);
  bool addr_spec(Mailbox& m);
  std::string phrase(size_t end);
  void recover(std::string_view stops, const std::string& group);

  std::vector<Token> t_;
  size_t pos_ = 0;
  AddressList& out_;
};

// The first special of `set` from here on, or the end.
size_t Parser::find_special(std::string_view set) const {
  for (size_t i = pos_; i < t_.size(); ++i)
    if (t_[i].kind == Kind::kSpecial && set.find(t_[i].text[0]) != npos) return i;
  return t_.size();
}

// address-list, with the empty elements of obs-addr-list.
void Parser::list() {
  if (t_.empty()) fail("no address");
  while (!at_end()) {
    if (at(',')) {
      ++pos_;
      continue;
    }
    // A colon before any '<' or '@' makes the element a group.
    size_t stop = find_special(":<@,;");
    if (stop < t_.size() && special(stop, ':')) {
      group(stop);
    } else {
      mailbox("", ",");
    }
    if (at_end() || at(',')) continue;
    fail("unexpected '" + t_[pos_].text + "' after an address");
    recover(",", "");
  }
}

// group = display-name ":" [group-list] ";"
void Parser::group(size_t colon) {
  std::string name = phrase(colon);
  pos_ = colon + 1;
  while (!at_end() && !at(';')) {
    if (at(',')) {
      ++pos_;
      continue;
    }
    mailbox(name, ",;");
    if (at_end() || at(',') || at(';')) continue;
    fail("unexpected '" + t_[pos_].text + "' in group '" + name + "'");
    recover(",;", name);
  }
  if (at_end()) {
    fail("group '" + name + "' not closed with ';'");
    return;
  }
  ++pos_;
}

// mailbox = name-addr / addr-spec; stops at one of `stops` (the list separators).
void Parser::mailbox(const std::string& group, std::string_view stops) {
  size_t stop = find_special(std::string("<@") + std::string(stops));
  Mailbox m;
  m.group = group;
  if (stop < t_.size() && special(stop, '<')) {
    m.display_name = phrase(stop);
    pos_ = stop + 1;
    angle_addr(std::move(m));
  } else if (stop < t_.size() && special(stop, '@')) {
    if (addr_spec(m)) out_.mailboxes.push_back(std::move(m));
  } else {
    fail("a list element without an address");
    recover(stops, group);
  }
}

// "<" [obs-route] addr-spec ">", after the '<'.
void Parser::angle_addr(Mailbox m) {
  if (at('@')) {  // "@relay1,@relay2:": the address follows the colon
    size_t colon = find_special(":>");
    if (colon == t_.size() || !special(colon, ':')) {
      fail("a route without ':'");
      return;
    }
    pos_ = colon + 1;
  }
  if (addr_spec(m)) out_.mailboxes.push_back(std::move(m));
  if (at('>')) {
    ++pos_;
    return;
  }
  fail("'<' not closed with '>'");
}

// local-part "@" domain. True when there is a domain, also for a broken local part.
bool Parser::addr_spec(Mailbox& m) {
  bool spaced = false;
  for (; is_word(pos_); ++pos_) {
    std::string w = word(pos_);
    // Words join with dots (obs-local-part); "John Doe john@x" is not an address.
    if (!m.local_part.empty() && m.local_part.back() != '.' && w.front() != '.') {
      m.local_part += ' ';
      spaced = true;
    }
    m.local_part += w;
  }
  if (!at('@')) {
    fail("no '@' in an address");
    return false;
  }
  ++pos_;
  if (at_end() || (t_[pos_].kind != Kind::kWord && t_[pos_].kind != Kind::kLiteral)) {
    fail("no domain after '@'");
    return false;
  }
  m.domain = t_[pos_++].text;
  if (m.local_part.empty()) fail("no local part before '@" + m.domain + "'");
  if (spaced) fail("'" + m.local_part + "@" + m.domain + "' is not an address");
  return true;
}

// The display name made of the tokens from here to `end`.
std::string Parser::phrase(size_t end) {
  std::string out;
  for (size_t i = pos_; i < end; ++i) {
    if (!is_word(i)) {
      fail("unexpected '" + t_[i].text + "' in a display name");
      continue;
    }
    if (!out.empty()) out += ' ';
    out += t_[i].text;
  }
  return out;
}

// Skips to the next of `stops`, keeping each "local@domain" on the way: a mail reader may
// still show it as an author.
void Parser::recover(std::string_view stops, const std::string& group) {
  for (; !at_end(); ++pos_) {
    if (t_[pos_].kind == Kind::kSpecial && stops.find(t_[pos_].text[0]) != npos) return;
    if (!at('@') || pos_ + 1 >= t_.size()) continue;
    const Token& domain = t_[pos_ + 1];
    if (domain.kind != Kind::kWord && domain.kind != Kind::kLiteral) continue;
    Mailbox m;
    m.group = group;
    m.domain = domain.text;
    if (pos_ > 0 && is_word(pos_ - 1)) m.local_part = word(pos_ - 1);
    out_.mailboxes.push_back(std::move(m));
  }
}

}  // namespace

size_t skip_comment(std::string_view s, size_t i) {
  int depth = 0;
  for (; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '(') {
      ++depth;
    } else if (s[i] == ')' && --depth == 0) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

AddressList parse_address_list(std::string_view value) {
  AddressList out;
  std::vector<Token> tokens = tokenize(value, &out.error);
  Parser(std::move(tokens), out).list();
  return out;
}

std::vector<std::string> author_domains(const AddressList& list) {
  std::vector<std::string> out;
  for (const auto& m : list.mailboxes) {
    std::string d = m.domain;
    if (d.empty() || d.front() == '[') continue;
    if (d.back() == '.') d.pop_back();
    d = ascii_lower(d);
    if (d.empty() || std::find(out.begin(), out.end(), d) != out.end()) continue;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace hato::mail
