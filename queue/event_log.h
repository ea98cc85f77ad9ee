// event_log.h - the log form of a queue event: the log lines that report an event (delivery,
// expired, bounce, delay notice, complaint, held, ...) carry the Event JSON's fields under the
// same names and with the same values, so a log reader and a webhook receiver see one schema.
//
// Flattened for the log: `tls.version` is `tls_version`, `tls.policy` is `tls_policy`; `time`
// and `event` are the log line's own (the line's name says what happened). An empty field is
// written empty (`sender=""`), as the JSON has it, never as "-".
#pragma once

#include <array>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "queue/events.h"

namespace hato::queue {

// The event's fields in the Event JSON's order. The values point into `event` and `attempt`,
// which must outlive the result.
using EventLogFields = std::array<log::Field, 16>;
EventLogFields event_log_fields(const QueueEvent& event, const std::string& attempt);

// One log line `line` with the event's fields, then `extra` (what only the log says: the
// relay as one text, the delay, the cipher, ...).
void log_event(log::Level level, std::string_view line, const QueueEvent& event,
               std::initializer_list<log::Field> extra = {});

}  // namespace hato::queue
