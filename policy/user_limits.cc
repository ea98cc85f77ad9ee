// user_limits.cc - per-user quotas over clock windows, kept in the state family.
#include "policy/user_limits.h"

#include <algorithm>

#include <charconv>

#include "common/log.h"
#include "common/metrics.h"
#include "queue/state_keys.h"

namespace hato::policy {

namespace {

int64_t window_ms(const conf::Quota& quota) {
  return std::max<int64_t>(1, quota.window.count());
}

int64_t window_start(const conf::Quota& quota, int64_t now_ms) {
  return now_ms - now_ms % window_ms(quota);
}

const char* window_word(const conf::Quota& quota) {
  if (quota.window == std::chrono::minutes(1)) return "minute";
  if (quota.window == std::chrono::hours(1)) return "hour";
  return "day";
}

Counter& limited(std::string_view user, std::string_view limit) {
  return metrics().counter(
      "hato_user_limited_total",
      "Submissions refused because the user reached a limits.users quota",
      "user=\"" + std::string(user) + "\",limit=\"" + std::string(limit) + "\"");
}

}  // namespace

std::string quota_text(const conf::Quota& quota) {
  return std::to_string(quota.count) + "/" + std::string(1, window_word(quota)[0]);
}

const std::vector<conf::Quota>* user_quotas(const conf::Limits& limits, std::string_view user,
                                            std::string_view what) {
  auto pick = [what](const conf::UserQuotas& q) -> const std::vector<conf::Quota>* {
    const auto& list = what == "messages" ? q.messages : q.recipients;
    return list ? &*list : nullptr;
  };
  if (auto it = limits.users.find(std::string(user)); it != limits.users.end()) {
    if (auto* own = pick(it->second)) return own;
  }
  if (auto it = limits.users.find("default"); it != limits.users.end()) return pick(it->second);
  return nullptr;
}

std::string UserLimits::key(std::string_view user, std::string_view what, const conf::Quota& quota,
                            int64_t now_ms) const {
  return queue::state::user_quota_key(queue::state::escape_field(user), what,
                                      window_ms(quota) / 1000, window_start(quota, now_ms));
}

uint64_t UserLimits::used(std::string_view user, std::string_view what, const conf::Quota& quota,
                          int64_t now_ms) {
  std::string k = key(user, what, quota, now_ms);
  if (auto it = cache_.find(k); it != cache_.end()) return it->second;
  uint64_t n = 0;
  if (auto stored = state_.get(k)) {
    std::from_chars(stored->data(), stored->data() + stored->size(), n);
  }
  cache_[k] = n;
  return n;
}

void UserLimits::add(std::string_view user, std::string_view what, const conf::Quota& quota,
                     uint64_t n, int64_t now_ms) {
  uint64_t total = used(user, what, quota, now_ms) + n;
  std::string k = key(user, what, quota, now_ms);
  cache_[k] = total;
  state_.put(k, std::to_string(total));
  // The window before is over: its record goes.
  std::string previous = key(user, what, quota, window_start(quota, now_ms) - 1);
  if (cache_.erase(previous)) state_.erase(previous);
}

namespace {

int64_t window_end(const conf::Quota& quota, int64_t now_ms) {
  return window_start(quota, now_ms) + window_ms(quota);
}

// The refusal of `what` over `quota`, with how much is used in words ("3 used").
QuotaRefusal over(std::string_view user, std::string_view what, const conf::Quota& quota,
                  const std::string& used, int64_t now_ms) {
  int64_t resets = window_end(quota, now_ms);
  return QuotaRefusal{quota_text(quota) + " " + std::string(what),
                      "4.7.1 user " + std::string(user) + " has reached its limit of " +
                          std::to_string(quota.count) + " " + std::string(what) + " per " +
                          window_word(quota) + " (limits.users, " + used + "); it resets at " +
                          log::rfc3339(resets).substr(11, 8) + " UTC",
                      resets};
}

constexpr int64_t kOfflineRetryMs = 30'000;

}  // namespace

// asks - each quota of `user` that `messages` more messages with `recipients` more
// recipients count against, with how many they add.
std::vector<UserLimits::Ask> UserLimits::asks(const conf::Limits& limits, std::string_view user,
                                              uint64_t messages, uint64_t recipients) {
  std::vector<Ask> out;
  for (std::string_view what : {"messages", "recipients"}) {
    uint64_t more = what == "messages" ? messages : recipients;
    const auto* quotas = more ? user_quotas(limits, user, what) : nullptr;
    if (!quotas) continue;
    for (const conf::Quota& quota : *quotas) out.push_back({std::string(what), quota, more});
  }
  return out;
}

std::optional<QuotaRefusal> UserLimits::check(const conf::Limits& limits, std::string_view user,
                                              uint64_t messages, uint64_t recipients,
                                              int64_t now_ms) {
  for (const Ask& ask : asks(limits, user, messages, recipients)) {
    uint64_t so_far = used(user, ask.what, ask.quota, now_ms);
    if (so_far + ask.more <= ask.quota.count) continue;
    return over(user, ask.what, ask.quota, std::to_string(so_far) + " used", now_ms);
  }
  return std::nullopt;
}

void UserLimits::check_async(const conf::Limits& limits, const std::string& user, uint64_t messages,
                             uint64_t recipients, int64_t now_ms, Checked done) {
  if (!shared_) return done(check(limits, user, messages, recipients, now_ms));
  reserve_next(user, asks(limits, user, messages, recipients), 0, now_ms, std::move(done));
}

// reserve_next - asks the cluster for asks[at] and, once it fits, for the next one.
void UserLimits::reserve_next(std::string user, std::vector<Ask> asks, size_t at, int64_t now_ms,
                              Checked done) {
  if (at == asks.size()) return done(std::nullopt);
  const Ask& ask = asks[at];
  std::string k = key(user, ask.what, ask.quota, now_ms);
  auto answered = [this, user, asks, at, now_ms, k,
                   done = std::move(done)](SharedState::Allowance a) mutable {
    using A = SharedState::Allowance;
    const Ask& ask = asks[at];
    if (a == A::kYes)
      return reserve_next(std::move(user), std::move(asks), at + 1, now_ms, std::move(done));
    if (a == A::kSpent) {
      uint64_t n = shared_->cluster_count(k).value_or(ask.quota.count);
      return done(
          over(user, ask.what, ask.quota, std::to_string(n) + " used across the cluster", now_ms));
    }
    // kOffline (kAsking is never an answer of reserve()).
    QuotaRefusal r{quota_text(ask.quota) + " " + ask.what,
                   "4.7.1 user " + user + "'s limit of " + std::to_string(ask.quota.count) + " " +
                       ask.what + " per " + window_word(ask.quota) +
                       " cannot be checked with the cluster now (redis is unreachable and this "
                       "node's share is used); try again later",
                   now_ms + kOfflineRetryMs};
    done(std::move(r));
  };
  shared_->reserve(k, ask.quota.count, window_end(ask.quota, now_ms), ask.more,
                   std::move(answered));
}

void UserLimits::count(const conf::Limits& limits, std::string_view user, uint64_t recipients,
                       int64_t now_ms) {
  if (user.empty()) return;
  for (std::string_view what : {"messages", "recipients"}) {
    uint64_t n = what == "messages" ? 1 : recipients;
    const auto* quotas = user_quotas(limits, user, what);
    if (!quotas) continue;
    for (const auto& quota : *quotas) {
      if (shared_) shared_->spend(key(user, what, quota, now_ms), n);
      add(user, what, quota, n, now_ms);
    }
  }
}

void UserQuotaHook::run(const HookContext& context, std::function<void(Verdict)> done) {
  const auto& s = context.session;
  if (!conf::submits(s.role) || s.auth_user.empty()) {
    return done(Verdict::proceed());
  }
  bool at_mail = phase_ == Phase::kMail;
  // The context lives until done() is called (policy/hook.h).
  limits_.check_async(context.config.limits, s.auth_user, at_mail ? 1 : 0,
                      at_mail ? 0 : context.tx.recipients.size() + 1, log::now_ms(),
                      [this, &context, done = std::move(done)](std::optional<QuotaRefusal> r) {
                        if (!r) return done(Verdict::proceed());
                        refuse(context, *r, done);
                      });
}

void UserQuotaHook::refuse(const HookContext& context, const QuotaRefusal& refusal,
                           const std::function<void(Verdict)>& done) {
  const auto& s = context.session;
  limited(s.auth_user, refusal.limit).inc();
  log::warning("user over its limit", {{"user", s.auth_user},
                                       {"peer", s.peer.to_string()},
                                       {"listener", s.listener},
                                       {"from", context.sender},
                                       {"limit", refusal.limit},
                                       {"resets", log::rfc3339(refusal.resets_ms)}});
  if (refused_) refused_(context, refusal);
  Verdict v = Verdict::reply(451, refusal.text);
  v.retry_after_s = std::max<int64_t>(1, (refusal.resets_ms - log::now_ms() + 999) / 1000);
  done(std::move(v));
}

}  // namespace hato::policy
