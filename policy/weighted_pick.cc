// weighted_pick.cc - smooth weighted round robin.
#include "policy/weighted_pick.h"

namespace hato::policy {

// smooth_weighted_pick - ties go to the first slot, so the sequence is deterministic.
size_t smooth_weighted_pick(std::span<const WeightedSlot> slots) {
  int64_t total = 0;
  size_t best = 0;
  for (size_t i = 0; i < slots.size(); ++i) {
    *slots[i].credit += slots[i].weight;
    total += slots[i].weight;
    if (*slots[i].credit > *slots[best].credit) best = i;
  }
  *slots[best].credit -= total;
  return best;
}

}  // namespace hato::policy
