// dnsbl_test.cc - DNSBL query names (IPv4 octets and IPv6 nibbles reversed, RFC 5782 2.1 and
// 2.4) and what answers mean: 127.0.0.0/8 lists, 127.255.255.0/24 is the list's error.
#include <boost/test/unit_test.hpp>

#include "policy/dnsbl.h"

namespace hato::policy {
namespace {

SocketAddress ip(const char* text) {
  return SocketAddress::parse(text, 0).value();
}

std::vector<SocketAddress> ips(std::initializer_list<const char*> texts) {
  std::vector<SocketAddress> out;
  for (const char* t : texts) out.push_back(ip(t));
  return out;
}

using Kind = DnsblAnswer::Kind;

BOOST_AUTO_TEST_SUITE(dnsbl)

BOOST_AUTO_TEST_CASE(ipv4_octets_reversed) {
  BOOST_TEST(dnsbl_query_name(ip("192.0.2.99"), "zen.example") == "99.2.0.192.zen.example");
  BOOST_TEST(dnsbl_query_name(ip("127.0.0.2"), "bl.test.") == "2.0.0.127.bl.test");
}

BOOST_AUTO_TEST_CASE(ipv6_nibbles_reversed) {
  // The example of RFC 5782 2.4.
  BOOST_TEST(dnsbl_query_name(ip("2001:db8:1:2:3:4:567:89ab"), "ugly.example.com") ==
             "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com");
  BOOST_TEST(dnsbl_query_name(ip("::1"), "z") ==
             "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.z");
}

BOOST_AUTO_TEST_CASE(ipv4_mapped_addresses_are_asked_as_ipv4) {
  BOOST_TEST(dnsbl_query_name(ip("::ffff:192.0.2.99"), "zen.example") == "99.2.0.192.zen.example");
}

BOOST_AUTO_TEST_CASE(no_answer_is_no_listing) {
  BOOST_TEST((classify_dnsbl_answer({}).kind == Kind::kNotListed));
}

BOOST_AUTO_TEST_CASE(answers_in_127_8_are_listings) {
  auto a = classify_dnsbl_answer(ips({"127.0.0.2"}));
  BOOST_TEST((a.kind == Kind::kListed));
  BOOST_TEST(a.codes == std::vector<std::string>{"127.0.0.2"});
  BOOST_TEST((classify_dnsbl_answer(ips({"127.0.0.10", "127.0.0.4"})).kind == Kind::kListed));
  // Only the /24 at the top is reserved for errors.
  BOOST_TEST((classify_dnsbl_answer(ips({"127.255.254.1"})).kind == Kind::kListed));
}

BOOST_AUTO_TEST_CASE(answers_in_127_255_255_0_24_are_errors_of_the_list) {
  for (const char* e : {"127.255.255.254", "127.255.255.252", "127.255.255.255", "127.255.255.0"}) {
    auto a = classify_dnsbl_answer(ips({e}));
    BOOST_TEST((a.kind == Kind::kListError), e);
    BOOST_TEST(a.codes.empty());
    BOOST_TEST(a.errors == std::vector<std::string>{e});
  }
}

BOOST_AUTO_TEST_CASE(a_real_code_beside_an_error_code_still_lists) {
  auto a = classify_dnsbl_answer(ips({"127.255.255.254", "127.0.0.4"}));
  BOOST_TEST((a.kind == Kind::kListed));
  BOOST_TEST(a.codes == std::vector<std::string>{"127.0.0.4"});
}

BOOST_AUTO_TEST_CASE(answers_outside_127_8_are_not_listings) {
  // What a resolver that rewrites NXDOMAIN to an advertising page answers.
  BOOST_TEST((classify_dnsbl_answer(ips({"198.51.100.7"})).kind == Kind::kListError));
  BOOST_TEST((classify_dnsbl_answer(ips({"::1"})).kind == Kind::kNotListed));
}

BOOST_AUTO_TEST_CASE(reasons_are_made_safe_for_a_reply) {
  BOOST_TEST(dnsbl_reason("Listed\r\n550 injected\tsee  http://x/") ==
             "Listed 550 injected see http://x/");
  BOOST_TEST(dnsbl_reason(std::string(500, 'a')).size() == 200u);
  BOOST_TEST(dnsbl_reason("\x01\x02") == "");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::policy
