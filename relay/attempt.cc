// attempt.cc - one connection to a destination: routing, TLS policy per host, egress,
// connecting host by host, then the destination's jobs one after another.
#include "relay/attempt.h"

#include <algorithm>

#include "common/log.h"
#include "inbound/maildir.h"
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

std::mt19937& random_engine() {
  thread_local std::mt19937 engine(std::random_device{}());
  return engine;
}

// TLS-RPT's policy string for TLSA records: "usage selector mtype hex" lines.
std::string tlsa_policy_text(const std::vector<net::TlsaRecord>& records) {
  static const char kHex[] = "0123456789abcdef";
  std::string text;
  for (const auto& r : records) {
    std::string hex;
    for (unsigned char c : r.data) {
      hex += kHex[c >> 4];
      hex += kHex[c & 15];
    }
    text += std::to_string(r.usage) + " " + std::to_string(r.selector) + " " +
            std::to_string(r.mtype) + " " + hex + "\n";
  }
  return text;
}

}  // namespace

Attempt::Attempt(AttemptTools tools, AttemptOwner& owner, Destination& dest,
                 std::optional<size_t> egress)
    : tools_(std::move(tools)),
      owner_(owner),
      dest_(dest),
      idle_timer_(tools_.loop, [this] { stop_idling(); }),
      pace_timer_(tools_.loop, [this] { next_job(); }),
      choose_timer_(tools_.loop,
                    [this] {
                      if (choose_egress()) try_host();
                    }),
      wanted_(egress),
      first_(!egress),
      max_messages_(tools_.options.max_messages_per_connection) {}

Attempt::~Attempt() = default;

RouteKind Attempt::route() const {
  if (dest_.lmtp) return RouteKind::kLmtp;
  return dest_.smarthost ? RouteKind::kSmarthost : RouteKind::kMx;
}

bool Attempt::quitting() const {
  return session_ && session_->state() == ClientSession::State::kQuit;
}

void Attempt::start() {
  if (dest_.lmtp) {
    // Local delivery: no DNS, no egress choice, the configured LMTP server.
    hosts_.push_back({dest_.lmtp->to_string(), 0});
    try_host();
    return;
  }
  if (dest_.smarthost) {
    hosts_.push_back({tools_.config->delivery.smarthost->host, 0});
    if (choose_egress()) try_host();
    return;
  }
  // MX and the MTA-STS policy are asked for together; routing waits for both.
  lookups_ = tools_.sts ? 2 : 1;
  tools_.resolver.mx(dest_.name, [this](net::MxResult mx) {
    mx_ = std::move(mx);
    if (--lookups_ == 0) on_mx(std::move(mx_));
  });
  if (tools_.sts) {
    tools_.sts->lookup(dest_.name, [this](StsResult sts) {
      sts_ = std::move(sts);
      if (--lookups_ == 0) on_mx(std::move(mx_));
    });
  }
}

void Attempt::wake() {
  idle_timer_.cancel();
  next_job();
}

void Attempt::ready() {
  ever_connected_ = true;
  if (session_ && connection_) {
    // A session is up: under a policy the check's verdict, else whether TLS happened.
    std::string result = connection_->peer_check_type();
    if (result.empty() && !session_->tls_active()) result = "starttls-not-supported";
    if (host_.check.kind != net::PeerCheck::Kind::kNone && connection_->peer_check_error().empty())
      result.clear();
    report_tls(result);
  }
  next_job();
}

void Attempt::failed(const Reply& reason) {
  if (reason.code) observe(reason);  // a 421 4.7.28 greeting counts too
  // A connection made but without the TLS the policy demands: STARTTLS missing, or a
  // certificate that failed the check.
  if (connection_ && connection_->ever_connected() && host_.mandatory &&
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
  tools_.loop.post([this] { try_address(); });
}

void Attempt::on_mx(net::MxResult mx) {
  MxRoute routed = route_mx(dest_.name, std::move(mx), random_engine());
  if (routed.code) {
    owner_.fail_queued(dest_, routed.code, routed.error, "", {});
    return done();
  }
  hosts_ = std::move(routed.hosts);
  mx_secure_ = routed.secure;
  if (!sts_.failure.empty()) report_tls(sts_.failure, "");
  if (!apply_mta_sts()) return done();
  if (hosts_.size() > tools_.options.max_mx_hosts) hosts_.resize(tools_.options.max_mx_hosts);
  if (choose_egress()) try_host();
}

// RFC 8461 4.1: under an enforce policy only the MX hosts it lists are tried (unless DANE
// may govern them); false when nothing may be tried.
bool Attempt::apply_mta_sts() {
  if (!sts_.policy) return true;
  const auto& policy = *sts_.policy;
  std::vector<std::string> names;
  for (const auto& h : hosts_) names.push_back(h.name);
  StsHostFilter filter = filter_sts_hosts(&policy, names, mx_secure_);
  std::string refused;
  for (const auto& h : filter.refused) refused += (refused.empty() ? "" : ", ") + h;
  if (!refused.empty()) {
    log::warning("mta-sts mx mismatch", {{"domain", dest_.name},
                                         {"mode", policy::mta_sts::mode_name(policy.mode)},
                                         {"policy_id", policy.id},
                                         {"hosts", refused}});
  }
  if (filter.nothing_allowed) {
    report_tls("validation-failure", "");
    TlsFacts facts;
    facts.policy = "mta-sts";
    owner_.fail_queued(dest_, 451,
                       "4.7.5 MTA-STS policy " + policy.id + " of " + dest_.name +
                           " (enforce) matches none of its MX hosts (" + refused + ")",
                       "", facts);
    return false;
  }
  std::erase_if(hosts_, [&](const RouteHost& h) {
    return std::find(filter.allowed.begin(), filter.allowed.end(), h.name) == filter.allowed.end();
  });
  return true;
}

// With egress addresses configured, each queued message gets its address (by weight, per
// message) and this connection is for one address's mail; the limiter says whether that
// address may connect to this destination's provider now. Mail that may go from nowhere
// waits for the window the limiter names, and is never bounced for it.
bool Attempt::choose_egress() {
  policy::Limiter* limiter = tools_.limiter;
  if (!limiter || !limiter->active()) return true;
  std::vector<std::string> names;
  for (const auto& h : hosts_) names.push_back(h.name);
  provider_ = limiter->provider_for(names);
  dest_.provider = provider_;
  owner_.assign_egress(dest_);
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
    choice = owner_.egress_refused(dest_, *wanted_, wait);
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
  if (first_) tools_.loop.post([owner = &owner_, dest = &dest_] { owner->dispatch(*dest); });
  return true;
}

void Attempt::try_host() {
  if (next_host_ >= hosts_.size()) return exhausted();
  const RouteHost& host = hosts_[next_host_++];
  tlsa_.reset();
  addresses_.clear();
  next_address_ = 0;
  if (dest_.lmtp) {
    addresses_ = {*dest_.lmtp};
    return begin_host();
  }
  if (auto literal = SocketAddress::parse(host.name, 0)) {
    addresses_ = {literal.value()};
    return begin_host();
  }
  tools_.resolver.addresses(host.name,
                            [this](net::AddressResult r) { on_addresses(std::move(r)); });
}

void Attempt::on_addresses(net::AddressResult r) {
  if (r.status != net::DnsStatus::kOk) {
    dns_trouble_ = dns_trouble_ || net::dns_temporary(r.status);
    last_error_ = "cannot find an address for " + current_host() + ": " +
                  (r.error.empty() ? net::dns_status_name(r.status) : r.error);
    return try_host();
  }
  addresses_ = std::move(r.addresses);
  if (tlsa_applies(route(), mx_secure_, r.authenticated)) return lookup_tlsa();
  begin_host();
}

// DANE (RFC 7672): TLSA records at _<port>._tcp.<mx host>, trusted only when the validating
// resolver says they are secure (the AD bit).
void Attempt::lookup_tlsa() {
  std::string name = "_" + std::to_string(tools_.config->delivery.port) + "._tcp." + current_host();
  tools_.resolver.tlsa(name, [this](net::TlsaResult t) {
    tlsa_ = std::move(t);
    begin_host();
  });
}

// The host's addresses (and TLSA answer) are in: what TLS it requires, or whether the
// policy forbids it.
void Attempt::begin_host() {
  TlsPolicyInput in;
  in.route = route();
  in.configured = tools_.config->delivery.tls;
  if (dest_.smarthost) {
    in.smarthost_tls = tools_.config->delivery.smarthost->tls;
    in.smarthost_login = !tools_.config->delivery.smarthost->username.empty();
  }
  in.destination = dest_.name;
  in.mx_host = current_host();
  in.sts = sts_.policy ? &*sts_.policy : nullptr;
  in.mx_secure = mx_secure_;
  in.tlsa = tlsa_ ? &*tlsa_ : nullptr;
  host_ = host_tls(in);
  if (!host_.skip) return try_address();
  policy_failure_ = true;
  dns_trouble_ = dns_trouble_ || host_.dns_trouble;
  report_tls(host_.report, current_host());
  last_error_ = host_.reason;
  log::warning("host skipped by TLS policy",
               {{"destination", dest_.name}, {"host", current_host()}, {"reason", last_error_}});
  tools_.loop.post([this] { try_host(); });
}

ClientOptions Attempt::client_options() const {
  const auto& config = *tools_.config;
  ClientOptions options;
  options.helo = egress_ && !egress_->helo.empty() ? egress_->helo : config.hostname;
  options.command_timeout = config.limits.command_timeout;
  options.data_timeout = config.limits.data_timeout;
  options.tls = host_.mode;
  options.lmtp = dest_.lmtp.has_value();
  if (dest_.smarthost) {
    options.username = config.delivery.smarthost->username;
    options.password = tools_.smarthost_password;
  }
  options.server_name = host_text_;
  return options;
}

void Attempt::try_address() {
  session_.reset();
  connection_.reset();
  if (next_address_ >= addresses_.size()) return try_host();
  SocketAddress to = addresses_[next_address_++];
  tls_ = TlsFacts{};
  tls_.policy = host_.policy;
  tls_.failure = host_.reason;
  if (dest_.lmtp) {
    host_text_ = "lmtp[" + to.to_string() + "]";
  } else {
    uint16_t port =
        dest_.smarthost ? tools_.config->delivery.smarthost->port : tools_.config->delivery.port;
    to.set_port(port);
    ip_ = to.ip();
    host_text_ = current_host() + "[" + to.ip() + "]:" + std::to_string(port);
  }
  ClientOptions options = client_options();
  connection_ = tools_.connector.make(current_host());
  connection_->set_peer_check(host_.check);
  session_ = std::make_unique<ClientSession>(*connection_, options, *this);
  connection_->attach(session_.get());
  connect_tried_ = true;
  std::optional<SocketAddress> source;
  if (egress_) source = egress_->address;
  bool implicit = options.tls == ClientTls::kImplicit;
  if (auto s = connection_->connect(to, source, implicit, tools_.options.connect_timeout); !s) {
    last_error_ = "connect to " + host_text_ + ": " + s.message();
    tools_.loop.post([this] { try_address(); });
  }
}

void Attempt::exhausted() {
  if (last_error_.empty()) last_error_ = "no usable address for " + dest_.name;
  if (connect_tried_ && !ever_connected_) {
    // Nobody answered: mark the destination down so queued mail waits instead of each
    // message knocking again (Postfix's dead destination).
    auto now = log::now_ms();
    auto pause = std::min<int64_t>(tools_.config->delivery.retry.first.count(),
                                   std::chrono::milliseconds(kDownMax).count());
    dest_.down_until_ms = now + pause;
    dest_.down_reason = last_error_;
    log::warning(
        "destination down",
        {{"destination", dest_.name}, {"for", seconds_text(pause)}, {"reason", last_error_}});
  }
  RouteFailure verdict =
      route_failure({connect_tried_, dns_trouble_, policy_failure_, dest_.smarthost});
  owner_.fail_queued(dest_, verdict.code, verdict.status + " " + last_error_, "", tls_);
  done();
}

// TLS-RPT: one session's result ("" for success) under the policy of this host.
void Attempt::report_tls(const std::string& result, std::optional<std::string> host) {
  if (!tools_.tlsrpt || route() != RouteKind::kMx) return;  // no receiver to tell
  policy::tlsrpt::PolicyKey key;
  if (host_.dane) {
    key.type = "tlsa";
    key.text = tlsa_policy_text(host_.check.tlsa);
  } else if (sts_.policy && sts_.policy->mode != policy::mta_sts::Mode::kNone) {
    key.type = "sts";
    key.text = sts_.policy->text;
    key.mx = sts_.policy->mx;
  } else {
    key.type = "no-policy-found";
  }
  std::string mx = host ? *host : next_host_ ? current_host() : "";
  tools_.tlsrpt->record(dest_.name, key, result, mx, host ? "" : ip_);
}

// The TLS of the session now: the policy, and what was negotiated.
TlsFacts Attempt::tls_facts() const {
  TlsFacts facts = tls_;
  if (session_) {
    facts.version = session_->tls_version();
    facts.cipher = session_->tls_cipher();
  }
  if (connection_ && !connection_->peer_check_error().empty())
    facts.failure = connection_->peer_check_error();
  return facts;
}

void Attempt::next_job() {
  auto mine = std::find_if(dest_.queue.begin(), dest_.queue.end(),
                           [this](const Job& j) { return j.egress == egress(); });
  if (!may_take_job(mine != dest_.queue.end())) return;
  job_ = std::move(*mine);
  dest_.queue.erase(mine);
  send_job();
}

bool Attempt::may_take_job(bool have_job) {
  bool full = sent_ >= max_messages_ || owner_.stopping();
  if (!have_job && !full) {
    // Keep the connection a moment: mail often comes in runs (Postfix's connection cache
    // does the same).
    dest_.idle.push_back(this);
    idle_timer_.arm(kIdleConnection);
    return false;
  }
  if (!have_job || full) {
    quit_and_end();
    return false;
  }
  if (!egress_) return true;
  if (!tools_.limiter->in_rotation(egress_->index)) {
    // Blacklisted since this connection opened: what is queued goes out from another address
    // through a new attempt (the engine dispatches it when this one ends).
    log::info("egress out of rotation, closing",
              {{"egress", egress_->address.ip()}, {"destination", dest_.name}});
    quit_and_end();
    return false;
  }
  policy::Wait wait;
  int64_t now = log::now_ms();
  if (tools_.limiter->take(egress_->index, provider_, now, &wait)) return true;
  if (wait.until_ms - now <= std::chrono::milliseconds(kRateWait).count()) {
    // The rate's next token is near: wait for it on this connection.
    pace_timer_.arm(std::chrono::milliseconds(std::max<int64_t>(1, wait.until_ms - now)));
    return false;
  }
  // Today's allowance is spent (or a suspension began): this address's mail goes out from
  // another one, or waits; new connections carry it.
  (void)owner_.egress_refused(dest_, egress_->index, wait);
  quit_and_end();
  return false;
}

void Attempt::send_job() {
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
  session_->send(std::move(m), [this](TransactionResult result) { on_sent(std::move(result)); });
}

void Attempt::on_sent(TransactionResult result) {
  job_active_ = false;
  ++sent_;
  bool suspended = false;
  for (const auto& reply : result) suspended = observe(reply) || suspended;
  owner_.record(job_, result, host_text_, tls_facts());
  job_ = Job{};
  if (suspended) {
    // This address may not send to this provider for a while: stop here; what is queued
    // goes out from another address or waits.
    return quit_and_end();
  }
  if (session_->state() == ClientSession::State::kReady) {
    // Let the current callback unwind before the next transaction.
    tools_.loop.post([this] { next_job(); });
  }
}

void Attempt::quit_and_end() {
  session_->quit();
  tools_.loop.after(std::chrono::milliseconds(0), [this] { done(); });
}

// The LMTP server is told the mailbox (aliases followed here, where they are configured),
// with a folder as the address detail ("support+Junk@example.test"; Dovecot files it there
// with lmtp_save_to_detail_mailbox = yes).
std::string Attempt::lmtp_address(const std::string& address, const std::string& folder) const {
  if (!dest_.lmtp) return address;
  auto box = inbound::resolve_mailbox(*tools_.config, address);
  if (!box) return address;
  return box->mailbox + (folder.empty() ? "" : "+" + folder) + "@" + box->domain;
}

// Tells the limiter what the server said; true when that suspended us.
bool Attempt::observe(const Reply& reply) {
  if (!egress_ || reply.code < 400) return false;
  return tools_.limiter->observe_reply(egress_->index, provider_, reply.text(), log::now_ms());
}

void Attempt::finished() {
  // Inside the session's own call: freed on the next loop turn.
  tools_.loop.post([owner = &owner_, self = this] { owner->attempt_closed(self); });
}

void Attempt::stop_idling() {
  leave_idle();
  if (session_ && session_->state() == ClientSession::State::kReady) session_->quit();
  done();
}

void Attempt::leave_idle() {
  auto it = std::find(dest_.idle.begin(), dest_.idle.end(), this);
  if (it != dest_.idle.end()) dest_.idle.erase(it);
}

void Attempt::done() {
  leave_idle();
  idle_timer_.cancel();
  pace_timer_.cancel();
  choose_timer_.cancel();
  if (finished_) return;
  finished_ = true;
  if (egress_) tools_.limiter->closed(egress_->index, provider_);
  tools_.loop.post([owner = &owner_, self = this] { owner->attempt_done(self); });
}

}  // namespace hato::relay
