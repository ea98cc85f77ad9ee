// dashboard_counts.h - what the overview charts: recipients accepted, delivered, deferred and
// bounced (expired counts as bounced) per minute over the last hour and per hour over the
// last two days, counted from the EventBus into fixed rings. An event costs a comparison and
// an increment; nothing grows, nothing is stored.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace hato::cli {

class EventCounts {
 public:
  enum Kind : size_t { kAccepted, kDelivered, kDeferred, kBounced, kKinds };
  static constexpr size_t kMinutes = 60;
  static constexpr size_t kHours = 48;
  using Series = std::array<uint64_t, kKinds>;

  // Counts one event of type `event` ("received", "delivered", ...; others are ignored).
  void add(std::string_view event, int64_t now_ms);
  // The last kMinutes minutes (or kHours hours) up to now, oldest first.
  std::array<Series, kMinutes> minutes(int64_t now_ms) const;
  std::array<Series, kHours> hours(int64_t now_ms) const;
  // Each kind summed over the last hour.
  Series last_hour(int64_t now_ms) const;
  static const char* name(size_t kind);

 private:
  struct Slot {
    int64_t period = -1;  // the minute (or hour) since the epoch these counts are of
    Series counts{};
  };
  template <size_t N>
  static std::array<Series, N> window(const std::array<Slot, N>& ring, int64_t period);

  std::array<Slot, kMinutes> minutes_{};
  std::array<Slot, kHours> hours_{};
};

}  // namespace hato::cli
