// delivery.h - the outbound side: takes due messages from the scheduler,
// routes each recipient (MX via the resolver, or the smarthost), delivers over
// ClientSessions, and records every result in the store: delivered, deferred
// with its next attempt, or bounced with a DSN to the sender.
//
// The engine is the queue manager (Postfix's qmgr, OpenSMTPD's mta): it owns the schedule,
// the destinations and their connection pool. Around it, each in its own file:
//   routing.h       the MX answer as ordered hosts (pure)
//   tls_policy.h    what TLS a host requires: config, MTA-STS, DANE (pure)
//   attempt.h       one connection's state machine, from DNS to QUIT
//   connector.h     where connections come from (TCP and TLS; a fake in tests)
//   local_delivery.h  Maildir delivery on the worker pool
//   delivery_results.cc  results written back, DSNs and delay notices
//   delivery_control.cc  the operator's hold, release, flush, delete, bounce
//
// One pass of the engine, in order:
//   1. take due IDs from the Scheduler (bounded by the messages in flight);
//   2. load each envelope and message from the Store, split the pending
//      recipients into Jobs by destination (a domain, or the smarthost, or a
//      local domain's LMTP server; other local recipients go to the Maildir
//      writer on a worker);
//   3. each Destination opens up to N connections (Attempts); an Attempt
//      resolves MX then addresses, connects host by host until a session is
//      ready, then sends Jobs from its destination's queue one after another;
//   4. when all Jobs of a message are back, the message is finalised: DSNs
//      are queued first, then the envelope is updated (or removed) in one
//      synced write, and the message is scheduled again if anything is left.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/loop.h"
#include "conf/config.h"
#include "net/resolver.h"
#include "policy/bounce_rules.h"
#include "policy/limiter.h"
#include "policy/retry.h"
#include "policy/suppression.h"
#include "queue/control.h"
#include "queue/events.h"
#include "queue/scheduler.h"
#include "queue/store.h"
#include "relay/bounce.h"
#include "relay/client_session.h"
#include "relay/connection_plan.h"
#include "relay/connector.h"
#include "relay/delivery_types.h"
#include "relay/enqueuer.h"
#include "relay/local_delivery.h"

namespace hato::relay {

class Attempt;
class DmarcReports;
class StsPolicySource;
class TlsReporter;

class DeliveryEngine : public queue::QueueControl, private AttemptOwner {
 public:
  // Connections come from `connector`, local mailboxes are written by `local`: the real
  // ones in the daemon, fakes in the engine's unit tests. DSNs and delay notices are queued
  // through `enqueuer`.
  DeliveryEngine(Loop& loop, conf::ConfigPtr config, queue::Store& store, Enqueuer& enqueuer,
                 net::Resolver& resolver, Connector& connector, LocalDelivery& local,
                 queue::EventBus& events, policy::Limiter* limiter = nullptr,
                 DeliveryOptions options = {});
  ~DeliveryEngine() override;
  DeliveryEngine(const DeliveryEngine&) = delete;
  DeliveryEngine& operator=(const DeliveryEngine&) = delete;

  // Rebuilds the schedule from the store and starts the timer.
  Status start();
  // MTA-STS policies for MX delivery (RFC 8461); null: not applied.
  void set_mta_sts(StsPolicySource* sts) { sts_ = sts; }
  // Counts each MX session's TLS result for TLS-RPT (RFC 8460); null: not counted.
  void set_tls_reporter(TlsReporter* reporter) { tlsrpt_ = reporter; }
  // Reads DMARC aggregate reports delivered to dmarc_reports.rua; null: not read.
  void set_dmarc_reports(DmarcReports* reports) { dmarc_reports_ = reports; }
  // Hard failures whose category is in suppression.on add an entry here, and with
  // suppression.at_submission: bounce, submitted mail to a suppressed address is bounced
  // at once; null: no suppression list.
  void set_suppression(policy::SuppressionList* list) { suppression_ = list; }
  // A reloaded configuration: retry timing, smarthost, TLS policy, local
  // domains, warm-up schedules. Attempts under way finish with what they started with;
  // mail waiting for a limiter window (warm-up, suspension) is considered again now.
  Status set_config(conf::ConfigPtr config);
  // A message was committed (or changed): deliver it at due_ms.
  void schedule(const queue::QueueId& id, int64_t due_ms);
  void unschedule(const queue::QueueId& id);
  size_t scheduled() const { return scheduler_.size(); }
  size_t in_flight() const { return in_flight_.size(); }
  size_t held() const { return held_; }
  // A message was committed held (Enqueuer::Queued::held): counted, never scheduled.
  void committed_held() { ++held_; }

  // QueueControl. For a message being delivered right now the operation
  // waits until its attempt ends, so no result is lost or applied twice.
  Status hold(const queue::QueueId& id) override;
  Status release(const queue::QueueId& id) override;
  Status flush(const queue::QueueId& id) override;
  size_t flush_all() override;
  Status remove(const queue::QueueId& id) override;
  Status bounce(const queue::QueueId& id) override;

 private:
  // AttemptOwner
  bool stopping() const override { return stopping_; }
  void fail_queued(Destination& dest, int code, const std::string& text, const std::string& host,
                   const TlsFacts& tls) override;
  // Records the replies for a job's recipients; `host` is "name[ip]:port".
  void record(Job& job, const TransactionResult& replies, const std::string& host,
              const TlsFacts& tls) override;
  // Gives each queued job of dest without an egress address its address (per message).
  void assign_egress(Destination& dest) override;
  // The address `egress` chosen for some of dest's queued mail may not connect or send now
  // (`wait` says why). Blocked (suspended, allowance spent, out of rotation): that mail is
  // given an address again, or waits. Only out of connection slots: another address with a
  // free slot takes that mail and is returned (for the connection asking); else it waits.
  std::optional<policy::EgressChoice> egress_refused(Destination& dest, size_t egress,
                                                     const policy::Wait& wait) override;
  void dispatch(Destination& dest) override;
  void attempt_done(Attempt* attempt) override;
  void attempt_closed(Attempt* attempt) override;

  void arm();
  void pump();
  void start_message(const queue::QueueId& id);
  void deliver_local(std::shared_ptr<MessageWork> work, std::vector<size_t> local);
  // Publishes the results recorded for work since its last write to the store.
  void announce(MessageWork& work);
  // Defers the jobs queued for dest that `which` selects until the limiter's window opens.
  void wait_queued(Destination& dest, const policy::Wait& wait,
                   const std::function<bool(const Job&)>& which);
  // Per egress address of dest: its queued mail, its connections and their cap.
  std::vector<EgressDemand> egress_demand(const Destination& dest) const;
  void finalize(std::shared_ptr<MessageWork> work);
  // Pending recipients past the retry limit: expired, with a failure report for each.
  void expire_pending(MessageWork& work, int64_t now);
  // The first time mail has waited long enough: a delay notice to the sender (queued now).
  void warn_delay(MessageWork& work, int64_t now);
  // An operator action that waited for the message's attempt: true when it took over.
  bool apply_pending_op(std::shared_ptr<MessageWork> work, bool pending, bool* flush_now);
  void write_back(std::shared_ptr<MessageWork> work);
  void queue_dsn(const MessageWork& work, std::vector<DsnRecipient> recipients,
                 std::function<void()> then);
  // A message delivered to `rcpt`: a report when that is complaints.address or
  // dmarc_reports.rua (relay/complaints.cc).
  void take_reports(MessageWork& work, const std::string& rcpt);
  // A message delivered to complaints.address: a feedback report suppresses the recipient
  // it complains about, is counted and announced (relay/complaints.cc).
  void take_complaint(MessageWork& report);
  // Our own failed report (`work` is a DSN or delay notice) to the sender domain's postmaster.
  void queue_double_bounce(MessageWork& work, std::vector<DsnRecipient> recipients,
                           std::function<void()> then);
  Destination& destination_for(const std::string& name, bool smarthost,
                               const std::optional<SocketAddress>& lmtp);
  bool is_local(const std::string& domain) const;
  // The provider of an MX host for bounce categories and their metric: the limiter's (with
  // the configured MX suffixes), else the bounce rules' own table; "" when unknown.
  std::string provider_of(const std::string& host) const;
  void count_delivered(const std::string& host, const std::string& rcpt, int64_t now);
  // With suppression.at_submission: bounce, the pending recipients of submitted mail that
  // the suppression list holds back: each gets a 550 now, as a job of its own.
  std::vector<size_t> suppressed_now(const MessageWork& work);
  void bounce_suppressed(std::shared_ptr<MessageWork> work, std::vector<size_t> which);
  // The events' JSON for the webhooks' outbox, written with the change they describe; none
  // when no webhook is configured.
  queue::OutboxEvents outbox(const std::vector<queue::QueueEvent>& events) const;
  // An event about work's message: ID, Message-ID, sender, user, listener filled in.
  queue::QueueEvent message_event(const MessageWork& work, const char* event, int64_t now) const;
  // An operator's action on a message not in flight (its Message-ID read from the store).
  queue::QueueEvent operator_event(const char* event, const queue::QueueId& id,
                                   const queue::Envelope& envelope, const std::string& response);
  // Fails every pending recipient with `text` (bounce by the operator).
  void fail_pending(MessageWork& work, const std::string& text);

  Loop& loop_;
  conf::ConfigPtr config_;
  queue::Store& store_;
  Enqueuer& enqueuer_;
  net::Resolver& resolver_;
  Connector& connector_;
  LocalDelivery& local_;
  queue::EventBus& events_;
  policy::Limiter* limiter_;  // null: no egress addresses, no shaping
  StsPolicySource* sts_ = nullptr;
  TlsReporter* tlsrpt_ = nullptr;
  DmarcReports* dmarc_reports_ = nullptr;
  DeliveryOptions options_;
  policy::RetryPolicy retry_;
  policy::BounceRules bounces_;
  policy::SuppressionList* suppression_ = nullptr;
  std::string smarthost_password_;

  queue::Scheduler scheduler_;
  Timer timer_;
  std::unordered_set<queue::QueueId, queue::QueueIdHash> in_flight_;
  std::map<std::string, std::unique_ptr<Destination>> destinations_;
  std::unordered_set<Attempt*> attempts_;
  // Attempts whose work is done but whose session still waits for the 221 to its QUIT
  // (and sends close_notify after it): freed when it comes or the QUIT timeout ends.
  std::unordered_set<Attempt*> closing_;
  size_t active_connections_ = 0;
  size_t held_ = 0;
  // Operator requests for messages in flight, applied when their attempt ends.
  enum class Pending { kNone, kHold, kRemove, kBounce, kFlush };
  std::unordered_map<queue::QueueId, Pending, queue::QueueIdHash> pending_ops_;
  // Deferred past their retry time by the limiter (a warm-up allowance spent, a suspension):
  // a reload may have changed the answer, so it makes them due again.
  std::unordered_set<queue::QueueId, queue::QueueIdHash> limiter_waits_;
  bool stopping_ = false;
};

}  // namespace hato::relay
