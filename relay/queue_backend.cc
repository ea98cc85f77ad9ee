// queue_backend.cc - authentication on workers; commits go through the Enqueuer.
#include "relay/queue_backend.h"

#include "common/log.h"
#include "common/metrics.h"

namespace hato::relay {

namespace {
Counter& cache_lookups(const char* result) {
  return metrics().counter("hato_auth_cache_total",
                           "Submission logins looked up in the login cache (auth.cache_ttl), by "
                           "result: hit (no crypt(3) check) or miss",
                           std::string("result=\"") + result + "\"");
}
}  // namespace

QueueBackend::QueueBackend(Loop& loop, conf::ConfigPtr config, Enqueuer& enqueuer,
                           WorkerPool& workers)
    : loop_(loop),
      enqueuer_(enqueuer),
      workers_(workers),
      cache_(config->auth.cache_ttl, config->auth.cache_size),
      error_guard_(policy::error_brake(config->inbound.limits.error_slowdown)) {
  // Listed on /metrics at 0 before the first login.
  cache_lookups("hit");
  cache_lookups("miss");
}

void QueueBackend::set_config(conf::ConfigPtr config) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cache_.set_limits(config->auth.cache_ttl, config->auth.cache_size);
  }
  error_guard_.set_brake(policy::error_brake(config->inbound.limits.error_slowdown));
}

ErrorPenalty QueueBackend::client_error(const std::string& client) {
  ErrorPenalty penalty;
  penalty.delay = error_guard_.failure(client);
  penalty.block = error_guard_.blocked(client);
  return penalty;
}

void QueueBackend::set_users(std::shared_ptr<const policy::UserDb> users) {
  std::lock_guard<std::mutex> lock(mu_);
  users_ = std::move(users);
  // Entries already miss when a user's hash changed; dropping them all also forgets
  // removed users at once.
  cache_.clear();
}

void QueueBackend::authenticate(const std::string& client, const std::string& user,
                                const std::string& password,
                                std::function<void(AuthOutcome)> done) {
  if (guard_.blocked(client)) {
    // Still slow, so a guesser gains nothing by hammering.
    done(AuthOutcome{false, true, std::chrono::seconds(2)});
    return;
  }
  Login login{user, password, std::move(done)};
  // Not a guess: a remembered password skips the queue of checks as well as the check.
  if (cached_login(client, login)) return;
  // A pool of clients logging in at once must not look like guessing: checks beyond what
  // the brake allows in flight wait for the ones before them, instead of being refused.
  auto waiting = waiting_logins_.find(client);
  if (!guard_.may_begin(client) || waiting != waiting_logins_.end()) {
    waiting_logins_[client].push_back(std::move(login));
    return;
  }
  check_login(client, std::move(login));
}

bool QueueBackend::cached_login(const std::string& client, Login& login) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cache_.enabled()) return false;
    const std::string* stored = users_ ? users_->hash(login.user) : nullptr;
    if (!stored ||
        !cache_.hit(login.user, login.password, *stored, policy::AuthCache::Clock::now()))
      return false;
  }
  cache_lookups("hit").inc();
  login_ok(client, login.user, login.done);
  return true;
}

void QueueBackend::check_login(const std::string& client, Login login) {
  std::shared_ptr<const policy::UserDb> users;
  {
    std::lock_guard<std::mutex> lock(mu_);
    users = users_;
    if (cache_.enabled()) cache_lookups("miss").inc();
  }
  guard_.begin(client);
  workers_.post([this, users, client, login = std::move(login)]() mutable {
    bool ok = users && users->verify(login.user, login.password);
    loop_.post([this, ok, users, client, login = std::move(login)] {
      guard_.end(client);
      if (ok) {
        {
          // Bound to the hash checked against: if the file changed meanwhile, this entry
          // never hits.
          std::lock_guard<std::mutex> lock(mu_);
          cache_.remember(login.user, login.password, *users->hash(login.user),
                          policy::AuthCache::Clock::now());
        }
        login_ok(client, login.user, login.done);
      } else {
        // Decided now; the session holds back its 535 for the delay.
        login.done(AuthOutcome{false, false, guard_.failure(client, login.user)});
      }
      start_waiting_logins(client);
    });
  });
}

void QueueBackend::login_ok(const std::string& client, const std::string& user,
                            const std::function<void(AuthOutcome)>& done) {
  guard_.success(client, user);
  if (login_watch_) login_watch_(client, user);
  done(AuthOutcome{true, false, {}});
}

void QueueBackend::start_waiting_logins(const std::string& client) {
  auto it = waiting_logins_.find(client);
  if (it == waiting_logins_.end()) return;
  auto& queue = it->second;
  while (!queue.empty()) {
    if (guard_.blocked(client)) {
      for (auto& login : queue) login.done(AuthOutcome{false, true, std::chrono::seconds(2)});
      queue.clear();
      break;
    }
    if (!guard_.may_begin(client)) return;
    Login login = std::move(queue.front());
    queue.pop_front();
    // The check just ended may have remembered this very password (a pool logging in).
    if (!cached_login(client, login)) check_login(client, std::move(login));
  }
  waiting_logins_.erase(it);
}

}  // namespace hato::relay
