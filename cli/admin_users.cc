// admin_users.cc - POST /v1/users/reload: the users file read again now (admin_server.h). The
// route is there only when the daemon set a reloader (Impl::has_users_reload).
#include <event2/http.h>

#include "cli/admin_impl.h"

namespace hato::cli {

void AdminServer::Impl::reload_users(evhttp_request* req, const RouteArgs&) {
  Result<std::string> answer = users_reload();
  if (!answer) return send_error(req, HTTP_INTERNAL, "Internal Server Error", answer.message());
  send_json(req, HTTP_OK, "OK", *answer);
}

}  // namespace hato::cli
