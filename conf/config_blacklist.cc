// config_blacklist.cc - blacklist monitoring: how often the egress addresses and domains
// are looked up in which zones, and whom to tell.
#include "conf/config_builder.h"

#include <chrono>

#include "common/strings.h"

namespace hato::conf::detail {

// read_blacklist_monitor - {interval, zones, domain_zones, webhook, clean_checks,
// keep_last_address, notify}.
void Builder::read_blacklist_monitor(const Value& v) {
  MapReader m(reader_, v, keys::kBlacklistMonitor);
  if (!m.is_map()) return;
  BlacklistMonitor& b = config_.blacklist_monitor;
  b.enabled = true;
  if (auto* i = m.get("interval")) {
    if (auto duration = reader_.duration(*i)) {
      // Lists answer a query a second at most from one resolver; shorter is for tests.
      if (*duration < std::chrono::seconds(1)) {
        reader_.error(*i, "must be at least 1s");
      } else {
        b.interval = *duration;
      }
    }
  }
  if (auto* z = m.get("zones")) b.zones = read_zones(*z);
  if (auto* z = m.get("domain_zones")) b.domain_zones = read_zones(*z);
  if (auto* w = m.get("webhook")) {
    if (auto text = reader_.non_empty_string(*w)) {
      auto url = parse_url(*text);
      if (url) {
        b.webhook = *text;
        b.webhook_url = *url;
      } else {
        reader_.error(*w, url.message());
      }
    }
  }
  if (auto* c = m.get("clean_checks")) {
    if (auto n = reader_.number(*c, 1, 1000)) b.clean_checks = static_cast<uint32_t>(*n);
  }
  if (auto* k = m.get("keep_last_address")) {
    if (auto on = reader_.choice<bool>(*k, {{"true", true}, {"false", false}}))
      b.keep_last_address = *on;
  }
  if (auto* n = m.get("notify")) {
    if (auto address = read_sender(*n)) {
      if (address->front() == '@') {
        reader_.error(*n, "expected an address 'user@domain'");
      } else {
        b.notify = *address;
      }
    }
  }
}

// read_zones - DNS zone names, lower case without the trailing dot, each once.
std::vector<std::string> Builder::read_zones(const Value& v) {
  std::vector<std::string> out;
  auto items = reader_.items(v);
  if (!items) return out;
  std::map<std::string, Position> seen;
  for (const auto& item : *items) {
    auto name = reader_.non_empty_string(item);
    if (!name) continue;
    std::string lower = ascii_lower(*name);
    if (!lower.empty() && lower.back() == '.') lower.pop_back();
    if (!is_domain_name(lower)) {
      reader_.error(item, "'" + *name + "' is not a valid DNS zone");
      continue;
    }
    check_unique(seen, lower, item, "zone");
    out.push_back(std::move(lower));
  }
  return out;
}

}  // namespace hato::conf::detail
