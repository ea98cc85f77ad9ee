// scheduler_test.cc - the in-memory due index.
#include <boost/test/unit_test.hpp>

#include "queue/scheduler.h"

using hato::queue::QueueId;
using hato::queue::Scheduler;

namespace {
QueueId id(int n) {
  return QueueId::make(1000 + n, static_cast<uint32_t>(n), 0);
}
}  // namespace

BOOST_AUTO_TEST_SUITE(scheduler)

BOOST_AUTO_TEST_CASE(takes_due_in_time_order_up_to_limit) {
  Scheduler s;
  s.schedule(id(1), 300);
  s.schedule(id(2), 100);
  s.schedule(id(3), 200);
  s.schedule(id(4), 900);
  auto due = s.take_due(300, 2);
  BOOST_REQUIRE(due.size() == 2u);
  BOOST_TEST((due[0] == id(2)));
  BOOST_TEST((due[1] == id(3)));
  BOOST_TEST(s.size() == 2u);
  BOOST_TEST(*s.next_due() == 300);
  due = s.take_due(300, 10);
  BOOST_REQUIRE(due.size() == 1u);
  BOOST_TEST((due[0] == id(1)));
  BOOST_TEST(s.take_due(899, 10).empty());
}

BOOST_AUTO_TEST_CASE(rescheduling_moves_and_never_duplicates) {
  Scheduler s;
  s.schedule(id(1), 500);
  s.schedule(id(1), 100);
  BOOST_TEST(s.size() == 1u);
  auto due = s.take_due(100, 10);
  BOOST_TEST(due.size() == 1u);
  BOOST_TEST(!s.contains(id(1)));
  BOOST_TEST(!s.next_due().has_value());
}

BOOST_AUTO_TEST_CASE(remove_and_flush_all) {
  Scheduler s;
  s.schedule(id(1), 5000);
  s.schedule(id(2), 7000);
  s.schedule(id(3), 9000);
  s.remove(id(2));
  s.remove(id(42));  // unknown: nothing happens
  BOOST_TEST(s.size() == 2u);
  BOOST_TEST(s.flush_all(10) == 2u);
  BOOST_TEST(s.take_due(10, 10).size() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
