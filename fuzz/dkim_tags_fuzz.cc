// dkim_tags_fuzz.cc - RFC 6376 3.2 tag lists (DKIM-Signature values, key records).
//
// Invariants: a parsed list has at most kMaxTags tags, unique non-empty
// names, values without leading or trailing whitespace, and find() returns
// each value; strip_whitespace leaves no whitespace; split_colon_list gives
// one element per colon plus one.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "policy/dkim/tags.h"

using namespace hato;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto list = dkim::TagList::parse(text);
  if (list) {
    FUZZ_CHECK(list->tags().size() <= dkim::TagList::kMaxTags, "too many tags");
    std::set<std::string> names;
    for (const auto& tag : list->tags()) {
      FUZZ_CHECK(!tag.name.empty(), "empty tag name");
      FUZZ_CHECK(names.insert(tag.name).second, "duplicate tag accepted");
      const std::string* v = list->find(tag.name);
      FUZZ_CHECK(v && *v == tag.value, "find() does not return the value");
      if (!tag.value.empty()) {
        char f = tag.value.front(), b = tag.value.back();
        FUZZ_CHECK(f != ' ' && f != '\t' && b != ' ' && b != '\t' && b != '\r' && b != '\n',
                   "value not trimmed");
      }
      FUZZ_CHECK(tag.value.find(';') == std::string::npos, "';' inside a value");
    }
  }
  std::string stripped = dkim::strip_whitespace(text);
  FUZZ_CHECK(stripped.find_first_of(" \t\r\n") == std::string::npos, "whitespace left");
  size_t colons = 0;
  for (char c : text) colons += c == ':';
  FUZZ_CHECK(dkim::split_colon_list(text).size() == colons + 1, "colon list count");
  return 0;
}
