// delivery_types.h - what the delivery engine and its attempts share: a message being
// delivered, a job (its recipients for one destination), a destination with its queue and
// idle connections, and what an attempt may ask of the engine that owns it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/net.h"
#include "policy/limiter.h"
#include "queue/envelope.h"
#include "queue/events.h"
#include "queue/queue_id.h"
#include "relay/bounce.h"
#include "relay/client_session.h"

namespace hato::relay {

class Attempt;

// What TLS a delivery attempt had, for its log line and its record in the queue.
struct TlsFacts {
  // The policy that applied: "none" (no TLS wanted), "opportunistic", "required"
  // (delivery.tls or the smarthost), "mta-sts", "mta-sts-testing", "dane"; "" before any.
  std::string policy;
  std::string version;  // "TLSv1.3"; "" in clear
  std::string cipher;
  std::string failure;  // why the certificate check failed (testing mode delivers anyway)
};

struct DeliveryOptions {
  size_t max_connections = 100;     // in total
  size_t max_per_destination = 10;  // per domain (or the smarthost)
  size_t max_messages_per_connection = 100;
  size_t max_messages_in_flight = 5000;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(30)};
  size_t max_mx_hosts = 5;
};

// One message being delivered: its envelope as it changes, its bytes, and how many of its
// jobs are still out.
struct MessageWork {
  queue::QueueId id;
  queue::Envelope envelope;
  std::shared_ptr<const std::string> data;
  std::string message_id;  // its Message-ID field, for the events
  size_t outstanding = 0;
  std::vector<DsnRecipient> failed;  // bounced in this round
  int64_t not_before_ms = 0;         // a warm-up or suspension window ends then
  // This round's results, announced (queue tail, metrics readers) once the envelope that
  // records them is written: whoever hears "deferred" and asks `queue ls` sees it there.
  std::vector<queue::QueueEvent> events;
};

struct Job {
  std::shared_ptr<MessageWork> work;
  std::vector<size_t> recipients;  // indexes into work->envelope.recipients
  // The egress address this message goes out from, chosen by weight per message once the
  // destination's provider is known; only a connection from that address carries it.
  std::optional<size_t> egress;
};

struct Destination {
  std::string name;  // a domain, "[smarthost]", or "lmtp:" and a local domain
  bool smarthost = false;
  std::optional<SocketAddress> lmtp;  // local delivery over LMTP to this server
  std::deque<Job> queue;
  std::vector<Attempt*> idle;  // connected, waiting a moment for more work
  size_t active = 0;
  std::string provider;  // from the last MX answer, with egress addresses; "" before
  int64_t down_until_ms = 0;
  std::string down_reason;
};

// What an attempt asks of the engine that owns it (the queue manager): results, egress
// choice for the destination's queued mail, more connections, and its own end.
class AttemptOwner {
 public:
  virtual ~AttemptOwner() = default;
  virtual bool stopping() const = 0;
  // Every job queued for dest gets this reply (no session could carry it).
  virtual void fail_queued(Destination& dest, int code, const std::string& text,
                           const std::string& host, const TlsFacts& tls) = 0;
  // The replies for a job's recipients; `host` is "name[ip]:port".
  virtual void record(Job& job, const TransactionResult& replies, const std::string& host,
                      const TlsFacts& tls) = 0;
  // Gives each queued job of dest without an egress address its address.
  virtual void assign_egress(Destination& dest) = 0;
  // The address `egress` may not connect or send now (`wait` says why): its mail is given
  // another address (returned when one with a free slot takes it) or waits.
  virtual std::optional<policy::EgressChoice> egress_refused(Destination& dest, size_t egress,
                                                             const policy::Wait& wait) = 0;
  virtual void dispatch(Destination& dest) = 0;
  // The attempt's work is over (called on a later loop turn than its last event).
  virtual void attempt_done(Attempt* attempt) = 0;
  // A quitting attempt's session ended: it may be freed now.
  virtual void attempt_closed(Attempt* attempt) = 0;
};

}  // namespace hato::relay
