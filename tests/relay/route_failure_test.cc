// route_failure_test.cc - an attempt without a session: a policy failure always defers
// with 4.7.5 (issue 28), "no route" bounces only when nothing else went wrong; and a delay
// notice's status is that of the last deferral.
#include <boost/test/unit_test.hpp>

#include <string>

#include "relay/bounce.h"
#include "relay/route_failure.h"

namespace hato::relay {
namespace {

std::string verdict(RouteFacts facts) {
  RouteFailure f = route_failure(facts);
  return std::to_string(f.code) + " " + f.status;
}

BOOST_AUTO_TEST_CASE(policy_failure_defers_even_before_any_connection) {
  // An MX skipped by an MTA-STS enforce policy under a signed MX set: nothing connected.
  BOOST_TEST(verdict({.connect_tried = false, .dns_trouble = false, .policy_failure = true}) ==
             "451 4.7.5");
  BOOST_TEST(verdict({.connect_tried = true, .policy_failure = true}) == "451 4.7.5");
  BOOST_TEST(verdict({.dns_trouble = true, .policy_failure = true}) == "451 4.7.5");
}

BOOST_AUTO_TEST_CASE(no_address_for_any_host_is_no_route) {
  BOOST_TEST(verdict({}) == "550 5.4.4");
  BOOST_TEST(verdict({.dns_trouble = true}) == "451 4.4.1");
  BOOST_TEST(verdict({.connect_tried = true}) == "451 4.4.1");
  BOOST_TEST(verdict({.smarthost = true}) == "451 4.4.1");
}

BOOST_AUTO_TEST_CASE(delay_status_is_the_last_deferrals) {
  BOOST_TEST(delay_status("452 4.2.2 mailbox full") == "4.2.2");
  BOOST_TEST(delay_status("451 4.7.5 MX host mx.example is not in MTA-STS policy") == "4.7.5");
  BOOST_TEST(delay_status("421 try again later") == "4.0.0");
  BOOST_TEST(delay_status("451 5.1.1 mismatched class") == "4.0.0");
  BOOST_TEST(delay_status("connect to mx[192.0.2.1]:25: Connection refused") == "4.4.1");
  BOOST_TEST(delay_status("") == "4.4.1");
  BOOST_TEST(delay_status("250 2.0.0 ok") == "4.0.0");
}

}  // namespace
}  // namespace hato::relay
