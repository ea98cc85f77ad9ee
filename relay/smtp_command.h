// smtp_command.h - parsing SMTP command lines and their paths and parameters
// (RFC 5321 section 4.1, RFC 1870 SIZE, RFC 6152 BODY, RFC 3461 DSN, RFC 6531).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hato::relay {

enum class Verb {
  kUnknown,
  kHelo,
  kEhlo,
  kMail,
  kRcpt,
  kData,
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kHelp,
  kStartTls,
  kAuth,
  kBdat,
  kExpn,
};

struct Command {
  Verb verb = Verb::kUnknown;
  std::string_view verb_text;
  std::string_view argument;  // after the verb and one space, trailing spaces removed
};

// Splits a command line (without CRLF). Verbs are case-insensitive.
Command parse_command(std::string_view line);

struct MailParams {
  std::string address;  // without <>; empty is the null path
  std::optional<uint64_t> size;
  bool eight_bit = false;  // BODY=8BITMIME
  bool smtputf8 = false;
  std::string ret;    // FULL | HDRS
  std::string envid;  // decoded xtext
};

struct RcptParams {
  std::string address;
  uint8_t notify = 0;  // queue::Notify bits
  std::string orcpt;   // "rfc822;user@example" decoded
};

// The reply to send when parsing fails: code and text.
struct ParseError {
  int code;
  std::string text;
};

// `argument` is what follows the verb: "FROM:<a@b> SIZE=10".
std::optional<ParseError> parse_mail(std::string_view argument, MailParams* out);
std::optional<ParseError> parse_rcpt(std::string_view argument, RcptParams* out);

// A mailbox (local@domain) valid per RFC 5321 section 4.1.2; non-ASCII only
// when utf8 is allowed.
bool valid_mailbox(std::string_view address, bool utf8);
// RFC 3461 section 4 xtext.
std::optional<std::string> xtext_decode(std::string_view in);

}  // namespace hato::relay
