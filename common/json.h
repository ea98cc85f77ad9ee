// json.h - reading small JSON answers: the admin API in the CLI, scanner replies (rspamd).
//
// A small tree reader for answers of a few kilobytes, not a general library: numbers
// stay as written (the caller knows which are integers), strings are decoded to UTF-8,
// and nesting is bounded so that a hostile answer cannot exhaust the stack.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hato {

struct JsonMember;

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;  // a string's value, or a number as written
  std::vector<JsonValue> items;
  std::vector<JsonMember> members;  // of an object, in order (a named struct, not a pair:
                                    // pair<string, JsonValue> would need JsonValue complete)

  bool is_null() const { return kind == Kind::kNull; }
  // The member `key`; a null value when absent or when this is not an object.
  const JsonValue& operator[](std::string_view key) const;
  // The text of the member `key` (a string's value, a number as written), or "".
  const std::string& str(std::string_view key) const { return (*this)[key].text; }
};

struct JsonMember {
  std::string key;
  JsonValue value;
};

// The one value that makes up `text` (surrounding white space allowed), or nullopt.
std::optional<JsonValue> parse_json(std::string_view text);

}  // namespace hato
