// event_json.cc - see event_json.h.
#include "queue/event_json.h"

#include "common/log.h"

namespace hato::queue {

namespace {

void append_field(std::string& out, std::string_view key, std::string_view value) {
  out += ',';
  log::append_json_string(out, key);
  out += ':';
  log::append_json_string(out, value);
}

}  // namespace

std::string event_json(const QueueEvent& e) {
  std::string out;
  out.reserve(320 + e.response.size());
  out += "{\"event\":";
  log::append_json_string(out, e.event);
  append_field(out, "time", log::rfc3339(e.time_ms));
  append_field(out, "id", e.id);
  append_field(out, "message_id", e.message_id);
  append_field(out, "sender", e.sender);
  append_field(out, "rcpt", e.rcpt);
  append_field(out, "user", e.user);
  append_field(out, "listener", e.listener);
  append_field(out, "category", e.category);
  append_field(out, "dsn", e.dsn);
  append_field(out, "response", e.response);
  append_field(out, "mx", e.mx);
  append_field(out, "address", e.address);
  append_field(out, "egress", e.egress);
  out += ",\"tls\":{\"version\":";
  log::append_json_string(out, e.tls_version);
  out += ",\"policy\":";
  log::append_json_string(out, e.tls_policy);
  out += "},\"attempt\":";
  out += std::to_string(e.attempt);
  append_field(out, "original", e.original);
  out += '}';
  return out;
}

std::vector<std::string> events_json(const std::vector<QueueEvent>& events) {
  std::vector<std::string> out;
  out.reserve(events.size());
  for (const auto& e : events) out.push_back(event_json(e));
  return out;
}

}  // namespace hato::queue
