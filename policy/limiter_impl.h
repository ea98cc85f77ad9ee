// limiter_impl.h - the limiter's state, shared by the files that make up policy::Limiter
// (not an interface: only policy/limiter*.cc include it).
//
//   limiter.cc            egress choice, connections, take() and the rotation
//   limiter_providers.cc  the provider table, MX suffixes and reply rules from the config
//   limiter_warmup.cc     the warm-up schedule and the day's counters
//   limiter_replies.cc    throttling replies: suspensions and slowdowns
//   limiter_state.cc      what survives a restart, in the StateStore
//   limiter_status.cc     status_json()
//   limiter_complaints.cc the complaint rate per provider: slowdowns and suspensions
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "policy/client_limits.h"
#include "policy/complaint_rate.h"
#include "policy/limiter.h"

namespace hato::policy {

namespace limiter_detail {

struct Limits {
  uint32_t connections;
  uint32_t messages_per_connection;
  double rate_per_second;
};

// "20/s", "100/m", "3600/h", or messages per second when the rate is none of those.
std::string rate_text(double per_second);

}  // namespace limiter_detail

struct Limiter::Impl {
  using Limits = limiter_detail::Limits;

  struct Rule {
    std::regex regex;
    std::string provider;  // empty: any
    int64_t for_ms;
    double rate_per_second;  // 0: suspend
  };

  struct SuffixEntry {
    std::string suffix;
    std::string provider;
    bool configured;  // wins a tie with a built-in suffix of the same length
  };

  // One egress address x one provider.
  struct Pair {
    uint32_t open = 0;
    TokenBucket bucket;
    int64_t suspended_until = 0;  // 0: not suspended
    std::string suspend_reason;
    int64_t slow_until = 0;  // 0: not slowed down
    double slow_rate = 0;
    std::string slow_reason;
    int64_t credit = 0;  // pick()'s smooth weighted round robin, per provider
    // Read by the metrics thread through the hato_egress_suspended gauge, which outlives
    // this limiter when the configuration is reloaded.
    std::shared_ptr<std::atomic<int64_t>> gauge_until;
  };

  struct Egress {
    conf::Egress config;
    std::string ip;
    std::map<std::string, Pair, std::less<>> pairs;
    int64_t day = std::numeric_limits<int64_t>::min();  // the day the counts are of
    uint64_t sent = 0;
    std::map<std::string, uint64_t, std::less<>> sent_to;  // per provider, loaded ones
    std::optional<std::string> out_of_rotation;            // why, while blacklisted
    std::optional<std::string> own_out;                    // this node's monitor holds it
    int64_t own_since = 0;                                 // since when (published to the cluster)
    std::optional<std::string> cluster_out;                // another node holds it
    bool out_by_cluster = false;                           // out because of cluster_out alone
  };

  Impl(const conf::Config& config, StateStore& state);

  const Limits& limits_of(std::string_view provider) const;
  Egress* egress_at(size_t index, int64_t now_ms, Wait* wait);
  // The state of one address x provider, read back from the state store the first time.
  Pair& pair(Egress& e, std::string_view provider);
  bool suspended(Egress& e, std::string_view provider, Pair& p, int64_t now_ms);
  double rate(Egress& e, std::string_view provider, Pair& p, int64_t now_ms);
  void watch(Egress& e, std::string_view provider, Pair& p);

  // Why `e` may not send to `provider` now (out of rotation, suspended, today's allowance
  // spent), or nullopt; connection limits are not its concern.
  std::optional<Wait> blocked(Egress& e, std::string_view provider, int64_t now_ms);

  void roll_day(Egress& e, int64_t now_ms);
  uint64_t& sent_to(Egress& e, std::string_view provider);
  int64_t warmup_day(const Egress& e, int64_t now_ms) const;
  std::optional<uint64_t> allowance(const Egress& e, int64_t now_ms) const;
  // The refusal when today's allowance to `provider` is spent, else nullopt.
  // `connecting`: choose() asks, and an answer still on its way from the cluster is a yes.
  std::optional<Wait> warmup_refusal(Egress& e, std::string_view provider, int64_t now_ms,
                                     bool connecting = false);

  void suspend(Egress& e, std::string_view provider, Pair& p, const Rule& rule, std::string reason,
               int64_t now_ms);
  void slow_down(Egress& e, std::string_view provider, Pair& p, const Rule& rule,
                 std::string reason, int64_t now_ms);
  std::string suspension_text(const Egress& e, std::string_view provider, const Pair& p) const;

  // The warm-up counter a message to `provider` counts against (after roll_day()).
  std::string warmup_key(const Egress& e, std::string_view provider) const {
    return count_key(e, e.config.warmup && e.config.warmup->per_provider ? provider : "");
  }
  // The whole limit: a cluster backend hands out this node's part as slots.
  uint32_t connections_of(std::string_view provider) const {
    return limits_of(provider).connections;
  }
  void update_rotation();

  // Persistence (limiter_state.cc): the records a restart reads back, written at once.
  void load_pair(const Egress& e, std::string_view provider, Pair& p);
  void save_suspension(const Egress& e, std::string_view provider, const Pair& p);
  void save_slowdown(const Egress& e, std::string_view provider, const Pair& p);
  void forget_suspension(const Egress& e, std::string_view provider);
  void forget_slowdown(const Egress& e, std::string_view provider);
  std::string count_key(const Egress& e, std::string_view provider) const;
  uint64_t load_count(const std::string& key);
  void save_count(const std::string& key, uint64_t count);
  // Drops the counters of the day `e` counts now (before it moves on to the next).
  void forget_day(const Egress& e);

  StateStore& state;
  EmbeddedShared embedded;
  SharedState* shared = &embedded;
  std::vector<Egress> egress;
  std::map<std::string, Limits, std::less<>> limits;  // by provider name, "default" too
  std::vector<std::string> provider_names;            // for status: every known provider
  std::vector<SuffixEntry> suffixes;
  std::vector<Rule> rules;
  std::mt19937_64 random{std::random_device{}()};
  std::vector<size_t> candidates;  // reused by choose()
  bool keep_last = true;           // blacklist_monitor.keep_last_address
  conf::ComplaintLimits complaint_limits;
  ComplaintRate complaint_rate;
};

}  // namespace hato::policy
