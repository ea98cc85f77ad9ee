// http_submission.h - what a POST /v1/messages asks to send: its envelope and message, read
// from the request, or the error that names what is wrong (the HTTP API's 400, 413, 415).
//
// Two forms:
// - `Content-Type: application/json`: {"from", "to", "cc", "bcc", "reply_to", "subject",
//   "text", "html", "headers", "attachments": [{"name", "type", "content" (base64)}]}; an
//   address is "ada@example.org", "Ada <ada@example.org>" or {"name", "email"}; to, cc, bcc and
//   reply_to take one or a list. The message is composed here (policy/mail/compose.h); Bcc
//   recipients are in the envelope only. Unknown fields are refused, so a typo is not a
//   silently empty body.
// - `Content-Type: message/rfc822`: the message as it is (LF line ends become CRLF; a bare CR
//   or NUL is refused, as SMTP refuses them). The envelope comes from the query (`from=`,
//   `to=` repeated or comma-separated) or the headers `Hato-Mail-From` and `Hato-Rcpt-To`;
//   without them, from the message's From, To and Cc (a message with a Bcc field must name
//   its envelope: Bcc is not passed on as written).
// Pure: no I/O, unit-tested on its own.
#pragma once

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/http_request_parser.h"
#include "relay/smtp_command.h"

namespace hato::relay {

struct ApiError {
  int status = 400;
  std::string code;     // "invalid_field", "unauthorized", ... (stable, for programs)
  std::string message;  // a sentence for people
  std::string field;    // the request field at fault ("to[1]"), or ""
  int64_t retry_after_s = 0;
};

struct ApiSubmission {
  MailParams mail;
  std::vector<RcptParams> rcpts;
  std::vector<std::string> rcpt_fields;  // the request field each recipient came from
  std::string message;                   // CRLF lines, without Hato's trace headers
};

using ApiRead = std::variant<ApiSubmission, ApiError>;

// `boundary_seed`: random text for the MIME boundaries; `max_size`: limits.max_message_size.
ApiRead read_json_submission(std::string_view body, std::string_view boundary_seed,
                             size_t max_size);
ApiRead read_raw_submission(const net::HttpServerRequest& request, size_t max_size);

// The error as the API's JSON body: {"code", "message", "field"?}.
std::string error_json(const ApiError& error);

// A query string's `name` parameters, percent-decoded ('+' is a space), in order.
std::vector<std::string> query_values(std::string_view query, std::string_view name);

}  // namespace hato::relay
