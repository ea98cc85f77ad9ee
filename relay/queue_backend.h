// queue_backend.h - the daemon's SessionServices: passwords checked on the
// worker pool, messages committed to the queue store, answers posted back to
// the session's loop.
#pragma once

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/loop.h"
#include "common/worker_pool.h"
#include "conf/config.h"
#include "policy/auth.h"
#include "policy/dkim/keyring.h"
#include "queue/store.h"
#include "relay/server_session.h"

namespace hato::relay {

class QueueBackend : public SessionServices {
 public:
  QueueBackend(Loop& loop, conf::ConfigPtr config, queue::Store& store,
               queue::QueueIdGenerator& ids, WorkerPool& workers);

  void set_config(conf::ConfigPtr config);
  // Keys for signing submitted mail; swapped in on SIGHUP.
  void set_keyring(std::shared_ptr<const dkim::Keyring> keyring);

  // Called on the loop after each durable commit (the delivery engine, `queue tail`),
  // with the message's recipients.
  using Queued = std::function<void(const queue::QueueId&, const std::vector<std::string>&)>;
  void on_queued(Queued fn) { on_queued_ = std::move(fn); }

  // Swapped in on SIGHUP; sessions already checking keep the old one.
  void set_users(std::shared_ptr<const policy::UserDb> users);

  void authenticate(const std::string& client, const std::string& user, const std::string& password,
                    std::function<void(AuthOutcome)> done) override;
  queue::QueueId next_id() override { return ids_.next(); }
  ErrorPenalty client_error(const std::string& client) override;
  void client_success(const std::string& client) override { error_guard_.success(client); }
  void after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    loop_.after(delay, std::move(fn));
  }
  // Mail from submission listeners is DKIM-signed (on a worker) before it
  // is committed, so the signature is stored with it and made once.
  void commit(const queue::QueueId& id, std::string message, queue::Envelope envelope,
              std::function<void(Status)> done) override;
  // Mail Hato writes itself (TLS-RPT reports): signed like submitted mail, whatever
  // the envelope's listener says.
  void commit_signed(const queue::QueueId& id, std::string message, queue::Envelope envelope,
                     std::function<void(Status)> done);

 private:
  void insert(const queue::QueueId& id, std::string message, queue::Envelope envelope,
              std::function<void(Status)> done);
  bool from_submission(const std::string& listener) const;
  struct Login {
    std::string user, password;
    std::function<void(AuthOutcome)> done;
  };
  // Checks a password on a worker; counted by guard_ while it runs.
  void check_login(const std::string& client, Login login);
  // A check for `client` ended: starts the ones that waited for room, or refuses them
  // all if real failures have now blocked the address.
  void start_waiting_logins(const std::string& client);
  // On a worker, after signing: to the store now, or with the next few.
  void hand_over_signed(queue::Store::NewMessage signed_message);
  // `done` as the committer calls it: runs on the loop, then tells on_queued_.
  std::function<void(Status)> posted_to_loop(const queue::QueueId& id,
                                             const queue::Envelope& envelope,
                                             std::function<void(Status)> done);

  conf::ConfigPtr config_;
  std::shared_ptr<const dkim::Keyring> keyring_;
  Loop& loop_;
  queue::Store& store_;
  queue::QueueIdGenerator& ids_;

  // Signed messages held back while more wait for a signature; at most
  // kSignedBatch, so the first waits only a few signatures' time.
  static constexpr size_t kSignedBatch = 8;
  std::atomic<int> signs_waiting_{0};  // posted to the workers, not yet started
  std::mutex signed_mu_;
  std::vector<queue::Store::NewMessage> signed_;
  WorkerPool& workers_;
  mutable std::mutex mu_;
  std::shared_ptr<const policy::UserDb> users_;
  policy::AuthGuard guard_;  // loop thread only
  // Logins beyond what guard_ lets run at once from one address, in arrival order;
  // loop thread only.
  std::map<std::string, std::deque<Login>> waiting_logins_;
  policy::FailureGuard error_guard_;  // inbound clients' error replies; loop thread only
  Queued on_queued_;
};

}  // namespace hato::relay
