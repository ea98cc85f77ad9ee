// admin_dmarc.cc - GET /v1/dmarc?domain=D&days=N: the DMARC aggregate reports received,
// summed per domain and source (relay/dmarc_reports.h), for `hato dmarc summary`.
#include <charconv>

#include "cli/admin_impl.h"
#include "common/strings.h"

namespace hato::cli {

void AdminServer::Impl::dmarc(evhttp_request* req, const RouteArgs& args) {
  std::string domain;
  int days = 7;
  bool read = read_query(req, args.query, [&](std::string_view key, std::string_view value) {
    if (key == "domain") {
      domain = ascii_lower(value);
      if (domain.find('/') != std::string::npos) return "not a domain: " + std::string(value);
      return std::string();
    }
    if (key != "days") return unknown_parameter(key);
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), days);
    if (ec != std::errc() || end != value.data() + value.size() || days < 1 || days > 366)
      return "days must be a number from 1 to 366: " + std::string(value);
    return std::string();
  });
  if (!read) return;
  auto body = dmarc_summary(domain, days);
  if (!body)
    return send_error(req, HTTP_INTERNAL, "Internal Server Error", body.status().message());
  send_json(req, HTTP_OK, "OK", *body);
}

}  // namespace hato::cli
