// user_limits_test.cc - limits.users quotas in a real RocksDB store's state family: clock
// windows and their reset, a named user's list over default's, recipients counted per
// transaction, counts that a fresh process reads back, and the last window's record removed.
#define BOOST_TEST_MODULE policy_user_limits
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>

#include "conf/config.h"
#include "policy/user_limits.h"
#include "queue/state_keys.h"
#include "queue/store.h"
#include "tests/queue/store_state.h"
#include "tests/temp_dir.h"

namespace hato::policy {
namespace {

using testing::StoreState;
using testing::TempDir;

constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 60 * kMinute;
// 2026-12-07 13:00:10 UTC, ten seconds into a minute and an hour.
constexpr int64_t kT0 = 1796648410000;

struct Fixture : testing::StateOnDisk {
  std::unique_ptr<UserLimits> limits;
  conf::Limits config;
  Fixture() : StateOnDisk("hato-user-limits") {
    config.users["default"].messages = std::vector<conf::Quota>{{5, std::chrono::minutes(1)}};
    config.users["bulk"].messages = std::vector<conf::Quota>{{100, std::chrono::hours(1)}};
    config.users["bulk"].recipients = std::vector<conf::Quota>{{3, std::chrono::hours(24)}};
    open();
  }
  // As a restarted daemon does: a new store handle and empty caches.
  void open() {
    limits.reset();
    reopen();
    limits = std::make_unique<UserLimits>(*state);
  }
  size_t records() {
    size_t n = 0;
    BOOST_TEST_REQUIRE(state
                           ->scan(queue::state::prefix(queue::state::Kind::kUserQuota),
                                  [&](std::string_view, std::string_view) {
                                    ++n;
                                    return true;
                                  })
                           .is_ok());
    return n;
  }
};

BOOST_FIXTURE_TEST_CASE(a_minute_quota_refuses_the_sixth_and_resets_on_the_next_minute, Fixture) {
  for (int i = 0; i < 5; ++i) {
    BOOST_TEST(!limits->check(config, "app", 1, 0, kT0 + i * 1000));
    limits->count(config, "app", 1, kT0 + i * 1000);
  }
  auto refused = limits->check(config, "app", 1, 0, kT0 + 40'000);
  BOOST_TEST_REQUIRE(refused.has_value());
  BOOST_TEST(refused->limit == "5/m messages");
  BOOST_TEST(refused->text ==
             "4.7.1 user app has reached its limit of 5 messages per minute (limits.users, 5 "
             "used); it resets at 13:01:00 UTC");
  BOOST_TEST(refused->resets_ms == kT0 - 10'000 + kMinute);
  // Another user has its own count; the next minute starts from nothing.
  BOOST_TEST(!limits->check(config, "other", 1, 0, kT0 + 40'000));
  BOOST_TEST(!limits->check(config, "app", 1, 0, kT0 - 10'000 + kMinute));
}

BOOST_FIXTURE_TEST_CASE(counts_survive_a_restart_and_old_windows_go, Fixture) {
  for (int i = 0; i < 5; ++i) limits->count(config, "app", 1, kT0);
  open();
  BOOST_TEST(limits->check(config, "app", 1, 0, kT0 + 1000).has_value());
  BOOST_TEST(records() == 1u);
  limits->count(config, "app", 1, kT0 + kMinute);  // the next window's first message
  BOOST_TEST(records() == 1u);
  BOOST_TEST(limits->used("app", "messages", {5, std::chrono::minutes(1)}, kT0 + kMinute) == 1u);
}

BOOST_FIXTURE_TEST_CASE(a_named_user_has_its_own_list_and_recipients_count_per_rcpt, Fixture) {
  for (int i = 0; i < 10; ++i) limits->count(config, "bulk", 0, kT0);
  BOOST_TEST(!limits->check(config, "bulk", 1, 0, kT0));  // 100/h, not default's 5/m
  BOOST_TEST(!limits->check(config, "bulk", 0, 3, kT0));
  auto refused = limits->check(config, "bulk", 0, 4, kT0);
  BOOST_TEST_REQUIRE(refused.has_value());
  BOOST_TEST(refused->limit == "3/d recipients");
  limits->count(config, "bulk", 2, kT0);
  BOOST_TEST(!limits->check(config, "bulk", 0, 1, kT0 + kHour));
  BOOST_TEST(limits->check(config, "bulk", 0, 2, kT0 + kHour).has_value());
}

BOOST_AUTO_TEST_CASE(no_quota_no_count) {
  TempDir dir{"hato-user-limits-none"};
  auto opened = queue::open_rocksdb_store({dir / "queue"});
  BOOST_TEST_REQUIRE(opened.is_ok());
  StoreState state(**opened);
  UserLimits limits(state);
  conf::Limits none;
  limits.count(none, "app", 5, kT0);
  BOOST_TEST(!limits.check(none, "app", 1000, 1000, kT0));
  BOOST_TEST(quota_text({500, std::chrono::hours(1)}) == "500/h");
}

}  // namespace
}  // namespace hato::policy
