// dashboard.h - the web dashboard (issue 23) on `admin.web`: HTML pages rendered here, no
// build step and no JavaScript needed (a few embedded lines make the overview live).
//
// HTTPS with the SMTP listeners' certificate, or plain HTTP on a loopback address (the
// configuration refuses anything else). Only admin users get in (`hato user add NAME --role
// admin`, policy/user_roles.h), with their password or one of their API keys. A login makes
// a session: a random token in a cookie (HttpOnly, SameSite=Strict, Secure over HTTPS) that
// names an entry of a table kept here, which expires after an hour without use and after
// twelve hours in any case. Every form carries a CSRF token that every POST must return; a
// POST without a session or without the token is refused with 403. A failed login is
// counted and slowed down by the same guard as SMTP AUTH (relay::QueueBackend::authenticate)
// and logged with the client's address.
//
// The pages read and steer the queue through the same functions as the admin API (cli/
// admin_server.h) and the CLI: queue::QueueControl for the actions, the same walks and JSON
// producers for listings and summaries, so a page and `hato queue ... --json` agree.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/loop.h"
#include "common/status.h"
#include "conf/config.h"
#include "net/tls.h"
#include "queue/control.h"
#include "queue/events.h"
#include "queue/store.h"

namespace hato::relay {
class QueueBackend;
}

namespace hato::cli {

// Where the overview's alerts come from: the admin API's own JSON producers (loop thread).
struct DashboardSources {
  std::function<std::string()> warmup;             // Limiter::status_json: suspensions
  std::function<std::string()> events;             // Webhooks::status_json: backlogs
  std::function<Result<std::string>()> blacklist;  // BlacklistMonitor: listed addresses
};

class Dashboard {
 public:
  // All the parts must outlive the dashboard.
  Dashboard(Loop& loop, conf::ConfigPtr config, queue::Store& store, queue::EventBus& events,
            queue::QueueControl& control, relay::QueueBackend& backend);
  ~Dashboard();
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // Binds admin.web (nothing to do without it) and logs `listening listener=dashboard`.
  // `tls` is the certificate for a non-loopback address; null: plain HTTP.
  [[nodiscard]] Status listen(std::shared_ptr<net::TlsContext> tls);
  // A renewed certificate for the next connections.
  void set_tls(std::shared_ptr<net::TlsContext> tls);
  void set_config(conf::ConfigPtr config);
  void set_sources(DashboardSources sources);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hato::cli
