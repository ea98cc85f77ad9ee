// smtp_command.cc - SMTP command, path and parameter parsing.
#include "relay/smtp_command.h"

#include <cctype>
#include <charconv>

#include "common/strings.h"
#include "queue/envelope.h"

namespace hato::relay {

namespace {

struct VerbName {
  std::string_view name;
  Verb verb;
};
constexpr VerbName kVerbs[] = {
    {"HELO", Verb::kHelo}, {"EHLO", Verb::kEhlo},         {"MAIL", Verb::kMail},
    {"RCPT", Verb::kRcpt}, {"DATA", Verb::kData},         {"RSET", Verb::kRset},
    {"NOOP", Verb::kNoop}, {"QUIT", Verb::kQuit},         {"VRFY", Verb::kVrfy},
    {"HELP", Verb::kHelp}, {"STARTTLS", Verb::kStartTls}, {"AUTH", Verb::kAuth},
    {"BDAT", Verb::kBdat}, {"EXPN", Verb::kExpn},
};

bool is_atext(unsigned char c, bool utf8) {
  if (c >= 0x80) return utf8;
  if (std::isalnum(c)) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) !=
         std::string_view::npos;
}

bool valid_local_part(std::string_view local, bool utf8) {
  if (local.empty() || local.size() > 64) return false;
  if (local.front() == '"') {
    if (local.size() < 2 || local.back() != '"') return false;
    for (size_t i = 1; i + 1 < local.size(); ++i) {
      unsigned char c = local[i];
      if (c == '\\') {
        if (++i + 1 >= local.size()) return false;
        c = local[i];
        if (c < 32 || c > 126) return false;
      } else if (c == '"' || c < 32 || c == 127 || (c >= 0x80 && !utf8)) {
        return false;
      }
    }
    return true;
  }
  bool dot_ok = false;  // a dot may not lead, trail or repeat
  for (unsigned char c : local) {
    if (c == '.') {
      if (!dot_ok) return false;
      dot_ok = false;
    } else if (is_atext(c, utf8)) {
      dot_ok = true;
    } else {
      return false;
    }
  }
  return dot_ok;
}

bool valid_domain(std::string_view domain, bool utf8) {
  if (domain.empty() || domain.size() > 255) return false;
  if (domain.front() == '[') {  // address literal: checked loosely, never routed to
    if (domain.back() != ']' || domain.size() <= 2) return false;
    for (size_t i = 1; i + 1 < domain.size(); ++i) {
      unsigned char c = domain[i];
      if (c <= 0x20 || c >= 0x7f || c == '[' || c == ']' || c == '\\') return false;
    }
    return true;
  }
  size_t label = 0;
  for (size_t i = 0; i < domain.size(); ++i) {
    unsigned char c = domain[i];
    if (c == '.') {
      if (label == 0 || domain[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    bool ok = std::isalnum(c) || (c == '-' && label > 0) || (c >= 0x80 && utf8);
    if (!ok || ++label > 63) return false;
  }
  return label > 0 && domain.back() != '-';
}

// Parses "<path>" at the start of s (after "FROM:"/"TO:"), leaving the rest
// (the parameters) in *rest.
std::optional<ParseError> parse_path(std::string_view s, std::string* address,
                                     std::string_view* rest) {
  s = trim(s);  // RFC says no space after the colon; many clients send one
  if (s.empty() || s.front() != '<')
    return ParseError{501, "5.1.7 Syntax: the address must be enclosed in <>"};
  // The closing '>' is the first one outside a quoted local part.
  bool quoted = false;
  size_t close = std::string_view::npos;
  for (size_t i = 1; i < s.size(); ++i) {
    if (s[i] == '\\' && quoted) {
      ++i;
    } else if (s[i] == '"') {
      quoted = !quoted;
    } else if (s[i] == '>' && !quoted) {
      close = i;
      break;
    }
  }
  if (close == std::string_view::npos) return ParseError{501, "5.1.7 Syntax: missing '>'"};
  std::string_view path = s.substr(1, close - 1);
  // A source route (<@a,@b:user@c>) is accepted and ignored (RFC 5321 4.1.2).
  if (!path.empty() && path.front() == '@') {
    auto colon = path.find(':');
    if (colon == std::string_view::npos) return ParseError{501, "5.1.3 Bad source route"};
    path.remove_prefix(colon + 1);
    if (path.empty()) return ParseError{501, "5.1.3 Source route without a mailbox"};
  }
  *address = std::string(path);
  *rest = s.substr(close + 1);
  if (!rest->empty() && rest->front() != ' ')
    return ParseError{501, "5.5.4 Syntax: expected a space after the address"};
  return std::nullopt;
}

// Calls fn(keyword, value) for each "KEY[=VALUE]" parameter.
template <typename Fn>
std::optional<ParseError> for_each_param(std::string_view rest, Fn fn) {
  while (true) {
    rest = trim(rest);
    if (rest.empty()) return std::nullopt;
    auto end = rest.find(' ');
    std::string_view param = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    auto eq = param.find('=');
    std::string_view key = param.substr(0, eq);
    std::string_view value =
        eq == std::string_view::npos ? std::string_view() : param.substr(eq + 1);
    if (auto err = fn(key, value, eq != std::string_view::npos)) return err;
  }
}

}  // namespace

Command parse_command(std::string_view line) {
  Command cmd;
  auto space = line.find(' ');
  cmd.verb_text = line.substr(0, space);
  if (space != std::string_view::npos) {
    auto arg = line.substr(space + 1);
    while (!arg.empty() && (arg.back() == ' ' || arg.back() == '\t')) arg.remove_suffix(1);
    cmd.argument = arg;
  }
  for (const auto& v : kVerbs) {
    if (iequals(cmd.verb_text, v.name)) {
      cmd.verb = v.verb;
      break;
    }
  }
  return cmd;
}

// Well-formed UTF-8 (RFC 3629): no overlongs, no surrogates, nothing past U+10FFFF.
bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t extra;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // cut short
    for (size_t k = 1; k <= extra; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += extra + 1;
  }
  return true;
}

bool valid_mailbox(std::string_view address, bool utf8) {
  if (address.size() > 254) return false;
  if (utf8 && !valid_utf8(address)) return false;
  // The '@' that separates is the last one outside a quoted local part.
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return false;
  return valid_local_part(address.substr(0, at), utf8) &&
         valid_domain(address.substr(at + 1), utf8);
}

std::optional<std::string> xtext_decode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned char c = in[i];
    if (c == '+') {
      if (i + 2 >= in.size()) return std::nullopt;
      // hexchar is "+" and two upper-case hex digits (RFC 3461 4), nothing else.
      auto hex = [](char h) {
        return std::isdigit(static_cast<unsigned char>(h)) || (h >= 'A' && h <= 'F');
      };
      if (!hex(in[i + 1]) || !hex(in[i + 2])) return std::nullopt;
      int v = 0;
      std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
      out += static_cast<char>(v);
      i += 2;
    } else if (c < 33 || c > 126 || c == '=') {
      return std::nullopt;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::optional<ParseError> parse_mail(std::string_view argument, MailParams* out) {
  if (!istarts_with(argument, "FROM:")) return ParseError{501, "5.5.4 Syntax: MAIL FROM:<address>"};
  std::string_view rest;
  if (auto err = parse_path(argument.substr(5), &out->address, &rest)) return err;
  auto err = for_each_param(
      rest,
      [&](std::string_view key, std::string_view value,
          bool has_value) -> std::optional<ParseError> {
        if (iequals(key, "SIZE") && has_value) {
          uint64_t n = 0;
          auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
          if (ec != std::errc() || p != value.data() + value.size())
            return ParseError{501, "5.5.4 Syntax: SIZE=number"};
          out->size = n;
        } else if (iequals(key, "BODY") && has_value) {
          if (iequals(value, "8BITMIME")) {
            out->eight_bit = true;
          } else if (!iequals(value, "7BIT")) {
            return ParseError{501, "5.5.4 BODY must be 7BIT or 8BITMIME"};
          }
        } else if (iequals(key, "SMTPUTF8") && !has_value) {
          out->smtputf8 = true;
        } else if (iequals(key, "RET") && has_value) {
          if (!iequals(value, "FULL") && !iequals(value, "HDRS"))
            return ParseError{501, "5.5.4 RET must be FULL or HDRS"};
          out->ret = iequals(value, "FULL") ? "FULL" : "HDRS";
        } else if (iequals(key, "ENVID") && has_value) {
          auto decoded = xtext_decode(value);
          if (!decoded || value.size() > 100) return ParseError{501, "5.5.4 Bad ENVID"};
          out->envid = *decoded;
        } else if (iequals(key, "AUTH") && has_value) {
          // RFC 4954 AUTH= is informational; the session knows who logged in.
        } else {
          return ParseError{555, "5.5.4 Unsupported MAIL parameter " + std::string(key)};
        }
        return std::nullopt;
      });
  if (err) return err;
  if (!out->address.empty() && !valid_mailbox(out->address, out->smtputf8))
    return ParseError{553, "5.1.7 Bad sender address syntax"};
  return std::nullopt;
}

std::optional<ParseError> parse_rcpt(std::string_view argument, RcptParams* out) {
  if (!istarts_with(argument, "TO:")) return ParseError{501, "5.5.4 Syntax: RCPT TO:<address>"};
  std::string_view rest;
  if (auto err = parse_path(argument.substr(3), &out->address, &rest)) return err;
  auto err = for_each_param(
      rest,
      [&](std::string_view key, std::string_view value,
          bool has_value) -> std::optional<ParseError> {
        if (iequals(key, "NOTIFY") && has_value) {
          if (value.empty() || value.back() == ',')
            return ParseError{501, "5.5.4 Bad NOTIFY value"};
          uint8_t bits = 0;
          while (!value.empty()) {
            auto comma = value.find(',');
            auto word = value.substr(0, comma);
            value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
            if (iequals(word, "NEVER")) {
              bits |= queue::kNotifyNever;
            } else if (iequals(word, "SUCCESS")) {
              bits |= queue::kNotifySuccess;
            } else if (iequals(word, "FAILURE")) {
              bits |= queue::kNotifyFailure;
            } else if (iequals(word, "DELAY")) {
              bits |= queue::kNotifyDelay;
            } else {
              return ParseError{501, "5.5.4 Bad NOTIFY value"};
            }
          }
          if ((bits & queue::kNotifyNever) && bits != queue::kNotifyNever)
            return ParseError{501, "5.5.4 NOTIFY=NEVER cannot be combined"};
          out->notify = bits;
        } else if (iequals(key, "ORCPT") && has_value) {
          auto decoded = xtext_decode(value);
          if (!decoded || decoded->find(';') == std::string::npos || value.size() > 500)
            return ParseError{501, "5.5.4 Bad ORCPT"};
          out->orcpt = *decoded;
        } else {
          return ParseError{555, "5.5.4 Unsupported RCPT parameter " + std::string(key)};
        }
        return std::nullopt;
      });
  if (err) return err;
  // SMTPUTF8 is a MAIL parameter; the session re-checks with it (utf8 allowed here).
  // RFC 5321 4.5.1: <Postmaster> without a domain must be accepted.
  if (iequals(out->address, "postmaster")) return std::nullopt;
  if (out->address.empty() || !valid_mailbox(out->address, true))
    return ParseError{501, "5.1.3 Bad recipient address syntax"};
  return std::nullopt;
}

}  // namespace hato::relay
