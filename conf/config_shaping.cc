// config_shaping.cc - the source addresses mail leaves from (egress, warm-up) and the
// per-provider shaping: connection and rate limits, replies that suspend a provider.
#include "conf/config_builder.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/strings.h"

namespace hato::conf::detail {

namespace {

// is_provider_name - a word fit for metric labels and state keys.
bool is_provider_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) ||
           std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

bool is_builtin_provider(std::string_view name) {
  return std::find(std::begin(kBuiltinProviders), std::end(kBuiltinProviders), name) !=
         std::end(kBuiltinProviders);
}

}  // namespace

// read_egress - [{address, helo, weight, warmup}]. An address twice would get two shares
// of the connections and two warm-up allowances under one reputation.
void Builder::read_egress(const Value& v) {
  auto items = reader_.items(v);
  if (!items) return;
  for (const auto& item : *items) {
    MapReader m(reader_, item, keys::kEgress);
    if (!m.is_map()) continue;
    Egress egress;
    if (auto* a = m.require("address")) {
      if (auto address = reader_.address(*a, 0)) {
        if (address->port() != 0) {
          reader_.error(*a, "a source address takes no port");
        } else {
          egress.address = *address;
          check_unique(egress_addresses_, address->ip(), *a, "egress address");
        }
      }
    }
    if (auto* h = m.get("helo")) {
      if (auto helo = reader_.non_empty_string(*h)) {
        if (is_domain_name(*helo)) {
          egress.helo = *helo;
        } else {
          reader_.error(*h, "'" + *helo + "' is not a valid host name");
        }
      }
    }
    if (auto* w = m.get("weight")) {
      if (auto weight = reader_.number(*w, 1, 1000000))
        egress.weight = static_cast<uint32_t>(*weight);
    }
    if (auto* w = m.get("warmup")) read_warmup(*w, &egress);
    config_.egress.push_back(std::move(egress));
  }
}

// read_warmup - {start, daily, per_provider}; without daily, the built-in curve.
void Builder::read_warmup(const Value& v, Egress* egress) {
  MapReader m(reader_, v, keys::kWarmup);
  if (!m.is_map()) return;
  Warmup warmup;
  if (auto* s = m.require("start")) {
    if (auto text = reader_.string(*s)) {
      auto day = parse_date(*text);
      if (day) {
        warmup.start_day = *day;
      } else {
        reader_.error(*s, day.message());
      }
    }
  }
  if (auto* d = m.get("daily")) {
    if (auto items = reader_.items(*d)) {
      // An empty list would read as "no schedule" while saying "a schedule of nothing".
      if (items->empty())
        reader_.error(*d, "must not be empty (leave it out for the built-in schedule)");
      for (const auto& item : *items) {
        if (auto count = reader_.number(item, 1, kMaxU32)) warmup.daily.push_back(*count);
      }
    }
  }
  if (auto* p = m.get("per_provider")) {
    if (auto on = reader_.choice<bool>(*p, {{"true", true}, {"false", false}})) {
      warmup.per_provider = *on;
    }
  }
  egress->warmup = std::move(warmup);
}

// read_shaping - {providers, suspend_on, default}. Providers first whatever the order in
// the file: suspension rules name them.
void Builder::read_shaping(const Value& v) {
  MapReader m(reader_, v, keys::kShaping);
  if (!m.is_map()) return;
  if (auto* c = m.get("complaints")) read_complaint_limits(*c);
  if (auto* p = m.get("providers")) {
    if (auto items = reader_.items(*p)) {
      for (const auto& item : *items) read_provider(item);
    }
  }
  if (auto* s = m.get("suspend_on")) {
    if (auto items = reader_.items(*s)) {
      for (const auto& item : *items) read_suspend_rule(item);
    }
  }
  if (auto* d = m.get("default")) {
    MapReader limits(reader_, *d, keys::kShapingDefault);
    if (limits.is_map()) read_shaping_limits(limits, &config_.shaping.defaults);
  }
}

// read_provider - {name, mx_suffix, connections, messages_per_connection, rate}. A built-in
// provider named here keeps what is not given; a new one needs its MX suffixes.
void Builder::read_provider(const Value& v) {
  MapReader m(reader_, v, keys::kProvider);
  if (!m.is_map()) return;
  Provider provider;
  if (auto* n = m.require("name")) {
    if (auto name = reader_.non_empty_string(*n)) {
      std::string lower = ascii_lower(*name);
      if (lower == "default") {
        reader_.error(*n,
                      "'default' stands for every other destination; set its limits in "
                      "shaping.default");
      } else if (!is_provider_name(lower)) {
        reader_.error(*n,
                      "'" + *name + "' is not a valid provider name (letters, digits, - and _)");
      } else {
        provider.name = lower;
        check_unique(provider_names_, lower, *n, "provider");
      }
    }
  }
  if (auto* s = m.get("mx_suffix")) {
    if (auto items = reader_.items(*s)) {
      for (const auto& item : *items) {
        auto text = reader_.non_empty_string(item);
        if (!text) continue;
        std::string suffix = ascii_lower(*text);
        // ".google.com" and "google.com." mean the same suffix.
        while (!suffix.empty() && suffix.front() == '.') suffix.erase(0, 1);
        while (!suffix.empty() && suffix.back() == '.') suffix.pop_back();
        if (!is_domain_name(suffix)) {
          reader_.error(item, "'" + *text + "' is not a valid domain name");
          continue;
        }
        check_unique(mx_suffixes_, suffix, item, "mx_suffix");
        provider.mx_suffix.push_back(std::move(suffix));
      }
    }
  } else if (!provider.name.empty() && !is_builtin_provider(provider.name)) {
    reader_.error(v, "missing required key 'mx_suffix' ('" + provider.name +
                         "' is not built in like google, microsoft, yahoo and apple)");
  }
  read_shaping_limits(m, &provider);
  if (!provider.name.empty()) config_.shaping.providers.push_back(std::move(provider));
}

void Builder::read_shaping_limits(const MapReader& m, Provider* provider) {
  if (auto* c = m.get("connections")) {
    if (auto n = reader_.number(*c, 1, kMaxU32)) provider->connections = static_cast<uint32_t>(*n);
  }
  if (auto* c = m.get("messages_per_connection")) {
    if (auto n = reader_.number(*c, 1, kMaxU32))
      provider->messages_per_connection = static_cast<uint32_t>(*n);
  }
  if (auto* r = m.get("rate")) {
    if (auto text = reader_.string(*r)) {
      auto rate = parse_rate(*text);
      if (rate) {
        provider->rate_per_second = *rate;
      } else {
        reader_.error(*r, rate.message());
      }
    }
  }
}

// read_percent - "0.3%" as 0.003; from 0% to 100%.
std::optional<double> Builder::read_percent(const Value& v) {
  auto text = reader_.string(v);
  if (!text) return std::nullopt;
  std::string_view t = *text;
  double value = 0;
  if (t.ends_with('%')) {
    t.remove_suffix(1);
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    if (ec == std::errc() && end == t.data() + t.size() && value >= 0 && value <= 100)
      return value / 100;
  }
  reader_.error(v, "'" + *text + "' is not a percentage from 0% to 100% (like 0.3%)");
  return std::nullopt;
}

// read_complaint_limits - {window, min_delivered, slow_above, slow_rate, suspend_above, for}.
void Builder::read_complaint_limits(const Value& v) {
  MapReader m(reader_, v, keys::kShapingComplaints);
  if (!m.is_map()) return;
  ComplaintLimits& c = config_.shaping.complaints;
  if (auto* w = m.get("window")) {
    if (auto d = reader_.duration(*w)) c.window = *d;
  }
  if (auto* n = m.get("min_delivered")) {
    if (auto count = reader_.number(*n, 1, kMaxU32)) c.min_delivered = *count;
  }
  if (auto* p = m.get("slow_above")) {
    if (auto percent = read_percent(*p)) c.slow_above = *percent;
  }
  if (auto* p = m.get("suspend_above")) {
    if (auto percent = read_percent(*p)) c.suspend_above = *percent;
  }
  if (auto* r = m.get("slow_rate")) {
    if (auto text = reader_.string(*r)) {
      auto rate = parse_rate(*text);
      if (rate) {
        c.slow_rate = *rate;
      } else {
        reader_.error(*r, rate.message());
      }
    }
  }
  if (auto* f = m.get("for")) {
    if (auto d = reader_.duration(*f)) c.for_ = *d;
  }
}

// read_suspend_rule - {reply, provider, for, rate}. The expression is compiled here as
// the limiter will, so a bad one shows in `hato config check` rather than at start.
void Builder::read_suspend_rule(const Value& v) {
  MapReader m(reader_, v, keys::kSuspendRule);
  if (!m.is_map()) return;
  SuspendRule rule;
  if (auto* r = m.require("reply")) {
    if (auto text = read_reply_regex(*r)) rule.reply_regex = *text;
  }
  if (auto* p = m.get("provider")) {
    if (auto name = reader_.non_empty_string(*p)) {
      std::string lower = ascii_lower(*name);
      std::vector<std::string_view> known(std::begin(kBuiltinProviders),
                                          std::end(kBuiltinProviders));
      known.push_back("default");
      for (const auto& [configured, at] : provider_names_) known.push_back(configured);
      if (std::find(known.begin(), known.end(), lower) == known.end()) {
        std::string message = "unknown provider '" + *name + "'";
        std::string suggestion = closest_match(lower, known);
        if (!suggestion.empty()) message += ", did you mean '" + suggestion + "'?";
        reader_.error(*p, message);
      } else {
        rule.provider = lower;
      }
    }
  }
  if (auto* f = m.get("for")) {
    if (auto duration = reader_.duration(*f)) rule.for_ = *duration;
  }
  if (auto* r = m.get("rate")) {
    if (auto text = reader_.string(*r)) {
      auto rate = parse_rate(*text);
      if (rate) {
        rule.rate_per_second = *rate;
      } else {
        reader_.error(*r, rate.message());
      }
    }
  }
  config_.shaping.suspend_on.push_back(std::move(rule));
}

}  // namespace hato::conf::detail
