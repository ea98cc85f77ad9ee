// admin_events.cc - GET /v1/events/status: each webhook's backlog and last answers, and the
// outbox's size and losses (admin_server.h). The event stream itself is admin_queue.cc's.
#include <event2/http.h>

#include "cli/admin_impl.h"

namespace hato::cli {

void AdminServer::Impl::webhooks(evhttp_request* req, const RouteArgs&) {
  send_json(req, HTTP_OK, "OK", events_status ? events_status() : std::string());
}

}  // namespace hato::cli
