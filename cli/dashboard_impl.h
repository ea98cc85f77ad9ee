// dashboard_impl.h - what the dashboard's files share: Dashboard::Impl, its sessions and the
// reply helpers. Internal to cli/dashboard*.cc; the interface is dashboard.h.
//
// dashboard.cc: the listener, the session table, routing and the CSRF check;
// dashboard_login.cc: login and logout; dashboard_overview.cc: the overview;
// dashboard_live.cc: its live counters (server-sent events);
// dashboard_queue.cc, dashboard_message.cc: the queue pages and actions.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/dashboard.h"
#include "cli/dashboard_counts.h"
#include "cli/dashboard_html.h"
#include "net/http_server.h"

namespace hato::cli {

// One logged-in browser.
struct DashboardSession {
  std::string user;
  std::string csrf;  // the token every form of this session carries
  int64_t created_ms = 0;
  int64_t used_ms = 0;
};

// What a handler gets: the request, its form (POST body or query) and, once logged in, the
// session and its token.
struct DashboardRequest {
  net::HttpServerRequest& http;
  std::map<std::string, std::string> form;
  DashboardSession* session = nullptr;
  std::string token;
};

inline constexpr char kSessionCookie[] = "hato_session";
inline constexpr char kLoginCookie[] = "hato_login";  // the login form's CSRF token

struct Dashboard::Impl {
  Impl(Loop& l, conf::ConfigPtr c, queue::Store& s, queue::EventBus& e, queue::QueueControl& q,
       relay::QueueBackend& b)
      : loop(l), config(std::move(c)), store(s), events(e), control(q), backend(b) {}

  void handle(net::HttpServerRequest& request, net::HttpResponder respond);
  bool route(DashboardRequest& request, const net::HttpResponder& respond);
  // The session named by the request's cookie, if live (its last use is now).
  DashboardSession* session_of(const net::HttpServerRequest& request, std::string* token);
  std::string open_session(const std::string& user);
  void sweep_sessions();

  // A page or a redirect, with the headers every answer carries.
  net::HttpServerResponse html(int status, std::string body) const;
  net::HttpServerResponse redirect(const std::string& to) const;
  net::HttpServerResponse forbidden(const DashboardRequest& request, const std::string& why) const;
  // "; Secure" over HTTPS.
  std::string cookie_attributes() const;

  // dashboard_login.cc
  // `cookies`: the request's Cookie header.
  void login_page(const std::string& cookies, const net::HttpResponder& respond,
                  const std::string& error = "", int status = 200);
  void login(DashboardRequest& request, const net::HttpResponder& respond);
  void logout(DashboardRequest& request, const net::HttpResponder& respond);
  bool admin_key(const std::string& user, const std::string& secret) const;
  bool is_admin(const std::string& user) const;

  // dashboard_overview.cc
  void overview(DashboardRequest& request, const net::HttpResponder& respond);
  std::vector<std::string> alerts() const;
  // dashboard_live.cc
  void live(DashboardRequest& request, const net::HttpResponder& respond);
  void on_event(const queue::QueueEvent& e);
  std::string counters_event() const;
  // dashboard_queue.cc: /queue, and the routes under /queue/ID (false: none matched).
  void queue_page(DashboardRequest& request, const net::HttpResponder& respond);
  bool queue_route(DashboardRequest& request, const net::HttpResponder& respond);
  // dashboard_message.cc
  void message_page(DashboardRequest& request, const queue::QueueId& id,
                    const net::HttpResponder& respond);
  void confirm_page(DashboardRequest& request, const queue::QueueId& id,
                    const net::HttpResponder& respond);
  void act(DashboardRequest& request, const queue::QueueId& id, const net::HttpResponder& respond);

  Loop& loop;
  conf::ConfigPtr config;
  queue::Store& store;
  queue::EventBus& events;
  queue::QueueControl& control;
  relay::QueueBackend& backend;
  std::shared_ptr<net::TlsContext> tls;
  bool https = false;
  std::unique_ptr<net::HttpServer> server;
  std::map<std::string, DashboardSession> sessions;  // by token
  DashboardSources sources;
  EventCounts counts;
  uint64_t subscription = 0;  // on `events`, while listening
  std::vector<net::HttpStream> live_streams;
  bool push_armed = false;
  // Lives as long as the dashboard; a login still being checked when it goes does nothing.
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
};

// 32 random bytes in hex: session and CSRF tokens.
std::string random_token();
// Constant-time comparison of tokens.
bool same_token(const std::string& a, const std::string& b);

}  // namespace hato::cli
