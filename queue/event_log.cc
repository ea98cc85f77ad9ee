// event_log.cc - see event_log.h.
#include "queue/event_log.h"

namespace hato::queue {

EventLogFields event_log_fields(const QueueEvent& e, const std::string& attempt) {
  return {{{"id", e.id},
           {"message_id", e.message_id},
           {"sender", e.sender},
           {"rcpt", e.rcpt},
           {"user", e.user},
           {"listener", e.listener},
           {"category", e.category},
           {"dsn", e.dsn},
           {"response", e.response},
           {"mx", e.mx},
           {"address", e.address},
           {"egress", e.egress},
           {"tls_version", e.tls_version},
           {"tls_policy", e.tls_policy},
           {"attempt", attempt},
           {"original", e.original}}};
}

void log_event(log::Level level, std::string_view line, const QueueEvent& event,
               std::initializer_list<log::Field> extra) {
  std::string attempt = std::to_string(event.attempt);
  EventLogFields own = event_log_fields(event, attempt);
  std::vector<log::Field> fields(own.begin(), own.end());
  fields.insert(fields.end(), extra.begin(), extra.end());
  log::write(level, line, fields);
}

}  // namespace hato::queue
