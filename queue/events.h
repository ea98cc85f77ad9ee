// events.h - what happens to queued mail, for `hato queue tail`, logs, metrics and webhooks.
//
// Publishers and subscribers live on the main loop; publish() calls each
// subscriber at once, so a subscriber must be quick (the admin API copies the
// event into a bounded per-watcher buffer and returns).
//
// One event is one fact about one message (and one recipient, for delivery results), with the
// fields of the Event JSON in INTERFACE.md; queue/event_json.h renders it. A field that does not
// apply to an event stays empty (0 for `attempt`).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace hato::queue {

struct QueueEvent {
  int64_t time_ms = 0;
  // received, deferred, delivered, bounced, expired, held, released, deleted, dsn_sent,
  // delay_notice
  std::string event;
  std::string id;
  std::string rcpt;         // empty for message-level events
  std::string response;     // the remote reply or the local reason
  std::string message_id;   // the Message-ID header field's value, with its <>
  std::string sender;       // the envelope sender; empty for the null sender
  std::string user;         // the SMTP AUTH user who submitted it
  std::string listener;     // the listener it came in by (or "bounce", "delay", ... for our own)
  std::string category;     // the bounce category of a failed recipient
  std::string dsn;          // the enhanced status code, "5.1.1"
  std::string mx;           // the host name delivered to
  std::string address;      // its IP address
  std::string egress;       // the local address the connection came from
  std::string tls_version;  // "TLSv1.3"; empty in clear
  std::string tls_policy;   // "opportunistic", "mta-sts", "dane", ...
  uint32_t attempt = 0;     // the recipient's attempts so far, this one included
  std::string original;     // dsn_sent, delay_notice: the queue ID of the message reported on
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
