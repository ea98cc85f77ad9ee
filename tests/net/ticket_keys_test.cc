// ticket_keys_test.cc - the rotation of the TLS ticket keys: a day's key seals, the day
// before's still opens (and asks for a new ticket), older ones open nothing.
#define BOOST_TEST_MODULE ticket_keys
#include <boost/test/unit_test.hpp>

#include "net/ticket_keys.h"

namespace hato::net {
namespace {

constexpr int64_t kDay = 86400;
constexpr int64_t kT0 = 1'800'000'000;

BOOST_AUTO_TEST_CASE(the_current_key_opens_without_renewal) {
  TicketKeys keys;
  auto k = keys.current(kT0);
  BOOST_CHECK_EQUAL(k.made, kT0);
  bool renew = true;
  auto found = keys.find(k.name.data(), kT0 + kDay - 1, &renew);
  BOOST_REQUIRE(found);
  BOOST_CHECK(found->aes == k.aes);
  BOOST_CHECK(found->hmac == k.hmac);
  BOOST_CHECK(!renew);
  BOOST_CHECK(keys.current(kT0 + kDay - 1).name == k.name);  // not rotated yet
}

BOOST_AUTO_TEST_CASE(rotated_daily_and_the_previous_key_still_opens) {
  TicketKeys keys;
  auto day0 = keys.current(kT0);
  auto day1 = keys.current(kT0 + kDay);
  BOOST_CHECK(day1.name != day0.name);
  BOOST_CHECK(day1.aes != day0.aes);
  bool renew = false;
  auto found = keys.find(day0.name.data(), kT0 + kDay + 10, &renew);
  BOOST_REQUIRE(found);
  BOOST_CHECK(found->aes == day0.aes);
  BOOST_CHECK(renew);  // the client gets a ticket under day1's key
}

BOOST_AUTO_TEST_CASE(a_key_two_rotations_old_opens_nothing) {
  TicketKeys keys;
  auto day0 = keys.current(kT0);
  (void)keys.current(kT0 + kDay);
  (void)keys.current(kT0 + 2 * kDay);
  bool renew = false;
  BOOST_CHECK(!keys.find(day0.name.data(), kT0 + 2 * kDay, &renew));
}

BOOST_AUTO_TEST_CASE(rotation_happens_on_opening_too) {
  // No new ticket sealed for days: the old key must not live on for lack of traffic.
  TicketKeys keys;
  auto day0 = keys.current(kT0);
  bool renew = false;
  BOOST_CHECK(keys.find(day0.name.data(), kT0 + kDay, &renew));
  BOOST_CHECK(renew);
  BOOST_CHECK(!keys.find(day0.name.data(), kT0 + 2 * kDay, &renew));
}

BOOST_AUTO_TEST_CASE(idle_for_long_leaves_no_previous_key) {
  TicketKeys keys;
  auto day0 = keys.current(kT0);
  auto later = keys.current(kT0 + 5 * kDay);
  BOOST_CHECK(later.name != day0.name);
  bool renew = false;
  BOOST_CHECK(!keys.find(day0.name.data(), kT0 + 5 * kDay, &renew));
}

BOOST_AUTO_TEST_CASE(an_unknown_name_opens_nothing) {
  TicketKeys keys;
  (void)keys.current(kT0);
  unsigned char name[16] = {};
  bool renew = false;
  BOOST_CHECK(!keys.find(name, kT0, &renew));
}

}  // namespace
}  // namespace hato::net
