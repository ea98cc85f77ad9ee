// dashboard_counts_test.cc - the overview's rings: per minute, per hour, old slots reused.
#include <boost/test/unit_test.hpp>

#include "cli/dashboard_counts.h"

namespace hato::cli {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kT0 = 1'800'000'000'000;  // a whole hour

BOOST_AUTO_TEST_SUITE(dashboard_counts)

BOOST_AUTO_TEST_CASE(events_land_in_their_minute_and_hour) {
  EventCounts c;
  c.add("received", kT0);
  c.add("received", kT0 + 1000);
  c.add("delivered", kT0 + kMinute);
  c.add("expired", kT0 + kMinute);
  c.add("held", kT0 + kMinute);  // not charted
  auto m = c.minutes(kT0 + kMinute);
  BOOST_TEST(m[58][EventCounts::kAccepted] == 2u);
  BOOST_TEST(m[59][EventCounts::kDelivered] == 1u);
  BOOST_TEST(m[59][EventCounts::kBounced] == 1u);
  BOOST_TEST(c.hours(kT0 + kMinute)[47][EventCounts::kAccepted] == 2u);
  auto sum = c.last_hour(kT0 + kMinute);
  BOOST_TEST(sum[EventCounts::kAccepted] == 2u);
  BOOST_TEST(sum[EventCounts::kDeferred] == 0u);
}

BOOST_AUTO_TEST_CASE(an_hour_later_the_minutes_are_gone_and_slots_start_again) {
  EventCounts c;
  c.add("deferred", kT0);
  int64_t later = kT0 + 60 * kMinute;  // the same slot of the minute ring
  BOOST_TEST(c.last_hour(later)[EventCounts::kDeferred] == 0u);
  c.add("deferred", later);
  BOOST_TEST(c.minutes(later)[59][EventCounts::kDeferred] == 1u);  // not 2
  auto h = c.hours(later);
  BOOST_TEST(h[46][EventCounts::kDeferred] == 1u);
  BOOST_TEST(h[47][EventCounts::kDeferred] == 1u);
  // Two days on, the first hour has left the window; the second is the oldest in it.
  auto two_days = c.hours(kT0 + 48 * 60 * kMinute);
  BOOST_TEST(two_days[0][EventCounts::kDeferred] == 1u);
  uint64_t sum = 0;
  for (const auto& hour : two_days) sum += hour[EventCounts::kDeferred];
  BOOST_TEST(sum == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::cli
