// transaction.h - one mail transaction (sender, recipients, message, durable commit) as every
// protocol that takes mail drives it: an SMTP session (MAIL, RCPT, DATA) and the HTTP API
// (POST /v1/messages) run the same checks, the same hook chain, add the same trace headers and
// answer only once the queue's commit is durable. A message is treated alike whichever door it
// came through.
//
// Each step answers through a callback with a Verdict: Continue is "accepted" (SMTP's 250),
// otherwise the reply that refuses the step. Hooks may answer later on the loop; the owner
// keeps the Transaction alive until the callback runs (capture a shared_ptr to the owner in
// it), keeps the conf::Config it passes alive as long, and starts no other step meanwhile.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "conf/config.h"
#include "policy/hook.h"
#include "queue/envelope.h"
#include "queue/queue_id.h"
#include "queue/store.h"
#include "relay/smtp_command.h"

namespace hato::relay {

// Where a transaction's message goes once taken: queue IDs and the durable commit.
class Committer {
 public:
  virtual ~Committer() = default;
  virtual queue::QueueId next_id() = 0;
  // Durably queues the message, with `state` records in the same write; `done` runs on the
  // caller's loop.
  virtual void commit(const queue::QueueId& id, std::string message, queue::Envelope envelope,
                      std::function<void(Status)> done, queue::Store::StateRecords state) = 0;
};

class Transaction {
 public:
  using Done = std::function<void(policy::Verdict)>;
  // Accepted: Continue with the queue ID; refused: the reply.
  using Committed = std::function<void(policy::Verdict, const std::string& queue_id)>;

  // `session` is read by the hooks and for the trace header; it outlives the transaction.
  Transaction(Committer& committer, const policy::HookChain& hooks,
              const policy::SessionInfo& session)
      : committer_(committer), hooks_(hooks), session_(session) {}

  // MAIL FROM: the size it announces, then the kMail hooks.
  void mail(const conf::Config& config, MailParams params, Done done);
  // RCPT TO: the address's form, then the kRcpt hooks. A recipient who already has a copy
  // (the same mailbox after aliases, "+tag" and case) is accepted without a second one.
  void rcpt(const conf::Config& config, RcptParams params, Done done);
  // The message as received: header and body, CRLF lines, without Hato's trace headers.
  std::string& body() { return body_; }
  // Draws the queue ID, runs the kData hooks on body(), adds the trace headers and commits.
  // The transaction is empty again when `done` runs. The state records `records` makes from
  // the queue ID are written in the same durable write as the message (the HTTP API's
  // idempotency record).
  using Records = std::function<queue::Store::StateRecords(const std::string& queue_id)>;
  void commit(const conf::Config& config, Committed done, Records records = {});
  // Forgets everything (RSET, a new EHLO, a refused message).
  void reset();

  // Runs a phase's hooks with this transaction's context (kConnect, kHelo: an empty one).
  void run_hooks(const conf::Config& config, policy::Phase phase, Done done);

  bool open() const { return open_; }  // MAIL accepted
  size_t recipients() const { return rcpts_.size(); }
  const MailParams& mail_params() const { return mail_; }

 private:
  // After the kData hooks: the trace headers, then the durable commit.
  void store(const conf::Config& config, Committed done, const Records& records);
  std::string trace_head(const conf::Config& config, const queue::QueueId& id) const;
  queue::Envelope take_envelope(const std::string& message);  // moves the recipients out

  Committer& committer_;
  const policy::HookChain& hooks_;
  const policy::SessionInfo& session_;
  bool open_ = false;
  MailParams mail_;
  policy::TransactionState tx_;
  std::string rcpt_pending_;  // the RCPT address being decided by hooks
  std::vector<queue::Recipient> rcpts_;
  std::set<std::string> rcpt_keys_;  // delivery_key() of each, so none is added twice
  std::string body_;
};

}  // namespace hato::relay
