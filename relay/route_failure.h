// route_failure.h - what the mail of a destination is told when an attempt ran out of
// hosts and addresses without a session: deferred, or (only when every host name exists
// and none has an address) bounced as "no route".
//
// A policy failure (MTA-STS enforce, DANE) always defers with 4.7.5, whether or not a
// connection was made: RFC 8461 section 4 and RFC 7672 section 2.2 forbid a permanent
// failure for it, and a host skipped before connecting is still skipped by the policy.
#pragma once

#include <string>

namespace hato::relay {

struct RouteFacts {
  bool connect_tried = false;   // some address was connected to (or tried)
  bool dns_trouble = false;     // a lookup failed temporarily
  bool policy_failure = false;  // a host was refused or skipped by MTA-STS or DANE
  bool smarthost = false;
};

struct RouteFailure {
  int code = 451;
  std::string status;  // the enhanced status code: "4.7.5", "4.4.1", "5.4.4"
};

RouteFailure route_failure(const RouteFacts& facts);

}  // namespace hato::relay
