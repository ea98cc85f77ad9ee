// cluster.cc - leases, suspensions and heartbeats in redis. Keys (all under "hato:"):
//   hato:w/<ip>/<day>[/<provider>]  messages counted against that warm-up allowance
//   hato:suspensions                hash "<ip>/<provider>" -> "<until_ms> <reason>"
//   hato:nodes                      sorted set: node name scored by its last heartbeat (ms)
//   hato:node/<name>                the node's view (JSON), expiring with its heartbeat
#include "policy/cluster.h"

#include <charconv>
#include <cmath>

#include "common/log.h"
#include "common/metrics.h"

namespace hato::policy {

namespace {

constexpr auto kTick = std::chrono::milliseconds(500);
constexpr int64_t kNodeTtlMs = 5000;       // a node that stops heartbeating leaves the share
constexpr int64_t kIdleLeaseMs = 3000;     // an unused lease goes back after this
constexpr int64_t kSpentRecheckMs = 2000;  // a spent counter is asked about again after this

// KEYS[1] counter; ARGV cap, wanted, expiry (ms since 1970). Reserves up to `wanted`
// without passing the cap: {reserved, count after}.
constexpr std::string_view kLeaseScript = R"(
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = math.min(tonumber(ARGV[2]), tonumber(ARGV[1]) - used)
if n < 0 then n = 0 end
if n > 0 then redis.call('INCRBY', KEYS[1], n) end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return {n, used + n}
)";

// KEYS[1] counter; ARGV n: gives back an unused lease, never below 0.
constexpr std::string_view kReturnScript = R"(
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = math.min(used, tonumber(ARGV[1]))
if n > 0 then redis.call('DECRBY', KEYS[1], n) end
return used - n
)";

// KEYS[1] counter; ARGV n, expiry: what a node sent while redis was away. It may pass the
// cap: those messages went out, and the count should say so.
constexpr std::string_view kAddScript = R"(
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return v
)";

// KEYS[1] suspensions hash; ARGV field, until, "until reason": keeps the later end.
constexpr std::string_view kSuspendScript = R"(
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local until_old = tonumber(string.match(old, '^(%d+)'))
  if until_old and until_old >= tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
)";

// KEYS[1] nodes set, KEYS[2] this node's view; ARGV name, now, ttl, view: the number alive.
constexpr std::string_view kHeartbeatScript = R"(
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
return redis.call('ZCARD', KEYS[1])
)";

// KEYS[1] nodes set; ARGV prefix: every live node's view.
constexpr std::string_view kViewsScript = R"(
local out = {}
for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('GET', ARGV[1] .. name)
  if v then table.insert(out, v) end
end
return out
)";

const std::string kPrefix = "hato:";

int64_t as_int(const RedisReply& r) {
  if (r.type == RedisReply::Type::kInteger) return r.integer;
  int64_t v = 0;
  std::from_chars(r.text.data(), r.text.data() + r.text.size(), v);
  return v;
}

}  // namespace

RedisShared::RedisShared(Loop& loop, const conf::Cluster& config, Limiter& limiter)
    : loop_(loop),
      config_(config),
      limiter_(limiter),
      redis_(loop, config.server),
      timer_(loop, [this] { tick(); }) {
  redis_.on_up([this] { reconcile(); });
  redis_.on_down([](const std::string&) {
    metrics()
        .counter("hato_cluster_redis_lost_total", "Connections to the cluster's redis lost")
        .inc();
  });
  RedisClient* redis = &redis_;
  std::shared_ptr<bool> alive = alive_;
  metrics().callback_gauge("hato_cluster_redis_up",
                           "1 while this node shares its limits through redis",
                           [redis, alive] { return *alive && redis->connected() ? 1.0 : 0.0; });
}

RedisShared::~RedisShared() {
  *alive_ = false;
}

void RedisShared::start() {
  log::info("cluster node starting",
            {{"node", config_.node}, {"redis", config_.server.to_string()}});
  redis_.start();
  timer_.arm(kTick);
}

double RedisShared::share() const {
  if (!redis_.connected()) return config_.local_share;
  return 1.0 / static_cast<double>(std::max<int64_t>(1, nodes_));
}

SharedState::Allowance RedisShared::allowance(const std::string& key, uint64_t cap,
                                              int64_t expires_ms) {
  Lease& lease = leases_[key];
  lease.cap = cap;
  lease.expires_ms = expires_ms;
  if (lease.have > 0) return Allowance::kYes;
  if (!redis_.connected()) {
    // A conservative part of the allowance, for this node alone, until redis returns.
    auto local = static_cast<uint64_t>(std::floor(static_cast<double>(cap) * config_.local_share));
    return lease.offline_sent < local ? Allowance::kYes : Allowance::kOffline;
  }
  if (lease.asking) return Allowance::kAsking;
  if (lease.spent_until > log::now_ms()) return Allowance::kSpent;
  ask(key, lease);
  return Allowance::kAsking;
}

void RedisShared::ask(const std::string& key, Lease& lease) {
  lease.asking = true;
  std::shared_ptr<bool> alive = alive_;
  redis_.eval(
      kLeaseScript, {kPrefix + key},
      {std::to_string(lease.cap), std::to_string(config_.lease), std::to_string(lease.expires_ms)},
      [this, alive, key](const RedisReply& r) {
        if (!*alive) return;
        Lease& l = leases_[key];
        l.asking = false;
        if (r.type != RedisReply::Type::kArray || r.elements.size() != 2) {
          if (r.type == RedisReply::Type::kError && redis_.connected())
            log::error("cluster: cannot reserve warm-up allowance",
                       {{"key", key}, {"reason", r.text}});
          return;
        }
        int64_t got = as_int(r.elements[0]);
        l.count = static_cast<uint64_t>(as_int(r.elements[1]));
        if (got > 0) {
          l.have += static_cast<uint64_t>(got);
          l.last_spend = log::now_ms();
        } else {
          l.spent_until = log::now_ms() + kSpentRecheckMs;
        }
      });
}

void RedisShared::spend(const std::string& key) {
  Lease& lease = leases_[key];
  int64_t now = log::now_ms();
  lease.last_spend = now;
  if (lease.have > 0) {
    --lease.have;
    // The next lease is asked for while half of this one is left, so that a busy node
    // does not stop at every round trip to redis.
    if (lease.have <= config_.lease / 2 && !lease.asking && redis_.connected() &&
        lease.spent_until <= now) {
      ask(key, lease);
    }
    return;
  }
  ++lease.offline_sent;  // allowed by allowance() from the local share
  metrics()
      .counter("hato_cluster_offline_messages_total",
               "Messages counted against the local share while redis was unreachable")
      .inc();
}

std::optional<uint64_t> RedisShared::cluster_count(const std::string& key) {
  auto it = leases_.find(key);
  if (it == leases_.end()) return std::nullopt;
  return it->second.count;
}

void RedisShared::suspended(const std::string& ip, const std::string& provider, int64_t until_ms,
                            const std::string& reason) {
  // Without redis the suspension holds here; the others learn of it from the replies they
  // get themselves. It is published again at the next reply that matches.
  std::string field = ip + "/" + provider;
  redis_.eval(kSuspendScript, {kPrefix + "suspensions"},
              {field, std::to_string(until_ms), std::to_string(until_ms) + " " + reason},
              [field](const RedisReply& r) {
                if (!r.ok())
                  log::warning("cluster: suspension not shared",
                               {{"suspension", field}, {"reason", r.text}});
              });
}

void RedisShared::tick() {
  timer_.arm(kTick);
  if (!redis_.connected()) return;
  int64_t now = log::now_ms();
  heartbeat();
  poll_suspensions();
  give_back_idle(now);
  // Yesterday's leases are of no use and their counters expire in redis.
  for (auto it = leases_.begin(); it != leases_.end();) {
    bool old = it->second.expires_ms <= now && !it->second.asking && it->second.offline_sent == 0;
    it = old ? leases_.erase(it) : std::next(it);
  }
}

void RedisShared::heartbeat() {
  std::string view = view_ ? view_() : "{}";
  std::shared_ptr<bool> alive = alive_;
  redis_.eval(kHeartbeatScript, {kPrefix + "nodes", kPrefix + "node/" + config_.node},
              {config_.node, std::to_string(log::now_ms()), std::to_string(kNodeTtlMs), view},
              [this, alive](const RedisReply& r) {
                if (!*alive || r.type != RedisReply::Type::kInteger) return;
                if (r.integer != nodes_) {
                  log::info("cluster nodes alive",
                            {{"node", config_.node}, {"nodes", std::to_string(r.integer)}});
                }
                nodes_ = std::max<int64_t>(1, r.integer);
              });
}

void RedisShared::poll_suspensions() {
  std::shared_ptr<bool> alive = alive_;
  redis_.command({"HGETALL", kPrefix + "suspensions"}, [this, alive](const RedisReply& r) {
    if (!*alive || r.type != RedisReply::Type::kArray) return;
    int64_t now = log::now_ms();
    for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
      const std::string& field = r.elements[i].text;
      std::string_view value = r.elements[i + 1].text;
      size_t slash = field.rfind('/');
      size_t space = value.find(' ');
      if (slash == std::string::npos || space == std::string_view::npos) continue;
      int64_t until = 0;
      std::from_chars(value.data(), value.data() + space, until);
      if (until <= now) continue;
      limiter_.apply_suspension(field.substr(0, slash), field.substr(slash + 1), until,
                                std::string(value.substr(space + 1)));
    }
  });
}

void RedisShared::give_back_idle(int64_t now) {
  for (auto& [key, lease] : leases_) {
    if (lease.have == 0 || lease.asking || now - lease.last_spend < kIdleLeaseMs) continue;
    uint64_t n = lease.have;
    lease.have = 0;  // if this fails the allowance is short for the day, never over
    redis_.eval(kReturnScript, {kPrefix + key}, {std::to_string(n)}, [](const RedisReply&) {});
  }
}

// reconcile - redis is back: what was sent from the local share is added to the counters.
void RedisShared::reconcile() {
  for (auto& [key, lease] : leases_) {
    lease.spent_until = 0;
    if (lease.offline_sent == 0) continue;
    uint64_t n = lease.offline_sent;
    lease.offline_sent = 0;
    log::info("cluster: adding messages sent while redis was unreachable",
              {{"key", key}, {"messages", std::to_string(n)}});
    std::string k = key;
    std::shared_ptr<bool> alive = alive_;
    redis_.eval(kAddScript, {kPrefix + key}, {std::to_string(n), std::to_string(lease.expires_ms)},
                [this, alive, k, n](const RedisReply& r) {
                  if (!*alive) return;
                  if (!r.ok()) leases_[k].offline_sent += n;  // again at the next connection
                });
  }
  tick();
}

void RedisShared::nodes_json(std::function<void(Result<std::string>)> done) {
  redis_.eval(kViewsScript, {kPrefix + "nodes"}, {kPrefix + "node/"},
              [done = std::move(done)](const RedisReply& r) {
                if (r.type != RedisReply::Type::kArray) {
                  done(Result<std::string>::error(r.text.empty() ? "no answer" : r.text));
                  return;
                }
                std::string out = "[";
                for (size_t i = 0; i < r.elements.size(); ++i) {
                  if (i) out += ',';
                  out += r.elements[i].text;
                }
                done(out + "]");
              });
}

std::string RedisShared::status_json() const {
  std::string out = "{\"node\":";
  log::append_json_string(out, config_.node);
  out += ",\"redis\":";
  log::append_json_string(out, config_.redis);
  out += std::string(",\"connected\":") + (redis_.connected() ? "true" : "false");
  out += ",\"nodes\":" + std::to_string(nodes_);
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof buf, share()).ptr;
  out += ",\"share\":" + std::string(buf, end) + "}";
  return out;
}

}  // namespace hato::policy
