// dashboard_login.cc - logging in (an admin user's password or API key) and out.
#include "cli/dashboard_impl.h"
#include "common/log.h"
#include "policy/api_keys.h"
#include "policy/user_roles.h"
#include "relay/queue_backend.h"

namespace hato::cli {

// The login form. Its CSRF token is also set as a cookie: a cross-site form cannot read or set
// the cookie, so it cannot make a matching pair (a "double submit" before there is a session).
// A browser's token is kept while it has one: a second login page (another tab, a favicon
// fetch sent here) must not make the first one's form stale.
void Dashboard::Impl::login_page(const std::string& cookies, const net::HttpResponder& respond,
                                 const std::string& error, int status) {
  std::string token = html::cookie(cookies, kLoginCookie);
  if (token.size() != 64 || token.find_first_not_of("0123456789abcdef") != std::string::npos)
    token = random_token();
  std::string body;
  if (!error.empty()) body += "<p class=\"error\" role=\"alert\">" + html::escape(error) + "</p>";
  body +=
      "<form method=\"post\" action=\"/login\">" + html::csrf_field(token) +
      "<label for=\"user\">User</label><input id=\"user\" name=\"user\" autocomplete=\"username\" "
      "required autofocus>"
      "<label for=\"password\">Password or API key</label><input id=\"password\" name=\"password\" "
      "type=\"password\" autocomplete=\"current-password\" required>"
      "<p><button type=\"submit\">Log in</button></p></form>"
      "<p class=\"muted\">Admin users only: <code>hato user add NAME --role admin</code>.</p>";
  auto r = html(status, html::page("Log in", "", "", body));
  r.headers.emplace_back("Set-Cookie", std::string(kLoginCookie) + "=" + token +
                                           cookie_attributes() + "; Max-Age=3600");
  respond(std::move(r));
}

bool Dashboard::Impl::is_admin(const std::string& user) const {
  auto roles = policy::UserRoles::load(policy::user_roles_path(config->users_file));
  if (!roles) {
    log::error("dashboard cannot read roles", {{"reason", roles.message()}});
    return false;
  }
  return (*roles)->is_admin(user);
}

bool Dashboard::Impl::admin_key(const std::string& user, const std::string& secret) const {
  auto keys = policy::ApiKeyDb::load(policy::api_keys_path(config->users_file));
  if (!keys) return false;
  auto owner = (*keys)->user_of(secret);
  return owner && *owner == user && is_admin(user);
}

void Dashboard::Impl::login(DashboardRequest& request, const net::HttpResponder& respond) {
  std::string expected = html::cookie(request.http.header("cookie"), kLoginCookie);
  if (!same_token(request.form["csrf"], expected))
    return respond(forbidden(request, "the login form's CSRF token is missing or wrong"));
  std::string user = request.form["user"], password = request.form["password"];
  std::string peer = request.http.peer.ip();
  auto welcome = [this, respond, peer](const std::string& who, const char* how) {
    std::string token = open_session(who);
    if (token.empty()) return respond(html(503, "no randomness for a session token\n"));
    log::info("dashboard login", {{"peer", peer}, {"user", who}, {"with", how}});
    auto r = redirect("/");
    r.headers.emplace_back("Set-Cookie",
                           std::string(kSessionCookie) + "=" + token + cookie_attributes());
    respond(std::move(r));
  };
  if (user.empty() || password.empty() || user.find('\0') != std::string::npos ||
      password.find('\0') != std::string::npos) {
    return login_page(request.http.header("cookie"), respond, "Enter a user name and a password.",
                      400);
  }
  if (admin_key(user, password)) return welcome(user, "api key");
  // Passwords go through SMTP AUTH's guard: the same counting, delays and blocking.
  backend.authenticate(
      peer, user, password,
      [this, alive = alive, cookies = request.http.header("cookie"), respond, peer, user,
       welcome](relay::AuthOutcome outcome) {
        if (!*alive) return;
        if (outcome.ok && is_admin(user)) return welcome(user, "password");
        std::string why = outcome.ok        ? "failed: not an admin user"
                          : outcome.blocked ? "refused: too many failed logins from this address"
                                            : "failed: wrong user or password";
        log::warning("dashboard login", {{"peer", peer}, {"user", user}, {"result", why}});
        auto answer = [this, alive, cookies, respond] {
          if (!*alive) return;
          login_page(cookies, respond, "Wrong user or password, or not an admin user.", 401);
        };
        if (outcome.delay.count() <= 0) return answer();
        loop.after(outcome.delay, answer);
      });
}

void Dashboard::Impl::logout(DashboardRequest& request, const net::HttpResponder& respond) {
  log::info("dashboard logout",
            {{"peer", request.http.peer.ip()}, {"user", request.session->user}});
  sessions.erase(request.token);
  auto r = redirect("/login");
  r.headers.emplace_back("Set-Cookie",
                         std::string(kSessionCookie) + "=" + cookie_attributes() + "; Max-Age=0");
  respond(std::move(r));
}

}  // namespace hato::cli
