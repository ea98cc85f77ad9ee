// events.h - what happens to queued mail, for `hato queue tail`, logs and metrics.
//
// Publishers and subscribers live on the main loop; publish() calls each
// subscriber at once, so a subscriber must be quick (the admin API copies the
// event into a bounded per-watcher buffer and returns).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace hato::queue {

struct QueueEvent {
  int64_t time_ms = 0;
  std::string event;  // received, deferred, delivered, bounced, expired, held, released, deleted
  std::string id;
  std::string rcpt;      // empty for message-level events
  std::string response;  // the remote reply or the local reason
  // Failures: what they mean (policy/bounce_rules.h), "invalid-recipient", ...; "= {}" lets
  // the brace initialisers of the fields above leave it out.
  std::string category = {};
};

class EventBus {
 public:
  using Subscriber = std::function<void(const QueueEvent&)>;
  uint64_t subscribe(Subscriber subscriber) {
    subscribers_[++next_] = std::move(subscriber);
    return next_;
  }
  void unsubscribe(uint64_t token) { subscribers_.erase(token); }
  void publish(const QueueEvent& event) {
    // A subscriber may unsubscribe itself while being called.
    for (auto it = subscribers_.begin(); it != subscribers_.end();) {
      auto current = it++;
      current->second(event);
    }
  }
  size_t watchers() const { return subscribers_.size(); }

 private:
  uint64_t next_ = 0;
  std::map<uint64_t, Subscriber> subscribers_;
};

}  // namespace hato::queue
