// message_header.h - whether a message's header section is made of header fields (RFC 5322
// 2.2): each line either starts a field, `name ":" body` with a name of printable ASCII, or
// continues the one above with a space or a tab. The section ends at the first empty line.
//
// A header we cannot read cannot be signed: every verifier reads it differently (for Python's
// msg_35, a line without a colon and no empty line, the whole message was taken as header and
// the body hash was that of an empty body). Submission refuses such mail (policy/submission.h);
// inbound mail is not ours to refuse for it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace hato::mail {

struct HeaderSyntaxError {
  size_t line = 0;      // 1-based, counted from the first line of `message`
  std::string excerpt;  // the line's first 40 characters, printable ASCII ('?' for others)
  bool truncated = false;
  std::string reason;  // "no colon", ...

  // "header line 4 is not a header field (no colon): \"counter to RFC ...\""
  std::string describe() const;
};

// The first line of the header section of `message` (CRLF lines; a bare LF is taken as a line
// end too) that is not part of a header field, or nullopt when there is none.
std::optional<HeaderSyntaxError> check_header_section(std::string_view message);

// The body of the first header field called `name` (case-insensitive), unfolded, without the
// white space around it; "" when the header section has no such field.
std::string header_value(std::string_view message, std::string_view name);

}  // namespace hato::mail
