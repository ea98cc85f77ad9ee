// dmarc_cmd.h - `hato dmarc summary [--domain D] [--days N] [--json]`: the DMARC aggregate
// reports the running daemon received (relay/dmarc_reports.h) over the admin API
// (GET /v1/dmarc, admin_server.h). --json prints the daemon's lines as they come, one per
// domain and source; the table is for people.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "conf/config.h"

namespace hato::cli {

// `args` are the words after `dmarc`. Exit status of INTERFACE.md: 0 done, 1 failed,
// 2 usage, 3 no daemon.
int dmarc_command(const std::vector<std::string>& args, const conf::Config& config);

// The human form of the summary lines; an error for an answer that is not such lines.
Result<std::string> dmarc_table(std::string_view json_lines);

}  // namespace hato::cli
