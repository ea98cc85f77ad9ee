// queue_backend.cc - authentication on workers, commits through the store.
#include "relay/queue_backend.h"

#include <ctime>

#include "common/log.h"
#include "policy/mail/message_header.h"
#include "relay/relay_metrics.h"

namespace hato::relay {

QueueBackend::QueueBackend(Loop& loop, conf::ConfigPtr config, queue::Store& store,
                           queue::QueueIdGenerator& ids, WorkerPool& workers)
    : config_(std::move(config)),
      loop_(loop),
      store_(store),
      ids_(ids),
      workers_(workers),
      error_guard_(policy::error_brake(config_->inbound.limits.error_slowdown)) {}

void QueueBackend::set_keyring(std::shared_ptr<const dkim::Keyring> keyring) {
  std::lock_guard<std::mutex> lock(mu_);
  keyring_ = std::move(keyring);
}

void QueueBackend::set_config(conf::ConfigPtr config) {
  error_guard_.set_brake(policy::error_brake(config->inbound.limits.error_slowdown));
  std::lock_guard<std::mutex> lock(mu_);
  config_ = std::move(config);
}

ErrorPenalty QueueBackend::client_error(const std::string& client) {
  ErrorPenalty penalty;
  penalty.delay = error_guard_.failure(client);
  penalty.block = error_guard_.blocked(client);
  return penalty;
}

bool QueueBackend::from_submission(const std::string& listener) const {
  conf::ConfigPtr config;
  {
    std::lock_guard<std::mutex> lock(mu_);
    config = config_;
  }
  for (const auto& l : config->listeners)
    if (l.name == listener) return l.role == conf::ListenerRole::kSubmission;
  return false;
}

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
  Login login{user, password, std::move(done)};
  // A pool of clients logging in at once must not look like guessing: checks beyond what
  // the brake allows in flight wait for the ones before them, instead of being refused.
  auto waiting = waiting_logins_.find(client);
  if (!guard_.may_begin(client) || waiting != waiting_logins_.end()) {
    waiting_logins_[client].push_back(std::move(login));
    return;
  }
  check_login(client, std::move(login));
}

void QueueBackend::check_login(const std::string& client, Login login) {
  std::shared_ptr<const policy::UserDb> users;
  {
    std::lock_guard<std::mutex> lock(mu_);
    users = users_;
  }
  guard_.begin(client);
  workers_.post([this, users, client, login = std::move(login)]() mutable {
    bool ok = users && users->verify(login.user, login.password);
    loop_.post([this, ok, client, done = std::move(login.done)] {
      guard_.end(client);
      if (ok) {
        guard_.success(client);
        done(AuthOutcome{true, false});
      } else {
        auto delay = guard_.failure(client);
        loop_.after(delay, [done] { done(AuthOutcome{false, false}); });
      }
      start_waiting_logins(client);
    });
  });
}

void QueueBackend::start_waiting_logins(const std::string& client) {
  auto it = waiting_logins_.find(client);
  if (it == waiting_logins_.end()) return;
  auto& queue = it->second;
  while (!queue.empty()) {
    if (guard_.blocked(client)) {
      for (auto& login : queue) {
        loop_.after(std::chrono::seconds(2), [done = std::move(login.done)] {
          done(AuthOutcome{false, true});
        });
      }
      queue.clear();
      break;
    }
    if (!guard_.may_begin(client)) return;
    Login login = std::move(queue.front());
    queue.pop_front();
    check_login(client, std::move(login));
  }
  waiting_logins_.erase(it);
}

void QueueBackend::commit(const queue::QueueId& id, std::string message, queue::Envelope envelope,
                          std::function<void(Status)> done) {
  if (!from_submission(envelope.listener)) {
    insert(id, std::move(message), std::move(envelope), std::move(done));
    return;
  }
  commit_signed(id, std::move(message), std::move(envelope), std::move(done));
}

void QueueBackend::commit_signed(const queue::QueueId& id, std::string message,
                                 queue::Envelope envelope, std::function<void(Status)> done) {
  std::shared_ptr<const dkim::Keyring> keyring;
  {
    std::lock_guard<std::mutex> lock(mu_);
    keyring = keyring_;
  }
  if (!keyring || keyring->domains() == 0) {
    insert(id, std::move(message), std::move(envelope), std::move(done));
    return;
  }
  // RSA signing costs about a third of a millisecond: never on the loop.
  signs_waiting_.fetch_add(1);
  workers_.post([this, keyring, id, message = std::move(message), envelope = std::move(envelope),
                 done = std::move(done)]() mutable {
    signs_waiting_.fetch_sub(1);
    std::string domain = dkim::from_domain(message);
    const dkim::Signer* signer = domain.empty() ? nullptr : keyring->signer_for(domain);
    // Submission refuses such headers (policy::HeaderSyntaxHook); whatever else reaches us
    // unreadable is not signed either, as no verifier would read it as we do.
    auto unreadable = mail::check_header_section(message);
    if (signer && unreadable) {
      log::warning("not signed", {{"id", id.str()}, {"reason", unreadable->describe()}});
    } else if (signer) {
      auto fields = signer->sign(message, time(nullptr));
      if (fields) {
        message.insert(0, *fields);
        envelope.size = message.size();
        m::dkim_signatures().inc(signer->keys().size());
      } else {
        log::warning("not signed",
                     {{"id", id.str()}, {"domain", domain}, {"reason", fields.message()}});
      }
    }
    hand_over_signed({id, std::move(message), std::move(envelope), std::move(done)});
  });
}

void QueueBackend::hand_over_signed(queue::Store::NewMessage signed_message) {
  std::vector<queue::Store::NewMessage> ready;
  {
    std::lock_guard<std::mutex> lock(signed_mu_);
    signed_.push_back(std::move(signed_message));
    // While more messages wait for a signature, this one waits with them (a
    // few at most), so the committer syncs once for the group rather than once
    // per message. The worker that takes the last waiting message hands over all.
    if (signs_waiting_.load() > 0 && signed_.size() < kSignedBatch) return;
    ready.swap(signed_);
  }
  for (auto& m : ready) m.done = posted_to_loop(m.id, m.envelope, std::move(m.done));
  store_.insert_all(std::move(ready));
}

std::function<void(Status)> QueueBackend::posted_to_loop(const queue::QueueId& id,
                                                         const queue::Envelope& envelope,
                                                         std::function<void(Status)> done) {
  std::vector<std::string> rcpts;
  rcpts.reserve(envelope.recipients.size());
  for (const auto& r : envelope.recipients) rcpts.push_back(r.address);
  return [this, id, rcpts = std::move(rcpts), done = std::move(done)](Status status) mutable {
    loop_.post([this, id, rcpts = std::move(rcpts), done = std::move(done), status]() {
      done(status);
      if (status.is_ok() && on_queued_) on_queued_(id, rcpts);
    });
  };
}

void QueueBackend::insert(const queue::QueueId& id, std::string message, queue::Envelope envelope,
                          std::function<void(Status)> done) {
  auto queued = posted_to_loop(id, envelope, std::move(done));
  store_.insert(id, std::move(message), std::move(envelope), std::move(queued));
}

}  // namespace hato::relay
