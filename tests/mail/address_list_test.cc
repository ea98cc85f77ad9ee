// address_list_test.cc - parse_address_list() over the forms From fields take in the wild, and
// author_domains() over its result.
#define BOOST_TEST_MODULE mail
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "policy/mail/address_list.h"

namespace hato::mail {
namespace {

// Each mailbox as "display|local@domain|group", joined by " ; ".
std::string render(const AddressList& list) {
  std::string out;
  for (const auto& m : list.mailboxes) {
    if (!out.empty()) out += " ; ";
    out += m.display_name + "|" + m.local_part + "@" + m.domain + "|" + m.group;
  }
  return out;
}

struct Case {
  const char* value;
  const char* mailboxes;
  bool valid;
};

const Case kCases[] = {
    {" alice@example.test", "|alice@example.test|", true},
    {" Alice <alice@example.test>", "Alice|alice@example.test|", true},
    {" bob@spf-ok.test, ceo@brand.test", "|bob@spf-ok.test| ; |ceo@brand.test|", true},
    {" ceo@brand.test,bob@spf-ok.test", "|ceo@brand.test| ; |bob@spf-ok.test|", true},
    // Groups, also empty and next to plain mailboxes.
    {" Board: bob@spf-ok.test, ceo@brand.test;", "|bob@spf-ok.test|Board ; |ceo@brand.test|Board",
     true},
    {" Board: bob@a.test;, Ann <ann@b.test>", "|bob@a.test|Board ; Ann|ann@b.test|", true},
    {" undisclosed-recipients:;", "", true},
    {" \"The Board\" : <ceo@brand.test> ;", "|ceo@brand.test|The Board", true},
    // Quoted display names holding commas, '@', '<' and a colon.
    {" \"Smith, Bob\" <bob@a.test>, \"x@evil.test\" <ceo@brand.test>",
     "Smith, Bob|bob@a.test| ; x@evil.test|ceo@brand.test|", true},
    {" \"Team: <a@evil.test>, \\\"q\\\"\" <ceo@brand.test>",
     "Team: <a@evil.test>, \"q\"|ceo@brand.test|", true},
    // Comments anywhere, nested, with commas and '@'.
    {" bob@a.test (Bob, the @boss), ceo@brand.test (CEO (really))",
     "|bob@a.test| ; |ceo@brand.test|", true},
    {" (x@evil.test) Alice\r\n <alice@\r\n example.test>", "Alice|alice@example.test|", true},
    {" bob(c)@(c)a.test", "|bob@a.test|", true},
    // RFC 2047 encoded words, also with a comma and '@' inside (as some mailers write them).
    {" =?UTF-8?B?w4lsb2Rpw6k=?= <e@a.test>", "=?UTF-8?B?w4lsb2Rpw6k=?=|e@a.test|", true},
    {" =?utf-8?q?Doe,_John_x@evil.test?= <john@a.test>, ceo@brand.test",
     "=?utf-8?q?Doe,_John_x@evil.test?=|john@a.test| ; |ceo@brand.test|", true},
    {" =?utf-8?q?C=C3=A9o?= Board <ceo@brand.test>", "=?utf-8?q?C=C3=A9o?= Board|ceo@brand.test|",
     true},
    // Quoted local parts, domain literals, a trailing dot, an obsolete route, empty elements.
    {" \"a,b@c\"@a.test", "|\"a,b@c\"@a.test|", true},
    {" bob@[192.0.2.1], ceo@brand.test.", "|bob@[192.0.2.1]| ; |ceo@brand.test.|", true},
    {" <@relay.test,@other.test:bob@a.test>", "|bob@a.test|", true},
    {" bob@a.test,, ,ceo@brand.test", "|bob@a.test| ; |ceo@brand.test|", true},
    {" first.last@a.test", "|first.last@a.test|", true},
    // Broken elements do not hide the others.
    {" Alice", "", false},
    {" Alice, ceo@brand.test", "|ceo@brand.test|", false},
    {" John Doe john@a.test", "|John Doe john@a.test|", false},
    {" <bob@a.test> ceo@brand.test", "|bob@a.test| ; |ceo@brand.test|", false},
    {" Board: bob@a.test, ceo@brand.test", "|bob@a.test|Board ; |ceo@brand.test|Board", false},
    {" <bob@a.test, ceo@brand.test", "|bob@a.test| ; |ceo@brand.test|", false},
    {" \"unterminated <a@x.test>", "", false},
    {" (unterminated <a@x.test>", "", false},
    {" bob@", "", false},
    {" @a.test", "|@a.test|", false},
    {"", "", false},
};

BOOST_AUTO_TEST_CASE(forms) {
  for (const auto& c : kCases) {
    AddressList list = parse_address_list(c.value);
    BOOST_TEST(render(list) == c.mailboxes, "[" << c.value << "]");
    BOOST_TEST(list.error.empty() == c.valid, "[" << c.value << "] error: " << list.error);
  }
}

BOOST_AUTO_TEST_CASE(author_domains_are_distinct_lowercase_and_resolvable) {
  AddressList list = parse_address_list(
      " Bob <bob@A.Test>, ceo@brand.test., x@[192.0.2.1], Ann <ann@a.test>, Board: z@Brand.Test;");
  BOOST_TEST(author_domains(list) == (std::vector<std::string>{"a.test", "brand.test"}));
  BOOST_TEST(author_domains(parse_address_list(" x@[192.0.2.1]")).empty());
}

}  // namespace
}  // namespace hato::mail
