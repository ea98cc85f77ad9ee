// server_session_auth.cc - the session's AUTH PLAIN and LOGIN (RFC 4954, RFC 4616): the
// exchange, and the answer to a password check, logged and counted when it is decided.
#include <cctype>
#include <string>

#include "common/base64.h"
#include "common/log.h"
#include "relay/relay_metrics.h"
#include "relay/server_session.h"

namespace hato::relay {

void ServerSession::on_auth(const Command& cmd) {
  if (listener_.role != conf::ListenerRole::kSubmission) {
    reply(503, "5.5.1 Error: authentication not enabled");
    return;
  }
  if (!info_.tls) {
    reply(538, "5.7.11 Encryption required for requested authentication mechanism");
    return;
  }
  if (state_ == State::kGreeted) {
    reply(503, "5.5.1 Error: send EHLO first");
    return;
  }
  if (!info_.auth_user.empty()) {
    reply(503, "5.5.1 Error: already authenticated");
    return;
  }
  if (state_ != State::kReady) {
    reply(503, "5.5.1 Error: AUTH not allowed during a mail transaction");
    return;
  }
  auto space = cmd.argument.find(' ');
  std::string mech(cmd.argument.substr(0, space));
  for (auto& c : mech) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string_view initial =
      space == std::string_view::npos ? std::string_view() : cmd.argument.substr(space + 1);
  if (mech == "PLAIN") {
    if (initial.empty()) {
      state_ = State::kAuthPlain;
      reply_raw("334 \r\n");
    } else {
      state_ = State::kAuthPlain;
      auth_plain(initial);
    }
  } else if (mech == "LOGIN") {
    state_ = State::kAuthLoginUser;
    if (initial.empty()) {
      reply_raw("334 VXNlcm5hbWU6\r\n");  // "Username:"
    } else {
      auth_login(initial);
    }
  } else {
    reply(504, "5.5.4 Unrecognized authentication type");
  }
}

void ServerSession::auth_plain(std::string_view response) {
  state_ = State::kReady;
  if (response == "*") {
    reply(501, "5.7.0 Authentication cancelled");
    return;
  }
  auto decoded = base64_decode(response);
  // authzid NUL authcid NUL passwd (RFC 4616)
  auto first = decoded ? decoded->find('\0') : std::string::npos;
  auto second = first == std::string::npos ? std::string::npos : decoded->find('\0', first + 1);
  if (second == std::string::npos) {
    reply(501, "5.5.2 Error: malformed AUTH PLAIN response");
    return;
  }
  std::string authzid = decoded->substr(0, first);
  std::string user = decoded->substr(first + 1, second - first - 1);
  std::string password = decoded->substr(second + 1);
  if (!authzid.empty() && authzid != user) {
    reply(535, "5.7.8 Authentication credentials invalid");
    return;
  }
  check_password(std::move(user), std::move(password));
}

void ServerSession::auth_login(std::string_view response) {
  if (response == "*") {
    state_ = State::kReady;
    reply(501, "5.7.0 Authentication cancelled");
    return;
  }
  auto decoded = base64_decode(response);
  if (!decoded) {
    state_ = State::kReady;
    reply(501, "5.5.2 Error: malformed AUTH LOGIN response");
    return;
  }
  if (state_ == State::kAuthLoginUser) {
    auth_user_pending_ = std::move(*decoded);
    state_ = State::kAuthLoginPassword;
    reply_raw("334 UGFzc3dvcmQ6\r\n");  // "Password:"
    return;
  }
  state_ = State::kReady;
  check_password(std::move(auth_user_pending_), std::move(*decoded));
  auth_user_pending_.clear();
}

void ServerSession::check_password(std::string user, std::string password) {
  // RFC 4616: no NUL inside a name or password. crypt() would stop at one and take
  // "secret\0anything" for "secret".
  if (user.find('\0') != std::string::npos || password.find('\0') != std::string::npos) {
    reply(501, "5.5.2 Error: NUL in the user name or password");
    return;
  }
  pause();
  auto self = shared_from_this();
  services_.authenticate(info_.peer.ip(), user, password, [self, user](AuthOutcome outcome) {
    // A failure is logged and counted when it is decided, not when its delayed 535 goes
    // out: a guesser that hangs up during the delay is still seen.
    if (outcome.ok) {
      if (!self->alive()) return;
      self->info_.auth_user = user;
      log::info("auth", {{"peer", self->peer_text()},
                         {"listener", self->info_.listener},
                         {"user", user},
                         {"result", "ok"}});
      self->reply(235, "2.7.0 Authentication successful");
      self->resume();
      return;
    }
    log::warning("auth",
                 {{"peer", self->peer_text()},
                  {"listener", self->info_.listener},
                  {"user", user},
                  {"result", outcome.blocked ? "refused: too many failed logins from this address"
                                             : "failed: wrong user or password"}});
    m::auth_failures(self->info_.listener).inc();
    if (!self->alive()) return;
    auto answer = [self, blocked = outcome.blocked] {
      if (blocked) {
        self->close_with(421, "4.7.0 " + self->config_->hostname +
                                  " Error: too many failed logins, try again later");
        return;
      }
      self->reply(535, "5.7.8 Authentication credentials invalid");
      self->resume();
    };
    if (outcome.delay.count() <= 0) {
      answer();
      return;
    }
    self->delaying_ = true;
    self->services_.after(outcome.delay, [self, answer] {
      self->delaying_ = false;
      if (self->alive()) answer();
    });
  });
}

}  // namespace hato::relay
