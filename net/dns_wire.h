// dns_wire.h - DNS wire constants and name helpers (internal to net/).
//
// Shared by the response parsers (dns_response.cc), which read raw messages, and the
// resolver (cares_resolver.cc), which builds queries and caches what the parsers return.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/strings.h"

namespace hato::net::wire {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeCname = 5;
inline constexpr uint16_t kTypeSoa = 6;
inline constexpr uint16_t kTypePtr = 12;
inline constexpr uint16_t kTypeMx = 15;
inline constexpr uint16_t kTypeTxt = 16;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kTypeTlsa = 52;
inline constexpr uint16_t kClassIn = 1;

// Lower case, no trailing dot.
inline std::string lower_host(std::string_view name) {
  std::string out = ascii_lower(name);
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

// Keeps the least of the values seen.
inline void keep_least(std::optional<uint32_t>& slot, uint32_t value) {
  slot = slot ? std::min(*slot, value) : value;
}

}  // namespace hato::net::wire
