// limiter_warmup.cc - the warm-up: each egress address's allowance for the day from its
// schedule (or the built-in curve), the day's counts, and the refusal once they are spent.
// A message counts when take() allows it, whatever the server then answers: receivers judge
// a new address by the volume it presents, accepted or not.
#include <algorithm>
#include <iterator>
#include <limits>

#include "policy/limiter_impl.h"

namespace hato::policy {

namespace {

constexpr int64_t kDayMs = 24 * 60 * 60 * 1000;
// Cluster (issue 12): a lease of allowance is a round trip to redis away, less than a
// connection's greeting, so choose() lets the connection open and take() waits on it (the
// engine keeps a connection for waits this short); a spent cluster allowance may come
// back when another node returns an unused lease.
constexpr int64_t kLeaseRetryMs = 5;
constexpr int64_t kClusterSpentRetryMs = 10 * 1000;
constexpr int64_t kOfflineRetryMs = 5 * 1000;

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

}  // namespace

// roll_day - makes the counts those of the day of `now_ms`, reading them from the state
// store (a restart keeps them) and dropping the previous day's keys.
void Limiter::Impl::roll_day(Egress& e, int64_t now_ms) {
  int64_t today = day_of(now_ms);
  if (e.day == today) return;
  if (e.day != std::numeric_limits<int64_t>::min() && e.day < today) {
    forget_day(e);
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
    switch (shared->allowance(key, *allowed, next_midnight(now_ms), 1)) {
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

void Limiter::set_warmup(const conf::Config& config) {
  for (size_t i = 0; i < impl_->egress.size() && i < config.egress.size(); ++i) {
    Impl::Egress& e = impl_->egress[i];
    if (config.egress[i].address.ip() != e.ip) continue;
    e.config.warmup = config.egress[i].warmup;
  }
}

}  // namespace hato::policy
