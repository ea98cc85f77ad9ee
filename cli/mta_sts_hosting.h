// mta_sts_hosting.h - what Hato answers at https://mta-sts.<domain>/.well-known/mta-sts.txt
// (RFC 8461 3.3) for each configured domain.
#pragma once

#include <string>

#include "cli/web_server.h"
#include "common/status.h"
#include "conf/config.h"

namespace hato::cli {

// The policy for a request to `host` (mta-sts.<configured domain>) and `path`; 404 otherwise.
WebReply mta_sts_reply(const conf::Config& config, const std::string& host,
                       const std::string& path);

// Every domain's policy read back as a sender would (policy/mta_sts); an error names the
// first domain whose policy would be refused (mode none with no mx is allowed).
[[nodiscard]] Status check_hosted_policies(const conf::Config& config);

}  // namespace hato::cli
