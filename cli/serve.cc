// serve.cc - `hato serve`: the configuration, the embedded default's first-start
// set-up, then the daemon's life as a sequence of steps (cli/daemon.h).
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "cli/daemon.h"
#include "cli/privileges.h"
#include "common/log.h"
#include "conf/config.h"
#include "net/accept_guard.h"
#include "net/tls.h"
#include "policy/auth.h"
#include "policy/dkim/key.h"
#include "policy/dkim/keyring.h"

namespace hato::cli {

namespace {

constexpr char kDevUser[] = "dev";

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
    std::string password = policy::random_password();
    if (password.empty()) return Status::error("cannot read /dev/urandom for a password");
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

// read_config - the file -c names or the search finds; none: the embedded
// default, set up on its first start. Problems go to stderr: no log format yet.
int read_config(const std::string& path, conf::ConfigPtr& config) {
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
    return kExitOk;
  }
  auto loaded = conf::load_file(path);
  for (const auto& e : loaded.errors) std::cerr << e << "\n";
  if (!loaded.ok()) return kExitUsage;
  config = loaded.config;
  return kExitOk;
}

// Every connection is a descriptor: the soft limit goes up to the hard one, and an operator hears
// when even that cannot hold limits.max_connections with the queue's and Hato's own files.
void check_descriptor_limit(const conf::Config& config) {
  constexpr uint64_t kOwnFiles = 256;  // RocksDB, resolvers, listeners, workers, logs
  net::DescriptorLimit limit = net::raise_descriptor_limit();
  uint64_t wanted = uint64_t{config.limits.max_connections} + kOwnFiles;
  log::info("descriptor limit", {{"soft", std::to_string(limit.soft)},
                                 {"was", std::to_string(limit.before)},
                                 {"hard", std::to_string(limit.hard)}});
  if (limit.soft < wanted) {
    log::warning(
        "descriptor limit below what limits.max_connections needs: raise the hard "
        "limit (LimitNOFILE= in the unit) or lower limits.max_connections",
        {{"limit", std::to_string(limit.soft)},
         {"max_connections", std::to_string(config.limits.max_connections)},
         {"needed", std::to_string(wanted)}});
  }
}

int cannot_start(const Status& s) {
  log::error("cannot start", {{"reason", s.message()}});
  return kExitFailed;
}

}  // namespace

int serve(const std::string& config_path) {
  std::string path = conf::find_config_file(config_path);
  conf::ConfigPtr config;
  if (int exit = read_config(path, config); exit != kExitOk) return exit;
  log::set_json(config->log_format == conf::LogFormat::kJson);
  signal(SIGPIPE, SIG_IGN);
  net::route_libevent_log();
  check_descriptor_limit(*config);
  if (auto s = make_dir(config->data_dir, 0700); !s) return cannot_start(s);

  Daemon daemon(path, config);
  if (auto s = daemon.open_store(); !s) {
    log::error("cannot open the queue", {{"reason", s.message()}});
    return kExitFailed;
  }
  // The first step that fails ends the start; what was built goes in reverse.
  Status s = daemon.load_secrets();
  if (s) s = daemon.build_backend();
  if (s) s = daemon.build_inbound_checks();
  if (s) s = daemon.start_delivery();
  if (s) s = daemon.start_blacklist_monitor();
  if (s) s = daemon.start_listeners();
  if (s) s = daemon.start_acme();
  if (s) s = daemon.start_admin();
  if (s) s = daemon.start_cluster();
  if (s) s = daemon.drop_root();
  if (!s) return cannot_start(s);
  daemon.install_signals();
  return daemon.run();
}

}  // namespace hato::cli
