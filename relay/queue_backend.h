// queue_backend.h - the daemon's SessionServices: passwords checked on the
// worker pool, answers posted back to the session's loop, and messages handed
// to the Enqueuer (relay/enqueuer.h), the one door into the queue.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/loop.h"
#include "common/worker_pool.h"
#include "conf/config.h"
#include "policy/auth.h"
#include "policy/auth_cache.h"
#include "relay/enqueuer.h"
#include "relay/server_session.h"

namespace hato::relay {

class QueueBackend : public SessionServices {
 public:
  QueueBackend(Loop& loop, conf::ConfigPtr config, Enqueuer& enqueuer, WorkerPool& workers);

  void set_config(conf::ConfigPtr config);

  // Swapped in on SIGHUP and when the file changes; sessions already checking keep the old
  // one. Empties the login cache.
  void set_users(std::shared_ptr<const policy::UserDb> users);

  // Hears each successful login, on the loop, with the client's address (the brake logs
  // those of frozen users).
  using LoginWatch = std::function<void(const std::string& client, const std::string& user)>;
  void set_login_watch(LoginWatch watch) { login_watch_ = std::move(watch); }

  void authenticate(const std::string& client, const std::string& user, const std::string& password,
                    std::function<void(AuthOutcome)> done) override;
  queue::QueueId next_id() override { return enqueuer_.next_id(); }
  ErrorPenalty client_error(const std::string& client) override;
  void client_success(const std::string& client) override { error_guard_.success(client); }
  void after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    loop_.after(delay, std::move(fn));
  }
  // Through the Enqueuer, which signs mail from submission listeners.
  void commit(const queue::QueueId& id, std::string message, queue::Envelope envelope,
              std::function<void(Status)> done, queue::Store::StateRecords state) override {
    enqueuer_.commit(id, std::move(message), std::move(envelope), std::move(done),
                     std::move(state));
  }

 private:
  struct Login {
    std::string user, password;
    std::function<void(AuthOutcome)> done;
  };
  // A login the cache vouches for: answered now, no crypt(3).
  bool cached_login(const std::string& client, Login& login);
  // Checks a password on a worker; counted by guard_ while it runs.
  void check_login(const std::string& client, Login login);
  // A check said yes: guard_ and the watch hear of it, the session gets its 235.
  void login_ok(const std::string& client, const std::string& user,
                const std::function<void(AuthOutcome)>& done);
  // A check for `client` ended: starts the ones that waited for room, or refuses them
  // all if real failures have now blocked the address.
  void start_waiting_logins(const std::string& client);

  Loop& loop_;
  Enqueuer& enqueuer_;
  WorkerPool& workers_;
  std::mutex mu_;  // users_, cache_
  std::shared_ptr<const policy::UserDb> users_;
  policy::AuthCache cache_;
  policy::AuthGuard guard_;  // loop thread only
  // Logins beyond what guard_ lets run at once from one address, in arrival order;
  // loop thread only.
  std::map<std::string, std::deque<Login>> waiting_logins_;
  LoginWatch login_watch_;            // loop thread only
  policy::FailureGuard error_guard_;  // inbound clients' error replies; loop thread only
};

}  // namespace hato::relay
