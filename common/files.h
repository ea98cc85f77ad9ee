// files.h - files and directories that survive a power cut: a small file written so that a
// crash leaves the old one or the new one, never half of one (users file, API keys, the config
// `hato init` writes), and directories synced into their parents when made.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace hato {

// Writes `text` to a temporary file beside `path` with `mode` (whatever the umask), syncs
// it, renames it over `path` and syncs the directory, so the new file survives a power cut.
[[nodiscard]] Status write_file_atomically(const std::string& path, const std::string& text,
                                           mode_t mode);

// fsync of a directory: the entries made, renamed or removed in it become durable.
[[nodiscard]] Status sync_dir(const std::string& dir);

// mkdir -p with `mode`: each directory it makes is synced into its parent, since a power cut
// would otherwise drop it and all it holds. Directories already there are left alone.
[[nodiscard]] Status make_dirs_durably(const std::string& path, mode_t mode);

}  // namespace hato
