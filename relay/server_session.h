// server_session.h - the SMTP server side as an explicit state machine over a
// byte stream (RFC 5321, with PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES,
// STARTTLS, AUTH PLAIN/LOGIN, SMTPUTF8 and DSN).
//
// The session never touches a socket: bytes come in through receive(), replies
// and requests (start TLS, close) go out through SessionIo, and slow work
// (password checks, queue commits, hooks that wait on DNS) through
// SessionServices and the hook chain, whose answers arrive later on the same
// loop. While such an answer is pending the session is paused: pipelined input
// waits in its buffer and is read in order once it resumes.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/net.h"
#include "common/status.h"
#include "conf/config.h"
#include "policy/hook.h"
#include "queue/envelope.h"
#include "queue/queue_id.h"
#include "relay/data_reader.h"
#include "relay/smtp_command.h"
#include "relay/transaction.h"

namespace hato::relay {

class SessionIo {
 public:
  virtual ~SessionIo() = default;
  virtual void send(std::string_view bytes) = 0;
  // Sent output goes out in clear first; input not yet handed to the session
  // is discarded; then the TLS handshake runs and tls_established() follows.
  virtual void start_tls() = 0;
  virtual void close() = 0;  // after the pending output is written
  virtual void set_timeout(std::chrono::milliseconds timeout) = 0;
  virtual void set_reading(bool on) = 0;  // flow control while paused
};

// What an error reply to a client costs (inbound listeners): a delay before it is
// sent, and whether the client has made too many errors and is sent away.
struct ErrorPenalty {
  std::chrono::milliseconds delay{0};
  bool block = false;
};

struct AuthOutcome {
  bool ok = false;
  bool blocked = false;  // too many failures from this client: try later
  // How long the session holds back its refusal: guessing gets slow. The failure is
  // logged and counted at once.
  std::chrono::milliseconds delay{0};
};

class SessionServices : public Committer {
 public:
  // Checks a password off the loop; `done` runs on the session's loop as soon as
  // it is decided, with the delay that a failed login earns.
  virtual void authenticate(const std::string& client, const std::string& user,
                            const std::string& password, std::function<void(AuthOutcome)> done) = 0;
  // An inbound client got an error reply (or had a message accepted): the brake on
  // clients that keep making errors (policy::FailureGuard). No brake by default.
  virtual ErrorPenalty client_error(const std::string& client) {
    (void)client;
    return {};
  }
  virtual void client_success(const std::string& client) { (void)client; }
  // Runs fn on the session's loop after delay.
  virtual void after(std::chrono::milliseconds delay, std::function<void()> fn) {
    (void)delay;
    fn();
  }
};

class ServerSession : public std::enable_shared_from_this<ServerSession> {
 public:
  ServerSession(SessionIo& io, SessionServices& services, const policy::HookChain& hooks,
                conf::ConfigPtr config, const conf::Listener& listener, SocketAddress peer);

  // Starts the dialogue (connect hooks, then the greeting). With implicit TLS
  // call tls_established() first.
  void start();
  void receive(std::string_view bytes);
  void tls_established(std::string version, std::string cipher);
  void timed_out();
  // The connection is gone: pending answers are dropped when they arrive.
  void closed();

  enum class State {
    kConnect,    // connect hooks running, no greeting yet
    kGreeted,    // waiting for EHLO/HELO
    kReady,      // after EHLO/HELO, no transaction
    kMail,       // MAIL accepted
    kRcpt,       // at least one RCPT accepted
    kData,       // reading the message
    kAuthPlain,  // waiting for the PLAIN response
    kAuthLoginUser,
    kAuthLoginPassword,
    kTlsHandshake,
    kClosing,
  };
  State state() const { return state_; }
  const policy::SessionInfo& info() const { return info_; }
  uint32_t messages() const { return messages_; }

  static constexpr size_t kMaxCommandLine = 512;  // RFC 5321 4.5.3.1.4, CRLF included
  static constexpr size_t kMaxAuthLine = 12288;   // RFC 4954 section 4

 private:
  void process();
  void handle_line(std::string_view line);
  void handle_command(const Command& cmd);
  void on_ehlo(const Command& cmd);
  void on_mail(const Command& cmd);
  void on_rcpt(const Command& cmd);
  void on_data(const Command& cmd);
  void on_starttls(const Command& cmd);
  void on_auth(const Command& cmd);
  void auth_plain(std::string_view response);
  void auth_login(std::string_view response);
  void check_password(std::string user, std::string password);
  void finish_data();

  void reply(int code, std::string_view text);
  void reply_raw(std::string_view text);  // complete reply lines
  // Sends an error reply, then closes when the client has made too many errors.
  void send_error(const std::string& line, bool block);
  void reset_transaction();
  void pause();
  void resume();
  // Pauses until a step of the transaction (or the hooks of a phase) is decided; then on
  // Continue calls next, else replies (or closes, for Disconnect).
  Transaction::Done settle(policy::Phase phase, std::function<void()> next);
  void run_hooks(policy::Phase phase, std::function<void()> next);
  void close_with(int code, std::string_view text);
  // Neither gone nor saying goodbye: late answers must not reach the client.
  bool alive() const { return !closed_ && state_ != State::kClosing; }
  std::string peer_text() const;

  SessionIo& io_;
  SessionServices& services_;
  const policy::HookChain& hooks_;
  conf::ConfigPtr config_;
  const conf::Listener& listener_;
  policy::SessionInfo info_;

  State state_ = State::kConnect;
  std::string in_;
  size_t in_pos_ = 0;
  bool paused_ = false;
  bool delaying_ = false;  // an error reply is being held back: stay paused
  bool in_process_ = false;
  bool closed_ = false;
  bool skipping_long_line_ = false;
  uint32_t errors_ = 0;
  uint32_t junk_commands_ = 0;  // since the last accepted message
  std::chrono::steady_clock::time_point started_;
  std::optional<std::chrono::steady_clock::time_point> partial_since_;
  std::chrono::steady_clock::time_point data_started_;
  std::string auth_user_pending_;

  Transaction tx_;
  std::optional<DataReader> data_;
  uint32_t messages_ = 0;
};

}  // namespace hato::relay
