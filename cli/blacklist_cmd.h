// blacklist_cmd.h - `hato blacklist status [--json]` and `hato blacklist check [--json]`:
// the running daemon's view of its egress addresses and domains on DNS blocklists.
//
// status asks GET /v1/blacklist, check POST /v1/blacklist/check, which runs every lookup
// now and answers when they are done (admin_server.h). The lines are documented at
// policy::BlacklistMonitor::status_json().
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "conf/config.h"

namespace hato::cli {

// `args` are the words after `blacklist`. Exit status of INTERFACE.md: 0 done (for check:
// and nothing is listed), 1 failed (for check: something is listed), 2 usage, 3 no daemon.
int blacklist_command(const std::vector<std::string>& args, const hato::conf::Config& config);

// The human form of the status lines: a table of lists, then reverse DNS; an error for an
// answer that is not such lines. *listed (if given) says whether anything is listed.
Result<std::string> blacklist_table(std::string_view json_lines, bool* listed = nullptr);

}  // namespace hato::cli
