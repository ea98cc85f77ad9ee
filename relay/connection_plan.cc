// connection_plan.cc - new connections for the mail queued per egress address.
#include "relay/connection_plan.h"

namespace hato::relay {

// plan_connections - one connection at a time: first to an egress with none, then to the
// one with the most queued messages per connection (queued / (open + 1)).
std::vector<std::optional<size_t>> plan_connections(std::vector<EgressDemand> demand, size_t room) {
  std::vector<std::optional<size_t>> plan;
  std::vector<size_t> added(demand.size(), 0);
  while (plan.size() < room) {
    const EgressDemand* best = nullptr;
    size_t best_index = 0;
    for (size_t i = 0; i < demand.size(); ++i) {
      const EgressDemand& d = demand[i];
      if (added[i] >= d.queued || d.open + added[i] >= d.cap) continue;
      if (best) {
        size_t mine = d.open + added[i], theirs = best->open + added[best_index];
        if (mine != 0 && theirs == 0) continue;
        // d.queued / (mine + 1) > best.queued / (theirs + 1), without division.
        if ((mine == 0) == (theirs == 0) && d.queued * (theirs + 1) <= best->queued * (mine + 1))
          continue;
      }
      best = &d;
      best_index = i;
    }
    if (!best) break;
    ++added[best_index];
    plan.push_back(best->egress);
  }
  return plan;
}

}  // namespace hato::relay
