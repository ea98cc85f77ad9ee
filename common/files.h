// files.h - writing a small file so that a crash leaves the old one or the new one, never
// half of one (users file, API keys, the config `hato init` writes).
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace hato {

// Writes `text` to a temporary file beside `path` with `mode` (whatever the umask), syncs
// it, renames it over `path` and syncs the directory, so the new file survives a power cut.
[[nodiscard]] Status write_file_atomically(const std::string& path, const std::string& text,
                                           mode_t mode);

}  // namespace hato
