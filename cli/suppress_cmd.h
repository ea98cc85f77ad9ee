// suppress_cmd.h - `hato suppress ls|add|remove|import|export`: the running daemon's
// suppression list (policy/suppression.h) over the admin API (/v1/suppress, admin_server.h).
//
// export writes CSV to stdout with the header `address,domain,reason,source,first_seen,
// expires`; import reads such a file, checks every line first and adds nothing if one is
// wrong, then adds each entry as it stands (its source, times and domain kept).
#pragma once

#include <string>
#include <vector>

#include "conf/config.h"

namespace hato::cli {

// `args` are the words after `suppress`. Exit status of INTERFACE.md: 0 done, 1 failed
// (remove: not suppressed), 2 usage (and a bad CSV line), 3 no daemon.
int suppress_command(const std::vector<std::string>& args, const conf::Config& config);

}  // namespace hato::cli
