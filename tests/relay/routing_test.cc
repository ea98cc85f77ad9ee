// routing_test.cc - route_mx(): MX answers to ordered hosts (RFC 5321 5.1, RFC 7505).
#define BOOST_TEST_MODULE routing
#include "relay/routing.h"

#include <boost/test/unit_test.hpp>
#include <set>

namespace hato::relay {
namespace {

net::MxResult answer(std::vector<net::MxRecord> records, bool secure = false) {
  net::MxResult r;
  r.status = net::DnsStatus::kOk;
  r.records = std::move(records);
  r.authenticated = secure;
  return r;
}

net::MxResult status(net::DnsStatus s, bool secure = false) {
  net::MxResult r;
  r.status = s;
  r.authenticated = secure;
  return r;
}

std::vector<std::string> names(const MxRoute& route) {
  std::vector<std::string> out;
  for (const auto& h : route.hosts) out.push_back(h.name);
  return out;
}

BOOST_AUTO_TEST_CASE(lowest_preference_first_and_equal_preferences_in_random_order) {
  std::mt19937 random(7);
  std::set<std::string> firsts;
  for (int i = 0; i < 64; ++i) {
    auto route = route_mx("example.com",
                          answer({{20, "c.example.com"},
                                  {10, "a.example.com"},
                                  {10, "b.example.com"},
                                  {30, "d.example.com"}}),
                          random);
    BOOST_TEST_REQUIRE(route.hosts.size() == 4u);
    BOOST_TEST(route.code == 0);
    BOOST_TEST(route.hosts[0].preference == 10);
    BOOST_TEST(route.hosts[1].preference == 10);
    BOOST_TEST(route.hosts[2].name == "c.example.com");
    BOOST_TEST(route.hosts[3].name == "d.example.com");
    firsts.insert(route.hosts[0].name);
  }
  BOOST_TEST(firsts == (std::set<std::string>{"a.example.com", "b.example.com"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(no_mx_records_means_the_domain_itself) {
  std::mt19937 random(1);
  auto route = route_mx("example.com", status(net::DnsStatus::kNoData, true), random);
  BOOST_TEST(names(route) == (std::vector<std::string>{"example.com"}),
             boost::test_tools::per_element());
  BOOST_TEST(route.secure);
}

BOOST_AUTO_TEST_CASE(a_null_mx_refuses_mail_permanently) {
  std::mt19937 random(1);
  auto route = route_mx("example.com", answer({{0, ""}}), random);
  BOOST_TEST(route.hosts.empty());
  BOOST_TEST(route.code == 556);
  BOOST_TEST(route.error.rfind("5.1.10 ", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(nxdomain_is_permanent_and_dns_trouble_temporary) {
  std::mt19937 random(1);
  auto nx = route_mx("gone.example", status(net::DnsStatus::kNxDomain), random);
  BOOST_TEST(nx.code == 550);
  BOOST_TEST(nx.error.rfind("5.1.2 ", 0) == 0u);
  auto servfail = route_mx("example.com", status(net::DnsStatus::kServFail), random);
  BOOST_TEST(servfail.code == 451);
  BOOST_TEST(servfail.error.rfind("4.4.3 ", 0) == 0u);
  auto timeout = route_mx("example.com", status(net::DnsStatus::kTimeout), random);
  BOOST_TEST(timeout.code == 451);
}

BOOST_AUTO_TEST_CASE(secure_only_with_the_ad_bit) {
  std::mt19937 random(1);
  BOOST_TEST(route_mx("example.com", answer({{10, "mx.example.com"}}, true), random).secure);
  BOOST_TEST(!route_mx("example.com", answer({{10, "mx.example.com"}}, false), random).secure);
}

}  // namespace
}  // namespace hato::relay
