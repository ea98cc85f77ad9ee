// complaint_rate.cc - see complaint_rate.h.
#include "policy/complaint_rate.h"

#include <algorithm>
#include <atomic>

#include "common/metrics.h"
#include "common/strings.h"

namespace hato::policy {

namespace {
// Recipient domains remembered for their provider; beyond, the map starts over (a complaint
// of a domain forgotten counts for "default").
constexpr size_t kMaxDomains = 100000;
}  // namespace

ComplaintAction complaint_action(const ComplaintCounts& counts,
                                 const conf::ComplaintLimits& limits) {
  if (counts.delivered == 0 || counts.delivered < limits.min_delivered)
    return ComplaintAction::kNone;
  double rate = counts.rate();
  if (rate > limits.suspend_above) return ComplaintAction::kSuspend;
  if (rate > limits.slow_above) return ComplaintAction::kSlowDown;
  return ComplaintAction::kNone;
}

ComplaintRate::ComplaintRate(int64_t window_ms)
    : bucket_ms_(std::max<int64_t>(window_ms / kBuckets, 1)) {}

ComplaintRate::Series& ComplaintRate::series(std::string_view provider, int64_t now_ms) {
  auto it = series_.find(provider);
  if (it == series_.end()) {
    it = series_.emplace(std::string(provider), Series{}).first;
    it->second.gauge = std::make_shared<std::atomic<double>>(0.0);
    std::shared_ptr<std::atomic<double>> gauge = it->second.gauge;
    metrics().callback_gauge(
        "hato_complaint_rate",
        "Complaints per delivered message to each provider over shaping.complaints.window",
        [gauge] { return gauge->load(std::memory_order_relaxed); },
        "provider=\"" + label_value(std::string(provider)) + "\"");
  }
  // Buckets older than the window go.
  auto& buckets = it->second.buckets;
  int64_t oldest = now_ms - bucket_ms_ * kBuckets;
  while (!buckets.empty() && buckets.front().start + bucket_ms_ <= oldest) buckets.pop_front();
  return it->second;
}

ComplaintCounts& ComplaintRate::current(std::string_view provider, int64_t now_ms) {
  auto& buckets = series(provider, now_ms).buckets;
  int64_t start = now_ms - now_ms % bucket_ms_;
  if (buckets.empty() || buckets.back().start < start) buckets.push_back({start, {}});
  return buckets.back().counts;
}

ComplaintCounts ComplaintRate::counts(std::string_view provider, int64_t now_ms) {
  ComplaintCounts sum;
  for (const auto& b : series(provider, now_ms).buckets) {
    sum.delivered += b.counts.delivered;
    sum.complaints += b.counts.complaints;
  }
  return sum;
}

void ComplaintRate::publish(std::string_view provider, int64_t now_ms) {
  double rate = counts(provider, now_ms).rate();
  series(provider, now_ms).gauge->store(rate, std::memory_order_relaxed);
}

void ComplaintRate::delivered(std::string_view provider, std::string_view rcpt_domain,
                              int64_t now_ms) {
  ++current(provider, now_ms).delivered;
  if (!rcpt_domain.empty()) {
    std::string domain = ascii_lower(rcpt_domain);
    auto it = provider_of_.find(domain);
    if (it == provider_of_.end()) {
      if (provider_of_.size() >= kMaxDomains) provider_of_.clear();
      provider_of_.emplace(std::move(domain), std::string(provider));
    } else if (it->second != provider) {
      it->second = std::string(provider);
    }
  }
  publish(provider, now_ms);
}

std::string ComplaintRate::complained(std::string_view rcpt_domain, int64_t now_ms) {
  auto it = provider_of_.find(ascii_lower(rcpt_domain));
  std::string provider = it == provider_of_.end() ? "default" : it->second;
  ++current(provider, now_ms).complaints;
  publish(provider, now_ms);
  return provider;
}

}  // namespace hato::policy
