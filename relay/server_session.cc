// server_session.cc - the SMTP server state machine.
#include "relay/server_session.h"

#include <cstring>
#include <ctime>

#include "common/log.h"
#include "common/strings.h"
#include "inbound/maildir.h"
#include "policy/submission.h"
#include "relay/relay_metrics.h"

namespace hato::relay {

namespace {

using policy::Phase;
using policy::Verdict;

}  // namespace

ServerSession::ServerSession(SessionIo& io, SessionServices& services,
                             const policy::HookChain& hooks, conf::ConfigPtr config,
                             const conf::Listener& listener, SocketAddress peer)
    : io_(io),
      services_(services),
      hooks_(hooks),
      config_(std::move(config)),
      listener_(listener),
      tx_(services, hooks, info_) {
  info_.listener = listener.name;
  info_.role = listener.role;
  info_.peer = peer;
  started_ = std::chrono::steady_clock::now();
  for (const auto& net : listener.trusted_networks)
    if (net.contains(peer)) info_.trusted = true;
}

std::string ServerSession::peer_text() const {
  return info_.peer.to_string();
}

void ServerSession::start() {
  io_.set_timeout(config_->limits.command_timeout);
  run_hooks(Phase::kConnect, [this] {
    state_ = State::kGreeted;
    reply(220, config_->hostname + " ESMTP Hato");
  });
}

void ServerSession::tls_established(std::string version, std::string cipher) {
  info_.tls = true;
  info_.tls_version = std::move(version);
  info_.tls_cipher = std::move(cipher);
  log::info("tls", {{"peer", peer_text()},
                    {"listener", info_.listener},
                    {"version", info_.tls_version},
                    {"cipher", info_.tls_cipher}});
  if (state_ == State::kTlsHandshake) {
    // RFC 3207 4.2: forget everything learned before TLS; the client starts over.
    info_.helo.clear();
    reset_transaction();
    state_ = State::kGreeted;
    resume();
  }
}

void ServerSession::timed_out() {
  if (closed_ || state_ == State::kClosing) return;
  log::info("timeout", {{"peer", peer_text()},
                        {"listener", info_.listener},
                        {"state", state_ == State::kData ? "data" : "command"}});
  close_with(421, "4.4.2 " + config_->hostname + " Error: timeout exceeded");
}

void ServerSession::closed() {
  closed_ = true;
  state_ = State::kClosing;
}

void ServerSession::receive(std::string_view bytes) {
  if (closed_ || state_ == State::kClosing) return;
  in_.append(bytes);
  process();
  // A command line trickled a byte at a time never lets the idle timeout
  // fire: a line must be complete within the command timeout as a whole.
  auto now = std::chrono::steady_clock::now();
  if (state_ == State::kData && data_) {
    // A message must keep moving: the data timeout plus a second per KiB
    // received, so a slow big upload passes and a trickle does not.
    auto allowed =
        config_->limits.data_timeout + std::chrono::milliseconds(data_->received() * 1000 / 1024);
    if (now - data_started_ > allowed) timed_out();
  } else if (in_pos_ < in_.size()) {
    if (!partial_since_) partial_since_ = now;
    if (now - *partial_since_ > config_->limits.command_timeout) timed_out();
  } else {
    partial_since_.reset();
  }
}

void ServerSession::pause() {
  paused_ = true;
}

void ServerSession::resume() {
  if (closed_ || delaying_) return;
  paused_ = false;
  io_.set_reading(true);
  // Answers that come at once arrive inside process(): its loop goes on.
  if (!in_process_) process();
}

void ServerSession::process() {
  in_process_ = true;
  while (!paused_ && !closed_ && state_ != State::kClosing && in_pos_ < in_.size()) {
    std::string_view rest(in_.data() + in_pos_, in_.size() - in_pos_);
    if (state_ == State::kData) {
      in_pos_ += data_->consume(rest);
      if (!data_->done()) break;
      finish_data();
      continue;
    }
    const char* nl = static_cast<const char*>(std::memchr(rest.data(), '\n', rest.size()));
    size_t limit = (state_ == State::kAuthPlain || state_ == State::kAuthLoginUser ||
                    state_ == State::kAuthLoginPassword)
                       ? kMaxAuthLine
                       : kMaxCommandLine;
    if (!nl) {
      if (rest.size() > limit) {
        // Drop the excess now, answer once the line ends.
        skipping_long_line_ = true;
        in_pos_ = in_.size();
      }
      break;
    }
    size_t len = static_cast<size_t>(nl - rest.data());
    in_pos_ += len + 1;
    std::string_view line = rest.substr(0, len);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (skipping_long_line_ || len + 1 > limit) {
      skipping_long_line_ = false;
      if (state_ != State::kReady && state_ != State::kGreeted && state_ != State::kMail &&
          state_ != State::kRcpt)
        state_ = info_.helo.empty() ? State::kGreeted : State::kReady;
      reply(500, "5.5.2 Error: line too long");
      continue;
    }
    handle_line(line);
  }
  // Keep the buffer small: drop what has been read.
  if (in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  } else if (in_pos_ > 65536) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
  // A client that floods a paused session is not read until it resumes.
  if (paused_ && in_.size() - in_pos_ > 65536) io_.set_reading(false);
  in_process_ = false;
}

void ServerSession::reply(int code, std::string_view text) {
  std::string line = std::to_string(code);
  line += ' ';
  line += text;
  line += "\r\n";
  if (code < 400 || state_ == State::kClosing) {
    reply_raw(line);
    return;
  }
  ++errors_;
  ErrorPenalty penalty;
  if (info_.role == conf::ListenerRole::kInbound && !info_.trusted)
    penalty = services_.client_error(info_.peer.ip());
  if (penalty.delay.count() <= 0) {
    send_error(line, penalty.block);
    return;
  }
  // A client that keeps making errors waits for its answers (and reads nothing
  // else meanwhile: the session stays paused until the reply is out).
  log::info("slowing down", {{"peer", peer_text()},
                             {"listener", info_.listener},
                             {"delay", std::to_string(penalty.delay.count()) + "ms"},
                             {"reason", "repeated errors from this client address"}});
  pause();
  delaying_ = true;
  auto self = shared_from_this();
  services_.after(penalty.delay, [self, line, block = penalty.block] {
    self->delaying_ = false;
    if (!self->alive()) return;
    self->send_error(line, block);
    self->resume();
  });
}

void ServerSession::send_error(const std::string& line, bool block) {
  reply_raw(line);
  if (block) {
    log::info("too many errors", {{"peer", peer_text()},
                                  {"listener", info_.listener},
                                  {"reason", "too many recent errors from this client address"}});
    close_with(421, "4.7.0 " + config_->hostname +
                        " Error: too many errors from your address, try again later");
  } else if (errors_ >= config_->limits.max_errors) {
    log::info(
        "too many errors",
        {{"peer", peer_text()}, {"listener", info_.listener}, {"errors", std::to_string(errors_)}});
    close_with(421, "4.7.0 " + config_->hostname + " Error: too many errors");
  }
}

void ServerSession::reply_raw(std::string_view text) {
  if (!closed_) io_.send(text);
}

void ServerSession::close_with(int code, std::string_view text) {
  if (state_ == State::kClosing) return;
  state_ = State::kClosing;
  reply_raw(std::to_string(code) + " " + std::string(text) + "\r\n");
  if (!closed_) io_.close();
}

void ServerSession::reset_transaction() {
  tx_.reset();
  data_.reset();
}

Transaction::Done ServerSession::settle(Phase phase, std::function<void()> next) {
  pause();
  // The hooks read the session's fields until they answer: keep it alive.
  auto self = shared_from_this();
  return [self, phase, next = std::move(next)](Verdict v) {
    if (!self->alive()) return;
    self->paused_ = false;
    if (v.kind == Verdict::Kind::kContinue) {
      next();  // may pause again (a commit, a TLS handshake)
    } else if (v.kind == Verdict::Kind::kDisconnect) {
      self->close_with(v.code, v.text);
      return;
    } else {
      // A refused message leaves nothing behind for the next MAIL.
      if (phase == Phase::kData) self->reset_transaction();
      self->reply(v.code, v.text);
    }
    if (!self->paused_) self->resume();
  };
}

void ServerSession::run_hooks(Phase phase, std::function<void()> next) {
  if (hooks_.empty(phase)) {
    next();
    return;
  }
  tx_.run_hooks(*config_, phase, settle(phase, std::move(next)));
}

void ServerSession::handle_line(std::string_view line) {
  switch (state_) {
    case State::kAuthPlain:
      auth_plain(line);
      return;
    case State::kAuthLoginUser:
    case State::kAuthLoginPassword:
      auth_login(line);
      return;
    default:
      break;
  }
  // A client that keeps talking never meets the idle timeout: a session has a lifetime too.
  if (std::chrono::steady_clock::now() - started_ >= config_->limits.max_session_time) {
    log::info("session too long", {{"peer", peer_text()},
                                   {"listener", info_.listener},
                                   {"reason", "the session outlived limits.max_session_time"}});
    close_with(421, "4.4.2 " + config_->hostname + " Error: session too long, closing");
    return;
  }
  // Control characters have no place in a command, and a CR or NUL that
  // reached a Received header could forge a header of its own.
  for (unsigned char c : line) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      reply(500, "5.5.2 Error: control characters in command");
      return;
    }
  }
  handle_command(parse_command(line));
}

void ServerSession::handle_command(const Command& cmd) {
  // Commands that move no mail, beyond a limit, are a client holding a connection open.
  bool junk = cmd.verb == Verb::kNoop || cmd.verb == Verb::kRset || cmd.verb == Verb::kVrfy ||
              cmd.verb == Verb::kExpn || cmd.verb == Verb::kHelp;
  if (junk && ++junk_commands_ > config_->limits.max_junk_commands) {
    log::info("too many junk commands",
              {{"peer", peer_text()},
               {"listener", info_.listener},
               {"reason", "more than limits.max_junk_commands NOOP/RSET/VRFY/EXPN/HELP commands"}});
    close_with(421, "4.7.0 " + config_->hostname + " Error: too many junk commands, closing");
    return;
  }
  switch (cmd.verb) {
    case Verb::kHelo:
    case Verb::kEhlo:
      on_ehlo(cmd);
      return;
    case Verb::kMail:
      on_mail(cmd);
      return;
    case Verb::kRcpt:
      on_rcpt(cmd);
      return;
    case Verb::kData:
      on_data(cmd);
      return;
    case Verb::kRset:
      reset_transaction();
      if (state_ == State::kMail || state_ == State::kRcpt) state_ = State::kReady;
      reply(250, "2.0.0 Ok");
      return;
    case Verb::kNoop:
      reply(250, "2.0.0 Ok");
      return;
    case Verb::kQuit:
      close_with(221, "2.0.0 Bye");
      return;
    case Verb::kVrfy:
      reply(252, "2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
      return;
    case Verb::kExpn:
      reply(502, "5.5.1 EXPN is not available");
      return;
    case Verb::kHelp: {
      // Only what this listener offers: no AUTH where AUTH is refused.
      std::string text = "2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP";
      if (listener_.tls == conf::ListenerTls::kStartTls && !info_.tls) text += " STARTTLS";
      if (listener_.role == conf::ListenerRole::kSubmission) text += " AUTH";
      reply(214, text);
      return;
    }
    case Verb::kStartTls:
      on_starttls(cmd);
      return;
    case Verb::kAuth:
      on_auth(cmd);
      return;
    case Verb::kBdat:
      reply(502, "5.5.1 BDAT is not supported; use DATA");
      return;
    case Verb::kUnknown:
      break;
  }
  reply(500, "5.5.2 Error: command not recognized");
}

void ServerSession::on_ehlo(const Command& cmd) {
  // A domain or an address literal is printable ASCII without spaces; anything else (a tab,
  // 8-bit bytes) would end up in Received and in the envelope (fuzz: regress-helo-tab).
  bool printable = !cmd.argument.empty();
  for (unsigned char c : cmd.argument) printable = printable && c > 0x20 && c < 0x7f;
  if (!printable) {
    reply(501,
          "5.5.4 Syntax: " + std::string(cmd.verb == Verb::kEhlo ? "EHLO" : "HELO") + " hostname");
    return;
  }
  reset_transaction();
  info_.helo = std::string(cmd.argument);
  bool ehlo = cmd.verb == Verb::kEhlo;
  run_hooks(Phase::kHelo, [this, ehlo] {
    state_ = State::kReady;
    if (!ehlo) {
      reply(250, config_->hostname);
      return;
    }
    std::string r = "250-" + config_->hostname + "\r\n";
    r += "250-PIPELINING\r\n";
    r += "250-SIZE " + std::to_string(config_->limits.max_message_size) + "\r\n";
    if (!info_.tls && listener_.tls == conf::ListenerTls::kStartTls) r += "250-STARTTLS\r\n";
    // AUTH only under TLS, and only where it is of use.
    if (info_.tls && listener_.role == conf::ListenerRole::kSubmission)
      r += "250-AUTH PLAIN LOGIN\r\n";
    r += "250-ENHANCEDSTATUSCODES\r\n";
    r += "250-8BITMIME\r\n";
    r += "250-DSN\r\n";
    r += "250 SMTPUTF8\r\n";
    reply_raw(r);
  });
}

void ServerSession::on_mail(const Command& cmd) {
  if (state_ == State::kGreeted) {
    reply(503, "5.5.1 Error: send HELO/EHLO first");
    return;
  }
  if (state_ != State::kReady) {
    reply(503, "5.5.1 Error: nested MAIL command");
    return;
  }
  MailParams params;
  if (auto err = parse_mail(cmd.argument, &params)) {
    reply(err->code, err->text);
    return;
  }
  tx_.mail(*config_, std::move(params), settle(Phase::kMail, [this] {
    state_ = State::kMail;
    reply(250, "2.1.0 Ok");
  }));
}

void ServerSession::on_rcpt(const Command& cmd) {
  if (state_ != State::kMail && state_ != State::kRcpt) {
    reply(503, "5.5.1 Error: need MAIL command");
    return;
  }
  if (tx_.recipients() >= config_->limits.max_recipients) {
    // RFC 5321 4.5.3.1.8: the client may go on with what was accepted, so
    // this is no error to count against it.
    reply_raw("452 4.5.3 Error: too many recipients\r\n");
    return;
  }
  RcptParams params;
  if (auto err = parse_rcpt(cmd.argument, &params)) {
    reply(err->code, err->text);
    return;
  }
  tx_.rcpt(*config_, std::move(params), settle(Phase::kRcpt, [this] {
    state_ = State::kRcpt;
    reply(250, "2.1.5 Ok");
  }));
}

void ServerSession::on_data(const Command& cmd) {
  if (state_ == State::kMail) {
    // RFC 2920: after pipelined RCPTs that all failed, DATA gets 554.
    reply(554, "5.5.1 Error: no valid recipients");
    return;
  }
  if (state_ != State::kRcpt) {
    reply(503, "5.5.1 Error: need RCPT command");
    return;
  }
  if (!cmd.argument.empty()) {
    reply(501, "5.5.4 Syntax: DATA takes no arguments");
    return;
  }
  tx_.body().clear();
  tx_.body().reserve(8192);
  data_.emplace(config_->limits.max_message_size, &tx_.body(), listener_.bare_lf, listener_.nul);
  data_started_ = std::chrono::steady_clock::now();
  state_ = State::kData;
  io_.set_timeout(config_->limits.data_timeout);
  reply(354, "End data with <CR><LF>.<CR><LF>");
}

void ServerSession::finish_data() {
  io_.set_timeout(config_->limits.command_timeout);
  state_ = State::kReady;
  auto refuse = [this](int code, std::string_view text, std::string_view reason) {
    log::info("reject", {{"peer", peer_text()},
                         {"listener", info_.listener},
                         {"from", tx_.mail_params().address},
                         {"reason", reason}});
    reset_transaction();
    reply(code, text);
  };
  if (data_->bare_cr()) {
    refuse(550, "5.6.0 Message contains a bare CR; lines must end with CRLF (RFC 5321 2.3.8)",
           "bare CR in message");
    return;
  }
  if (data_->nul()) {
    refuse(550, "5.6.0 Message contains a NUL octet, which mail text must not (RFC 5321 2.3.8)",
           "NUL in message (this listener has nul: reject)");
    return;
  }
  if (data_->bare_lf()) {
    refuse(550, "5.6.0 Message contains a bare LF; lines must end with CRLF (RFC 5321 2.3.8)",
           "bare LF in message (this listener has bare_lf: reject)");
    return;
  }
  if (data_->too_big()) {
    refuse(552, "5.3.4 Message size exceeds fixed maximum message size", "message too big");
    return;
  }
  if (data_->line_too_long()) {
    refuse(552, "5.3.4 Message line longer than 1000 octets (RFC 5321 4.5.3.1.6)", "line too long");
    return;
  }
  data_.reset();
  auto self = shared_from_this();
  pause();
  tx_.commit(*config_, [self](Verdict v, const std::string& id) {
    if (v.kind == Verdict::Kind::kContinue && self->info_.role == conf::ListenerRole::kInbound)
      self->services_.client_success(self->info_.peer.ip());
    // Queued even if the client left before hearing so.
    if (!self->alive()) return;
    self->paused_ = false;
    if (v.kind == Verdict::Kind::kDisconnect) {
      self->close_with(v.code, v.text);
      return;
    }
    if (v.kind == Verdict::Kind::kContinue) {
      self->messages_++;
      self->junk_commands_ = 0;  // a client that sends mail is no idler
      self->reply(250, "2.0.0 Ok: queued as " + id);
    } else {
      self->reply(v.code, v.text);
    }
    if (!self->paused_) self->resume();
  });
}

void ServerSession::on_starttls(const Command& cmd) {
  if (listener_.tls != conf::ListenerTls::kStartTls || info_.tls) {
    reply(info_.tls ? 503 : 502,
          info_.tls ? "5.5.1 Error: TLS already active" : "5.5.1 Error: STARTTLS not available");
    return;
  }
  if (!cmd.argument.empty()) {
    reply(501, "5.5.4 Syntax: STARTTLS");
    return;
  }
  if (state_ == State::kMail || state_ == State::kRcpt) reset_transaction();
  reply(220, "2.0.0 Ready to start TLS");
  // Anything the client sent after STARTTLS arrived in clear and must not be
  // taken as coming from inside TLS (CVE-2011-0411 and its kin).
  size_t injected = in_.size() - in_pos_;
  if (injected)
    log::warning("discarded plaintext sent after STARTTLS",
                 {{"peer", peer_text()}, {"bytes", std::to_string(injected)}});
  in_.clear();
  in_pos_ = 0;
  state_ = State::kTlsHandshake;
  pause();
  io_.start_tls();
}

}  // namespace hato::relay
