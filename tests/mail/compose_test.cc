// compose_test.cc - the MIME composer's rules, line by line. Python's email parser reads the
// composed messages back in tests/integration/test_http_api.py.
#include <boost/test/unit_test.hpp>

#include "common/base64.h"
#include "policy/mail/compose.h"

using namespace hato::mail;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find("\r\n", pos);
    BOOST_REQUIRE(eol != std::string::npos);  // every line ends in CRLF
    lines.push_back(text.substr(pos, eol - pos));
    pos = eol + 2;
  }
  return lines;
}

Composition simple() {
  Composition c;
  c.from = {"Ada", "ada@example.test"};
  c.to = {{"", "bob@example.net"}};
  c.subject = "Hello";
  c.text = "Hi Bob\n";
  return c;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(compose_suite)

BOOST_AUTO_TEST_CASE(a_plain_text_message_is_one_7bit_part) {
  std::string m = compose(simple(), "x");
  BOOST_TEST(m ==
             "From: Ada <ada@example.test>\r\nTo: bob@example.net\r\nSubject: Hello\r\n"
             "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: 7bit\r\n\r\nHi Bob\r\n");
}

BOOST_AUTO_TEST_CASE(a_non_ascii_subject_becomes_encoded_words_of_whole_characters) {
  // 40 three-byte characters: 120 bytes, more than two words' worth.
  std::string subject;
  for (int i = 0; i < 40; ++i) subject += "\xe2\x82\xac";  // the euro sign
  std::string v = encode_unstructured("Subject", subject);
  std::string decoded;
  for (const auto& line : lines_of(v + "\r\n")) {
    BOOST_TEST(line.size() + 9 <= 78u);
    std::string_view word = line;
    if (word.front() == ' ') word.remove_prefix(1);
    BOOST_REQUIRE(word.substr(0, 10) == "=?UTF-8?B?");
    BOOST_REQUIRE(word.substr(word.size() - 2) == "?=");
    auto raw = hato::base64_decode(word.substr(10, word.size() - 12));
    BOOST_REQUIRE(raw);
    BOOST_TEST(raw->size() % 3 == 0u);  // no character cut in two
    decoded += *raw;
  }
  BOOST_TEST(decoded == subject);
}

BOOST_AUTO_TEST_CASE(a_long_ascii_subject_is_folded_at_spaces) {
  std::string subject;
  for (int i = 0; i < 30; ++i) subject += "word" + std::to_string(i) + " ";
  subject.pop_back();
  std::string v = encode_unstructured("Subject", subject);
  std::string unfolded;
  size_t first = 0;
  for (const auto& line : lines_of(v + "\r\n")) {
    BOOST_TEST(line.size() + (first++ == 0 ? 9 : 0) <= 78u);
    unfolded += line;
  }
  BOOST_TEST(unfolded == subject);  // RFC 5322 unfolding gives the value back
}

BOOST_AUTO_TEST_CASE(display_names_are_quoted_or_encoded) {
  Composition c = simple();
  c.from = {"Smith, John", "john@example.test"};
  c.to = {{"J\xc3\xbcrgen", "j@example.net"}, {"", "k@example.net"}};
  std::string m = compose(c, "x");
  BOOST_TEST(m.find("From: \"Smith, John\" <john@example.test>\r\n") != std::string::npos);
  BOOST_TEST(m.find("To: =?UTF-8?B?SsO8cmdlbg==?= <j@example.net>, k@example.net\r\n") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(long_or_8bit_text_is_quoted_printable_with_short_lines) {
  Composition c = simple();
  c.text = std::string(200, 'a') + " caf\xc3\xa9 \n.dot\nFrom here\ntrailing \n";
  std::string m = compose(c, "x");
  BOOST_TEST(m.find("Content-Transfer-Encoding: quoted-printable") != std::string::npos);
  std::string body = m.substr(m.find("\r\n\r\n") + 4);
  for (const auto& line : lines_of(body)) BOOST_TEST(line.size() <= 76u);
  BOOST_TEST(body.find("caf=C3=A9") != std::string::npos);
  BOOST_TEST(body.find("\r\n=2Edot\r\n") != std::string::npos);
  BOOST_TEST(body.find("\r\n=46rom here\r\n") != std::string::npos);
  BOOST_TEST(body.find("trailing=20\r\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(text_html_and_attachments_nest_alternative_in_mixed) {
  Composition c = simple();
  c.html = "<p>Hi</p>";
  c.attachments = {{"r\xc3\xa9sum\xc3\xa9.pdf", "application/pdf", std::string(100, '\x01')},
                   {"notes.txt", "text/plain", "x"}};
  std::string m = compose(c, "seed");
  BOOST_TEST(m.find("Content-Type: multipart/mixed;\r\n boundary=\"=_hato_seed_m\"") !=
             std::string::npos);
  BOOST_TEST(m.find("Content-Type: multipart/alternative;\r\n boundary=\"=_hato_seed_a\"") !=
             std::string::npos);
  BOOST_TEST(m.find("filename*=utf-8''r%C3%A9sum%C3%A9.pdf") != std::string::npos);
  BOOST_TEST(m.find("filename=\"notes.txt\"") != std::string::npos);
  BOOST_TEST(m.find("--=_hato_seed_m--\r\n") != std::string::npos);
  for (const auto& line : lines_of(m)) BOOST_TEST(line.size() <= 78u);
}

BOOST_AUTO_TEST_CASE(a_boundary_found_in_the_text_is_made_longer) {
  Composition c = simple();
  c.html = "x";
  c.text = "--=_hato_s_a\n";
  std::string m = compose(c, "s");
  BOOST_TEST(m.find("boundary=\"=_hato_s___a\"") !=
             std::string::npos);  // "=_hato_s_" is in the text too
}

BOOST_AUTO_TEST_CASE(errors_name_the_field) {
  Composition c = simple();
  BOOST_TEST(compose_error(c) == "");
  c.from.email = "nobody";
  BOOST_TEST(compose_error(c) == "from: not an address (local@domain)");
  c = simple();
  c.to = {{"", "a@b"}, {"", "bad address@x"}};
  BOOST_TEST(compose_error(c) == "to[1]: not an address (local@domain)");
  c = simple();
  c.subject = "two\r\nBcc: victim@example.net";
  BOOST_TEST(compose_error(c) == "subject: holds a line break");
  c = simple();
  c.headers = {{"Content-Type", "text/html"}};
  BOOST_TEST(compose_error(c) == "headers.Content-Type: set by its own field, not in headers");
  c = simple();
  c.headers = {{"X-Ok", "a\nb"}};
  BOOST_TEST(compose_error(c) == "headers.X-Ok: the value holds a line break");
  c = simple();
  c.attachments = {{"a.pdf", "pdf", "x"}};
  BOOST_TEST(compose_error(c) == "attachments[0].type: not a media type (type/subtype)");
  c = simple();
  c.text.clear();
  BOOST_TEST(compose_error(c) == "text: a message needs text, html or an attachment");
}

BOOST_AUTO_TEST_SUITE_END()
