// dns_cmd.h - `hato dns records` and `hato dns check`: what a domain must publish, and whether
// it does.
#pragma once

#include <string>
#include <vector>

#include "conf/config.h"

namespace hato::cli {

// `args` follow the word "dns":
//   records [--domain D]   zone-file lines for D (default: every configured domain)
//   check [--domain D]     looks each record up through dns.servers and prints ok / missing /
//                          wrong / failed per record, with the line to publish
// D must be a configured domain: its DKIM keys come from the configuration.
// Returns 0 done (check: everything ok), 1 something is not ok or a key is unreadable, 2 usage.
int dns_command(const std::vector<std::string>& args, const conf::Config& config);

// The MTA-STS policy file (RFC 8461 3.2) served for `d`, the one whose hash `dns records`
// publishes as the _mta-sts id.
std::string hosted_mta_sts_policy(const conf::Config& config, const conf::Domain& d);

}  // namespace hato::cli
