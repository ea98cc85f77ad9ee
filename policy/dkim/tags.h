// tags.h - DKIM tag=value lists (RFC 6376 3.2): the DKIM-Signature field and key records.
//
// The parser is strict where the grammar is (tag names, duplicate tags, characters a value may
// hold) and lenient only where deployed records commonly differ (empty specs such as ";;").
// It runs on hostile input, so it is bounded and never throws.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hato::dkim {

struct Tag {
  std::string name;   // as written; tag names are case-sensitive (RFC 6376 3.2)
  std::string value;  // leading and trailing whitespace removed, inner folding kept
};

class TagList {
 public:
  // More tags than this is garbage, not a signature; the bound also keeps the duplicate check
  // cheap.
  static constexpr size_t kMaxTags = 64;

  static Result<TagList> parse(std::string_view text);

  // The value of tag `name`, or nullptr when absent.
  const std::string* find(std::string_view name) const;
  const std::vector<Tag>& tags() const { return tags_; }

 private:
  std::vector<Tag> tags_;
};

// `value` with every space, tab, CR and LF removed: base64 tags (b=, bh=, p=) may be folded
// anywhere.
std::string strip_whitespace(std::string_view value);

// Splits a colon-separated list (h=, key h= and s=) and trims each element; empty elements are
// kept so a caller can reject them.
std::vector<std::string> split_colon_list(std::string_view value);

}  // namespace hato::dkim
