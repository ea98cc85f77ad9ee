// webhooks.cc - see webhooks.h.
#include "relay/webhooks.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <charconv>
#include <chrono>

#include "common/json.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/strings.h"
#include "queue/state_keys.h"

namespace hato::relay {

namespace {

constexpr int64_t kFirstRetryMs = 1000;
constexpr int64_t kMaxRetryMs = 5 * 60 * 1000;
// Events skipped (not for this hook) or sent are read this many at a time at most.
constexpr size_t kReadAhead = 1000;
// Fewer events than a batch wait this long for more before they go: a POST (and a receiver's
// work) per batch rather than per event under load, a short delay when quiet.
constexpr int64_t kLingerMs = 100;
// Acknowledged events leave the outbox, and the cursors are stored, at most this often: each
// trim is a write of its own for the committer, and a crash in between only sends some again.
constexpr int64_t kTrimEveryMs = 1000;

Counter& events_sent(const std::string& hook, const char* result) {
  return metrics().counter("hato_webhook_events_total",
                           "Events posted to each webhook, by result (sent, failed)",
                           "hook=\"" + label_value(hook) + "\",result=\"" + result + "\"");
}

std::string domain_of(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? "" : ascii_lower(address.substr(at + 1));
}

std::string time_text(int64_t ms) {
  return ms ? log::rfc3339(ms) : "";
}

}  // namespace

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kDigits[mac[i] >> 4];
    out += kDigits[mac[i] & 15];
  }
  return out;
}

std::string webhook_signature(std::string_view secret, int64_t unix_seconds,
                              std::string_view body) {
  std::string t = std::to_string(unix_seconds);
  std::string signed_text = t + ".";
  signed_text.append(body);
  return "t=" + t + ",v1=" + hmac_sha256_hex(secret, signed_text);
}

bool webhook_wants(const conf::Webhook& hook, std::string_view event_json) {
  if (hook.types.empty() && hook.users.empty() && hook.domains.empty()) return true;
  std::optional<JsonValue> e = parse_json(event_json);
  if (!e) return false;
  auto listed = [](const std::vector<std::string>& list, const std::string& value) {
    return std::find(list.begin(), list.end(), value) != list.end();
  };
  if (!hook.types.empty() && !listed(hook.types, e->str("event"))) return false;
  if (!hook.users.empty() && !listed(hook.users, e->str("user"))) return false;
  if (!hook.domains.empty() && !listed(hook.domains, domain_of(e->str("sender"))) &&
      !listed(hook.domains, domain_of(e->str("rcpt"))))
    return false;
  return true;
}

uint64_t resume_cursor(std::optional<uint64_t> stored, const queue::OutboxStats& outbox) {
  uint64_t oldest = outbox.first - 1, newest = outbox.next - 1;
  if (!stored) return oldest;
  return std::clamp(*stored, oldest, newest);
}

struct Webhooks::Hook {
  conf::Webhook config;
  std::string name;           // its URL, for logs and metric labels
  uint64_t cursor = 0;        // the last event acknowledged (or skipped as not for it)
  bool cursor_moved = false;  // not stored since
  bool busy = false;          // a POST is out
  int64_t retry_at_ms = 0;
  int64_t waiting_since_ms = 0;  // events have been waiting for a POST since (kLingerMs)
  int64_t backoff_ms = 0;
  int64_t last_success_ms = 0;
  int64_t last_failure_ms = 0;
  std::string last_error;
};

Webhooks::Webhooks(Loop& loop, queue::Store& store, net::HttpClient& http, conf::ConfigPtr config)
    : loop_(loop), store_(store), http_(http), timer_(loop, [this] {
        timer_at_ms_ = 0;
        pump();
      }) {
  metrics().callback_counter("hato_events_dropped_total",
                             "Events dropped from the webhooks' backlog beyond events.backlog",
                             [this] { return static_cast<double>(store_.outbox_stats().dropped); });
  set_config(std::move(config));
}

// The cursors as they are now, for the next start; the store outlives us and writes it.
Webhooks::~Webhooks() {
  trim();
}

void Webhooks::set_config(conf::ConfigPtr config) {
  config_ = std::move(config);
  std::vector<std::unique_ptr<Hook>> hooks;
  for (const auto& c : config_->events.webhooks) {
    auto hook = std::make_unique<Hook>();
    for (auto& old : hooks_) {
      if (old && old->name == c.url) {
        hook = std::move(old);
        break;
      }
    }
    bool known = !hook->name.empty();
    hook->config = c;
    hook->name = c.url;
    if (!known) advance(*hook, load_cursor(c.url));
    Hook* raw = hook.get();
    metrics().callback_gauge(
        "hato_webhook_backlog", "Events kept for each webhook, not yet acknowledged",
        [this, name = raw->name] {
          for (const auto& h : hooks_) {
            if (h->name == name) {
              auto st = store_.outbox_stats();
              return static_cast<double>(st.next - 1 - std::max(h->cursor, st.first - 1));
            }
          }
          return 0.0;
        },
        "hook=\"" + label_value(raw->name) + "\"");
    events_sent(raw->name, "sent");
    events_sent(raw->name, "failed");
    hooks.push_back(std::move(hook));
  }
  // A hook being answered keeps its Hook alive until then (answered() finds it by name).
  hooks_ = std::move(hooks);
  forget_cursors();
  trim();
  notify();
}

void Webhooks::notify() {
  // Once per loop turn however many events came; nothing at all without hooks.
  if (hooks_.empty() || pump_posted_) return;
  pump_posted_ = true;
  std::weak_ptr<int> alive = alive_;
  loop_.post([this, alive] {
    if (!alive.lock()) return;
    pump_posted_ = false;
    pump();
  });
}

void Webhooks::pump() {
  int64_t now = log::now_ms();
  int64_t next = 0;
  auto later = [&next](int64_t at) { next = next ? std::min(next, at) : at; };
  if (trim_wanted_) {
    if (now >= trimmed_at_ms_ + kTrimEveryMs) {
      trim();
    } else {
      later(trimmed_at_ms_ + kTrimEveryMs);
    }
  }
  auto stats = store_.outbox_stats();
  for (auto& hook : hooks_) {
    if (hook->busy) continue;
    if (hook->retry_at_ms > now) {
      later(hook->retry_at_ms);
      continue;
    }
    uint64_t waiting = stats.next - 1 - std::max(hook->cursor, stats.first - 1);
    if (waiting == 0) {
      hook->waiting_since_ms = 0;
      continue;
    }
    if (!hook->waiting_since_ms) hook->waiting_since_ms = now;
    if (waiting < hook->config.batch && hook->waiting_since_ms + kLingerMs > now) {
      later(hook->waiting_since_ms + kLingerMs);
      continue;
    }
    hook->waiting_since_ms = 0;
    send(*hook);
  }
  if (next) arm(next);
}

void Webhooks::arm(int64_t at_ms) {
  if (timer_at_ms_ && timer_at_ms_ <= at_ms) return;
  timer_at_ms_ = at_ms;
  timer_.arm(std::chrono::milliseconds(std::max<int64_t>(at_ms - log::now_ms(), 0)));
}

void Webhooks::send(Hook& hook) {
  auto stats = store_.outbox_stats();
  if (hook.cursor + 1 < stats.first) {
    // Dropped beyond the backlog while this hook was behind (counted by the store).
    hook.cursor = stats.first - 1;
  }
  std::string body = "[";
  size_t count = 0;
  uint64_t first = 0, last = hook.cursor;
  bool filtered =
      !hook.config.types.empty() || !hook.config.users.empty() || !hook.config.domains.empty();
  size_t read_ahead = filtered ? kReadAhead : hook.config.batch;
  Status s = store_.outbox_read(hook.cursor, read_ahead, [&](uint64_t seq, std::string_view json) {
    if (count >= hook.config.batch) return false;
    last = seq;
    if (!webhook_wants(hook.config, json)) return true;
    if (count++) body += ',';
    if (!first) first = seq;
    body.append(json);
    return true;
  });
  if (!s) {
    log::error("webhook events unreadable", {{"hook", hook.name}, {"reason", s.message()}});
    hook.retry_at_ms = log::now_ms() + kFirstRetryMs;
    arm(hook.retry_at_ms);
    return;
  }
  if (last == hook.cursor) return;  // nothing new
  if (count == 0) {
    // Nothing here for this hook: past these at once.
    advance(hook, last);
    trim_wanted_ = true;
    notify();
    return;
  }
  body += ']';
  int64_t now = log::now_ms();
  net::HttpRequest request;
  request.method = "POST";
  request.url = hook.config.url;
  request.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(hook.config.timeout);
  request.max_body = 64 << 10;
  request.keep_alive = true;  // a batch sent again is harmless: the receiver has its ID
  std::string batch = std::to_string(first) + "-" + std::to_string(last);
  request.headers = {{"Content-Type", "application/json"},
                     {"User-Agent", "Hato"},
                     {"X-Hato-Batch", batch},
                     {"X-Hato-Signature", webhook_signature(hook.config.secret, now / 1000, body)}};
  request.body = std::move(body);
  hook.busy = true;
  std::weak_ptr<int> alive = alive_;
  http_.fetch(std::move(request),
              [this, alive, name = hook.name, last, count](Result<net::HttpResponse> r) {
                if (!alive.lock()) return;
                for (auto& h : hooks_) {
                  if (h->name == name) return answered(*h, last, count, r);
                }
              });
}

void Webhooks::answered(Hook& hook, uint64_t last, size_t count,
                        const Result<net::HttpResponse>& r) {
  hook.busy = false;
  int64_t now = log::now_ms();
  if (r && r->status >= 200 && r->status < 300) {
    advance(hook, std::max(hook.cursor, last));
    hook.last_success_ms = now;
    hook.backoff_ms = 0;
    hook.retry_at_ms = 0;
    events_sent(hook.name, "sent").inc(count);
    trim_wanted_ = true;  // by the next pump(), kTrimEveryMs after the last trim
    notify();             // more may be waiting
    return;
  }
  hook.last_failure_ms = now;
  hook.last_error = r ? "HTTP status " + std::to_string(r->status) : r.message();
  hook.backoff_ms = hook.backoff_ms ? std::min(hook.backoff_ms * 2, kMaxRetryMs) : kFirstRetryMs;
  hook.retry_at_ms = now + hook.backoff_ms;
  events_sent(hook.name, "failed").inc(count);
  log::warning("webhook failed", {{"hook", hook.name},
                                  {"events", std::to_string(count)},
                                  {"reason", hook.last_error},
                                  {"retry_in", std::to_string(hook.backoff_ms / 1000) + "s"}});
  arm(hook.retry_at_ms);
}

void Webhooks::advance(Hook& hook, uint64_t seq) {
  hook.cursor = seq;
  hook.cursor_moved = true;  // stored by the next trim()
}

uint64_t Webhooks::load_cursor(const std::string& url) {
  std::optional<uint64_t> stored;
  auto value = store_.get_state(queue::state::hook_cursor_key(url));
  if (!value) {
    log::error("webhook cursor unreadable", {{"hook", url}, {"reason", value.message()}});
  } else if (*value) {
    uint64_t seq = 0;
    const std::string& text = **value;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seq);
    if (ec == std::errc() && end == text.data() + text.size()) stored = seq;
  }
  return resume_cursor(stored, store_.outbox_stats());
}

// forget_cursors - a hook taken out of the configuration leaves no cursor behind: put back
// later, it starts at the oldest event, as a new hook does.
void Webhooks::forget_cursors() {
  std::vector<std::string> stale;
  Status s = store_.scan_state(queue::state::prefix(queue::state::Kind::kHookCursor),
                               [&](std::string_view key, std::string_view) {
                                 bool configured =
                                     std::any_of(hooks_.begin(), hooks_.end(), [&](const auto& h) {
                                       return queue::state::hook_cursor_key(h->name) == key;
                                     });
                                 if (!configured) stale.emplace_back(key);
                                 return true;
                               });
  if (!s) log::error("webhook cursors unreadable", {{"reason", s.message()}});
  for (const auto& key : stale) (void)store_.erase_state(key);
}

// trim - events every hook has are removed from the outbox (with no hooks, all of them), and
// the cursors that moved are stored, in one batch through the committer: never a write on the
// loop's thread, which would wait for the committer's sync. Unsynced, like removals: a crash
// that loses it sends some events again. At start the cursors brought back by
// resume_cursor() go first, so any event written later comes after them in the WAL.
void Webhooks::trim() {
  trim_wanted_ = false;
  trimmed_at_ms_ = log::now_ms();
  auto stats = store_.outbox_stats();
  uint64_t through = stats.next - 1;
  for (const auto& h : hooks_) through = std::min(through, h->cursor);
  queue::Store::StateRecords cursors;
  for (auto& h : hooks_) {
    if (!h->cursor_moved) continue;
    h->cursor_moved = false;
    cursors.emplace_back(queue::state::hook_cursor_key(h->name), std::to_string(h->cursor));
  }
  bool trims = through >= stats.first && through > trimmed_;
  if (!trims && cursors.empty()) return;
  if (trims) trimmed_ = through;
  store_.outbox_trim(trims ? through : 0, std::move(cursors));
}

std::string Webhooks::status_json() const {
  auto stats = store_.outbox_stats();
  std::string out;
  for (const auto& h : hooks_) {
    uint64_t acked = std::max(h->cursor, stats.first - 1);
    out += "{\"hook\":";
    log::append_json_string(out, h->name);
    out += ",\"backlog\":" + std::to_string(stats.next - 1 - acked);
    out += ",\"last_success\":";
    log::append_json_string(out, time_text(h->last_success_ms));
    out += ",\"last_failure\":";
    log::append_json_string(out, time_text(h->last_failure_ms));
    out += ",\"last_error\":";
    log::append_json_string(out, h->last_error);
    out += ",\"next_retry\":";
    log::append_json_string(out, time_text(h->retry_at_ms));
    out += "}\n";
  }
  out += "{\"outbox\":" + std::to_string(stats.next - stats.first) +
         ",\"dropped\":" + std::to_string(stats.dropped) + "}\n";
  return out;
}

}  // namespace hato::relay
