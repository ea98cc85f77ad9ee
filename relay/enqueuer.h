// enqueuer.h - the one door into the queue (Postfix's cleanup): mail from SMTP sessions
// (submission and inbound) and the mail Hato writes itself (DSNs, delay notices, TLS reports,
// blacklist notices) is signed where the rule says so, committed, and announced.
//
// The signing rule: mail from submission listeners and Hato's own mail is DKIM-signed when
// the keyring has a key for its header From's domain; inbound mail never is.
//
// One message, in order:
//   1. on the loop: commit() or queue_own() takes it;
//   2. on a worker, if it is to be signed: the signature is made (RSA costs about a third of a
//      millisecond, never on the loop), and the message waits for a few more being signed, so
//      the committer syncs once for the group;
//   3. the store's committer writes it (synced);
//   4. on the loop, once durable: the caller's `done`, then every listener (the "received"
//      events, the scheduler), then hato_queued_messages_total{origin}.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/loop.h"
#include "common/status.h"
#include "common/worker_pool.h"
#include "conf/config.h"
#include "policy/dkim/keyring.h"
#include "queue/events.h"
#include "queue/store.h"

namespace hato::relay {

// A message Hato writes itself (a DSN, a notice to the postmaster, a TLS report).
struct LocalMessage {
  std::string sender;  // "" for the null sender
  std::string recipient;
  bool smtputf8 = false;
  // The envelope's listener field and the metric's origin: "bounce", "delay", "tls-report",
  // "blacklist".
  std::string origin;
  // The whole message, from its Message-ID (without <>) and its date.
  std::function<std::string(const std::string& message_id, int64_t now_ms)> build;
  // Events that go with it (a DSN's "dsn_sent"), after its "received" ones; their id and
  // message_id are this message's, filled in here.
  std::vector<queue::QueueEvent> events;
};

class Enqueuer {
 public:
  Enqueuer(Loop& loop, conf::ConfigPtr config, queue::Store& store, queue::QueueIdGenerator& ids,
           WorkerPool& workers);
  Enqueuer(const Enqueuer&) = delete;
  Enqueuer& operator=(const Enqueuer&) = delete;

  // Swapped in on SIGHUP: the listeners' roles, the host name for Message-IDs, the keys.
  void set_config(conf::ConfigPtr config);
  void set_keyring(std::shared_ptr<const dkim::Keyring> keyring);

  // What listeners hear, on the loop, once a message is durable.
  struct Queued {
    queue::QueueId id;
    std::vector<std::string> recipients;
    std::string origin;  // "submission", "inbound", or the LocalMessage's origin
    // One "received" event per recipient, made when the message is handed to the store (so
    // that the same events can be written with it).
    std::vector<queue::QueueEvent> events;
    bool held = false;  // committed held (the hold rule): not to be scheduled
  };
  using Listener = std::function<void(const Queued&)>;
  // Set up before mail flows; called in the order added.
  void add_listener(Listener fn) { listeners_.push_back(std::move(fn)); }

  queue::QueueId next_id() { return ids_.next(); }

  // The commit-time decision on submitted mail (limits.brake): a reason to keep the message
  // held rather than deliver it, or "". Asked on the loop for each commit() from a submission
  // listener, whatever door it came in by; the message is still accepted and committed.
  using HoldRule = std::function<std::string(const queue::Envelope&)>;
  void set_hold_rule(HoldRule rule) { hold_rule_ = std::move(rule); }

  // Mail from an SMTP session: the role of the envelope's listener says whether it is signed
  // and its origin. `done` runs on the loop once the commit is durable (or failed).
  void commit(const queue::QueueId& id, std::string message, queue::Envelope envelope,
              std::function<void(Status)> done, queue::Store::StateRecords state = {});

  // Mail Hato writes itself: gives it an ID, builds its text, makes its envelope (client
  // "local", listener = origin) and commits it, signed. `then` runs on the loop once the
  // commit is durable (or failed, which is logged). Returns the new queue ID.
  queue::QueueId queue_own(LocalMessage message, std::function<void(Status)> then);

 private:
  // Signs (on a worker) if `sign`, then hands over to the store; `done` and the listeners
  // on the loop after.
  void enqueue(const queue::QueueId& id, std::string message, queue::Envelope envelope,
               std::string origin, bool sign, std::function<void(Status)> done,
               std::vector<queue::QueueEvent> also = {}, queue::Store::StateRecords state = {});
  // On a worker, after signing: to the store now, or with the next few.
  void hand_over_signed(queue::Store::NewMessage signed_message);
  // What the listeners will hear of a message: its recipients and "received" events (then
  // `also`).
  static Queued make_queued(const queue::QueueId& id, const queue::Envelope& envelope,
                            std::string_view message, std::string origin,
                            std::vector<queue::QueueEvent> also);
  // `done` as the committer calls it: runs on the loop, then tells the listeners.
  std::function<void(Status)> posted_to_loop(Queued queued, std::function<void(Status)> done);
  conf::ConfigPtr config() const;

  Loop& loop_;
  queue::Store& store_;
  queue::QueueIdGenerator& ids_;
  WorkerPool& workers_;
  mutable std::mutex mu_;  // config_, keyring_
  conf::ConfigPtr config_;
  std::shared_ptr<const dkim::Keyring> keyring_;

  // Signed messages held back while more wait for a signature; at most
  // kSignedBatch, so the first waits only a few signatures' time.
  static constexpr size_t kSignedBatch = 8;
  std::atomic<int> signs_waiting_{0};  // posted to the workers, not yet started
  std::mutex signed_mu_;
  std::vector<queue::Store::NewMessage> signed_;
  std::vector<Listener> listeners_;  // loop thread only
  HoldRule hold_rule_;               // loop thread only
};

}  // namespace hato::relay
