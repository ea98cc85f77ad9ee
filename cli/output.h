// output.h - what every CLI verb prints with: one-line errors and whole writes to stdout.
#pragma once

#include <string>
#include <string_view>

namespace hato::cli {

// "hato: MESSAGE" on stderr; returns `status`, so `return fail(kExitFailed, "...")` reads well.
int fail(int status, std::string_view message);
// Writes all of `bytes` (a closed pipe is an error, reported with fail()).
int write_stdout(std::string_view bytes);
// Control characters blanked: replies and DNS answers, which anyone can write, must not drive
// the terminal.
std::string printable(std::string_view s);

}  // namespace hato::cli
