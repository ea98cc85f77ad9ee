// delivery_results.cc - what the delivery engine does with results: each recipient's
// attempt recorded, failures and expiry turned into DSNs, delay notices, and the envelope
// written back (or removed) through the committer before anything is announced.
#include <algorithm>

#include "common/log.h"
#include "common/strings.h"
#include "policy/mail/message_header.h"
#include "queue/event_json.h"
#include "queue/event_log.h"
#include "relay/delivery.h"
#include "relay/relay_metrics.h"

namespace hato::relay {

namespace {

std::string seconds_text(int64_t ms) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

Reply synthetic(int code, std::string text) {
  Reply r;
  r.code = code;
  r.lines.push_back(std::move(text));
  return r;
}

// The "host" of the 550s the suppression list gives (suppression.at_submission: bounce).
const std::string kSuppressionHost = "suppression";

// "mx.example.net[192.0.2.7]:25" -> "mx.example.net", "192.0.2.7"; "local" -> "local", "".
void split_host(const std::string& host, std::string* mx, std::string* address) {
  auto open = host.find('[');
  auto close = host.find(']', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) {
    *mx = host;
    return;
  }
  *mx = host.substr(0, open);
  *address = host.substr(open + 1, close - open - 1);
}

const char* outcome_name(const Reply& r) {
  if (r.code >= 200 && r.code < 300) return "delivered";
  if (r.code >= 500) return "bounced";
  return "deferred";
}

}  // namespace

void DeliveryEngine::fail_queued(Destination& dest, int code, const std::string& text,
                                 const std::string& host, const TlsFacts& tls) {
  // Take the queue first: record() may finalise messages and pump new work in.
  std::deque<Job> jobs;
  jobs.swap(dest.queue);
  for (auto& job : jobs) {
    TransactionResult replies(job.recipients.size(), synthetic(code, text));
    record(job, replies, host, tls);
  }
}

void DeliveryEngine::wait_queued(Destination& dest, const policy::Wait& wait,
                                 const std::function<bool(const Job&)>& which) {
  // Take the jobs first: record() may finalise messages and pump new work in.
  std::deque<Job> waiting, rest;
  for (auto& job : dest.queue) (which(job) ? waiting : rest).push_back(std::move(job));
  dest.queue.swap(rest);
  for (auto& job : waiting) {
    job.work->not_before_ms = std::max(job.work->not_before_ms, wait.until_ms);
    TransactionResult replies(job.recipients.size(), synthetic(451, "4.7.0 " + wait.reason));
    record(job, replies, "", {});
  }
}

void DeliveryEngine::record(Job& job, const TransactionResult& replies, const std::string& host,
                            const TlsFacts& tls) {
  auto work = job.work;
  int64_t now = log::now_ms();
  for (size_t k = 0; k < job.recipients.size() && k < replies.size(); ++k) {
    auto& r = work->envelope.recipients[job.recipients[k]];
    const Reply& reply = replies[k];
    std::string response = reply.code ? reply.text() : reply.lines.empty() ? "" : reply.lines[0];
    const char* status = outcome_name(reply);
    std::string dsn = reply.code ? reply.enhanced() : "4.4.1";
    bool delivered = reply.code >= 200 && reply.code < 300;
    // Every failure, temporary or not, gets its meaning: the sender's application decides
    // on it, and only a permanent invalid-recipient may suppress the address.
    std::string category, provider;
    if (!delivered) {
      provider = provider_of(host);
      category = bounces_.classify({dsn, response, provider, reply.code >= 500});
      m::bounces(category, provider).inc();
    }
    r.attempts.push_back({now, host, response, tls.policy, tls.version, tls.cipher});
    r.attempts.back().category = category;
    if (r.attempts.size() > 20) r.attempts.erase(r.attempts.begin());  // keep the record bounded
    if (delivered) {
      r.state = queue::RcptState::kDelivered;
      count_delivered(host, r.address, now);
      take_reports(*work, r.address);
    } else if (reply.code >= 500) {
      r.state = queue::RcptState::kBounced;
      DsnRecipient d;
      d.address = r.address;
      d.orcpt = r.orcpt;
      d.action = "failed";
      d.status = dsn;
      auto bracket = host.find('[');
      if (host != kSuppressionHost) d.remote_mta = host.substr(0, bracket);
      d.diagnostic = response;
      d.last_attempt_ms = now;
      d.category = category;
      work->failed.push_back(std::move(d));
      if (suppression_ && host != kSuppressionHost &&
          suppression_->note(config_->suppression, work->envelope.sender, r.address, category,
                             "bounce", now)) {
        log::info("suppression added", {{"id", work->id.str()},
                                        {"rcpt", r.address},
                                        {"reason", category},
                                        {"source", "bounce"},
                                        {"response", response}});
      }
    }
    queue::QueueEvent e = message_event(*work, status, now);
    e.rcpt = r.address;
    e.response = response;
    e.dsn = dsn;
    split_host(host, &e.mx, &e.address);
    if (job.egress && *job.egress < config_->egress.size())
      e.egress = config_->egress[*job.egress].address.ip();
    e.tls_version = tls.version;
    e.tls_policy = tls.policy;
    // The record keeps the last 20 attempts; the count goes on from there.
    e.attempt = static_cast<uint32_t>(r.attempts.size());
    e.category = category;
    m::deliveries(status).inc();
    if (r.state == queue::RcptState::kDelivered)
      m::delivery_latency().observe(static_cast<double>(now - work->envelope.created_ms) / 1000.0);
    queue::log_event(log::Level::kInfo, "delivery", e,
                     {{"status", status},
                      {"relay", host.empty() ? "none" : host},
                      {"delay", seconds_text(now - work->envelope.created_ms)},
                      {"cipher", tls.cipher.empty() ? "-" : tls.cipher},
                      {"tls_failure", tls.failure.empty() ? "-" : tls.failure}});
    work->events.push_back(std::move(e));
  }
  if (--work->outstanding == 0) finalize(work);
}

void DeliveryEngine::finalize(std::shared_ptr<MessageWork> work) {
  int64_t now = log::now_ms();
  expire_pending(*work, now);
  // NOTIFY=NEVER, or a NOTIFY without FAILURE, wants no failure report; the
  // null sender never gets one (a bounce is never bounced).
  auto& env = work->envelope;
  std::vector<DsnRecipient> report;
  for (auto& d : work->failed) {
    auto it = std::find_if(env.recipients.begin(), env.recipients.end(),
                           [&](const queue::Recipient& r) { return r.address == d.address; });
    uint8_t notify = it == env.recipients.end() ? 0 : it->notify;
    if (notify && !(notify & queue::kNotifyFailure)) continue;
    report.push_back(std::move(d));
  }
  work->failed.clear();
  warn_delay(*work, now);
  if (!report.empty() && !env.sender.empty()) {
    // The DSN is durable before the original's record changes: a crash in
    // between repeats an attempt, it never loses the report.
    queue_dsn(*work, std::move(report), [this, work] { write_back(work); });
    return;
  }
  if (!report.empty() && (env.listener == "bounce" || env.listener == "delay")) {
    queue_double_bounce(*work, std::move(report), [this, work] { write_back(work); });
    return;
  }
  write_back(work);
}

void DeliveryEngine::expire_pending(MessageWork& work, int64_t now) {
  auto& env = work.envelope;
  bool pending = std::any_of(env.recipients.begin(), env.recipients.end(),
                             [](const auto& r) { return r.state == queue::RcptState::kPending; });
  if (!pending || !retry_.expired(env.created_ms, now)) return;
  for (auto& r : env.recipients) {
    if (r.state != queue::RcptState::kPending) continue;
    r.state = queue::RcptState::kExpired;
    std::string last = r.attempts.empty() ? "" : r.attempts.back().response;
    DsnRecipient d;
    d.address = r.address;
    d.orcpt = r.orcpt;
    d.action = "failed";
    d.status = "4.4.7";
    d.diagnostic = last;
    d.reason = "delivery time expired; last error: " + last;
    d.last_attempt_ms = r.attempts.empty() ? 0 : r.attempts.back().time_ms;
    d.category = "expired";
    work.failed.push_back(std::move(d));
    m::deliveries("expired").inc();
    m::bounces("expired", r.attempts.empty() ? "" : provider_of(r.attempts.back().host)).inc();
    queue::QueueEvent e = message_event(work, "expired", now);
    e.rcpt = r.address;
    e.response = last;
    e.dsn = "4.4.7";
    e.attempt = static_cast<uint32_t>(r.attempts.size());
    e.category = "expired";
    queue::log_event(
        log::Level::kInfo, "delivery", e,
        {{"status", "expired"}, {"relay", "none"}, {"delay", seconds_text(now - env.created_ms)}});
    work.events.push_back(std::move(e));
  }
}

void DeliveryEngine::warn_delay(MessageWork& work, int64_t now) {
  auto& env = work.envelope;
  bool pending = std::any_of(env.recipients.begin(), env.recipients.end(),
                             [](const auto& r) { return r.state == queue::RcptState::kPending; });
  if (!pending || env.delay_warned || env.sender.empty() ||
      !retry_.delay_warning_due(env.created_ms, now))
    return;
  env.delay_warned = true;
  std::vector<DsnRecipient> delayed;
  for (const auto& r : env.recipients) {
    if (r.state != queue::RcptState::kPending) continue;
    // Without NOTIFY the sender hears of delays; with it, only if asked.
    if (r.notify && !(r.notify & queue::kNotifyDelay)) continue;
    DsnRecipient d;
    d.address = r.address;
    d.orcpt = r.orcpt;
    d.action = "delayed";
    d.diagnostic = r.attempts.empty() ? "" : r.attempts.back().response;
    d.status = delay_status(d.diagnostic);
    d.category = r.attempts.empty() ? "" : r.attempts.back().category;
    d.last_attempt_ms = r.attempts.empty() ? 0 : r.attempts.back().time_ms;
    delayed.push_back(std::move(d));
  }
  if (!delayed.empty()) queue_dsn(work, std::move(delayed), [] {});
}

bool DeliveryEngine::apply_pending_op(std::shared_ptr<MessageWork> work, bool pending,
                                      bool* flush_now) {
  auto op = pending_ops_.find(work->id);
  if (op == pending_ops_.end()) return false;
  Pending what = op->second;
  pending_ops_.erase(op);
  *flush_now = what == Pending::kFlush;
  if (what == Pending::kBounce && pending) {
    fail_pending(*work, "5.0.0 returned to the sender by the operator");
    in_flight_.insert(work->id);  // finalize() comes back here once the DSN is queued
    finalize(work);
    return true;
  }
  if (what == Pending::kHold && pending) {
    auto& env = work->envelope;
    env.state = queue::MessageState::kHeld;
    queue::QueueEvent e = message_event(*work, "held", log::now_ms());
    e.response = "held by the operator";
    work->events.push_back(std::move(e));
    if (auto s = store_.update_with(work->id, env, outbox(work->events)); !s)
      log::error("queue update failed", {{"id", work->id.str()}, {"reason", s.message()}});
    ++held_;
    announce(*work);
    arm();
    return true;
  }
  return false;
}

void DeliveryEngine::write_back(std::shared_ptr<MessageWork> work) {
  auto& env = work->envelope;
  bool pending = false;
  uint32_t attempts = 0;
  for (const auto& r : env.recipients) {
    if (r.state != queue::RcptState::kPending) continue;
    pending = true;
    attempts = std::max<uint32_t>(attempts, static_cast<uint32_t>(r.attempts.size()));
  }
  in_flight_.erase(work->id);
  bool flush_now = false;
  if (auto op = pending_ops_.find(work->id);
      op != pending_ops_.end() && op->second == Pending::kRemove) {
    pending_ops_.erase(op);
    pending = false;
    queue::QueueEvent e = message_event(*work, "deleted", log::now_ms());
    e.response = "deleted by the operator";
    work->events.push_back(std::move(e));
  } else if (apply_pending_op(work, pending, &flush_now)) {
    return;
  }
  // The record changes through the committer, grouped with other writes; the
  // message stays in flight until the change is durable.
  in_flight_.insert(work->id);
  Loop* loop = &loop_;
  if (!pending) {
    store_.remove_async(
        work->id,
        [this, loop, work](Status s) {
          loop->post([this, work, s] {
            in_flight_.erase(work->id);
            if (!s)
              log::error("queue remove failed", {{"id", work->id.str()}, {"reason", s.message()}});
            announce(*work);
            arm();
          });
        },
        outbox(work->events));
    return;
  }
  int64_t retry_at = retry_.next_attempt_ms(log::now_ms(), std::max<uint32_t>(attempts, 1));
  env.next_attempt_ms = flush_now ? log::now_ms() : std::max(work->not_before_ms, retry_at);
  if (!flush_now && work->not_before_ms > retry_at) {
    limiter_waits_.insert(work->id);
  } else {
    limiter_waits_.erase(work->id);
  }
  env.state = queue::MessageState::kDeferred;
  store_.update_async(
      work->id, env,
      [this, loop, work](Status s) {
        loop->post([this, work, s] {
          in_flight_.erase(work->id);
          if (!s) {
            // The old record stands, with its old due time: it is tried again.
            log::error("queue update failed", {{"id", work->id.str()}, {"reason", s.message()}});
            scheduler_.schedule(work->id, log::now_ms() + 60000);
          } else {
            scheduler_.schedule(work->id, work->envelope.next_attempt_ms);
          }
          announce(*work);
          arm();
        });
      },
      outbox(work->events));
}

queue::OutboxEvents DeliveryEngine::outbox(const std::vector<queue::QueueEvent>& events) const {
  if (config_->events.webhooks.empty()) return {};
  return queue::events_json(events);
}

queue::QueueEvent DeliveryEngine::message_event(const MessageWork& work, const char* event,
                                                int64_t now) const {
  queue::QueueEvent e;
  e.time_ms = now;
  e.event = event;
  e.id = work.id.str();
  e.message_id = work.message_id;
  e.sender = work.envelope.sender;
  e.user = work.envelope.auth_user;
  e.listener = work.envelope.listener;
  return e;
}

queue::QueueEvent DeliveryEngine::operator_event(const char* event, const queue::QueueId& id,
                                                 const queue::Envelope& envelope,
                                                 const std::string& response) {
  MessageWork work;
  work.id = id;
  work.envelope = envelope;
  // An unreadable message is logged where it matters (delivery); the event goes without.
  if (auto data = store_.message(id)) work.message_id = mail::header_value(*data, "Message-ID");
  queue::QueueEvent e = message_event(work, event, log::now_ms());
  e.response = response;
  return e;
}

// count_delivered - the complaint rate's denominator, per provider as the limiter names them.
void DeliveryEngine::count_delivered(const std::string& host, const std::string& rcpt,
                                     int64_t now) {
  std::string name = host.substr(0, host.find('['));
  // Our own mailboxes (Maildir, LMTP) are no provider's.
  if (!limiter_ || !limiter_->active() || name.empty() || name == "local" || name == "lmtp") return;
  limiter_->observe_delivered(limiter_->provider_for({name}), rcpt.substr(rcpt.rfind('@') + 1),
                              now);
}

std::string DeliveryEngine::provider_of(const std::string& host) const {
  std::string name = host.substr(0, host.find('['));
  if (name.empty() || name == "local") return "";
  if (limiter_) {
    std::string p = limiter_->provider_for({name});
    if (p != "default") return p;
  }
  return policy::bounce_provider(name);
}

std::vector<size_t> DeliveryEngine::suppressed_now(const MessageWork& work) {
  std::vector<size_t> out;
  if (!suppression_ || !config_->suppression.bounce_at_submission) return out;
  const auto& env = work.envelope;
  // Only what our users submitted: inbound mail and our own reports are not held back.
  bool submitted =
      std::any_of(config_->listeners.begin(), config_->listeners.end(),
                  [&](const auto& l) { return l.name == env.listener && conf::submits(l.role); });
  if (!submitted) return out;
  int64_t now = log::now_ms();
  for (size_t i = 0; i < env.recipients.size(); ++i) {
    const auto& r = env.recipients[i];
    if (r.state == queue::RcptState::kPending && suppression_->find(env.sender, r.address, now))
      out.push_back(i);
  }
  return out;
}

void DeliveryEngine::bounce_suppressed(std::shared_ptr<MessageWork> work,
                                       std::vector<size_t> which) {
  int64_t now = log::now_ms();
  TransactionResult replies;
  for (size_t i : which) {
    const auto& r = work->envelope.recipients[i];
    auto entry = suppression_->find(work->envelope.sender, r.address, now);
    std::string text =
        entry ? policy::suppression_reply(*entry) : "5.1.1 <" + r.address + ">: suppressed";
    replies.push_back(synthetic(550, text));
    queue::QueueEvent e = message_event(*work, "suppressed", now);
    e.rcpt = r.address;
    e.response = "550 " + text;
    e.dsn = "5.1.1";
    work->events.push_back(std::move(e));
  }
  Job job{work, std::move(which), std::nullopt};
  record(job, replies, kSuppressionHost, {});
}

void DeliveryEngine::announce(MessageWork& work) {
  for (const auto& e : work.events) events_.publish(e);
  work.events.clear();
}

void DeliveryEngine::fail_pending(MessageWork& work, const std::string& text) {
  int64_t now = log::now_ms();
  for (auto& r : work.envelope.recipients) {
    if (r.state != queue::RcptState::kPending) continue;
    r.state = queue::RcptState::kBounced;
    r.attempts.push_back({now, "", text, "", "", ""});
    DsnRecipient d;
    d.address = r.address;
    d.orcpt = r.orcpt;
    d.action = "failed";
    d.status = "5.0.0";
    d.reason = "returned to the sender by the mail system administrator";
    d.last_attempt_ms = now;
    work.failed.push_back(std::move(d));
    queue::QueueEvent e = message_event(work, "bounced", now);
    e.rcpt = r.address;
    e.response = text;
    e.dsn = "5.0.0";
    e.attempt = static_cast<uint32_t>(r.attempts.size());
    queue::log_event(log::Level::kInfo, "delivery", e, {{"status", "bounced"}, {"relay", "none"}});
    work.events.push_back(std::move(e));
  }
}

void DeliveryEngine::queue_dsn(const MessageWork& work, std::vector<DsnRecipient> recipients,
                               std::function<void()> then) {
  DsnInput in;
  in.hostname = config_->hostname;
  in.queue_id = work.id.str();
  in.original_sender = work.envelope.sender;
  in.envid = work.envelope.envid;
  in.ret = work.envelope.ret;
  in.arrival_ms = work.envelope.created_ms;
  in.retry_until_ms = work.envelope.created_ms + config_->delivery.retry.max_age.count();
  in.original = work.data.get();
  in.recipients = std::move(recipients);
  bool delay = in.recipients.front().action == "delayed";
  size_t count = in.recipients.size();
  // The categories of the failures reported, each once, in the order first met.
  std::string categories;
  for (const auto& r : in.recipients) {
    if (r.category.empty()) continue;
    std::string padded = "," + categories + ",";
    if (padded.find("," + r.category + ",") != std::string::npos) continue;
    categories += (categories.empty() ? "" : ",") + r.category;
  }
  LocalMessage local;
  local.sender = "";
  local.recipient = work.envelope.sender;
  local.smtputf8 = work.envelope.smtputf8;
  local.origin = delay ? "delay" : "bounce";
  local.build = [in = std::move(in)](const std::string& message_id, int64_t now) {
    return build_dsn(in, message_id, now);
  };
  // One event for the report as a whole: to whom it goes, and about which message.
  queue::QueueEvent e;
  e.time_ms = log::now_ms();
  e.event = delay ? "delay_notice" : "dsn_sent";
  e.rcpt = work.envelope.sender;
  e.listener = local.origin;
  e.response = (delay ? "delay notice for " : "failure report for ") + std::to_string(count) +
               (count == 1 ? " recipient" : " recipients");
  e.original = work.id.str();
  queue::QueueEvent logged = e;
  local.events.push_back(std::move(e));
  queue::QueueId id =
      enqueuer_.queue_own(std::move(local), [then = std::move(then)](Status) { then(); });
  // queue_own names the report as it named the event.
  logged.id = id.str();
  logged.message_id = "<" + id.str() + "@" + config_->hostname + ">";
  queue::log_event(log::Level::kInfo, delay ? "delay notice" : "bounce", logged,
                   {{"recipients", std::to_string(count)}, {"categories", categories}});
}

// A DSN or delay notice of ours that could not be delivered (the sender address is no
// mailbox, its domain refuses it): rather than drop it, as nobody would hear of the failure,
// it goes inside a new report to the postmaster of that sender's domain (Postfix's double
// bounce). That report is of origin "double-bounce": if it fails too, it is dropped.
void DeliveryEngine::queue_double_bounce(MessageWork& work, std::vector<DsnRecipient> recipients,
                                         std::function<void()> then) {
  std::string failed = recipients.front().address;
  std::string postmaster = "postmaster@" + failed.substr(failed.rfind('@') + 1);
  DsnInput in;
  in.hostname = config_->hostname;
  in.queue_id = work.id.str();
  in.original_sender = postmaster;
  in.ret = "FULL";  // the undeliverable report itself, whole
  in.arrival_ms = work.envelope.created_ms;
  in.original = work.data.get();
  in.recipients = std::move(recipients);
  LocalMessage local;
  local.sender = "";
  local.recipient = postmaster;
  local.origin = "double-bounce";
  local.build = [in = std::move(in)](const std::string& message_id, int64_t now) {
    return build_dsn(in, message_id, now);
  };
  queue::QueueId id =
      enqueuer_.queue_own(std::move(local), [then = std::move(then)](Status) { then(); });
  queue::QueueEvent e = message_event(work, "double_bounce", log::now_ms());
  e.rcpt = failed;
  e.response = "report sent to " + postmaster;
  e.original = work.id.str();
  queue::log_event(log::Level::kWarning, "undeliverable report sent to the postmaster", e,
                   {{"report", id.str()}, {"failed", failed}, {"to", postmaster}});
  work.events.push_back(std::move(e));  // announced with the envelope's removal
}

}  // namespace hato::relay
