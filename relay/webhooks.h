// webhooks.h - events POSTed to the application (events.webhooks in hato.yaml).
//
// The events come from the store's outbox (queue/store.h), where they were written in the same
// batch as the change they describe; an event leaves the outbox only once every hook has
// answered 2xx for it, so delivery is at least once, across crashes too.
//
// Per hook, on the loop: a cursor (the last sequence number it acknowledged or skipped), kept in
// the state family (queue/state_keys.h, kHookCursor) with the outbox trim, at most once a second
// and at shutdown, so a restart goes on after the last acknowledged batch (a batch out when the
// daemon stopped is sent again; after a crash, up to a second's worth); one POST at a time, over
// a kept connection, once `batch` events wait or the first has waited kLingerMs, of at most
// `batch` events of its types, users and domains, as a JSON array, signed:
//   X-Hato-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>
//   X-Hato-Batch: <hook>-<first>-<last>   the same events carry the same ID when sent again
// A failure (no answer, not 2xx) is tried again after 1 s, doubling up to 5 minutes; mail never
// waits for a hook. New events wake the hooks at once (notify()); a timer catches up otherwise.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/loop.h"
#include "conf/config.h"
#include "net/http_client.h"
#include "queue/store.h"

namespace hato::relay {

// HMAC-SHA256 of `data` under `key`, in lower-case hex.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

// The X-Hato-Signature value for `body` sent at `unix_seconds`.
std::string webhook_signature(std::string_view secret, int64_t unix_seconds, std::string_view body);

// Whether the hook wants the event (its JSON): its types, users and domains (of the sender or
// the recipient). Empty lists let everything through.
bool webhook_wants(const conf::Webhook& hook, std::string_view event_json);

// Where a hook goes on at start: after its stored cursor, within what the outbox holds now. The
// store numbers events from 1 again when it opens with an empty outbox, so a cursor from before
// is brought back to `next - 1` (and must be stored so at once); one behind the oldest event
// kept means that the hook is behind the events dropped beyond the backlog.
uint64_t resume_cursor(std::optional<uint64_t> stored, const queue::OutboxStats& outbox);

class Webhooks {
 public:
  Webhooks(Loop& loop, queue::Store& store, net::HttpClient& http, conf::ConfigPtr config);
  ~Webhooks();
  Webhooks(const Webhooks&) = delete;
  Webhooks& operator=(const Webhooks&) = delete;

  // Hooks by URL keep their cursor across a reload; new ones start after their stored cursor,
  // else at the oldest event. The cursors of hooks no longer configured are forgotten.
  void set_config(conf::ConfigPtr config);
  // Events were written: send what is due now.
  void notify();
  // `hato events status --json`: one JSON line per hook, then one for the outbox.
  std::string status_json() const;

 private:
  struct Hook;
  void pump();
  void send(Hook& hook);
  void answered(Hook& hook, uint64_t last, size_t count, const Result<net::HttpResponse>& r);
  // Acknowledged events leave the outbox, moved cursors are stored.
  void trim();
  // The hook is past `seq`: in memory now, in the store with the next trim().
  void advance(Hook& hook, uint64_t seq);
  uint64_t load_cursor(const std::string& url);
  void forget_cursors();
  void arm(int64_t at_ms);

  Loop& loop_;
  queue::Store& store_;
  net::HttpClient& http_;
  conf::ConfigPtr config_;
  std::vector<std::unique_ptr<Hook>> hooks_;
  Timer timer_;
  int64_t timer_at_ms_ = 0;  // when the timer fires; 0: not armed
  uint64_t trimmed_ = 0;     // the outbox is trimmed up to here
  int64_t trimmed_at_ms_ = 0;
  bool trim_wanted_ = false;  // acknowledged events wait for the next trim()
  bool pump_posted_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace hato::relay
