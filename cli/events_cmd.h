// events_cmd.h - `hato events status [--json]`: the running daemon's webhooks, each with its
// backlog and its last success and failure, and the outbox's size and losses.
//
// Asks GET /v1/events/status on the admin socket (admin_server.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "conf/config.h"

namespace hato::cli {

// `args` are the words after `events`. Returns the exit status of INTERFACE.md: 0 done,
// 1 failed, 2 usage, 3 no daemon.
int events_command(const std::vector<std::string>& args, const hato::conf::Config& config);

// The human form of /v1/events/status's JSON lines.
Result<std::string> events_table(std::string_view json_lines);

}  // namespace hato::cli
