// smtp_server.h - listeners and connections: the sockets under ServerSession.
//
// Each accepted socket becomes a Connection: a libevent bufferevent (plain, or
// OpenSSL for implicit TLS and after STARTTLS) that feeds a ServerSession and
// carries its replies. Everything runs on one Loop.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/loop.h"
#include "common/status.h"
#include "conf/config.h"
#include "net/accept_guard.h"
#include "net/connection_slots.h"
#include "net/event_handles.h"
#include "net/tls.h"
#include "policy/hook.h"
#include "relay/server_session.h"

struct evconnlistener;

namespace hato::relay {

class SmtpServer {
 public:
  SmtpServer(Loop& loop, conf::ConfigPtr config, SessionServices& services,
             const policy::HookChain& hooks, std::shared_ptr<net::TlsContext> tls);
  ~SmtpServer();
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  // Binds every configured listener and logs the address each one got.
  Status listen();
  void stop_listening();
  // New connections use this context; open ones keep theirs.
  void set_tls(std::shared_ptr<net::TlsContext> tls) { tls_ = std::move(tls); }
  // A reloaded configuration for new connections (limits, domains, trusted
  // networks of listeners with the same name). The sockets stay as bound:
  // changing a listener's address needs a restart.
  void set_config(conf::ConfigPtr config) { config_ = std::move(config); }
  size_t connections() const { return connections_.size(); }

  class Connection;

 private:
  struct Bound {
    SmtpServer* server;
    const conf::Listener* listener;
    net::EvconnlistenerPtr handle;
    std::unique_ptr<net::AcceptGuard> guard;  // after handle: goes first
  };
  static void on_accept(evconnlistener*, int fd, struct sockaddr* sa, int len, void* arg);
  void accept(const Bound& bound, int fd, const SocketAddress& peer);
  void release(Connection* connection);

  Loop& loop_;
  conf::ConfigPtr config_;
  conf::ConfigPtr bound_config_;  // the one the sockets were bound from
  SessionServices& services_;
  const policy::HookChain& hooks_;
  std::shared_ptr<net::TlsContext> tls_;
  std::vector<std::unique_ptr<Bound>> bound_;
  std::unordered_set<Connection*> connections_;
  net::ConnectionSlots slots_;  // open connections, in all and by address
};

}  // namespace hato::relay
