// cares_resolver.cc - net::Resolver on c-ares, driven by a hato::Loop.
//
// c-ares owns the sockets and says through its socket-state callback which fds to watch; we keep
// one libevent event per fd to match, and one Timer that follows ares_timeout() and is re-armed
// after everything that can move it (a query sent, a socket or timeout processed). Answers are
// read from the raw response, so rcode, AD bit and TTLs come from one place; c-ares' own parsers
// read the records. Answers (negative ones too) are cached, and identical questions in flight
// share one query. The responses are read by dns_response.cc.
//
// User callbacks never run inside c-ares or inside the call that asked: each is posted to the
// loop holding a weak token that the destructor revokes. So a callback may start lookups or
// destroy the resolver, and callbacks still queued at destruction are dropped, never called.
#include "net/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <event2/event.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <list>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>

#include "common/log.h"
#include "common/strings.h"
#include "net/dns_wire.h"
#include "net/event_handles.h"
#include "net/net_metrics.h"

namespace hato::net {

using wire::kClassIn;
using wire::keep_least;
using wire::kTypeA;
using wire::kTypeAaaa;
using wire::kTypeMx;
using wire::kTypePtr;
using wire::kTypeTlsa;
using wire::kTypeTxt;
using wire::lower_host;

namespace {

// Upper bounds on how long the cache keeps an answer, whatever its TTL says: a day for
// records, three hours for "does not exist" (RFC 2308 §5).
constexpr uint32_t kMaxPositiveCache = 86400;
constexpr uint32_t kMaxNegativeCache = 10800;
// EDNS payload size from DNS flag day 2020: big enough for most TXT sets, small enough not to
// fragment. Larger answers come truncated and c-ares retries them over TCP.
constexpr int kEdnsPayload = 1232;

// ---- The resolver ----

enum class Kind : uint8_t { kMx, kA, kAaaa, kTxt, kPtr, kTlsa };
using Answer = std::variant<MxResult, AddressResult, TxtResult, PtrResult, TlsaResult>;
using Clock = std::chrono::steady_clock;

uint16_t qtype_of(Kind kind) {
  switch (kind) {
    case Kind::kMx:
      return kTypeMx;
    case Kind::kA:
      return kTypeA;
    case Kind::kAaaa:
      return kTypeAaaa;
    case Kind::kTxt:
      return kTypeTxt;
    case Kind::kPtr:
      return kTypePtr;
    case Kind::kTlsa:
      return kTypeTlsa;
  }
  return 0;
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kMx:
      return "MX";
    case Kind::kA:
      return "A";
    case Kind::kAaaa:
      return "AAAA";
    case Kind::kTxt:
      return "TXT";
    case Kind::kPtr:
      return "PTR";
    case Kind::kTlsa:
      return "TLSA";
  }
  return "?";
}

Answer parse_answer(Kind kind, const uint8_t* message, size_t length) {
  switch (kind) {
    case Kind::kMx:
      return parse_mx_response(message, length);
    case Kind::kA:
      return parse_address_response(message, length, AF_INET);
    case Kind::kAaaa:
      return parse_address_response(message, length, AF_INET6);
    case Kind::kTxt:
      return parse_txt_response(message, length);
    case Kind::kPtr:
      return parse_ptr_response(message, length);
    case Kind::kTlsa:
      return parse_tlsa_response(message, length);
  }
  return MxResult{};
}

Answer failure(Kind kind, DnsStatus status, std::string error) {
  Answer out;
  switch (kind) {
    case Kind::kMx:
      out = MxResult{};
      break;
    case Kind::kA:
    case Kind::kAaaa:
      out = AddressResult{};
      break;
    case Kind::kTxt:
      out = TxtResult{};
      break;
    case Kind::kPtr:
      out = PtrResult{};
      break;
    case Kind::kTlsa:
      out = TlsaResult{};
      break;
  }
  std::visit(
      [&](auto& r) {
        r.status = status;
        r.error = std::move(error);
      },
      out);
  return out;
}

// A c-ares status that came without a response to read.
DnsStatus status_of_ares(int rc) {
  switch (rc) {
    case ARES_ETIMEOUT:
    case ARES_ECONNREFUSED:
      return DnsStatus::kTimeout;
    case ARES_ENOTFOUND:
    // A name that cannot be encoded (a label over 63 bytes, a name over 255) cannot exist;
    // retrying it for days would not help.
    case ARES_EBADNAME:
      return DnsStatus::kNxDomain;
    case ARES_ENODATA:
      return DnsStatus::kNoData;
    default:
      return DnsStatus::kServFail;
  }
}

// How long the cache may keep an answer; 0 for temporary failures, which are not cached.
uint32_t cache_seconds(const Answer& answer) {
  return std::visit(
      [](const auto& r) -> uint32_t {
        if (r.status == DnsStatus::kOk) return std::min(r.ttl, kMaxPositiveCache);
        if (r.status == DnsStatus::kNoData || r.status == DnsStatus::kNxDomain)
          return std::min(r.ttl, kMaxNegativeCache);
        return 0;
      },
      answer);
}

// Lower case, no trailing dot: the form of cache keys and of the names we send.
std::string normalize(const std::string& name) {
  return lower_host(name);
}

// Answers by (type, name) until their TTL runs out; least recently used goes first when full.
class AnswerCache {
 public:
  explicit AnswerCache(size_t capacity) : capacity_(capacity) {}

  std::optional<Answer> find(const std::string& key, Clock::time_point now) {
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    auto entry = it->second;
    if (now >= entry->expires) {
      lru_.erase(entry);
      index_.erase(it);
      return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, entry);
    Answer out = entry->answer;
    // Report what is left of the TTL, as a caching resolver would.
    auto left = std::chrono::duration_cast<std::chrono::seconds>(entry->expires - now).count();
    std::visit([&](auto& r) { r.ttl = static_cast<uint32_t>(left); }, out);
    return out;
  }

  void store(const std::string& key, const Answer& answer, uint32_t seconds,
             Clock::time_point now) {
    if (capacity_ == 0 || seconds == 0) return;
    auto expires = now + std::chrono::seconds(seconds);
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->answer = answer;
      it->second->expires = expires;
      lru_.splice(lru_.begin(), lru_, it->second);
      return;
    }
    lru_.push_front({key, answer, expires});
    index_.emplace(key, lru_.begin());
    while (lru_.size() > capacity_) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
  }

 private:
  struct Entry {
    std::string key;
    Answer answer;
    Clock::time_point expires;
  };
  size_t capacity_;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

struct ChannelDeleter {
  void operator()(ares_channel channel) const { ares_destroy(channel); }
};
using ChannelPtr = std::unique_ptr<std::remove_pointer_t<ares_channel>, ChannelDeleter>;

void init_library_once() {
  static const int rc = ares_library_init(ARES_LIB_INIT_ALL);
  (void)rc;  // on POSIX this cannot fail; ares_init_options would report it anyway
}

AddressResult merge_addresses(AddressResult v6, AddressResult v4) {
  AddressResult out;
  if (v6.status == DnsStatus::kOk || v4.status == DnsStatus::kOk) {
    out.status = DnsStatus::kOk;
    out.authenticated = true;
    std::optional<uint32_t> ttl;
    for (AddressResult* part : {&v6, &v4}) {
      if (part->status != DnsStatus::kOk) continue;
      out.authenticated = out.authenticated && part->authenticated;
      keep_least(ttl, part->ttl);
      out.addresses.insert(out.addresses.end(), part->addresses.begin(), part->addresses.end());
    }
    out.ttl = ttl.value_or(0);
    return out;
  }
  // Both failed: the more temporary failure wins, so mail is deferred rather than bounced when
  // one of the two could not be asked. NoData beats NXDOMAIN: the name does exist.
  auto rank = [](DnsStatus s) {
    switch (s) {
      case DnsStatus::kTimeout:
        return 4;
      case DnsStatus::kServFail:
        return 3;
      case DnsStatus::kNoData:
        return 2;
      default:
        return 1;
    }
  };
  out.status = rank(v6.status) >= rank(v4.status) ? v6.status : v4.status;
  out.ttl = std::min(v6.ttl, v4.ttl);
  out.error = v4.error + "; " + v6.error;
  return out;
}

class CaresResolver final : public Resolver {
 public:
  CaresResolver(Loop& loop, const ResolverOptions& options)
      : loop_(loop),
        cache_(options.cache_entries),
        timer_(loop, [this] { process(ARES_SOCKET_BAD, ARES_SOCKET_BAD); }) {
    init_library_once();
    ares_options opts{};
    opts.flags = ARES_FLAG_EDNS;
    opts.timeout = static_cast<int>(std::clamp<int64_t>(options.timeout.count(), 1, INT_MAX));
    opts.tries = std::max(1, options.tries);
    opts.ednspsz = kEdnsPayload;
    opts.sock_state_cb = &CaresResolver::on_sock_state;
    opts.sock_state_cb_data = this;
    int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_EDNSPSZ |
               ARES_OPT_SOCK_STATE_CB;
    ares_channel channel = nullptr;
    int rc = ares_init_options(&channel, &opts, mask);
    if (rc != ARES_SUCCESS) {
      fail_init(std::string("c-ares init: ") + ares_strerror(rc));
      return;
    }
    channel_.reset(channel);
    if (!options.servers.empty()) {
      std::vector<ares_addr_port_node> nodes(options.servers.size());
      for (size_t i = 0; i < nodes.size(); ++i) {
        const SocketAddress& server = options.servers[i];
        if (server.family() != AF_INET && server.family() != AF_INET6) {
          fail_init("DNS server " + std::to_string(i + 1) + " is not an IPv4 or IPv6 address");
          return;
        }
        ares_addr_port_node& node = nodes[i];
        node.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
        node.family = server.family();
        if (server.family() == AF_INET) {
          node.addr.addr4 = reinterpret_cast<const sockaddr_in*>(&server.storage)->sin_addr;
        } else {
          std::memcpy(&node.addr.addr6,
                      &reinterpret_cast<const sockaddr_in6*>(&server.storage)->sin6_addr,
                      sizeof(node.addr.addr6));
        }
        node.udp_port = node.tcp_port = server.port() ? server.port() : 53;
      }
      rc = ares_set_servers_ports(channel, nodes.data());
      if (rc != ARES_SUCCESS) fail_init(std::string("c-ares servers: ") + ares_strerror(rc));
    }
  }

  ~CaresResolver() override {
    // Order matters: first revoke the token so posted callbacks turn into no-ops; then let
    // ares_destroy cancel queries (on_answer sees ARES_EDESTRUCTION and only frees its
    // context) and close sockets through on_sock_state while events_ still exists.
    alive_.reset();
    channel_.reset();
  }

  void mx(const std::string& domain, std::function<void(MxResult)> done) override {
    lookup(Kind::kMx, domain,
           [done = std::move(done)](Answer a) { done(std::get<MxResult>(std::move(a))); });
  }

  void a(const std::string& host, std::function<void(AddressResult)> done) override {
    lookup(Kind::kA, host,
           [done = std::move(done)](Answer a) { done(std::get<AddressResult>(std::move(a))); });
  }

  void addresses(const std::string& host, std::function<void(AddressResult)> done) override {
    struct Merge {
      std::optional<AddressResult> v6, v4;
      std::function<void(AddressResult)> done;
      void maybe_finish() {
        if (v6 && v4) done(merge_addresses(std::move(*v6), std::move(*v4)));
      }
    };
    auto merge = std::make_shared<Merge>();
    merge->done = std::move(done);
    lookup(Kind::kAaaa, host, [merge](Answer a) {
      merge->v6 = std::get<AddressResult>(std::move(a));
      merge->maybe_finish();
    });
    lookup(Kind::kA, host, [merge](Answer a) {
      merge->v4 = std::get<AddressResult>(std::move(a));
      merge->maybe_finish();
    });
  }

  void txt(const std::string& name, std::function<void(TxtResult)> done) override {
    lookup(Kind::kTxt, name,
           [done = std::move(done)](Answer a) { done(std::get<TxtResult>(std::move(a))); });
  }

  void ptr(const SocketAddress& address, std::function<void(PtrResult)> done) override {
    lookup(Kind::kPtr, reverse_name(address),
           [done = std::move(done)](Answer a) { done(std::get<PtrResult>(std::move(a))); });
  }

  void tlsa(const std::string& name, std::function<void(TlsaResult)> done) override {
    lookup(Kind::kTlsa, name,
           [done = std::move(done)](Answer a) { done(std::get<TlsaResult>(std::move(a))); });
  }

 private:
  using Waiter = std::function<void(Answer)>;
  // The argument of one ares_send; freed by on_answer, which c-ares calls exactly once.
  struct Query {
    CaresResolver* self;
    Kind kind;
    std::string name;
    std::string key;
  };

  void fail_init(std::string error) {
    log::error("dns_init_failed", {{"error", error}});
    init_error_ = std::move(error);
    channel_.reset();
  }

  void lookup(Kind kind, const std::string& raw_name, Waiter waiter) {
    std::string name = normalize(raw_name);
    std::string key = std::string(kind_name(kind)) + " " + name;
    if (auto hit = cache_.find(key, Clock::now())) {
      deliver({std::move(waiter)}, std::move(*hit));
      return;
    }
    if (!channel_) {
      deliver({std::move(waiter)}, failure(kind, DnsStatus::kServFail, init_error_));
      return;
    }
    auto [it, fresh] = pending_.try_emplace(key);
    it->second.push_back(std::move(waiter));
    if (!fresh) return;  // the same question is already out: share its answer
    send(kind, name, key);
  }

  // Registered in pending_ before this runs, because c-ares may answer from inside ares_send
  // (no usable server, a socket that cannot be opened).
  void send(Kind kind, const std::string& name, const std::string& key) {
    unsigned char* packet = nullptr;
    int length = 0;
    int rc = name.empty() ? ARES_EBADNAME
                          : ares_create_query(name.c_str(), kClassIn, qtype_of(kind), 0, 1, &packet,
                                              &length, kEdnsPayload);
    if (rc != ARES_SUCCESS) {
      complete(key, failure(kind, status_of_ares(rc), describe(kind, name, ares_strerror(rc))));
      return;
    }
    // Ask for the AD bit: validating resolvers set it only for queries with AD or DO set
    // (RFC 6840 §5.7). This is why we use ares_send rather than ares_query.
    packet[3] |= 0x20;
    m::dns_queries(kind_name(kind)).inc();
    ares_send(channel_.get(), packet, length, &CaresResolver::on_answer,
              new Query{this, kind, name, key});
    ares_free_string(packet);
    rearm_timer();
  }

  static std::string describe(Kind kind, const std::string& name, const std::string& what) {
    return (name.empty() ? std::string("(empty name)") : name) + " " + kind_name(kind) + ": " +
           what;
  }

  static void on_answer(void* arg, int status, int, unsigned char* abuf, int alen) {
    std::unique_ptr<Query> query(static_cast<Query*>(arg));
    // The channel goes down with the resolver: nobody is left to tell, and the resolver's
    // members must not be touched from here.
    if (status == ARES_EDESTRUCTION) return;
    Answer answer = status == ARES_SUCCESS && abuf && alen > 0
                        ? parse_answer(query->kind, abuf, static_cast<size_t>(alen))
                        : failure(query->kind, status_of_ares(status), ares_strerror(status));
    std::visit(
        [&](auto& r) {
          if (r.status != DnsStatus::kOk) r.error = describe(query->kind, query->name, r.error);
        },
        answer);
    std::visit(
        [&](auto& r) {
          if (r.status == DnsStatus::kOk || r.status == DnsStatus::kNoData) return;
          m::dns_failures(kind_name(query->kind)).inc();
        },
        answer);
    query->self->complete(query->key, std::move(answer));
  }

  void complete(const std::string& key, Answer answer) {
    if (uint32_t seconds = cache_seconds(answer)) cache_.store(key, answer, seconds, Clock::now());
    auto it = pending_.find(key);
    if (it == pending_.end()) return;
    std::vector<Waiter> waiters = std::move(it->second);
    pending_.erase(it);
    deliver(std::move(waiters), std::move(answer));
  }

  // Runs the waiters later on the loop, unless the resolver is gone by then.
  void deliver(std::vector<Waiter> waiters, Answer answer) {
    std::weak_ptr<int> alive = alive_;
    loop_.post([alive, waiters = std::move(waiters), answer = std::move(answer)] {
      for (const auto& waiter : waiters) {
        if (alive.expired()) return;  // an earlier waiter destroyed the resolver
        waiter(answer);
      }
    });
  }

  void process(ares_socket_t readable, ares_socket_t writable) {
    if (!channel_) return;
    ares_process_fd(channel_.get(), readable, writable);
    rearm_timer();
  }

  void rearm_timer() {
    timeval tv;
    if (!channel_ || !ares_timeout(channel_.get(), nullptr, &tv)) {
      timer_.cancel();
      return;
    }
    // Rounded up: firing a little early would only wake us to find nothing due.
    timer_.arm(std::chrono::milliseconds(int64_t{tv.tv_sec} * 1000 + (tv.tv_usec + 999) / 1000));
  }

  // c-ares wants `fd` watched for the given readiness, or (0, 0) not at all before it closes it.
  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<CaresResolver*>(data);
    if (!readable && !writable) {
      self->events_.erase(fd);
      return;
    }
    EventPtr& slot = self->events_[fd];
    slot.reset();  // readiness wanted changed: replace the event (safe inside its own callback)
    short what = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
    slot.reset(event_new(self->loop_.base(), fd, what, &CaresResolver::on_socket_ready, self));
    // Without an event the timer still runs: the query ends as a timeout, not a hang.
    if (slot) event_add(slot.get(), nullptr);
  }

  static void on_socket_ready(evutil_socket_t fd, short what, void* arg) {
    static_cast<CaresResolver*>(arg)->process((what & EV_READ) ? fd : ARES_SOCKET_BAD,
                                              (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
  }

  Loop& loop_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // posted deliveries hold it weakly
  AnswerCache cache_;
  std::unordered_map<std::string, std::vector<Waiter>> pending_;  // key -> who waits on it
  std::unordered_map<ares_socket_t, EventPtr> events_;
  Timer timer_;
  std::string init_error_;
  ChannelPtr channel_;  // last, so it is destroyed first should the destructor body change
};

}  // namespace

std::unique_ptr<Resolver> make_cares_resolver(Loop& loop, const ResolverOptions& options) {
  return std::make_unique<CaresResolver>(loop, options);
}

}  // namespace hato::net
