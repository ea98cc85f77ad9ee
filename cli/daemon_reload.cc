// daemon_reload.cc - SIGHUP: a new configuration, users file, certificate and DKIM keys,
// swapped in together or not at all.
#include <string>
#include <vector>

#include "cli/daemon.h"
#include "cli/secrets.h"
#include "common/log.h"

namespace hato::cli {

namespace {

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

}  // namespace

void Daemon::reload() {
  auto refuse = [](const std::string& why) {
    log::error("reload refused, the running configuration stays", {{"reason", why}});
  };
  conf::ConfigPtr fresh = config_;
  if (!path_.empty()) {
    auto loaded = conf::load_file(path_);
    if (!loaded.ok()) {
      for (const auto& e : loaded.errors) log::error("configuration problem", {{"detail", e}});
      return refuse(loaded.errors.empty() ? "cannot load " + path_ : loaded.errors.front());
    }
    fresh = loaded.config;
  }
  auto secrets = cli::load_secrets(*fresh);
  if (!secrets) return refuse(secrets.message());
  if (auto s = delivery_->set_config(fresh); !s) return refuse(s.message());
  mta_sts_->set_port(fresh->delivery.mta_sts_port);
  tls_reports_->set_config(fresh);
  dmarc_reports_->set_config(fresh);
  for (const auto& what : needs_restart(*config_, *fresh))
    log::warning("changed setting needs a restart to take effect", {{"setting", what}});
  config_ = fresh;
  log::set_json(config_->log_format == conf::LogFormat::kJson);
  enqueuer_->set_config(config_);
  enqueuer_->set_keyring(secrets->keyring);
  backend_->set_config(config_);
  backend_->set_users(secrets->users);
  server_->set_tls(secrets->tls);
  if (secrets->tls) {
    mta_sts_web_->set_tls(secrets->tls);
    http_api_->set_tls(secrets->tls);
    dashboard_->set_tls(secrets->tls);
  }
  dashboard_->set_config(config_);
  http_api_->set_config(config_);
  server_->set_config(config_);
  blacklist_->set_config(config_);
  webhooks_->set_config(config_);
  certificates_->watch(*config_, secrets->tls);
  users_watch_->watch({config_->users_file});
  log::info("reloaded", {{"config", config_->source}, {"users_file", config_->users_file}});
}

}  // namespace hato::cli
