// admin_queue_json.cc - the JSON of messages as the admin API sends them and `queue ls/show
// --json` print them (INTERFACE.md), and the names of queue states. Events: queue/event_json.h.
#include <algorithm>
#include <iterator>
#include <string>

#include "cli/admin_server.h"
#include "common/log.h"

namespace hato::cli {

namespace {

void append_number(std::string& out, std::string_view key, uint64_t value) {
  out += ',';
  log::append_json_string(out, key);
  out += ':';
  out += std::to_string(value);
}

void append_recipients(std::string& out, const queue::Envelope& envelope) {
  out += ",\"recipients\":[";
  bool first_rcpt = true;
  for (const auto& r : envelope.recipients) {
    if (!first_rcpt) out += ',';
    first_rcpt = false;
    out += "{\"rcpt\":";
    log::append_json_string(out, r.address);
    log::append_json_field(out, "state", rcpt_state_name(r.state));
    out += ",\"attempts\":[";
    bool first_attempt = true;
    for (const auto& a : r.attempts) {
      if (!first_attempt) out += ',';
      first_attempt = false;
      out += "{\"time\":";
      log::append_json_string(out, log::rfc3339(a.time_ms));
      log::append_json_field(out, "host", a.host);
      log::append_json_field(out, "response", a.response);
      if (!a.tls_policy.empty()) log::append_json_field(out, "tls_policy", a.tls_policy);
      if (!a.tls_version.empty()) {
        log::append_json_field(out, "tls_version", a.tls_version);
        log::append_json_field(out, "tls_cipher", a.tls_cipher);
      }
      if (!a.category.empty()) log::append_json_field(out, "category", a.category);
      out += '}';
    }
    out += "]}";
  }
  out += ']';
}

}  // namespace

const char* message_state_name(queue::MessageState state) {
  switch (state) {
    case queue::MessageState::kQueued:
      return "queued";
    case queue::MessageState::kDeferred:
      return "deferred";
    case queue::MessageState::kHeld:
      return "held";
  }
  return "queued";
}

bool parse_message_state(std::string_view text, queue::MessageState* state) {
  for (auto s :
       {queue::MessageState::kQueued, queue::MessageState::kDeferred, queue::MessageState::kHeld}) {
    if (text == message_state_name(s)) {
      *state = s;
      return true;
    }
  }
  return false;
}

const char* rcpt_state_name(queue::RcptState state) {
  switch (state) {
    case queue::RcptState::kPending:
      return "pending";
    case queue::RcptState::kDelivered:
      return "delivered";
    case queue::RcptState::kBounced:
      return "bounced";
    case queue::RcptState::kExpired:
      return "expired";
  }
  return "pending";
}

std::string message_json(const queue::StoredMessage& message, bool with_recipients) {
  const queue::Envelope& env = message.envelope;
  size_t max_attempts = 0;
  const queue::Attempt* newest = nullptr;
  for (const auto& r : env.recipients) {
    max_attempts = std::max(max_attempts, r.attempts.size());
    for (const auto& a : r.attempts) {
      if (!newest || a.time_ms >= newest->time_ms) newest = &a;
    }
  }

  std::string out;
  out.reserve(with_recipients ? 1024 : 256);
  out += "{\"id\":";
  log::append_json_string(out, message.id.str());
  log::append_json_field(out, "from", env.sender);
  out += ",\"to\":[";
  bool first = true;
  for (const auto& r : env.recipients) {
    if (r.state != queue::RcptState::kPending) continue;
    if (!first) out += ',';
    first = false;
    log::append_json_string(out, r.address);
  }
  out += ']';
  log::append_json_field(out, "state", message_state_name(env.state));
  append_number(out, "attempts", max_attempts);
  log::append_json_field(out, "created", log::rfc3339(env.created_ms));
  log::append_json_field(out, "next_attempt", log::rfc3339(env.next_attempt_ms));
  append_number(out, "size", env.size);
  log::append_json_field(out, "last_response", newest ? std::string_view(newest->response) : "");
  if (with_recipients) {
    // Where the message came from: what an operator asks first about odd mail.
    log::append_json_field(out, "client", env.client);
    log::append_json_field(out, "listener", env.listener);
    log::append_json_field(out, "auth_user", env.auth_user);
    log::append_json_field(out, "envid", env.envid);
    log::append_json_field(out, "ret", env.ret);
    append_recipients(out, env);
  }
  out += '}';
  return out;
}

size_t summary_bucket(int64_t age_ms) {
  for (size_t i = 0; i < std::size(kSummaryBucketMinutes); ++i) {
    if (age_ms < kSummaryBucketMinutes[i] * 60'000) return i;
  }
  return kSummaryBuckets - 1;
}

}  // namespace hato::cli
