// psl_test.cc - the Public Suffix List: punycode of Unicode rules, wildcard and exception rules,
// the "*" default, and Debian's list itself.
#define BOOST_TEST_MODULE dmarc
#include <boost/test/unit_test.hpp>

#include <filesystem>

#include "policy/dmarc/psl.h"

namespace hato::dmarc {
namespace {

const char kList[] =
    "// a comment line\n"
    "com\n"
    "uk\n"
    "co.uk\n"
    "\n"
    "*.ck\n"
    "!www.ck\n"
    "cn\n"
    "公司.cn\n"
    "jp\n"
    "*.kawasaki.jp\n"
    "!city.kawasaki.jp\n"
    "github.io   trailing words are not part of the rule\n";

BOOST_AUTO_TEST_SUITE(psl)

BOOST_AUTO_TEST_CASE(punycode_of_unicode_labels) {
  // Vectors checked against Python's "xn--" codec and RFC 3492 7.1.
  BOOST_TEST(punycode_label("bücher") == "xn--bcher-kva");
  BOOST_TEST(punycode_label("公司") == "xn--55qx5d");
  BOOST_TEST(punycode_label("网络") == "xn--io0a7i");
  BOOST_TEST(punycode_label("aéroport") == "xn--aroport-bya");
  BOOST_TEST(punycode_label("ليهمابتكلموشعربي؟") == "xn--egbpdaj6bu4bxfgehfvwxn");
  BOOST_TEST(punycode_label("example") == "example");
  BOOST_TEST(punycode_label("\xc3") == "");    // truncated UTF-8
  BOOST_TEST(punycode_label("a\x80z") == "");  // a continuation byte alone
}

BOOST_AUTO_TEST_CASE(ordinary_rules_take_the_longest_match) {
  auto list = PublicSuffixList::parse(kList);
  BOOST_TEST(list->public_suffix("mail.example.com") == "com");
  BOOST_TEST(list->organizational_domain("mail.example.com") == "example.com");
  BOOST_TEST(list->organizational_domain("a.b.example.co.uk") == "example.co.uk");
  BOOST_TEST(list->organizational_domain("example.co.uk") == "example.co.uk");
  BOOST_TEST(list->organizational_domain("Mail.Example.COM.") == "example.com");
  BOOST_TEST(list->organizational_domain("user.github.io") == "user.github.io");
}

BOOST_AUTO_TEST_CASE(a_public_suffix_is_its_own_organizational_domain) {
  auto list = PublicSuffixList::parse(kList);
  BOOST_TEST(list->organizational_domain("com") == "com");
  BOOST_TEST(list->organizational_domain("co.uk") == "co.uk");
  BOOST_TEST(list->organizational_domain("") == "");
}

BOOST_AUTO_TEST_CASE(wildcards_and_exceptions) {
  auto list = PublicSuffixList::parse(kList);
  BOOST_TEST(list->public_suffix("a.foo.ck") == "foo.ck");
  BOOST_TEST(list->organizational_domain("a.foo.ck") == "a.foo.ck");
  BOOST_TEST(list->organizational_domain("x.a.foo.ck") == "a.foo.ck");
  BOOST_TEST(list->public_suffix("www.ck") == "ck");
  BOOST_TEST(list->organizational_domain("mail.www.ck") == "www.ck");
  BOOST_TEST(list->organizational_domain("www.city.kawasaki.jp") == "city.kawasaki.jp");
  BOOST_TEST(list->organizational_domain("a.b.c.kawasaki.jp") == "b.c.kawasaki.jp");
}

BOOST_AUTO_TEST_CASE(unicode_rules_match_a_labels) {
  auto list = PublicSuffixList::parse(kList);
  BOOST_TEST(list->public_suffix("shop.example.xn--55qx5d.cn") == "xn--55qx5d.cn");
  BOOST_TEST(list->organizational_domain("shop.example.xn--55qx5d.cn") == "example.xn--55qx5d.cn");
}

BOOST_AUTO_TEST_CASE(unknown_tlds_follow_the_default_rule) {
  auto list = PublicSuffixList::parse(kList);
  BOOST_TEST(list->public_suffix("a.b.example") == "example");
  BOOST_TEST(list->organizational_domain("a.b.example") == "b.example");
  PublicSuffixList empty;
  BOOST_TEST(empty.organizational_domain("mx.mail.example.test") == "example.test");
}

BOOST_AUTO_TEST_CASE(missing_file_is_an_error) {
  auto r = PublicSuffixList::load("/nonexistent/public_suffix_list.dat");
  BOOST_TEST(!r.is_ok());
  BOOST_TEST(r.message().find("/nonexistent/public_suffix_list.dat") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(debians_list) {
  // The publicsuffix package is a build dependency; without it this says so plainly.
  BOOST_TEST_REQUIRE(std::filesystem::exists(kDefaultPslPath),
                     "install Debian's publicsuffix package");
  auto r = PublicSuffixList::load(kDefaultPslPath);
  BOOST_TEST_REQUIRE(r.is_ok(), r.message());
  const auto& list = **r;
  BOOST_TEST(list.size() > 5000u);
  BOOST_TEST(list.organizational_domain("mail.example.co.uk") == "example.co.uk");
  BOOST_TEST(list.organizational_domain("a.b.example.com") == "example.com");
  BOOST_TEST(list.organizational_domain("www.city.kawasaki.jp") == "city.kawasaki.jp");
  BOOST_TEST(list.organizational_domain("news.bbc.co.uk") == "bbc.co.uk");
  BOOST_TEST(list.organizational_domain("x.example.xn--55qx5d.cn") == "example.xn--55qx5d.cn");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::dmarc
