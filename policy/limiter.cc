// limiter.cc - egress choice, provider shaping, warm-up allowances and suspensions.
//
// In memory, per egress address x provider: connections open, a token bucket and any
// suspension or slowdown. What must survive a restart is written through to the
// StateStore at once and read back lazily, the first time a pair or a day is touched, under
// queue/state_keys.h's keys: warm-up counters (one per UTC day, and per provider with
// warmup.per_provider), suspensions and slowdowns.
// A message counts against the warm-up when take() allows it, whatever the server then
// answers: receivers judge a new address by the volume it presents, accepted or not.
#include "policy/limiter.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <regex>

#include "common/log.h"
#include "common/metrics.h"
#include "common/strings.h"
#include "policy/blacklist.h"
#include "policy/client_limits.h"
#include "policy/weighted_pick.h"
#include "queue/state_keys.h"

namespace hato::policy {

namespace {

constexpr int64_t kDayMs = 24 * 60 * 60 * 1000;
// When every address has all its connections to a provider open, a slot frees when one
// closes; this is only the hint for when to ask again.
constexpr int64_t kBusyRetryMs = 1000;
// Replies are matched on at most this much text: libstdc++'s regex engine recurses per
// character and real throttling replies say what they mean early.
constexpr size_t kMaxReplyMatched = 512;
constexpr size_t kMaxReasonBytes = 200;
// Mail with no address left in the rotation (keep_last_address: false) asks again after this;
// the monitor puts an address back only at its next check.
constexpr int64_t kOutOfRotationRetryMs = 60 * 1000;
// Cluster (issue 12): a lease of allowance is a round trip to redis away, less than a
// connection's greeting, so choose() lets the connection open and take() waits on it (the
// engine keeps a connection for waits this short); a spent cluster allowance may come
// back when another node returns an unused lease.
constexpr int64_t kLeaseRetryMs = 5;
constexpr int64_t kClusterSpentRetryMs = 10 * 1000;
constexpr int64_t kOfflineRetryMs = 5 * 1000;
// A connection slot is a round trip to redis away too, but nothing is open yet to wait on:
// the mail asks again this much later (a loopback or LAN round trip).
constexpr int64_t kSlotAskRetryMs = 2;

struct Limits {
  uint32_t connections;
  uint32_t messages_per_connection;
  double rate_per_second;
};

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

// The built-in warm-up curve: roughly doubling each day from 50, as the large receivers'
// sender guidelines advise, then no limit from day 13 on.
constexpr uint64_t kDefaultCurve[] = {50,   100,  200,   400,   800,   1500,
                                      3000, 6000, 12000, 25000, 50000, 100000};

// UTC day number of a time (floor division: correct before 1970 too).
int64_t day_of(int64_t ms) {
  return ms >= 0 ? ms / kDayMs : -((-ms + kDayMs - 1) / kDayMs);
}

int64_t next_midnight(int64_t ms) {
  return (day_of(ms) + 1) * kDayMs;
}

std::string date_text(int64_t day) {
  std::chrono::year_month_day date{std::chrono::sys_days(std::chrono::days(day))};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
  return buf;
}

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

// The first line of a reply, short and without control characters: it ends up in logs,
// the state store and terminals.
std::string reason_of(std::string_view reply) {
  std::string out;
  for (char c : reply) {
    if (c == '\r' || c == '\n' || out.size() >= kMaxReasonBytes) break;
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
  }
  return out;
}

// "20/s", "100/m", "3600/h", or messages per second when the rate is none of those.
std::string rate_text(double per_second) {
  auto whole = [](double v) { return v >= 1 && std::abs(v - std::round(v)) < 1e-6; };
  if (whole(per_second)) return std::to_string(std::llround(per_second)) + "/s";
  if (whole(per_second * 60)) return std::to_string(std::llround(per_second * 60)) + "/m";
  if (whole(per_second * 3600)) return std::to_string(std::llround(per_second * 3600)) + "/h";
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof buf, per_second).ptr;
  return std::string(buf, end) + "/s";
}

void append_number(std::string& out, double v) {
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  out.append(buf, end);
}

// The number `text` starts with, consumed with one space after it; nullopt without one.
template <typename T>
std::optional<T> take_number(std::string_view* text) {
  T value{};
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc()) return std::nullopt;
  text->remove_prefix(static_cast<size_t>(ptr - text->data()));
  if (!text->empty() && text->front() == ' ') text->remove_prefix(1);
  return value;
}

}  // namespace

struct Limiter::Impl {
  struct Rule {
    std::regex regex;
    std::string provider;  // empty: any
    int64_t for_ms;
    double rate_per_second;  // 0: suspend
  };

  struct SuffixEntry {
    std::string suffix;
    std::string provider;
    bool configured;  // wins a tie with a built-in suffix of the same length
  };

  // One egress address x one provider.
  struct Pair {
    uint32_t open = 0;
    TokenBucket bucket;
    int64_t suspended_until = 0;  // 0: not suspended
    std::string suspend_reason;
    int64_t slow_until = 0;  // 0: not slowed down
    double slow_rate = 0;
    std::string slow_reason;
    int64_t credit = 0;  // pick()'s smooth weighted round robin, per provider
    // Read by the metrics thread through the hato_egress_suspended gauge, which outlives
    // this limiter when the configuration is reloaded.
    std::shared_ptr<std::atomic<int64_t>> gauge_until;
  };

  struct Egress {
    conf::Egress config;
    std::string ip;
    std::map<std::string, Pair, std::less<>> pairs;
    int64_t day = std::numeric_limits<int64_t>::min();  // the day the counts are of
    uint64_t sent = 0;
    std::map<std::string, uint64_t, std::less<>> sent_to;  // per provider, loaded ones
    std::optional<std::string> out_of_rotation;            // why, while blacklisted
    std::optional<std::string> own_out;                    // this node's monitor holds it
    int64_t own_since = 0;                                 // since when (published to the cluster)
    std::optional<std::string> cluster_out;                // another node holds it
    bool out_by_cluster = false;                           // out because of cluster_out alone
  };

  Impl(const conf::Config& config, StateStore& state);

  const Limits& limits_of(std::string_view provider) const;
  Egress* egress_at(size_t index, int64_t now_ms, Wait* wait);
  Pair& pair(Egress& e, std::string_view provider);
  bool suspended(Egress& e, std::string_view provider, Pair& p, int64_t now_ms);
  double rate(Egress& e, std::string_view provider, Pair& p, int64_t now_ms);
  void watch(Egress& e, std::string_view provider, Pair& p);

  // Why `e` may not send to `provider` now (out of rotation, suspended, today's allowance
  // spent), or nullopt; connection limits are not its concern.
  std::optional<Wait> blocked(Egress& e, std::string_view provider, int64_t now_ms);

  void roll_day(Egress& e, int64_t now_ms);
  uint64_t& sent_to(Egress& e, std::string_view provider);
  uint64_t load_count(const std::string& key);
  std::string count_key(const Egress& e, std::string_view provider) const;
  int64_t warmup_day(const Egress& e, int64_t now_ms) const;
  std::optional<uint64_t> allowance(const Egress& e, int64_t now_ms) const;
  // The refusal when today's allowance to `provider` is spent, else nullopt.
  // `connecting`: choose() asks, and an answer still on its way from the cluster is a yes.
  std::optional<Wait> warmup_refusal(Egress& e, std::string_view provider, int64_t now_ms,
                                     bool connecting = false);

  void suspend(Egress& e, std::string_view provider, Pair& p, const Rule& rule, std::string reason,
               int64_t now_ms);
  void slow_down(Egress& e, std::string_view provider, Pair& p, const Rule& rule,
                 std::string reason, int64_t now_ms);
  std::string suspension_text(const Egress& e, std::string_view provider, const Pair& p) const;

  // The warm-up counter a message to `provider` counts against (after roll_day()).
  std::string warmup_key(const Egress& e, std::string_view provider) const {
    return count_key(e, e.config.warmup && e.config.warmup->per_provider ? provider : "");
  }
  // The whole limit: a cluster backend hands out this node's part as slots.
  uint32_t connections_of(std::string_view provider) const {
    return limits_of(provider).connections;
  }
  void update_rotation();

  StateStore& state;
  EmbeddedShared embedded;
  SharedState* shared = &embedded;
  std::vector<Egress> egress;
  std::map<std::string, Limits, std::less<>> limits;  // by provider name, "default" too
  std::vector<std::string> provider_names;            // for status: every known provider
  std::vector<SuffixEntry> suffixes;
  std::vector<Rule> rules;
  std::mt19937_64 random{std::random_device{}()};
  std::vector<size_t> candidates;  // reused by choose()
  bool keep_last = true;           // blacklist_monitor.keep_last_address
};

Limiter::Impl::Impl(const conf::Config& config, StateStore& state_store)
    : state(state_store), keep_last(config.blacklist_monitor.keep_last_address) {
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

// egress_at - the egress address at `index`, or a refusal: an index from before a
// reload may point past the end.
Limiter::Impl::Egress* Limiter::Impl::egress_at(size_t index, int64_t now_ms, Wait* wait) {
  if (index < egress.size()) return &egress[index];
  if (wait) *wait = Wait{now_ms, "egress address " + std::to_string(index) + " is not configured"};
  return nullptr;
}

// pair - the state of one egress address x provider, with its persisted suspension
// and slowdown read the first time (whether they are over is for suspended() and rate()).
Limiter::Impl::Pair& Limiter::Impl::pair(Egress& e, std::string_view provider) {
  auto it = e.pairs.find(provider);
  if (it != e.pairs.end()) return it->second;
  Pair& p = e.pairs.emplace(std::string(provider), Pair{}).first->second;
  const std::string suspension = queue::state::suspension_key(e.ip, provider);
  const std::string slowdown = queue::state::slowdown_key(e.ip, provider);
  if (auto value = state.get(suspension)) {
    std::string_view rest = *value;
    auto until = take_number<int64_t>(&rest);
    if (until && *until > 0) {
      p.suspended_until = *until;
      p.suspend_reason = std::string(rest);
    } else {
      state.erase(suspension);  // unreadable
    }
  }
  if (auto value = state.get(slowdown)) {
    std::string_view rest = *value;
    auto until = take_number<int64_t>(&rest);
    auto rate = until ? take_number<double>(&rest) : std::nullopt;
    if (until && rate && *until > 0 && *rate > 0) {
      p.slow_until = *until;
      p.slow_rate = *rate;
      p.slow_reason = std::string(rest);
    } else {
      state.erase(slowdown);
    }
  }
  return p;
}

// suspended - whether the pair is suspended now; a suspension that has run out is
// forgotten here, which is all "lifting" takes.
bool Limiter::Impl::suspended(Egress& e, std::string_view provider, Pair& p, int64_t now_ms) {
  if (p.suspended_until > now_ms) {
    if (!p.gauge_until) watch(e, provider, p);  // one read back from the state store
    return true;
  }
  if (p.suspended_until != 0) {
    p.suspended_until = 0;
    p.suspend_reason.clear();
    state.erase(queue::state::suspension_key(e.ip, provider));
  }
  return false;
}

// rate - the pair's rate now: the provider's, or a slower one while a slowdown lasts.
double Limiter::Impl::rate(Egress& e, std::string_view provider, Pair& p, int64_t now_ms) {
  double r = limits_of(provider).rate_per_second;
  if (p.slow_until > now_ms) return std::min(r, p.slow_rate);
  if (p.slow_until != 0) {
    p.slow_until = 0;
    p.slow_reason.clear();
    state.erase(queue::state::slowdown_key(e.ip, provider));
  }
  return r;
}

// watch - a gauge that is 1 while the pair is suspended, computed when scraped so that
// it drops to 0 by itself when the suspension runs out.
void Limiter::Impl::watch(Egress& e, std::string_view provider, Pair& p) {
  if (!p.gauge_until) {
    p.gauge_until = std::make_shared<std::atomic<int64_t>>(0);
    std::shared_ptr<std::atomic<int64_t>> until = p.gauge_until;
    metrics().callback_gauge(
        "hato_egress_suspended", "1 while an egress address is suspended for a provider",
        [until] { return log::now_ms() < until->load(std::memory_order_relaxed) ? 1.0 : 0.0; },
        "egress=\"" + label_value(e.ip) + "\",provider=\"" + label_value(std::string(provider)) +
            "\"");
  }
  p.gauge_until->store(p.suspended_until, std::memory_order_relaxed);
}

// roll_day - makes the counts those of the day of `now_ms`, reading them from the state
// store (a restart keeps them) and dropping the previous day's keys.
void Limiter::Impl::roll_day(Egress& e, int64_t now_ms) {
  int64_t today = day_of(now_ms);
  if (e.day == today) return;
  if (e.day != std::numeric_limits<int64_t>::min() && e.day < today) {
    std::string date = date_text(e.day);
    state.erase(queue::state::warmup_key(e.ip, date));
    for (const auto& [provider, count] : e.sent_to)
      state.erase(queue::state::warmup_key(e.ip, date, provider));
  }
  e.day = today;
  e.sent_to.clear();
  e.sent = load_count(count_key(e, ""));
}

uint64_t& Limiter::Impl::sent_to(Egress& e, std::string_view provider) {
  auto it = e.sent_to.find(provider);
  if (it == e.sent_to.end()) {
    it = e.sent_to.emplace(std::string(provider), load_count(count_key(e, provider))).first;
  }
  return it->second;
}

uint64_t Limiter::Impl::load_count(const std::string& key) {
  auto value = state.get(key);
  if (!value) return 0;
  std::string_view text = *value;
  return take_number<uint64_t>(&text).value_or(0);
}

// count_key - the day's counter of `e`, or of `e` to one provider.
std::string Limiter::Impl::count_key(const Egress& e, std::string_view provider) const {
  return queue::state::warmup_key(e.ip, date_text(e.day), provider);
}

// warmup_day - 1 on the start date and before it, counting UTC days.
int64_t Limiter::Impl::warmup_day(const Egress& e, int64_t now_ms) const {
  return std::max<int64_t>(1, day_of(now_ms) - e.config.warmup->start_day + 1);
}

// allowance - today's messages (per provider with per_provider), or nullopt for no limit:
// without a warm-up, and once the schedule is over. Past its end the address is warm; a
// cap at the last day's number would throttle it for ever, and shaping still applies.
std::optional<uint64_t> Limiter::Impl::allowance(const Egress& e, int64_t now_ms) const {
  if (!e.config.warmup) return std::nullopt;
  const auto& daily = e.config.warmup->daily;
  auto day = static_cast<uint64_t>(warmup_day(e, now_ms));
  if (daily.empty()) {
    if (day > std::size(kDefaultCurve)) return std::nullopt;
    return kDefaultCurve[day - 1];
  }
  if (day > daily.size()) return std::nullopt;
  return daily[day - 1];
}

std::optional<Wait> Limiter::Impl::warmup_refusal(Egress& e, std::string_view provider,
                                                  int64_t now_ms, bool connecting) {
  std::optional<uint64_t> allowed = allowance(e, now_ms);
  if (!allowed) return std::nullopt;
  roll_day(e, now_ms);
  bool per_provider = e.config.warmup->per_provider;
  uint64_t used = per_provider ? sent_to(e, provider) : e.sent;
  if (used < *allowed) {
    using A = SharedState::Allowance;
    std::string key = warmup_key(e, provider);
    switch (shared->allowance(key, *allowed, next_midnight(now_ms))) {
      case A::kYes:
        return std::nullopt;
      case A::kAsking:
        if (connecting) return std::nullopt;
        return Wait{now_ms + kLeaseRetryMs,
                    "warm-up: asking the cluster for " + e.ip + "'s allowance today"};
      case A::kSpent:
        return Wait{std::min(next_midnight(now_ms), now_ms + kClusterSpentRetryMs),
                    "warm-up limit: the cluster sent " +
                        std::to_string(shared->cluster_count(key).value_or(*allowed)) + " of " +
                        std::to_string(*allowed) + " from " + e.ip + " today (day " +
                        std::to_string(warmup_day(e, now_ms)) + ")"};
      case A::kOffline:
        return Wait{now_ms + kOfflineRetryMs,
                    "warm-up: redis is unreachable and this node's local share of " + e.ip +
                        "'s allowance is spent"};
    }
  }
  std::string reason = "warm-up limit: " + e.ip + " sent " + std::to_string(used) + " of " +
                       std::to_string(*allowed) +
                       (per_provider ? " to " + std::string(provider) : std::string()) +
                       " today (day " + std::to_string(warmup_day(e, now_ms)) + ")";
  return Wait{next_midnight(now_ms), std::move(reason)};
}

std::string Limiter::Impl::suspension_text(const Egress& e, std::string_view provider,
                                           const Pair& p) const {
  return "suspended: " + e.ip + " to " + std::string(provider) + " until " +
         log::rfc3339(p.suspended_until) + " after \"" + p.suspend_reason + "\"";
}

void Limiter::Impl::suspend(Egress& e, std::string_view provider, Pair& p, const Rule& rule,
                            std::string reason, int64_t now_ms) {
  bool already = p.suspended_until > now_ms;
  // A second throttling reply while suspended (from another connection) extends, never
  // shortens, and is not a new suspension for the counter.
  p.suspended_until = std::max(p.suspended_until, now_ms + rule.for_ms);
  p.suspend_reason = std::move(reason);
  state.put(queue::state::suspension_key(e.ip, provider),
            std::to_string(p.suspended_until) + " " + p.suspend_reason);
  watch(e, provider, p);
  shared->suspended(e.ip, std::string(provider), p.suspended_until, p.suspend_reason);
  if (already) return;
  std::string provider_text(provider);
  metrics()
      .counter("hato_suspensions_total", "Egress address x provider suspensions begun",
               "provider=\"" + label_value(provider_text) + "\"")
      .inc();
  log::warning("suspended", {{"egress", e.ip},
                             {"provider", provider_text},
                             {"until", log::rfc3339(p.suspended_until)},
                             {"reason", p.suspend_reason}});
}

void Limiter::Impl::slow_down(Egress& e, std::string_view provider, Pair& p, const Rule& rule,
                              std::string reason, int64_t now_ms) {
  bool already = p.slow_until > now_ms;
  p.slow_rate = already ? std::min(p.slow_rate, rule.rate_per_second) : rule.rate_per_second;
  p.slow_until = std::max(p.slow_until, now_ms + rule.for_ms);
  p.slow_reason = std::move(reason);
  std::string value = std::to_string(p.slow_until) + " ";
  append_number(value, p.slow_rate);
  value += " " + p.slow_reason;
  state.put(queue::state::slowdown_key(e.ip, provider), value);
  shared->slowed(e.ip, std::string(provider), p.slow_until, p.slow_rate, p.slow_reason);
  if (already) return;
  std::string provider_text(provider);
  metrics()
      .counter("hato_slowdowns_total", "Egress address x provider slowdowns begun",
               "provider=\"" + label_value(provider_text) + "\"")
      .inc();
  log::warning("slowed down", {{"egress", e.ip},
                               {"provider", provider_text},
                               {"rate", rate_text(p.slow_rate)},
                               {"until", log::rfc3339(p.slow_until)},
                               {"reason", p.slow_reason}});
}

// ---------------------------------------------------------------------------

Limiter::Limiter(const conf::Config& config, StateStore& state)
    : impl_(std::make_unique<Impl>(config, state)) {}

Limiter::~Limiter() = default;

bool Limiter::active() const {
  return !impl_->egress.empty();
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

// choose - weighted among the addresses that may open a connection to `provider` now;
// when none may, the earliest time one will, and why.
std::optional<Wait> Limiter::Impl::blocked(Egress& e, std::string_view provider, int64_t now_ms) {
  if (e.out_of_rotation)
    return Wait{now_ms + kOutOfRotationRetryMs, "out of rotation: " + *e.out_of_rotation};
  Pair& p = pair(e, provider);
  // Both may hold at once: then the later end is when this address can send.
  std::optional<Wait> refusal;
  if (suspended(e, provider, p, now_ms))
    refusal = Wait{p.suspended_until, suspension_text(e, provider, p)};
  if (auto w = warmup_refusal(e, provider, now_ms, /*connecting=*/true)) {
    if (!refusal || w->until_ms > refusal->until_ms) refusal = std::move(w);
  }
  return refusal;
}

// pick - smooth weighted round robin among the addresses that may send to `provider` now,
// with credits per address x provider, so that each destination's provider gets the
// weights' shares whatever other mail is interleaved.
std::optional<size_t> Limiter::pick(const std::string& provider, int64_t now_ms, Wait* wait) {
  Impl& m = *impl_;
  std::optional<Wait> earliest;
  std::vector<WeightedSlot> slots;
  std::vector<size_t> index;
  for (size_t i = 0; i < m.egress.size(); ++i) {
    Impl::Egress& e = m.egress[i];
    if (auto w = m.blocked(e, provider, now_ms)) {
      if (!earliest || w->until_ms < earliest->until_ms) earliest = std::move(w);
      continue;
    }
    slots.push_back({e.config.weight, &m.pair(e, provider).credit});
    index.push_back(i);
  }
  if (slots.empty()) {
    if (wait)
      *wait = earliest ? std::move(*earliest) : Wait{now_ms, "no egress addresses are configured"};
    return std::nullopt;
  }
  return index[smooth_weighted_pick(slots)];
}

bool Limiter::may_send(size_t egress, const std::string& provider, int64_t now_ms) {
  return egress < impl_->egress.size() && !impl_->blocked(impl_->egress[egress], provider, now_ms);
}

uint32_t Limiter::connections_per_address(const std::string& provider) const {
  return impl_->connections_of(provider);
}

std::optional<EgressChoice> Limiter::choose(const std::string& provider, int64_t now_ms, Wait* wait,
                                            std::optional<size_t> only) {
  Impl& m = *impl_;
  std::optional<Wait> earliest;
  auto consider = [&](Wait w) {
    if (!earliest || w.until_ms < earliest->until_ms) earliest = std::move(w);
  };
  m.candidates.clear();
  uint64_t total_weight = 0;
  for (size_t i = 0; i < m.egress.size(); ++i) {
    if (only && i != *only) continue;
    Impl::Egress& e = m.egress[i];
    if (auto blocked = m.blocked(e, provider, now_ms)) {
      consider(std::move(*blocked));
      continue;
    }
    Impl::Pair& p = m.pair(e, provider);
    uint32_t limit = m.connections_of(provider);
    if (p.open >= limit) {
      consider(Wait{now_ms + kBusyRetryMs, "connection limit: " + e.ip + " has " +
                                               std::to_string(p.open) + " connections open to " +
                                               provider});
      continue;
    }
    using A = SharedState::Allowance;
    switch (m.shared->connection(e.ip, provider, limit, p.open)) {
      case A::kYes:
        break;
      case A::kAsking:
        consider(Wait{now_ms + kSlotAskRetryMs,
                      "connection limit: asking the cluster for a connection from " + e.ip +
                          " to " + provider});
        continue;
      case A::kSpent:
        consider(Wait{now_ms + kBusyRetryMs, "connection limit: the cluster has all " +
                                                 std::to_string(limit) + " connections from " +
                                                 e.ip + " to " + provider + " open"});
        continue;
      case A::kOffline:
        consider(Wait{now_ms + kBusyRetryMs,
                      "connection limit: redis is unreachable and this node has its local share "
                      "of connections from " +
                          e.ip + " to " + provider + " open (" + std::to_string(p.open) + ")"});
        continue;
    }
    m.candidates.push_back(i);
    total_weight += e.config.weight;
  }
  if (m.candidates.empty()) {
    if (wait) {
      *wait = earliest ? std::move(*earliest) : Wait{now_ms, "no egress addresses are configured"};
    }
    return std::nullopt;
  }
  uint64_t pick = std::uniform_int_distribution<uint64_t>(0, total_weight - 1)(m.random);
  size_t chosen = m.candidates.back();
  for (size_t i : m.candidates) {
    if (pick < m.egress[i].config.weight) {
      chosen = i;
      break;
    }
    pick -= m.egress[i].config.weight;
  }
  const Impl::Egress& e = m.egress[chosen];
  return EgressChoice{chosen, e.config.address, e.config.helo};
}

void Limiter::opened(size_t egress, const std::string& provider) {
  if (egress >= impl_->egress.size()) return;
  Impl::Pair& p = impl_->pair(impl_->egress[egress], provider);
  ++p.open;
  impl_->shared->connections(impl_->egress[egress].ip, provider, p.open);
}

void Limiter::closed(size_t egress, const std::string& provider) {
  if (egress >= impl_->egress.size()) return;
  Impl::Pair& p = impl_->pair(impl_->egress[egress], provider);
  if (p.open > 0) --p.open;  // a connection opened before a reload is not ours to count
  impl_->shared->connections(impl_->egress[egress].ip, provider, p.open);
}

// take - in this order: a suspension, today's allowance, a rate token. Nothing is
// consumed unless all three allow the message.
bool Limiter::take(size_t egress, const std::string& provider, int64_t now_ms, Wait* wait) {
  Impl& m = *impl_;
  Impl::Egress* e = m.egress_at(egress, now_ms, wait);
  if (!e) return false;
  Impl::Pair& p = m.pair(*e, provider);
  if (m.suspended(*e, provider, p, now_ms)) {
    if (wait) *wait = Wait{p.suspended_until, m.suspension_text(*e, provider, p)};
    return false;
  }
  if (auto refusal = m.warmup_refusal(*e, provider, now_ms)) {
    if (wait) *wait = std::move(*refusal);
    return false;
  }
  // A token bucket holding one second's worth (at least one token): smooth, with no
  // burst worth the name after an idle spell.
  double r = m.rate(*e, provider, p, now_ms) * m.shared->share();
  double capacity = std::max(1.0, r);
  if (!p.bucket.take(now_ms, r, capacity)) {
    if (wait) {
      *wait = Wait{now_ms + p.bucket.wait_ms(r),
                   "rate limit: " + e->ip + " to " + provider + " at " + rate_text(r)};
    }
    return false;
  }
  m.roll_day(*e, now_ms);
  if (e->config.warmup) m.shared->spend(m.warmup_key(*e, provider));
  ++e->sent;
  m.state.put(m.count_key(*e, ""), std::to_string(e->sent));
  if (e->config.warmup && e->config.warmup->per_provider) {
    uint64_t& sent = m.sent_to(*e, provider);
    ++sent;
    m.state.put(m.count_key(*e, provider), std::to_string(sent));
  }
  return true;
}

// observe_reply - the first rule that matches decides: suspend (true), or slow down
// (false: the connection may go on, at the lower rate).
bool Limiter::observe_reply(size_t egress, const std::string& provider, std::string_view reply,
                            int64_t now_ms) {
  Impl& m = *impl_;
  Impl::Egress* e = m.egress_at(egress, now_ms, nullptr);
  if (!e) return false;
  std::string_view text = reply.substr(0, kMaxReplyMatched);
  for (const auto& rule : m.rules) {
    if (!rule.provider.empty() && rule.provider != provider) continue;
    if (!std::regex_search(text.begin(), text.end(), rule.regex)) continue;
    Impl::Pair& p = m.pair(*e, provider);
    if (rule.rate_per_second > 0) {
      m.slow_down(*e, provider, p, rule, reason_of(reply), now_ms);
      return false;
    }
    m.suspend(*e, provider, p, rule, reason_of(reply), now_ms);
    return true;
  }
  return false;
}

void Limiter::set_shared(SharedState* shared) {
  impl_->shared = shared ? shared : &impl_->embedded;
}

void Limiter::apply_suspension(const std::string& ip, const std::string& provider, int64_t until_ms,
                               const std::string& reason) {
  Impl& m = *impl_;
  for (auto& e : m.egress) {
    if (e.ip != ip) continue;
    Impl::Pair& p = m.pair(e, provider);
    if (until_ms <= p.suspended_until || until_ms <= log::now_ms()) return;
    p.suspended_until = until_ms;
    p.suspend_reason = reason.substr(0, kMaxReasonBytes);
    m.state.put(queue::state::suspension_key(e.ip, provider),
                std::to_string(p.suspended_until) + " " + p.suspend_reason);
    m.watch(e, provider, p);
    log::warning("suspended by another node of the cluster",
                 {{"egress", e.ip},
                  {"provider", provider},
                  {"until", log::rfc3339(p.suspended_until)},
                  {"reason", p.suspend_reason}});
    return;
  }
}

// set_out_of_rotation - this node's monitor decided; what changed is published.
void Limiter::apply_slowdown(const std::string& ip, const std::string& provider, int64_t until_ms,
                             double rate, const std::string& reason) {
  Impl& m = *impl_;
  int64_t now = log::now_ms();
  if (until_ms <= now || !(rate > 0)) return;
  for (auto& e : m.egress) {
    if (e.ip != ip) continue;
    Impl::Pair& p = m.pair(e, provider);
    bool active = p.slow_until > now;
    // Already as slow for as long (this node's own, read back): nothing new.
    if (active && until_ms <= p.slow_until && rate >= p.slow_rate) return;
    p.slow_rate = active ? std::min(p.slow_rate, rate) : rate;
    p.slow_until = std::max(p.slow_until, until_ms);
    p.slow_reason = reason.substr(0, kMaxReasonBytes);
    std::string value = std::to_string(p.slow_until) + " ";
    append_number(value, p.slow_rate);
    value += " " + p.slow_reason;
    m.state.put(queue::state::slowdown_key(e.ip, provider), value);
    log::warning("slowed down by another node of the cluster",
                 {{"egress", e.ip},
                  {"provider", provider},
                  {"rate", rate_text(p.slow_rate)},
                  {"until", log::rfc3339(p.slow_until)},
                  {"reason", p.slow_reason}});
    return;
  }
}

void Limiter::set_out_of_rotation(const std::map<std::string, std::string>& reasons) {
  Impl& m = *impl_;
  for (auto& e : m.egress) {
    auto it = reasons.find(e.ip);
    if (it == reasons.end()) {
      if (e.own_out) m.shared->unlisted(e.ip);
      e.own_out.reset();
      e.own_since = 0;
    } else if (e.own_out != it->second) {
      if (!e.own_out) e.own_since = log::now_ms();
      e.own_out = it->second;
      m.shared->listed(e.ip, e.own_since, *e.own_out);
    }
  }
  m.update_rotation();
}

void Limiter::set_cluster_out_of_rotation(const std::map<std::string, std::string>& reasons) {
  for (auto& e : impl_->egress) {
    auto it = reasons.find(e.ip);
    if (it == reasons.end()) {
      e.cluster_out.reset();
    } else {
      e.cluster_out = it->second;
    }
  }
  impl_->update_rotation();
}

// update_rotation - this node's listings always count; the cluster's too, unless with
// keep_last they would leave no address to send from (the monitor's own rule,
// policy/blacklist.h out_of_rotation(), over the union).
void Limiter::Impl::update_rotation() {
  std::vector<bool> held;
  for (const auto& e : egress) held.push_back(e.own_out || e.cluster_out);
  std::vector<bool> out = out_of_rotation(held, keep_last);
  for (size_t i = 0; i < egress.size(); ++i) {
    Egress& e = egress[i];
    std::optional<std::string> now;
    if (e.own_out) {
      now = e.own_out;  // the monitor already applied keep_last to its own
    } else if (out[i]) {
      now = e.cluster_out;
    }
    // The monitor logs its own decisions; these are the cluster's.
    bool by_cluster = !e.own_out && now;
    if (by_cluster && !e.out_of_rotation) {
      log::warning("egress address out of rotation: another node of the cluster sees it listed",
                   {{"address", e.ip}, {"reason", *now}});
    } else if (e.out_by_cluster && !now) {
      log::info("egress address back in rotation: no node of the cluster holds it any more",
                {{"address", e.ip}});
    }
    e.out_by_cluster = by_cluster;
    e.out_of_rotation = std::move(now);
  }
}

bool Limiter::in_rotation(size_t egress) const {
  return egress < impl_->egress.size() && !impl_->egress[egress].out_of_rotation;
}

void Limiter::set_warmup(const conf::Config& config) {
  for (size_t i = 0; i < impl_->egress.size() && i < config.egress.size(); ++i) {
    Impl::Egress& e = impl_->egress[i];
    if (config.egress[i].address.ip() != e.ip) continue;
    e.config.warmup = config.egress[i].warmup;
  }
}

uint32_t Limiter::messages_per_connection(const std::string& provider) const {
  return impl_->limits_of(provider).messages_per_connection;
}

void Limiter::seed(uint64_t seed) {
  impl_->random.seed(seed);
}

// status_json - one line per egress address; suspensions and slowdowns of every known
// provider, read from the state store where not yet in memory.
std::string Limiter::status_json(int64_t now_ms) {
  Impl& m = *impl_;
  std::string out;
  for (auto& e : m.egress) {
    m.roll_day(e, now_ms);
    out += "{\"address\":";
    log::append_json_string(out, e.ip);
    out += ",\"helo\":";
    log::append_json_string(out, e.config.helo);
    out += ",\"weight\":" + std::to_string(e.config.weight);
    out += ",\"day\":";
    out += e.config.warmup ? std::to_string(m.warmup_day(e, now_ms)) : "null";
    std::optional<uint64_t> allowed = m.allowance(e, now_ms);
    out += ",\"allowance\":";
    out += allowed ? std::to_string(*allowed) : "null";
    out += ",\"sent_today\":" + std::to_string(e.sent);
    if (auto counted = m.shared->cluster_count(m.count_key(e, ""))) {
      out += ",\"cluster_counted_today\":" + std::to_string(*counted);
    }
    bool per_provider = e.config.warmup && e.config.warmup->per_provider;
    if (per_provider) {
      out += ",\"per_provider\":true,\"sent_by_provider\":{";
      bool first = true;
      for (const auto& provider : m.provider_names) {
        uint64_t sent = m.sent_to(e, provider);
        if (sent == 0) continue;
        if (!first) out += ',';
        first = false;
        log::append_json_string(out, provider);
        out += ':' + std::to_string(sent);
      }
      out += '}';
    }
    std::string suspensions, slowdowns;
    for (const auto& provider : m.provider_names) {
      Impl::Pair& p = m.pair(e, provider);
      if (m.suspended(e, provider, p, now_ms)) {
        if (!suspensions.empty()) suspensions += ',';
        suspensions += "{\"provider\":";
        log::append_json_string(suspensions, provider);
        suspensions += ",\"until\":";
        log::append_json_string(suspensions, log::rfc3339(p.suspended_until));
        suspensions += ",\"reason\":";
        log::append_json_string(suspensions, p.suspend_reason);
        suspensions += '}';
      }
      m.rate(e, provider, p, now_ms);  // forgets a slowdown that is over
      if (p.slow_until != 0) {
        if (!slowdowns.empty()) slowdowns += ',';
        slowdowns += "{\"provider\":";
        log::append_json_string(slowdowns, provider);
        slowdowns += ",\"until\":";
        log::append_json_string(slowdowns, log::rfc3339(p.slow_until));
        slowdowns += ",\"rate\":";
        log::append_json_string(slowdowns, rate_text(p.slow_rate));
        slowdowns += ",\"reason\":";
        log::append_json_string(slowdowns, p.slow_reason);
        slowdowns += '}';
      }
    }
    if (e.out_of_rotation) {
      out += ",\"out_of_rotation\":";
      log::append_json_string(out, *e.out_of_rotation);
    }
    out += ",\"suspensions\":[" + suspensions + "]";
    out += ",\"slowdowns\":[" + slowdowns + "]";
    out += "}\n";
  }
  return out;
}

}  // namespace hato::policy
