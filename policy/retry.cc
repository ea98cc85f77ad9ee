// retry.cc - exponential back-off with jitter, expiry and delay warnings.
#include "policy/retry.h"

#include <algorithm>

namespace hato::policy {

RetryPolicy::RetryPolicy(const conf::Retry& retry, uint64_t seed) : retry_(retry), rng_(seed) {}

int64_t RetryPolicy::next_attempt_ms(int64_t now_ms, uint32_t attempts) {
  int64_t interval = retry_.first.count();
  const int64_t cap = std::max<int64_t>(retry_.max_interval.count(), 1);
  for (uint32_t i = 1; i < attempts && interval < cap; ++i) interval *= 2;
  interval = std::min(interval, cap);
  std::uniform_real_distribution<double> spread(0.8, 1.2);
  return now_ms + std::max<int64_t>(1, static_cast<int64_t>(interval * spread(rng_)));
}

bool RetryPolicy::expired(int64_t created_ms, int64_t now_ms) const {
  return now_ms - created_ms >= retry_.max_age.count();
}

bool RetryPolicy::delay_warning_due(int64_t created_ms, int64_t now_ms) const {
  return retry_.delay_warning.count() > 0 && now_ms - created_ms >= retry_.delay_warning.count();
}

}  // namespace hato::policy
