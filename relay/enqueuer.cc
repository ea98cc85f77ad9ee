// enqueuer.cc - signing on workers, grouped hand-over to the store, announcements on the loop.
#include "relay/enqueuer.h"

#include <ctime>

#include "common/log.h"
#include "policy/mail/message_header.h"
#include "queue/event_json.h"
#include "queue/event_log.h"
#include "relay/relay_metrics.h"

namespace hato::relay {

namespace {

// An event about a whole message as it is queued: no recipient yet.
queue::QueueEvent message_event(const char* type, const queue::QueueId& id,
                                const queue::Envelope& envelope, std::string_view message) {
  queue::QueueEvent e;
  e.time_ms = log::now_ms();
  e.event = type;
  e.id = id.str();
  e.message_id = mail::header_value(message, "Message-ID");
  e.sender = envelope.sender;
  e.user = envelope.auth_user;
  e.listener = envelope.listener;
  return e;
}

}  // namespace

Enqueuer::Enqueuer(Loop& loop, conf::ConfigPtr config, queue::Store& store,
                   queue::QueueIdGenerator& ids, WorkerPool& workers)
    : loop_(loop), store_(store), ids_(ids), workers_(workers), config_(std::move(config)) {}

void Enqueuer::set_config(conf::ConfigPtr config) {
  std::lock_guard<std::mutex> lock(mu_);
  config_ = std::move(config);
}

void Enqueuer::set_keyring(std::shared_ptr<const dkim::Keyring> keyring) {
  std::lock_guard<std::mutex> lock(mu_);
  keyring_ = std::move(keyring);
}

conf::ConfigPtr Enqueuer::config() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_;
}

// commit - a session's message: submitted mail is signed, inbound mail is not.
void Enqueuer::commit(const queue::QueueId& id, std::string message, queue::Envelope envelope,
                      std::function<void(Status)> done, queue::Store::StateRecords state) {
  bool submission = false;
  for (const auto& l : config()->listeners) {
    if (l.name == envelope.listener) {
      submission = conf::submits(l.role);
      break;
    }
  }
  std::vector<queue::QueueEvent> also;
  std::string hold = submission && hold_rule_ ? hold_rule_(envelope) : "";
  if (!hold.empty()) {
    envelope.state = queue::MessageState::kHeld;
    queue::QueueEvent held = message_event("held", id, envelope, message);
    held.response = hold;
    also.push_back(std::move(held));
    log::warning("held at commit", {{"id", id.str()},
                                    {"user", envelope.auth_user},
                                    {"from", envelope.sender},
                                    {"client", envelope.client},
                                    {"reason", hold}});
  }
  enqueue(id, std::move(message), std::move(envelope), submission ? "submission" : "inbound",
          submission, std::move(done), std::move(also), std::move(state));
}

// queue_own - a message Hato wrote: an ID, its text, its envelope, then the common path.
queue::QueueId Enqueuer::queue_own(LocalMessage local, std::function<void(Status)> then) {
  queue::QueueId id = ids_.next();
  int64_t now = log::now_ms();
  std::string message_id = id.str() + "@" + config()->hostname;
  std::string message = local.build(message_id, now);
  for (auto& e : local.events) {
    e.id = id.str();
    e.message_id = "<" + message_id + ">";
  }
  queue::Envelope env;
  env.sender = local.sender;
  queue::Recipient to;
  to.address = local.recipient;
  env.recipients.push_back(std::move(to));
  env.created_ms = now;
  env.next_attempt_ms = now;
  env.size = message.size();
  env.smtputf8 = local.smtputf8;
  env.client = "local";
  env.listener = local.origin;
  std::string origin = local.origin;
  enqueue(
      id, std::move(message), std::move(env), std::move(origin), true,
      [id, then = std::move(then)](Status s) {
        if (!s)
          log::error("cannot queue a message of our own",
                     {{"id", id.str()}, {"reason", s.message()}});
        then(s);
      },
      std::move(local.events));
  return id;
}

void Enqueuer::enqueue(const queue::QueueId& id, std::string message, queue::Envelope envelope,
                       std::string origin, bool sign, std::function<void(Status)> done,
                       std::vector<queue::QueueEvent> also, queue::Store::StateRecords state) {
  Queued heard = make_queued(id, envelope, message, std::move(origin), std::move(also));
  // The events go into the store with the message only for webhooks to send: none, no cost.
  queue::OutboxEvents outbox;
  if (!config()->events.webhooks.empty()) outbox = queue::events_json(heard.events);
  auto queued = posted_to_loop(std::move(heard), std::move(done));
  std::shared_ptr<const dkim::Keyring> keyring;
  if (sign) {
    std::lock_guard<std::mutex> lock(mu_);
    keyring = keyring_;
  }
  if (!keyring || keyring->domains() == 0) {
    std::vector<queue::Store::NewMessage> one;
    one.push_back({id, std::move(message), std::move(envelope), std::move(queued),
                   std::move(outbox), std::move(state)});
    store_.insert_all(std::move(one));
    return;
  }
  signs_waiting_.fetch_add(1);
  workers_.post([this, keyring, id, message = std::move(message), envelope = std::move(envelope),
                 queued = std::move(queued), outbox = std::move(outbox),
                 state = std::move(state)]() mutable {
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
    hand_over_signed({id, std::move(message), std::move(envelope), std::move(queued),
                      std::move(outbox), std::move(state)});
  });
}

void Enqueuer::hand_over_signed(queue::Store::NewMessage signed_message) {
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
  store_.insert_all(std::move(ready));
}

Enqueuer::Queued Enqueuer::make_queued(const queue::QueueId& id, const queue::Envelope& envelope,
                                       std::string_view message, std::string origin,
                                       std::vector<queue::QueueEvent> also) {
  Queued queued{id, {}, std::move(origin), {}, envelope.state == queue::MessageState::kHeld};
  queued.recipients.reserve(envelope.recipients.size());
  for (const auto& r : envelope.recipients) queued.recipients.push_back(r.address);
  queue::QueueEvent received = message_event("received", id, envelope, message);
  for (const auto& r : envelope.recipients) {
    received.rcpt = r.address;
    queued.events.push_back(received);
  }
  for (auto& e : also) queued.events.push_back(std::move(e));
  return queued;
}

std::function<void(Status)> Enqueuer::posted_to_loop(Queued queued,
                                                     std::function<void(Status)> done) {
  return [this, queued = std::move(queued), done = std::move(done)](Status status) mutable {
    loop_.post([this, queued = std::move(queued), done = std::move(done), status]() {
      done(status);
      if (!status) return;
      // The `received` line, one per recipient, with the event's fields as every event line.
      for (const auto& e : queued.events)
        if (e.event == "received") queue::log_event(log::Level::kInfo, "received", e);
      for (const auto& listener : listeners_) listener(queued);
      m::queued(queued.origin).inc();
    });
  };
}

}  // namespace hato::relay
