// limiter_providers.cc - what the configuration makes of the limiter: the providers (built-in
// and configured) with their limits and MX suffixes, which provider a destination is, and
// the reply rules observe_reply() applies.
#include <algorithm>
#include <array>

#include "common/strings.h"
#include "policy/limiter_impl.h"

namespace hato::policy {

namespace {

using limiter_detail::Limits;

// Built-in limits per egress address, deliberately below what the big receivers take
// from an established sender: a new address is better slow than deferred.
//   google     5 connections, 100 messages each, 20/s
//   microsoft  5 connections, 100 messages each, 10/s
//   yahoo      5 connections, 100 messages each,  5/s (answers bursts with TS01 quickly)
//   apple      5 connections, 100 messages each, 10/s
//   default   10 connections, 100 messages each, 10/s (every other destination)
struct BuiltinProvider {
  std::string_view name;
  std::array<std::string_view, 3> mx_suffix;  // empty ones unused
  Limits limits;
};
const BuiltinProvider kBuiltinProviderTable[] = {
    {"google", {"google.com", "googlemail.com", ""}, {5, 100, 20}},
    {"microsoft", {"outlook.com", "protection.outlook.com", "hotmail.com"}, {5, 100, 10}},
    {"yahoo", {"yahoodns.net", "yahoo.com", ""}, {5, 100, 5}},
    {"apple", {"icloud.com", "me.com", "apple.com"}, {5, 100, 10}},
};
constexpr Limits kDefaultLimits = {10, 100, 10};
constexpr std::string_view kDefaultProvider = "default";

// The receivers' own words for "you are sending too much": Gmail's 421 4.7.28 and its
// 4.7.0 rate / unusual-activity deferrals, Yahoo's TS01-TS04 temporary deferrals,
// Microsoft's S3150 block and 4.7.500 / 4.7.650 throttling. An hour is what their
// postmaster pages suggest waiting before trying again.
struct BuiltinRule {
  std::string_view regex;
  std::string_view provider;
};
const BuiltinRule kBuiltinRules[] = {
    {R"(4\.7\.28)", "google"},
    {R"(4\.7\.0 .*\b(rate|unusual)\b)", "google"},
    {R"(TS0[1-4])", "yahoo"},
    {R"(S3150|4\.7\.500|4\.7\.650)", "microsoft"},
};
constexpr int64_t kBuiltinSuspendMs = 60 * 60 * 1000;

// A host name as compared: lower case, no trailing dot.
std::string normal_host(std::string_view host) {
  while (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return ascii_lower(host);
}

// `host` is `suffix` or ends in "." + `suffix`: mx.google.com, not evilgoogle.com.
bool on_label_boundary(std::string_view host, std::string_view suffix) {
  if (!host.ends_with(suffix)) return false;
  return host.size() == suffix.size() || host[host.size() - suffix.size() - 1] == '.';
}

}  // namespace

Limiter::Impl::Impl(const conf::Config& config, StateStore& state_store)
    : state(state_store),
      keep_last(config.blacklist_monitor.keep_last_address),
      complaint_limits(config.shaping.complaints),
      complaint_rate(
          std::chrono::duration_cast<std::chrono::milliseconds>(config.shaping.complaints.window)
              .count()) {
  // Limits: built-in, then shaping.default over the default, then each configured provider
  // over its built-in values (or over the default, for a new one).
  Limits fallback = kDefaultLimits;
  const conf::Provider& d = config.shaping.defaults;
  if (d.connections) fallback.connections = d.connections;
  if (d.messages_per_connection) fallback.messages_per_connection = d.messages_per_connection;
  if (d.rate_per_second > 0) fallback.rate_per_second = d.rate_per_second;
  limits.emplace(kDefaultProvider, fallback);
  for (const auto& b : kBuiltinProviderTable) {
    limits.emplace(b.name, b.limits);
    provider_names.emplace_back(b.name);
    bool overridden = std::any_of(
        config.shaping.providers.begin(), config.shaping.providers.end(),
        [&](const conf::Provider& p) { return p.name == b.name && !p.mx_suffix.empty(); });
    if (overridden) continue;  // a configured mx_suffix replaces the built-in list
    for (auto suffix : b.mx_suffix) {
      if (!suffix.empty()) suffixes.push_back({std::string(suffix), std::string(b.name), false});
    }
  }
  for (const auto& p : config.shaping.providers) {
    auto [it, added] = limits.emplace(p.name, fallback);
    if (added) provider_names.push_back(p.name);
    Limits& l = it->second;
    if (p.connections) l.connections = p.connections;
    if (p.messages_per_connection) l.messages_per_connection = p.messages_per_connection;
    if (p.rate_per_second > 0) l.rate_per_second = p.rate_per_second;
    for (const auto& suffix : p.mx_suffix) suffixes.push_back({suffix, p.name, true});
  }
  provider_names.emplace_back(kDefaultProvider);

  // The configuration's rules first, so that it can change what a built-in one would do.
  // Both were compiled once before, by conf::load(); these cannot throw for them.
  constexpr auto kFlags = std::regex::ECMAScript | std::regex::icase | std::regex::optimize;
  for (const auto& r : config.shaping.suspend_on) {
    rules.push_back({std::regex(r.reply_regex, kFlags), r.provider,
                     static_cast<int64_t>(r.for_.count()), r.rate_per_second});
  }
  for (const auto& r : kBuiltinRules) {
    rules.push_back(
        {std::regex(std::string(r.regex), kFlags), std::string(r.provider), kBuiltinSuspendMs, 0});
  }

  for (const auto& c : config.egress) {
    Egress e;
    e.config = c;
    e.ip = c.address.ip();
    egress.push_back(std::move(e));
  }
}

const Limits& Limiter::Impl::limits_of(std::string_view provider) const {
  auto it = limits.find(provider);
  if (it == limits.end()) it = limits.find(kDefaultProvider);
  return it->second;
}

// provider_for - the first MX host with a known suffix decides; of several suffixes that
// fit one host the longest does, so a configured "mail.protection.outlook.com" provider
// can take that part of Microsoft.
std::string Limiter::provider_for(const std::vector<std::string>& mx_hosts) const {
  for (const auto& raw : mx_hosts) {
    std::string host = normal_host(raw);
    const Impl::SuffixEntry* best = nullptr;
    for (const auto& entry : impl_->suffixes) {
      if (!on_label_boundary(host, entry.suffix)) continue;
      if (!best || entry.suffix.size() > best->suffix.size() ||
          (entry.suffix.size() == best->suffix.size() && entry.configured && !best->configured)) {
        best = &entry;
      }
    }
    if (best) return best->provider;
  }
  return std::string(kDefaultProvider);
}

uint32_t Limiter::connections_per_address(const std::string& provider) const {
  return impl_->connections_of(provider);
}

uint32_t Limiter::messages_per_connection(const std::string& provider) const {
  return impl_->limits_of(provider).messages_per_connection;
}

}  // namespace hato::policy
