// weighted_pick.h - smooth weighted round robin (the choice nginx's upstream module makes):
// each pick adds every candidate's weight to its credit, takes the candidate with the most
// credit and charges it the sum of the weights. Over any run of picks as long as the sum of
// the weights, each candidate is picked exactly its weight's times, spread out (weights
// 1:3 pick b, b, a, b, ...), so shares hold over a few messages, not only over thousands.
#pragma once

#include <cstdint>
#include <span>

namespace hato::policy {

struct WeightedSlot {
  uint32_t weight = 1;
  int64_t* credit = nullptr;  // kept by the caller between picks
};

// The index of the chosen slot; `slots` must not be empty.
size_t smooth_weighted_pick(std::span<const WeightedSlot> slots);

}  // namespace hato::policy
