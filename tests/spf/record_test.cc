// record_test.cc - SPF record selection and the term grammar: mechanisms, CIDR lengths,
// modifiers, and the errors that make a whole record a permerror.
#include <boost/test/unit_test.hpp>

#include <string>

#include "policy/spf/record.h"

namespace hato::policy::spf {
namespace {

BOOST_AUTO_TEST_CASE(version_selection) {
  BOOST_TEST(is_spf_record("v=spf1"));
  BOOST_TEST(is_spf_record("v=spf1 -all"));
  BOOST_TEST(is_spf_record("V=SpF1 ~all"));
  BOOST_TEST(!is_spf_record("v=spf10"));
  BOOST_TEST(!is_spf_record("v=spf1mx"));
  BOOST_TEST(!is_spf_record(" v=spf1 -all"));
  BOOST_TEST(!is_spf_record("spf2.0/pra -all"));
}

BOOST_AUTO_TEST_CASE(mechanisms_and_qualifiers) {
  auto r = parse_record(
      "v=spf1  +a -mx:example.com/24 ~ptr ?ip4:192.0.2.0/24 ip6:2001:db8::/32 "
      "exists:%{i}.x.example include:_spf.example.com all ");
  BOOST_TEST_REQUIRE(r.is_ok(), r.message());
  const auto& m = r->mechanisms;
  BOOST_TEST_REQUIRE(m.size() == 8u);
  BOOST_TEST((m[0].kind == Mechanism::Kind::kA && m[0].qualifier == Qualifier::kPass));
  BOOST_TEST(!m[0].domain.has_value());
  BOOST_TEST((m[1].kind == Mechanism::Kind::kMx && m[1].qualifier == Qualifier::kFail));
  BOOST_TEST(m[1].cidr4 == 24);
  BOOST_TEST(m[1].cidr6 == 128);
  BOOST_TEST((m[2].kind == Mechanism::Kind::kPtr && m[2].qualifier == Qualifier::kSoftFail));
  BOOST_TEST((m[3].kind == Mechanism::Kind::kIp4 && m[3].qualifier == Qualifier::kNeutral));
  BOOST_TEST(m[3].cidr4 == 24);
  BOOST_TEST((m[4].kind == Mechanism::Kind::kIp6 && m[4].cidr6 == 32));
  BOOST_TEST((m[5].kind == Mechanism::Kind::kExists && m[5].domain->uses('i')));
  BOOST_TEST((m[6].kind == Mechanism::Kind::kInclude));
  BOOST_TEST((m[7].kind == Mechanism::Kind::kAll));
}

BOOST_AUTO_TEST_CASE(dual_cidr_lengths) {
  auto r = parse_record("v=spf1 a/24//64 a//0 mx:example.com//48 a:foo:bar/baz.example.com");
  BOOST_TEST_REQUIRE(r.is_ok(), r.message());
  BOOST_TEST(r->mechanisms[0].cidr4 == 24);
  BOOST_TEST(r->mechanisms[0].cidr6 == 64);
  BOOST_TEST(r->mechanisms[1].cidr4 == 32);
  BOOST_TEST(r->mechanisms[1].cidr6 == 0);
  BOOST_TEST(r->mechanisms[2].cidr6 == 48);
  BOOST_TEST(r->mechanisms[3].cidr4 == 32);  // "/baz..." belongs to the name
}

BOOST_AUTO_TEST_CASE(modifiers) {
  auto r =
      parse_record("v=spf1 -all exp=explain.%{d} Redirect=_spf.example.com moo.cow-far_out=x:y/z");
  BOOST_TEST_REQUIRE(r.is_ok(), r.message());
  BOOST_TEST(r->redirect.has_value());
  BOOST_TEST(r->exp.has_value());
  BOOST_TEST(r->mechanisms.size() == 1u);
}

BOOST_AUTO_TEST_CASE(syntax_errors_anywhere_are_errors) {
  for (const char* bad : {"v=spf1 ip4:1.2.3.4 -all moo",
                          "v=spf1 -all.",
                          "v=spf1 -all:foo",
                          "v=spf1 -all/8",
                          "v=spf1 ptr/0",
                          "v=spf1 ptr:",
                          "v=spf1 a:",
                          "v=spf1 a/33",
                          "v=spf1 a//129",
                          "v=spf1 a/24/64",
                          "v=spf1 mx/033",
                          "v=spf1 include",
                          "v=spf1 include:",
                          "v=spf1 include:ip5.example.com/24",
                          "v=spf1 exists",
                          "v=spf1 exists:a.com/24",
                          "v=spf1 ip4",
                          "v=spf1 ip4:1.2.3",
                          "v=spf1 ip4:1.2.3.4/33",
                          "v=spf1 ip4:1.2.3.4/032",
                          "v=spf1 ip4:1.2.3.4//32",
                          "v=spf1 ip4:1.2.3.4:8080",
                          "v=spf1 ip4:01.2.3.4",
                          "v=spf1 -all ip6",
                          "v=spf1 ip6::CAFE::BABE",
                          "v=spf1 ip6:::1/129",
                          "v=spf1 ip6:::1//33",
                          "v=spf1 redirect:example.com",
                          "v=spf1 redirect=",
                          "v=spf1 redirect=-all",
                          "v=spf1 exp=",
                          "v=spf1 exp=a.com exp=b.com",
                          "v=spf1 redirect=a.com redirect=a.com",
                          "v=spf1 1up=foo",
                          "v=spf1 =all",
                          "v=spf1 foo=%abc",
                          "v=spf1 moo.cow/far_out=man",
                          "v=spf1 moo.cow:far_out=man",
                          "v=spf1 a:ctrl.example.com\rptr -all",
                          "v=spf1 ip4:192.0.2.5\n include:x.com",
                          "v=spf1 \x80"
                          "a -all",
                          "v=spf1 exp=%{r}.example.com",
                          "v=spf1 a:%{a}.example.com"}) {
    BOOST_TEST(!parse_record(bad).is_ok(), bad);
  }
  // The NUL case: a string literal stops at it, so build that one by hand.
  BOOST_TEST(!parse_record(std::string("v=spf1 a:foo.example.com\0", 25)).is_ok());
}

BOOST_AUTO_TEST_CASE(unknown_modifiers_are_ignored) {
  BOOST_TEST(parse_record("v=spf1 default=pass").is_ok());
  BOOST_TEST(parse_record("v=spf1 default=+").is_ok());
  BOOST_TEST(parse_record("v=spf1 x=").is_ok());
}

BOOST_AUTO_TEST_CASE(ip_matching) {
  auto client = Ip::parse("192.0.2.77").value();
  auto net = Ip::parse("192.0.2.0").value();
  BOOST_TEST(client.in(net, 24));
  BOOST_TEST(!client.in(net, 32));
  BOOST_TEST(client.in(Ip::parse("10.0.0.0").value(), 0));
  auto mapped = Ip::parse("::ffff:192.0.2.77").value();
  BOOST_TEST(!mapped.v6);  // an IPv4-mapped client is IPv4 for SPF
  BOOST_TEST(mapped.in(net, 24));
  auto v6 = Ip::parse("2001:db8::cb01").value();
  BOOST_TEST(v6.in(Ip::parse("2001:db8::").value(), 32));
  BOOST_TEST(!v6.in(net, 0));  // never across families
  BOOST_TEST(v6.dotted() == "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.C.B.0.1");
  BOOST_TEST(v6.readable() == "2001:db8::cb01");
}

}  // namespace
}  // namespace hato::policy::spf
