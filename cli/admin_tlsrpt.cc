// admin_tlsrpt.cc - POST /v1/tlsrpt/send: TLS-RPT reports sent now (admin_server.h). The route
// is there only when the daemon set a sender (Impl::has_tls_report_send).
#include <event2/http.h>

#include "cli/admin_impl.h"

namespace hato::cli {

void AdminServer::Impl::tls_report(evhttp_request* req, const RouteArgs&) {
  send_json(req, HTTP_OK, "OK", tls_report_send());
}

}  // namespace hato::cli
