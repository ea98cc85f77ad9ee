// retry.h - when to try a deferred message again, and when to give up.
#pragma once

#include <cstdint>
#include <random>

#include "conf/config.h"

namespace hato::policy {

class RetryPolicy {
 public:
  explicit RetryPolicy(const conf::Retry& retry, uint64_t seed = std::random_device{}());

  // The next attempt after the n-th failed one (n >= 1): `first`, doubling,
  // capped at `max_interval`, then spread by up to ±20% so a backlog that
  // failed together does not come due together.
  int64_t next_attempt_ms(int64_t now_ms, uint32_t attempts);
  bool expired(int64_t created_ms, int64_t now_ms) const;
  bool delay_warning_due(int64_t created_ms, int64_t now_ms) const;

 private:
  conf::Retry retry_;
  std::mt19937_64 rng_;
};

}  // namespace hato::policy
