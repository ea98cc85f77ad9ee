// delivery_engine_test.cc - the delivery engine with a fake resolver and scripted servers (a
// fake Connector whose connections feed the real ClientSession), over a real RocksDB store
// and a real loop: MX order, implicit and null MX, the next MX after a 4xx greeting, a dead
// destination, MTA-STS and DANE failures that defer with 4.7.5, egress choice, connection
// reuse, and a transaction whose recipients get 2xx, 4xx and 5xx.
#define BOOST_TEST_MODULE delivery_engine
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <future>
#include <map>
#include <set>

#include "common/log.h"
#include "common/loop.h"
#include "common/worker_pool.h"
#include "queue/store.h"
#include "relay/delivery.h"
#include "relay/mta_sts.h"
#include "relay/relay_metrics.h"
#include "tests/temp_dir.h"

namespace hato::relay {
namespace {

using testing::TempDir;

// Answers from tables, later on the loop as a real resolver's would come.
class TableResolver : public net::Resolver {
 public:
  explicit TableResolver(Loop& loop) : loop_(loop) {}
  std::map<std::string, net::MxResult> mx_answers;
  std::map<std::string, net::AddressResult> address_answers;
  std::map<std::string, net::TlsaResult> tlsa_answers;

  void add_mx(const std::string& domain, std::vector<net::MxRecord> records, bool secure = false) {
    net::MxResult r;
    r.status = net::DnsStatus::kOk;
    r.records = std::move(records);
    r.authenticated = secure;
    mx_answers[domain] = r;
  }
  void add_host(const std::string& name, const std::string& ip, bool secure = false) {
    net::AddressResult r;
    r.status = net::DnsStatus::kOk;
    r.addresses.push_back(SocketAddress::parse(ip, 0).value());
    r.authenticated = secure;
    address_answers[name] = r;
  }

  void mx(const std::string& domain, std::function<void(net::MxResult)> done) override {
    net::MxResult r;
    r.status = net::DnsStatus::kNxDomain;
    if (auto it = mx_answers.find(domain); it != mx_answers.end()) r = it->second;
    loop_.post([done, r] { done(r); });
  }
  void addresses(const std::string& host, std::function<void(net::AddressResult)> done) override {
    net::AddressResult r;
    r.status = net::DnsStatus::kNxDomain;
    if (auto it = address_answers.find(host); it != address_answers.end()) r = it->second;
    loop_.post([done, r] { done(r); });
  }
  void a(const std::string& host, std::function<void(net::AddressResult)> done) override {
    addresses(host, std::move(done));
  }
  void txt(const std::string&, std::function<void(net::TxtResult)> done) override {
    loop_.post([done] { done(net::TxtResult{}); });
  }
  void ptr(const SocketAddress&, std::function<void(net::PtrResult)> done) override {
    loop_.post([done] { done(net::PtrResult{}); });
  }
  void tlsa(const std::string& name, std::function<void(net::TlsaResult)> done) override {
    tlsa_queries.push_back(name);
    net::TlsaResult r;
    r.status = net::DnsStatus::kNoData;
    if (auto it = tlsa_answers.find(name); it != tlsa_answers.end()) r = it->second;
    loop_.post([done, r] { done(r); });
  }
  std::vector<std::string> tlsa_queries;

 private:
  Loop& loop_;
};

class TableSts : public StsPolicySource {
 public:
  explicit TableSts(Loop& loop) : loop_(loop) {}
  std::map<std::string, policy::mta_sts::Policy> policies;
  void lookup(const std::string& domain, std::function<void(StsResult)> done) override {
    StsResult r;
    if (auto it = policies.find(domain); it != policies.end()) r.policy = it->second;
    loop_.post([done, r] { done(r); });
  }

 private:
  Loop& loop_;
};

// How a scripted server at one IP behaves.
struct Script {
  bool refuse = false;  // the connection is refused
  std::string greeting = "220 fake.test ESMTP";
  std::map<std::string, std::string> rcpt;  // address -> reply; default 250
  std::string data_reply = "250 2.0.0 queued";
};

// What the scripted servers saw.
struct Seen {
  struct Connect {
    std::string ip, sni, source;
  };
  struct Transaction {
    std::string ip, source, sender;
    std::vector<std::string> rcpts;  // accepted or not, as asked
    std::string data;                // the message, as the server received it
  };
  std::vector<Connect> connects;
  std::vector<Transaction> transactions;
  size_t quits = 0;
};

class ScriptedConnection : public Connection {
 public:
  ScriptedConnection(Loop& loop, const std::map<std::string, Script>& scripts, Seen& seen,
                     std::string sni)
      : loop_(loop), scripts_(scripts), seen_(seen), sni_(std::move(sni)) {}
  ~ScriptedConnection() override { *alive_ = false; }

  void attach(ClientSession* session) override { session_ = session; }
  void set_peer_check(net::PeerCheck check) override { check_ = std::move(check); }
  Status connect(const SocketAddress& to, const std::optional<SocketAddress>& source, bool,
                 std::chrono::milliseconds) override {
    ip_ = to.ip();
    source_ = source ? source->ip() : "";
    seen_.connects.push_back({ip_, sni_, source_});
    auto it = scripts_.find(ip_);
    if (it == scripts_.end()) {
      script_.refuse = true;
    } else {
      script_ = it->second;
    }
    later([this] {
      if (script_.refuse) {
        error_ = "Connection refused";
        closed_ = true;
        session_->closed();
        return;
      }
      connected_ = true;
      session_->connected();
      session_->receive(script_.greeting + "\r\n");
    });
    return Status::ok();
  }
  const std::string& peer_check_error() const override { return empty_; }
  const std::string& peer_check_type() const override { return empty_; }
  bool tls_done() const override { return false; }
  bool ever_connected() const override { return connected_; }
  const std::string& error() const override { return error_; }

  // ClientIo: the session's commands, answered one line at a time (no PIPELINING offered).
  void send(std::string_view bytes) override {
    in_.append(bytes);
    for (;;) {
      if (in_data_) {
        auto end = in_.find("\r\n.\r\n");
        if (end == std::string::npos) return;
        seen_.transactions.back().data = in_.substr(0, end + 2);
        in_.erase(0, end + 5);
        in_data_ = false;
        answer(script_.data_reply);
        continue;
      }
      auto eol = in_.find("\r\n");
      if (eol == std::string::npos) return;
      std::string line = in_.substr(0, eol);
      in_.erase(0, eol + 2);
      command(line);
    }
  }
  void start_tls() override {
    later([this] { session_->closed(); });
  }
  void close() override { closed_ = true; }
  void set_timeout(std::chrono::milliseconds) override {}

 private:
  void command(const std::string& line) {
    std::string verb = line.substr(0, 4);
    if (verb == "EHLO") return answer("250-fake.test\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES");
    if (verb == "MAIL") {
      auto from = line.substr(line.find('<') + 1);
      seen_.transactions.push_back({ip_, source_, from.substr(0, from.find('>')), {}, {}});
      return answer("250 2.1.0 ok");
    }
    if (verb == "RCPT") {
      auto to = line.substr(line.find('<') + 1);
      to = to.substr(0, to.find('>'));
      seen_.transactions.back().rcpts.push_back(to);
      auto it = script_.rcpt.find(to);
      return answer(it == script_.rcpt.end() ? "250 2.1.5 ok" : it->second);
    }
    if (verb == "DATA") {
      in_data_ = true;
      return answer("354 go ahead");
    }
    if (verb == "RSET") return answer("250 2.0.0 ok");
    if (verb == "QUIT") {
      seen_.quits++;
      answer("221 2.0.0 bye");
      later([this] {
        if (!closed_) session_->closed();
      });
      return;
    }
    answer("502 5.5.2 unknown command");
  }
  void answer(const std::string& reply) {
    later([this, text = reply + "\r\n"] {
      if (!closed_) session_->receive(text);
    });
  }
  void later(std::function<void()> fn) {
    loop_.post([alive = std::weak_ptr<bool>(alive_), fn = std::move(fn)] {
      if (auto a = alive.lock(); a && *a) fn();
    });
  }

  Loop& loop_;
  const std::map<std::string, Script>& scripts_;
  Seen& seen_;
  std::string sni_;
  Script script_;
  ClientSession* session_ = nullptr;
  net::PeerCheck check_;
  std::string ip_, source_, error_, in_;
  const std::string empty_;
  bool connected_ = false, closed_ = false, in_data_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

class ScriptedConnector : public Connector {
 public:
  explicit ScriptedConnector(Loop& loop) : loop_(loop) {}
  std::map<std::string, Script> scripts;  // by IP
  Seen seen;
  std::unique_ptr<Connection> make(const std::string& sni) override {
    return std::make_unique<ScriptedConnection>(loop_, scripts, seen, sni);
  }

 private:
  Loop& loop_;
};

class NoMaildirs : public LocalDelivery {
 public:
  void deliver(LocalRequest, std::function<void(TransactionResult)>) override {
    BOOST_FAIL("no local delivery expected");
  }
};

class MapState : public policy::StateStore {
 public:
  std::optional<std::string> get(std::string_view key) override {
    auto it = values.find(std::string(key));
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
  void put(std::string_view key, std::string_view value) override {
    values[std::string(key)] = std::string(value);
  }
  void erase(std::string_view key) override { values.erase(std::string(key)); }
  std::map<std::string, std::string> values;
};

// One engine over a fresh store, with its fakes.
struct Rig {
  TempDir dir{"hato-engine"};
  Loop loop;
  std::unique_ptr<queue::Store> store;
  queue::QueueIdGenerator ids;
  WorkerPool workers{1};
  std::unique_ptr<Enqueuer> enqueuer;
  TableResolver resolver{loop};
  TableSts sts{loop};
  ScriptedConnector connector{loop};
  NoMaildirs maildirs;
  queue::EventBus events;
  std::vector<queue::QueueEvent> heard;
  std::shared_ptr<conf::Config> config = std::make_shared<conf::Config>();
  MapState state;
  std::unique_ptr<policy::Limiter> limiter;
  std::unique_ptr<DeliveryEngine> engine;
  DeliveryOptions options;

  Rig() {
    queue::StoreOptions options;
    options.path = dir / "queue";
    auto opened = queue::open_rocksdb_store(options);
    BOOST_TEST_REQUIRE(opened.is_ok(), opened.status().message());
    store = std::move(*opened);
    config->hostname = "relay.test";
    // The senders' own domain, where DSNs go: a server that takes everything.
    resolver.add_mx("relay.test", {{10, "mx.relay.test"}});
    resolver.add_host("mx.relay.test", "127.0.0.30");
    connector.scripts["127.0.0.30"];
    events.subscribe([this](const queue::QueueEvent& e) { heard.push_back(e); });
  }

  void start() {
    if (!config->egress.empty()) limiter = std::make_unique<policy::Limiter>(*config, state);
    enqueuer = std::make_unique<Enqueuer>(loop, config, *store, ids, workers);
    // DSNs come back through the one door: due at once, as the daemon wires it.
    enqueuer->add_listener(
        [this](const Enqueuer::Queued& q) { engine->schedule(q.id, log::now_ms()); });
    engine = std::make_unique<DeliveryEngine>(loop, config, *store, *enqueuer, resolver, connector,
                                              maildirs, events, limiter.get(), options);
    engine->set_mta_sts(&sts);
    BOOST_TEST_REQUIRE(engine->start().is_ok());
  }

  // Commits a message (durably, as the daemon would) and makes it due now.
  // `age`: how long ago the message arrived (the retry limits count from then).
  queue::QueueId queue(const std::string& from, const std::vector<std::string>& to,
                       std::chrono::milliseconds age = std::chrono::milliseconds(0)) {
    queue::QueueId id = ids.next();
    queue::Envelope env;
    env.sender = from;
    for (const auto& address : to) {
      queue::Recipient r;
      r.address = address;
      env.recipients.push_back(r);
    }
    env.next_attempt_ms = log::now_ms();
    env.created_ms = env.next_attempt_ms - age.count();
    std::string message = "From: <" + from + ">\r\nSubject: test\r\n\r\nHello.\r\n";
    env.size = message.size();
    std::promise<Status> committed;
    store->insert(id, message, env, [&](Status s) { committed.set_value(s); });
    BOOST_TEST_REQUIRE(committed.get_future().get().is_ok());
    engine->schedule(id, log::now_ms());
    return id;
  }

  // Runs the loop until `done` holds (checked every few milliseconds); false if it never
  // does within a generous bound, so a broken engine fails the test instead of hanging it.
  bool run_until(const std::function<bool()>& done) {
    bool met = false;
    std::unique_ptr<Timer> poll;
    poll = std::make_unique<Timer>(loop, [&] {
      if (done()) {
        met = true;
        loop.stop();
        return;
      }
      poll->arm(std::chrono::milliseconds(2));
    });
    poll->arm(std::chrono::milliseconds(0));
    Timer guard(loop, [&] { loop.stop(); });
    guard.arm(std::chrono::seconds(20));
    loop.run();
    return met;
  }

  // The events heard for one recipient, in order.
  std::vector<queue::QueueEvent> events_for(const std::string& rcpt) const {
    std::vector<queue::QueueEvent> out;
    for (const auto& e : heard)
      if (e.rcpt == rcpt) out.push_back(e);
    return out;
  }
  bool settled(const std::string& rcpt) const {
    for (const auto& e : heard)
      if (e.rcpt == rcpt && e.event != "received") return true;
    return false;
  }
  // Reports the engine wrote itself (DSNs, from the null sender) delivered to `address`.
  std::vector<std::string> reports_to(const std::string& address) const {
    std::vector<std::string> out;
    for (const auto& t : connector.seen.transactions)
      if (t.sender.empty() && t.rcpts == std::vector<std::string>{address}) out.push_back(t.data);
    return out;
  }
};

// A policy failure (MTA-STS enforce, DANE): the recipient deferred with 4.7.5 after
// `connects` connections, the message still queued, no DSN to the sender.
void expect_policy_deferral(Rig& rig, const queue::QueueId& id, const std::string& rcpt,
                            size_t connects) {
  BOOST_TEST_REQUIRE(rig.run_until([&] { return rig.settled(rcpt); }));
  auto ev = rig.events_for(rcpt).back();
  BOOST_TEST(ev.event == "deferred");
  BOOST_TEST(ev.response.find("4.7.5") != std::string::npos, ev.response);
  BOOST_TEST(rig.connector.seen.connects.size() == connects);
  BOOST_TEST(rig.connector.seen.transactions.empty());
  BOOST_TEST(rig.store->envelope(id).is_ok());  // still queued: never bounced
  BOOST_TEST(rig.reports_to("alice@relay.test").empty());
}

}  // namespace

BOOST_AUTO_TEST_CASE(equal_preferences_are_shuffled_and_a_4xx_greeting_moves_to_the_next_mx) {
  Rig rig;
  // Per domain i: a-i and b-i (preference 10) greet with 421, c-i (20) takes the mail.
  rig.connector.scripts["127.0.0.2"].greeting = "421 4.3.2 busy, try another";
  rig.connector.scripts["127.0.0.3"].greeting = "421 4.3.2 busy, try another";
  rig.connector.scripts["127.0.0.4"];
  const int kDomains = 24;
  for (int i = 0; i < kDomains; ++i) {
    std::string n = std::to_string(i);
    rig.resolver.add_mx(
        "d" + n + ".test",
        {{10, "a-" + n + ".mx.test"}, {20, "c-" + n + ".mx.test"}, {10, "b-" + n + ".mx.test"}});
    rig.resolver.add_host("a-" + n + ".mx.test", "127.0.0.2");
    rig.resolver.add_host("b-" + n + ".mx.test", "127.0.0.3");
    rig.resolver.add_host("c-" + n + ".mx.test", "127.0.0.4");
  }
  rig.start();
  for (int i = 0; i < kDomains; ++i)
    rig.queue("alice@relay.test", {"u@d" + std::to_string(i) + ".test"});
  BOOST_TEST_REQUIRE(rig.run_until([&] {
    for (int i = 0; i < kDomains; ++i)
      if (!rig.settled("u@d" + std::to_string(i) + ".test")) return false;
    return true;
  }));
  int a_first = 0, b_first = 0;
  for (int i = 0; i < kDomains; ++i) {
    std::string n = std::to_string(i);
    auto ev = rig.events_for("u@d" + n + ".test");
    BOOST_TEST(ev.back().event == "delivered");
    std::vector<std::string> order;
    for (const auto& c : rig.connector.seen.connects)
      if (c.sni.find("-" + n + ".mx.test") != std::string::npos) order.push_back(c.sni);
    BOOST_TEST_REQUIRE(order.size() == 3u);
    BOOST_TEST(order[2] == "c-" + n + ".mx.test");  // the higher preference last
    if (order[0] == "a-" + n + ".mx.test") ++a_first;
    if (order[0] == "b-" + n + ".mx.test") ++b_first;
  }
  BOOST_TEST(a_first + b_first == kDomains);
  BOOST_TEST(a_first > 0);  // 24 domains: both orders all but surely occur when shuffled
  BOOST_TEST(b_first > 0);
}

BOOST_AUTO_TEST_CASE(a_domain_without_mx_records_is_its_own_mx) {
  Rig rig;
  net::MxResult nodata;
  nodata.status = net::DnsStatus::kNoData;
  rig.resolver.mx_answers["plain.test"] = nodata;
  rig.resolver.add_host("plain.test", "127.0.0.5");
  rig.connector.scripts["127.0.0.5"];
  rig.start();
  rig.queue("alice@relay.test", {"bob@plain.test"});
  BOOST_TEST_REQUIRE(rig.run_until([&] { return rig.settled("bob@plain.test"); }));
  BOOST_TEST(rig.events_for("bob@plain.test").back().event == "delivered");
  BOOST_TEST_REQUIRE(rig.connector.seen.connects.size() == 1u);
  BOOST_TEST(rig.connector.seen.connects[0].sni == "plain.test");
  BOOST_TEST(rig.connector.seen.connects[0].ip == "127.0.0.5");
}

BOOST_AUTO_TEST_CASE(a_null_mx_bounces_at_once_without_connecting) {
  Rig rig;
  rig.resolver.add_mx("nomail.test", {{0, ""}});
  rig.start();
  rig.queue("alice@relay.test", {"bob@nomail.test"});
  BOOST_TEST_REQUIRE(rig.run_until([&] { return rig.settled("bob@nomail.test"); }));
  auto last = rig.events_for("bob@nomail.test").back();
  BOOST_TEST(last.event == "bounced");
  BOOST_TEST(last.response.find("5.1.10") != std::string::npos, last.response);
  BOOST_TEST_REQUIRE(rig.run_until([&] { return rig.reports_to("alice@relay.test").size() == 1; }));
  for (const auto& c : rig.connector.seen.connects) BOOST_TEST(c.ip == "127.0.0.30");  // the DSN's
}

BOOST_AUTO_TEST_CASE(a_dead_destination_defers_and_later_mail_waits_without_knocking) {
  Rig rig;
  rig.resolver.add_mx("dead.test", {{10, "mx1.dead.test"}, {20, "mx2.dead.test"}});
  rig.resolver.add_host("mx1.dead.test", "127.0.0.6");
  rig.resolver.add_host("mx2.dead.test", "127.0.0.7");
  rig.connector.scripts["127.0.0.6"].refuse = true;
  rig.connector.scripts["127.0.0.7"].refuse = true;
  rig.start();
  auto first = rig.queue("alice@relay.test", {"one@dead.test"});
  BOOST_TEST_REQUIRE(rig.run_until([&] { return rig.settled("one@dead.test"); }));
  auto ev = rig.events_for("one@dead.test").back();
  BOOST_TEST(ev.event == "deferred");
  BOOST_TEST(ev.response.find("4.4.1") != std::string::npos, ev.response);
  BOOST_TEST(rig.connector.seen.connects.size() == 2u);  // both hosts tried
  auto env = rig.store->envelope(first);
  BOOST_TEST_REQUIRE(env.is_ok());
  BOOST_TEST(env->next_attempt_ms > log::now_ms());  // retried later, not bounced

  rig.queue("alice@relay.test", {"two@dead.test"});
  BOOST_TEST_REQUIRE(rig.run_until([&] { return rig.settled("two@dead.test"); }));
  auto second = rig.events_for("two@dead.test").back();
  BOOST_TEST(second.event == "deferred");
  BOOST_TEST(second.response.find("is down") != std::string::npos, second.response);
  BOOST_TEST(rig.connector.seen.connects.size() == 2u);  // nobody knocked again
}

BOOST_AUTO_TEST_CASE(mta_sts_enforce_not_listing_the_mx_defers_with_4_7_5_without_connecting) {
  Rig rig;
  rig.resolver.add_mx("sts.test", {{10, "mx.sts.test"}});
  rig.resolver.add_host("mx.sts.test", "127.0.0.8");
  rig.connector.scripts["127.0.0.8"];
  policy::mta_sts::Policy p;
  p.mode = policy::mta_sts::Mode::kEnforce;
  p.mx = {"mx.elsewhere.test"};
  p.id = "1";
  rig.sts.policies["sts.test"] = p;
  rig.start();
  auto id = rig.queue("alice@relay.test", {"bob@sts.test"});
  expect_policy_deferral(rig, id, "bob@sts.test", 0);
}

BOOST_AUTO_TEST_CASE(
    mta_sts_enforce_with_a_listed_mx_without_starttls_defers_4_7_5_after_connecting) {
  Rig rig;
  rig.resolver.add_mx("sts2.test", {{10, "mx.sts2.test"}});
  rig.resolver.add_host("mx.sts2.test", "127.0.0.14");
  rig.connector.scripts["127.0.0.14"];  // EHLO without STARTTLS
  policy::mta_sts::Policy p;
  p.mode = policy::mta_sts::Mode::kEnforce;
  p.mx = {"mx.sts2.test"};
  p.id = "3";
  rig.sts.policies["sts2.test"] = p;
  rig.start();
  auto id = rig.queue("alice@relay.test", {"bob@sts2.test"});
  expect_policy_deferral(rig, id, "bob@sts2.test", 1);
}

BOOST_AUTO_TEST_CASE(a_signed_mx_without_tlsa_and_an_enforce_policy_not_listing_it_defers_4_7_5) {
  Rig rig;
  rig.resolver.add_mx("signed.test", {{10, "mx.signed.test"}}, true);
  rig.resolver.add_host("mx.signed.test", "127.0.0.9", true);
  net::TlsaResult none;
  none.status = net::DnsStatus::kNoData;
  none.authenticated = true;
  rig.resolver.tlsa_answers["_25._tcp.mx.signed.test"] = none;
  rig.connector.scripts["127.0.0.9"];
  policy::mta_sts::Policy p;
  p.mode = policy::mta_sts::Mode::kEnforce;
  p.mx = {"mx.elsewhere.test"};
  p.id = "2";
  rig.sts.policies["signed.test"] = p;
  rig.start();
  auto id = rig.queue("alice@relay.test", {"bob@signed.test"});
  expect_policy_deferral(rig, id, "bob@signed.test", 0);
  BOOST_TEST(rig.resolver.tlsa_queries.size() == 1u);  // DANE was asked first
}

BOOST_AUTO_TEST_CASE(dane_with_a_server_that_offers_no_starttls_defers_4_7_5_after_connecting) {
  Rig rig;
  rig.resolver.add_mx("dane.test", {{10, "mx.dane.test"}}, true);
  rig.resolver.add_host("mx.dane.test", "127.0.0.10", true);
  net::TlsaResult t;
  t.status = net::DnsStatus::kOk;
  t.authenticated = true;
  t.records.push_back({3, 1, 1, std::string(32, '\x11')});
  rig.resolver.tlsa_answers["_25._tcp.mx.dane.test"] = t;
  rig.connector.scripts["127.0.0.10"];  // EHLO without STARTTLS
  rig.start();
  auto id = rig.queue("alice@relay.test", {"bob@dane.test"});
  expect_policy_deferral(rig, id, "bob@dane.test", 1);
}

BOOST_AUTO_TEST_CASE(mail_goes_out_from_the_egress_addresses_by_weight_and_not_from_a_listed_one) {
  Rig rig;
  for (const char* ip : {"127.0.0.21", "127.0.0.22", "127.0.0.23"}) {
    conf::Egress e;
    e.address = SocketAddress::parse(ip, 0).value();
    e.weight = std::string(ip) == "127.0.0.22" ? 3 : 1;
    rig.config->egress.push_back(e);
  }
  rig.resolver.add_mx("weights.test", {{10, "mx.weights.test"}});
  rig.resolver.add_host("mx.weights.test", "127.0.0.11");
  rig.connector.scripts["127.0.0.11"];
  rig.start();
  rig.limiter->set_out_of_rotation({{"127.0.0.23", "listed by a test"}});
  const int kMessages = 40;
  for (int i = 0; i < kMessages; ++i)
    rig.queue("alice@relay.test", {"u" + std::to_string(i) + "@weights.test"});
  BOOST_TEST_REQUIRE(rig.run_until([&] {
    for (int i = 0; i < kMessages; ++i)
      if (!rig.settled("u" + std::to_string(i) + "@weights.test")) return false;
    return true;
  }));
  std::map<std::string, int> by_source;
  for (const auto& t : rig.connector.seen.transactions) by_source[t.source]++;
  BOOST_TEST(by_source["127.0.0.23"] == 0);  // out of the rotation
  BOOST_TEST(by_source["127.0.0.21"] + by_source["127.0.0.22"] == kMessages);
  BOOST_TEST(by_source["127.0.0.21"] == kMessages / 4);      // weight 1 of 4
  BOOST_TEST(by_source["127.0.0.22"] == 3 * kMessages / 4);  // weight 3 of 4
  for (const auto& c : rig.connector.seen.connects) BOOST_TEST(c.source != "");
}

BOOST_AUTO_TEST_CASE(a_connection_is_reused_for_mail_that_comes_while_it_idles) {
  Rig rig;
  rig.resolver.add_mx("busy.test", {{10, "mx.busy.test"}});
  rig.resolver.add_host("mx.busy.test", "127.0.0.12");
  rig.connector.scripts["127.0.0.12"];
  rig.start();
  rig.queue("alice@relay.test", {"one@busy.test"});
  BOOST_TEST_REQUIRE(rig.run_until([&] { return rig.settled("one@busy.test"); }));
  rig.queue("alice@relay.test", {"two@busy.test"});
  rig.queue("alice@relay.test", {"three@busy.test"});
  BOOST_TEST_REQUIRE(rig.run_until(
      [&] { return rig.settled("two@busy.test") && rig.settled("three@busy.test"); }));
  for (const char* r : {"one@busy.test", "two@busy.test", "three@busy.test"})
    BOOST_TEST(rig.events_for(r).back().event == "delivered");
  std::set<std::string> hosts;
  size_t to_busy = 0;
  for (const auto& c : rig.connector.seen.connects) to_busy += c.ip == "127.0.0.12";
  BOOST_TEST(to_busy <= 2u);  // the idle connection took the later mail (at most one more)
  size_t carried = 0;
  for (const auto& t : rig.connector.seen.transactions) carried += t.ip == "127.0.0.12";
  BOOST_TEST(carried == 3u);
  BOOST_TEST(to_busy < carried);
}

BOOST_AUTO_TEST_CASE(one_connection_per_destination_carries_every_queued_message) {
  Rig rig;
  rig.options.max_per_destination = 1;
  rig.resolver.add_mx("busy.test", {{10, "mx.busy.test"}});
  rig.resolver.add_host("mx.busy.test", "127.0.0.12");
  rig.connector.scripts["127.0.0.12"];
  rig.start();
  for (const char* r : {"one@busy.test", "two@busy.test", "three@busy.test"})
    rig.queue("alice@relay.test", {r});
  BOOST_TEST_REQUIRE(rig.run_until([&] {
    return rig.settled("one@busy.test") && rig.settled("two@busy.test") &&
           rig.settled("three@busy.test");
  }));
  BOOST_TEST(rig.connector.seen.connects.size() == 1u);
  BOOST_TEST(rig.connector.seen.transactions.size() == 3u);
  BOOST_TEST(rig.connector.seen.quits == 0u);  // still open, idling for more
}

BOOST_AUTO_TEST_CASE(recipients_of_one_transaction_are_delivered_deferred_and_bounced_apart) {
  Rig rig;
  rig.resolver.add_mx("split.test", {{10, "mx.split.test"}});
  rig.resolver.add_host("mx.split.test", "127.0.0.13");
  auto& script = rig.connector.scripts["127.0.0.13"];
  script.rcpt["later@split.test"] = "450 4.2.1 mailbox busy";
  script.rcpt["gone@split.test"] = "550 5.1.1 no such user";
  rig.start();
  auto id = rig.queue("alice@relay.test", {"ok@split.test", "later@split.test", "gone@split.test"});
  BOOST_TEST_REQUIRE(rig.run_until([&] {
    return rig.settled("ok@split.test") && rig.settled("later@split.test") &&
           rig.settled("gone@split.test") && rig.reports_to("alice@relay.test").size() == 1;
  }));
  BOOST_TEST(rig.events_for("ok@split.test").back().event == "delivered");
  BOOST_TEST(rig.events_for("later@split.test").back().event == "deferred");
  BOOST_TEST(rig.events_for("gone@split.test").back().event == "bounced");
  auto env = rig.store->envelope(id);
  BOOST_TEST_REQUIRE(env.is_ok());  // kept for the deferred recipient only
  std::map<std::string, queue::RcptState> states;
  for (const auto& r : env->recipients) states[r.address] = r.state;
  BOOST_TEST((states["ok@split.test"] == queue::RcptState::kDelivered));
  BOOST_TEST((states["later@split.test"] == queue::RcptState::kPending));
  BOOST_TEST((states["gone@split.test"] == queue::RcptState::kBounced));
  // The DSN names the bounced recipient only.
  std::string dsn = rig.reports_to("alice@relay.test").front();
  BOOST_TEST(dsn.find("gone@split.test") != std::string::npos);
  BOOST_TEST(dsn.find("later@split.test") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(every_failure_gets_its_category_and_only_a_dead_address_is_suppressed) {
  Rig rig;
  rig.resolver.add_mx("gmail.test", {{10, "gmail-smtp-in.l.google.com"}});
  rig.resolver.add_host("gmail-smtp-in.l.google.com", "127.0.0.14");
  auto& script = rig.connector.scripts["127.0.0.14"];
  // Gmail's words (support.google.com/a/answer/3726730).
  script.rcpt["warm@gmail.test"] =
      "550 5.7.1 Our system has detected that this message is likely suspicious due to the very "
      "low reputation of the sending IP address.";
  script.rcpt["busy@gmail.test"] =
      "450 4.7.28 Our system has detected an unusual rate of unsolicited mail";
  script.rcpt["gone@gmail.test"] =
      "550 5.1.1 The email account that you tried to reach does not exist.";
  policy::SuppressionList suppression(rig.state);
  uint64_t counted = m::bounces("invalid-recipient", "google").value();
  rig.start();
  rig.engine->set_suppression(&suppression);
  const std::vector<std::string> rcpts = {"ok@gmail.test", "warm@gmail.test", "busy@gmail.test",
                                          "gone@gmail.test"};
  auto id = rig.queue("alice@relay.test", rcpts);
  BOOST_TEST_REQUIRE(rig.run_until([&] {
    for (const auto& r : rcpts)
      if (!rig.settled(r)) return false;
    return rig.reports_to("alice@relay.test").size() == 1;
  }));
  BOOST_TEST(rig.events_for("ok@gmail.test").back().category == "");
  BOOST_TEST(rig.events_for("warm@gmail.test").back().category == "reputation-block");
  BOOST_TEST(rig.events_for("busy@gmail.test").back().category == "reputation-block");
  BOOST_TEST(rig.events_for("gone@gmail.test").back().category == "invalid-recipient");
  BOOST_TEST(m::bounces("invalid-recipient", "google").value() == counted + 1);
  // The stored attempts carry it (queue show reads them).
  auto env = rig.store->envelope(id);
  BOOST_TEST_REQUIRE(env.is_ok());
  std::map<std::string, std::string> category;
  for (const auto& r : env->recipients)
    category[r.address] = r.attempts.empty() ? "?" : r.attempts.back().category;
  BOOST_TEST(category["busy@gmail.test"] == "reputation-block");
  BOOST_TEST(category["gone@gmail.test"] == "invalid-recipient");
  BOOST_TEST(category["ok@gmail.test"] == "");
  // Only the dead address is suppressed, for the sender's domain.
  auto gone = suppression.find("alice@relay.test", "gone@gmail.test", log::now_ms());
  BOOST_TEST_REQUIRE(gone.has_value());
  BOOST_TEST(gone->reason == "invalid-recipient");
  BOOST_TEST(gone->source == "bounce");
  BOOST_TEST(gone->domain == "relay.test");
  BOOST_TEST(!suppression.find("alice@relay.test", "warm@gmail.test", log::now_ms()));
  BOOST_TEST(!suppression.find("alice@relay.test", "busy@gmail.test", log::now_ms()));
}

BOOST_AUTO_TEST_CASE(expiry_is_its_own_category) {
  Rig rig;
  rig.config->delivery.retry.max_age = std::chrono::minutes(1);
  rig.resolver.add_mx("slow.test", {{10, "mx.slow.test"}});
  rig.resolver.add_host("mx.slow.test", "127.0.0.15");
  rig.connector.scripts["127.0.0.15"].rcpt["late@slow.test"] = "451 4.3.0 try again later";
  rig.start();
  // Older than the retry limit: this first deferral is also its last (a limit of a few
  // milliseconds on a fresh message raced the clock).
  rig.queue("alice@relay.test", {"late@slow.test"}, std::chrono::minutes(2));
  BOOST_TEST_REQUIRE(rig.run_until([&] {
    auto e = rig.events_for("late@slow.test");
    return !e.empty() && e.back().event == "expired";
  }));
  auto events = rig.events_for("late@slow.test");
  BOOST_TEST(events.back().category == "expired");
  BOOST_TEST(events[events.size() - 2].category == "transient");  // the 451 itself
}

// Issue 29: recipients of one message that resolve to one mailbox (case, "+tag", an alias)
// get one Maildir file between them, and each its reply.
BOOST_AUTO_TEST_CASE(maildir_writes_each_mailbox_once_per_message) {
  TempDir dir{"hato-maildir"};
  auto config = std::make_shared<conf::Config>();
  conf::Domain d;
  d.name = "example.test";
  d.mailboxes = {"support"};
  d.aliases = {{"help", "support"}};
  config->domains = {d};
  config->inbound.maildir_root = dir.path;
  Loop loop;
  WorkerPool workers(1);
  auto maildirs = make_maildir_delivery(loop, workers);
  LocalRequest request;
  request.id = "06H53QS290000000";
  request.data = std::make_shared<const std::string>("Subject: x\r\n\r\nhi\r\n");
  request.sender = "a@remote.test";
  request.addresses = {"support@example.test", "SUPPORT@Example.Test", "support+x@example.test",
                       "help@example.test", "nobody@example.test"};
  request.config = config;
  TransactionResult replies;
  loop.post([&] {
    maildirs->deliver(request, [&](TransactionResult r) {
      replies = std::move(r);
      loop.stop();
    });
  });
  loop.after(std::chrono::seconds(30), [&] { loop.stop(); });
  loop.run();
  BOOST_TEST_REQUIRE(replies.size() == 5u);
  for (size_t i = 0; i < 4; ++i) BOOST_TEST(replies[i].code == 250, i);
  BOOST_TEST(replies[4].code == 550);
  size_t files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(dir.path + "/example.test/support/new")) {
    (void)entry;
    ++files;
  }
  BOOST_TEST(files == 1u);
}

}  // namespace hato::relay
