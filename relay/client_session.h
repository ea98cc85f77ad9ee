// client_session.h - the SMTP client side as an explicit state machine.
//
// One session is one connection to one server: greeting, EHLO (HELO when EHLO
// is refused), STARTTLS when offered (or required), AUTH when credentials are
// set, then any number of transactions, then QUIT. Like ServerSession it never
// touches a socket: bytes in through receive(), out through ClientIo.
//
// States, in the order a healthy session passes them:
//   kGreeting -> kEhlo [-> kHelo] [-> kStartTls -> kTlsHandshake -> kEhlo]
//   [-> kAuth] -> kReady <-> kTransaction [-> kRset] ... -> kQuit -> kDone
// Any failure before kReady ends in kFailed with the reason.
//
// With ClientOptions::lmtp the same machine speaks LMTP (RFC 2033) for local
// delivery: LHLO instead of EHLO (no HELO fallback), and after the final dot
// one reply per accepted recipient, each that recipient's result.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "relay/smtp_reply.h"

namespace hato::relay {

struct OutboundRecipient {
  std::string address;
  uint8_t notify = 0;  // queue::Notify bits
  std::string orcpt;
};

struct OutboundMessage {
  std::string id;  // queue ID, for logs
  std::string sender;
  std::vector<OutboundRecipient> recipients;
  std::shared_ptr<const std::string> data;  // CRLF lines, not dot-stuffed
  bool smtputf8 = false;
  bool eight_bit = false;
  std::string ret;
  std::string envid;
};

// The final reply for each recipient, in the order given. A code of 0 means
// the conversation broke off (the text says how): a temporary failure.
using TransactionResult = std::vector<Reply>;

enum class ClientTls { kNone, kOpportunistic, kRequired, kImplicit };

struct ClientOptions {
  std::string helo;
  std::string server_name;  // for messages: "mx.example.test[192.0.2.1]"
  ClientTls tls = ClientTls::kOpportunistic;
  std::string username;  // AUTH PLAIN/LOGIN when set, and only over TLS
  std::string password;
  std::chrono::milliseconds command_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds data_timeout{std::chrono::minutes(10)};  // the final reply
  bool lmtp = false;  // RFC 2033: LHLO, and a reply per recipient after the dot
};

struct ServerCapabilities {
  bool esmtp = false;
  bool pipelining = false;
  bool starttls = false;
  bool eight_bit = false;
  bool smtputf8 = false;
  bool dsn = false;
  bool auth_plain = false;
  bool auth_login = false;
  uint64_t size = 0;  // 0: no limit announced
};

class ClientIo {
 public:
  virtual ~ClientIo() = default;
  virtual void send(std::string_view bytes) = 0;
  virtual void start_tls() = 0;  // then tls_established() or closed()
  virtual void close() = 0;
  virtual void set_timeout(std::chrono::milliseconds timeout) = 0;
};

class ClientSession {
 public:
  class Events {
   public:
    virtual ~Events() = default;
    // Established and idle: send() or quit() may be called.
    virtual void ready() = 0;
    // The session cannot be used (before kReady, or the connection broke
    // while idle). `reason.code` is the server's reply, or 0 for local causes.
    virtual void failed(const Reply& reason) = 0;
    // After quit(): the session is over (the 221 came, or the wait for it ended) and
    // the connection closed. The owner may free the session, but not inside this call.
    virtual void finished() {}
  };

  ClientSession(ClientIo& io, ClientOptions options, Events& events);

  void connected();  // the TCP connection (or implicit TLS) is up
  void receive(std::string_view bytes);
  void tls_established(std::string version, std::string cipher);
  // The handshake completed but the server failed the certificate check the policy demands.
  void tls_rejected(std::string reason);
  void timed_out();
  void closed();

  // One transaction. `done` may run before send() returns (a message the
  // server announced it cannot take). Only in kReady.
  void send(OutboundMessage message, std::function<void(TransactionResult)> done);
  void quit();

  enum class State {
    kGreeting,
    kEhlo,
    kHelo,
    kStartTls,
    kTlsHandshake,
    kAuth,
    kAuthLoginUser,
    kAuthLoginPassword,
    kReady,
    kTransaction,
    kRset,
    kQuit,
    kDone,
    kFailed,
  };
  State state() const { return state_; }
  const ServerCapabilities& capabilities() const { return caps_; }
  bool tls_active() const { return !tls_version_.empty(); }
  const std::string& tls_version() const { return tls_version_; }
  const std::string& tls_cipher() const { return tls_cipher_; }

 private:
  enum class Expect { kMail, kRcpt, kData, kDot };

  void on_reply(const Reply& reply);
  void on_opening_reply(const Reply& reply);
  void on_auth_reply(const Reply& reply);
  void on_transaction_reply(const Reply& reply);
  void send_ehlo();
  void after_ehlo();
  void start_auth();
  void become_ready();
  void fail(Reply reason);
  void fail_local(std::string text);
  void send_line(std::string_view line);
  void send_data();
  void send_next_unpipelined();
  void finish_transaction();
  void parse_capabilities(const Reply& reply);
  std::string describe(std::string_view what) const;

  ClientIo& io_;
  ClientOptions options_;
  Events& events_;
  State state_ = State::kGreeting;
  ServerCapabilities caps_;
  std::string in_;
  ReplyReader reader_;
  std::string tls_version_;
  std::string tls_cipher_;
  bool helo_fallback_ = false;

  // The transaction in flight.
  OutboundMessage message_;
  std::function<void(TransactionResult)> done_;
  std::deque<Expect> expect_;
  size_t next_rcpt_ = 0;  // without PIPELINING: the next RCPT to send
  size_t rcpt_replies_ = 0;
  Reply mail_reply_;
  std::vector<Reply> rcpt_replies_list_;
  Reply data_reply_;
  bool data_sent_ = false;
  // LMTP: the accepted recipients in order, and the reply each got after the dot.
  std::vector<size_t> lmtp_accepted_;
  size_t lmtp_answered_ = 0;
  std::vector<Reply> lmtp_replies_;
};

}  // namespace hato::relay
