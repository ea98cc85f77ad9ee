// http_request_parser_test.cc - HTTP/1.x requests as Hato's web listeners read them: framing
// that does not depend on how bytes arrive, and a refusal, with the right status, for every
// request that could be read two ways or is over a limit.
#define BOOST_TEST_MODULE http_request_parser
#include <boost/test/unit_test.hpp>

#include <string>
#include <string_view>

#include "net/http_request_parser.h"

using namespace hato::net;

namespace {

HttpParseLimits limits(size_t max_body = 100) {
  HttpParseLimits l;
  l.max_head = 1024;
  l.max_headers = 10;
  l.max_body = max_body;
  return l;
}

// Feeds `raw` one byte at a time; returns the first non-zero status and how many bytes it took.
int feed_bytewise(HttpRequestParser& p, std::string_view raw, size_t* consumed) {
  *consumed = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    size_t used = 0;
    int status = p.feed(raw.substr(i, 1), &used);
    *consumed += used;
    if (status != 0) return status;
  }
  return 0;
}

int feed_whole(std::string_view raw, size_t max_body = 100) {
  HttpRequestParser p(limits(max_body));
  size_t used = 0;
  return p.feed(raw, &used);
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_get_read_byte_by_byte) {
  HttpRequestParser p(limits());
  size_t used = 0;
  std::string raw =
      "GET /.well-known/mta-sts.txt?x=1 HTTP/1.1\r\nHost: MTA-STS.Example.TEST.:443\r\n"
      "User-Agent:  curl/7.88 \r\n\r\n";
  BOOST_TEST(feed_bytewise(p, raw, &used) == 200);
  BOOST_TEST(used == raw.size());
  BOOST_TEST(p.request().method == "GET");
  BOOST_TEST(p.request().path == "/.well-known/mta-sts.txt");
  BOOST_TEST(p.request().query == "x=1");
  BOOST_TEST(p.request().host() == "mta-sts.example.test");
  BOOST_TEST(p.request().header("USER-AGENT") == "curl/7.88");
  BOOST_TEST(p.request().keep_alive());
}

BOOST_AUTO_TEST_CASE(a_body_by_content_length_and_the_next_request_left_alone) {
  HttpRequestParser p(limits());
  std::string raw =
      "POST /v1/messages HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n";
  size_t used = 0;
  BOOST_TEST(p.feed(raw, &used) == 200);
  BOOST_TEST(p.request().body == "hello");
  BOOST_TEST(raw.substr(used) == "GET / HTTP/1.1\r\n");
  p.reset();
  size_t consumed = 0;
  BOOST_TEST(feed_bytewise(p, raw, &consumed) == 200);
  BOOST_TEST(consumed == used);
  BOOST_TEST(p.request().body == "hello");
}

BOOST_AUTO_TEST_CASE(connection_persistence) {
  HttpRequestParser p(limits());
  size_t used = 0;
  BOOST_TEST(p.feed("GET / HTTP/1.0\r\n\r\n", &used) == 200);
  BOOST_TEST(!p.request().keep_alive());
  p.reset();
  BOOST_TEST(p.feed("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &used) == 200);
  BOOST_TEST(p.request().keep_alive());
  p.reset();
  BOOST_TEST(p.feed("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", &used) == 200);
  BOOST_TEST(!p.request().keep_alive());
}

BOOST_AUTO_TEST_CASE(empty_lines_before_a_request_are_skipped) {
  HttpRequestParser p(limits());
  size_t used = 0;
  BOOST_TEST(p.feed("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &used) == 200);
  BOOST_TEST(p.request().path == "/");
}

BOOST_AUTO_TEST_CASE(the_absolute_form_is_read_as_its_path) {
  HttpRequestParser p(limits());
  size_t used = 0;
  BOOST_TEST(p.feed("GET http://a.example/x?y HTTP/1.1\r\nHost: a.example\r\n\r\n", &used) == 200);
  BOOST_TEST(p.request().path == "/x");
  BOOST_TEST(p.request().query == "y");
}

// Each row: a request and the status it must be refused with.
BOOST_AUTO_TEST_CASE(refusals) {
  struct Row {
    const char* why;
    std::string raw;
    int status;
  };
  const Row rows[] = {
      {"bare LF ends a line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
      {"bare LF in the headers", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400},
      {"bare CR", "GET / HTTP/1.1\r\nHost: a\rX: y\r\n\r\n", 400},
      {"folded header", "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n z\r\n\r\n", 400},
      {"space before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
      {"no colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400},
      {"control character in a value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400},
      {"HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400},
      {"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"two spaces in the request line", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"target not a path", "GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
      {"bad version", "GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400},
      {"HTTP/2 in clear", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"chunked body", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 411},
      {"CL and TE together",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
       411},
      {"two different lengths",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
      {"a signed length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", 400},
      {"a body over the cap", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413},
      {"a huge length",
       "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
      {"a head over the cap", "GET /" + std::string(2000, 'a') + " HTTP/1.1\r\n\r\n", 431},
  };
  for (const Row& row : rows) {
    BOOST_TEST_CONTEXT(row.why) {
      BOOST_TEST(feed_whole(row.raw) == row.status);
      HttpRequestParser p(limits());
      size_t used = 0;
      BOOST_TEST(feed_bytewise(p, row.raw, &used) == row.status);
      BOOST_TEST(!p.error().empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(too_many_header_fields) {
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 10; ++i) raw += "X-" + std::to_string(i) + ": y\r\n";
  BOOST_TEST(feed_whole(raw + "\r\n") == 431);
}

BOOST_AUTO_TEST_CASE(identical_duplicate_lengths_are_one_length) {
  HttpRequestParser p(limits());
  size_t used = 0;
  BOOST_TEST(
      p.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
             &used) == 200);
  BOOST_TEST(p.request().body == "ok");
}

BOOST_AUTO_TEST_CASE(a_head_that_never_ends_is_cut_at_the_cap) {
  HttpRequestParser p(limits());
  size_t used = 0;
  BOOST_TEST(p.feed("GET / HTTP/1.1\r\nHost: a\r\n", &used) == 0);
  BOOST_TEST(p.started());
  std::string filler = "X-A: " + std::string(60, 'b') + "\r\n";
  int status = 0;
  for (int i = 0; i < 100 && status == 0; ++i) status = p.feed(filler, &used);
  BOOST_TEST(status == 431);
}

BOOST_AUTO_TEST_CASE(reasons) {
  BOOST_TEST(std::string(http_reason(404)) == "Not Found");
  BOOST_TEST(std::string(http_reason(431)) == "Request Header Fields Too Large");
  BOOST_TEST(std::string(http_reason(299)) == "Unknown");
}
