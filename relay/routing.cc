// routing.cc - MX answer to ordered hosts.
#include "relay/routing.h"

#include <algorithm>

namespace hato::relay {

MxRoute route_mx(const std::string& domain, net::MxResult mx, std::mt19937& random) {
  MxRoute route;
  route.secure = mx.authenticated &&
                 (mx.status == net::DnsStatus::kOk || mx.status == net::DnsStatus::kNoData);
  switch (mx.status) {
    case net::DnsStatus::kOk:
      break;
    case net::DnsStatus::kNoData:
      route.hosts.push_back({domain, 0});  // implicit MX (RFC 5321 5.1)
      return route;
    case net::DnsStatus::kNxDomain:
      route.code = 550;
      route.error = "5.1.2 Host or domain name not found: " + domain +
                    " does not exist (MX lookup: NXDOMAIN)";
      return route;
    default:
      route.code = 451;
      route.error = "4.4.3 DNS lookup of MX for " + domain +
                    " failed: " + (mx.error.empty() ? net::dns_status_name(mx.status) : mx.error);
      return route;
  }
  if (mx.records.size() == 1 && mx.records[0].host.empty()) {
    route.code = 556;
    route.error = "5.1.10 Domain " + domain + " does not accept mail (null MX)";
    return route;
  }
  std::vector<net::MxRecord> records;
  for (auto& r : mx.records)
    if (!r.host.empty()) records.push_back(std::move(r));
  std::shuffle(records.begin(), records.end(), random);
  std::stable_sort(
      records.begin(), records.end(),
      [](const net::MxRecord& a, const net::MxRecord& b) { return a.preference < b.preference; });
  for (auto& r : records) route.hosts.push_back({std::move(r.host), r.preference});
  return route;
}

}  // namespace hato::relay
