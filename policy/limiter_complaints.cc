// limiter_complaints.cc - the complaint rate per provider (shaping.complaints) feeds the
// same backoff as throttling replies: over slow_above every egress address slows down to
// slow_rate for that provider, over suspend_above it stops, for `for` (persisted, shared with
// the cluster and shown in `hato warmup status` like any suspension or slowdown).
#include <cstdio>

#include "common/log.h"
#include "policy/limiter_impl.h"

namespace hato::policy {

namespace {

std::string percent_text(double fraction) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.2f%%", fraction * 100);
  return buf;
}

}  // namespace

void Limiter::observe_delivered(const std::string& provider, std::string_view rcpt_domain,
                                int64_t now_ms) {
  impl_->complaint_rate.delivered(provider, rcpt_domain, now_ms);
}

std::string Limiter::observe_complaint(std::string_view rcpt_domain, int64_t now_ms) {
  Impl& m = *impl_;
  std::string provider = m.complaint_rate.complained(rcpt_domain, now_ms);
  ComplaintCounts counts = m.complaint_rate.counts(provider, now_ms);
  const conf::ComplaintLimits& limits = m.complaint_limits;
  ComplaintAction action = complaint_action(counts, limits);
  if (action == ComplaintAction::kNone) return provider;
  bool suspend = action == ComplaintAction::kSuspend;
  std::string reason = "complaint rate " + percent_text(counts.rate()) + " (" +
                       std::to_string(counts.complaints) + " complaints, " +
                       std::to_string(counts.delivered) + " delivered) over " +
                       percent_text(suspend ? limits.suspend_above : limits.slow_above);
  log::warning("complaint rate over the limit", {{"provider", provider},
                                                 {"rate", percent_text(counts.rate())},
                                                 {"complaints", std::to_string(counts.complaints)},
                                                 {"delivered", std::to_string(counts.delivered)},
                                                 {"action", suspend ? "suspend" : "slow down"},
                                                 {"reason", reason}});
  Impl::Rule rule{{}, provider, limits.for_.count(), suspend ? 0.0 : limits.slow_rate};
  for (auto& e : m.egress) {
    Impl::Pair& p = m.pair(e, provider);
    if (suspend) {
      m.suspend(e, provider, p, rule, reason, now_ms);
    } else {
      m.slow_down(e, provider, p, rule, reason, now_ms);
    }
  }
  return provider;
}

}  // namespace hato::policy
