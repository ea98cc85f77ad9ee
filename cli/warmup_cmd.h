// warmup_cmd.h - `hato warmup status [--json]`: the running daemon's egress addresses,
// each with its warm-up day, today's allowance, what it sent today and its suspensions.
//
// Asks GET /v1/warmup on the admin socket (admin_server.h); the state lives in the
// daemon's store, which the daemon owns while it runs.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "conf/config.h"

namespace hato::cli {

// `args` are the words after `warmup`, e.g. {"status", "--json"}. Returns the exit
// status of INTERFACE.md: 0 done, 1 failed, 2 usage, 3 no daemon.
int warmup_command(const std::vector<std::string>& args, const hato::conf::Config& config);

// The human form of /v1/warmup's JSON lines: a table, then one line per suspension
// or slowdown; an error for an answer that is not such lines.
Result<std::string> warmup_table(std::string_view json_lines);

}  // namespace hato::cli
