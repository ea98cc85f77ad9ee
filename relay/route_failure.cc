// route_failure.cc - deferral or "no route" for an attempt that found no session.
#include "relay/route_failure.h"

namespace hato::relay {

// route_failure - a policy failure first: it must never become a bounce.
RouteFailure route_failure(const RouteFacts& facts) {
  if (facts.policy_failure) return {451, "4.7.5"};
  // Every host name exists and none has an address: no route (RFC 5321 5.1).
  if (!facts.connect_tried && !facts.dns_trouble && !facts.smarthost) return {550, "5.4.4"};
  return {451, "4.4.1"};
}

}  // namespace hato::relay
