// event_json.h - the one JSON form of a queue event (INTERFACE.md, "Event JSON"): what
// `hato queue tail --json` prints, the admin API streams and the webhooks send in arrays.
//
// Every key is always there, in the same order, so a reader can check the schema rather than
// guess it: a string that does not apply is "", `attempt` is 0, `tls` is {"version":"",
// "policy":""}. The keys of the first schema (time, event, id, rcpt, response) keep their names.
#pragma once

#include <string>
#include <vector>

#include "queue/events.h"

namespace hato::queue {

std::string event_json(const QueueEvent& event);

// Each event's JSON, for the webhooks' outbox (Store::OutboxEvents).
std::vector<std::string> events_json(const std::vector<QueueEvent>& events);

}  // namespace hato::queue
