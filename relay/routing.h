// routing.h - a destination domain's MX answer as the ordered list of hosts to try
// (RFC 5321 section 5.1, RFC 7505), or the reason its mail cannot be routed.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "net/resolver.h"

namespace hato::relay {

struct RouteHost {
  std::string name;
  uint16_t preference = 0;
};

struct MxRoute {
  std::vector<RouteHost> hosts;  // in the order to try
  bool secure = false;           // the MX answer, or its secure NODATA, was DNSSEC-authenticated
  // Set when there is nothing to try: 556 for a null MX, 550 for NXDOMAIN, 451 for DNS trouble.
  int code = 0;
  std::string error;
};

// Lowest preference first, equal preferences in random order (to spread the load); no MX
// records: the domain itself (implicit MX); a lone "." target: the domain accepts no mail.
MxRoute route_mx(const std::string& domain, net::MxResult mx, std::mt19937& random);

}  // namespace hato::relay
