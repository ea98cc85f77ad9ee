// backup_cmd.h - `hato backup create|restore`: a consistent copy of the queue taken while the
// daemon runs, and putting one back into a stopped daemon's data dir.
#pragma once

#include <string>
#include <vector>

#include "conf/config.h"

namespace hato::cli {

// `args` follow the word "backup":
//   create DIR            asks the running daemon (admin socket) to checkpoint its queue into
//                         DIR/queue and write DIR/manifest.json; DIR must be new or empty
//   restore DIR [--force] copies DIR/queue to <data_dir>/queue. Refused while the daemon
//                         answers on its admin socket, and when <data_dir>/queue exists unless
//                         --force, which moves the old queue aside rather than deleting it
// Returns 0 done, 1 failed or refused, 2 usage, 3 (create) the daemon is not reachable.
int backup_command(const std::vector<std::string>& args, const conf::Config& config);

}  // namespace hato::cli
