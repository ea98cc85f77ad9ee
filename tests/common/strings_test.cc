// strings_test.cc - ASCII folding: mixed case, empty input, bytes >= 0x80 kept, prefixes longer
// than the string, trimming of spaces and tabs only, and percent-decoding.
#include <boost/test/unit_test.hpp>

#include <string>

#include "common/strings.h"

namespace hato {
namespace {

BOOST_AUTO_TEST_SUITE(strings)

BOOST_AUTO_TEST_CASE(ascii_lower_table) {
  const std::pair<std::string, std::string> kCases[] = {
      {"", ""},
      {"MiXeD@Example.ORG", "mixed@example.org"},
      {"already lower", "already lower"},
      {"@[`{", "@[`{"},                    // neighbours of 'A'..'Z' and 'a'..'z'
      {"\xc3\x96\xC9Z", "\xc3\x96\xC9z"},  // UTF-8 and Latin-1 bytes unchanged
      {std::string("A\0B", 3), std::string("a\0b", 3)},
  };
  for (const auto& [in, want] : kCases) BOOST_TEST(ascii_lower(in) == want, in);
}

BOOST_AUTO_TEST_CASE(iequals_table) {
  struct Case {
    const char* a;
    const char* b;
    bool equal;
  };
  const Case kCases[] = {
      {"", "", true},          {"DKIM-Signature", "dkim-signature", true},
      {"From", "FROM", true},  {"From", "Fro", false},
      {"From", "Frum", false}, {"@", "`", false},  // 0x40 and 0x60 differ by the case bit only
      {"[", "{", false},       {"\xc3\x96", "\xc3\xb6", false},  // non-ASCII is not folded
      {"\xC9", "\xE9", false},
  };
  for (const auto& c : kCases) {
    BOOST_TEST(iequals(c.a, c.b) == c.equal, c.a << " vs " << c.b);
    BOOST_TEST(iequals(c.b, c.a) == c.equal, c.b << " vs " << c.a);
  }
}

BOOST_AUTO_TEST_CASE(istarts_with_table) {
  struct Case {
    const char* s;
    const char* prefix;
    bool starts;
  };
  const Case kCases[] = {
      {"MAIL FROM:<a@b>", "mail from:", true},
      {"mail from:<a@b>", "MAIL FROM:", true},
      {"anything", "", true},
      {"", "", true},
      {"", "x", false},
      {"MAIL", "MAIL FROM:", false},  // prefix longer than the string
      {"RCPT TO:", "MAIL", false},
      {"\xC9t\xE9", "\xE9", false},
  };
  for (const auto& c : kCases)
    BOOST_TEST(istarts_with(c.s, c.prefix) == c.starts, c.s << " / " << c.prefix);
}

BOOST_AUTO_TEST_CASE(trim_table) {
  const std::pair<std::string, std::string> kCases[] = {
      {"", ""},
      {" \t ", ""},
      {"\t a b \t", "a b"},
      {"x", "x"},
      {"\r\nx\r\n", "\r\nx\r\n"},  // CR and LF are not WSP
  };
  for (const auto& [in, want] : kCases) BOOST_TEST(std::string(trim(in)) == want, in);
}

BOOST_AUTO_TEST_CASE(percent_decoding_reverses_encoding_and_refuses_stray_percents) {
  BOOST_TEST(percent_decode("a%2Fb%3fc%25").value_or("?") == "a/b?c%");
  BOOST_TEST(!percent_decode("50%"));
  BOOST_TEST(!percent_decode("%4"));
  BOOST_TEST(!percent_decode("%zz%41"));
  BOOST_TEST(percent_decode("a+b").value_or("?") == "a+b");
  BOOST_TEST(percent_decode("a+b%20c%2B", true).value_or("?") == "a b c+");
  std::string every;
  for (int c = 0; c < 256; ++c) every += static_cast<char>(c);
  BOOST_TEST(percent_decode(percent_encode(every, "-._~")).value_or("?") == every);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato
