// data_reader.h - the DATA phase: finds the end of the message, undoes dot
// stuffing, and enforces the line and size limits.
//
// Only <CRLF>.<CRLF> ends a message (the DATA line's own CRLF counts as the
// first). A bare CR anywhere is recorded and the whole message is refused once
// its real end arrives. A line that ends in a bare LF is either stored as if it
// ended in CRLF (normalize, the default, as Postfix 3.9 does) or recorded and
// refused like a bare CR (reject). A lone "." that did not end the message
// (a bare LF before or after it) stays content: it is stored as ".", and the
// client side dot-stuffs it when the message is sent on, so the next hop
// cannot read an end of data that Hato did not (SMTP smuggling). A NUL is recorded
// and the message refused like a bare CR, unless the listener allows it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "conf/config.h"

namespace hato::relay {

class DataReader {
 public:
  DataReader(uint64_t max_size, std::string* body, conf::BareLf bare_lf,
             conf::Nul nul = conf::Nul::kReject)
      : max_size_(max_size),
        body_(body),
        normalize_bare_lf_(bare_lf == conf::BareLf::kNormalize),
        reject_nul_(nul == conf::Nul::kReject) {}

  // Consumes bytes from `in`; returns how many it used. When the message ends,
  // done() is true and the bytes after the end stay unconsumed (pipelined
  // commands).
  size_t consume(std::string_view in);

  bool done() const { return done_; }
  bool bare_newline() const { return bare_lf_ || bare_cr_; }
  bool refused() const { return bare_newline() || nul_; }  // stop storing the body
  bool nul() const { return nul_; }                        // only when refusing NULs
  bool bare_cr() const { return bare_cr_; }
  bool bare_lf() const { return bare_lf_; }  // only when not normalising
  bool line_too_long() const { return line_too_long_; }
  bool too_big() const { return too_big_; }
  uint64_t received() const { return received_; }

  static constexpr size_t kMaxLine = 1000;  // octets, CRLF included (RFC 5321 4.5.3.1.6)

 private:
  void line(std::string_view content, bool crlf, bool truncated);
  void append(std::string_view bytes);
  void release_body();

  uint64_t max_size_;
  std::string* body_;
  bool normalize_bare_lf_;
  bool reject_nul_;
  std::string partial_;  // an incomplete line carried to the next consume()
  uint64_t received_ = 0;
  bool partial_truncated_ = false;
  bool prev_crlf_ = true;  // the DATA command's own CRLF
  bool done_ = false;
  bool bare_lf_ = false;
  bool bare_cr_ = false;
  bool nul_ = false;
  bool line_too_long_ = false;
  bool too_big_ = false;
};

}  // namespace hato::relay
