// limiter.h - the pace receivers trust: egress addresses, providers, shaping,
// warm-up and suspensions (issue 7). Pure decisions; the delivery engine asks
// before it connects and before each message, and reports what it hears.
//
// Nothing here looks at the queue: each decision is O(1) in the number of queued
// messages, O(log n) in the number of providers, and choose() walks the egress list
// (a handful of configured addresses) once. Not thread-safe: the delivery loop's
// thread calls it, and the admin server on the same loop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/status.h"
#include "conf/config.h"

namespace hato::policy {

// Where counters and suspensions survive a restart (the queue store's state
// family in the daemon; a map in tests), keyed as queue/state_keys.h says.
class StateStore {
 public:
  using Visitor = std::function<bool(std::string_view key, std::string_view value)>;
  virtual ~StateStore() = default;
  virtual std::optional<std::string> get(std::string_view key) = 0;
  virtual void put(std::string_view key, std::string_view value) = 0;
  virtual void erase(std::string_view key) = 0;
  // Visits the records whose key starts with `prefix`, in key order; stop by returning
  // false. Not pure so that test doubles that never scan need not implement it.
  virtual Status scan(std::string_view prefix, const Visitor& visit) {
    (void)prefix;
    (void)visit;
    return Status::error("this state store cannot scan");
  }
};

// What the nodes of a cluster must agree on (issue 12): warm-up allowances, connection
// slots, the share of each rate limit, suspensions, slowdowns and blacklisted addresses.
// EmbeddedShared, the default, is one node agreeing with itself; policy/cluster.h shares
// through redis. Calls come on the loop's thread and never wait: a backend that must ask a
// server answers kAsking and asks.
class SharedState {
 public:
  enum class Allowance {
    kYes,      // send: the message counts with spend()
    kAsking,   // not known yet; ask again shortly
    kSpent,    // the cluster has counted the whole allowance
    kOffline,  // the shared store is unreachable and this node's local share is spent
  };
  virtual ~SharedState() = default;
  // May `n` more count against the counter `key` (a warm-up day, queue::state::warmup_key(),
  // or a user's quota window, user_quota_key()), whose allowance is `cap`? The counter ends
  // at `expires_ms`.
  virtual Allowance allowance(const std::string& key, uint64_t cap, int64_t expires_ms,
                              uint64_t n) = 0;
  // As allowance(), for a caller that can wait for redis: `done` hears kYes, kSpent or
  // kOffline, at once when the answer is known here. What is missing is reserved exactly
  // (allowance() reserves a lease ahead, for warm-up's many messages).
  virtual void reserve(const std::string& key, uint64_t cap, int64_t expires_ms, uint64_t n,
                       std::function<void(Allowance)> done) {
    done(allowance(key, cap, expires_ms, n));
  }
  // `n` went out (or were queued) against `key`.
  virtual void spend(const std::string& key, uint64_t n) = 0;
  // The cluster's count for `key`, when known (status only).
  virtual std::optional<uint64_t> cluster_count(const std::string& key) = 0;
  // This node suspended egress `ip` for `provider`: the others must stop too.
  virtual void suspended(const std::string& ip, const std::string& provider, int64_t until_ms,
                         const std::string& reason) = 0;
  // This node slowed egress `ip` down for `provider` to `rate` per second: the others too.
  virtual void slowed(const std::string& ip, const std::string& provider, int64_t until_ms,
                      double rate, const std::string& reason) = 0;
  // This node's blacklist monitor took egress `ip` out of the rotation (since `since_ms`,
  // for `reason`), or let it back in: the others follow.
  virtual void listed(const std::string& ip, int64_t since_ms, const std::string& reason) = 0;
  virtual void unlisted(const std::string& ip) = 0;
  // May this node, with `open` connections open from `ip` to `provider`, open one more, the
  // whole cluster's limit being `limit`? kYes, kAsking (a slot is being asked for), kSpent
  // (every slot is held) or kOffline (redis away: the local share is open).
  virtual Allowance connection(const std::string& ip, const std::string& provider, uint32_t limit,
                               uint32_t open) = 0;
  // How many connections this node has open from `ip` to `provider` now.
  virtual void connections(const std::string& ip, const std::string& provider, uint32_t open) = 0;
  // The part of each per-address rate limit this node may use.
  virtual double share() const = 0;
};

// A single node: today's behaviour, everything decided from its own RocksDB state.
class EmbeddedShared : public SharedState {
 public:
  Allowance allowance(const std::string&, uint64_t, int64_t, uint64_t) override {
    return Allowance::kYes;
  }
  void spend(const std::string&, uint64_t) override {}
  std::optional<uint64_t> cluster_count(const std::string&) override { return std::nullopt; }
  void suspended(const std::string&, const std::string&, int64_t, const std::string&) override {}
  void slowed(const std::string&, const std::string&, int64_t, double,
              const std::string&) override {}
  void listed(const std::string&, int64_t, const std::string&) override {}
  void unlisted(const std::string&) override {}
  // The limiter holds the whole limit itself.
  Allowance connection(const std::string&, const std::string&, uint32_t, uint32_t) override {
    return Allowance::kYes;
  }
  void connections(const std::string&, const std::string&, uint32_t) override {}
  double share() const override { return 1.0; }
};

struct EgressChoice {
  size_t index = 0;       // into the configured egress list
  SocketAddress address;  // bind to this (port 0)
  std::string helo;
};

// A refusal and when to ask again.
struct Wait {
  int64_t until_ms = 0;
  std::string reason;  // "warm-up limit: 127.0.0.1 sent 5 of 5 today", "suspended: ..."
};

class Limiter {
 public:
  Limiter(const conf::Config& config, StateStore& state);
  ~Limiter();

  // True when egress addresses are configured; without any, the engine
  // connects from the system's default address and asks nothing else.
  bool active() const;
  // The provider of a destination from its MX host names ("google",
  // "microsoft", "yahoo", "apple", a configured one, or "default").
  std::string provider_for(const std::vector<std::string>& mx_hosts) const;
  // An egress address that may open one more connection to `provider` now,
  // chosen by weight among those allowed (only `only`, when given); or when to try again.
  std::optional<EgressChoice> choose(const std::string& provider, int64_t now_ms, Wait* wait,
                                     std::optional<size_t> only = std::nullopt);
  // The egress address one message to `provider` goes out from: weights are shares of
  // messages (smooth weighted round robin), among the addresses that may send now (in the
  // rotation, not suspended, allowance left), whatever their open connections; nullopt
  // with when to try again when none may.
  std::optional<size_t> pick(const std::string& provider, int64_t now_ms, Wait* wait);
  // Whether `egress` may send to `provider` now, connection limits aside.
  bool may_send(size_t egress, const std::string& provider, int64_t now_ms);
  // The connections one address may have open to `provider`.
  uint32_t connections_per_address(const std::string& provider) const;
  void opened(size_t egress, const std::string& provider);
  void closed(size_t egress, const std::string& provider);
  // One more message on this connection now? Takes a rate token and one of
  // today's warm-up allowance; on refusal says until when.
  bool take(size_t egress, const std::string& provider, int64_t now_ms, Wait* wait);
  // A remote reply: suspends egress x provider when a rule matches.
  bool observe_reply(size_t egress, const std::string& provider, std::string_view reply,
                     int64_t now_ms);
  // A message delivered to `provider` (to a recipient of `rcpt_domain`): the complaint
  // rate's denominator.
  void observe_delivered(const std::string& provider, std::string_view rcpt_domain, int64_t now_ms);
  // A complaint (ARF) by a recipient of `rcpt_domain`, counted for the provider that domain's
  // mail was delivered to. Over shaping.complaints' limits every egress address slows down
  // or stops sending to that provider, as a throttling reply would. Gives the provider.
  std::string observe_complaint(std::string_view rcpt_domain, int64_t now_ms);
  // `hato warmup status --json`: one object per egress address, each on a line:
  // {"address","helo","weight","day" (null without warm-up),"allowance" (null: no
  // limit today),"sent_today","suspensions":[{"provider","until","reason"}],
  // "slowdowns":[{"provider","until","rate","reason"}]}, with per_provider warm-up
  // also "per_provider":true,"sent_by_provider":{"google":N,...}; while blacklisted also
  // "out_of_rotation":"reason".
  std::string status_json(int64_t now_ms);

  // The blacklist monitor's verdict (policy/blacklist_monitor.h): the egress addresses (by
  // IP) out of the rotation now, each with its reason; every other one is in. choose() skips
  // them, and the engine ends a connection from one before its next message.
  void set_out_of_rotation(const std::map<std::string, std::string>& reasons);
  // The listings other nodes of the cluster hold (by IP, with their reasons): an address is
  // out of the rotation while this node's monitor or another node holds it, except that
  // with blacklist_monitor.keep_last_address the union never takes out every address.
  void set_cluster_out_of_rotation(const std::map<std::string, std::string>& reasons);
  bool in_rotation(size_t egress) const;

  // Shares limits with other nodes through `shared` (not owned; null: the embedded default).
  void set_shared(SharedState* shared);
  // A suspension another node saw: applied here too, and not published again.
  void apply_suspension(const std::string& ip, const std::string& provider, int64_t until_ms,
                        const std::string& reason);
  // A slowdown another node saw: the same.
  void apply_slowdown(const std::string& ip, const std::string& provider, int64_t until_ms,
                      double rate, const std::string& reason);

  // A reloaded configuration's warm-up schedules, for the addresses it shares with the
  // running one (same place in the list, same address); today's counts stay. Whatever else
  // changed in egress or shaping needs a new limiter (conf::same_egress_and_shaping).
  void set_warmup(const conf::Config& config);

  // Messages one connection to `provider` may carry before the engine closes it.
  uint32_t messages_per_connection(const std::string& provider) const;
  // Fixes the sequence of choose()'s weighted picks (tests); random by default.
  void seed(uint64_t seed);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hato::policy
