// mta_sts_hosting.cc - the policy text comes from hosted_mta_sts_policy(), the same text
// whose hash `hato dns records` publishes as the id, so the two cannot drift apart.
#include "cli/mta_sts_hosting.h"

#include "cli/dns_cmd.h"
#include "policy/mta_sts.h"

namespace hato::cli {

WebReply mta_sts_reply(const conf::Config& config, const std::string& host,
                       const std::string& path) {
  constexpr std::string_view kPrefix = "mta-sts.";
  if (path != "/.well-known/mta-sts.txt" || !host.starts_with(kPrefix)) return {};
  const conf::Domain* domain = config.find_domain(host.substr(kPrefix.size()));
  if (!domain) return {};
  // RFC 8461 3.3: served as text/plain.
  return {200, "text/plain; charset=utf-8", hosted_mta_sts_policy(config, *domain)};
}

Status check_hosted_policies(const conf::Config& config) {
  for (const auto& d : config.domains) {
    auto parsed = policy::mta_sts::parse_policy(hosted_mta_sts_policy(config, d));
    if (!parsed) return Status::error("MTA-STS policy for " + d.name + ": " + parsed.message());
  }
  return Status::ok();
}

}  // namespace hato::cli
