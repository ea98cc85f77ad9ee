// privileges.h - least privilege for `hato serve`: private key files that only
// hato may read, and the switch to the unprivileged `user:` once every port is
// bound and every key read.
#pragma once

#include "common/status.h"
#include "conf/config.h"

namespace hato::cli {

// Refuses a private key file (TLS key, DKIM keys) that every user may read:
// "FILE: private key is readable by every user ...". A key its group may read
// is allowed with a warning. Run at start and before a SIGHUP reload.
[[nodiscard]] Status check_key_files(const conf::Config& config);

// After the listeners are bound and the keys read: gives data_dir (and all in
// it) and the admin socket to `user:`, then initgroups, setgid, setuid to it,
// and checks that root cannot be regained and that data_dir is writable. Without `user:` nothing
// changes (a warning when running as root).
[[nodiscard]] Status drop_privileges(const conf::Config& config);

}  // namespace hato::cli
