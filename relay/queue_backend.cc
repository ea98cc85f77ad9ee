// queue_backend.cc - authentication on workers, commits through the store.
#include "relay/queue_backend.h"

namespace hato::relay {

QueueBackend::QueueBackend(Loop& loop, queue::Store& store, queue::QueueIdGenerator& ids,
                           WorkerPool& workers)
    : loop_(loop), store_(store), ids_(ids), workers_(workers) {}

void QueueBackend::set_users(std::shared_ptr<const policy::UserDb> users) {
  std::lock_guard<std::mutex> lock(mu_);
  users_ = std::move(users);
}

void QueueBackend::authenticate(const std::string& client, const std::string& user,
                                const std::string& password,
                                std::function<void(AuthOutcome)> done) {
  if (guard_.blocked(client)) {
    // Still slow, so a guesser gains nothing by hammering.
    loop_.after(std::chrono::seconds(2), [done] { done(AuthOutcome{false, true}); });
    return;
  }
  std::shared_ptr<const policy::UserDb> users;
  {
    std::lock_guard<std::mutex> lock(mu_);
    users = users_;
  }
  workers_.post([this, users, client, user, password, done = std::move(done)] {
    bool ok = users && users->verify(user, password);
    loop_.post([this, ok, client, done] {
      if (ok) {
        guard_.success(client);
        done(AuthOutcome{true, false});
        return;
      }
      auto delay = guard_.failure(client);
      loop_.after(delay, [done] { done(AuthOutcome{false, false}); });
    });
  });
}

void QueueBackend::commit(const queue::QueueId& id, std::string message, queue::Envelope envelope,
                          std::function<void(Status)> done) {
  store_.insert(id, std::move(message), std::move(envelope),
                [this, id, done = std::move(done)](Status status) mutable {
                  loop_.post([this, id, done = std::move(done), status]() {
                    done(status);
                    if (status.is_ok() && on_queued_) on_queued_(id);
                  });
                });
}

}  // namespace hato::relay
