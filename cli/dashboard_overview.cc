// dashboard_overview.cc - the overview page.
#include "cli/dashboard_impl.h"

namespace hato::cli {

void Dashboard::Impl::overview(DashboardRequest& request, const net::HttpResponder& respond) {
  respond(html(200, html::page("Overview", request.session->user, request.session->csrf,
                               "<p>Signed in.</p>")));
}

}  // namespace hato::cli
