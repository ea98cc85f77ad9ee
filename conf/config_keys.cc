// config_keys.cc - the list of the key tables (config_keys.h).
#include "conf/config_keys.h"

namespace hato::conf {

namespace {

using namespace keys;

// A map missing here is a map whose keys `hato config keys` would not print: the
// hato.yaml(5) test then cannot see them, and an unit test checks every table is listed.
const KeyTable kTables[] = {
    {"", kTop},
    {"auth", kAuth},
    {"admin", kAdmin},
    {"log", kLog},
    {"tls", kTls},
    {"tls.acme", kAcme},
    {"tls.additional[]", kTlsPair},
    {"mta_sts", kMtaSts},
    {"listeners[]", kListener},
    {"limits", kLimits},
    {"limits.users.default", kUserQuotas},
    {"limits.brake", kBrake},
    {"domains[]", kDomain},
    {"domains[].dkim[]", kDkimKey},
    {"dns", kDns},
    {"delivery", kDelivery},
    {"delivery.smarthost", kSmarthost},
    {"delivery.retry", kRetry},
    {"inbound", kInbound, kInboundIgnored},
    {"inbound.dnsbl[]", kDnsbl},
    {"inbound.scanners", kScanners},
    {"inbound.scanners.rspamd", kRspamd},
    {"inbound.scanners.clamav", kClamav},
    {"inbound.limits", kInboundLimits},
    {"inbound.limits.error_slowdown", kErrorSlowdown},
    {"egress[]", kEgress},
    {"egress[].warmup", kWarmup},
    {"shaping", kShaping},
    {"shaping.complaints", kShapingComplaints},
    {"shaping.default", kShapingDefault},
    {"shaping.providers[]", kProvider},
    {"shaping.suspend_on[]", kSuspendRule},
    {"blacklist_monitor", kBlacklistMonitor},
    {"cluster", kCluster},
    {"bounces", kBounces},
    {"bounces.rules[]", kBounceRule},
    {"suppression", kSuppression},
    {"complaints", kComplaints},
    {"dmarc_reports", kDmarcReports},
    {"events", kEvents},
    {"events.webhooks[]", kWebhook},
};

}  // namespace

std::span<const KeyTable> key_tables() {
  return kTables;
}

std::vector<std::string> accepted_keys() {
  std::vector<std::string> out;
  for (const auto& table : kTables) {
    std::string prefix = table.path.empty() ? "" : std::string(table.path) + ".";
    for (auto key : table.keys) out.push_back(prefix + std::string(key));
    for (auto key : table.ignored) out.push_back(prefix + std::string(key));
  }
  return out;
}

}  // namespace hato::conf
