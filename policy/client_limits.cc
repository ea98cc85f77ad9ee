// client_limits.cc - failure accounting per client address, and the inbound message rate.
#include "policy/client_limits.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"

namespace hato::policy {

Brake error_brake(const conf::ErrorSlowdown& slowdown) {
  Brake b;
  b.free = slowdown.after;
  b.first = slowdown.delay;
  b.max = slowdown.max_delay;
  b.block_after = slowdown.disconnect_after;
  b.forget = slowdown.forget;
  return b;
}

void FailureGuard::expire() {
  auto now = std::chrono::steady_clock::now();
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = now - it->second.last > brake_.forget ? entries_.erase(it) : std::next(it);
  }
}

std::chrono::milliseconds FailureGuard::failure(const std::string& client) {
  if (entries_.size() > 10000) expire();
  auto& e = entries_[client];
  auto now = std::chrono::steady_clock::now();
  if (e.count && now - e.last > brake_.forget) e.count = 0;
  e.count++;
  e.last = now;
  if (e.count <= brake_.free) return std::chrono::milliseconds(0);
  // first, 2 x first, 4 x first ... capped at max.
  uint32_t shift = std::min<uint32_t>(e.count - brake_.free - 1, 20);
  auto delay = brake_.first * (int64_t{1} << shift);
  return std::min(delay, brake_.max);
}

void FailureGuard::success(const std::string& client) {
  entries_.erase(client);
}

void FailureGuard::forgive(const std::string& client, uint32_t n) {
  auto it = entries_.find(client);
  if (it == entries_.end()) return;
  if (it->second.count <= n) {
    entries_.erase(it);
  } else {
    it->second.count -= n;
  }
}

uint32_t FailureGuard::failures(const std::string& client) const {
  auto it = entries_.find(client);
  if (it == entries_.end()) return 0;
  if (std::chrono::steady_clock::now() - it->second.last > brake_.forget) return 0;
  return it->second.count;
}

bool FailureGuard::blocked(const std::string& client) const {
  return failures(client) >= brake_.block_after;
}

bool FailureGuard::may_begin(const std::string& client) const {
  auto it = in_flight_.find(client);
  uint32_t running = it == in_flight_.end() ? 0 : it->second;
  return failures(client) + running < brake_.block_after;
}

bool TokenBucket::take(int64_t now_ms, double rate, double burst) {
  if (tokens_ < 0) {
    tokens_ = burst;
    refilled_ms_ = now_ms;
  } else if (now_ms > refilled_ms_) {
    tokens_ += static_cast<double>(now_ms - refilled_ms_) * rate / 1000.0;
    refilled_ms_ = now_ms;  // a clock stepping back refills nothing
  }
  tokens_ = std::min(tokens_, burst);  // the rate (and so the burst) may have come down
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

int64_t TokenBucket::wait_ms(double rate) const {
  if (tokens_ >= 1.0 || rate <= 0) return 1;
  // Less a hair, so that rounding in the refill never adds a millisecond.
  auto ms = static_cast<int64_t>(std::ceil((1.0 - tokens_) * 1000.0 / rate - 1e-6));
  return std::max<int64_t>(1, ms);
}

bool TokenBucket::idle(int64_t now_ms, double rate, double burst) const {
  return tokens_ < 0 ||
         tokens_ + static_cast<double>(now_ms - refilled_ms_) * rate / 1000.0 >= burst;
}

void ClientRateHook::run(const HookContext& context, std::function<void(Verdict)> done) {
  const auto& limits = context.config.inbound.limits;
  if (context.session.role != conf::ListenerRole::kInbound || context.session.trusted ||
      limits.messages_per_second <= 0) {
    done(Verdict::proceed());
    return;
  }
  int64_t now = clock_ ? clock_() : log::now_ms();
  double rate = limits.messages_per_second;
  double burst = limits.messages_burst;
  if (buckets_.size() > 10000) {
    for (auto it = buckets_.begin(); it != buckets_.end();)
      it = it->second.idle(now, rate, burst) ? buckets_.erase(it) : std::next(it);
  }
  std::string client = context.session.peer.ip();
  if (buckets_[client].take(now, rate, burst)) {
    done(Verdict::proceed());
    return;
  }
  log::info("reject", {{"peer", context.session.peer.to_string()},
                       {"listener", context.session.listener},
                       {"from", context.sender},
                       {"reason", "message rate limit for this client address exceeded"}});
  done(Verdict::reply(450, "4.7.0 Too many messages from your address, try again later"));
}

}  // namespace hato::policy
