// admin_warmup.cc - GET /v1/warmup: the warm-up state of each egress address (admin_server.h).
#include <event2/http.h>

#include "cli/admin_impl.h"

namespace hato::cli {

void AdminServer::Impl::warmup(evhttp_request* req, const RouteArgs&) {
  send_json(req, HTTP_OK, "OK", warmup_status ? warmup_status() : std::string());
}

}  // namespace hato::cli
