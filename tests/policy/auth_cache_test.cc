// auth_cache_test.cc - the login cache: hits, expiry, the users file's hash as part of the
// key, the bound on entries, and what is never remembered.
#define BOOST_TEST_MODULE policy_auth_cache
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <string>

#include "policy/auth_cache.h"

namespace hato::policy {
namespace {

using namespace std::chrono_literals;
using Clock = AuthCache::Clock;

const Clock::time_point kT0 = Clock::time_point() + 1000h;

BOOST_AUTO_TEST_SUITE(auth_cache)

BOOST_AUTO_TEST_CASE(remembered_password_hits_within_ttl) {
  AuthCache cache(1h, 100);
  BOOST_CHECK(!cache.hit("alice", "secret", "$y$h1", kT0));
  cache.remember("alice", "secret", "$y$h1", kT0);
  BOOST_CHECK(cache.hit("alice", "secret", "$y$h1", kT0 + 59min));
  BOOST_CHECK(!cache.hit("alice", "secret", "$y$h1", kT0 + 1h));
  BOOST_CHECK_EQUAL(cache.size(), 0u);  // the expired entry is gone
}

BOOST_AUTO_TEST_CASE(other_password_or_user_misses) {
  AuthCache cache(1h, 100);
  cache.remember("alice", "secret", "$y$h1", kT0);
  BOOST_CHECK(!cache.hit("alice", "Secret", "$y$h1", kT0));
  BOOST_CHECK(!cache.hit("alice", "secret\n", "$y$h1", kT0));
  BOOST_CHECK(!cache.hit("bob", "secret", "$y$h1", kT0));
  // A wrong guess does not evict the right entry.
  BOOST_CHECK(cache.hit("alice", "secret", "$y$h1", kT0));
}

BOOST_AUTO_TEST_CASE(name_and_password_do_not_run_together) {
  AuthCache cache(1h, 100);
  cache.remember("ab", "c", "h", kT0);
  BOOST_CHECK(!cache.hit("a", "bc", "h", kT0));
}

BOOST_AUTO_TEST_CASE(changed_hash_in_users_file_misses) {
  // `hato user add alice` over an existing alice: the old password must fail at once,
  // even when the entry was made by a check that raced with the reload.
  AuthCache cache(1h, 100);
  cache.remember("alice", "old", "$y$old", kT0);
  BOOST_CHECK(!cache.hit("alice", "old", "$y$new", kT0));
  BOOST_CHECK(!cache.hit("alice", "old", "$y$old", kT0));  // dropped, not just skipped
}

BOOST_AUTO_TEST_CASE(clear_forgets_everyone) {
  AuthCache cache(1h, 100);
  cache.remember("alice", "a", "ha", kT0);
  cache.remember("bob", "b", "hb", kT0);
  cache.clear();
  BOOST_CHECK_EQUAL(cache.size(), 0u);
  BOOST_CHECK(!cache.hit("alice", "a", "ha", kT0));
  BOOST_CHECK(!cache.hit("bob", "b", "hb", kT0));
}

BOOST_AUTO_TEST_CASE(least_recently_used_makes_room) {
  AuthCache cache(1h, 2);
  cache.remember("a", "pa", "ha", kT0);
  cache.remember("b", "pb", "hb", kT0);
  BOOST_CHECK(cache.hit("a", "pa", "ha", kT0));  // a is now the most recent
  cache.remember("c", "pc", "hc", kT0);          // b goes
  BOOST_CHECK_EQUAL(cache.size(), 2u);
  BOOST_CHECK(cache.hit("a", "pa", "ha", kT0));
  BOOST_CHECK(!cache.hit("b", "pb", "hb", kT0));
  BOOST_CHECK(cache.hit("c", "pc", "hc", kT0));
}

BOOST_AUTO_TEST_CASE(a_new_password_replaces_the_old_entry) {
  AuthCache cache(1h, 10);
  cache.remember("alice", "old", "$y$old", kT0);
  cache.remember("alice", "new", "$y$new", kT0);
  BOOST_CHECK_EQUAL(cache.size(), 1u);
  BOOST_CHECK(cache.hit("alice", "new", "$y$new", kT0));
  BOOST_CHECK(!cache.hit("alice", "old", "$y$new", kT0));
}

BOOST_AUTO_TEST_CASE(ttl_zero_remembers_nothing) {
  AuthCache cache(0ms, 100);
  BOOST_CHECK(!cache.enabled());
  cache.remember("alice", "secret", "h", kT0);
  BOOST_CHECK_EQUAL(cache.size(), 0u);
  BOOST_CHECK(!cache.hit("alice", "secret", "h", kT0));
}

BOOST_AUTO_TEST_CASE(new_limits_drop_entries) {
  AuthCache cache(1h, 100);
  cache.remember("alice", "secret", "h", kT0);
  cache.set_limits(1h, 100);  // unchanged: kept
  BOOST_CHECK(cache.hit("alice", "secret", "h", kT0));
  cache.set_limits(0ms, 100);
  BOOST_CHECK(!cache.hit("alice", "secret", "h", kT0));
  cache.set_limits(1h, 100);
  BOOST_CHECK(!cache.hit("alice", "secret", "h", kT0));
}

BOOST_AUTO_TEST_CASE(two_caches_key_differently) {
  // The key is drawn per cache (per process): nothing about a password is fixed in advance.
  AuthCache a(1h, 10), b(1h, 10);
  a.remember("alice", "secret", "h", kT0);
  BOOST_CHECK(!b.hit("alice", "secret", "h", kT0));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::policy
