// delivery.cc - the delivery engine: routing, connections, results, retries, DSNs.
#include "relay/delivery.h"

#include <algorithm>
#include <fstream>
#include <random>

#include "common/log.h"
#include "common/strings.h"
#include "inbound/maildir.h"
#include "policy/submission.h"
#include "relay/client_connection.h"
#include "relay/connection_plan.h"
#include "relay/mta_sts.h"
#include "relay/relay_metrics.h"
#include "relay/route_failure.h"
#include "relay/tlsrpt.h"

namespace hato::relay {

namespace {

constexpr auto kDownMax = std::chrono::minutes(5);
constexpr auto kIdleConnection = std::chrono::seconds(2);
constexpr auto kRateWait = std::chrono::seconds(5);  // longer waits free the connection
// The limiter's "ask again shortly" (a cluster's connection slot on its way from redis) is
// waited for before connecting, for as long as redis may take to answer (its command
// timeout), rather than deferring the mail.
constexpr int64_t kChooseWaitMs = 200;
constexpr int64_t kChooseBudgetMs = 3000;

std::string seconds_text(int64_t ms) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

Reply synthetic(int code, std::string text) {
  Reply r;
  r.code = code;
  r.lines.push_back(std::move(text));
  return r;
}

const char* outcome_name(const Reply& r) {
  if (r.code >= 200 && r.code < 300) return "delivered";
  if (r.code >= 500) return "bounced";
  return "deferred";
}

}  // namespace

// One message being delivered: its envelope as it changes, its bytes, and
// how many of its jobs are still out.
struct DeliveryEngine::MessageWork {
  queue::QueueId id;
  queue::Envelope envelope;
  std::shared_ptr<const std::string> data;
  size_t outstanding = 0;
  std::vector<DsnRecipient> failed;  // bounced in this round
  int64_t not_before_ms = 0;         // a warm-up or suspension window ends then
  // This round's results, announced (queue tail, metrics readers) once the envelope that
  // records them is written: whoever hears "deferred" and asks `queue ls` sees it there.
  std::vector<queue::QueueEvent> events;
};

struct DeliveryEngine::Job {
  std::shared_ptr<MessageWork> work;
  std::vector<size_t> recipients;  // indexes into work->envelope.recipients
  // The egress address this message goes out from, chosen by weight per message once the
  // destination's provider is known; only a connection from that address carries it.
  std::optional<size_t> egress;
};

struct DeliveryEngine::Destination {
  std::string name;  // a domain, "[smarthost]", or "lmtp:" and a local domain
  bool smarthost = false;
  std::optional<SocketAddress> lmtp;  // local delivery over LMTP to this server
  std::deque<Job> queue;
  std::vector<Attempt*> idle;  // connected, waiting a moment for more work
  size_t active = 0;
  std::string provider;  // from the last MX answer, with egress addresses; "" before
  int64_t down_until_ms = 0;
  std::string down_reason;
};

// One connection to a destination, from DNS to QUIT.
class DeliveryEngine::Attempt : public ClientSession::Events {
 public:
  // `egress`: the address whose queued mail this connection is for; none for the first
  // connection to a destination whose provider is not known yet (it chooses once it is).
  Attempt(DeliveryEngine& engine, Destination& dest, std::optional<size_t> egress)
      : engine_(engine),
        dest_(dest),
        idle_timer_(engine.loop_, [this] { stop_idling(); }),
        wanted_(egress),
        first_(!egress) {}

  // New work for a connection that was waiting for it.
  void wake() {
    idle_timer_.cancel();
    next_job();
  }

  // The egress address of this connection (chosen or intended); none without addresses.
  std::optional<size_t> egress() const { return egress_ ? egress_->index : wanted_; }

  // An idle connection gives its place to mail for another address.
  void close_idle() { stop_idling(); }

  void start() {
    if (dest_.lmtp) {
      // Local delivery: no DNS, no egress choice, the configured LMTP server.
      hosts_.push_back({dest_.lmtp->to_string(), 0});
      try_host();
      return;
    }
    if (dest_.smarthost) {
      const auto& sh = *engine_.config_->delivery.smarthost;
      hosts_.push_back({sh.host, 0});
      if (choose_egress()) try_host();
      return;
    }
    // MX and the MTA-STS policy are asked for together; routing waits for both.
    lookups_ = engine_.sts_ ? 2 : 1;
    engine_.resolver_.mx(dest_.name, [this](net::MxResult mx) {
      mx_ = std::move(mx);
      if (--lookups_ == 0) on_mx(std::move(mx_));
    });
    if (engine_.sts_) {
      engine_.sts_->lookup(dest_.name, [this](StsResult sts) {
        sts_ = std::move(sts);
        if (--lookups_ == 0) on_mx(std::move(mx_));
      });
    }
  }

  // ClientSession::Events
  void ready() override {
    ever_connected_ = true;
    if (session_ && connection_) {
      // A session is up: under a policy the check's verdict, else whether TLS happened.
      std::string result = connection_->peer_check_type();
      if (result.empty() && !session_->tls_active()) result = "starttls-not-supported";
      if (check_.kind != net::PeerCheck::Kind::kNone && connection_->peer_check_error().empty())
        result.clear();
      report_tls(result);
    }
    next_job();
  }

  void failed(const Reply& reason) override {
    if (reason.code) observe(reason);  // a 421 4.7.28 greeting counts too
    // A connection made but without the TLS the policy demands: STARTTLS missing, or a
    // certificate that failed the check.
    if (connection_ && connection_->ever_connected() && (check_.enforce || tls_mandatory_) &&
        (!connection_->tls_done() || !connection_->peer_check_error().empty())) {
      policy_failure_ = true;
      tls_.failure = connection_->peer_check_error();
      std::string result = connection_->peer_check_type();
      if (result.empty())
        result = connection_->tls_done() ? "validation-failure" : "starttls-not-supported";
      report_tls(result);
    }
    if (connection_ && !connection_->ever_connected()) {
      last_error_ = "connect to " + host_text_ + ": " + connection_->error();
    } else {
      ever_connected_ = true;
      last_error_ = reason.code            ? host_text_ + " said: " + reason.text()
                    : reason.lines.empty() ? "failed"
                                           : reason.lines[0];
    }
    if (sent_ > 0 || job_active_) {
      // The conversation broke after work began: what is left waits for a new connection.
      done();
      return;
    }
    // Nothing sent here yet: the next address, then the next host (RFC 5321 5.1).
    engine_.loop_.post([this] { try_address(); });
  }

 private:
  struct Host {
    std::string name;
    uint16_t preference;
  };

  void on_mx(net::MxResult mx) {
    mx_secure_ = mx.authenticated &&
                 (mx.status == net::DnsStatus::kOk || mx.status == net::DnsStatus::kNoData);
    if (mx.status == net::DnsStatus::kOk) {
      if (mx.records.size() == 1 && mx.records[0].host.empty()) {
        engine_.fail_queued(dest_, 556,
                            "5.1.10 Domain " + dest_.name + " does not accept mail (null MX)", "");
        return done();
      }
      std::vector<net::MxRecord> records;
      for (auto& r : mx.records)
        if (!r.host.empty()) records.push_back(std::move(r));
      // Equal preferences in random order spread the load (RFC 5321 5.1).
      std::shuffle(records.begin(), records.end(), std::mt19937(std::random_device{}()));
      std::stable_sort(records.begin(), records.end(),
                       [](const net::MxRecord& a, const net::MxRecord& b) {
                         return a.preference < b.preference;
                       });
      for (auto& r : records) hosts_.push_back({r.host, r.preference});
    } else if (mx.status == net::DnsStatus::kNoData) {
      hosts_.push_back({dest_.name, 0});  // implicit MX (RFC 5321 5.1)
    } else if (mx.status == net::DnsStatus::kNxDomain) {
      engine_.fail_queued(dest_, 550,
                          "5.1.2 Host or domain name not found: " + dest_.name +
                              " does not exist (MX lookup: NXDOMAIN)",
                          "");
      return done();
    } else {
      engine_.fail_queued(dest_, 451,
                          "4.4.3 DNS lookup of MX for " + dest_.name + " failed: " +
                              (mx.error.empty() ? net::dns_status_name(mx.status) : mx.error),
                          "");
      return done();
    }
    if (!sts_.failure.empty()) report_tls(sts_.failure, "");
    if (!apply_mta_sts()) return done();
    if (hosts_.size() > engine_.options_.max_mx_hosts) hosts_.resize(engine_.options_.max_mx_hosts);
    if (choose_egress()) try_host();
  }

  // RFC 8461 4: under an enforce policy only MX hosts its patterns match are tried, and
  // each over TLS with a certificate valid for its name; testing checks the same but
  // delivers whatever it finds. False when nothing may be tried.
  bool apply_mta_sts() {
    if (!sts_.policy || sts_.policy->mode == policy::mta_sts::Mode::kNone) return true;
    const auto& policy = *sts_.policy;
    bool enforce = policy.mode == policy::mta_sts::Mode::kEnforce;
    std::vector<Host> allowed;
    std::string refused;
    for (auto& h : hosts_) {
      if (policy.allows(h.name)) {
        allowed.push_back(h);
      } else {
        refused += (refused.empty() ? "" : ", ") + h.name;
      }
    }
    if (!refused.empty()) {
      log::warning("mta-sts mx mismatch", {{"domain", dest_.name},
                                           {"mode", policy::mta_sts::mode_name(policy.mode)},
                                           {"policy_id", policy.id},
                                           {"hosts", refused}});
    }
    if (!enforce) return true;
    // Under a DNSSEC-signed MX set each host is judged when its TLSA answer is in: DANE
    // takes precedence (try_address).
    if (mx_secure_) return true;
    if (allowed.empty()) {
      report_tls("validation-failure", "");
      TlsFacts facts;
      facts.policy = "mta-sts";
      engine_.fail_queued(dest_, 451,
                          "4.7.5 MTA-STS policy " + policy.id + " of " + dest_.name +
                              " (enforce) matches none of its MX hosts (" + refused + ")",
                          "", facts);
      return false;
    }
    hosts_ = std::move(allowed);
    return true;
  }

  // With egress addresses configured, each queued message gets its address (by weight,
  // per message) and this connection is for one address's mail; the limiter says whether
  // that address may connect to this destination's provider now. Mail that may go from
  // nowhere waits for the window the limiter names, and is never bounced for it.
  bool choose_egress() {
    policy::Limiter* limiter = engine_.limiter_;
    if (!limiter || !limiter->active()) return true;
    std::vector<std::string> names;
    for (const auto& h : hosts_) names.push_back(h.name);
    provider_ = limiter->provider_for(names);
    dest_.provider = provider_;
    engine_.assign_egress(dest_);
    if (!wanted_ && !dest_.queue.empty()) wanted_ = dest_.queue.front().egress;
    if (!wanted_) {
      done();  // nothing left to carry
      return false;
    }
    policy::Wait wait;
    int64_t now = log::now_ms();
    auto choice = limiter->choose(provider_, now, &wait, wanted_);
    if (!choice) {
      if (choose_since_ms_ == 0) choose_since_ms_ = now;
      if (wait.until_ms - now <= kChooseWaitMs && now - choose_since_ms_ < kChooseBudgetMs) {
        choose_timer_.arm(std::chrono::milliseconds(std::max<int64_t>(1, wait.until_ms - now)));
        return false;
      }
      choice = engine_.egress_refused(dest_, *wanted_, wait);
      if (!choice) {
        done();
        return false;
      }
    }
    egress_ = *choice;
    wanted_ = egress_->index;
    limiter->opened(egress_->index, provider_);
    max_messages_ = std::min<size_t>(max_messages_, limiter->messages_per_connection(provider_));
    // The first connection learnt the provider: the other addresses' mail gets its own.
    if (first_) engine_.loop_.post([engine = &engine_, dest = &dest_] { engine->dispatch(*dest); });
    return true;
  }

  void try_host() {
    if (next_host_ >= hosts_.size()) return exhausted();
    const Host& host = hosts_[next_host_++];
    dane_ = false;
    dane_records_.clear();
    if (dest_.lmtp) {
      addresses_ = {*dest_.lmtp};
      next_address_ = 0;
      try_address();
      return;
    }
    auto literal = SocketAddress::parse(host.name, 0);
    if (literal) {
      addresses_ = {literal.value()};
      next_address_ = 0;
      try_address();
      return;
    }
    engine_.resolver_.addresses(host.name, [this](net::AddressResult r) {
      addresses_.clear();
      next_address_ = 0;
      if (r.status == net::DnsStatus::kOk) {
        addresses_ = std::move(r.addresses);
        // RFC 7672 2.2: TLSA records count only under a secure MX (or implicit MX) answer
        // and secure addresses of the host.
        if (!dest_.smarthost && mx_secure_ && r.authenticated) return lookup_tlsa();
      } else {
        dns_trouble_ = dns_trouble_ || net::dns_temporary(r.status);
        last_error_ = "cannot find an address for " + hosts_[next_host_ - 1].name + ": " +
                      (r.error.empty() ? net::dns_status_name(r.status) : r.error);
      }
      try_address();
    });
  }

  // DANE (RFC 7672): TLSA records at _<port>._tcp.<mx host>, trusted only when the
  // validating resolver says they are secure (the AD bit).
  void lookup_tlsa() {
    const std::string& host = hosts_[next_host_ - 1].name;
    std::string name = "_" + std::to_string(engine_.config_->delivery.port) + "._tcp." + host;
    engine_.resolver_.tlsa(name, [this, name, host](net::TlsaResult t) {
      if (t.status == net::DnsStatus::kOk && t.authenticated) {
        dane_ = true;
        for (auto& r : t.records) {
          // DANE-TA(2) and DANE-EE(3) only (RFC 7672 3.1.3); OpenSSL skips unknown
          // selectors and matching types itself.
          if (r.usage == 2 || r.usage == 3) dane_records_.push_back(std::move(r));
        }
      } else if (net::dns_temporary(t.status)) {
        // A signed zone that cannot say whether TLSA records exist (or whose answer was
        // bogus): this host cannot be used safely (RFC 7672 2.2).
        dns_trouble_ = true;
        policy_failure_ = true;
        report_tls("dnssec-invalid", host);
        last_error_ = "TLSA lookup of " + name +
                      " failed: " + (t.error.empty() ? net::dns_status_name(t.status) : t.error);
        log::warning("dane lookup failed",
                     {{"destination", dest_.name}, {"host", host}, {"reason", last_error_}});
        return try_host();
      }
      try_address();
    });
  }

  void try_address() {
    session_.reset();
    connection_.reset();
    if (next_address_ >= addresses_.size()) return try_host();
    SocketAddress to = addresses_[next_address_++];
    const auto& config = *engine_.config_;
    uint16_t port = config.delivery.port;
    ClientOptions options;
    options.helo = egress_ && !egress_->helo.empty() ? egress_->helo : config.hostname;
    options.command_timeout = config.limits.command_timeout;
    options.data_timeout = config.limits.data_timeout;
    options.tls =
        config.delivery.tls == "required" ? ClientTls::kRequired : ClientTls::kOpportunistic;
    tls_.policy = options.tls == ClientTls::kRequired ? "required" : "opportunistic";
    check_ = net::PeerCheck{};
    tls_mandatory_ = false;
    tls_.failure.clear();
    const std::string& mx_name = hosts_[next_host_ - 1].name;
    if (dane_) {
      // DANE comes first (over MTA-STS too): TLS is mandatory, and the certificate must
      // match a TLSA record. Without a usable record TLS is still mandatory but
      // unauthenticated (RFC 7672 2.2).
      options.tls = ClientTls::kRequired;
      tls_mandatory_ = true;
      tls_.policy = "dane";
      if (!dane_records_.empty()) {
        check_.kind = net::PeerCheck::Kind::kDane;
        check_.names = {mx_name};
        if (dest_.name != mx_name) check_.names.push_back(dest_.name);
        check_.tlsa = dane_records_;
        check_.enforce = true;
      } else {
        tls_.failure = "no usable TLSA record: TLS without authentication";
      }
    } else if (!dest_.smarthost && sts_.policy &&
               sts_.policy->mode == policy::mta_sts::Mode::kEnforce &&
               !sts_.policy->allows(mx_name)) {
      // Reached when the MX set is DNSSEC-signed, so hosts were not filtered in advance
      // (a host with DANE may be used whatever the MTA-STS policy says).
      policy_failure_ = true;
      report_tls("validation-failure", mx_name);
      last_error_ = "MX host " + mx_name + " is not in MTA-STS policy " + sts_.policy->id + " of " +
                    dest_.name;
      next_address_ = addresses_.size();
      engine_.loop_.post([this] { try_host(); });
      return;
    } else if (!dest_.smarthost && sts_.policy &&
               sts_.policy->mode != policy::mta_sts::Mode::kNone) {
      // RFC 8461 4.2: TLS with a certificate for the MX name that chains to a trusted CA.
      check_.kind = net::PeerCheck::Kind::kPkix;
      check_.names = {mx_name};
      check_.enforce = sts_.policy->mode == policy::mta_sts::Mode::kEnforce;
      if (check_.enforce) {
        options.tls = ClientTls::kRequired;
        tls_.policy = "mta-sts";
      } else {
        tls_.policy = "mta-sts-testing";
      }
    }
    bool implicit = false;
    if (dest_.smarthost) {
      const auto& sh = *config.delivery.smarthost;
      port = sh.port;
      if (sh.tls == "implicit") {
        options.tls = ClientTls::kImplicit;
        implicit = true;
      } else if (sh.tls == "none") {
        options.tls = ClientTls::kNone;
      } else {
        options.tls = ClientTls::kRequired;  // credentials never travel in clear
      }
      options.username = sh.username;
      options.password = engine_.smarthost_password_;
      if (!sh.username.empty() && options.tls == ClientTls::kNone)
        options.tls = ClientTls::kRequired;
      tls_.policy = options.tls == ClientTls::kNone ? "none" : "required";
    }
    if (dest_.lmtp) {
      options.lmtp = true;
      options.tls = ClientTls::kNone;  // a local service
      tls_.policy = "none";
      host_text_ = "lmtp[" + to.to_string() + "]";
    } else {
      to.set_port(port);
      ip_ = to.ip();
      host_text_ = hosts_[next_host_ - 1].name + "[" + to.ip() + "]:" + std::to_string(port);
    }
    options.server_name = host_text_;
    connection_ = std::make_unique<ClientConnection>(engine_.loop_, engine_.client_tls_, mx_name);
    connection_->set_peer_check(check_);
    session_ = std::make_unique<ClientSession>(*connection_, options, *this);
    connection_->attach(session_.get());
    connect_tried_ = true;
    std::optional<SocketAddress> source;
    if (egress_) source = egress_->address;
    if (auto s = connection_->connect(to, source, implicit, engine_.options_.connect_timeout); !s) {
      last_error_ = "connect to " + host_text_ + ": " + s.message();
      engine_.loop_.post([this] { try_address(); });
      return;
    }
  }

  void exhausted() {
    if (last_error_.empty()) last_error_ = "no usable address for " + dest_.name;
    if (connect_tried_ && !ever_connected_) {
      // Nobody answered: mark the destination down so queued mail waits
      // instead of each message knocking again (Postfix's dead destination).
      auto now = log::now_ms();
      auto pause = std::min<int64_t>(engine_.config_->delivery.retry.first.count(),
                                     std::chrono::milliseconds(kDownMax).count());
      dest_.down_until_ms = now + pause;
      dest_.down_reason = last_error_;
      log::warning(
          "destination down",
          {{"destination", dest_.name}, {"for", seconds_text(pause)}, {"reason", last_error_}});
    }
    RouteFailure verdict =
        route_failure({connect_tried_, dns_trouble_, policy_failure_, dest_.smarthost});
    engine_.fail_queued(dest_, verdict.code, verdict.status + " " + last_error_, "", tls_);
    done();
  }

  // TLS-RPT: one session's result ("" for success) under the policy of this host.
  void report_tls(const std::string& result, std::optional<std::string> host = std::nullopt) {
    if (!engine_.tlsrpt_ || dest_.smarthost || dest_.lmtp) return;  // no receiver to tell
    policy::tlsrpt::PolicyKey key;
    if (dane_) {
      key.type = "tlsa";
      static const char kHex[] = "0123456789abcdef";
      for (const auto& r : dane_records_) {
        std::string hex;
        for (unsigned char c : r.data) {
          hex += kHex[c >> 4];
          hex += kHex[c & 15];
        }
        key.text += std::to_string(r.usage) + " " + std::to_string(r.selector) + " " +
                    std::to_string(r.mtype) + " " + hex + "\n";
      }
    } else if (sts_.policy && sts_.policy->mode != policy::mta_sts::Mode::kNone) {
      key.type = "sts";
      key.text = sts_.policy->text;
      key.mx = sts_.policy->mx;
    } else {
      key.type = "no-policy-found";
    }
    std::string mx = host ? *host : next_host_ ? hosts_[next_host_ - 1].name : "";
    engine_.tlsrpt_->record(dest_.name, key, result, mx, host ? "" : ip_);
  }

  // The TLS of the session now: the policy, and what was negotiated.
  TlsFacts tls_facts() const {
    TlsFacts facts = tls_;
    if (session_) {
      facts.version = session_->tls_version();
      facts.cipher = session_->tls_cipher();
    }
    if (connection_ && !connection_->peer_check_error().empty())
      facts.failure = connection_->peer_check_error();
    return facts;
  }

  void next_job() {
    auto mine = std::find_if(dest_.queue.begin(), dest_.queue.end(),
                             [this](const Job& j) { return j.egress == egress(); });
    bool none = mine == dest_.queue.end();
    if (none && sent_ < max_messages_ && !engine_.stopping_) {
      // Keep the connection a moment: mail often comes in runs (Postfix's
      // connection cache does the same).
      dest_.idle.push_back(this);
      idle_timer_.arm(kIdleConnection);
      return;
    }
    if (none || sent_ >= max_messages_ || engine_.stopping_) {
      session_->quit();
      engine_.loop_.after(std::chrono::milliseconds(0), [this] { done(); });
      return;
    }
    if (egress_ && !engine_.limiter_->in_rotation(egress_->index)) {
      // Blacklisted since this connection opened: what is queued goes out from another
      // address through a new attempt (finish_attempt dispatches it).
      log::info("egress out of rotation, closing",
                {{"egress", egress_->address.ip()}, {"destination", dest_.name}});
      session_->quit();
      engine_.loop_.after(std::chrono::milliseconds(0), [this] { done(); });
      return;
    }
    if (egress_) {
      policy::Wait wait;
      int64_t now = log::now_ms();
      if (!engine_.limiter_->take(egress_->index, provider_, now, &wait)) {
        if (wait.until_ms - now <= std::chrono::milliseconds(kRateWait).count()) {
          // The rate's next token is near: wait for it on this connection.
          pace_timer_.arm(std::chrono::milliseconds(std::max<int64_t>(1, wait.until_ms - now)));
          return;
        }
        // Today's allowance is spent (or a suspension began): this address's mail goes out
        // from another one, or waits.
        (void)engine_.egress_refused(dest_, egress_->index, wait);  // new connections carry it
        session_->quit();
        engine_.loop_.after(std::chrono::milliseconds(0), [this] { done(); });
        return;
      }
    }
    job_ = std::move(*mine);
    dest_.queue.erase(mine);
    job_active_ = true;
    OutboundMessage m;
    const auto& env = job_.work->envelope;
    m.id = job_.work->id.str();
    m.sender = env.sender;
    m.data = job_.work->data;
    m.smtputf8 = env.smtputf8;
    m.eight_bit = env.eight_bit;
    m.ret = env.ret;
    m.envid = env.envid;
    for (size_t i : job_.recipients) {
      const auto& r = env.recipients[i];
      m.recipients.push_back({lmtp_address(r.address, env.folder), r.notify, r.orcpt});
    }
    session_->send(std::move(m), [this](TransactionResult result) {
      job_active_ = false;
      ++sent_;
      bool suspended = false;
      for (const auto& reply : result) suspended = observe(reply) || suspended;
      engine_.record(job_, result, host_text_, tls_facts());
      job_ = Job{};
      if (suspended) {
        // This address may not send to this provider for a while: stop here;
        // what is queued goes out from another address or waits.
        session_->quit();
        engine_.loop_.after(std::chrono::milliseconds(0), [this] { done(); });
        return;
      }
      if (session_->state() == ClientSession::State::kReady) {
        // Let the current callback unwind before the next transaction.
        engine_.loop_.post([this] { next_job(); });
      }
    });
  }

  // The LMTP server is told the mailbox (aliases followed here, where they are
  // configured), with a folder as the address detail ("support+Junk@example.test";
  // Dovecot files it there with lmtp_save_to_detail_mailbox = yes).
  std::string lmtp_address(const std::string& address, const std::string& folder) const {
    if (!dest_.lmtp) return address;
    auto box = inbound::resolve_mailbox(*engine_.config_, address);
    if (!box) return address;
    return box->mailbox + (folder.empty() ? "" : "+" + folder) + "@" + box->domain;
  }

  // Tells the limiter what the server said; true when that suspended us.
  bool observe(const Reply& reply) {
    if (!egress_ || reply.code < 400) return false;
    return engine_.limiter_->observe_reply(egress_->index, provider_, reply.text(), log::now_ms());
  }

  void finished() override {
    // Inside the session's own call: freed on the next loop turn.
    engine_.loop_.post([engine = &engine_, self = this] {
      if (engine->closing_.erase(self)) delete self;
    });
  }

  void stop_idling() {
    leave_idle();
    if (session_ && session_->state() == ClientSession::State::kReady) session_->quit();
    done();
  }

  void leave_idle() {
    auto it = std::find(dest_.idle.begin(), dest_.idle.end(), this);
    if (it != dest_.idle.end()) dest_.idle.erase(it);
  }

  void done() {
    leave_idle();
    idle_timer_.cancel();
    pace_timer_.cancel();
    choose_timer_.cancel();
    if (finished_) return;
    finished_ = true;
    if (egress_) engine_.limiter_->closed(egress_->index, provider_);
    engine_.loop_.post([engine = &engine_, self = this] { engine->finish_attempt(self); });
  }

  DeliveryEngine& engine_;
  Destination& dest_;
  std::vector<Host> hosts_;
  size_t next_host_ = 0;
  int lookups_ = 0;  // MX and MTA-STS answers still awaited
  net::MxResult mx_;
  StsResult sts_;
  net::PeerCheck check_;  // for the connection being tried
  TlsFacts tls_;          // its policy
  bool policy_failure_ = false;
  std::string ip_;          // of the connection being tried
  bool mx_secure_ = false;  // the MX answer (or its secure absence) had the AD bit
  bool dane_ = false;       // the current host has secure TLSA records
  std::vector<net::TlsaRecord> dane_records_;  // its usable ones
  bool tls_mandatory_ = false;                 // DANE without usable records: TLS, no check
  std::vector<SocketAddress> addresses_;
  size_t next_address_ = 0;
  std::unique_ptr<ClientConnection> connection_;
  std::unique_ptr<ClientSession> session_;
  std::string host_text_;
  std::string last_error_;
  Job job_;
  bool job_active_ = false;
  bool connect_tried_ = false;
  bool ever_connected_ = false;
  bool dns_trouble_ = false;
  bool finished_ = false;
  size_t sent_ = 0;
  Timer idle_timer_;
  Timer pace_timer_{engine_.loop_, [this] { next_job(); }};
  Timer choose_timer_{engine_.loop_, [this] {
                        if (choose_egress()) try_host();
                      }};
  int64_t choose_since_ms_ = 0;  // when choose() first said "ask again shortly"
  std::optional<policy::EgressChoice> egress_;
  std::optional<size_t> wanted_;  // the address whose mail this connection is for
  bool first_ = false;            // opened before the destination's provider was known
  std::string provider_;
  size_t max_messages_ = engine_.options_.max_messages_per_connection;

 public:
  Destination& destination() { return dest_; }
  // Said QUIT and waits for the 221: the connection must live until then, or the QUIT
  // (still in the TLS layer's buffer) and the close_notify after it are never sent.
  bool quitting() const { return session_ && session_->state() == ClientSession::State::kQuit; }
};

DeliveryEngine::DeliveryEngine(Loop& loop, conf::ConfigPtr config, queue::Store& store,
                               Enqueuer& enqueuer, net::Resolver& resolver,
                               std::shared_ptr<net::TlsContext> client_tls, WorkerPool& workers,
                               queue::EventBus& events, policy::Limiter* limiter,
                               DeliveryOptions options)
    : loop_(loop),
      config_(std::move(config)),
      store_(store),
      enqueuer_(enqueuer),
      resolver_(resolver),
      client_tls_(std::move(client_tls)),
      workers_(workers),
      events_(events),
      limiter_(limiter),
      options_(options),
      retry_(config_->delivery.retry),
      timer_(loop, [this] { pump(); }) {}

DeliveryEngine::~DeliveryEngine() {
  stopping_ = true;
  for (Attempt* a : attempts_) delete a;
  for (Attempt* a : closing_) delete a;
}

namespace {
Result<std::string> read_password(const conf::Config& config) {
  if (!config.delivery.smarthost || config.delivery.smarthost->password_file.empty())
    return std::string();
  const std::string& path = config.delivery.smarthost->password_file;
  std::ifstream in(path);
  if (!in) return Result<std::string>::error("cannot read " + path);
  std::string password;
  std::getline(in, password);
  while (!password.empty() && (password.back() == '\r' || password.back() == ' '))
    password.pop_back();
  return password;
}
}  // namespace

Status DeliveryEngine::set_config(conf::ConfigPtr config) {
  auto password = read_password(*config);
  if (!password) return password.status();
  smarthost_password_ = std::move(password.value());
  config_ = std::move(config);
  retry_ = policy::RetryPolicy(config_->delivery.retry);
  if (sts_) sts_->set_port(config_->delivery.mta_sts_port);
  // Destinations may now route elsewhere (a smarthost came or went).
  for (auto& [name, dest] : destinations_) dest->down_until_ms = 0;
  if (limiter_) limiter_->set_warmup(*config_);
  // A raised allowance must not wait for the next UTC day: the limiter decides again.
  int64_t now = log::now_ms();
  size_t again = 0;
  for (const auto& id : limiter_waits_) {
    if (!scheduler_.contains(id)) continue;
    scheduler_.schedule(id, now);
    ++again;
  }
  limiter_waits_.clear();
  if (again)
    log::info("reload: mail waiting for the limiter is tried again",
              {{"messages", std::to_string(again)}});
  arm();
  return Status::ok();
}

Status DeliveryEngine::start() {
  auto password = read_password(*config_);
  if (!password) return password.status();
  smarthost_password_ = std::move(password.value());
  if (sts_) sts_->set_port(config_->delivery.mta_sts_port);
  size_t count = 0;
  auto s = store_.for_each([&](const queue::StoredMessage& m) {
    if (m.envelope.state != queue::MessageState::kHeld) {
      scheduler_.schedule(m.id, m.envelope.next_attempt_ms);
      ++count;
    } else {
      ++held_;
    }
    return true;
  });
  if (!s) return s;
  log::info("delivery started", {{"queued", std::to_string(count)},
                                 {"route", config_->delivery.smarthost
                                               ? "smarthost " + config_->delivery.smarthost->host
                                               : std::string("mx")}});
  arm();
  return Status::ok();
}

void DeliveryEngine::schedule(const queue::QueueId& id, int64_t due_ms) {
  if (in_flight_.count(id)) return;  // finalize() schedules it again
  scheduler_.schedule(id, due_ms);
  arm();
}

void DeliveryEngine::unschedule(const queue::QueueId& id) {
  scheduler_.remove(id);
}

void DeliveryEngine::arm() {
  auto next = scheduler_.next_due();
  if (!next || stopping_) return;
  int64_t wait = std::max<int64_t>(0, *next - log::now_ms());
  timer_.arm(std::chrono::milliseconds(wait));
}

void DeliveryEngine::pump() {
  if (stopping_) return;
  size_t room = options_.max_messages_in_flight > in_flight_.size()
                    ? options_.max_messages_in_flight - in_flight_.size()
                    : 0;
  if (room == 0) return;  // finalize() pumps again
  auto due = scheduler_.take_due(log::now_ms(), room);
  for (const auto& id : due) start_message(id);
  for (auto& [name, dest] : destinations_)
    if (!dest->queue.empty()) dispatch(*dest);
  arm();
}

bool DeliveryEngine::is_local(const std::string& domain) const {
  const conf::Domain* d = config_->find_domain(domain);
  return d && (!d->mailboxes.empty() || !d->aliases.empty());
}

DeliveryEngine::Destination& DeliveryEngine::destination_for(
    const std::string& name, bool smarthost, const std::optional<SocketAddress>& lmtp) {
  auto& slot = destinations_[name];
  if (!slot) {
    slot = std::make_unique<Destination>();
    slot->name = name;
    slot->smarthost = smarthost;
  }
  slot->lmtp = lmtp;  // a reload may have moved the server
  return *slot;
}

void DeliveryEngine::start_message(const queue::QueueId& id) {
  limiter_waits_.erase(id);
  auto env = store_.envelope(id);
  if (!env) return;  // deleted meanwhile
  if (env->state == queue::MessageState::kHeld) return;
  auto data = store_.message(id);
  if (!data) {
    log::error("queued message unreadable", {{"id", id.str()}, {"reason", data.message()}});
    return;
  }
  auto work = std::make_shared<MessageWork>();
  work->id = id;
  work->envelope = std::move(env.value());
  work->data = std::make_shared<const std::string>(std::move(data.value()));
  std::map<std::string, Job> jobs;
  std::map<std::string, SocketAddress> lmtp_servers;  // "lmtp:<domain>" -> its server
  bool smarthost = config_->delivery.smarthost.has_value();
  std::vector<size_t> local;
  for (size_t i = 0; i < work->envelope.recipients.size(); ++i) {
    const auto& r = work->envelope.recipients[i];
    if (r.state != queue::RcptState::kPending) continue;
    std::string_view lp, domain;
    if (!policy::split_address(r.address, &lp, &domain)) continue;
    std::string d = ascii_lower(domain);
    if (is_local(d)) {
      const conf::Domain* ours = config_->find_domain(d);
      if (!ours->lmtp) {
        local.push_back(i);
        continue;
      }
      std::string key = "lmtp:" + d;
      lmtp_servers[key] = *ours->lmtp;
      auto& job = jobs[key];
      job.work = work;
      job.recipients.push_back(i);
      continue;
    }
    std::string key = smarthost ? "[smarthost]" : d;
    auto& job = jobs[key];
    job.work = work;
    job.recipients.push_back(i);
  }
  in_flight_.insert(id);
  work->outstanding = jobs.size() + (local.empty() ? 0 : 1);
  if (!local.empty()) deliver_local(work, std::move(local));
  if (work->outstanding == 0) {
    finalize(work);
    return;
  }
  for (auto& [key, job] : jobs) {
    auto lmtp = lmtp_servers.find(key);
    auto& dest = lmtp == lmtp_servers.end() ? destination_for(key, smarthost, std::nullopt)
                                            : destination_for(key, false, lmtp->second);
    dest.queue.push_back(std::move(job));
  }
}

// Maildir writes fsync, so they run on the worker pool, never on the loop.
void DeliveryEngine::deliver_local(std::shared_ptr<MessageWork> work, std::vector<size_t> local) {
  std::vector<std::string> addresses;
  for (size_t i : local) addresses.push_back(work->envelope.recipients[i].address);
  Loop* loop = &loop_;
  workers_.post([this, loop, config = config_, work, local = std::move(local),
                 addresses = std::move(addresses), sender = work->envelope.sender,
                 folder = work->envelope.folder]() mutable {
    TransactionResult replies;
    bool delivered = false;
    for (const auto& address : addresses) {
      auto box = inbound::resolve_mailbox(*config, address);
      if (!box) {
        replies.push_back(synthetic(550, "5.1.1 <" + address + ">: no such mailbox here"));
        continue;
      }
      auto s = inbound::deliver_maildir(config->inbound.maildir_root, *box, folder, sender, address,
                                        *work->data);
      replies.push_back(
          s ? synthetic(250, "2.0.0 delivered to maildir " + box->domain + "/" + box->mailbox)
            : synthetic(451, "4.3.0 local delivery failed: " + s.message()));
      delivered = delivered || s.is_ok();
    }
    // TLS reports sent to our rua (RFC 8460): read once the message is in a mailbox.
    if (delivered) receive_tls_reports(*work->data, work->id.str());
    loop->post([this, work, local = std::move(local), replies = std::move(replies)]() mutable {
      Job job{work, std::move(local), std::nullopt};
      record(job, replies, "local");
    });
  });
}

void DeliveryEngine::dispatch(Destination& dest) {
  if (stopping_) return;
  if (dest.down_until_ms > log::now_ms()) {
    fail_queued(dest, 451, "4.4.1 destination " + dest.name + " is down: " + dest.down_reason, "");
    return;
  }
  assign_egress(dest);
  // Connections already open and idle take work (of their own address) first.
  std::vector<Attempt*> idle = dest.idle;
  for (Attempt* a : idle) {
    auto egress = a->egress();
    if (std::none_of(dest.queue.begin(), dest.queue.end(),
                     [&](const Job& j) { return j.egress == egress; }))
      continue;
    auto it = std::find(dest.idle.begin(), dest.idle.end(), a);
    if (it == dest.idle.end()) continue;
    dest.idle.erase(it);
    a->wake();
  }
  size_t room =
      std::min(options_.max_per_destination - std::min(dest.active, options_.max_per_destination),
               options_.max_connections - std::min(active_connections_, options_.max_connections));
  std::vector<EgressDemand> demand = egress_demand(dest);
  for (const auto& egress : plan_connections(demand, room)) {
    auto* attempt = new Attempt(*this, dest, egress);
    attempts_.insert(attempt);
    dest.active++;
    active_connections_++;
    attempt->start();
  }
  // No room, and an address's mail without any connection: an idle one of another
  // address makes way (its end dispatches again).
  bool starved = std::any_of(demand.begin(), demand.end(),
                             [](const EgressDemand& d) { return d.queued && !d.open; });
  if (room == 0 && starved && !dest.idle.empty()) dest.idle.front()->close_idle();
}

// egress_demand - per egress address: the mail queued for it, its connections, its cap.
std::vector<EgressDemand> DeliveryEngine::egress_demand(const Destination& dest) const {
  bool shaped = limiter_ && limiter_->active() && !dest.lmtp;
  if (!shaped) {
    // No egress addresses to share out: all of the destination's mail and connections are
    // one demand, counted without walking the queue and every attempt for each message.
    if (dest.queue.empty()) return {};
    return {
        EgressDemand{std::nullopt, dest.queue.size(), dest.active, options_.max_per_destination}};
  }
  std::map<std::optional<size_t>, EgressDemand> by_egress;
  for (const auto& job : dest.queue) by_egress[job.egress].queued++;
  for (Attempt* a : attempts_) {
    if (&a->destination() != &dest) continue;
    auto it = by_egress.find(a->egress());
    if (it != by_egress.end()) it->second.open++;
  }
  std::vector<EgressDemand> out;
  for (auto& [egress, d] : by_egress) {
    d.egress = egress;
    d.cap = options_.max_per_destination;
    // Before the provider is known one connection finds it out (and chooses).
    if (!egress) d.cap = 1;
    if (egress) d.cap = std::min<size_t>(d.cap, limiter_->connections_per_address(dest.provider));
    out.push_back(d);
  }
  return out;
}

// assign_egress - each queued message without an address gets one, by weight among those
// that may send; when none may, those messages wait for the window the limiter names.
void DeliveryEngine::assign_egress(Destination& dest) {
  if (!limiter_ || !limiter_->active() || dest.provider.empty() || dest.lmtp) return;
  int64_t now = log::now_ms();
  std::optional<policy::Wait> refused;
  for (auto& job : dest.queue) {
    if (job.egress) continue;
    policy::Wait wait;
    job.egress = limiter_->pick(dest.provider, now, &wait);
    if (!job.egress) {
      refused = std::move(wait);
      break;
    }
  }
  if (refused) wait_queued(dest, *refused, [](const Job& j) { return !j.egress; });
}

std::optional<policy::EgressChoice> DeliveryEngine::egress_refused(Destination& dest, size_t egress,
                                                                   const policy::Wait& wait) {
  int64_t now = log::now_ms();
  auto of_egress = [egress](const Job& j) { return j.egress == egress; };
  if (!limiter_->may_send(egress, dest.provider, now)) {
    // Blocked: chosen again among the addresses that may send (pick() leaves this one out).
    for (auto& job : dest.queue)
      if (of_egress(job)) job.egress.reset();
    assign_egress(dest);
    return std::nullopt;
  }
  // Out of connection slots (or slowed down past what a connection waits for): another
  // address with a free slot, never the same one again, or the mail waits.
  policy::Wait busy;
  auto other = limiter_->choose(dest.provider, now, &busy);
  if (!other || other->index == egress) {
    wait_queued(dest, wait, of_egress);
    return std::nullopt;
  }
  for (auto& job : dest.queue)
    if (of_egress(job)) job.egress = other->index;
  return other;
}

void DeliveryEngine::finish_attempt(Attempt* attempt) {
  if (!attempts_.erase(attempt)) return;
  Destination& dest = attempt->destination();
  dest.active--;
  active_connections_--;
  if (attempt->quitting()) {
    closing_.insert(attempt);  // freed by its finished(), once the QUIT is answered
  } else {
    delete attempt;
  }
  if (!dest.queue.empty()) dispatch(dest);
}

void DeliveryEngine::fail_queued(Destination& dest, int code, const std::string& text,
                                 const std::string& host, const TlsFacts& tls) {
  // Take the queue first: record() may finalise messages and pump new work in.
  std::deque<Job> jobs;
  jobs.swap(dest.queue);
  for (auto& job : jobs) {
    TransactionResult replies(job.recipients.size(), synthetic(code, text));
    record(job, replies, host, tls);
  }
}

void DeliveryEngine::wait_queued(Destination& dest, const policy::Wait& wait,
                                 const std::function<bool(const Job&)>& which) {
  // Take the jobs first: record() may finalise messages and pump new work in.
  std::deque<Job> waiting, rest;
  for (auto& job : dest.queue) (which(job) ? waiting : rest).push_back(std::move(job));
  dest.queue.swap(rest);
  for (auto& job : waiting) {
    job.work->not_before_ms = std::max(job.work->not_before_ms, wait.until_ms);
    TransactionResult replies(job.recipients.size(), synthetic(451, "4.7.0 " + wait.reason));
    record(job, replies, "", {});
  }
}

void DeliveryEngine::record(Job& job, const TransactionResult& replies, const std::string& host,
                            const TlsFacts& tls) {
  auto work = job.work;
  int64_t now = log::now_ms();
  for (size_t k = 0; k < job.recipients.size() && k < replies.size(); ++k) {
    auto& r = work->envelope.recipients[job.recipients[k]];
    const Reply& reply = replies[k];
    std::string response = reply.code ? reply.text() : reply.lines.empty() ? "" : reply.lines[0];
    r.attempts.push_back({now, host, response, tls.policy, tls.version, tls.cipher});
    if (r.attempts.size() > 20) r.attempts.erase(r.attempts.begin());  // keep the record bounded
    const char* status = outcome_name(reply);
    std::string dsn = reply.code ? reply.enhanced() : "4.4.1";
    if (reply.code >= 200 && reply.code < 300) {
      r.state = queue::RcptState::kDelivered;
    } else if (reply.code >= 500) {
      r.state = queue::RcptState::kBounced;
      DsnRecipient d;
      d.address = r.address;
      d.orcpt = r.orcpt;
      d.action = "failed";
      d.status = dsn;
      auto bracket = host.find('[');
      d.remote_mta = host.substr(0, bracket);
      d.diagnostic = response;
      d.last_attempt_ms = now;
      work->failed.push_back(std::move(d));
    }
    work->events.push_back({now, status, work->id.str(), r.address, response});
    m::deliveries(status).inc();
    if (r.state == queue::RcptState::kDelivered)
      m::delivery_latency().observe(static_cast<double>(now - work->envelope.created_ms) / 1000.0);
    log::info("delivery", {{"id", work->id.str()},
                           {"rcpt", r.address},
                           {"relay", host.empty() ? "none" : host},
                           {"delay", seconds_text(now - work->envelope.created_ms)},
                           {"dsn", dsn},
                           {"status", status},
                           {"tls_policy", tls.policy.empty() ? "-" : tls.policy},
                           {"tls", tls.version.empty() ? "none" : tls.version},
                           {"cipher", tls.cipher.empty() ? "-" : tls.cipher},
                           {"tls_failure", tls.failure.empty() ? "-" : tls.failure},
                           {"response", response}});
  }
  if (--work->outstanding == 0) finalize(work);
}

void DeliveryEngine::finalize(std::shared_ptr<MessageWork> work) {
  auto& env = work->envelope;
  int64_t now = log::now_ms();
  bool pending = false;
  for (const auto& r : env.recipients) pending = pending || r.state == queue::RcptState::kPending;
  if (pending && retry_.expired(env.created_ms, now)) {
    for (auto& r : env.recipients) {
      if (r.state != queue::RcptState::kPending) continue;
      r.state = queue::RcptState::kExpired;
      std::string last = r.attempts.empty() ? "" : r.attempts.back().response;
      DsnRecipient d;
      d.address = r.address;
      d.orcpt = r.orcpt;
      d.action = "failed";
      d.status = "4.4.7";
      d.diagnostic = last;
      d.reason = "delivery time expired; last error: " + last;
      d.last_attempt_ms = r.attempts.empty() ? 0 : r.attempts.back().time_ms;
      work->failed.push_back(std::move(d));
      log::info("delivery", {{"id", work->id.str()},
                             {"rcpt", r.address},
                             {"relay", "none"},
                             {"delay", seconds_text(now - env.created_ms)},
                             {"dsn", "4.4.7"},
                             {"status", "expired"},
                             {"response", "delivery time expired; last error: " + last}});
      m::deliveries("expired").inc();
      work->events.push_back({now, "expired", work->id.str(), r.address, last});
    }
    pending = false;
  }
  // NOTIFY=NEVER, or a NOTIFY without FAILURE, wants no failure report; the
  // null sender never gets one (a bounce is never bounced).
  std::vector<DsnRecipient> report;
  for (auto& d : work->failed) {
    auto it = std::find_if(env.recipients.begin(), env.recipients.end(),
                           [&](const queue::Recipient& r) { return r.address == d.address; });
    uint8_t notify = it == env.recipients.end() ? 0 : it->notify;
    if (notify && !(notify & queue::kNotifyFailure)) continue;
    report.push_back(std::move(d));
  }
  work->failed.clear();
  if (pending && !env.delay_warned && retry_.delay_warning_due(env.created_ms, now) &&
      !env.sender.empty()) {
    env.delay_warned = true;
    std::vector<DsnRecipient> delayed;
    for (const auto& r : env.recipients) {
      if (r.state != queue::RcptState::kPending) continue;
      // Without NOTIFY the sender hears of delays; with it, only if asked.
      if (r.notify && !(r.notify & queue::kNotifyDelay)) continue;
      DsnRecipient d;
      d.address = r.address;
      d.orcpt = r.orcpt;
      d.action = "delayed";
      d.diagnostic = r.attempts.empty() ? "" : r.attempts.back().response;
      d.status = delay_status(d.diagnostic);
      d.last_attempt_ms = r.attempts.empty() ? 0 : r.attempts.back().time_ms;
      delayed.push_back(std::move(d));
    }
    if (!delayed.empty()) queue_dsn(*work, std::move(delayed), [] {});
  }
  if (!report.empty() && !env.sender.empty()) {
    // The DSN is durable before the original's record changes: a crash in
    // between repeats an attempt, it never loses the report.
    queue_dsn(*work, std::move(report), [this, work] { write_back(work); });
    return;
  }
  write_back(work);
}

void DeliveryEngine::write_back(std::shared_ptr<MessageWork> work) {
  auto& env = work->envelope;
  bool pending = false;
  uint32_t attempts = 0;
  for (const auto& r : env.recipients) {
    if (r.state != queue::RcptState::kPending) continue;
    pending = true;
    attempts = std::max<uint32_t>(attempts, static_cast<uint32_t>(r.attempts.size()));
  }
  in_flight_.erase(work->id);
  bool flush_now = false;
  auto op = pending_ops_.find(work->id);
  if (op != pending_ops_.end()) {
    Pending what = op->second;
    pending_ops_.erase(op);
    flush_now = what == Pending::kFlush;
    if (what == Pending::kRemove) {
      pending = false;
      work->events.push_back(
          {log::now_ms(), "deleted", work->id.str(), "", "deleted by the operator"});
    } else if (what == Pending::kBounce && pending) {
      fail_pending(*work, "5.0.0 returned to the sender by the operator");
      in_flight_.insert(work->id);  // finalize() comes back here once the DSN is queued
      finalize(work);
      return;
    } else if (what == Pending::kHold && pending) {
      env.state = queue::MessageState::kHeld;
      if (auto s = store_.update(work->id, env); !s)
        log::error("queue update failed", {{"id", work->id.str()}, {"reason", s.message()}});
      ++held_;
      announce(*work);
      publish("held", work->id, "", "held by the operator");
      arm();
      return;
    }
  }
  // The record changes through the committer, grouped with other writes; the
  // message stays in flight until the change is durable.
  in_flight_.insert(work->id);
  Loop* loop = &loop_;
  if (!pending) {
    store_.remove_async(work->id, [this, loop, work](Status s) {
      loop->post([this, work, s] {
        in_flight_.erase(work->id);
        if (!s)
          log::error("queue remove failed", {{"id", work->id.str()}, {"reason", s.message()}});
        announce(*work);
        arm();
      });
    });
    return;
  }
  int64_t retry_at = retry_.next_attempt_ms(log::now_ms(), std::max<uint32_t>(attempts, 1));
  env.next_attempt_ms = flush_now ? log::now_ms() : std::max(work->not_before_ms, retry_at);
  if (!flush_now && work->not_before_ms > retry_at) {
    limiter_waits_.insert(work->id);
  } else {
    limiter_waits_.erase(work->id);
  }
  env.state = queue::MessageState::kDeferred;
  store_.update_async(work->id, env, [this, loop, work](Status s) {
    loop->post([this, work, s] {
      in_flight_.erase(work->id);
      if (!s) {
        // The old record stands, with its old due time: it is tried again.
        log::error("queue update failed", {{"id", work->id.str()}, {"reason", s.message()}});
        scheduler_.schedule(work->id, log::now_ms() + 60000);
      } else {
        scheduler_.schedule(work->id, work->envelope.next_attempt_ms);
      }
      announce(*work);
      arm();
    });
  });
}

void DeliveryEngine::publish(const char* event, const queue::QueueId& id, const std::string& rcpt,
                             const std::string& response) {
  events_.publish({log::now_ms(), event, id.str(), rcpt, response});
}

void DeliveryEngine::announce(MessageWork& work) {
  for (const auto& e : work.events) events_.publish(e);
  work.events.clear();
}

void DeliveryEngine::fail_pending(MessageWork& work, const std::string& text) {
  int64_t now = log::now_ms();
  for (auto& r : work.envelope.recipients) {
    if (r.state != queue::RcptState::kPending) continue;
    r.state = queue::RcptState::kBounced;
    r.attempts.push_back({now, "", text, "", "", ""});
    DsnRecipient d;
    d.address = r.address;
    d.orcpt = r.orcpt;
    d.action = "failed";
    d.status = "5.0.0";
    d.reason = "returned to the sender by the mail system administrator";
    d.last_attempt_ms = now;
    work.failed.push_back(std::move(d));
    work.events.push_back({now, "bounced", work.id.str(), r.address, text});
    log::info("delivery", {{"id", work.id.str()},
                           {"rcpt", r.address},
                           {"relay", "none"},
                           {"dsn", "5.0.0"},
                           {"status", "bounced"},
                           {"response", text}});
  }
}

Status DeliveryEngine::hold(const queue::QueueId& id) {
  if (in_flight_.count(id)) {
    pending_ops_[id] = Pending::kHold;
    return Status::ok();
  }
  auto env = store_.envelope(id);
  if (!env) return env.status();
  if (env->state == queue::MessageState::kHeld) return Status::ok();
  env->state = queue::MessageState::kHeld;
  if (auto s = store_.update(id, *env); !s) return s;
  scheduler_.remove(id);
  ++held_;
  publish("held", id, "", "held by the operator");
  log::info("held", {{"id", id.str()}});
  return Status::ok();
}

Status DeliveryEngine::release(const queue::QueueId& id) {
  if (in_flight_.count(id)) {
    pending_ops_.erase(id);  // a hold not yet applied is simply dropped
    return Status::ok();
  }
  auto env = store_.envelope(id);
  if (!env) return env.status();
  if (env->state != queue::MessageState::kHeld)
    return Status::error("message " + id.str() + " is not held");
  env->state = queue::MessageState::kQueued;
  env->next_attempt_ms = log::now_ms();
  if (auto s = store_.update(id, *env); !s) return s;
  if (held_) --held_;
  publish("released", id, "", "released by the operator");
  log::info("released", {{"id", id.str()}});
  schedule(id, env->next_attempt_ms);
  return Status::ok();
}

Status DeliveryEngine::flush(const queue::QueueId& id) {
  if (in_flight_.count(id)) {
    // Being tried right now: if it is deferred again, it comes due at once.
    pending_ops_.try_emplace(id, Pending::kFlush);
    return Status::ok();
  }
  if (!scheduler_.contains(id)) {
    auto env = store_.envelope(id);
    if (!env) return env.status();
    if (env->state == queue::MessageState::kHeld)
      return Status::error("message " + id.str() + " is held; release it to deliver it");
  }
  schedule(id, log::now_ms());
  return Status::ok();
}

size_t DeliveryEngine::flush_all() {
  // Destinations marked down get another chance too.
  for (auto& [name, dest] : destinations_) dest->down_until_ms = 0;
  for (const auto& id : in_flight_) pending_ops_.try_emplace(id, Pending::kFlush);
  size_t n = scheduler_.flush_all(log::now_ms()) + in_flight_.size();
  arm();
  return n;
}

Status DeliveryEngine::remove(const queue::QueueId& id) {
  if (in_flight_.count(id)) {
    pending_ops_[id] = Pending::kRemove;
    return Status::ok();
  }
  auto env = store_.envelope(id);
  if (!env) return env.status();
  if (auto s = store_.remove(id); !s) return s;
  if (env->state == queue::MessageState::kHeld && held_) --held_;
  scheduler_.remove(id);
  publish("deleted", id, "", "deleted by the operator");
  log::info("deleted", {{"id", id.str()}});
  return Status::ok();
}

Status DeliveryEngine::bounce(const queue::QueueId& id) {
  if (in_flight_.count(id)) {
    pending_ops_[id] = Pending::kBounce;
    return Status::ok();
  }
  auto env = store_.envelope(id);
  if (!env) return env.status();
  auto data = store_.message(id);
  if (!data) return data.status();
  if (env->state == queue::MessageState::kHeld && held_) --held_;
  scheduler_.remove(id);
  auto work = std::make_shared<MessageWork>();
  work->id = id;
  work->envelope = std::move(env.value());
  work->data = std::make_shared<const std::string>(std::move(data.value()));
  in_flight_.insert(id);
  fail_pending(*work, "5.0.0 returned to the sender by the operator");
  finalize(work);
  return Status::ok();
}

void DeliveryEngine::queue_dsn(const MessageWork& work, std::vector<DsnRecipient> recipients,
                               std::function<void()> then) {
  DsnInput in;
  in.hostname = config_->hostname;
  in.queue_id = work.id.str();
  in.original_sender = work.envelope.sender;
  in.envid = work.envelope.envid;
  in.ret = work.envelope.ret;
  in.arrival_ms = work.envelope.created_ms;
  in.retry_until_ms = work.envelope.created_ms + config_->delivery.retry.max_age.count();
  in.original = work.data.get();
  in.recipients = std::move(recipients);
  bool delay = in.recipients.front().action == "delayed";
  size_t count = in.recipients.size();
  LocalMessage local;
  local.sender = "";
  local.recipient = work.envelope.sender;
  local.smtputf8 = work.envelope.smtputf8;
  local.origin = delay ? "delay" : "bounce";
  local.build = [in = std::move(in)](const std::string& message_id, int64_t now) {
    return build_dsn(in, message_id, now);
  };
  queue::QueueId id =
      enqueuer_.queue_own(std::move(local), [then = std::move(then)](Status) { then(); });
  log::info(delay ? "delay notice" : "bounce", {{"id", id.str()},
                                                {"original", work.id.str()},
                                                {"to", work.envelope.sender},
                                                {"recipients", std::to_string(count)}});
}

}  // namespace hato::relay
