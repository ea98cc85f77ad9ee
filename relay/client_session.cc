// client_session.cc - the SMTP client state machine.
#include "relay/client_session.h"

#include <cctype>
#include <charconv>
#include <cstring>

#include "common/base64.h"
#include "common/strings.h"
#include "queue/envelope.h"

namespace hato::relay {

namespace {

bool iequals_prefix(std::string_view s, std::string_view word) {
  if (!istarts_with(s, word)) return false;
  return s.size() == word.size() || s[word.size()] == ' ' || s[word.size()] == '=';
}

// RFC 3461 section 4: xtext for ENVID and ORCPT.
std::string xtext_encode(std::string_view in) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : in) {
    if (c < 33 || c > 126 || c == '+' || c == '=') {
      out += '+';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string notify_words(uint8_t bits) {
  if (bits & queue::kNotifyNever) return "NEVER";
  std::string out;
  auto add = [&](uint8_t bit, const char* word) {
    if (!(bits & bit)) return;
    if (!out.empty()) out += ',';
    out += word;
  };
  add(queue::kNotifySuccess, "SUCCESS");
  add(queue::kNotifyFailure, "FAILURE");
  add(queue::kNotifyDelay, "DELAY");
  return out;
}

Reply local_reply(int code, std::string text) {
  Reply r;
  r.code = code;
  r.lines.push_back(std::move(text));
  return r;
}

}  // namespace

ClientSession::ClientSession(ClientIo& io, ClientOptions options, Events& events)
    : io_(io), options_(std::move(options)), events_(events) {}

std::string ClientSession::describe(std::string_view what) const {
  return std::string(what) + " " + options_.server_name;
}

void ClientSession::connected() {
  state_ = State::kGreeting;
  io_.set_timeout(options_.command_timeout);
}

void ClientSession::send_line(std::string_view line) {
  std::string out(line);
  out += "\r\n";
  io_.send(out);
}

void ClientSession::receive(std::string_view bytes) {
  if (state_ == State::kDone || state_ == State::kFailed) return;
  in_.append(bytes);
  size_t pos = 0;
  while (state_ != State::kDone && state_ != State::kFailed) {
    size_t nl = in_.find('\n', pos);
    if (nl == std::string::npos) {
      if (in_.size() - pos > 4096) {
        fail_local("reply line too long from " + options_.server_name);
        return;
      }
      break;
    }
    std::string_view line(in_.data() + pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = nl + 1;
    auto reply = reader_.line(line);
    if (!reply) continue;
    if (reply->code == 0) {
      fail_local("malformed reply from " + options_.server_name + ": " + std::string(line));
      return;
    }
    on_reply(*reply);
  }
  in_.erase(0, pos);
}

void ClientSession::tls_established(std::string version, std::string cipher) {
  tls_version_ = std::move(version);
  tls_cipher_ = std::move(cipher);
  if (state_ == State::kTlsHandshake) {
    caps_ = ServerCapabilities{};  // RFC 3207: forget what was said in clear
    send_ehlo();
  } else if (state_ == State::kGreeting) {
    io_.set_timeout(options_.command_timeout);  // implicit TLS: the greeting follows
  }
}

void ClientSession::tls_rejected(std::string reason) {
  if (state_ == State::kDone || state_ == State::kFailed) return;
  fail_local(std::move(reason));
}

void ClientSession::timed_out() {
  switch (state_) {
    case State::kDone:
    case State::kFailed:
      return;
    case State::kQuit:
      state_ = State::kDone;
      io_.close();
      events_.finished();
      return;
    default:
      fail_local("timeout talking to " + options_.server_name);
  }
}

void ClientSession::closed() {
  if (state_ == State::kDone || state_ == State::kFailed) return;
  if (state_ == State::kQuit) {
    state_ = State::kDone;
    events_.finished();
    return;
  }
  fail_local("lost connection with " + options_.server_name);
}

void ClientSession::fail(Reply reason) {
  state_ = State::kFailed;
  // Whatever the transaction was waiting for (a reply, the RSET after a
  // refusal), it is over: every recipient is deferred with the reason.
  if (done_) {
    // Every recipient of the broken transaction is deferred with the reason,
    // except those an LMTP server has already answered for.
    TransactionResult result(message_.recipients.size(), reason);
    if (options_.lmtp && data_sent_)
      for (size_t k = 0; k < lmtp_answered_; ++k)
        result[lmtp_accepted_[k]] = lmtp_replies_[lmtp_accepted_[k]];
    auto done = std::move(done_);
    done_ = nullptr;
    done(std::move(result));
  }
  io_.close();
  events_.failed(reason);
}

void ClientSession::fail_local(std::string text) {
  fail(local_reply(0, std::move(text)));
}

void ClientSession::send_ehlo() {
  state_ = State::kEhlo;
  io_.set_timeout(options_.command_timeout);
  send_line((options_.lmtp ? "LHLO " : "EHLO ") + options_.helo);
}

void ClientSession::parse_capabilities(const Reply& reply) {
  caps_ = ServerCapabilities{};
  caps_.esmtp = true;
  for (size_t i = 1; i < reply.lines.size(); ++i) {
    std::string_view l = reply.lines[i];
    if (iequals_prefix(l, "PIPELINING"))
      caps_.pipelining = true;
    else if (iequals_prefix(l, "STARTTLS"))
      caps_.starttls = true;
    else if (iequals_prefix(l, "8BITMIME"))
      caps_.eight_bit = true;
    else if (iequals_prefix(l, "SMTPUTF8"))
      caps_.smtputf8 = true;
    else if (iequals_prefix(l, "DSN"))
      caps_.dsn = true;
    else if (iequals_prefix(l, "SIZE")) {
      if (l.size() > 5) {
        std::string_view n = l.substr(5);
        uint64_t v = 0;
        std::from_chars(n.data(), n.data() + n.size(), v);
        caps_.size = v;
      }
    } else if (iequals_prefix(l, "AUTH")) {
      std::string upper(l);
      for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      upper += ' ';
      if (upper.find(" PLAIN ") != std::string::npos) caps_.auth_plain = true;
      if (upper.find(" LOGIN ") != std::string::npos) caps_.auth_login = true;
    }
  }
}

void ClientSession::after_ehlo() {
  bool want_tls = options_.tls == ClientTls::kOpportunistic || options_.tls == ClientTls::kRequired;
  if (!tls_active() && want_tls && caps_.starttls) {
    state_ = State::kStartTls;
    send_line("STARTTLS");
    return;
  }
  if (!tls_active() && options_.tls == ClientTls::kRequired) {
    fail_local("TLS is required but " + options_.server_name + " does not offer STARTTLS");
    return;
  }
  if (!options_.username.empty()) {
    start_auth();
    return;
  }
  become_ready();
}

void ClientSession::start_auth() {
  if (!tls_active()) {
    fail_local("refusing to send credentials to " + options_.server_name + " without TLS");
    return;
  }
  if (caps_.auth_plain) {
    state_ = State::kAuth;
    std::string token;
    token += '\0';
    token += options_.username;
    token += '\0';
    token += options_.password;
    send_line("AUTH PLAIN " + base64_encode(token));
  } else if (caps_.auth_login) {
    state_ = State::kAuthLoginUser;
    send_line("AUTH LOGIN");
  } else {
    fail_local(options_.server_name + " offers neither AUTH PLAIN nor AUTH LOGIN");
  }
}

void ClientSession::become_ready() {
  state_ = State::kReady;
  events_.ready();
}

void ClientSession::on_reply(const Reply& reply) {
  switch (state_) {
    case State::kGreeting:
    case State::kEhlo:
    case State::kHelo:
    case State::kStartTls:
      on_opening_reply(reply);
      return;
    case State::kAuth:
    case State::kAuthLoginUser:
    case State::kAuthLoginPassword:
      on_auth_reply(reply);
      return;
    case State::kTransaction:
      on_transaction_reply(reply);
      return;
    case State::kRset:
      if (reply.code / 100 != 2) {
        fail(reply);
        return;
      }
      finish_transaction();
      return;
    case State::kQuit:
      state_ = State::kDone;
      io_.close();
      events_.finished();
      return;
    case State::kReady:
      // An unsolicited reply while idle: usually 421 before a close.
      fail(reply);
      return;
    default:
      return;
  }
}

// on_opening_reply - the greeting, EHLO (or HELO for a server from before ESMTP) and STARTTLS
void ClientSession::on_opening_reply(const Reply& reply) {
  switch (state_) {
    case State::kGreeting:
      if (reply.code / 100 != 2) {
        fail(reply);
        return;
      }
      send_ehlo();
      return;
    case State::kEhlo:
      if (reply.code / 100 == 2) {
        parse_capabilities(reply);
        after_ehlo();
      } else if (reply.permanent() && !helo_fallback_ && !options_.lmtp) {
        helo_fallback_ = true;  // a server from before ESMTP
        state_ = State::kHelo;
        send_line("HELO " + options_.helo);
      } else {
        fail(reply);
      }
      return;
    case State::kHelo:
      if (reply.code / 100 != 2) {
        fail(reply);
        return;
      }
      caps_ = ServerCapabilities{};
      after_ehlo();
      return;
    case State::kStartTls:
      if (reply.code == 220) {
        state_ = State::kTlsHandshake;
        io_.start_tls();
      } else if (options_.tls == ClientTls::kRequired) {
        fail(reply);
      } else {
        // Opportunistic: the server declined; carry on in clear (RFC 3207 4.1).
        caps_.starttls = false;
        after_ehlo();
      }
      return;
    default:
      return;
  }
}

// on_auth_reply - AUTH PLAIN's answer, or AUTH LOGIN's prompts for the user and the password
void ClientSession::on_auth_reply(const Reply& reply) {
  if (state_ != State::kAuth && reply.code == 334) {
    bool user = state_ == State::kAuthLoginUser;
    state_ = user ? State::kAuthLoginPassword : State::kAuth;
    send_line(base64_encode(user ? options_.username : options_.password));
  } else if (reply.code == 235) {
    become_ready();
  } else {
    fail(reply);
  }
}

void ClientSession::send(OutboundMessage message, std::function<void(TransactionResult)> done) {
  const size_t n = message.recipients.size();
  if (caps_.size && message.data->size() > caps_.size) {
    done(TransactionResult(
        n, local_reply(552, "5.3.4 message of " + std::to_string(message.data->size()) +
                                " bytes exceeds the limit of " + std::to_string(caps_.size) +
                                " bytes announced by " + options_.server_name)));
    return;
  }
  if (message.smtputf8 && !caps_.smtputf8) {
    done(TransactionResult(
        n, local_reply(553, "5.6.7 " + options_.server_name +
                                " does not support SMTPUTF8, which this message needs")));
    return;
  }
  message_ = std::move(message);
  done_ = std::move(done);
  state_ = State::kTransaction;
  expect_.clear();
  next_rcpt_ = 0;
  rcpt_replies_ = 0;
  mail_reply_ = Reply{};
  data_reply_ = Reply{};
  rcpt_replies_list_.assign(n, Reply{});
  data_sent_ = false;
  lmtp_accepted_.clear();
  lmtp_answered_ = 0;
  lmtp_replies_.assign(n, Reply{});

  std::string mail = "MAIL FROM:<" + message_.sender + ">";
  if (caps_.size) mail += " SIZE=" + std::to_string(message_.data->size());
  if (message_.eight_bit && caps_.eight_bit) mail += " BODY=8BITMIME";
  if (message_.smtputf8) mail += " SMTPUTF8";
  if (caps_.dsn) {
    if (!message_.ret.empty()) mail += " RET=" + message_.ret;
    if (!message_.envid.empty()) mail += " ENVID=" + xtext_encode(message_.envid);
  }
  io_.set_timeout(options_.command_timeout);
  if (!caps_.pipelining) {
    expect_.push_back(Expect::kMail);
    send_line(mail);
    return;
  }
  // RFC 2920: MAIL, every RCPT and DATA in one write; replies come in order.
  std::string batch = mail + "\r\n";
  expect_.push_back(Expect::kMail);
  for (const auto& r : message_.recipients) {
    batch += "RCPT TO:<" + r.address + ">";
    if (caps_.dsn && r.notify) batch += " NOTIFY=" + notify_words(r.notify);
    if (caps_.dsn && !r.orcpt.empty()) {
      auto semi = r.orcpt.find(';');
      batch += " ORCPT=" + r.orcpt.substr(0, semi + 1) + xtext_encode(r.orcpt.substr(semi + 1));
    }
    batch += "\r\n";
    expect_.push_back(Expect::kRcpt);
  }
  batch += "DATA\r\n";
  expect_.push_back(Expect::kData);
  next_rcpt_ = n;
  io_.send(batch);
}

// Without PIPELINING: one command, one reply, in the order MAIL, RCPT..., DATA.
void ClientSession::send_next_unpipelined() {
  if (next_rcpt_ < message_.recipients.size()) {
    const auto& r = message_.recipients[next_rcpt_++];
    std::string line = "RCPT TO:<" + r.address + ">";
    if (caps_.dsn && r.notify) line += " NOTIFY=" + notify_words(r.notify);
    if (caps_.dsn && !r.orcpt.empty()) {
      auto semi = r.orcpt.find(';');
      line += " ORCPT=" + r.orcpt.substr(0, semi + 1) + xtext_encode(r.orcpt.substr(semi + 1));
    }
    expect_.push_back(Expect::kRcpt);
    send_line(line);
    return;
  }
  bool any = false;
  for (const auto& r : rcpt_replies_list_) any = any || r.positive();
  if (!any) {
    state_ = State::kRset;
    send_line("RSET");
    return;
  }
  expect_.push_back(Expect::kData);
  send_line("DATA");
}

void ClientSession::on_transaction_reply(const Reply& reply) {
  if (expect_.empty()) {
    fail(reply);
    return;
  }
  Expect what = expect_.front();
  expect_.pop_front();
  switch (what) {
    case Expect::kMail:
      mail_reply_ = reply;
      if (!caps_.pipelining) {
        if (!reply.positive()) {
          finish_transaction();
          return;
        }
        send_next_unpipelined();
      }
      return;
    case Expect::kRcpt:
      rcpt_replies_list_[rcpt_replies_++] = reply;
      if (!caps_.pipelining) send_next_unpipelined();
      return;
    case Expect::kData: {
      data_reply_ = reply;
      bool any = mail_reply_.positive();
      bool some = false;
      for (const auto& r : rcpt_replies_list_) some = some || r.positive();
      if (reply.code == 354) {
        if (any && some) {
          send_data();
        } else {
          // The server took DATA with nothing to deliver to: end it empty.
          expect_.push_back(Expect::kDot);
          data_sent_ = false;
          send_line(".");
        }
        return;
      }
      // DATA refused: a transaction may still be open on the server side.
      if (any) {
        state_ = State::kRset;
        send_line("RSET");
      } else {
        finish_transaction();
      }
      return;
    }
    case Expect::kDot:
      data_reply_ = reply;
      if (options_.lmtp && data_sent_) {
        // RFC 2033 4.2: one reply per accepted recipient, in RCPT order.
        lmtp_replies_[lmtp_accepted_[lmtp_answered_++]] = reply;
        if (lmtp_answered_ < lmtp_accepted_.size()) return;
      }
      finish_transaction();
      return;
  }
}

void ClientSession::send_data() {
  const std::string& data = *message_.data;
  std::string out;
  out.reserve(data.size() + data.size() / 64 + 8);
  // Dot-stuffing (RFC 5321 4.5.2): a line that starts with "." gets another.
  size_t pos = 0;
  while (pos < data.size()) {
    if (data[pos] == '.') out += '.';
    size_t nl = data.find('\n', pos);
    size_t end = nl == std::string::npos ? data.size() : nl + 1;
    out.append(data, pos, end - pos);
    pos = end;
  }
  if (!out.empty() && (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0))
    out += "\r\n";
  out += ".\r\n";
  if (options_.lmtp) {
    for (size_t i = 0; i < rcpt_replies_list_.size(); ++i) {
      if (!rcpt_replies_list_[i].positive()) continue;
      lmtp_accepted_.push_back(i);
      expect_.push_back(Expect::kDot);
    }
  } else {
    expect_.push_back(Expect::kDot);
  }
  data_sent_ = true;
  io_.set_timeout(options_.data_timeout);
  io_.send(out);
}

void ClientSession::finish_transaction() {
  io_.set_timeout(options_.command_timeout);
  // A refused MAIL or RCPT-less transaction that was never reset must be.
  if (state_ == State::kTransaction && mail_reply_.positive() && !data_sent_) {
    state_ = State::kRset;
    send_line("RSET");
    return;
  }
  TransactionResult result;
  result.reserve(message_.recipients.size());
  for (size_t i = 0; i < message_.recipients.size(); ++i) {
    if (!mail_reply_.positive()) {
      result.push_back(mail_reply_);
    } else if (!rcpt_replies_list_[i].positive()) {
      result.push_back(rcpt_replies_list_[i].code ? rcpt_replies_list_[i] : data_reply_);
    } else if (data_sent_) {
      result.push_back(options_.lmtp ? lmtp_replies_[i] : data_reply_);
    } else {
      result.push_back(data_reply_.code && data_reply_.code != 354
                           ? data_reply_
                           : local_reply(0, "transaction with " + options_.server_name +
                                                " ended before the message was sent"));
    }
  }
  state_ = State::kReady;
  auto done = std::move(done_);
  done_ = nullptr;
  message_ = OutboundMessage{};
  if (done) done(std::move(result));
}

void ClientSession::quit() {
  if (state_ != State::kReady) {
    io_.close();
    state_ = State::kDone;
    return;
  }
  state_ = State::kQuit;
  io_.set_timeout(std::chrono::seconds(10));
  send_line("QUIT");
}

}  // namespace hato::relay
