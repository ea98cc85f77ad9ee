// event_json.cc - see event_json.h.
#include "queue/event_json.h"

#include "common/log.h"
#include "queue/event_log.h"

namespace hato::queue {

std::string event_json(const QueueEvent& e) {
  // The log's list of fields (event_log.h), so the two cannot drift apart; only the shape
  // differs: tls is an object here and attempt a number.
  std::string attempt = std::to_string(e.attempt);
  EventLogFields fields = event_log_fields(e, attempt);
  size_t size = 64 + e.event.size();
  for (const auto& [key, value] : fields) size += key.size() + value.size() + 8;
  std::string out;
  out.reserve(size);
  out += "{\"event\":";
  log::append_json_string(out, e.event);
  out += ",\"time\":\"";
  log::append_rfc3339(out, e.time_ms);
  out += '"';
  for (const auto& [key, value] : fields) {
    // The keys are plain names: no escapes.
    if (key == "tls_version") {
      out += ",\"tls\":{\"version\":";
      log::append_json_string(out, value);
    } else if (key == "tls_policy") {
      out += ",\"policy\":";
      log::append_json_string(out, value);
      out += '}';
    } else if (key == "attempt") {
      out += ",\"attempt\":";
      out += value;
    } else {
      out += ",\"";
      out += key;
      out += "\":";
      log::append_json_string(out, value);
    }
  }
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
