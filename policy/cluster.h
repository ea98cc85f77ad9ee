// cluster.h - the redis backend of SharedState (issue 12): several nodes, each with its own
// RocksDB queue, share warm-up allowances, limits and suspensions.
//
// Warm-up allowances are leased: a node atomically reserves a few messages of the day's
// counter with a Lua script that never takes it past the cap, spends them locally and gives
// back what it has not used after a quiet spell, so the nodes together never send more than
// the allowance. Suspensions, slowdowns and blacklisted egress addresses go into hashes that
// every node reads twice a second (an address any node's monitor holds leaves every node's
// rotation). Each node heartbeats into a sorted set.
//
// Connections are counted cluster-wide: a node holds connection slots per egress address x
// provider, granted one at a time by a Lua script only while the slots of the live nodes (a
// node that stops heartbeating no longer counts) are below the limit, and given back after
// an idle spell. Rate limits are divided instead: each node gets 1/(live nodes) of each rate
// (share()); a redis-side bucket would cost a round trip per message for little gain, as
// the receivers judge rates over minutes.
//
// While redis is unreachable a node sends within `local_share` of each limit (warm-up
// allowance, connections, rates) and, when redis returns, adds what it sent meanwhile to the
// shared counters, declares the slots it holds and publishes its listings again.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/loop.h"
#include "common/redis_client.h"
#include "conf/config.h"
#include "policy/limiter.h"

namespace hato::policy {

class RedisShared : public SharedState {
 public:
  RedisShared(Loop& loop, const conf::Cluster& config, Limiter& limiter);
  ~RedisShared() override;

  void start();
  // This node's view for `--cluster` (a JSON object), written with each heartbeat.
  void set_node_view(std::function<std::string()> view) { view_ = std::move(view); }
  // Every live node's view: a JSON array, to `done` on the loop; an error without redis.
  void nodes_json(std::function<void(Result<std::string>)> done);
  // {"node","redis","connected","nodes","share"} for warm-up status and metrics.
  std::string status_json() const;

  Allowance allowance(const std::string& key, uint64_t cap, int64_t expires_ms,
                      uint64_t n) override;
  void reserve(const std::string& key, uint64_t cap, int64_t expires_ms, uint64_t n,
               std::function<void(Allowance)> done) override;
  void spend(const std::string& key, uint64_t n) override;
  std::optional<uint64_t> cluster_count(const std::string& key) override;
  void suspended(const std::string& ip, const std::string& provider, int64_t until_ms,
                 const std::string& reason) override;
  void slowed(const std::string& ip, const std::string& provider, int64_t until_ms, double rate,
              const std::string& reason) override;
  void listed(const std::string& ip, int64_t since_ms, const std::string& reason) override;
  void unlisted(const std::string& ip) override;
  Allowance connection(const std::string& ip, const std::string& provider, uint32_t limit,
                       uint32_t open) override;
  void connections(const std::string& ip, const std::string& provider, uint32_t open) override;
  double share() const override;

 private:
  // Connection slots of one "<ip>/<provider>".
  struct Slots {
    uint32_t held = 0;  // granted by redis
    uint32_t open = 0;  // connections open now
    bool asking = false;
    int64_t full_until = 0;  // every slot was held; not asked again before this
    int64_t last_used = 0;
  };
  void ask_slot(const std::string& pair, uint32_t limit);
  void give_back_slots(int64_t now);
  void poll_slowdowns();
  void poll_blacklist();
  void redeclare();
  struct Lease {
    uint64_t have = 0;        // reserved in redis, not yet sent
    bool asking = false;      // a reservation is on its way
    int64_t spent_until = 0;  // redis said none are left; do not ask again before this
    int64_t expires_ms = 0;   // the counter's end (next UTC midnight)
    uint64_t cap = 0;
    // Counted without a reservation (redis away, or a lease that went back before a quota's
    // message was queued), not yet added to redis.
    uint64_t offline_sent = 0;
    int64_t last_spend = 0;
    std::optional<uint64_t> count;  // the cluster's count, as last heard
    uint64_t wanted = 0;            // the largest n asked for since the last grant
    bool exact = false;             // reserve()d: no batch, no asking ahead
    // reserve() callers waiting for the reservation on its way: how many each needs.
    std::vector<std::pair<uint64_t, std::function<void(Allowance)>>> waiters;
  };
  void ask(const std::string& key, Lease& lease);
  uint64_t batch(const Lease& lease) const;
  Allowance offline_allowance(const Lease& lease, uint64_t n) const;
  void answer_waiters(const std::string& key, bool redis_answered);
  void tick();
  void heartbeat();
  void poll_suspensions();
  bool two_numbers(const RedisReply& r, const char* what, const std::string& key);
  using EntryFn = std::function<void(const std::string& ip, const std::string& name, int64_t number,
                                     std::string_view rest)>;
  void poll_hash(const std::string& hash, EntryFn each, std::function<void()> done = nullptr);
  void give_back_idle(int64_t now);
  void reconcile();
  void add_offline_sent();

  Loop& loop_;
  conf::Cluster config_;
  Limiter& limiter_;
  RedisClient redis_;
  Timer timer_;
  std::map<std::string, Lease> leases_;
  std::map<std::string, Slots> slots_;         // by "<ip>/<provider>"
  std::map<std::string, std::string> listed_;  // this node's listings: ip -> "<since> <reason>"
  std::function<std::string()> view_;
  int64_t nodes_ = 1;
  int64_t last_prune_ms_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for callbacks after us
  bool redeclare_due_ = false;  // the last redeclare failed: the next tick tries again
};

}  // namespace hato::policy
