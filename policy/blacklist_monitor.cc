// blacklist_monitor.cc - rounds of blocklist lookups, their state, rotation and notices.
#include "policy/blacklist_monitor.h"

#include <algorithm>

#include "common/log.h"
#include "common/metrics.h"
#include "policy/dnsbl.h"
#include "queue/state_keys.h"

namespace hato::policy {

namespace {

// Reverse DNS may name several hosts; receivers look at the first few.
constexpr size_t kMaxPtrNames = 5;

Gauge& listed_gauge(bool domain, const std::string& subject, const std::string& zone) {
  if (domain) {
    return metrics().gauge(
        "hato_blacklist_domain_listed", "1 while a sending domain is listed on a domain blocklist",
        "domain=\"" + label_value(subject) + "\",zone=\"" + label_value(zone) + "\"");
  }
  return metrics().gauge(
      "hato_blacklist_listed", "1 while an egress address is listed on a DNS blocklist",
      "address=\"" + label_value(subject) + "\",zone=\"" + label_value(zone) + "\"");
}

Gauge& rotation_gauge(const std::string& address) {
  return metrics().gauge("hato_egress_in_rotation",
                         "1 while an egress address may be chosen (0: blacklisted)",
                         "address=\"" + label_value(address) + "\"");
}

Counter& error_counter(const std::string& zone) {
  return metrics().counter("hato_blacklist_check_errors_total",
                           "Blocklist lookups that failed or that the list refused",
                           "zone=\"" + label_value(zone) + "\"");
}

void append_time(std::string& out, bool known, int64_t ms) {
  if (known) {
    log::append_json_string(out, log::rfc3339(ms));
  } else {
    out += "null";
  }
}

void append_text_or_null(std::string& out, const std::string& text) {
  if (text.empty()) {
    out += "null";
  } else {
    log::append_json_string(out, text);
  }
}

LookupStatus lookup_status(net::DnsStatus status) {
  switch (status) {
    case net::DnsStatus::kOk:
      return LookupStatus::kAnswer;
    case net::DnsStatus::kNxDomain:
    case net::DnsStatus::kNoData:
      return LookupStatus::kNoRecords;
    default:
      return LookupStatus::kFailed;
  }
}

}  // namespace

struct BlacklistMonitor::Event {
  enum class Kind { kListed, kDelisted, kReturned };
  Kind kind;
  bool domain;
  std::string subject;
  std::string zone;
  std::string reason;
  int64_t since_ms;
};

BlacklistMonitor::BlacklistMonitor(Loop& loop, conf::ConfigPtr config, net::Resolver& resolver,
                                   StateStore& state, Limiter* limiter, MailNotice mail,
                                   net::HttpClient& http)
    : loop_(loop),
      config_(std::move(config)),
      resolver_(resolver),
      state_(state),
      limiter_(limiter),
      mail_(std::move(mail)),
      http_(http),
      timer_(loop, [this] { run_round(); }) {}

BlacklistMonitor::~BlacklistMonitor() {
  alive_.reset();
}

bool BlacklistMonitor::enabled() const {
  return config_->blacklist_monitor.enabled;
}

void BlacklistMonitor::start() {
  if (!enabled() || started_) return;
  started_ = true;
  const auto& bm = config_->blacklist_monitor;
  // Read what the last run knew, so a listed address stays out from the first message on.
  for (const auto& egress : config_->egress) {
    std::string ip = egress.address.ip();
    for (const auto& zone : bm.zones) {
      const BlacklistEntry& e = entry(false, ip, zone);
      listed_gauge(false, ip, zone).set(e.listed ? 1 : 0);
    }
    ptr_check(ip);
  }
  for (const auto& domain : config_->domains) {
    for (const auto& zone : bm.domain_zones) {
      const BlacklistEntry& e = entry(true, domain.name, zone);
      listed_gauge(true, domain.name, zone).set(e.listed ? 1 : 0);
    }
  }
  apply_rotation();
  log::info("blacklist monitor started",
            {{"interval", std::to_string(bm.interval.count() / 1000) + "s"},
             {"zones", std::to_string(bm.zones.size())},
             {"domain_zones", std::to_string(bm.domain_zones.size())},
             {"addresses", std::to_string(config_->egress.size())}});
  run_round();
}

void BlacklistMonitor::set_config(conf::ConfigPtr config) {
  config_ = std::move(config);
  if (!enabled()) {
    // Monitoring switched off: nothing is known to be listed any more.
    timer_.cancel();
    out_.clear();
    if (limiter_) limiter_->set_out_of_rotation({});
    return;
  }
  if (!started_) return start();
  if (!running_ && !timer_.armed()) run_round();  // switched off, then on again
}

void BlacklistMonitor::check_now(std::function<void()> done) {
  if (!enabled()) {
    loop_.post(std::move(done));
    return;
  }
  if (running_) {
    // The round under way may have asked before the caller's reason to ask: one more.
    waiting_next_.push_back(std::move(done));
    return;
  }
  waiting_.push_back(std::move(done));
  timer_.cancel();
  run_round();
}

BlacklistEntry& BlacklistMonitor::entry(bool domain, const std::string& subject,
                                        const std::string& zone) {
  auto& map = domain ? domains_ : addresses_;
  Key key{subject, zone};
  auto it = map.find(key);
  if (it != map.end()) return it->second;
  BlacklistEntry e;
  if (auto stored = state_.get(queue::state::blacklist_key(subject, zone))) {
    if (auto decoded = decode_blacklist_entry(*stored)) {
      e = std::move(*decoded);
    } else {
      log::warning("unreadable blacklist state, starting afresh",
                   {{"subject", subject}, {"zone", zone}});
    }
  }
  return map.emplace(std::move(key), std::move(e)).first->second;
}

PtrCheck& BlacklistMonitor::ptr_check(const std::string& address) {
  auto it = ptrs_.find(address);
  if (it != ptrs_.end()) return it->second;
  PtrCheck c;
  if (auto stored = state_.get(queue::state::ptr_key(address))) {
    if (auto decoded = decode_ptr_check(*stored)) c = std::move(*decoded);
  }
  return ptrs_.emplace(address, std::move(c)).first->second;
}

// run_round - every lookup of the configuration at once; finish_round() when all are back.
void BlacklistMonitor::run_round() {
  if (!enabled()) return;
  running_ = true;
  pending_ = 1;  // held until every lookup is sent, so none can finish the round early
  events_.clear();
  const auto& bm = config_->blacklist_monitor;
  for (const auto& egress : config_->egress) {
    std::string ip = egress.address.ip();
    for (const auto& zone : bm.zones) {
      ++pending_;
      lookup(false, ip, zone, dnsbl_query_name(egress.address, zone));
    }
    ++pending_;
    check_ptr(egress.address);
  }
  for (const auto& domain : config_->domains) {
    for (const auto& zone : bm.domain_zones) {
      ++pending_;
      lookup(true, domain.name, zone, domain.name + "." + zone);
    }
  }
  finish_lookup();
}

void BlacklistMonitor::lookup(bool domain, const std::string& subject, const std::string& zone,
                              const std::string& name) {
  std::weak_ptr<int> alive = alive_;
  resolver_.a(name, [this, alive, domain, subject, zone, name](net::AddressResult r) {
    if (alive.expired()) return;
    BlacklistOutcome outcome =
        classify_blacklist_lookup(lookup_status(r.status), r.addresses, r.error);
    if (outcome.kind != BlacklistOutcome::Kind::kListed) {
      record(domain, subject, zone, outcome);
      return;
    }
    // Lists explain a listing in a TXT record at the same name (RFC 5782 2.1).
    resolver_.txt(name, [this, alive, domain, subject, zone, outcome](net::TxtResult t) mutable {
      if (alive.expired()) return;
      if (t.status == net::DnsStatus::kOk) {
        std::string text;
        for (const auto& record : t.records) text += (text.empty() ? "" : " ") + record;
        if (std::string reason = dnsbl_reason(text); !reason.empty()) outcome.reason = reason;
      }
      record(domain, subject, zone, outcome);
    });
  });
}

// check_ptr - the PTR names of `address`, then the addresses of each: confirmed when one
// of them is `address` again.
void BlacklistMonitor::check_ptr(const SocketAddress& address) {
  std::weak_ptr<int> alive = alive_;
  std::string ip = address.ip();
  resolver_.ptr(address, [this, alive, ip](net::PtrResult p) {
    if (alive.expired()) return;
    PtrCheck check = ptr_check(ip);
    check.last_checked_ms = log::now_ms();
    if (net::dns_temporary(p.status)) {
      check.error = "PTR lookup failed: " + p.error;  // what was known stays
      return record_ptr(ip, std::move(check));
    }
    check.checked = true;
    check.confirmed = false;
    check.names.clear();
    if (p.status != net::DnsStatus::kOk || p.names.empty()) {
      check.error = "no PTR record for " + ip;
      return record_ptr(ip, std::move(check));
    }
    check.names.assign(p.names.begin(), p.names.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                              p.names.size(), kMaxPtrNames)));
    struct Forward {
      PtrCheck check;
      size_t left;
      bool failed = false;
    };
    auto forward = std::make_shared<Forward>(Forward{std::move(check), 0});
    forward->left = forward->check.names.size();
    for (const auto& name : forward->check.names) {
      resolver_.addresses(name, [this, alive, ip, forward](net::AddressResult a) {
        if (alive.expired()) return;
        for (const auto& found : a.addresses) {
          if (found.ip() == ip) forward->check.confirmed = true;
        }
        forward->failed = forward->failed || net::dns_temporary(a.status);
        if (--forward->left > 0) return;
        PtrCheck& c = forward->check;
        if (c.confirmed) {
          c.error.clear();
        } else {
          std::string names;
          for (const auto& n : c.names) names += (names.empty() ? "" : ", ") + n;
          c.error = forward->failed ? "cannot confirm " + names + ": lookup failed"
                                    : names + " does not point back to " + ip;
        }
        record_ptr(ip, std::move(c));
      });
    }
  });
}

void BlacklistMonitor::record(bool domain, const std::string& subject, const std::string& zone,
                              const BlacklistOutcome& outcome) {
  BlacklistEntry& e = entry(domain, subject, zone);
  int64_t now = log::now_ms();
  BlacklistChange change =
      apply_blacklist_outcome(e, outcome, now, config_->blacklist_monitor.clean_checks);
  state_.put(queue::state::blacklist_key(subject, zone), encode_blacklist_entry(e));
  listed_gauge(domain, subject, zone).set(e.listed ? 1 : 0);
  const char* what = domain ? "domain" : "address";
  if (outcome.kind == BlacklistOutcome::Kind::kError) {
    error_counter(zone).inc();
    // Logged when it changes, not every round: a list that refuses us says so once.
    if (change.error) {
      log::warning("blacklist check failed",
                   {{what, subject}, {"zone", zone}, {"reason", e.error}});
    }
  }
  if (change.listed)
    events_.push_back({Event::Kind::kListed, domain, subject, zone, e.reason, now});
  if (change.delisted) events_.push_back({Event::Kind::kDelisted, domain, subject, zone, "", now});
  if (change.returned) events_.push_back({Event::Kind::kReturned, domain, subject, zone, "", now});
  finish_lookup();
}

void BlacklistMonitor::record_ptr(const std::string& address, PtrCheck check) {
  PtrCheck& stored = ptr_check(address);
  if (check.error != stored.error && !check.error.empty()) {
    log::warning("reverse DNS problem", {{"address", address}, {"reason", check.error}});
  }
  stored = std::move(check);
  state_.put(queue::state::ptr_key(address), encode_ptr_check(stored));
  finish_lookup();
}

void BlacklistMonitor::finish_lookup() {
  if (pending_ > 0 && --pending_ == 0) finish_round();
}

void BlacklistMonitor::finish_round() {
  running_ = false;
  apply_rotation();
  notify(events_);
  events_.clear();
  std::vector<std::function<void()>> done;
  done.swap(waiting_);
  for (auto& fn : done) fn();
  if (!waiting_next_.empty()) {
    waiting_.swap(waiting_next_);
    run_round();
    return;
  }
  if (enabled()) timer_.arm(config_->blacklist_monitor.interval);
}

// apply_rotation - an egress address is held while any zone holds it; the limiter learns
// which addresses leave the rotation under the fallback rule of out_of_rotation().
void BlacklistMonitor::apply_rotation() {
  const auto& egress = config_->egress;
  std::vector<bool> held(egress.size(), false);
  std::vector<std::string> why(egress.size());
  for (size_t i = 0; i < egress.size(); ++i) {
    std::string ip = egress[i].address.ip();
    for (const auto& zone : config_->blacklist_monitor.zones) {
      const BlacklistEntry& e = entry(false, ip, zone);
      if (!e.held) continue;
      held[i] = true;
      if (!why[i].empty()) why[i] += "; ";
      why[i] += e.listed ? ip + " is listed on " + zone + (e.reason.empty() ? "" : ": " + e.reason)
                         : ip + " was listed on " + zone + ", not yet clean for " +
                               std::to_string(config_->blacklist_monitor.clean_checks) + " checks";
    }
  }
  std::vector<bool> out = out_of_rotation(held, config_->blacklist_monitor.keep_last_address);
  std::map<std::string, std::string> reasons;
  bool all_held = !held.empty() && std::all_of(held.begin(), held.end(), [](bool h) { return h; });
  for (size_t i = 0; i < egress.size(); ++i) {
    std::string ip = egress[i].address.ip();
    if (out[i]) reasons[ip] = why[i];
    bool was_out = out_.count(ip) > 0;
    if (out[i] && !was_out) {
      log::warning("egress address out of rotation", {{"address", ip}, {"reason", why[i]}});
    } else if (!out[i] && was_out) {
      log::info("egress address back in rotation", {{"address", ip}});
    }
    rotation_gauge(ip).set(out[i] ? 0 : 1);
  }
  if (all_held && !out.empty() && !out[0] && !all_held_warned_) {
    log::warning("every egress address is blacklisted; still sending from them",
                 {{"setting", "blacklist_monitor.keep_last_address: true"}});
  }
  all_held_warned_ = all_held;
  out_ = reasons;
  if (limiter_) limiter_->set_out_of_rotation(reasons);
}

// post_webhook - one JSON POST, logged either way; never retried (the next change posts
// again, and `hato blacklist status` always has the whole picture).
void BlacklistMonitor::post_webhook(const std::string& url, std::string json) {
  if (http_.in_flight() >= kMaxWebhooksInFlight) {
    log::warning("webhook failed", {{"url", url}, {"reason", "too many requests in flight"}});
    return;
  }
  net::HttpRequest request;
  request.method = "POST";
  request.url = url;
  request.headers = {{"Content-Type", "application/json"}};
  request.body = std::move(json);
  request.timeout = std::chrono::seconds(10);
  request.max_body = 64 * 1024;
  http_.fetch(std::move(request), [url](Result<net::HttpResponse> response) {
    if (!response) {
      log::warning("webhook failed", {{"url", url}, {"reason", response.message()}});
    } else if (response->status < 200 || response->status > 299) {
      log::warning("webhook failed",
                   {{"url", url},
                    {"status", std::to_string(response->status)},
                    {"reason", "the endpoint answered HTTP " + std::to_string(response->status)}});
    } else {
      log::info("webhook sent", {{"url", url}, {"status", std::to_string(response->status)}});
    }
  });
}

void BlacklistMonitor::notify(const std::vector<Event>& events) {
  if (events.empty()) return;
  const auto& bm = config_->blacklist_monitor;
  std::string mail_body;
  size_t listings = 0;
  std::string first_listing;
  for (const auto& ev : events) {
    const char* what = ev.domain ? "domain" : "address";
    bool in_rotation = ev.domain || out_.count(ev.subject) == 0;
    switch (ev.kind) {
      case Event::Kind::kListed:
        log::warning("blacklisted",
                     {{what, ev.subject},
                      {"zone", ev.zone},
                      {"reason", ev.reason.empty() ? "(no reason given)" : ev.reason},
                      {"in_rotation", in_rotation ? "yes" : "no"}});
        break;
      case Event::Kind::kDelisted:
        log::info("blacklist listing gone", {{what, ev.subject}, {"zone", ev.zone}});
        break;
      case Event::Kind::kReturned:
        log::info("blacklist clean again", {{what, ev.subject},
                                            {"zone", ev.zone},
                                            {"clean_checks", std::to_string(bm.clean_checks)}});
        break;
    }
    if (bm.webhook_url) {
      static constexpr const char* kNames[] = {"listed", "delisted", "returned"};
      std::string json = "{\"event\":\"";
      json += kNames[static_cast<int>(ev.kind)];
      json += "\",\"";
      json += what;
      json += "\":";
      log::append_json_string(json, ev.subject);
      json += ",\"zone\":";
      log::append_json_string(json, ev.zone);
      json += ",\"reason\":";
      append_text_or_null(json, ev.reason);
      json += ",\"time\":";
      log::append_json_string(json, log::rfc3339(ev.since_ms));
      if (!ev.domain) json += std::string(",\"in_rotation\":") + (in_rotation ? "true" : "false");
      json += ",\"hostname\":";
      log::append_json_string(json, config_->hostname);
      json += "}";
      post_webhook(bm.webhook, std::move(json));
    }
    if (ev.kind != Event::Kind::kListed) continue;
    ++listings;
    if (first_listing.empty()) first_listing = ev.subject + " on " + ev.zone;
    mail_body += "  " + ev.subject + " is listed on " + ev.zone + " since " +
                 log::rfc3339(ev.since_ms) + "\n";
    mail_body += "    reason: " + (ev.reason.empty() ? "(the list gives none)" : ev.reason) + "\n";
    if (ev.domain) {
      mail_body += "    Receivers that use " + ev.zone +
                   " refuse mail from this domain, whatever the address it comes from.\n";
    } else if (!in_rotation) {
      mail_body +=
          "    It has left the egress rotation: mail goes out from the other addresses\n"
          "    until " +
          ev.zone + " has not listed it for " + std::to_string(bm.clean_checks) +
          " checks in a row.\n";
    } else {
      mail_body +=
          "    It is still sending: no unlisted egress address is left "
          "(blacklist_monitor.keep_last_address).\n";
    }
  }
  if (listings == 0 || !mail_) return;
  std::string subject = listings == 1 ? "Blacklisted: " + first_listing
                                      : std::to_string(listings) + " new blacklist listings";
  std::string body = "Hato on " + config_->hostname + " found new DNS blocklist listings:\n\n" +
                     mail_body +
                     "\nFind and stop the mail that caused it, then ask each list for removal.\n"
                     "`hato blacklist status` shows the current state.\n";
  mail_(*config_, subject, body);
}

std::string BlacklistMonitor::status_json() {
  std::string out;
  if (!enabled()) return out;
  const auto& bm = config_->blacklist_monitor;
  auto line = [&](const char* check, const char* key, const std::string& subject,
                  const std::string& zone, const BlacklistEntry& e, const bool* in_rotation) {
    out += "{\"check\":\"";
    out += check;
    out += "\",\"";
    out += key;
    out += "\":";
    log::append_json_string(out, subject);
    out += ",\"zone\":";
    log::append_json_string(out, zone);
    out += std::string(",\"listed\":") + (e.listed ? "true" : "false");
    out += ",\"reason\":";
    append_text_or_null(out, e.listed ? e.reason : "");
    out += ",\"since\":";
    append_time(out, e.checked, e.since_ms);
    out += ",\"last_checked\":";
    append_time(out, e.last_checked_ms != 0, e.last_checked_ms);
    out += ",\"error\":";
    append_text_or_null(out, e.error);
    if (in_rotation) out += std::string(",\"in_rotation\":") + (*in_rotation ? "true" : "false");
    out += "}\n";
  };
  for (const auto& egress : config_->egress) {
    std::string ip = egress.address.ip();
    bool in_rotation = out_.count(ip) == 0;
    for (const auto& zone : bm.zones)
      line("dnsbl", "address", ip, zone, entry(false, ip, zone), &in_rotation);
    const PtrCheck& p = ptr_check(ip);
    out += "{\"check\":\"ptr\",\"address\":";
    log::append_json_string(out, ip);
    out += ",\"ptr\":[";
    for (size_t i = 0; i < p.names.size(); ++i) {
      if (i) out += ',';
      log::append_json_string(out, p.names[i]);
    }
    out += std::string("],\"forward_confirmed\":") + (p.confirmed ? "true" : "false");
    out += ",\"last_checked\":";
    append_time(out, p.last_checked_ms != 0, p.last_checked_ms);
    out += ",\"error\":";
    append_text_or_null(out, p.error);
    out += "}\n";
  }
  for (const auto& domain : config_->domains) {
    for (const auto& zone : bm.domain_zones)
      line("dbl", "domain", domain.name, zone, entry(true, domain.name, zone), nullptr);
  }
  return out;
}

}  // namespace hato::policy
