// serve.cc - `hato serve`: start-up, the embedded default's first-start set-up,
// signals, and an orderly stop.
//
// Order of start: configuration, queue store (recovery: the store is the
// truth), TLS, users, listeners, admin socket. Order of stop: listeners
// close, open sessions get a grace period, then the store drains its
// committer so every acknowledged message is on disk.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/admin_server.h"
#include "cli/commands.h"
#include "cli/metrics_server.h"
#include "cli/mta_sts_hosting.h"
#include "cli/privileges.h"
#include "cli/web_server.h"
#include "common/file_watch.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/metrics.h"
#include "common/worker_pool.h"
#include "conf/config.h"
#include "inbound/checks.h"
#include "inbound/recipients.h"
#include "inbound/scanners.h"
#include "net/http_client.h"
#include "net/net_metrics.h"
#include "net/resolver.h"
#include "net/tls.h"
#include "policy/auth.h"
#include "policy/blacklist_monitor.h"
#include "policy/client_limits.h"
#include "policy/cluster.h"
#include "policy/dkim/key.h"
#include "policy/dkim/keyring.h"
#include "policy/limiter.h"
#include "policy/spf/spf_hook.h"
#include "policy/submission.h"
#include "queue/store.h"
#include "relay/acme.h"
#include "relay/bounce.h"
#include "relay/delivery.h"
#include "relay/mta_sts.h"
#include "relay/queue_backend.h"
#include "relay/relay_metrics.h"
#include "relay/smtp_server.h"
#include "relay/tlsrpt.h"

namespace hato::cli {

namespace {

constexpr auto kDrainGrace = std::chrono::seconds(10);
constexpr char kDevUser[] = "dev";

std::string random_password() {
  static const char kChars[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::ifstream urandom("/dev/urandom", std::ios::binary);
  std::string out;
  while (out.size() < 20) {
    unsigned char c = static_cast<unsigned char>(urandom.get());
    if (c < 248) out += kChars[c % (sizeof kChars - 1)];  // 248 = 56 * 4.4: keep it unbiased-ish
  }
  return out;
}

Status make_dir(const std::string& path, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return Status::error("cannot create " + path + ": " + ec.message());
  ::chmod(path.c_str(), mode);
  return Status::ok();
}

// The embedded default makes what it needs on first start: a certificate and
// a submission user whose password is printed once.
Status first_start(const conf::Config& config) {
  if (auto s = make_dir(config.data_dir + "/tls", 0700); !s) return s;
  if (!std::filesystem::exists(config.tls.certificate) ||
      !std::filesystem::exists(config.tls.key)) {
    if (auto s = net::generate_self_signed(config.tls.certificate, config.tls.key, config.hostname);
        !s)
      return s;
    log::info("generated self-signed certificate", {{"file", config.tls.certificate}});
  }
  for (const auto& domain : config.domains) {
    for (const auto& k : domain.dkim) {
      if (std::filesystem::exists(k.key_file)) continue;
      if (auto s = make_dir(std::filesystem::path(k.key_file).parent_path().string(), 0700); !s)
        return s;
      auto pem = dkim::generate_key_pem(dkim::Algorithm::kRsaSha256);
      if (!pem) return pem.status();
      if (auto s = dkim::write_private_key(k.key_file, *pem); !s) return s;
      auto key = dkim::parse_key(*pem, domain.name, k.selector, dkim::Algorithm::kRsaSha256);
      if (!key) return key.status();
      log::info("generated DKIM key",
                {{"file", k.key_file}, {"domain", domain.name}, {"selector", k.selector}});
      std::cout << "DKIM record to publish for " << domain.name << ":\n  "
                << dkim::zone_txt_line(dkim::key_record_name(k.selector, domain.name),
                                       dkim::public_key_record(*key))
                << "\n";
    }
  }
  if (!std::filesystem::exists(config.users_file)) {
    std::string password = random_password();
    auto hash = policy::hash_password(password);
    if (!hash) return hash.status();
    if (auto s = policy::write_user(config.users_file, kDevUser, *hash); !s) return s;
    std::cout << "Submission login for this development relay (shown once):\n"
              << "  user: " << kDevUser << "\n  password: " << password << "\n"
              << "  try: swaks --server 127.0.0.1:2587 --tls --auth PLAIN --auth-user " << kDevUser
              << " --auth-password '" << password << "' --from dev@localhost --to dev@localhost\n"
              << std::flush;
  }
  return Status::ok();
}

// Every series exists from the start at zero, so dashboards and alerts never
// see a metric appear out of nowhere.
void register_counters(const conf::Config& config) {
  for (const auto& l : config.listeners) {
    relay::m::received(l.name);
    relay::m::connections_total(l.name);
    relay::m::connections_open(l.name);
  }
  for (const char* result : {"delivered", "deferred", "bounced", "expired"})
    relay::m::deliveries(result);
  relay::m::tls_handshakes(true);
  relay::m::tls_handshakes(false);
  relay::m::dkim_signatures();
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

// The limiter's counters and suspensions live in the queue store's state family.
class StoreState : public policy::StateStore {
 public:
  explicit StoreState(queue::Store& store) : store_(store) {}
  std::optional<std::string> get(std::string_view key) override { return store_.get_state(key); }
  void put(std::string_view key, std::string_view value) override {
    if (auto s = store_.put_state(key, value); !s)
      log::error("cannot save state", {{"key", std::string(key)}, {"reason", s.message()}});
  }
  void erase(std::string_view key) override {
    if (auto s = store_.erase_state(key); !s)
      log::error("cannot erase state", {{"key", std::string(key)}, {"reason", s.message()}});
  }

 private:
  queue::Store& store_;
};

// Watches the certificate and key files, so a renewal by certbot or lego is
// served to the next connection without a signal. Swaps only when the new pair
// loads and matches.
class CertificateWatch {
 public:
  CertificateWatch(Loop& loop, std::function<void(std::shared_ptr<net::TlsContext>)> swap)
      : files_(loop, "certificate", [this] { return load(); }), swap_(std::move(swap)) {}

  // A new pair was just written (ACME): take it now rather than at the next tick.
  void reload_now() { files_.check_now(); }

  void watch(const conf::Config& config, std::shared_ptr<net::TlsContext> current) {
    cert_ = config.tls.certificate;
    key_ = config.tls.key;
    report(current);
    files_.watch(cert_.empty() ? std::vector<std::string>{} : std::vector{cert_, key_});
  }

 private:
  Status load() {
    auto fresh = net::TlsContext::load_server(cert_, key_);
    if (!fresh) return fresh.status();
    swap_(*fresh);
    log::info("certificate reloaded", {{"file", cert_}});
    report(*fresh);
    return Status::ok();
  }

  // The expiry as a metric, and a warning while under 14 days.
  static void report(const std::shared_ptr<net::TlsContext>& tls) {
    if (!tls || !tls->not_after()) return;
    int64_t left = tls->not_after() - log::now_ms() / 1000;
    metrics()
        .gauge("hato_tls_certificate_expiry_seconds", "Seconds until the TLS certificate expires")
        .set(left);
    if (left < 14 * 86400)
      log::warning("certificate expires soon", {{"days", std::to_string(left / 86400)}});
  }

  FileWatch files_;
  std::function<void(std::shared_ptr<net::TlsContext>)> swap_;
  std::string cert_, key_;
};

// What a reload cannot change in a running daemon.
std::vector<std::string> needs_restart(const conf::Config& old, const conf::Config& fresh) {
  std::vector<std::string> out;
  if (old.data_dir != fresh.data_dir) out.push_back("data_dir");
  if (old.admin.socket != fresh.admin.socket) out.push_back("admin.socket");
  if (old.admin.metrics.has_value() != fresh.admin.metrics.has_value() ||
      (old.admin.metrics && old.admin.metrics->to_string() != fresh.admin.metrics->to_string()))
    out.push_back("admin.metrics");
  bool same_dns = old.dns_servers.size() == fresh.dns_servers.size();
  for (size_t i = 0; same_dns && i < old.dns_servers.size(); ++i)
    same_dns = old.dns_servers[i].to_string() == fresh.dns_servers[i].to_string();
  if (!same_dns) out.push_back("dns.servers");
  bool same_listeners = old.listeners.size() == fresh.listeners.size();
  for (size_t i = 0; same_listeners && i < old.listeners.size(); ++i) {
    const auto& a = old.listeners[i];
    const auto& b = fresh.listeners[i];
    same_listeners = a.name == b.name && a.address.to_string() == b.address.to_string() &&
                     a.role == b.role && a.tls == b.tls;
  }
  if (!same_listeners) out.push_back("listeners (names, addresses, roles or TLS modes)");
  if (!conf::same_egress_and_shaping(old, fresh)) out.push_back("egress or shaping");
  if (old.user != fresh.user) out.push_back("user");
  if (old.cluster.has_value() != fresh.cluster.has_value() ||
      (old.cluster &&
       (old.cluster->redis != fresh.cluster->redis || old.cluster->node != fresh.cluster->node ||
        old.cluster->password != fresh.cluster->password ||
        old.cluster->local_share != fresh.cluster->local_share ||
        old.cluster->lease != fresh.cluster->lease)))
    out.push_back("cluster");
  auto where = [](const std::optional<SocketAddress>& a) { return a ? a->to_string() : ""; };
  if (where(old.mta_sts.listen) != where(fresh.mta_sts.listen)) out.push_back("mta_sts.listen");
  if (old.tls.acme.has_value() != fresh.tls.acme.has_value() ||
      (old.tls.acme && (old.tls.acme->directory != fresh.tls.acme->directory ||
                        old.tls.acme->domains != fresh.tls.acme->domains ||
                        where(old.tls.acme->http) != where(fresh.tls.acme->http))))
    out.push_back("tls.acme");
  return out;
}

Result<std::shared_ptr<net::TlsContext>> load_tls(const conf::Config& config) {
  if (config.tls.certificate.empty()) return std::shared_ptr<net::TlsContext>();
  return net::TlsContext::load_server(config.tls.certificate, config.tls.key);
}

// The blacklist monitor's MailNotice: a plain-text notice (relay::build_notice) queued through
// the engine's queue_local(), the path DSNs take.
policy::BlacklistMonitor::MailNotice mail_notice_through(relay::DeliveryEngine& engine) {
  return
      [&engine](const conf::Config& config, const std::string& subject, const std::string& body) {
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
        queue::QueueId id = engine.queue_local(std::move(message), [](Status) {});
        log::info("blacklist notice", {{"id", id.str()}, {"to", notice.to}, {"subject", subject}});
      };
}

}  // namespace

int serve(const std::string& config_path) {
  std::string path = conf::find_config_file(config_path);
  conf::ConfigPtr config;
  if (path.empty()) {
    config = conf::embedded_default();
    if (auto s = make_dir(config->data_dir, 0700); !s) {
      std::cerr << "hato: " << s.message() << "\n";
      return kExitFailed;
    }
    if (auto s = first_start(*config); !s) {
      std::cerr << "hato: " << s.message() << "\n";
      return kExitFailed;
    }
    log::info("using the embedded development configuration", {{"data_dir", config->data_dir}});
  } else {
    auto loaded = conf::load_file(path);
    for (const auto& e : loaded.errors) std::cerr << e << "\n";
    if (!loaded.ok()) return kExitUsage;
    config = loaded.config;
  }
  log::set_json(config->log_format == conf::LogFormat::kJson);
  signal(SIGPIPE, SIG_IGN);

  if (auto s = make_dir(config->data_dir, 0700); !s) {
    log::error("cannot start", {{"reason", s.message()}});
    return kExitFailed;
  }

  if (auto s = check_key_files(*config); !s) {
    log::error("cannot start", {{"reason", s.message()}});
    return kExitFailed;
  }

  Loop loop;
  auto opened = queue::open_rocksdb_store({config->data_dir + "/queue"});
  if (!opened) {
    log::error("cannot open the queue", {{"reason", opened.message()}});
    return kExitFailed;
  }
  std::unique_ptr<queue::Store> store = std::move(opened.value());
  queue::QueueIdGenerator ids;
  if (auto newest = store->newest_id()) ids.seed(*newest);

  // ACME: until the first certificate arrives, a self-signed one keeps STARTTLS working.
  if (config->tls.acme) {
    Status s = make_dir(config->data_dir + "/acme", 0700);
    if (s && !std::filesystem::exists(config->tls.certificate))
      s = net::generate_self_signed(config->tls.certificate, config->tls.key, config->hostname);
    if (!s) {
      log::error("cannot start", {{"reason", s.message()}});
      return kExitFailed;
    }
  }
  auto tls = load_tls(*config);
  if (!tls) {
    log::error("cannot start", {{"reason", tls.message()}});
    return kExitFailed;
  }
  auto users = policy::UserDb::load(config->users_file);
  if (!users) {
    log::error("cannot start", {{"reason", users.message()}});
    return kExitFailed;
  }

  WorkerPool workers(std::max(2u, std::thread::hardware_concurrency()));
  auto keyring = dkim::Keyring::load(*config);
  if (!keyring) {
    log::error("cannot start", {{"reason", "DKIM: " + keyring.message()}});
    return kExitFailed;
  }
  relay::QueueBackend backend(loop, config, *store, ids, workers);
  backend.set_users(*users);
  // `hato user add` and hand edits of users_file take effect without a signal: the CLI
  // asks through the admin socket, and the file is re-read when it changes anyway.
  auto reload_users = [&]() -> Result<size_t> {
    auto fresh = policy::UserDb::load(config->users_file);
    if (!fresh) return fresh.status();
    size_t count = (*fresh)->names().size();
    backend.set_users(*fresh);
    log::info("users file reloaded",
              {{"file", config->users_file}, {"users", std::to_string(count)}});
    return count;
  };
  FileWatch users_watch(loop, "users file", [&] { return reload_users().status(); });
  users_watch.watch({config->users_file});
  backend.set_keyring(*keyring);
  policy::HookChain hooks;
  policy::add_submission_hooks(hooks);
  hooks.add(policy::Phase::kRcpt, std::make_shared<inbound::RecipientHook>());
  hooks.add(policy::Phase::kMail, std::make_shared<policy::ClientRateHook>());

  net::ResolverOptions dns;
  dns.servers = config->dns_servers;
  auto resolver = net::make_cares_resolver(loop, dns);
  // Inbound checks that wait on DNS: DNSBL at connect, SPF at MAIL, DKIM and
  // DMARC at DATA (DMARC uses what SPF and DKIM found; inbound/checks.h).
  policy::spf::add_spf_hook(hooks, *resolver);
  inbound::add_inbound_hooks(hooks, *resolver, *config);
  inbound::add_scanner_hooks(hooks, loop);  // clamd, rspamd: last in kData
  auto client_tls = net::TlsContext::make_client(config->delivery.ca_file);
  if (!client_tls) {
    log::error("cannot start", {{"reason", client_tls.message()}});
    return kExitFailed;
  }
  queue::EventBus events;
  StoreState state(*store);
  policy::Limiter limiter(*config, state);
  std::unique_ptr<policy::RedisShared> cluster;  // null: one node, its state in RocksDB alone
  if (config->cluster) {
    cluster = std::make_unique<policy::RedisShared>(loop, *config->cluster, limiter);
    limiter.set_shared(cluster.get());
  }
  // MTA-STS policies come over HTTPS, checked against the same trust store as MX certificates.
  net::HttpClient http(loop, *resolver, *client_tls);
  relay::MtaStsPolicies mta_sts(*resolver, http, &state);
  relay::DeliveryEngine delivery(loop, config, *store, ids, *resolver, *client_tls, workers, events,
                                 &limiter);
  delivery.set_mta_sts(&mta_sts);
  // TLS-RPT: daily reports go out through our own queue, DKIM-signed like submitted mail.
  relay::TlsReporter tls_reports(loop, *resolver, state, config);
  tls_reports.set_sender([&](const std::string& from, const std::string& to, std::string text) {
    queue::QueueId id = ids.next();
    queue::Envelope env;
    env.sender = from;
    queue::Recipient rcpt;
    rcpt.address = to;
    env.recipients.push_back(std::move(rcpt));
    env.created_ms = env.next_attempt_ms = log::now_ms();
    env.size = text.size();
    env.client = "local";
    env.listener = "tls-report";
    backend.commit_signed(id, std::move(text), std::move(env), [id](Status s) {
      if (!s) log::error("cannot queue TLS report", {{"id", id.str()}, {"reason", s.message()}});
    });
  });
  delivery.set_tls_reporter(&tls_reports);
  tls_reports.start();
  if (auto s = delivery.start(); !s) {
    log::error("cannot start", {{"reason", s.message()}});
    return kExitFailed;
  }
  // Blacklist monitoring asks the lists themselves each time: a resolver of its own, without
  // the cache, whose negative answers could hide a new listing for hours.
  net::ResolverOptions monitor_dns = dns;
  monitor_dns.cache_entries = 0;
  monitor_dns.timeout = std::chrono::milliseconds(1500);
  auto monitor_resolver = net::make_cares_resolver(loop, monitor_dns);
  policy::BlacklistMonitor blacklist(loop, config, *monitor_resolver, state, &limiter,
                                     mail_notice_through(delivery), http);
  blacklist.start();
  backend.on_queued([&](const queue::QueueId& id, const std::vector<std::string>& rcpts) {
    // One event per recipient, as delivery results are: `queue tail` shows who it is for.
    for (const auto& rcpt : rcpts) events.publish({log::now_ms(), "received", id.str(), rcpt, ""});
    delivery.schedule(id, log::now_ms());
  });

  relay::SmtpServer server(loop, config, backend, hooks, *tls);
  if (auto s = server.listen(); !s) {
    log::error("cannot start", {{"reason", s.message()}});
    return kExitFailed;
  }
  // MTA-STS policy hosting (RFC 8461 3.3), with the SMTP listeners' certificate.
  WebServer mta_sts_web(loop, "mta-sts", [&config](const std::string& host, const std::string& p) {
    return mta_sts_reply(*config, host, p);
  });
  if (config->mta_sts.listen) {
    Status s = *tls ? check_hosted_policies(*config)
                    : Status::error("mta_sts.listen needs tls.certificate or tls.acme");
    if (s) {
      mta_sts_web.set_tls(*tls);
      s = mta_sts_web.listen(*config->mta_sts.listen);
    }
    if (!s) {
      log::error("cannot start", {{"reason", s.message()}});
      return kExitFailed;
    }
  }
  CertificateWatch certificates(loop,
                                [&server, &mta_sts_web](std::shared_ptr<net::TlsContext> tls) {
                                  mta_sts_web.set_tls(tls);
                                  server.set_tls(std::move(tls));
                                });
  certificates.watch(*config, *tls);
  // ACME (RFC 8555): orders and renewals on the loop; HTTP-01 answers on tls.acme.http.
  std::unique_ptr<net::HttpClient> acme_http;
  std::unique_ptr<relay::AcmeClient> acme;
  WebServer acme_web(loop, "acme-http", [&acme](const std::string&, const std::string& path) {
    constexpr std::string_view kPrefix = "/.well-known/acme-challenge/";
    if (acme && path.starts_with(kPrefix)) {
      if (auto answer = acme->http01(path.substr(kPrefix.size())))
        return WebReply{200, "application/octet-stream", *answer};
    }
    return WebReply{};
  });
  if (config->tls.acme) {
    const conf::Acme& a = *config->tls.acme;
    if (!a.http && !config->mta_sts.listen)
      log::warning("ACME has no way to answer challenges",
                   {{"reason",
                     "set tls.acme.http (HTTP-01, port 80) or mta_sts.listen "
                     "(TLS-ALPN-01, port 443)"}});
    auto acme_tls = net::TlsContext::make_client(a.ca_file);
    Status s = acme_tls ? Status::ok() : acme_tls.status();
    if (s && a.http) s = acme_web.listen(*a.http);
    if (s) {
      acme_http = std::make_unique<net::HttpClient>(loop, *resolver, *acme_tls);
      acme = std::make_unique<relay::AcmeClient>(
          loop, *acme_http, workers,
          relay::AcmeClient::Options{
              a.directory, a.email, a.domains, config->data_dir + "/acme", config->tls.certificate,
              config->tls.key, std::chrono::duration_cast<std::chrono::seconds>(a.renew_before),
              // Without an HTTP-01 listener: TLS-ALPN-01 on the MTA-STS port (443).
              !a.http && config->mta_sts.listen.has_value()},
          [&certificates] { certificates.reload_now(); });
      mta_sts_web.set_acme_tls_alpn([&acme](SSL* ssl, const std::string& name) {
        return acme && acme->tls_alpn01(ssl, name);
      });
      s = acme->start();
    }
    if (!s) {
      log::error("cannot start", {{"reason", "ACME: " + s.message()}});
      return kExitFailed;
    }
  }

  AdminServer admin(loop, *store, events, delivery);
  admin.set_warmup_status([&limiter] { return limiter.status_json(log::now_ms()); });
  admin.set_blacklist(
      [&blacklist]() -> Result<std::string> {
        if (!blacklist.enabled()) return Result<std::string>::error("not configured");
        return blacklist.status_json();
      },
      [&blacklist](std::function<void()> done) { blacklist.check_now(std::move(done)); });
  admin.set_users_reload([&]() -> Result<std::string> {
    auto count = reload_users();
    if (!count) return count.status();
    users_watch.watch({config->users_file});  // this change is seen: no second reload
    std::string out = "{\"users\":" + std::to_string(*count) + ",\"file\":";
    log::append_json_string(out, config->users_file);
    return out + "}";
  });
  admin.set_tls_report_send([&tls_reports] {
    return "{\"ok\":true,\"reports\":" + std::to_string(tls_reports.send_reports(true)) + "}";
  });
  if (auto s = admin.listen(config->admin.socket); !s) {
    log::error("cannot start", {{"reason", s.message()}});
    return kExitFailed;
  }
  MetricsServer metrics_server(loop);
  if (config->admin.metrics) {
    if (auto s = metrics_server.listen(*config->admin.metrics); !s) {
      log::error("cannot start", {{"reason", s.message()}});
      return kExitFailed;
    }
  }
  if (cluster) {
    // The node's name is the one it started with: a reload does not change it.
    cluster->set_node_view([&, node = config->cluster->node] {
      return cluster_view(node, *config, delivery, limiter, *cluster);
    });
    admin.set_cluster([&cluster](auto done) { cluster->nodes_json(std::move(done)); });
    cluster->start();
  }
  register_queue_gauges(*store, delivery);
  register_counters(*config);
  // Every port is bound and every key read: root is not needed any more.
  if (auto s = drop_privileges(*config); !s) {
    log::error("cannot start", {{"reason", s.message()}});
    return kExitFailed;
  }

  // SIGTERM: stop accepting, give open sessions a grace period, then stop.
  auto deadline = std::chrono::steady_clock::now();
  std::function<void()> drain = [&] {
    if (server.connections() == 0 || std::chrono::steady_clock::now() >= deadline) {
      loop.stop();
      return;
    }
    loop.after(std::chrono::milliseconds(100), drain);
  };
  bool stopping = false;
  auto stop = [&] {
    if (stopping) return;
    stopping = true;
    log::info("stopping", {{"connections", std::to_string(server.connections())}});
    server.stop_listening();
    deadline = std::chrono::steady_clock::now() + kDrainGrace;
    drain();
  };
  SignalHandler on_term(loop, SIGTERM, stop);
  SignalHandler on_int(loop, SIGINT, stop);
  // SIGHUP: everything is loaded and checked first; only if all of it is good
  // is anything swapped in. A broken file leaves the running setup alone.
  SignalHandler on_hup(loop, SIGHUP, [&] {
    auto refuse = [&](const std::string& why) {
      log::error("reload refused, the running configuration stays", {{"reason", why}});
    };
    conf::ConfigPtr fresh = config;
    if (!path.empty()) {
      auto loaded = conf::load_file(path);
      if (!loaded.ok()) {
        for (const auto& e : loaded.errors) log::error("configuration problem", {{"detail", e}});
        return refuse(loaded.errors.empty() ? "cannot load " + path : loaded.errors.front());
      }
      fresh = loaded.config;
    }
    if (auto s = check_key_files(*fresh); !s) return refuse(s.message());
    auto fresh_users = policy::UserDb::load(fresh->users_file);
    if (!fresh_users) return refuse(fresh_users.message());
    auto fresh_tls = load_tls(*fresh);
    if (!fresh_tls) return refuse(fresh_tls.message());
    auto fresh_keys = dkim::Keyring::load(*fresh);
    if (!fresh_keys) return refuse("DKIM: " + fresh_keys.message());
    if (auto s = delivery.set_config(fresh); !s) return refuse(s.message());
    tls_reports.set_config(fresh);
    for (const auto& what : needs_restart(*config, *fresh))
      log::warning("changed setting needs a restart to take effect", {{"setting", what}});
    config = fresh;
    log::set_json(config->log_format == conf::LogFormat::kJson);
    backend.set_config(config);
    backend.set_users(*fresh_users);
    backend.set_keyring(*fresh_keys);
    server.set_tls(*fresh_tls);
    if (*fresh_tls) mta_sts_web.set_tls(*fresh_tls);
    server.set_config(config);
    blacklist.set_config(config);
    certificates.watch(*config, *fresh_tls);
    users_watch.watch({config->users_file});
    log::info("reloaded", {{"config", config->source}, {"users_file", config->users_file}});
  });

  log::info("started", {{"hostname", config->hostname},
                        {"config", config->source},
                        {"queue", config->data_dir + "/queue"},
                        {"admin", config->admin.socket}});
  loop.run();
  // A signature or password check still queued (sessions cut at the grace deadline)
  // runs now, while the backend and the store it hands its result to still exist.
  workers.finish();
  log::info("stopped");
  return kExitOk;
}

}  // namespace hato::cli
