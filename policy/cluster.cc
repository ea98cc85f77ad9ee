// cluster.cc - leases, suspensions and heartbeats in redis. Keys (all under "hato:"):
//   hato:w/<ip>/<day>[/<provider>]  messages counted against that warm-up allowance
//   hato:suspensions                hash "<ip>/<provider>" -> "<until_ms> <reason>"
//   hato:slowdowns                  hash "<ip>/<provider>" -> "<until_ms> <rate/s> <reason>"
//                                   (in both, entries that are over are dropped every minute)
//   hato:blacklist                  hash "<ip>/<node>" -> "<since_ms> <reason>": egress
//                                   addresses that node's blacklist monitor holds
//   hato:conn/<ip>/<provider>       hash node -> connection slots that node holds
//   hato:conn-keys                  set of the hato:conn/ keys (to clear a node's slots)
//   hato:nodes                      sorted set: node name scored by its last heartbeat (ms)
//   hato:node/<name>                the node's view (JSON), expiring with its heartbeat
#include "policy/cluster.h"

#include <algorithm>
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
constexpr int64_t kIdleSlotMs = 1000;      // a connection slot unused this long goes back
constexpr int64_t kFullRecheckMs = 250;    // every slot held: asked again after this
constexpr int64_t kPruneEveryMs = 60'000;  // suspensions and slowdowns that are over: dropped

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

// KEYS[1] slowdowns hash; ARGV field, until, rate, "until rate reason": replaces an entry
// unless it is already as slow for as long.
constexpr std::string_view kSlowScript = R"(
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local u, r = string.match(old, '^(%d+) (%S+)')
  if u and tonumber(u) >= tonumber(ARGV[2]) and tonumber(r) <= tonumber(ARGV[3]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
return 1
)";

// KEYS[1] slots hash of one address x provider, KEYS[2] nodes set, KEYS[3] the set of slot
// hashes; ARGV node, limit, now, node ttl. Grants one slot while the slots of the live nodes
// are below the limit; a dead node's field is dropped: {granted, slots held after}.
constexpr std::string_view kSlotScript = R"(
local total = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local node, n = fields[i], tonumber(fields[i + 1])
  local seen = node ~= ARGV[1] and redis.call('ZSCORE', KEYS[2], node)
  if node == ARGV[1] or (seen and tonumber(seen) >= tonumber(ARGV[3]) - tonumber(ARGV[4])) then
    total = total + n
  else
    redis.call('HDEL', KEYS[1], node)
  end
end
redis.call('SADD', KEYS[3], KEYS[1])
if total >= tonumber(ARGV[2]) then return {0, total} end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return {1, total + 1}
)";

// KEYS[1] slots hash; ARGV node, n: gives back n slots.
constexpr std::string_view kSlotReturnScript = R"(
local v = redis.call('HINCRBY', KEYS[1], ARGV[1], -tonumber(ARGV[2]))
if v <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v
)";

// KEYS[1] the set of slot hashes, KEYS[2] blacklist hash; ARGV node, number of slot entries,
// then (slots hash, count) pairs, then (blacklist field, value) pairs. Forgets what an
// earlier run of this node declared and declares what it holds now: at every connection.
constexpr std::string_view kRedeclareScript = R"(
local node = ARGV[1]
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  redis.call('HDEL', k, node)
  if redis.call('EXISTS', k) == 0 then redis.call('SREM', KEYS[1], k) end
end
local suffix = '/' .. node
for _, f in ipairs(redis.call('HKEYS', KEYS[2])) do
  if string.sub(f, -#suffix) == suffix then redis.call('HDEL', KEYS[2], f) end
end
local n = tonumber(ARGV[2])
for i = 0, n - 1 do
  redis.call('HSET', ARGV[3 + 2 * i], node, ARGV[4 + 2 * i])
  redis.call('SADD', KEYS[1], ARGV[3 + 2 * i])
end
for i = 3 + 2 * n, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 1
)";

// KEYS[1] nodes set, KEYS[2] this node's view; ARGV name, now, ttl, view: the number alive.
constexpr std::string_view kHeartbeatScript = R"(
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[3]))
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
return redis.call('ZCARD', KEYS[1])
)";

// KEYS: hashes whose values start with "<until_ms> "; ARGV now: drops the entries that are
// over (in one script, so an entry renewed meanwhile is never lost).
constexpr std::string_view kPruneScript = R"(
local n = 0
for _, key in ipairs(KEYS) do
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local until_ms = tonumber(string.match(all[i + 1], '^(%d+)'))
    if until_ms and until_ms <= tonumber(ARGV[1]) then
      redis.call('HDEL', key, all[i])
      n = n + 1
    end
  end
end
return n
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
  redis_.set_auth(config.user, config.password);
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
                                              int64_t expires_ms, uint64_t n) {
  Lease& lease = leases_[key];
  lease.cap = cap;
  lease.expires_ms = expires_ms;
  if (lease.have >= n) return Allowance::kYes;
  if (!redis_.connected()) return offline_allowance(lease, n);
  if (lease.asking) return Allowance::kAsking;
  if (lease.spent_until > log::now_ms()) return Allowance::kSpent;
  lease.wanted = std::max(lease.wanted, n);
  ask(key, lease);
  return Allowance::kAsking;
}

// A conservative part of the allowance, for this node alone, until redis returns.
SharedState::Allowance RedisShared::offline_allowance(const Lease& lease, uint64_t n) const {
  auto local =
      static_cast<uint64_t>(std::floor(static_cast<double>(lease.cap) * config_.local_share));
  return lease.offline_sent + n <= local ? Allowance::kYes : Allowance::kOffline;
}

void RedisShared::reserve(const std::string& key, uint64_t cap, int64_t expires_ms, uint64_t n,
                          std::function<void(Allowance)> done) {
  leases_[key].exact = true;
  Allowance a = allowance(key, cap, expires_ms, n);
  if (a != Allowance::kAsking) return done(a);
  leases_[key].waiters.emplace_back(n, std::move(done));
}

// answer_waiters - a reservation came back (or failed): each reserve() caller waiting on `key`
// asks again, which may send one more reservation for what is still missing. Without an answer
// from redis (a refused script, a lost connection), the local share decides, so that a caller
// never waits on a reply that will not come.
void RedisShared::answer_waiters(const std::string& key, bool redis_answered) {
  auto waiters = std::move(leases_[key].waiters);
  leases_[key].waiters.clear();
  for (auto& [n, done] : waiters) {
    Lease& lease = leases_[key];
    if (!redis_answered) {
      done(lease.have >= n ? Allowance::kYes : offline_allowance(lease, n));
      continue;
    }
    reserve(key, lease.cap, lease.expires_ms, n, std::move(done));
  }
}

// two_numbers - whether a script answered {granted, count}; a refusal by redis is logged
// (a lost connection is reported once by the client instead).
bool RedisShared::two_numbers(const RedisReply& r, const char* what, const std::string& key) {
  if (r.type == RedisReply::Type::kArray && r.elements.size() == 2) return true;
  if (r.type == RedisReply::Type::kError && redis_.connected())
    log::error(what, {{"key", key}, {"reason", r.text}});
  return false;
}

// batch - how much one reservation takes beyond what is missing: `lease` for warm-up
// allowances, nothing for counters reserve()d exactly (a user's quota of 5 a minute must not
// sit on one node while the user sends through another).
uint64_t RedisShared::batch(const Lease& lease) const {
  return lease.exact ? 0 : config_.lease;
}

// ask - reserves what the reserve() callers are missing, or a batch.
void RedisShared::ask(const std::string& key, Lease& lease) {
  lease.asking = true;
  uint64_t missing = lease.wanted > lease.have ? lease.wanted - lease.have : 0;
  uint64_t wanted = std::max<uint64_t>({batch(lease), missing, 1});
  lease.wanted = 0;
  std::shared_ptr<bool> alive = alive_;
  redis_.eval(kLeaseScript, {kPrefix + key},
              {std::to_string(lease.cap), std::to_string(wanted), std::to_string(lease.expires_ms)},
              [this, alive, key](const RedisReply& r) {
                if (!*alive) return;
                Lease& l = leases_[key];
                l.asking = false;
                if (!two_numbers(r, "cluster: cannot reserve from a shared counter", key)) {
                  return answer_waiters(key, false);
                }
                int64_t got = as_int(r.elements[0]);
                l.count = static_cast<uint64_t>(as_int(r.elements[1]));
                if (got > 0) {
                  l.have += static_cast<uint64_t>(got);
                  l.last_spend = log::now_ms();
                } else {
                  l.spent_until = log::now_ms() + kSpentRecheckMs;
                }
                answer_waiters(key, true);
              });
}

void RedisShared::spend(const std::string& key, uint64_t n) {
  Lease& lease = leases_[key];
  int64_t now = log::now_ms();
  lease.last_spend = now;
  uint64_t from_lease = std::min(lease.have, n);
  lease.have -= from_lease;
  if (from_lease > 0 && !lease.exact) {
    // The next lease is asked for while half of this one is left, so that a busy node
    // does not stop at every round trip to redis.
    if (lease.have <= config_.lease / 2 && !lease.asking && redis_.connected() &&
        lease.spent_until <= now) {
      ask(key, lease);
    }
  }
  if (from_lease == n) return;
  // Allowed by allowance() from the local share while redis was away, or a reservation that
  // went back while the message was on its way (a quota's, checked at RCPT and counted after
  // DATA): added to the shared counter at the next tick, past the cap if need be.
  lease.offline_sent += n - from_lease;
  if (!redis_.connected()) {
    metrics()
        .counter("hato_cluster_offline_messages_total",
                 "Messages counted against the local share while redis was unreachable")
        .inc(n - from_lease);
  }
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

void RedisShared::slowed(const std::string& ip, const std::string& provider, int64_t until_ms,
                         double rate, const std::string& reason) {
  // Like suspended(): without redis it holds here, and is published at the next reply.
  std::string field = ip + "/" + provider;
  char buf[32];
  std::string rate_text(buf, std::to_chars(buf, buf + sizeof buf, rate).ptr);
  redis_.eval(
      kSlowScript, {kPrefix + "slowdowns"},
      {field, std::to_string(until_ms), rate_text,
       std::to_string(until_ms) + " " + rate_text + " " + reason},
      [field](const RedisReply& r) {
        if (!r.ok())
          log::warning("cluster: slowdown not shared", {{"slowdown", field}, {"reason", r.text}});
      });
}

void RedisShared::listed(const std::string& ip, int64_t since_ms, const std::string& reason) {
  std::string value = std::to_string(since_ms) + " " + reason;
  listed_[ip] = value;
  if (!redis_.connected()) return;  // redeclare() publishes it when redis is back
  redis_.command(
      {"HSET", kPrefix + "blacklist", ip + "/" + config_.node, value}, [ip](const RedisReply& r) {
        if (!r.ok())
          log::warning("cluster: listing not shared", {{"address", ip}, {"reason", r.text}});
      });
}

void RedisShared::unlisted(const std::string& ip) {
  listed_.erase(ip);
  if (!redis_.connected()) return;
  redis_.command({"HDEL", kPrefix + "blacklist", ip + "/" + config_.node}, [ip](const RedisReply&
                                                                                    r) {
    if (!r.ok())
      log::warning("cluster: return to rotation not shared", {{"address", ip}, {"reason", r.text}});
  });
}

SharedState::Allowance RedisShared::connection(const std::string& ip, const std::string& provider,
                                               uint32_t limit, uint32_t open) {
  std::string pair = ip + "/" + provider;
  Slots& s = slots_[pair];
  int64_t now = log::now_ms();
  s.open = open;
  s.last_used = now;
  if (!redis_.connected()) {
    double local = std::floor(static_cast<double>(limit) * config_.local_share);
    return open < std::max<uint32_t>(1, static_cast<uint32_t>(local)) ? Allowance::kYes
                                                                      : Allowance::kOffline;
  }
  if (open < s.held) return Allowance::kYes;
  if (s.asking) return Allowance::kAsking;
  if (s.full_until > now) return Allowance::kSpent;
  ask_slot(pair, limit);
  return Allowance::kAsking;
}

void RedisShared::ask_slot(const std::string& pair, uint32_t limit) {
  slots_[pair].asking = true;
  std::shared_ptr<bool> alive = alive_;
  redis_.eval(kSlotScript, {kPrefix + "conn/" + pair, kPrefix + "nodes", kPrefix + "conn-keys"},
              {config_.node, std::to_string(limit), std::to_string(log::now_ms()),
               std::to_string(kNodeTtlMs)},
              [this, alive, pair](const RedisReply& r) {
                if (!*alive) return;
                Slots& s = slots_[pair];
                s.asking = false;
                if (!two_numbers(r, "cluster: cannot ask for a connection slot", pair)) return;
                if (as_int(r.elements[0]) > 0) {
                  ++s.held;
                  s.last_used = log::now_ms();
                } else {
                  s.full_until = log::now_ms() + kFullRecheckMs;
                }
              });
}

void RedisShared::connections(const std::string& ip, const std::string& provider, uint32_t open) {
  Slots& s = slots_[ip + "/" + provider];
  s.open = open;
  s.last_used = log::now_ms();
}

// give_back_slots - slots no connection has used for a while go back to the cluster.
void RedisShared::give_back_slots(int64_t now) {
  for (auto& [pair, s] : slots_) {
    if (s.held <= s.open || now - s.last_used < kIdleSlotMs) continue;
    uint32_t n = s.held - s.open;
    s.held = s.open;  // if this fails, redeclare() at the next connection puts it right
    redis_.eval(kSlotReturnScript, {kPrefix + "conn/" + pair}, {config_.node, std::to_string(n)},
                [](const RedisReply&) {});
  }
}

// redeclare - at each connection: what an earlier run of this node (or this one before
// redis went away) held is forgotten, and the slots in use and the listings held now are
// declared.
void RedisShared::redeclare() {
  std::vector<std::string> args{config_.node, "0"};
  size_t n = 0;
  for (auto& [pair, s] : slots_) {
    s.held = s.open;
    s.asking = false;
    s.full_until = 0;
    if (s.open == 0) continue;
    args.push_back(kPrefix + "conn/" + pair);
    args.push_back(std::to_string(s.open));
    ++n;
  }
  args[1] = std::to_string(n);
  for (const auto& [ip, value] : listed_) {
    args.push_back(ip + "/" + config_.node);
    args.push_back(value);
  }
  redeclare_due_ = false;
  std::shared_ptr<bool> alive = alive_;
  redis_.eval(kRedeclareScript, {kPrefix + "conn-keys", kPrefix + "blacklist"}, args,
              [this, alive](const RedisReply& r) {
                if (!*alive || r.ok()) return;
                // A redis still loading its data says LOADING: the next tick tries again.
                redeclare_due_ = true;
                log::warning("cluster: cannot declare this node's slots and listings",
                             {{"reason", r.text}, {"retry", "next tick"}});
              });
}

void RedisShared::tick() {
  timer_.arm(kTick);
  if (!redis_.connected()) return;
  int64_t now = log::now_ms();
  heartbeat();
  if (redeclare_due_) redeclare();
  add_offline_sent();
  poll_suspensions();
  poll_slowdowns();
  poll_blacklist();
  give_back_idle(now);
  give_back_slots(now);
  if (now - last_prune_ms_ >= kPruneEveryMs) {
    last_prune_ms_ = now;
    redis_.eval(kPruneScript, {kPrefix + "suspensions", kPrefix + "slowdowns"},
                {std::to_string(now)}, [](const RedisReply&) {});
  }
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

// poll_hash - reads one of the hashes whose fields are "<ip>/<name>" and values
// "<number> <rest>" (suspensions, slowdowns: until_ms; listings: since_ms) and hands each
// entry to `each`, then calls `done`.
void RedisShared::poll_hash(const std::string& hash, EntryFn each, std::function<void()> done) {
  std::shared_ptr<bool> alive = alive_;
  redis_.command({"HGETALL", kPrefix + hash}, [alive, each = std::move(each),
                                               done = std::move(done)](const RedisReply& r) {
    if (!*alive || r.type != RedisReply::Type::kArray) return;
    for (size_t i = 0; i + 1 < r.elements.size(); i += 2) {
      const std::string& field = r.elements[i].text;
      std::string_view value = r.elements[i + 1].text;
      size_t slash = field.find('/');  // an address never holds one
      size_t space = value.find(' ');
      if (slash == std::string::npos || space == std::string_view::npos) continue;
      int64_t number = 0;
      std::from_chars(value.data(), value.data() + space, number);
      each(field.substr(0, slash), field.substr(slash + 1), number, value.substr(space + 1));
    }
    if (done) done();
  });
}

void RedisShared::poll_suspensions() {
  int64_t now = log::now_ms();
  poll_hash("suspensions", [this, now](const std::string& ip, const std::string& provider,
                                       int64_t until, std::string_view reason) {
    if (until > now) limiter_.apply_suspension(ip, provider, until, std::string(reason));
  });
}

// A slowdown's rest is "<rate/s> <reason>".
void RedisShared::poll_slowdowns() {
  int64_t now = log::now_ms();
  poll_hash("slowdowns", [this, now](const std::string& ip, const std::string& provider,
                                     int64_t until, std::string_view rest) {
    size_t space = rest.find(' ');
    if (until <= now || space == std::string_view::npos) return;
    double rate = 0;
    std::from_chars(rest.data(), rest.data() + space, rate);
    if (!(rate > 0)) return;
    limiter_.apply_slowdown(ip, provider, until, rate, std::string(rest.substr(space + 1)));
  });
}

// poll_blacklist - the listings of the other nodes, each with who sees it; this node's own
// are the limiter's already.
void RedisShared::poll_blacklist() {
  auto reasons = std::make_shared<std::map<std::string, std::string>>();
  poll_hash(
      "blacklist",
      [this, reasons](const std::string& ip, const std::string& node, int64_t,
                      std::string_view reason) {
        if (node == config_.node) return;
        std::string& why = (*reasons)[ip];
        if (!why.empty()) why += "; ";
        why += std::string(reason) + " (seen by " + node + ")";
      },
      [this, reasons] { limiter_.set_cluster_out_of_rotation(*reasons); });
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
  heartbeat();  // counted among the live before the slots it declares
  redeclare();
  for (auto& [key, lease] : leases_) lease.spent_until = 0;
  add_offline_sent();
  tick();
}

// What was sent from the local share while redis was away is added to the counters; an add
// that fails (redis still loading its data) is tried again at the next tick.
void RedisShared::add_offline_sent() {
  for (auto& [key, lease] : leases_) {
    if (lease.offline_sent == 0) continue;
    uint64_t n = lease.offline_sent;
    lease.offline_sent = 0;
    log::info("cluster: adding messages sent while redis was unreachable",
              {{"key", key}, {"messages", std::to_string(n)}});
    std::string k = key;
    std::shared_ptr<bool> alive = alive_;
    redis_.eval(kAddScript, {kPrefix + key}, {std::to_string(n), std::to_string(lease.expires_ms)},
                [this, alive, k, n](const RedisReply& r) {
                  if (!*alive || r.ok()) return;
                  leases_[k].offline_sent += n;
                  log::warning("cluster: cannot add messages sent while redis was unreachable",
                               {{"key", k}, {"reason", r.text}, {"retry", "next tick"}});
                });
  }
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
