// admin_server.h - the daemon's admin API: HTTP with JSON on a Unix socket.
//
// The CLI's queue verbs talk to this; so can curl --unix-socket. Endpoints:
//   GET  /v1/queue?limit=N&domain=D&state=S  one JSON object per line, in ID order, streamed
//   GET  /v1/queue/summary?state=S           counts by recipient domain and age (qshape)
//   GET  /v1/queue/ID                        one message with its recipients
//   GET  /v1/queue/ID/message                the raw message (message/rfc822)
//   GET  /v1/queue/ID/headers                its header section, for `queue show`
//   GET  /v1/events                          queue events as JSON lines, until the client goes
//   GET  /v1/events/status                   one JSON line per webhook, then one for the
//                                            outbox (relay::Webhooks::status_json)
//   GET  /v1/warmup                          one JSON line per egress address
//                                            (Limiter::status_json)
//   GET  /v1/blacklist                       blacklist state, JSON lines (BlacklistMonitor::
//                                            status_json); 409 when not configured
//   POST /v1/blacklist/check                 runs the checks now; answers as GET when done
//   POST /v1/tlsrpt/send                     TLS-RPT reports for every recorded day, today
//                                            included: {"ok":true,"reports":N}
//   GET  /v1/dmarc[?domain=D&days=N]         DMARC aggregate reports received, one JSON object
//                                            per domain and source (relay/dmarc_reports.h;
//                                            admin_dmarc.cc); N: 1-366, default 7
//   GET  /v1/suppress[?domain=D]            the suppression list, one JSON object per line:
//                                            {"address","domain","reason","source",
//                                            "first_seen","expires"} (admin_suppress.cc)
//   POST /v1/suppress?address=A[&domain=D&reason=R&source=S&first_seen=MS&expires=MS]
//                                            adds an entry: {"ok":true}
//   POST /v1/suppress/remove?address=A[&domain=D]   {"ok":true,"removed":N}; 404 for none
//   GET  /v1/users/frozen                    users the brake froze, one JSON object per line:
//                                            {"user","since","reason"} (admin_users.cc)
//   POST /v1/users/NAME/thaw                 clears the freeze and releases the user's held
//                                            mail: {"ok":true,"released":N}; 409 if not frozen
//   POST /v1/users/NAME/baseline?messages=M&recipients=R   sets the learned hourly means
//   POST /v1/queue/ID/hold|release|flush|delete|bounce   {"ok":true}
//   POST /v1/queue/flush[?domain=D]          every deferred message (or those with a pending
//                                            recipient in D) due now: {"ok":true,"flushed":N}
//   POST /v1/backup?dir=PATH                 a consistent copy of the queue into PATH/queue and
//                                            PATH/manifest.json; JSON lines: progress, then
//                                            {"ok":true,...} or {"error":...} (see admin_backup.cc)
// Errors are {"error":"..."} with 400, 404 (unknown endpoint or message), 405,
// 409 (the operation does not apply, e.g. releasing mail that is not held) or
// 500. Access control is the socket file's mode (0660), as for Postfix's
// public/ and private/ sockets. No libevent header leaks out of here.
//
// Nothing here blocks the loop for long: listings, summaries and flushes by
// domain walk the store in slices of a few milliseconds, and a listing waits
// for its client to drain the output before it reads on. Event watchers each
// get a bounded output buffer; a watcher that falls behind loses events and is
// told how many (a {"event":"missed","count":N} line), never the daemon's time.
#pragma once

#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

#include "common/loop.h"
#include "common/status.h"
#include "queue/control.h"
#include "queue/events.h"
#include "queue/store.h"

namespace hato::policy {
class SuppressionList;
class UserBrake;
}  // namespace hato::policy

namespace hato::cli {

class AdminServer {
 public:
  // Serves on `loop`, reading `store`, following `events` and steering the
  // queue through `control`; all must outlive the server.
  AdminServer(hato::Loop& loop, queue::Store& store, queue::EventBus& events,
              queue::QueueControl& control);
  // Stops serving, ends open streams and removes the socket file, if it is still ours.
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // What GET /v1/warmup answers, called on the loop thread. Unset: an empty answer.
  void set_warmup_status(std::function<std::string()> status);
  // What GET /v1/events/status answers, on the loop thread. Unset: an empty answer.
  void set_events_status(std::function<std::string()> status);
  // What GET /v1/cluster answers: `nodes` calls back with a JSON array of every node's view
  // (policy/cluster.h). Unset: 409, not in a cluster.
  void set_cluster(std::function<void(std::function<void(Result<std::string>)>)> nodes);
  // What POST /v1/tlsrpt/send runs (on the loop thread); unset: 404.
  void set_tls_report_send(std::function<std::string()> send);
  // What GET /v1/dmarc answers for a domain ("" for all) and a number of days (loop thread);
  // unset: 404.
  void set_dmarc_summary(std::function<Result<std::string>(const std::string&, int)> summary);
  // What POST /v1/users/reload runs (on the loop thread): the users file read again now,
  // answered with a JSON object, or an error (500 with its message). Unset: 404.
  void set_users_reload(std::function<Result<std::string>()> reload);

  // GET /v1/blacklist answers status() (an error: not configured, 409); POST
  // /v1/blacklist/check calls check() and answers when its callback runs. Loop thread only.
  void set_blacklist(std::function<Result<std::string>()> status,
                     std::function<void(std::function<void()>)> check);

  // The suppression list /v1/suppress reads and changes (loop thread only); unset: 404.
  void set_suppression(policy::SuppressionList* list);
  // The brake /v1/users/frozen, /v1/users/NAME/thaw and /v1/users/NAME/baseline read and
  // change (loop thread only); unset: 404.
  void set_brake(policy::UserBrake* brake);

  // Binds `socket_path` (mode 0660) and serves on it. A stale socket file left
  // by a crash is replaced; one with a live daemon behind it is an error.
  [[nodiscard]] hato::Status listen(const std::string& socket_path);

  // Open /v1/events streams and long responses in progress (for tests and metrics).
  size_t watchers() const;
  size_t streams() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// An operator's action on one message through `control`, logged ("admin action") with the
// dashboard user's name when there is one: hold, release, flush (retry now), delete or
// bounce. The admin API's POST /v1/queue/ID/ACTION and the dashboard both come here.
[[nodiscard]] Status queue_action(queue::QueueControl& control, const queue::QueueId& id,
                                  std::string_view action, std::string_view user);

// The JSON of one message as `queue ls --json` prints it (INTERFACE.md), on one
// line without the newline. With recipients it is the `queue show --json` form.
std::string message_json(const queue::StoredMessage& message, bool with_recipients);

// "queued", "deferred", "held" and back; parse is false for anything else.
const char* message_state_name(queue::MessageState state);
bool parse_message_state(std::string_view text, queue::MessageState* state);
// "pending", "delivered", "bounced", "expired".
const char* rcpt_state_name(queue::RcptState state);

// The age buckets of the queue summary, in minutes, as in Postfix's qshape:
// 0-5, 5-10, 10-20, ... 640-1280, and a last one for anything older.
inline constexpr int64_t kSummaryBucketMinutes[] = {5, 10, 20, 40, 80, 160, 320, 640, 1280};
inline constexpr size_t kSummaryBuckets = std::size(kSummaryBucketMinutes) + 1;
// The bucket of a message `age_ms` old (negative ages, from clock steps, count as new).
size_t summary_bucket(int64_t age_ms);

}  // namespace hato::cli
