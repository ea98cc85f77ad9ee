// compose.cc - MIME messages from an application's parts.
#include "policy/mail/compose.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "common/base64.h"
#include "common/strings.h"

namespace hato::mail {

namespace {

constexpr size_t kFoldAt = 78;      // RFC 5322 2.1.1: lines SHOULD stay within 78
constexpr size_t kMaxLine = 998;    // and MUST within 998
constexpr size_t kWordBytes = 42;   // raw bytes per encoded word: "Subject: " + 56 base64 + 12 < 78
constexpr size_t kBase64Line = 76;  // RFC 2045 6.8
const char kHex[] = "0123456789ABCDEF";

bool has_line_break(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// Every line break (CRLF, LF or CR) as CRLF.
std::string crlf_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "\r\n";
    } else if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out += text[i];
    }
  }
  return out;
}

// The UTF-8 text split into encoded words of at most kWordBytes bytes, whole characters only.
std::vector<std::string> encoded_words(std::string_view value) {
  std::vector<std::string> words;
  size_t pos = 0;
  while (pos < value.size()) {
    size_t end = std::min(value.size(), pos + kWordBytes);
    // Back up over continuation bytes (10xxxxxx) so that no character is cut in two.
    while (end < value.size() && end > pos + 1 &&
           (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80)
      --end;
    words.push_back("=?UTF-8?B?" + base64_encode(value.substr(pos, end - pos)) + "?=");
    pos = end;
  }
  return words;
}

// Joins `pieces` with spaces after a header line's first `used` octets, breaking the line
// (CRLF SP in place of the space) before a piece that would pass kFoldAt.
std::string fold(const std::vector<std::string>& pieces, size_t used) {
  std::string out;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0 && used + 1 + pieces[i].size() > kFoldAt) {
      out += "\r\n";
      used = 0;
    }
    if (i > 0) {
      out += ' ';
      ++used;
    }
    out += pieces[i];
    used += pieces[i].size();
  }
  return out;
}

bool is_atext_phrase(std::string_view s) {
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == ' ') continue;
    if (std::string_view("!#$%&'*+-/=?^_`{|}~").find(static_cast<char>(c)) ==
        std::string_view::npos)
      return false;
  }
  return !s.empty() && s.front() != ' ' && s.back() != ' ';
}

// A display name as a phrase: as it is, quoted, or as encoded words.
std::vector<std::string> phrase(std::string_view name) {
  if (!is_ascii(name)) return encoded_words(name);
  if (is_atext_phrase(name)) return {std::string(name)};
  std::string quoted = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return {quoted + "\""};
}

std::string address_field(std::string_view name, const std::vector<Address>& list) {
  std::vector<std::string> pieces;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string comma = i + 1 < list.size() ? "," : "";
    if (list[i].name.empty()) {
      pieces.push_back(list[i].email + comma);
      continue;
    }
    for (auto& word : phrase(list[i].name)) pieces.push_back(std::move(word));
    pieces.push_back("<" + list[i].email + ">" + comma);
  }
  return std::string(name) + ": " + fold(pieces, name.size() + 2) + "\r\n";
}

}  // namespace

bool is_address(std::string_view e) {
  size_t at = e.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == e.size() || e.size() > 254) return false;
  for (unsigned char c : e)
    if (c <= 0x20 || c == 0x7f || c == '<' || c == '>' || c == '(' || c == ')' || c == ',' ||
        c == ';' || c == '\\' || c == '"')
      return false;
  return e.find('@') == at;
}

namespace {

bool valid_field_name(std::string_view n) {
  if (n.empty() || n.size() > 76) return false;
  return std::all_of(n.begin(), n.end(), [](char c) { return c > 32 && c < 127 && c != ':'; });
}

// A media type "type/subtype" made of RFC 2045 token characters.
bool valid_media_type(std::string_view t) {
  size_t slash = t.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == t.size()) return false;
  for (size_t i = 0; i < t.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(t[i]);
    if (i == slash) continue;
    if (c <= 32 || c >= 127 ||
        std::string_view("()<>@,;:\\\"/[]?=").find(static_cast<char>(c)) != std::string_view::npos)
      return false;
  }
  return true;
}

// Fields the composer writes itself: an extra header may not replace them.
bool reserved_field(std::string_view n) {
  for (const char* r : {"from", "to", "cc", "bcc", "reply-to", "subject", "mime-version",
                        "content-type", "content-transfer-encoding", "content-disposition"})
    if (n.size() == strlen(r) && strncasecmp(n.data(), r, n.size()) == 0) return true;
  return false;
}

// A text body with its Content-Type and encoding: 7bit when it is ASCII with short lines.
std::string text_part(std::string_view media_type, std::string_view text) {
  std::string body = crlf_lines(text);
  if (body.size() < 2 || body.compare(body.size() - 2, 2, "\r\n") != 0) body += "\r\n";
  bool seven_bit = is_ascii(body);
  for (size_t pos = 0; seven_bit && pos < body.size();) {
    size_t eol = body.find("\r\n", pos);
    seven_bit = eol - pos <= kFoldAt;
    pos = eol + 2;
  }
  std::string out = "Content-Type: " + std::string(media_type) + "; charset=utf-8\r\n";
  if (seven_bit) return out + "Content-Transfer-Encoding: 7bit\r\n\r\n" + body;
  return out + "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + quoted_printable(body);
}

// A file name as Content-Type's name and Content-Disposition's filename: quoted when ASCII,
// RFC 2231 percent-encoded UTF-8 otherwise.
std::string file_parameter(std::string_view param, std::string_view name) {
  if (is_ascii(name)) {
    std::string quoted;
    for (char c : name) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    return std::string(param) + "=\"" + quoted + "\"";
  }
  return std::string(param) + "*=utf-8''" + percent_encode(name, "!#$&+-.^_`|~");
}

std::string attachment_part(const Attachment& a) {
  std::string out = "Content-Type: " + a.type + ";\r\n " + file_parameter("name", a.name) + "\r\n";
  out += "Content-Disposition: attachment;\r\n " + file_parameter("filename", a.name) + "\r\n";
  out += "Content-Transfer-Encoding: base64\r\n\r\n";
  std::string b64 = base64_encode(a.content);
  for (size_t pos = 0; pos < b64.size(); pos += kBase64Line)
    out += b64.substr(pos, kBase64Line) + "\r\n";
  return out;
}

std::string multipart(std::string_view subtype, const std::string& boundary,
                      const std::vector<std::string>& parts) {
  std::string out = "Content-Type: multipart/" + std::string(subtype) + ";\r\n boundary=\"" +
                    boundary + "\"\r\n\r\n";
  // The CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1), not to the part.
  for (const auto& part : parts) out += "--" + boundary + "\r\n" + part + "\r\n";
  return out + "--" + boundary + "--\r\n";
}

}  // namespace

std::string quoted_printable(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  size_t col = 0;
  auto put = [&](std::string_view piece) {
    if (col + piece.size() > kBase64Line - 1) {  // room for the soft break's '='
      out += "=\r\n";
      col = 0;
    }
    out += piece;
    col += piece.size();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      out += "\r\n";
      col = 0;
      ++i;
      continue;
    }
    bool at_eol = i + 1 == text.size() || text[i + 1] == '\r';
    // RFC 2045 6.7 (3): white space at a line's end would be lost; (1): '=' and 8-bit coded.
    bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol);
    // A line that begins with "." or "From " survives every transport when coded.
    if (col == 0 && (c == '.' || (c == 'F' && text.substr(i, 5) == "From "))) literal = false;
    if (literal) {
      put(std::string_view(&text[i], 1));
    } else {
      char coded[3] = {'=', kHex[c >> 4], kHex[c & 15]};
      put(std::string_view(coded, 3));
    }
  }
  return out;
}

std::string encode_unstructured(std::string_view name, std::string_view value) {
  std::vector<std::string> words;
  bool plain = is_ascii(value);
  for (size_t pos = 0; plain && pos <= value.size();) {
    size_t space = value.find(' ', pos);
    if (space == std::string_view::npos) space = value.size();
    words.emplace_back(value.substr(pos, space - pos));
    plain = words.back().size() + name.size() + 2 <= kMaxLine / 2;
    pos = space + 1;
  }
  if (!plain) words = encoded_words(value);
  return fold(words, name.size() + 2);
}

std::string compose_error(const Composition& c) {
  if (!is_address(c.from.email)) return "from: not an address (local@domain)";
  const std::pair<const char*, const std::vector<Address>*> lists[] = {
      {"to", &c.to}, {"cc", &c.cc}, {"reply_to", &c.reply_to}};
  for (const auto& [field, list] : lists) {
    for (size_t i = 0; i < list->size(); ++i) {
      if (!is_address((*list)[i].email))
        return std::string(field) + "[" + std::to_string(i) + "]: not an address (local@domain)";
      if (has_line_break((*list)[i].name))
        return std::string(field) + "[" + std::to_string(i) + "]: the name holds a line break";
    }
  }
  if (has_line_break(c.from.name)) return "from: the name holds a line break";
  if (has_line_break(c.subject)) return "subject: holds a line break";
  if (c.text.empty() && c.html.empty() && c.attachments.empty())
    return "text: a message needs text, html or an attachment";
  for (const auto& [n, v] : c.headers) {
    if (!valid_field_name(n)) return "headers: '" + n + "' is not a header field name";
    if (reserved_field(n)) return "headers." + n + ": set by its own field, not in headers";
    if (has_line_break(v)) return "headers." + n + ": the value holds a line break";
  }
  for (size_t i = 0; i < c.attachments.size(); ++i) {
    const auto& a = c.attachments[i];
    std::string field = "attachments[" + std::to_string(i) + "]";
    if (a.name.empty() || has_line_break(a.name)) return field + ".name: missing or not one line";
    if (!valid_media_type(a.type)) return field + ".type: not a media type (type/subtype)";
  }
  return "";
}

std::string compose(const Composition& c, std::string_view boundary_seed) {
  std::string head = address_field("From", {c.from});
  if (!c.to.empty()) head += address_field("To", c.to);
  if (!c.cc.empty()) head += address_field("Cc", c.cc);
  if (!c.reply_to.empty()) head += address_field("Reply-To", c.reply_to);
  head += "Subject: " + encode_unstructured("Subject", c.subject) + "\r\n";
  for (const auto& [n, v] : c.headers) head += n + ": " + encode_unstructured(n, v) + "\r\n";
  head += "MIME-Version: 1.0\r\n";

  // A boundary cannot occur in the parts: 7bit text lines are checked, the rest is coded.
  std::string boundary = "=_hato_" + std::string(boundary_seed);
  std::vector<std::string> alternatives;
  if (!c.text.empty()) alternatives.push_back(text_part("text/plain", c.text));
  if (!c.html.empty()) alternatives.push_back(text_part("text/html", c.html));
  for (const auto& part : alternatives) {
    while (part.find(boundary) != std::string::npos) boundary += "_";
  }
  std::string body;
  if (alternatives.size() == 2) {
    body = multipart("alternative", boundary + "_a", alternatives);
  } else if (alternatives.size() == 1) {
    body = alternatives.front();
  }
  if (c.attachments.empty()) return head + body;
  std::vector<std::string> parts;
  if (!body.empty()) parts.push_back(body);
  for (const auto& a : c.attachments) parts.push_back(attachment_part(a));
  return head + multipart("mixed", boundary + "_m", parts);
}

}  // namespace hato::mail
