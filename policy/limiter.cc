// limiter.cc - egress choice: which address a connection or a message goes out from
// (weights among those in the rotation, neither suspended nor out of allowance), the
// connections open per address x provider, take()'s rate tokens, and the rotation the
// blacklist monitor and the cluster decide. The other parts: policy/limiter_impl.h.
#include <algorithm>
#include <random>

#include "common/log.h"
#include "policy/blacklist.h"
#include "policy/limiter_impl.h"
#include "policy/weighted_pick.h"

namespace hato::policy {

namespace {

// When every address has all its connections to a provider open, a slot frees when one
// closes; this is only the hint for when to ask again.
constexpr int64_t kBusyRetryMs = 1000;
// Mail with no address left in the rotation (keep_last_address: false) asks again after this;
// the monitor puts an address back only at its next check.
constexpr int64_t kOutOfRotationRetryMs = 60 * 1000;
// A connection slot of the cluster (issue 12) is a round trip to redis away, and nothing is
// open yet to wait on: the mail asks again this much later (a loopback or LAN round trip).
constexpr int64_t kSlotAskRetryMs = 2;

}  // namespace

using limiter_detail::rate_text;

Limiter::Limiter(const conf::Config& config, StateStore& state)
    : impl_(std::make_unique<Impl>(config, state)) {}

Limiter::~Limiter() = default;

bool Limiter::active() const {
  return !impl_->egress.empty();
}

// egress_at - the egress address at `index`, or a refusal: an index from before a
// reload may point past the end.
Limiter::Impl::Egress* Limiter::Impl::egress_at(size_t index, int64_t now_ms, Wait* wait) {
  if (index < egress.size()) return &egress[index];
  if (wait) *wait = Wait{now_ms, "egress address " + std::to_string(index) + " is not configured"};
  return nullptr;
}

// pair - the state of one egress address x provider, with its persisted suspension
// and slowdown read the first time.
Limiter::Impl::Pair& Limiter::Impl::pair(Egress& e, std::string_view provider) {
  auto it = e.pairs.find(provider);
  if (it != e.pairs.end()) return it->second;
  Pair& p = e.pairs.emplace(std::string(provider), Pair{}).first->second;
  load_pair(e, provider, p);
  return p;
}

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

// choose - weighted among the addresses that may open a connection to `provider` now;
// when none may, the earliest time one will, and why.
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
  if (e->config.warmup) m.shared->spend(m.warmup_key(*e, provider), 1);
  ++e->sent;
  m.save_count(m.count_key(*e, ""), e->sent);
  if (e->config.warmup && e->config.warmup->per_provider) {
    uint64_t& sent = m.sent_to(*e, provider);
    ++sent;
    m.save_count(m.count_key(*e, provider), sent);
  }
  return true;
}

void Limiter::set_shared(SharedState* shared) {
  impl_->shared = shared ? shared : &impl_->embedded;
}

// set_out_of_rotation - this node's monitor decided; what changed is published.
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

void Limiter::seed(uint64_t seed) {
  impl_->random.seed(seed);
}

}  // namespace hato::policy
