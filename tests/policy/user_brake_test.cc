// user_brake_test.cc - the stolen-password brake on a test clock, over a real RocksDB store's
// state family: a week of learned baseline, a burst of 20 x that frozen, a new user's ten
// messages not, the sliding hour across the top of the hour, distinct recipients, the hard
// bounce rate with its minimum count, the complaint rate, the freeze and baseline read back after a
// restart, and the thaw.
#define BOOST_TEST_MODULE policy_user_brake
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <vector>

#include "conf/config.h"
#include "policy/user_brake.h"
#include "queue/state_keys.h"
#include "tests/queue/store_state.h"

namespace hato::policy {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
// 2026-12-07 13:00:10 UTC.
constexpr int64_t kT0 = 1796648410000;

struct Fixture : testing::StateOnDisk {
  std::unique_ptr<UserBrake> brake;
  conf::Brake config;
  Fixture() : StateOnDisk("hato-user-brake") {
    config.enabled = true;
    open();
  }
  void open() {
    brake.reset();
    reopen();
    brake = std::make_unique<UserBrake>(*state);
  }
  // `n` messages of `user`, one recipient each (r<first+i>), spread over `span_ms` from `at`;
  // the reason of the freeze, if one came, and how many messages went before it.
  std::optional<std::string> send(const std::string& user, int n, int64_t at, int64_t span_ms,
                                  int* before = nullptr, int first = 0) {
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> rcpt{"r" + std::to_string(first + i) + "@example.test"};
      if (auto reason = brake->queued(config, user, rcpt, at + span_ms * i / n)) {
        if (before) *before = i;
        return reason;
      }
    }
    return std::nullopt;
  }
  // A week of `per_hour` messages an hour, each to new recipients.
  void learn_week(const std::string& user, int per_hour) {
    for (int h = 0; h < 7 * 24; ++h)
      BOOST_TEST_REQUIRE(
          !send(user, per_hour, kT0 - (7 * 24 - h) * kHour, 30 * kMinute, nullptr, h * per_hour));
  }
};

BOOST_FIXTURE_TEST_CASE(a_week_of_baseline_is_learned_and_twenty_times_it_freezes, Fixture) {
  learn_week("app", 10);
  BrakeActivity a = brake->activity("app", kT0);
  // Weighted 1/168 an hour from zero, a week of 10 an hour teaches about 6.3.
  BOOST_TEST(a.base_messages > 6.0);
  BOOST_TEST(a.base_messages < 7.0);
  int before = -1;
  auto reason = send("app", 200, kT0, 10 * kMinute, &before, 100000);
  BOOST_TEST_REQUIRE(reason.has_value());
  // Over factor 10 x ~6.3 = ~63, and over the floor of 100 as a sliding hour: the 91st
  // message of the burst, 4.5 minutes in, with 92% of the hour before's 10 still in the hour.
  BOOST_TEST(before == 90);
  BOOST_TEST(*reason == "100.2 messages in the last hour, over 10 x its usual 6.332 an hour");
  auto freeze = brake->frozen("app");
  BOOST_TEST_REQUIRE(freeze.has_value());
  BOOST_TEST(freeze->reason == *reason);
  // Frozen: nothing more is counted or frozen again.
  BOOST_TEST(!send("app", 5, kT0 + 11 * kMinute, kMinute));
}

BOOST_FIXTURE_TEST_CASE(a_user_within_its_baseline_or_new_and_small_is_not_frozen, Fixture) {
  learn_week("steady", 20);
  BOOST_TEST(!send("steady", 60, kT0, 50 * kMinute));
  // A user never seen before (baseline 0) sending ten: under the floor.
  BOOST_TEST(!send("newcomer", 10, kT0, kMinute));
  BOOST_TEST(!brake->frozen("steady"));
  BOOST_TEST(!brake->frozen("newcomer"));
  // Over the floor with no baseline: frozen.
  config.floor = 20;
  int before = -1;
  BOOST_TEST(send("newcomer", 30, kT0 + 2 * kMinute, kMinute, &before, 100).has_value());
  BOOST_TEST(before == 10);  // 21 in the hour
}

BOOST_FIXTURE_TEST_CASE(a_burst_across_the_top_of_the_hour_is_seen_whole, Fixture) {
  config.floor = 50;
  // 40 in the last five minutes of one hour, 40 in the first five of the next: per clock
  // hour neither is over 50, as a sliding hour they are.
  int64_t top = kT0 - 10'000 + kHour;  // 14:00:00
  BOOST_TEST(!send("app", 40, top - 5 * kMinute, 5 * kMinute));
  int before = -1;
  BOOST_TEST(send("app", 40, top, 5 * kMinute, &before, 40).has_value());
  BOOST_TEST(before < 15);
}

BOOST_FIXTURE_TEST_CASE(distinct_recipients_over_the_baseline_freeze, Fixture) {
  brake->set_baseline("list", 2, 2, kT0);
  config.floor = 30;
  // One message to 40 distinct recipients: one message, far over in recipients.
  std::vector<std::string> many;
  for (int i = 0; i < 40; ++i) many.push_back("r" + std::to_string(i) + "@example.test");
  auto reason = brake->queued(config, "list", many, kT0);
  BOOST_TEST_REQUIRE(reason.has_value());
  BOOST_TEST(reason->starts_with("40 distinct recipients in the last hour"));
  // The same recipients again count once.
  BOOST_TEST(brake->thaw("list", kT0));
  std::vector<std::string> few(many.begin(), many.begin() + 10);
  for (int i = 0; i < 5; ++i) BOOST_TEST(!brake->queued(config, "list", few, kT0 + i));
  BOOST_TEST(brake->activity("list", kT0).recipients == 10);
}

BOOST_FIXTURE_TEST_CASE(a_hard_bounce_rate_over_the_limit_with_enough_bounces_freezes, Fixture) {
  // 19 hard bounces of 20 results: over 20%, but under min_bounces.
  BOOST_TEST(!brake->result(config, "app", true, false, kT0));
  for (int i = 0; i < 19; ++i) BOOST_TEST(!brake->result(config, "app", false, true, kT0 + i));
  // A soft bounce is no result at all.
  BOOST_TEST(!brake->result(config, "app", false, false, kT0));
  auto reason = brake->result(config, "app", false, true, kT0 + kMinute);
  BOOST_TEST_REQUIRE(reason.has_value());
  BOOST_TEST(*reason ==
             "20 hard bounces in 21 delivery results over the last day (95.24%, over the limit "
             "of 20%)");
  // Many deliveries keep the rate down.
  for (int i = 0; i < 200; ++i) BOOST_TEST(!brake->result(config, "other", true, false, kT0));
  for (int i = 0; i < 30; ++i) BOOST_TEST(!brake->result(config, "other", false, true, kT0));
  // A day later the old results are gone.
  for (int i = 0; i < 19; ++i)
    BOOST_TEST(!brake->result(config, "other", false, true, kT0 + 25 * kHour));
  BOOST_TEST(brake->result(config, "other", false, true, kT0 + 25 * kHour).has_value());
  BOOST_TEST(is_hard_bounce("invalid-recipient"));
  BOOST_TEST(!is_hard_bounce("mailbox-full"));
}

BOOST_FIXTURE_TEST_CASE(complaints_count_against_the_user_who_sent_from_that_address, Fixture) {
  brake->sent_as("app", "News@Example.test");
  // 2000 delivered: 5 complaints are 0.25%, under 0.3%; the sixth is 0.3% (not over); the
  // seventh (0.35%) freezes.
  for (int i = 0; i < 2000; ++i) BOOST_TEST(!brake->result(config, "app", true, false, kT0));
  for (int i = 0; i < 6; ++i) BOOST_TEST(!brake->complaint(config, "news@example.TEST", kT0 + i));
  // A complaint about an address nobody submitted from counts against nobody.
  BOOST_TEST(!brake->complaint(config, "stranger@example.test", kT0));
  auto froze = brake->complaint(config, "news@example.test", kT0 + kMinute);
  BOOST_TEST_REQUIRE(froze.has_value());
  BOOST_TEST(froze->user == "app");
  BOOST_TEST(froze->reason ==
             "7 spam complaints about 2000 delivered messages over the last day (0.35%, over "
             "the limit of 0.3%)");
  BOOST_TEST(brake->frozen("app").has_value());
  // Few deliveries: under min_complaints nothing happens, however high the rate.
  brake->sent_as("small", "small@example.test");
  BOOST_TEST(!brake->result(config, "small", true, false, kT0));
  for (int i = 0; i < 4; ++i) BOOST_TEST(!brake->complaint(config, "small@example.test", kT0));
  BOOST_TEST(brake->complaint(config, "small@example.test", kT0).has_value());
}

BOOST_FIXTURE_TEST_CASE(the_freeze_and_the_baseline_survive_a_restart_until_the_thaw, Fixture) {
  brake->set_baseline("app", 5, 5, kT0);
  config.floor = 20;
  BOOST_TEST(send("app", 60, kT0, 10 * kMinute).has_value());
  open();
  auto freeze = brake->frozen("app");
  BOOST_TEST_REQUIRE(freeze.has_value());
  BOOST_TEST(freeze->reason.starts_with("51 messages in the last hour, over 10 x its usual 5"));
  auto all = brake->frozen_users();
  BOOST_TEST(all.size() == 1u);
  BOOST_TEST(all.count("app") == 1u);
  BOOST_TEST(brake->activity("app", kT0).base_messages == 5.0);
  BOOST_TEST(brake->thaw("app", kT0 + 20 * kMinute));
  BOOST_TEST(!brake->thaw("app", kT0 + 20 * kMinute));
  BOOST_TEST(!brake->frozen("app"));
  BOOST_TEST(brake->frozen_users().empty());
  // The burst is forgiven: the next message does not freeze it again.
  BOOST_TEST(!send("app", 1, kT0 + 21 * kMinute, 0));
  // Disabled, nothing freezes, but the sending is still learned.
  config.enabled = false;
  BOOST_TEST(!send("quiet", 500, kT0, kMinute));
  BOOST_TEST(brake->activity("quiet", kT0).messages == 500u);
}

BOOST_AUTO_TEST_CASE(hours_without_mail_fade_the_means) {
  BrakeActivity a;
  a.hour_start_ms = kT0 - 10'000;
  a.messages = 168;
  a.base_messages = 10;
  roll_hours(a, kT0 + kHour);
  BOOST_TEST(a.base_messages == 10 * (1 - 1.0 / 168) + 1.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(a.previous_messages == 168u);
  BOOST_TEST(a.messages == 0u);
  roll_hours(a, kT0 + 3 * kHour);
  BOOST_TEST(a.previous_messages == 0u);
  BOOST_TEST(sliding_hour(10, 60, kT0 - 10'000, kT0 - 10'000 + 30 * kMinute) == 40.0);
}

}  // namespace
}  // namespace hato::policy
