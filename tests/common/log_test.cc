// log_test.cc - the log's JSON strings (every escape, runs of plain text between them, bytes
// >= 0x80 kept) and RFC 3339 times (padding, milliseconds, a leap day, the last 4-digit year).
#include <boost/test/unit_test.hpp>

#include <string>

#include "common/log.h"

namespace hato {
namespace {

BOOST_AUTO_TEST_SUITE(log_format)

BOOST_AUTO_TEST_CASE(json_strings) {
  const std::pair<std::string, std::string> kCases[] = {
      {"", "\"\""},
      {"plain text", "\"plain text\""},
      {"a\"b\\c", "\"a\\\"b\\\\c\""},
      {"\r\n\t", "\"\\r\\n\\t\""},
      {std::string("x\0y", 3), "\"x\\u0000y\""},
      {"\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\""},
      {"\"", "\"\\\"\""},
      {"550 5.1.1 <a@b> \"no\" \xc3\xa9t\xc3\xa9",
       "\"550 5.1.1 <a@b> \\\"no\\\" \xc3\xa9t\xc3\xa9\""},
  };
  for (const auto& [in, want] : kCases) {
    std::string out = "prefix";
    log::append_json_string(out, in);
    BOOST_TEST(out == "prefix" + want);
  }
  std::string field;
  log::append_json_field(field, "k", "v\"");
  BOOST_TEST(field == ",\"k\":\"v\\\"\"");
}

BOOST_AUTO_TEST_CASE(rfc3339_times) {
  BOOST_TEST(log::rfc3339(0) == "1970-01-01T00:00:00.000Z");
  BOOST_TEST(log::rfc3339(1796731200123) == "2026-12-08T12:00:00.123Z");
  BOOST_TEST(log::rfc3339(951782400999) == "2000-02-29T00:00:00.999Z");
  BOOST_TEST(log::rfc3339(253402300799999) == "9999-12-31T23:59:59.999Z");
  BOOST_TEST(log::rfc3339(1000 * 60 * 61 + 7) == "1970-01-01T01:01:00.007Z");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato
