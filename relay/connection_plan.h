// connection_plan.h - which connections a destination opens, once each queued message has
// its egress address (issue 28): the weights pick the address per message, and the plan
// only brings connections to the mail. Idle connections have taken their share first.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

namespace hato::relay {

struct EgressDemand {
  std::optional<size_t> egress;  // none: no egress addresses, LMTP, or not chosen yet
  size_t queued = 0;             // messages waiting for a connection of this egress
  size_t open = 0;               // this destination's connections of it, busy or starting
  size_t cap = 0;                // at most this many connections of it
};

// The egress of each connection to open, at most `room` of them. An egress gets at most
// one new connection per queued message and never more than its cap; the egress with the
// most queued messages per connection goes first, so no address waits behind another.
std::vector<std::optional<size_t>> plan_connections(std::vector<EgressDemand> demand, size_t room);

}  // namespace hato::relay
