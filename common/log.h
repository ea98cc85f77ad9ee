// log.h - one line per event, text or JSON, to stderr (the journal under systemd).
//
// Fields are key/value pairs so the JSON form needs no parsing of text:
//   log::info("accepted", {{"id", id}, {"peer", peer}, {"size", "4096"}});
// text:  2026-11-28T07:00:00.123Z info accepted id=... peer=... size=4096
// json:  {"time":"...","level":"info","event":"accepted","id":"...",...}
#pragma once

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace hato::log {

enum class Level { kDebug, kInfo, kWarning, kError };
using Field = std::pair<std::string_view, std::string_view>;

void set_json(bool json);
void set_min_level(Level level);
void write(Level level, std::string_view event, std::span<const Field> fields);
inline void write(Level level, std::string_view event, std::initializer_list<Field> fields) {
  write(level, event, std::span<const Field>(fields.begin(), fields.size()));
}

inline void debug(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::kDebug, e, f);
}
inline void info(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::kInfo, e, f);
}
inline void warning(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::kWarning, e, f);
}
inline void error(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::kError, e, f);
}

// JSON string escaping, shared with the admin API.
void append_json_string(std::string& out, std::string_view s);
// `,"key":"value"` (both escaped), for objects built field by field.
void append_json_field(std::string& out, std::string_view key, std::string_view value);
// RFC 3339 UTC with milliseconds.
std::string rfc3339(int64_t unix_ms);
void append_rfc3339(std::string& out, int64_t unix_ms);
// RFC 5322 date-time in UTC, for mail headers: "Sat, 28 Nov 2026 07:14:56 +0000".
std::string rfc5322(int64_t unix_ms);
int64_t now_ms();

}  // namespace hato::log
