// data_reader.cc - end-of-data detection, dot unstuffing and limits.
#include "relay/data_reader.h"

#include <cstring>

namespace hato::relay {

void DataReader::release_body() {
  body_->clear();
  body_->shrink_to_fit();  // a refused message keeps no memory
}

void DataReader::append(std::string_view bytes) {
  if (too_big_) return;
  if (body_->size() + bytes.size() > max_size_) {
    too_big_ = true;
    release_body();  // it will be refused; keep no memory for it
    return;
  }
  body_->append(bytes);
}

void DataReader::line(std::string_view content, bool crlf, bool truncated) {
  if (!crlf && !normalize_bare_lf_) bare_lf_ = true;
  if (content.size() + 2 > kMaxLine) line_too_long_ = true;
  if (std::memchr(content.data(), '\r', content.size())) bare_cr_ = true;
  if (reject_nul_ && std::memchr(content.data(), '\0', content.size())) nul_ = true;
  // The end is <CRLF>.<CRLF>: the dot line and the line before it both end in
  // CRLF. The tail of an over-long line is never a lone dot.
  bool after_crlf = prev_crlf_;
  prev_crlf_ = crlf;
  if (crlf && after_crlf && content == "." && !truncated) {
    done_ = true;
    return;
  }
  // Undo dot-stuffing, except on a lone "." that did not end the message: no client
  // stuffs a line to that, so it is content as it stands.
  if (content.size() > 1 && content.front() == '.') content.remove_prefix(1);
  if (refused() || line_too_long_) {
    release_body();  // refused at the end; stop storing
    return;
  }
  append(content);
  append("\r\n");
}

size_t DataReader::consume(std::string_view in) {
  size_t used = 0;
  while (!done_ && used < in.size()) {
    std::string_view rest = in.substr(used);
    const char* nl = static_cast<const char*>(std::memchr(rest.data(), '\n', rest.size()));
    if (!nl) {
      // No end of line yet: keep it for later, but never more than a line's
      // worth. Past that the line is too long and only its tail matters.
      partial_.append(rest);
      received_ += rest.size();
      used = in.size();
      if (partial_.size() > kMaxLine) {
        line_too_long_ = true;
        release_body();
        if (std::memchr(partial_.data(), '\r', partial_.size() - 1)) bare_cr_ = true;
        if (reject_nul_ && std::memchr(partial_.data(), '\0', partial_.size())) nul_ = true;
        partial_.erase(0, partial_.size() - 1);  // keep a trailing CR for a CRLF check
        partial_truncated_ = true;
      }
      break;
    }
    size_t len = static_cast<size_t>(nl - rest.data());
    received_ += len + 1;
    used += len + 1;
    std::string_view content;
    std::string joined;
    if (partial_.empty()) {
      content = rest.substr(0, len);
    } else {
      joined = std::move(partial_);
      partial_.clear();
      joined.append(rest.substr(0, len));
      content = joined;
    }
    bool crlf = !content.empty() && content.back() == '\r';
    if (crlf) content.remove_suffix(1);
    bool truncated = partial_truncated_;
    partial_truncated_ = false;
    line(content, crlf, truncated);
  }
  return used;
}

}  // namespace hato::relay
