// dashboard_counts.cc - the overview's rings of counts.
#include "cli/dashboard_counts.h"

namespace hato::cli {

namespace {

constexpr int64_t kMinuteMs = 60'000;
constexpr int64_t kHourMs = 60 * kMinuteMs;

int kind_of(std::string_view event) {
  if (event == "received") return EventCounts::kAccepted;
  if (event == "delivered") return EventCounts::kDelivered;
  if (event == "deferred") return EventCounts::kDeferred;
  if (event == "bounced" || event == "expired") return EventCounts::kBounced;
  return -1;
}

}  // namespace

const char* EventCounts::name(size_t kind) {
  static const char* const kNames[] = {"accepted", "delivered", "deferred", "bounced"};
  return kind < kKinds ? kNames[kind] : "";
}

void EventCounts::add(std::string_view event, int64_t now_ms) {
  int kind = kind_of(event);
  if (kind < 0) return;
  // A slot last used for an older period starts again from zero.
  auto bump = [kind](auto& ring, int64_t period) {
    auto& slot = ring[static_cast<size_t>(period) % ring.size()];
    if (slot.period != period) slot = Slot{period, {}};
    ++slot.counts[static_cast<size_t>(kind)];
  };
  bump(minutes_, now_ms / kMinuteMs);
  bump(hours_, now_ms / kHourMs);
}

template <size_t N>
std::array<EventCounts::Series, N> EventCounts::window(const std::array<Slot, N>& ring,
                                                       int64_t period) {
  std::array<Series, N> out{};
  for (size_t i = 0; i < N; ++i) {
    int64_t p = period - static_cast<int64_t>(N - 1 - i);
    if (p < 0) continue;
    const Slot& slot = ring[static_cast<size_t>(p) % N];
    if (slot.period == p) out[i] = slot.counts;
  }
  return out;
}

std::array<EventCounts::Series, EventCounts::kMinutes> EventCounts::minutes(int64_t now_ms) const {
  return window(minutes_, now_ms / kMinuteMs);
}

std::array<EventCounts::Series, EventCounts::kHours> EventCounts::hours(int64_t now_ms) const {
  return window(hours_, now_ms / kHourMs);
}

EventCounts::Series EventCounts::last_hour(int64_t now_ms) const {
  Series sum{};
  for (const auto& minute : minutes(now_ms))
    for (size_t k = 0; k < kKinds; ++k) sum[k] += minute[k];
  return sum;
}

}  // namespace hato::cli
