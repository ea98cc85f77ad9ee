// fuzz_util.h - what the fuzz targets share: a check that aborts with a reason
// (libFuzzer then saves the input), quiet logs, and byte-level predicates.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "common/log.h"

namespace hato::fuzz {

// A broken invariant is a crash: libFuzzer keeps the input as crash-<sha1>.
#define FUZZ_CHECK(cond, what)                                                               \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "invariant broken at %s:%d: %s (%s)\n", __FILE__, __LINE__, what, \
                   #cond);                                                                   \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

// Called once from LLVMFuzzerInitialize: only errors reach stderr.
inline void quiet_logs() {
  log::set_min_level(log::Level::kError);
}

// Whether a bug already reported is to be stepped over, so that a long
// campaign finds new ones: HATO_FUZZ_KNOWN="helo-controls,rset-callback".
// Unset (CI), every invariant holds and the regression seeds fail until fixed.
inline bool known_bug(const char* name) {
  static const char* known = std::getenv("HATO_FUZZ_KNOWN");
  if (!known) return false;
  std::string_view list(known), n(name);
  for (size_t pos = 0; pos <= list.size();) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    if (list.substr(pos, comma - pos) == n) return true;
    pos = comma + 1;
  }
  return false;
}

// Every CR is followed by LF and every LF preceded by CR.
inline bool crlf_clean(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 >= s.size() || s[i + 1] != '\n')) return false;
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
  }
  return true;
}

// No control characters (C0 or DEL): what may go into one header line or one command.
inline bool no_controls(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}

inline bool ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

}  // namespace hato::fuzz
