// macro_test.cc - SPF macro strings: the examples of RFC 7208 section 7.4, transformers, URL
// escaping, the letters allowed where, domain-spec endings and the 253-character cut.
#define BOOST_TEST_MODULE spf
#include <boost/test/unit_test.hpp>

#include <string>

#include "policy/spf/macro.h"
#include "policy/spf/record.h"

namespace hato::policy::spf {
namespace {

// The values of section 7.4: strong-bad@email.example.com from 192.0.2.3.
MacroVars rfc_vars() {
  MacroVars v;
  v.sender = "strong-bad@email.example.com";
  v.local_part = "strong-bad";
  v.sender_domain = "email.example.com";
  v.domain = "email.example.com";
  v.ip_dotted = "192.0.2.3";
  v.ip_readable = "192.0.2.3";
  v.ip_version = "in-addr";
  v.helo = "mx.example.org";
  v.validated = "mx.example.org";
  v.receiver = "mx.example.net";
  v.timestamp = "1700000000";
  return v;
}

std::string expand(const std::string& text, const MacroVars& vars = rfc_vars(),
                   MacroSyntax syntax = MacroSyntax::kDomainSpec) {
  auto parsed = parse_macro_string(text, syntax);
  BOOST_TEST_REQUIRE(parsed.is_ok(), text << ": " << parsed.message());
  return expand_macro_string(*parsed, vars);
}

BOOST_AUTO_TEST_CASE(rfc7208_section_7_4_examples) {
  BOOST_TEST(expand("%{s}") == "strong-bad@email.example.com");
  BOOST_TEST(expand("%{o}") == "email.example.com");
  BOOST_TEST(expand("%{d}") == "email.example.com");
  BOOST_TEST(expand("%{d4}") == "email.example.com");
  BOOST_TEST(expand("%{d3}") == "email.example.com");
  BOOST_TEST(expand("%{d2}") == "example.com");
  BOOST_TEST(expand("%{d1}") == "com");
  BOOST_TEST(expand("%{dr}") == "com.example.email");
  BOOST_TEST(expand("%{d2r}") == "example.email");
  BOOST_TEST(expand("%{l}") == "strong-bad");
  BOOST_TEST(expand("%{l-}") == "strong.bad");
  BOOST_TEST(expand("%{lr}") == "strong-bad");
  BOOST_TEST(expand("%{lr-}") == "bad.strong");
  BOOST_TEST(expand("%{l1r-}") == "strong");
  BOOST_TEST(expand("%{ir}.%{v}._spf.%{d2}") == "3.2.0.192.in-addr._spf.example.com");
  BOOST_TEST(expand("%{lr-}.lp._spf.%{d2}") == "bad.strong.lp._spf.example.com");
  BOOST_TEST(expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}") ==
             "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
  BOOST_TEST(expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}") ==
             "3.2.0.192.in-addr.strong.lp._spf.example.com");
  BOOST_TEST(expand("%{d2}.trusted-domains.example.net") ==
             "example.com.trusted-domains.example.net");
}

BOOST_AUTO_TEST_CASE(ipv6_nibbles_and_version) {
  MacroVars v = rfc_vars();
  v.ip_dotted = "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.C.B.0.1";
  v.ip_version = "ip6";
  BOOST_TEST(
      expand("%{ir}.%{v}._spf.%{d2}", v) ==
      "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com");
}

BOOST_AUTO_TEST_CASE(escapes_and_several_delimiters) {
  BOOST_TEST(expand("a%%b%_c%-d.example.com") == "a%b c%20d.example.com");
  MacroVars v = rfc_vars();
  v.local_part = "foo-bar+zip+quux";
  BOOST_TEST(expand("%{l2r+-}", v) == "bar.foo");
  BOOST_TEST(expand("%{l+-}", v) == "foo.bar.zip.quux");
  BOOST_TEST(expand("%{l99}", v) == "foo-bar+zip+quux");  // more parts than there are: all
}

BOOST_AUTO_TEST_CASE(upper_case_letters_are_url_escaped) {
  MacroVars v = rfc_vars();
  v.local_part = "~jack&jill=up-a_b3.c";
  BOOST_TEST(expand("%{L}", v) == "~jack%26jill%3Dup-a_b3.c");
  BOOST_TEST(expand("%{S}") == "strong-bad%40email.example.com");
}

BOOST_AUTO_TEST_CASE(explanation_only_letters_and_spaces) {
  BOOST_TEST(!parse_macro_string("%{c}.example.com", MacroSyntax::kDomainSpec).is_ok());
  BOOST_TEST(!parse_macro_string("%{r}.example.com", MacroSyntax::kDomainSpec).is_ok());
  BOOST_TEST(!parse_macro_string("%{t}.example.com", MacroSyntax::kDomainSpec).is_ok());
  BOOST_TEST(!parse_macro_string("a b", MacroSyntax::kDomainSpec).is_ok());
  BOOST_TEST(expand("%{c} at %{t} by %{r}", rfc_vars(), MacroSyntax::kExplanation) ==
             "192.0.2.3 at 1700000000 by mx.example.net");
}

BOOST_AUTO_TEST_CASE(syntax_errors) {
  for (const char* bad :
       {"%", "%(ir).x.com", "foo%.x.com", "%{", "%{x}", "%{d0}", "%{d2rr}", "%{d", "%{}",
        "a\x01"
        "b",
        "caf\xC3\xA9"}) {
    BOOST_TEST(!parse_macro_string(bad, MacroSyntax::kModifier).is_ok(), bad);
  }
}

BOOST_AUTO_TEST_CASE(domain_spec_endings) {
  for (const char* good : {"example.com", "example.com.", "%{d}", "%{d2}.x",
                           "foo.example.xn--zckzah", "foo:bar/baz.example.com", "a.123-4"}) {
    BOOST_TEST(parse_domain_spec(good).is_ok(), good);
  }
  for (const char* bad : {"", "museum", "museum.", "abc.123", "example.-com", "example.com-",
                          "111.222.33.44", "example.com:8080", "%{d}.", "ip5.example.com/24"}) {
    BOOST_TEST(!parse_domain_spec(bad).is_ok(), bad);
  }
}

BOOST_AUTO_TEST_CASE(query_names_are_cut_from_the_left) {
  BOOST_TEST(query_name("example.com.") == "example.com");
  std::string label(60, 'a');
  std::string tail = label + "." + label + "." + label + "." + label + ".example.com";  // 255
  std::string cut = query_name("foo." + tail);
  BOOST_TEST(cut.size() <= 253u);
  BOOST_TEST(cut == label + "." + label + "." + label + ".example.com");
}

// fuzz/corpus/spf_record/regress-long-label: "a:mail.<300 x>" expanded to a name
// whose last label alone is over 253 characters; it came back uncut.
BOOST_AUTO_TEST_CASE(a_label_too_long_to_cut_leaves_no_name) {
  std::string huge(300, 'x');
  BOOST_TEST(query_name("mail." + huge) == "");
  BOOST_TEST(query_name(huge + ".") == "");
  auto record = parse_record("v=spf1 a:mail." + huge + " -all");
  BOOST_TEST_REQUIRE(record.is_ok());
  BOOST_TEST_REQUIRE(record->mechanisms.front().domain.has_value());
  MacroVars vars;
  BOOST_TEST(query_name(expand_macro_string(*record->mechanisms.front().domain, vars)) == "");
}

}  // namespace
}  // namespace hato::policy::spf
