// tags_test.cc - the tag-list parser (RFC 6376 3.2): what it accepts, what it refuses, and that
// random bytes never crash it.
#include <boost/test/unit_test.hpp>

#include <random>

#include "policy/dkim/tags.h"

namespace hato::dkim {
namespace {

BOOST_AUTO_TEST_SUITE(tags)

BOOST_AUTO_TEST_CASE(parses_folded_lists) {
  auto t = TagList::parse(" v=1; a=rsa-sha256;\r\n\th=from : to ;\r\n b=ab\r\n cd ; x_1 = y ;");
  BOOST_TEST_REQUIRE(t.is_ok(), t.message());
  BOOST_TEST(t->tags().size() == 5u);
  BOOST_TEST(*t->find("v") == "1");
  BOOST_TEST(*t->find("h") == "from : to");
  BOOST_TEST(*t->find("b") == "ab\r\n cd");
  BOOST_TEST(strip_whitespace(*t->find("b")) == "abcd");
  BOOST_TEST(*t->find("x_1") == "y");
  BOOST_TEST(t->find("V") == nullptr);  // names are case-sensitive
  auto h = split_colon_list(*t->find("h"));
  BOOST_TEST_REQUIRE(h.size() == 2u);
  BOOST_TEST(h[0] == "from");
  BOOST_TEST(h[1] == "to");
}

BOOST_AUTO_TEST_CASE(empty_values_and_specs) {
  auto t = TagList::parse("v=DKIM1;; p=; ");
  BOOST_TEST_REQUIRE(t.is_ok(), t.message());
  BOOST_TEST(*t->find("p") == "");
  BOOST_TEST(TagList::parse("").is_ok());
}

BOOST_AUTO_TEST_CASE(refusals) {
  const char* kBad[] = {
      "v=1; v=1",    // duplicate
      "v",           // no '='
      "1v=1",        // name must start with a letter
      "v-x=1",       // bad name character
      "a=b\rc",      // bare CR
      "a=b\r\nc",    // CRLF not followed by whitespace
      "a=b\x01",     // control character
      "a=\xc3\xa9",  // 8-bit
      "a=b\r\n",     // a line break at the end is not folding
  };
  for (const char* text : kBad) BOOST_TEST(!TagList::parse(text).is_ok(), text);
  std::string many;
  for (int i = 0; i < 100; ++i) many += "t" + std::to_string(i) + "=x;";
  BOOST_TEST(!TagList::parse(many).is_ok());
}

BOOST_AUTO_TEST_CASE(random_input_never_crashes) {
  std::mt19937 rng(32);
  const std::string kPieces[] = {"=",  ";", " ", "\t",   "\r\n ", "\r", "\n",    "a", "b",
                                 "bh", "v", "1", "\xff", "\0",    ":",  "DKIM1", "p", "=="};
  size_t ok = 0;
  for (int round = 0; round < 50000; ++round) {
    std::string text;
    size_t n = rng() % 30;
    for (size_t i = 0; i < n; ++i) text += kPieces[rng() % std::size(kPieces)];
    auto t = TagList::parse(text);
    if (t) ++ok;
    split_colon_list(text);
    strip_whitespace(text);
  }
  BOOST_TEST(ok > 0u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::dkim
