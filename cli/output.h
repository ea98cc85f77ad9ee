// output.h - what every CLI verb prints with: one-line errors and whole writes to stdout.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace hato::cli {

// "hato: MESSAGE" on stderr; returns `status`, so `return fail(kExitFailed, "...")` reads well.
int fail(int status, std::string_view message);
// Writes all of `bytes` (a closed pipe is an error, reported with fail()).
int write_stdout(std::string_view bytes);
// Control characters blanked: replies and DNS answers, which anyone can write, must not drive
// the terminal.
std::string printable(std::string_view s);
// A JSON value as a table cell: its text, made printable, or `if_null` for null.
std::string cell(const JsonValue& v, const char* if_null);
// The daemon's JSON-lines answers (one object a line, blank lines skipped); an error naming
// the daemon when any line is not an object.
Result<std::vector<JsonValue>> read_json_lines(std::string_view text);
// Rows as aligned columns (two spaces apart, no trailing blanks); rows[0] is the header.
std::string render_table(const std::vector<std::vector<std::string>>& rows);

}  // namespace hato::cli
