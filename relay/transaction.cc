// transaction.cc - one mail transaction, whichever protocol carries it.
#include "relay/transaction.h"

#include <strings.h>

#include <ctime>

#include "common/log.h"
#include "common/strings.h"
#include "inbound/maildir.h"
#include "relay/relay_metrics.h"

namespace hato::relay {

namespace {

using policy::Phase;
using policy::Verdict;

// Whether the header block of `message` has a field called `name`.
bool has_header(std::string_view message, std::string_view name) {
  size_t pos = 0;
  while (pos < message.size()) {
    size_t eol = message.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = message.size();
    std::string_view line = message.substr(pos, eol - pos);
    if (line.empty()) return false;  // end of headers
    if (line.size() > name.size() && line[name.size()] == ':' &&
        strncasecmp(line.data(), name.data(), name.size()) == 0)
      return true;
    pos = eol + 2;
  }
  return false;
}

// Who a recipient's copy goes to, so that one transaction delivers one copy each: a local
// mailbox once aliases, "+tag" and case are resolved; elsewhere the address with its domain
// in lower case (RFC 5321 2.4: only the remote host may read its local part's case).
std::string delivery_key(const conf::Config& config, const std::string& address) {
  if (auto box = inbound::resolve_mailbox(config, address))
    return "\n" + box->domain + "/" + box->mailbox;  // no address holds a line break
  auto at = address.rfind('@');
  if (at == std::string::npos) return address;
  return address.substr(0, at + 1) + ascii_lower(std::string_view(address).substr(at + 1));
}

}  // namespace

void Transaction::reset() {
  open_ = false;
  mail_ = MailParams{};
  tx_ = policy::TransactionState{};
  rcpts_.clear();
  rcpt_keys_.clear();
  body_.clear();
}

void Transaction::run_hooks(const conf::Config& config, Phase phase, Done done) {
  if (hooks_.empty(phase)) {
    done(Verdict::proceed());
    return;
  }
  policy::HookContext context{session_,      config, mail_.address,
                              rcpt_pending_, tx_,    phase == Phase::kData ? &body_ : nullptr};
  hooks_.run(phase, context, std::move(done));
}

void Transaction::mail(const conf::Config& config, MailParams params, Done done) {
  if (params.size && *params.size > config.limits.max_message_size) {
    done(Verdict::reply(552, "5.3.4 Message size exceeds fixed maximum message size"));
    return;
  }
  reset();
  mail_ = std::move(params);
  run_hooks(config, Phase::kMail, [this, done = std::move(done)](Verdict v) {
    open_ = v.kind == Verdict::Kind::kContinue;
    if (!open_) mail_ = MailParams{};  // no transaction was opened
    done(std::move(v));
  });
}

void Transaction::rcpt(const conf::Config& config, RcptParams params, Done done) {
  if (!mail_.smtputf8 && !is_ascii(params.address)) {
    done(Verdict::reply(553, "5.6.7 Non-ASCII address needs SMTPUTF8"));
    return;
  }
  if (params.address.find('@') == std::string::npos) {
    // <Postmaster> alone: ours, at our first domain (or our host name).
    params.address =
        "postmaster@" + (config.domains.empty() ? config.hostname : config.domains[0].name);
  }
  // A repeated recipient is accepted (as Postfix answers) but gets no second copy: 1,000
  // RCPTs of one address must not turn one message into 1,000 deliveries.
  std::string key = delivery_key(config, params.address);
  if (rcpt_keys_.count(key)) {
    done(Verdict::proceed());
    return;
  }
  rcpt_pending_ = params.address;
  run_hooks(config, Phase::kRcpt,
            [this, params = std::move(params), key = std::move(key),
             done = std::move(done)](Verdict v) mutable {
              if (v.kind == Verdict::Kind::kContinue) {
                rcpt_keys_.insert(std::move(key));
                queue::Recipient r;
                r.address = params.address;
                r.orcpt = params.orcpt;
                r.notify = params.notify;
                rcpts_.push_back(std::move(r));
                tx_.recipients.push_back(params.address);
              }
              done(std::move(v));
            });
}

std::string Transaction::trace_head(const conf::Config& config, const queue::QueueId& id) const {
  time_t now = time(nullptr);
  const policy::SessionInfo& s = session_;
  const char* proto =
      s.auth_user.empty() ? (s.tls ? "ESMTPS" : "ESMTP") : (s.tls ? "ESMTPSA" : "ESMTPA");
  if (mail_.smtputf8)
    proto = s.auth_user.empty() ? (s.tls ? "UTF8SMTPS" : "UTF8SMTP")
                                : (s.tls ? "UTF8SMTPSA" : "UTF8SMTPA");
  if (s.role == conf::ListenerRole::kHttp) proto = "HTTPSA";  // RFC 3848 has no word for it
  std::string head = "Received: from " + s.helo + " ([" + s.peer.ip() + "])\r\n\tby " +
                     config.hostname + " (Hato) with " + proto + " id " + id.str();
  if (s.tls) head += "\r\n\t(using " + s.tls_version + " with cipher " + s.tls_cipher + ")";
  if (rcpts_.size() == 1) head += "\r\n\tfor <" + rcpts_.front().address + ">";
  head += "; " + log::rfc5322(int64_t{now} * 1000) + "\r\n";
  if (!tx_.auth_results.empty()) {
    // RFC 8601: our host name is the authserv-id; one clause per method.
    head += "Authentication-Results: " + config.hostname;
    for (const auto& clause : tx_.auth_results) head += ";\r\n\t" + clause;
    head += "\r\n";
  }
  for (const auto& field : tx_.add_headers) head += field;
  // RFC 6409 section 8: a submission server completes what the client left out.
  if (!has_header(body_, "Message-ID"))
    head += "Message-ID: <" + id.str() + "@" + config.hostname + ">\r\n";
  if (!has_header(body_, "Date")) head += "Date: " + log::rfc5322(int64_t{now} * 1000) + "\r\n";
  return head;
}

queue::Envelope Transaction::take_envelope(const std::string& message) {
  queue::Envelope env;
  env.sender = mail_.address;
  env.recipients = std::move(rcpts_);
  env.created_ms = log::now_ms();
  env.next_attempt_ms = env.created_ms;
  env.size = message.size();
  env.ret = mail_.ret;
  env.envid = mail_.envid;
  env.smtputf8 = mail_.smtputf8;
  env.eight_bit = mail_.eight_bit;
  env.auth_user = session_.auth_user;
  env.client = session_.helo + " [" + session_.peer.ip() + "]";
  env.listener = session_.listener;
  env.folder = tx_.folder;
  return env;
}

void Transaction::commit(const conf::Config& config, Committed done, Records records) {
  tx_.queue_id = committer_.next_id().str();  // the kData hooks log under it
  run_hooks(config, Phase::kData,
            [this, config = &config, done = std::move(done),
             records = std::move(records)](Verdict v) mutable {
              if (v.kind != Verdict::Kind::kContinue) {
                reset();  // a refused message leaves nothing behind for the next one
                done(std::move(v), "");
                return;
              }
              store(*config, std::move(done), records);
            });
}

void Transaction::store(const conf::Config& config, Committed done, const Records& records) {
  auto drawn = queue::QueueId::parse(tx_.queue_id);
  queue::QueueId id = drawn ? *drawn : committer_.next_id();
  std::string message = trace_head(config, id);
  message.append(body_);
  queue::Envelope env = take_envelope(message);
  reset();
  queue::Store::StateRecords state;
  if (records) state = records(id.str());
  auto answer = [this, id, nrcpt = env.recipients.size(), sender = env.sender, size = env.size,
                 done = std::move(done)](Status status) {
    std::string sid = id.str();
    if (!status.is_ok()) {
      log::error("queue write failed",
                 {{"id", sid}, {"peer", session_.peer.to_string()}, {"reason", status.message()}});
      // A full disk is the sender's cue to come back later (RFC 3463 4.3.1).
      bool full = status.code() == Code::kNoSpace;
      done(full ? Verdict::reply(452, "4.3.1 Insufficient system storage, try again later")
                : Verdict::reply(451, "4.3.0 Error: queue write failed, try again later"),
           sid);
      return;
    }
    log::info("accepted", {{"id", sid},
                           {"from", sender},
                           {"rcpts", std::to_string(nrcpt)},
                           {"size", std::to_string(size)},
                           {"peer", session_.peer.to_string()},
                           {"user", session_.auth_user}});
    m::received(session_.listener).inc();
    done(Verdict::proceed(), sid);
  };
  committer_.commit(id, std::move(message), std::move(env), std::move(answer), std::move(state));
}

}  // namespace hato::relay
