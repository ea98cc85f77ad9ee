// smtp_reply.cc - SMTP reply parsing.
#include "relay/smtp_reply.h"

#include <cctype>

namespace hato::relay {

namespace {
bool is_enhanced(std::string_view s) {
  // class "." subject "." detail, with digits of limited length
  size_t i = 0, parts = 0;
  while (parts < 3) {
    size_t start = i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    if (i == start || i - start > 3) return false;
    ++parts;
    if (parts < 3) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
  }
  return (i == s.size() || s[i] == ' ') && (s[0] == '2' || s[0] == '4' || s[0] == '5');
}
}  // namespace

std::string Reply::text() const {
  std::string out = std::to_string(code);
  for (size_t i = 0; i < lines.size(); ++i) {
    out += i == 0 ? " " : " / ";
    out += lines[i];
  }
  return out;
}

std::string Reply::enhanced() const {
  if (!lines.empty()) {
    std::string_view first = lines.front();
    auto space = first.find(' ');
    std::string_view word = first.substr(0, space);
    if (is_enhanced(word) && word[0] == static_cast<char>('0' + code / 100))
      return std::string(word);
  }
  if (code >= 500) return "5.0.0";
  if (code >= 400) return "4.0.0";
  return "2.0.0";
}

std::optional<Reply> ReplyReader::line(std::string_view line) {
  if (line.size() < 3 || !std::isdigit(static_cast<unsigned char>(line[0])) ||
      !std::isdigit(static_cast<unsigned char>(line[1])) ||
      !std::isdigit(static_cast<unsigned char>(line[2])) ||
      (line.size() > 3 && line[3] != ' ' && line[3] != '-')) {
    pending_ = Reply{};
    return Reply{};
  }
  int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
  if (!pending_.lines.empty() && pending_.code != code) {
    pending_ = Reply{};
    return Reply{};
  }
  pending_.code = code;
  pending_.lines.emplace_back(line.size() > 4 ? line.substr(4) : std::string_view());
  if (line.size() > 3 && line[3] == '-') {
    if (pending_.lines.size() > 1000) {  // a server that never ends its reply
      pending_ = Reply{};
      return Reply{};
    }
    return std::nullopt;
  }
  Reply done = std::move(pending_);
  pending_ = Reply{};
  return done;
}

}  // namespace hato::relay
