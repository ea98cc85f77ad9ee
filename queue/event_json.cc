// event_json.cc - see event_json.h.
#include "queue/event_json.h"

#include "common/log.h"

namespace hato::queue {

std::string event_json(const QueueEvent& e) {
  std::string out;
  out.reserve(320 + e.response.size());
  out += "{\"event\":";
  log::append_json_string(out, e.event);
  log::append_json_field(out, "time", log::rfc3339(e.time_ms));
  log::append_json_field(out, "id", e.id);
  log::append_json_field(out, "message_id", e.message_id);
  log::append_json_field(out, "sender", e.sender);
  log::append_json_field(out, "rcpt", e.rcpt);
  log::append_json_field(out, "user", e.user);
  log::append_json_field(out, "listener", e.listener);
  log::append_json_field(out, "category", e.category);
  log::append_json_field(out, "dsn", e.dsn);
  log::append_json_field(out, "response", e.response);
  log::append_json_field(out, "mx", e.mx);
  log::append_json_field(out, "address", e.address);
  log::append_json_field(out, "egress", e.egress);
  out += ",\"tls\":{\"version\":";
  log::append_json_string(out, e.tls_version);
  out += ",\"policy\":";
  log::append_json_string(out, e.tls_policy);
  out += "},\"attempt\":";
  out += std::to_string(e.attempt);
  log::append_json_field(out, "original", e.original);
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
