// client_limits.h - what one client address may do: the brake on repeated failures (failed
// logins, refused recipients) and the message rate of inbound listeners.
//
// FailureGuard counts failures per client address and says how long to hold the reply to
// the next one, and when to stop answering altogether. The same brake serves AUTH on
// submission (policy/auth.h's AuthGuard) and error replies on inbound listeners
// (inbound.limits.error_slowdown), with different settings. Loop thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "conf/config.h"
#include "policy/hook.h"

namespace hato::policy {

struct Brake {
  uint32_t free = 0;                      // failures answered at once before the delays begin
  std::chrono::milliseconds first{1000};  // the first delay; each further failure doubles it
  std::chrono::milliseconds max{16000};
  uint32_t block_after = 10;                                   // recent failures before blocked()
  std::chrono::milliseconds forget{std::chrono::minutes(15)};  // quiet time that wipes them
};

// The inbound listeners' brake, from inbound.limits.error_slowdown.
Brake error_brake(const conf::ErrorSlowdown& slowdown);

class FailureGuard {
 public:
  explicit FailureGuard(Brake brake) : brake_(brake) {}
  void set_brake(Brake brake) { brake_ = brake; }

  // A check has begun; until it ends it counts towards may_begin(), so guesses made in
  // parallel are bounded like guesses made one after another (but never towards
  // blocked(): a check in flight is not a failure).
  void begin(const std::string& client) { in_flight_[client]++; }
  void end(const std::string& client) {
    auto it = in_flight_.find(client);
    if (it != in_flight_.end() && --it->second == 0) in_flight_.erase(it);
  }
  std::chrono::milliseconds failure(const std::string& client);  // returns the delay
  void success(const std::string& client);
  // Takes back `n` of the client's failures (policy::AuthGuard: one user's own, on a success).
  void forgive(const std::string& client, uint32_t n);
  uint32_t failures(const std::string& client) const;
  bool blocked(const std::string& client) const;  // too many recent failures
  // Whether one more check may start now: even if every check in flight fails, the
  // address stays within the failures that block it. Otherwise the check waits.
  bool may_begin(const std::string& client) const;

 private:
  struct Entry {
    uint32_t count = 0;
    std::chrono::steady_clock::time_point last;
  };
  void expire();
  Brake brake_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, uint32_t> in_flight_;
};

// A token bucket: `rate` tokens a second, holding at most `burst`; full at first.
// Per client here, per egress address and provider in policy/limiter.cc.
class TokenBucket {
 public:
  // Takes a token at `now_ms`; false (and nothing taken) when none is left.
  bool take(int64_t now_ms, double rate, double burst);
  // After a refused take(): milliseconds until the next token (at least 1).
  int64_t wait_ms(double rate) const;
  bool idle(int64_t now_ms, double rate, double burst) const;  // full again: may be dropped

 private:
  double tokens_ = -1;  // < 0: never used, full
  int64_t refilled_ms_ = 0;
};

// kMail on inbound listeners: at most inbound.limits.messages_per_client per client
// address; beyond it 450 4.7.0 until the bucket fills again. Trusted networks are exempt.
class ClientRateHook : public Hook {
 public:
  const char* name() const override { return "client-rate"; }
  void run(const HookContext& context, std::function<void(Verdict)> done) override;
  // For tests: the clock in milliseconds.
  void set_clock(std::function<int64_t()> clock) { clock_ = std::move(clock); }

 private:
  std::map<std::string, TokenBucket> buckets_;
  std::function<int64_t()> clock_;
};

}  // namespace hato::policy
