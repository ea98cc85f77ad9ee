// dashboard.cc - the dashboard's listener, its session table, routing and the CSRF check.
#include "cli/dashboard.h"

#include <openssl/rand.h>

#include <chrono>

#include "cli/dashboard_impl.h"
#include "common/log.h"

namespace hato::cli {

namespace {

constexpr int64_t kIdleMs = 60 * 60 * 1000;           // a session unused this long ends
constexpr int64_t kLifetimeMs = 12 * 60 * 60 * 1000;  // and every session after this
constexpr size_t kMaxSessions = 1000;                 // beyond: the least recently used goes
constexpr size_t kMaxForm = 64 * 1024;

}  // namespace

std::string random_token() {
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) return "";  // no session rather than a guessable one
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

bool same_token(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

Dashboard::Dashboard(Loop& loop, conf::ConfigPtr config, queue::Store& store,
                     queue::EventBus& events, queue::QueueControl& control,
                     relay::QueueBackend& backend)
    : impl_(std::make_unique<Impl>(loop, std::move(config), store, events, control, backend)) {}

Dashboard::~Dashboard() {
  *impl_->alive = false;
  if (impl_->subscription) impl_->events.unsubscribe(impl_->subscription);
}

void Dashboard::set_sources(DashboardSources sources) {
  impl_->sources = std::move(sources);
}

void Dashboard::set_tls(std::shared_ptr<net::TlsContext> tls) {
  if (impl_->https) impl_->tls = std::move(tls);
}

void Dashboard::set_config(conf::ConfigPtr config) {
  impl_->config = std::move(config);
}

Status Dashboard::listen(std::shared_ptr<net::TlsContext> tls) {
  Impl& d = *impl_;
  if (!d.config->admin.web) return Status::ok();
  const SocketAddress& address = *d.config->admin.web;
  // conf/ refuses a non-loopback address without a certificate; with one, HTTPS everywhere.
  d.https = static_cast<bool>(tls);
  d.tls = std::move(tls);
  net::HttpServerOptions options;
  options.name = "dashboard";
  options.parse.max_body = kMaxForm;
  options.max_connections = 64;
  if (d.https) options.tls = [&d] { return d.tls ? d.tls->new_ssl() : nullptr; };
  d.server = std::make_unique<net::HttpServer>(
      d.loop, std::move(options),
      [&d](net::HttpServerRequest& request, net::HttpResponder respond) {
        d.handle(request, std::move(respond));
      });
  if (Status s = d.server->listen(address); !s) return s;
  // Only with the dashboard on: each event then costs the rings an increment.
  d.subscription = d.events.subscribe([&d](const queue::QueueEvent& e) { d.on_event(e); });
  log::info("listening", {{"listener", "dashboard"},
                          {"address", d.server->address().to_string()},
                          {"role", "dashboard"},
                          {"tls", d.https ? "implicit" : "none"}});
  return Status::ok();
}

std::string Dashboard::Impl::cookie_attributes() const {
  return std::string("; Path=/; HttpOnly; SameSite=Strict") + (https ? "; Secure" : "");
}

net::HttpServerResponse Dashboard::Impl::html(int status, std::string body) const {
  net::HttpServerResponse r{status,
                            {{"Content-Type", "text/html; charset=utf-8"},
                             {"Cache-Control", "no-store"},
                             {"Content-Security-Policy",
                              "default-src 'self'; frame-ancestors 'none'; form-action 'self'"},
                             {"X-Content-Type-Options", "nosniff"},
                             {"Referrer-Policy", "no-referrer"}},
                            std::move(body)};
  if (https) r.headers.emplace_back("Strict-Transport-Security", "max-age=31536000");
  return r;
}

net::HttpServerResponse Dashboard::Impl::redirect(const std::string& to) const {
  net::HttpServerResponse r = html(303, "");
  r.headers.emplace_back("Location", to);
  return r;
}

net::HttpServerResponse Dashboard::Impl::forbidden(const DashboardRequest& request,
                                                   const std::string& why) const {
  log::warning(
      "dashboard request refused",
      {{"peer", request.http.peer.to_string()}, {"path", request.http.path}, {"reason", why}});
  return html(403, html::page("Forbidden", "", "",
                              "<p class=\"error\">" + html::escape(why) +
                                  "</p><p><a href=\"/login\">Log in</a></p>"));
}

void Dashboard::Impl::sweep_sessions() {
  int64_t now = log::now_ms();
  for (auto it = sessions.begin(); it != sessions.end();) {
    bool over = now - it->second.used_ms > kIdleMs || now - it->second.created_ms > kLifetimeMs;
    it = over ? sessions.erase(it) : std::next(it);
  }
}

DashboardSession* Dashboard::Impl::session_of(const net::HttpServerRequest& request,
                                              std::string* token) {
  *token = html::cookie(request.header("cookie"), kSessionCookie);
  if (token->empty()) return nullptr;
  sweep_sessions();
  auto it = sessions.find(*token);
  if (it == sessions.end()) return nullptr;
  it->second.used_ms = log::now_ms();
  return &it->second;
}

std::string Dashboard::Impl::open_session(const std::string& user) {
  sweep_sessions();
  if (sessions.size() >= kMaxSessions) {
    auto oldest = sessions.begin();
    for (auto it = sessions.begin(); it != sessions.end(); ++it)
      if (it->second.used_ms < oldest->second.used_ms) oldest = it;
    sessions.erase(oldest);
  }
  std::string token = random_token(), csrf = random_token();
  if (token.empty() || csrf.empty()) return "";
  int64_t now = log::now_ms();
  sessions[token] = DashboardSession{user, csrf, now, now};
  return token;
}

void Dashboard::Impl::handle(net::HttpServerRequest& http, net::HttpResponder respond) {
  if (http.path == "/static/dashboard.css" || http.path == "/static/live.js") {
    bool css = http.path.ends_with(".css");
    return respond(
        {200,
         {{"Content-Type", css ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8"},
          {"Cache-Control", "max-age=3600"}},
         std::string(css ? html::kStylesheet : html::kLiveScript)});
  }
  bool post = http.method == "POST";
  auto form = html::parse_form(post ? std::string_view(http.body) : std::string_view(http.query));
  if (!form) return respond(html(400, html::page("Bad request", "", "", "<p>Malformed form.</p>")));
  DashboardRequest request{http, std::move(*form), nullptr, ""};
  if (http.path == "/login") {
    if (post) return login(request, respond);
    return login_page(http.header("cookie"), respond);
  }
  request.session = session_of(http, &request.token);
  if (post) {
    // A POST changes something: it needs a session and the token of that session's forms.
    if (!request.session) return respond(forbidden(request, "not logged in"));
    auto csrf = request.form.find("csrf");
    if (csrf == request.form.end() || !same_token(csrf->second, request.session->csrf))
      return respond(forbidden(request, "the form's CSRF token is missing or wrong"));
  } else if (http.method != "GET" && http.method != "HEAD") {
    auto r = html(405, "");
    r.headers.emplace_back("Allow", "GET, HEAD, POST");
    return respond(std::move(r));
  } else if (!request.session) {
    return respond(redirect("/login"));
  }
  if (!route(request, respond))
    respond(html(404, html::page("Not found", request.session->user, request.session->csrf,
                                 "<p>No such page.</p>")));
}

bool Dashboard::Impl::route(DashboardRequest& request, const net::HttpResponder& respond) {
  const std::string& path = request.http.path;
  bool post = request.http.method == "POST";
  if (path == "/logout" && post) {
    logout(request, respond);
    return true;
  }
  if (path == "/" && !post) {
    overview(request, respond);
    return true;
  }
  if (path == "/live" && !post) {
    live(request, respond);
    return true;
  }
  if (path == "/queue" && !post) {
    queue_page(request, respond);
    return true;
  }
  return queue_route(request, respond);
}

}  // namespace hato::cli
