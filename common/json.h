// json.h - reading small JSON answers: the admin API in the CLI, scanner replies (rspamd).
//
// A small tree reader for answers of a few kilobytes, not a general library: numbers
// stay as written (the caller knows which are integers), strings are decoded to UTF-8,
// and nesting is bounded so that a hostile answer cannot exhaust the stack.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hato {

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  std::string text;  // a string's value, or a number as written
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;

  bool is_null() const { return kind == Kind::kNull; }
  // The member `key`; a null value when absent or when this is not an object.
  const JsonValue& operator[](std::string_view key) const;
};

// The one value that makes up `text` (surrounding white space allowed), or nullopt.
std::optional<JsonValue> parse_json(std::string_view text);

}  // namespace hato
