// daemon.h - the parts of a running `hato serve` and the steps that build them.
//
// serve() (serve.cc) reads the configuration, then calls the steps in the
// order they are declared below; each one that can fail says why, and the
// first failure ends the start. The members are declared in the order the
// steps construct them, so they are destroyed in the reverse: the listeners
// first, then the engine, the backend, the enqueuer and the worker pool, and the store (whose
// committer posts to the loop) before the loop itself.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "cli/admin_server.h"
#include "cli/certificate_watch.h"
#include "cli/dashboard.h"
#include "cli/metrics_server.h"
#include "cli/web_server.h"
#include "common/file_watch.h"
#include "common/loop.h"
#include "common/status.h"
#include "common/worker_pool.h"
#include "conf/config.h"
#include "net/http_client.h"
#include "net/resolver.h"
#include "net/tls.h"
#include "policy/auth.h"
#include "policy/blacklist_monitor.h"
#include "policy/cluster.h"
#include "policy/dkim/keyring.h"
#include "policy/hook.h"
#include "policy/limiter.h"
#include "policy/suppression.h"
#include "policy/user_brake.h"
#include "policy/user_limits.h"
#include "queue/events.h"
#include "queue/queue_id.h"
#include "queue/store.h"
#include "relay/acme.h"
#include "relay/delivery.h"
#include "relay/dmarc_reports.h"
#include "relay/enqueuer.h"
#include "relay/http_api.h"
#include "relay/mta_sts.h"
#include "relay/queue_backend.h"
#include "relay/smtp_server.h"
#include "relay/tlsrpt.h"
#include "relay/webhooks.h"

namespace hato::cli {

// make_dir - creates `path` and its parents, then sets its mode.
[[nodiscard]] Status make_dir(const std::string& path, mode_t mode);

// The limiter's counters and suspensions live in the queue store's state family.
class StoreState : public policy::StateStore {
 public:
  explicit StoreState(queue::Store& store) : store_(store) {}
  std::optional<std::string> get(std::string_view key) override;
  void put(std::string_view key, std::string_view value) override;
  void erase(std::string_view key) override;
  Status scan(std::string_view prefix, const Visitor& visit) override;

 private:
  queue::Store& store_;
};

class Daemon {
 public:
  // `path` is the configuration file (empty: the embedded default), read
  // again by reload().
  Daemon(std::string path, conf::ConfigPtr config)
      : path_(std::move(path)), config_(std::move(config)) {}
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // The steps of a start, in order.
  [[nodiscard]] Status open_store();  // its failure is "cannot open the queue"
  [[nodiscard]] Status load_secrets();
  [[nodiscard]] Status build_backend();
  [[nodiscard]] Status build_inbound_checks();
  void add_user_quota_hooks();
  void add_user_brake();  // daemon_brake.cc
  [[nodiscard]] Status start_delivery();
  [[nodiscard]] Status start_blacklist_monitor();
  [[nodiscard]] Status start_listeners();
  [[nodiscard]] Status start_acme();
  [[nodiscard]] Status start_admin();
  [[nodiscard]] Status start_cluster();
  [[nodiscard]] Status drop_root();
  void install_signals();
  // Runs until stop() has drained the sessions; the exit status.
  int run();

  // SIGTERM, SIGINT: stop accepting, give open sessions a grace period, then stop.
  void stop();
  // SIGHUP: everything is loaded and checked first; only if all of it is good
  // is anything swapped in. A broken file leaves the running setup alone.
  void reload();

 private:
  void drain();
  Result<size_t> reload_users();
  Result<std::string> reload_users_for_admin();
  void build_limiter();
  void connect_tls_reports();
  // The blacklist monitor's JSON lines; an error when it is not configured.
  Result<std::string> blacklist_status();
  void connect_admin();
  void connect_brake();
  void brake_froze(const std::string& user, const std::string& reason);

  std::string path_;
  conf::ConfigPtr config_;  // replaced whole by reload()
  Loop loop_;
  std::unique_ptr<queue::Store> store_;
  queue::QueueIdGenerator ids_;
  std::shared_ptr<net::TlsContext> tls_;  // null: no certificate, no STARTTLS
  std::shared_ptr<const policy::UserDb> users_;
  std::shared_ptr<const dkim::Keyring> keyring_;
  // Finished by run() after the loop stops, while the enqueuer, the backend and the
  // store they hand results to still exist.
  std::optional<WorkerPool> workers_;
  std::optional<relay::Enqueuer> enqueuer_;
  std::optional<relay::QueueBackend> backend_;
  std::optional<FileWatch> users_watch_;
  policy::HookChain hooks_;
  net::ResolverOptions dns_;
  std::unique_ptr<net::Resolver> resolver_;
  std::shared_ptr<net::TlsContext> client_tls_;
  queue::EventBus events_;
  std::optional<StoreState> state_;
  std::optional<policy::SuppressionList> suppression_;
  std::optional<policy::UserLimits> user_limits_;
  std::optional<policy::UserBrake> brake_;
  std::optional<policy::Limiter> limiter_;
  std::unique_ptr<policy::RedisShared> cluster_;  // null: one node, its state in RocksDB alone
  std::optional<net::HttpClient> http_;
  std::optional<relay::MtaStsPolicies> mta_sts_;
  std::unique_ptr<relay::Connector> connector_;     // the engine's TCP and TLS connections
  std::unique_ptr<relay::LocalDelivery> maildirs_;  // the engine's Maildir writer
  std::optional<relay::DeliveryEngine> delivery_;
  std::optional<relay::Webhooks> webhooks_;
  std::optional<relay::TlsReporter> tls_reports_;
  std::optional<relay::DmarcReports> dmarc_reports_;
  std::unique_ptr<net::Resolver> monitor_resolver_;
  std::optional<policy::BlacklistMonitor> blacklist_;
  std::optional<relay::SmtpServer> server_;
  std::optional<relay::HttpApi> http_api_;
  std::optional<WebServer> mta_sts_web_;
  std::optional<CertificateWatch> certificates_;
  std::unique_ptr<net::HttpClient> acme_http_;
  std::unique_ptr<relay::AcmeClient> acme_;
  std::optional<WebServer> acme_web_;
  std::optional<AdminServer> admin_;
  std::optional<MetricsServer> metrics_server_;
  std::optional<Dashboard> dashboard_;
  std::chrono::steady_clock::time_point deadline_;
  bool stopping_ = false;
  std::optional<SignalHandler> on_term_, on_int_, on_hup_;
};

}  // namespace hato::cli
