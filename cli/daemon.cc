// daemon.cc - the steps of `hato serve`'s start, and its stop (reload(): daemon_reload.cc).
//
// Order of start: queue store (recovery: the store is the truth), TLS, users,
// DKIM keys, the backend sessions hand mail to, inbound checks, delivery,
// listeners, ACME, admin socket, cluster; then root is dropped. Order of stop:
// listeners close, open sessions get a grace period, then the loop stops, the
// workers finish, and the parts go in the reverse of their start.
#include "cli/daemon.h"

#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "cli/commands.h"
#include "cli/mta_sts_hosting.h"
#include "cli/privileges.h"
#include "cli/secrets.h"
#include "common/files.h"
#include "common/log.h"
#include "common/metrics.h"
#include "inbound/checks.h"
#include "inbound/recipients.h"
#include "inbound/scanners.h"
#include "net/net_metrics.h"
#include "policy/client_limits.h"
#include "policy/spf/spf_hook.h"
#include "policy/submission.h"
#include "relay/bounce.h"
#include "relay/relay_metrics.h"

namespace hato::cli {

namespace {

constexpr auto kDrainGrace = std::chrono::seconds(10);

// Every series exists from the start at zero, so dashboards and alerts never
// see a metric appear out of nowhere.
void register_counters(const conf::Config& config) {
  for (const auto& l : config.listeners) {
    relay::m::received(l.name);
    relay::m::connections_total(l.name);
    relay::m::connections_open(l.name);
    relay::m::auth_failures(l.name);
  }
  for (const char* result : {"delivered", "deferred", "bounced", "expired"})
    relay::m::deliveries(result);
  relay::m::tls_handshakes(true);
  relay::m::tls_handshakes(false);
  relay::m::tls_resumed();
  relay::m::dkim_signatures();
  for (const char* origin : {"submission", "inbound", "bounce", "delay", "tls-report", "blacklist"})
    relay::m::queued(origin);
  for (const char* type : {"MX", "A", "AAAA", "TXT", "PTR"}) {
    net::m::dns_queries(type);
    net::m::dns_failures(type);
  }
  relay::m::delivery_latency();
}

// Queue sizes and the oldest message's age, computed when /metrics is read.
void register_queue_gauges(queue::Store& store, relay::DeliveryEngine& delivery) {
  auto& m = metrics();
  m.callback_gauge(
      "hato_queue_messages", "Queued messages, by state",
      [&delivery] { return static_cast<double>(delivery.scheduled()); }, "state=\"waiting\"");
  m.callback_gauge(
      "hato_queue_messages", "Queued messages, by state",
      [&delivery] { return static_cast<double>(delivery.in_flight()); }, "state=\"active\"");
  m.callback_gauge(
      "hato_queue_messages", "Queued messages, by state",
      [&delivery] { return static_cast<double>(delivery.held()); }, "state=\"held\"");
  // Group commit at work: changes per synced write.
  m.callback_counter("hato_queue_commit_changes_total",
                     "Queue changes (new messages, removals) written by the group committer",
                     [&store] { return static_cast<double>(store.stats().commits); });
  m.callback_counter("hato_queue_commit_syncs_total", "Synced queue writes those changes took",
                     [&store] { return static_cast<double>(store.stats().commit_syncs); });
  // Queue IDs begin with their creation time, and the store is in ID order:
  // the first entry is the oldest message.
  m.callback_gauge("hato_queue_oldest_message_age_seconds", "Age of the oldest queued message",
                   [&store] {
                     int64_t oldest = 0;
                     auto s = store.for_each([&](const queue::StoredMessage& msg) {
                       oldest = msg.id.time_ms();
                       return false;
                     });
                     if (!s || oldest == 0) return 0.0;
                     return static_cast<double>(log::now_ms() - oldest) / 1000.0;
                   });
}

// What this node tells the cluster about itself with each heartbeat (`--cluster` views).
std::string cluster_view(const std::string& node, const conf::Config& config,
                         relay::DeliveryEngine& delivery, policy::Limiter& limiter,
                         policy::RedisShared& cluster) {
  std::string out = "{\"node\":";
  log::append_json_string(out, node);
  out += ",\"hostname\":";
  log::append_json_string(out, config.hostname);
  out += ",\"time\":";
  log::append_json_string(out, log::rfc3339(log::now_ms()));
  out += ",\"queue\":{\"waiting\":" + std::to_string(delivery.scheduled()) +
         ",\"active\":" + std::to_string(delivery.in_flight()) +
         ",\"held\":" + std::to_string(delivery.held()) + "}";
  out += ",\"cluster\":" + cluster.status_json();
  out += ",\"warmup\":[";
  std::string lines = limiter.status_json(log::now_ms());
  bool first = true;
  for (size_t at = 0; at < lines.size();) {
    size_t eol = lines.find('\n', at);
    if (eol == std::string::npos) eol = lines.size();
    if (eol > at) {
      if (!first) out += ',';
      first = false;
      out.append(lines, at, eol - at);
    }
    at = eol + 1;
  }
  return out + "]}";
}

// The blacklist monitor's MailNotice: a plain-text notice (relay::build_notice) queued through
// the Enqueuer's queue_own(), the path DSNs take.
policy::BlacklistMonitor::MailNotice mail_notice_through(relay::Enqueuer& enqueuer) {
  return
      [&enqueuer](const conf::Config& config, const std::string& subject, const std::string& body) {
        // From MAILER-DAEMON of the first domain, with the null sender: a notice is never bounced.
        std::string domain = config.domains.empty() ? config.hostname : config.domains.front().name;
        relay::NoticeInput notice;
        notice.from = "Mail System <MAILER-DAEMON@" + domain + ">";
        notice.to = config.blacklist_monitor.notify;
        notice.subject = subject;
        notice.body = body;
        relay::LocalMessage message;
        message.sender = "";
        message.recipient = config.blacklist_monitor.notify;
        message.origin = "blacklist";
        message.build = [notice](const std::string& message_id, int64_t now_ms) {
          return relay::build_notice(notice, message_id, now_ms);
        };
        queue::QueueId id = enqueuer.queue_own(std::move(message), [](Status) {});
        log::info("blacklist notice", {{"id", id.str()}, {"to", notice.to}, {"subject", subject}});
      };
}

}  // namespace

Status make_dir(const std::string& path, mode_t mode) {
  if (auto s = make_dirs_durably(path, mode); !s) return s;
  ::chmod(path.c_str(), mode);
  return Status::ok();
}

// get - a record that cannot be read (a newer release's, a failing disk) is logged and
// counts as absent: the limiter then starts that count afresh rather than stop sending.
std::optional<std::string> StoreState::get(std::string_view key) {
  auto value = store_.get_state(key);
  if (value) return std::move(value).value();
  log::error("cannot read state", {{"key", std::string(key)}, {"reason", value.message()}});
  return std::nullopt;
}

void StoreState::put(std::string_view key, std::string_view value) {
  if (auto s = store_.put_state(key, value); !s)
    log::error("cannot save state", {{"key", std::string(key)}, {"reason", s.message()}});
}

void StoreState::erase(std::string_view key) {
  if (auto s = store_.erase_state(key); !s)
    log::error("cannot erase state", {{"key", std::string(key)}, {"reason", s.message()}});
}

Status StoreState::scan(std::string_view prefix, const Visitor& visit) {
  return store_.scan_state(prefix, visit);
}

// open_store - the queue as the store left it; new IDs sort after every stored one.
Status Daemon::open_store() {
  queue::StoreOptions options;
  options.path = config_->data_dir + "/queue";
  options.outbox_limit = config_->events.backlog;
  auto opened = queue::open_rocksdb_store(options);
  if (!opened) return opened.status();
  store_ = std::move(opened.value());
  if (auto newest = store_->newest_id()) ids_.seed(*newest);
  return Status::ok();
}

// load_secrets - the server certificate, the users file, the DKIM keys.
Status Daemon::load_secrets() {
  // ACME: until the first certificate arrives, a self-signed one keeps STARTTLS working.
  if (config_->tls.acme) {
    Status s = make_dir(config_->data_dir + "/acme", 0700);
    if (s && !std::filesystem::exists(config_->tls.certificate))
      s = net::generate_self_signed(config_->tls.certificate, config_->tls.key, config_->hostname);
    if (!s) return s;
  }
  auto secrets = cli::load_secrets(*config_);
  if (!secrets) return secrets.status();
  tls_ = secrets->tls;
  users_ = secrets->users;
  keyring_ = secrets->keyring;
  return Status::ok();
}

// build_backend - the one door into the queue, and what sessions hand their mail and
// password checks to.
Status Daemon::build_backend() {
  workers_.emplace(std::max(2u, std::thread::hardware_concurrency()));
  enqueuer_.emplace(loop_, config_, *store_, ids_, *workers_);
  enqueuer_->set_keyring(keyring_);
  backend_.emplace(loop_, config_, *enqueuer_, *workers_);
  backend_->set_users(users_);
  // `hato user add` and hand edits of users_file take effect without a signal: the CLI
  // asks through the admin socket, and the file is re-read when it changes anyway.
  users_watch_.emplace(loop_, "users file", [this] { return reload_users().status(); });
  users_watch_->watch({config_->users_file});
  return Status::ok();
}

Result<size_t> Daemon::reload_users() {
  auto fresh = policy::UserDb::load(config_->users_file);
  if (!fresh) return fresh.status();
  size_t count = (*fresh)->names().size();
  backend_->set_users(*fresh);
  log::info("users file reloaded",
            {{"file", config_->users_file}, {"users", std::to_string(count)}});
  return count;
}

// build_inbound_checks - the hook chain every SMTP session runs, and the resolver it waits on.
Status Daemon::build_inbound_checks() {
  policy::add_submission_hooks(hooks_);
  hooks_.add(policy::Phase::kRcpt, std::make_shared<inbound::RecipientHook>());
  // The suppression list is read at RCPT: the state it lives in is needed this early.
  state_.emplace(*store_);
  suppression_.emplace(*state_);
  hooks_.add(policy::Phase::kRcpt, std::make_shared<policy::SuppressionHook>(*suppression_));
  add_user_quota_hooks();
  add_user_brake();
  hooks_.add(policy::Phase::kMail, std::make_shared<policy::ClientRateHook>());
  dns_.servers = config_->dns_servers;
  resolver_ = net::make_cares_resolver(loop_, dns_);
  // Inbound checks that wait on DNS: DNSBL at connect, SPF at MAIL, DKIM and
  // DMARC at DATA (DMARC uses what SPF and DKIM found; inbound/checks.h).
  policy::spf::add_spf_hook(hooks_, *resolver_);
  inbound::add_inbound_hooks(hooks_, *resolver_, *config_);
  inbound::add_scanner_hooks(hooks_, loop_);  // clamd, rspamd: last in kData
  return Status::ok();
}

// add_user_quota_hooks - limits.users at MAIL and RCPT; a refusal is a "limited" event.
void Daemon::add_user_quota_hooks() {
  user_limits_.emplace(*state_);
  auto refused = [this](const policy::HookContext& c, const policy::QuotaRefusal& r) {
    queue::QueueEvent e;
    e.time_ms = log::now_ms();
    e.event = "limited";
    e.sender = c.sender;
    e.rcpt = c.recipient;
    e.user = c.session.auth_user;
    e.listener = c.session.listener;
    e.dsn = "4.7.1";
    e.response = "451 " + r.text;
    events_.publish(e);
  };
  for (auto phase : {policy::Phase::kMail, policy::Phase::kRcpt}) {
    hooks_.add(phase, std::make_shared<policy::UserQuotaHook>(*user_limits_, phase, refused));
  }
}

// start_delivery - the limiter, MTA-STS, TLS reports and the engine, scheduling what is queued.
Status Daemon::start_delivery() {
  auto client_tls = net::TlsContext::make_client(config_->delivery.ca_file);
  if (!client_tls) return client_tls.status();
  client_tls_ = *client_tls;
  build_limiter();
  // MTA-STS policies come over HTTPS, checked against the same trust store as MX certificates.
  http_.emplace(loop_, *resolver_, client_tls_);
  mta_sts_.emplace(*resolver_, *http_, &*state_);
  mta_sts_->set_port(config_->delivery.mta_sts_port);
  connector_ = relay::make_tcp_connector(loop_, client_tls_);
  maildirs_ = relay::make_maildir_delivery(loop_, *workers_);
  delivery_.emplace(loop_, config_, *store_, *enqueuer_, *resolver_, *connector_, *maildirs_,
                    events_, &*limiter_);
  delivery_->set_mta_sts(&*mta_sts_);
  delivery_->set_suppression(&*suppression_);
  dmarc_reports_.emplace(loop_, &*workers_, *resolver_, *state_, config_);
  delivery_->set_dmarc_reports(&*dmarc_reports_);
  connect_tls_reports();
  tls_reports_->start();
  if (auto s = delivery_->start(); !s) return s;
  // Whatever door a message came in by, `queue tail` hears of it, then the scheduler.
  enqueuer_->add_listener([this](const relay::Enqueuer::Queued& q) {
    // One event per recipient, as delivery results are: `queue tail` shows who it is for.
    for (const auto& e : q.events) events_.publish(e);
  });
  enqueuer_->add_listener([this](const relay::Enqueuer::Queued& q) {
    if (q.held) return delivery_->committed_held();
    delivery_->schedule(q.id, log::now_ms());
  });
  // A submitted message counts against its user's limits.users quotas once it is queued.
  enqueuer_->add_listener([this](const relay::Enqueuer::Queued& q) {
    if (q.origin != "submission" || q.events.empty()) return;
    user_limits_->count(config_->limits, q.events.front().user, q.recipients.size(), log::now_ms());
  });
  connect_brake();
  // Events are in the outbox by the time they are published: the hooks may send them now.
  webhooks_.emplace(loop_, *store_, *http_, config_);
  events_.subscribe([this](const queue::QueueEvent&) { webhooks_->notify(); });
  return Status::ok();
}

void Daemon::build_limiter() {
  if (!state_) state_.emplace(*store_);
  limiter_.emplace(*config_, *state_);
  if (config_->cluster) {
    cluster_ = std::make_unique<policy::RedisShared>(loop_, *config_->cluster, *limiter_);
    limiter_->set_shared(cluster_.get());
    // limits.users count across the cluster as well.
    if (user_limits_) user_limits_->set_shared(cluster_.get());
  }
}

// TLS-RPT: daily reports go out through the Enqueuer, DKIM-signed like all of Hato's own mail.
void Daemon::connect_tls_reports() {
  tls_reports_.emplace(loop_, *resolver_, *state_, config_);
  tls_reports_->set_sender(
      [this](const std::string& from, const std::string& to, std::string text) {
        relay::LocalMessage report;
        report.sender = from;
        report.recipient = to;
        report.origin = "tls-report";
        // The report carries a Message-ID of its own (TlsReporter::build_message).
        report.build = [text = std::move(text)](const std::string&, int64_t) { return text; };
        queue::QueueId id = enqueuer_->queue_own(std::move(report), [](Status) {});
        log::info("tls report queued", {{"id", id.str()}, {"to", to}});
      });
  delivery_->set_tls_reporter(&*tls_reports_);
}

// start_blacklist_monitor - asks the lists themselves each time: a resolver of its own,
// without the cache, whose negative answers could hide a new listing for hours.
Status Daemon::start_blacklist_monitor() {
  net::ResolverOptions monitor_dns = dns_;
  monitor_dns.cache_entries = 0;
  monitor_dns.timeout = std::chrono::milliseconds(1500);
  monitor_resolver_ = net::make_cares_resolver(loop_, monitor_dns);
  blacklist_.emplace(loop_, config_, *monitor_resolver_, *state_, &*limiter_,
                     mail_notice_through(*enqueuer_), *http_);
  blacklist_->start();
  return Status::ok();
}

// start_listeners - SMTP, MTA-STS policy hosting (RFC 8461 3.3) with the SMTP listeners'
// certificate, and the watch that swaps a renewed certificate into both.
Status Daemon::start_listeners() {
  server_.emplace(loop_, config_, *backend_, hooks_, tls_);
  if (auto s = server_->listen(); !s) return s;
  http_api_.emplace(loop_, config_, *backend_, hooks_, *store_);
  if (auto s = http_api_->listen(tls_); !s) return s;
  mta_sts_web_.emplace(loop_, "mta-sts", [this](const std::string& host, const std::string& p) {
    return mta_sts_reply(*config_, host, p);
  });
  if (config_->mta_sts.listen) {
    Status s = tls_ ? check_hosted_policies(*config_)
                    : Status::error("mta_sts.listen needs tls.certificate or tls.acme");
    if (s) {
      mta_sts_web_->set_tls(tls_);
      s = mta_sts_web_->listen(*config_->mta_sts.listen);
    }
    if (!s) return s;
  }
  certificates_.emplace(loop_, [this](std::shared_ptr<net::TlsContext> tls) {
    mta_sts_web_->set_tls(tls);
    http_api_->set_tls(tls);
    if (dashboard_) dashboard_->set_tls(tls);
    server_->set_tls(std::move(tls));
  });
  certificates_->watch(*config_, tls_);
  return Status::ok();
}

// start_acme - orders and renewals (RFC 8555) on the loop; HTTP-01 answers on tls.acme.http.
Status Daemon::start_acme() {
  acme_web_.emplace(loop_, "acme-http", [this](const std::string&, const std::string& path) {
    constexpr std::string_view kPrefix = "/.well-known/acme-challenge/";
    if (acme_ && path.starts_with(kPrefix)) {
      if (auto answer = acme_->http01(path.substr(kPrefix.size())))
        return WebReply{200, "application/octet-stream", *answer};
    }
    return WebReply{};
  });
  if (!config_->tls.acme) return Status::ok();
  const conf::Acme& a = *config_->tls.acme;
  if (!a.http && !config_->mta_sts.listen)
    log::warning("ACME has no way to answer challenges",
                 {{"reason",
                   "set tls.acme.http (HTTP-01, port 80) or mta_sts.listen "
                   "(TLS-ALPN-01, port 443)"}});
  auto acme_tls = net::TlsContext::make_client(a.ca_file);
  Status s = acme_tls ? Status::ok() : acme_tls.status();
  if (s && a.http) s = acme_web_->listen(*a.http);
  if (s) {
    acme_http_ = std::make_unique<net::HttpClient>(loop_, *resolver_, *acme_tls);
    acme_ = std::make_unique<relay::AcmeClient>(
        loop_, *acme_http_, *workers_,
        relay::AcmeClient::Options{
            a.directory, a.email, a.domains, config_->data_dir + "/acme", config_->tls.certificate,
            config_->tls.key, std::chrono::duration_cast<std::chrono::seconds>(a.renew_before),
            // Without an HTTP-01 listener: TLS-ALPN-01 on the MTA-STS port (443).
            !a.http && config_->mta_sts.listen.has_value()},
        [this] { certificates_->reload_now(); });
    mta_sts_web_->set_acme_tls_alpn([this](SSL* ssl, const std::string& name) {
      return acme_ && acme_->tls_alpn01(ssl, name);
    });
    s = acme_->start();
  }
  if (!s) return Status::error("ACME: " + s.message());
  return Status::ok();
}

// start_admin - the admin socket, then the metrics listener and the dashboard if configured.
Status Daemon::start_admin() {
  admin_.emplace(loop_, *store_, events_, *delivery_);
  connect_admin();
  if (auto s = admin_->listen(config_->admin.socket); !s) return s;
  metrics_server_.emplace(loop_);
  if (config_->admin.metrics) {
    if (auto s = metrics_server_->listen(*config_->admin.metrics); !s) return s;
  }
  dashboard_.emplace(loop_, config_, *store_, events_, *delivery_, *backend_);
  dashboard_->set_sources({[this] { return limiter_->status_json(log::now_ms()); },
                           [this] { return webhooks_->status_json(); },
                           [this] { return blacklist_status(); }});
  // Plain HTTP on loopback (conf/ allows nothing else without a certificate), else HTTPS.
  bool loopback = config_->admin.web && config_->admin.web->is_loopback();
  return dashboard_->listen(loopback ? nullptr : tls_);
}

Result<std::string> Daemon::blacklist_status() {
  if (!blacklist_->enabled()) return Result<std::string>::error("not configured");
  return blacklist_->status_json();
}

// The admin API's views of the parts it does not own.
void Daemon::connect_admin() {
  admin_->set_warmup_status([this] { return limiter_->status_json(log::now_ms()); });
  admin_->set_events_status([this] { return webhooks_->status_json(); });
  admin_->set_blacklist(
      [this] { return blacklist_status(); },
      [this](std::function<void()> done) { blacklist_->check_now(std::move(done)); });
  admin_->set_users_reload([this] { return reload_users_for_admin(); });
  admin_->set_suppression(&*suppression_);
  admin_->set_dmarc_summary([this](const std::string& domain, int days) {
    return dmarc_reports_->summary_json(domain, days);
  });
  admin_->set_brake(&*brake_);
  admin_->set_tls_report_send([this] {
    return "{\"ok\":true,\"reports\":" + std::to_string(tls_reports_->send_reports(true)) + "}";
  });
}

Result<std::string> Daemon::reload_users_for_admin() {
  auto count = reload_users();
  if (!count) return count.status();
  users_watch_->watch({config_->users_file});  // this change is seen: no second reload
  std::string out = "{\"users\":" + std::to_string(*count) + ",\"file\":";
  log::append_json_string(out, config_->users_file);
  return out + "}";
}

// start_cluster - heartbeats with this node's view; then the metrics every node serves.
Status Daemon::start_cluster() {
  if (cluster_) {
    // The node's name is the one it started with: a reload does not change it.
    cluster_->set_node_view([this, node = config_->cluster->node] {
      return cluster_view(node, *config_, *delivery_, *limiter_, *cluster_);
    });
    admin_->set_cluster([this](auto done) { cluster_->nodes_json(std::move(done)); });
    cluster_->start();
  }
  register_queue_gauges(*store_, *delivery_);
  register_counters(*config_);
  return Status::ok();
}

// drop_root - every port is bound and every key read: root is not needed any more.
Status Daemon::drop_root() {
  return drop_privileges(*config_);
}

void Daemon::install_signals() {
  on_term_.emplace(loop_, SIGTERM, [this] { stop(); });
  on_int_.emplace(loop_, SIGINT, [this] { stop(); });
  on_hup_.emplace(loop_, SIGHUP, [this] { reload(); });
}

int Daemon::run() {
  log::info("started", {{"hostname", config_->hostname},
                        {"config", config_->source},
                        {"queue", config_->data_dir + "/queue"},
                        {"admin", config_->admin.socket}});
  loop_.run();
  // A signature or password check still queued (sessions cut at the grace deadline)
  // runs now, while the enqueuer, the backend and the store they hand results to still exist.
  workers_->finish();
  log::info("stopped");
  return kExitOk;
}

void Daemon::stop() {
  if (stopping_) return;
  stopping_ = true;
  log::info("stopping", {{"connections", std::to_string(server_->connections())}});
  server_->stop_listening();
  deadline_ = std::chrono::steady_clock::now() + kDrainGrace;
  drain();
}

void Daemon::drain() {
  bool idle = server_->connections() == 0 && http_api_->in_flight() == 0;
  if (idle || std::chrono::steady_clock::now() >= deadline_) {
    loop_.stop();
    return;
  }
  loop_.after(std::chrono::milliseconds(100), [this] { drain(); });
}

}  // namespace hato::cli
