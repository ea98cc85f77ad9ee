// complaint_rate_test.cc - the complaint rate per provider (shaping.complaints) and what the
// limiter does with it: slow down over slow_above, suspend over suspend_above, for every
// egress address, and only for that provider.
#include <boost/test/unit_test.hpp>

#include <map>
#include <string>

#include "common/metrics.h"
#include "conf/config.h"
#include "policy/complaint_rate.h"
#include "policy/limiter.h"
#include "tests/policy/map_store.h"

namespace hato::policy {
namespace {

constexpr int64_t kHourMs = 60 * 60 * 1000;
constexpr int64_t kNoon = 1796644800000;  // 2026-12-07T12:00:00Z

using test_support::config_of;
using test_support::MapStore;

BOOST_AUTO_TEST_CASE(the_defaults_are_gmails_limits) {
  conf::ComplaintLimits d;
  BOOST_TEST(d.suspend_above == 0.003);
  BOOST_TEST(d.slow_above == 0.001);
  BOOST_TEST(d.window.count() == 24 * kHourMs);
  // Too few messages to judge: nothing, whatever the rate.
  BOOST_TEST((complaint_action({999, 500}, d) == ComplaintAction::kNone));
  BOOST_TEST((complaint_action({1000, 1}, d) == ComplaintAction::kNone));  // 0.1%: at the line
  BOOST_TEST((complaint_action({1000, 2}, d) == ComplaintAction::kSlowDown));
  BOOST_TEST((complaint_action({1000, 3}, d) == ComplaintAction::kSlowDown));  // 0.3%: at it
  BOOST_TEST((complaint_action({1000, 4}, d) == ComplaintAction::kSuspend));
}

BOOST_AUTO_TEST_CASE(the_window_slides_and_complaints_find_the_provider_by_domain) {
  ComplaintRate rate(24 * kHourMs);
  for (int i = 0; i < 100; ++i) rate.delivered("google", "gmail.com", kNoon);
  for (int i = 0; i < 50; ++i) rate.delivered("yahoo", "yahoo.com", kNoon + kHourMs);
  BOOST_TEST(rate.complained("GMAIL.com", kNoon + 2 * kHourMs) == "google");
  BOOST_TEST(rate.complained("unknown.test", kNoon + 2 * kHourMs) == "default");
  auto google = rate.counts("google", kNoon + 2 * kHourMs);
  BOOST_TEST(google.delivered == 100u);
  BOOST_TEST(google.complaints == 1u);
  BOOST_TEST(google.rate() == 0.01);
  BOOST_TEST(rate.counts("yahoo", kNoon + 2 * kHourMs).complaints == 0u);
  // A day later the noon deliveries have left the window; the complaint of 14:00 has not.
  auto later = rate.counts("google", kNoon + 25 * kHourMs);
  BOOST_TEST(later.delivered == 0u);
  BOOST_TEST(later.complaints == 1u);
  BOOST_TEST(rate.counts("yahoo", kNoon + 25 * kHourMs).delivered == 50u);
  BOOST_TEST(rate.counts("google", kNoon + 27 * kHourMs).complaints == 0u);
}

BOOST_AUTO_TEST_CASE(a_complaint_rate_over_the_limits_slows_then_suspends_that_provider) {
  MapStore store;
  const std::string yaml =
      "egress:\n"
      "  - {address: 127.0.0.1}\n"
      "  - {address: 127.0.0.2}\n"
      "shaping:\n"
      "  complaints: {min_delivered: 100, slow_above: 1%, slow_rate: 30/m,\n"
      "               suspend_above: 2%, for: 2h}\n";
  Limiter limiter(*config_of(yaml), store);
  Counter& suspensions =
      metrics().counter("hato_suspensions_total", "Egress address x provider suspensions begun",
                        "provider=\"google\"");
  const uint64_t before = suspensions.value();
  for (int i = 0; i < 200; ++i) limiter.observe_delivered("google", "gmail.com", kNoon);
  for (int i = 0; i < 200; ++i) limiter.observe_delivered("yahoo", "yahoo.com", kNoon);
  Wait wait;
  // 2 of 200 is 1%: at the line, nothing yet.
  BOOST_TEST(limiter.observe_complaint("gmail.com", kNoon + 1) == "google");
  BOOST_TEST(limiter.observe_complaint("gmail.com", kNoon + 2) == "google");
  BOOST_TEST(limiter.status_json(kNoon + 3).find("slowdowns\":[{") == std::string::npos);
  // 3: 1.5%, slowed down to 30/m from both addresses.
  limiter.observe_complaint("gmail.com", kNoon + 3);
  std::string status = limiter.status_json(kNoon + 4);
  BOOST_TEST(status.find("\"slowdowns\":[{\"provider\":\"google\",\"until\":\"2026-12-07T14:00:"
                         "00.003Z\",\"rate\":\"30/m\",\"reason\":\"complaint rate 1.50% (3 "
                         "complaints, 200 delivered) over 1.00%\"}]") != std::string::npos,
             status);
  BOOST_TEST(suspensions.value() == before);
  BOOST_TEST(limiter.take(0, "google", kNoon + 5, &wait));
  // 5: 2.5%, every address suspended for google, for 2 hours; yahoo goes on.
  limiter.observe_complaint("gmail.com", kNoon + 6);
  limiter.observe_complaint("gmail.com", kNoon + 7);
  BOOST_TEST(suspensions.value() == before + 2);
  for (size_t egress : {0u, 1u}) {
    BOOST_TEST(!limiter.take(egress, "google", kNoon + 8, &wait));
    BOOST_TEST(wait.until_ms == kNoon + 7 + 2 * kHourMs);
    BOOST_TEST(wait.reason.find("complaint rate 2.50% (5 complaints, 200 delivered) over 2.00%") !=
                   std::string::npos,
               wait.reason);
    BOOST_TEST(limiter.take(egress, "yahoo", kNoon + 8, &wait));
  }
  BOOST_TEST(!limiter.choose("google", kNoon + 8, &wait).has_value());
  // Persisted as any suspension: a restart keeps it.
  BOOST_TEST(store.data.count("s/127.0.0.1/google") == 1u);
  Limiter again(*config_of(yaml), store);
  BOOST_TEST(!again.take(0, "google", kNoon + 9, &wait));
  BOOST_TEST(again.take(0, "google", kNoon + 7 + 2 * kHourMs, &wait));
}

BOOST_AUTO_TEST_CASE(bad_complaint_limits_are_refused_with_their_place) {
  auto result = conf::load_string(
      "listeners: [{name: mx, address: \"127.0.0.1:25\", role: inbound}]\n"
      "shaping:\n"
      "  complaints: {suspend_above: 0.3}\n",
      "t.yaml");
  BOOST_TEST(!result.ok());
  BOOST_TEST_REQUIRE(!result.errors.empty());
  BOOST_TEST(result.errors[0].find("t.yaml:3:") != std::string::npos, result.errors[0]);
  BOOST_TEST(result.errors[0].find("is not a percentage") != std::string::npos, result.errors[0]);
}

}  // namespace
}  // namespace hato::policy
