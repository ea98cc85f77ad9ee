// message_header_test.cc - check_header_section() over good and broken header sections.
#include <boost/test/unit_test.hpp>

#include <string>

#include "policy/mail/message_header.h"

namespace hato::mail {
namespace {

struct Case {
  const char* message;
  size_t line;  // 0: no error
  const char* described;
};

const Case kGood[] = {
    {"From: a@example.test\r\nSubject: hi\r\n\r\nbody: no header here\r\nno colon\r\n", 0, ""},
    {"Subject: folded\r\n over\r\n\tlines\r\n\r\n", 0, ""},
    {"Subject : obsolete space before the colon\r\n\r\n", 0, ""},
    {"X-Empty:\r\nTo: b@example.test\r\n", 0, ""},  // no body, no empty line: still fine
    {"Subject: a white-space-only line continues it\r\n \r\n\r\nbody\r\n", 0, ""},
    {"Subject: =?utf-8?q?caf=C3=A9?= \xc3\xa9\r\n\r\n", 0, ""},  // UTF-8 bodies (RFC 6532)
    {"Subject: x\n\nLF lines\n", 0, ""},
    {"", 0, ""},
    {"\r\nbody only\r\n", 0, ""},
};

const Case kBad[] = {
    // Python's msg_19: a digest whose first line is text.
    {"Send Ppp mailing list submissions to\n\tppp@zzz.org\n\nTo subscribe\n", 1,
     "header line 1 is not a header field (no colon): \"Send Ppp mailing list submissions to\""},
    // Python's msg_35: no empty line before the text.
    {"From: aperson@dom.ain\r\nTo: bperson@dom.ain\r\nSubject: here's something "
     "interesting\r\ncounter to RFC 2822, there's no separating newline here\r\n",
     4,
     "header line 4 is not a header field (no colon): \"counter to RFC 2822, there's no "
     "separati...\""},
    {" leading white space\r\nSubject: x\r\n\r\n", 1,
     "header line 1 is not a header field (a continuation line with no field above): \" leading "
     "white space\""},
    {"Subject: x\r\n: no name\r\n\r\n", 2,
     "header line 2 is not a header field (no field name before the colon): \": no name\""},
    {"Subject: x\r\nBad Name: y\r\n\r\n", 2,
     "header line 2 is not a header field (a field name with a space or a control character): "
     "\"Bad Name: y\""},
    {"From mbox@line Mon Dec  7 10:00:00 2026\r\nSubject: x\r\n\r\n", 1,
     "header line 1 is not a header field (a field name with a space or a control character): "
     "\"From mbox@line Mon Dec  7 10:00:00 2026\""},
    {"Subject: x\r\n\x01\"quote\\\xff\r\n\r\n", 2,
     "header line 2 is not a header field (no colon): \"??quote??\""},
};

BOOST_AUTO_TEST_CASE(good_sections_pass) {
  for (const auto& c : kGood) BOOST_TEST(!check_header_section(c.message).has_value(), c.message);
}

BOOST_AUTO_TEST_CASE(the_first_bad_line_is_named) {
  for (const auto& c : kBad) {
    auto e = check_header_section(c.message);
    BOOST_TEST_REQUIRE(e.has_value(), c.message);
    BOOST_TEST(e->line == c.line, c.message);
    BOOST_TEST(e->describe() == c.described);
  }
}

// header_value: what the events' message_id is read with.
BOOST_AUTO_TEST_CASE(a_field_value_is_found_unfolded_and_trimmed) {
  std::string m =
      "Subject: a\r\nmessage-id :  \r\n <x@example.test> \r\nMessage-ID: <second@x>\r\n\r\n"
      "Message-ID: <body@x>\r\n";
  BOOST_TEST(header_value(m, "Message-ID") == "<x@example.test>");
  BOOST_TEST(header_value(m, "subject") == "a");
  BOOST_TEST(header_value("Subject: a\r\n\r\nMessage-ID: <body@x>\r\n", "Message-ID") == "");
  BOOST_TEST(header_value("Subject: a\nMessage-Id: <lf@x>\n\nbody", "Message-ID") == "<lf@x>");
  BOOST_TEST(header_value("", "Message-ID") == "");
}

}  // namespace
}  // namespace hato::mail
