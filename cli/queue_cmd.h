// queue_cmd.h - `hato queue ...`: look at and steer the running daemon's queue.
//
// Every verb asks the daemon over the admin socket (admin_server.h); none opens
// the RocksDB queue, which belongs to the daemon while it runs.
#pragma once

#include <string>
#include <vector>

#include "conf/config.h"

namespace hato::cli {

// `args` are the words after `queue`, e.g. {"ls", "--json", "--limit", "10"};
// `-c FILE` has already been consumed to load `config`. Returns the exit
// status of INTERFACE.md: 0 done, 1 failed or not found, 2 usage, 3 no daemon.
int queue_command(const std::vector<std::string>& args, const hato::conf::Config& config);

}  // namespace hato::cli
