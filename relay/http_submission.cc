// http_submission.cc - a POST /v1/messages request read into an envelope and a message.
#include "relay/http_submission.h"

#include <strings.h>

#include "common/base64.h"
#include "common/json.h"
#include "common/log.h"
#include "common/strings.h"
#include "policy/mail/address_list.h"
#include "policy/mail/compose.h"
#include "policy/mail/message_header.h"

namespace hato::relay {

namespace {

constexpr size_t kMaxLine = 998;  // RFC 5322 2.1.1, without the CRLF

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  size_t pos = 0;
  while (true) {
    size_t end = s.find(sep, pos);
    out.emplace_back(s.substr(pos, end == std::string_view::npos ? s.size() - pos : end - pos));
    if (end == std::string_view::npos) return out;
    pos = end + 1;
  }
}

ApiError bad(std::string field, std::string message) {
  return {400, "invalid_field", field + ": " + message, std::move(field), 0};
}

// One or more addresses from a JSON value: a string (possibly a list), or {"name", "email"}.
std::optional<ApiError> read_addresses(const JsonValue& v, const std::string& field,
                                       std::vector<mail::Address>* out) {
  if (v.kind == JsonValue::Kind::kObject) {
    for (const auto& m : v.members)
      if (m.key != "name" && m.key != "email") return bad(field + "." + m.key, "unknown field");
    if (v["email"].kind != JsonValue::Kind::kString) return bad(field + ".email", "missing");
    out->push_back({v.str("name"), v.str("email")});
    return std::nullopt;
  }
  if (v.kind != JsonValue::Kind::kString) return bad(field, "an address must be a string");
  mail::AddressList list = mail::parse_address_list(v.text);
  if (!list.error.empty() || list.mailboxes.empty())
    return bad(field, list.error.empty() ? "no address" : "not an address: " + list.error);
  for (const auto& box : list.mailboxes)
    out->push_back({box.display_name, box.local_part + "@" + box.domain});
  return std::nullopt;
}

// A field that takes one address or a list of them; each gets its own name ("to[2]").
std::optional<ApiError> read_address_field(const JsonValue& root, const std::string& name,
                                           std::vector<mail::Address>* out,
                                           std::vector<std::string>* names) {
  const JsonValue& v = root[name];
  if (v.is_null()) return std::nullopt;
  std::vector<const JsonValue*> items;
  if (v.kind == JsonValue::Kind::kArray) {
    for (const auto& item : v.items) items.push_back(&item);
  } else {
    items.push_back(&v);
  }
  for (size_t i = 0; i < items.size(); ++i) {
    std::string field =
        v.kind == JsonValue::Kind::kArray ? name + "[" + std::to_string(i) + "]" : name;
    size_t before = out->size();
    if (auto err = read_addresses(*items[i], field, out)) return err;
    for (size_t k = before; k < out->size(); ++k) names->push_back(field);
  }
  return std::nullopt;
}

std::optional<ApiError> read_string(const JsonValue& root, const char* name, std::string* out) {
  const JsonValue& v = root[name];
  if (v.is_null()) return std::nullopt;
  if (v.kind != JsonValue::Kind::kString) return bad(name, "must be a string");
  *out = v.text;
  return std::nullopt;
}

std::optional<ApiError> read_attachments(const JsonValue& root, mail::Composition* c) {
  const JsonValue& v = root["attachments"];
  if (v.is_null()) return std::nullopt;
  if (v.kind != JsonValue::Kind::kArray) return bad("attachments", "must be a list");
  for (size_t i = 0; i < v.items.size(); ++i) {
    const JsonValue& a = v.items[i];
    std::string field = "attachments[" + std::to_string(i) + "]";
    if (a.kind != JsonValue::Kind::kObject) return bad(field, "must be an object");
    for (const auto& m : a.members)
      if (m.key != "name" && m.key != "type" && m.key != "content")
        return bad(field + "." + m.key, "unknown field");
    std::string b64;
    for (char ch : a.str("content"))
      if (ch != '\r' && ch != '\n') b64 += ch;
    auto content = base64_decode(b64);
    if (a["content"].kind != JsonValue::Kind::kString || !content)
      return bad(field + ".content", "must be base64");
    std::string type = a.str("type").empty() ? "application/octet-stream" : a.str("type");
    c->attachments.push_back({a.str("name"), ascii_lower(type), std::move(*content)});
  }
  return std::nullopt;
}

std::optional<ApiError> read_headers(const JsonValue& root, mail::Composition* c) {
  const JsonValue& v = root["headers"];
  if (v.is_null()) return std::nullopt;
  if (v.kind != JsonValue::Kind::kObject) return bad("headers", "must be an object");
  for (const auto& m : v.members) {
    if (m.value.kind != JsonValue::Kind::kString)
      return bad("headers." + m.key, "must be a string");
    c->headers.emplace_back(m.key, m.value.text);
  }
  return std::nullopt;
}

ApiError too_big(size_t max_size) {
  return {413, "too_large",
          "the message is larger than this server takes (" + std::to_string(max_size) + " bytes)",
          "", 0};
}

}  // namespace

ApiRead read_json_submission(std::string_view body, std::string_view boundary_seed,
                             size_t max_size) {
  auto root = parse_json(body);
  if (!root || root->kind != JsonValue::Kind::kObject)
    return ApiError{400, "invalid_json", "the body is not a JSON object", "", 0};
  static const char* const kFields[] = {"from",    "to",   "cc",   "bcc",     "reply_to",
                                        "subject", "text", "html", "headers", "attachments"};
  for (const auto& m : root->members) {
    bool known = false;
    for (const char* f : kFields) known = known || m.key == f;
    if (!known) return bad(m.key, "unknown field");
  }
  mail::Composition c;
  std::vector<mail::Address> from, bcc;
  std::vector<std::string> names, from_names, bcc_names, reply_names;
  if (root->str("from").empty() && (*root)["from"].kind != JsonValue::Kind::kObject)
    return bad("from", "missing");
  if (auto e = read_address_field(*root, "from", &from, &from_names)) return *e;
  if (from.size() != 1) return bad("from", "exactly one address");
  c.from = from.front();
  std::vector<std::string> to_names, cc_names;
  if (auto e = read_address_field(*root, "to", &c.to, &to_names)) return *e;
  if (auto e = read_address_field(*root, "cc", &c.cc, &cc_names)) return *e;
  if (auto e = read_address_field(*root, "bcc", &bcc, &bcc_names)) return *e;
  if (auto e = read_address_field(*root, "reply_to", &c.reply_to, &reply_names)) return *e;
  if (auto e = read_string(*root, "subject", &c.subject)) return *e;
  if (auto e = read_string(*root, "text", &c.text)) return *e;
  if (auto e = read_string(*root, "html", &c.html)) return *e;
  if (auto e = read_headers(*root, &c)) return *e;
  if (auto e = read_attachments(*root, &c)) return *e;
  if (c.to.empty() && c.cc.empty() && bcc.empty())
    return bad("to", "no recipient in to, cc or bcc");
  std::string wrong = mail::compose_error(c);
  if (!wrong.empty()) {
    size_t colon = wrong.find(':');
    return bad(wrong.substr(0, colon), wrong.substr(colon + 2));
  }
  for (size_t i = 0; i < bcc.size(); ++i)
    if (!mail::is_address(bcc[i].email)) return bad(bcc_names[i], "not an address (local@domain)");

  ApiSubmission out;
  out.mail.address = c.from.email;
  auto add = [&](const std::vector<mail::Address>& list, const std::vector<std::string>& fields) {
    for (size_t i = 0; i < list.size(); ++i) {
      RcptParams r;
      r.address = list[i].email;
      out.rcpts.push_back(std::move(r));
      out.rcpt_fields.push_back(fields[i]);
    }
  };
  add(c.to, to_names);
  add(c.cc, cc_names);
  add(bcc, bcc_names);
  out.mail.smtputf8 = !is_ascii(out.mail.address);
  for (const auto& r : out.rcpts) out.mail.smtputf8 = out.mail.smtputf8 || !is_ascii(r.address);
  out.message = mail::compose(c, boundary_seed);
  if (out.message.size() > max_size) return too_big(max_size);
  out.mail.size = out.message.size();
  return out;
}

namespace {

// The raw message with CRLF line ends; an error for what SMTP would refuse too.
std::optional<ApiError> normalise_raw(std::string_view body, std::string* out) {
  out->reserve(body.size() + body.size() / 50 + 2);
  size_t line = 0, line_start = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c == '\0')
      return ApiError{400, "invalid_message", "the message holds a NUL octet", "message", 0};
    if (c == '\r' && (i + 1 == body.size() || body[i + 1] != '\n'))
      return ApiError{400, "invalid_message",
                      "the message holds a bare CR: lines end in CRLF or LF", "message", 0};
    if (c == '\r') continue;
    if (c == '\n') {
      if (out->size() - line_start > kMaxLine)
        return ApiError{400, "invalid_message",
                        "line " + std::to_string(line + 1) + " is longer than 998 octets",
                        "message", 0};
      *out += "\r\n";
      ++line;
      line_start = out->size();
      continue;
    }
    *out += c;
  }
  if (out->size() > line_start) *out += "\r\n";
  return std::nullopt;
}

// Addresses of a header field of the message, for an envelope it does not name.
std::vector<std::string> addresses_in(std::string_view message, std::string_view field) {
  std::vector<std::string> out;
  std::string value = mail::header_value(message, field);
  if (value.empty()) return out;
  for (const auto& box : mail::parse_address_list(value).mailboxes)
    out.push_back(box.local_part + "@" + box.domain);
  return out;
}

}  // namespace

std::vector<std::string> query_values(std::string_view query, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& pair : split(query, '&')) {
    size_t eq = pair.find('=');
    if (eq == std::string::npos || std::string_view(pair).substr(0, eq) != name) continue;
    // A value that is not well formed is taken as it is written.
    std::string_view raw = std::string_view(pair).substr(eq + 1);
    out.push_back(percent_decode(raw, true).value_or(std::string(raw)));
  }
  return out;
}

ApiRead read_raw_submission(const net::HttpServerRequest& request, size_t max_size) {
  ApiSubmission out;
  if (auto e = normalise_raw(request.body, &out.message)) return *e;
  if (out.message.size() > max_size) return too_big(max_size);
  std::vector<std::string> from = query_values(request.query, "from");
  if (from.empty() && !request.header("hato-mail-from").empty())
    from.emplace_back(trim(request.header("hato-mail-from")));
  std::vector<std::string> to;
  for (const auto& v : query_values(request.query, "to"))
    for (const auto& a : split(v, ',')) to.emplace_back(trim(a));
  for (const auto& a : split(request.header("hato-rcpt-to"), ',')) to.emplace_back(trim(a));
  std::erase_if(to, [](const std::string& a) { return a.empty(); });
  if (from.empty()) {
    from = addresses_in(out.message, "From");
    if (from.size() != 1)
      return bad("from",
                 "give the envelope sender (from= or Hato-Mail-From): the message's "
                 "From does not name exactly one address");
  }
  if (to.empty()) {
    if (!mail::header_value(out.message, "Bcc").empty())
      return bad("to",
                 "the message has a Bcc field: give the envelope recipients (to= or "
                 "Hato-Rcpt-To) and leave Bcc out of the message");
    to = addresses_in(out.message, "To");
    for (auto& a : addresses_in(out.message, "Cc")) to.push_back(std::move(a));
    if (to.empty()) return bad("to", "no recipient: give to= or Hato-Rcpt-To");
  }
  out.mail.address = from.front();
  out.mail.smtputf8 = !is_ascii(out.mail.address);
  for (size_t i = 0; i < to.size(); ++i) {
    if (to[i].find('@') == std::string::npos)
      return bad("to[" + std::to_string(i) + "]", "not an address (local@domain)");
    RcptParams r;
    r.address = to[i];
    out.mail.smtputf8 = out.mail.smtputf8 || !is_ascii(r.address);
    out.rcpts.push_back(std::move(r));
    out.rcpt_fields.push_back("to[" + std::to_string(i) + "]");
  }
  out.mail.eight_bit = !is_ascii(out.message);
  out.mail.size = out.message.size();
  return out;
}

std::string error_json(const ApiError& error) {
  std::string out = "{";
  log::append_json_string(out, "code");
  out += ':';
  log::append_json_string(out, error.code);
  log::append_json_field(out, "message", error.message);
  if (!error.field.empty()) log::append_json_field(out, "field", error.field);
  return out + "}\n";
}

}  // namespace hato::relay
