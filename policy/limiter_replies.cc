// limiter_replies.cc - what the receivers say about our pace: a throttling reply that a
// rule matches suspends an egress address x provider (or slows it down) for a while, here
// and, through SharedState, on the other nodes of a cluster; running out lifts it.
#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/log.h"
#include "common/metrics.h"
#include "policy/limiter_impl.h"

namespace hato::policy {

namespace {

// Replies are matched on at most this much text: libstdc++'s regex engine recurses per
// character and real throttling replies say what they mean early.
constexpr size_t kMaxReplyMatched = 512;
constexpr size_t kMaxReasonBytes = 200;

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

}  // namespace

namespace limiter_detail {

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

}  // namespace limiter_detail

using limiter_detail::rate_text;

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
    forget_suspension(e, provider);
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
    forget_slowdown(e, provider);
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
  save_suspension(e, provider, p);
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
  save_slowdown(e, provider, p);
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

void Limiter::apply_suspension(const std::string& ip, const std::string& provider, int64_t until_ms,
                               const std::string& reason) {
  Impl& m = *impl_;
  for (auto& e : m.egress) {
    if (e.ip != ip) continue;
    Impl::Pair& p = m.pair(e, provider);
    if (until_ms <= p.suspended_until || until_ms <= log::now_ms()) return;
    p.suspended_until = until_ms;
    p.suspend_reason = reason.substr(0, kMaxReasonBytes);
    m.save_suspension(e, provider, p);
    m.watch(e, provider, p);
    log::warning("suspended by another node of the cluster",
                 {{"egress", e.ip},
                  {"provider", provider},
                  {"until", log::rfc3339(p.suspended_until)},
                  {"reason", p.suspend_reason}});
    return;
  }
}

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
    m.save_slowdown(e, provider, p);
    log::warning("slowed down by another node of the cluster",
                 {{"egress", e.ip},
                  {"provider", provider},
                  {"rate", rate_text(p.slow_rate)},
                  {"until", log::rfc3339(p.slow_until)},
                  {"reason", p.slow_reason}});
    return;
  }
}

}  // namespace hato::policy
