// smtp_reply.h - reading SMTP replies (RFC 5321 4.2), single and multi-line.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hato::relay {

struct Reply {
  int code = 0;                    // 0: no reply (connection trouble)
  std::vector<std::string> lines;  // text of each line, without the code
  bool temporary() const { return code >= 400 && code < 500; }
  bool permanent() const { return code >= 500; }
  bool positive() const { return code >= 200 && code < 400; }
  // "250 2.0.0 Ok" on one line: what logs and DSNs quote.
  std::string text() const;
  // The enhanced status code (RFC 3463) of the first line, or a default from
  // the basic code (2.0.0, 4.0.0, 5.0.0).
  std::string enhanced() const;
};

// Collects lines until a reply is complete.
class ReplyReader {
 public:
  // Feeds one line without CRLF. Returns a reply when it is complete; a
  // malformed line yields a reply with code 0.
  std::optional<Reply> line(std::string_view line);

 private:
  Reply pending_;
};

}  // namespace hato::relay
