// config_inbound.cc - the checks inbound mail goes through: DNSBL zones, DMARC, content
// scanners, and the per-client limits.
#include "conf/config_builder.h"

#include <algorithm>
#include <charconv>

#include "common/strings.h"

namespace hato::conf::detail {

// read_inbound - where local mail lands and the checks inbound mail goes through.
void Builder::read_inbound(const Value& v) {
  MapReader m(reader_, v, keys::kInbound, keys::kInboundIgnored);
  if (auto* r = m.get("maildir_root")) {
    if (auto path = reader_.non_empty_string(*r)) config_.inbound.maildir_root = *path;
  }
  if (auto* d = m.get("dnsbl")) read_dnsbl(*d);
  if (auto* d = m.get("dmarc")) {
    auto mode = reader_.choice<DmarcMode>(*d, {{"enforce", DmarcMode::kEnforce},
                                               {"report", DmarcMode::kReport},
                                               {"off", DmarcMode::kOff}});
    if (mode) config_.inbound.dmarc = *mode;
  }
  if (auto* d = m.get("scanners")) read_scanners(*d);
  if (auto* d = m.get("limits")) read_inbound_limits(*d);
}

// read_scanners - {rspamd: {url, timeout, on_failure}, clamav: {address, timeout, on_failure}}.
void Builder::read_scanners(const Value& v) {
  MapReader m(reader_, v, keys::kScanners);
  if (auto* r = m.get("rspamd")) config_.inbound.scanners.rspamd = read_scanner(*r, true);
  if (auto* c = m.get("clamav")) config_.inbound.scanners.clamav = read_scanner(*c, false);
}

// read_scanner - rspamd is reached by a url "http://127.0.0.1:11333" (a numeric address:
// no DNS on this path), clamd by "127.0.0.1:3310" or a Unix socket path.
std::optional<Scanner> Builder::read_scanner(const Value& v, bool http) {
  MapReader m(reader_, v, http ? std::span<const std::string_view>(keys::kRspamd) : keys::kClamav);
  if (!m.is_map()) return std::nullopt;
  Scanner scanner;
  bool ok = false;
  if (auto* a = m.require(http ? "url" : "address")) {
    if (auto text = reader_.non_empty_string(*a)) {
      std::string_view target = *text;
      if (http) {
        if (target.substr(0, 7) == "http://") {
          target.remove_prefix(7);
          if (!target.empty() && target.back() == '/') target.remove_suffix(1);
          if (target.substr(0, 10) == "localhost:") target = target.substr(9);
        } else {
          target = {};
        }
      }
      std::string host(target);
      if (http && !host.empty() && host.front() == ':') host = "127.0.0.1" + host;
      auto address =
          http ? SocketAddress::parse(host, 11333) : SocketAddress::parse_endpoint(host, 3310);
      if (target.empty()) {
        reader_.error(*a, "'" + *text + "' is not an http:// url with a numeric address");
      } else if (!address) {
        reader_.error(*a, address.message());
      } else {
        scanner.address = *address;
        ok = true;
      }
    }
  }
  if (auto* t = m.get("timeout")) {
    if (auto duration = reader_.duration(*t)) scanner.timeout = *duration;
  }
  if (auto* f = m.get("on_failure")) {
    auto accept = reader_.choice<bool>(*f, {{"tempfail", false}, {"accept", true}});
    if (accept) scanner.accept_on_failure = *accept;
  }
  if (!ok) return std::nullopt;
  return scanner;
}

// read_inbound_limits - {connections_per_client, messages_per_client: "60/m",
// error_slowdown: {after, delay, max_delay, disconnect_after, forget}}.
void Builder::read_inbound_limits(const Value& v) {
  MapReader m(reader_, v, keys::kInboundLimits);
  InboundLimits& limits = config_.inbound.limits;
  if (auto* n = m.get("connections_per_client")) {
    if (auto count = reader_.number(*n, 1, kMaxU32))
      limits.connections_per_client = static_cast<uint32_t>(*count);
  }
  if (auto* r = m.get("messages_per_client")) {
    if (auto text = reader_.string(*r)) {
      auto rate = parse_rate(*text);
      double burst = 0;
      auto slash = text->find('/');
      if (rate) {
        // "60/m" allows 60 at once, then one a second: the count is the burst.
        auto head = text->substr(0, slash);
        auto [end, ec] = std::from_chars(head.data(), head.data() + head.size(), burst);
        if (ec != std::errc() || end != head.data() + head.size()) burst = 0;
      }
      if (!rate) {
        reader_.error(*r, rate.message());
      } else {
        limits.messages_per_second = *rate;
        limits.messages_burst = std::max(1.0, burst);
      }
    }
  }
  if (auto* e = m.get("error_slowdown")) {
    MapReader s(reader_, *e, keys::kErrorSlowdown);
    ErrorSlowdown& slow = limits.error_slowdown;
    if (auto* n = s.get("after")) {
      if (auto count = reader_.number(*n, 0, kMaxU32)) slow.after = static_cast<uint32_t>(*count);
    }
    if (auto* n = s.get("disconnect_after")) {
      if (auto count = reader_.number(*n, 1, kMaxU32))
        slow.disconnect_after = static_cast<uint32_t>(*count);
    }
    const std::pair<std::string_view, Duration*> durations[] = {
        {"delay", &slow.delay}, {"max_delay", &slow.max_delay}, {"forget", &slow.forget}};
    for (const auto& [key, field] : durations) {
      if (auto* d = s.get(key)) {
        if (auto duration = reader_.duration(*d)) *field = *duration;
      }
    }
    if (slow.max_delay < slow.delay) slow.max_delay = slow.delay;
  }
}

// read_dnsbl - [{zone, action}]; a zone named twice would be asked twice for nothing.
void Builder::read_dnsbl(const Value& v) {
  auto items = reader_.items(v);
  if (!items) return;
  std::map<std::string, Position> seen;
  for (const auto& item : *items) {
    MapReader m(reader_, item, keys::kDnsbl);
    if (!m.is_map()) continue;
    DnsblZone zone;
    if (auto* z = m.require("zone")) {
      if (auto name = reader_.non_empty_string(*z)) {
        std::string lower = ascii_lower(*name);
        if (!lower.empty() && lower.back() == '.') lower.pop_back();
        if (is_domain_name(lower)) {
          zone.zone = lower;
          check_unique(seen, lower, *z, "DNSBL zone");
        } else {
          reader_.error(*z, "'" + *name + "' is not a valid DNS zone");
        }
      }
    }
    if (auto* a = m.get("action")) {
      auto action = reader_.choice<DnsblAction>(
          *a, {{"reject", DnsblAction::kReject}, {"mark", DnsblAction::kMark}});
      if (action) zone.action = *action;
    }
    if (!zone.zone.empty()) config_.inbound.dnsbl.push_back(std::move(zone));
  }
}

}  // namespace hato::conf::detail
