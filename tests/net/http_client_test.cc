// http_client_test.cc - URLs and HTTP/1.1 responses as the client reads them.
#define BOOST_TEST_MODULE http_client
#include <boost/test/unit_test.hpp>

#include <string>

#include "net/http_client.h"

using namespace hato::net;
using hato::parse_url;

namespace {

// Feeds a response one byte at a time: framing must not depend on how bytes arrive.
HttpResponseParser feed_bytewise(const std::string& raw, size_t max_body, bool* ok) {
  HttpResponseParser p(max_body);
  *ok = true;
  for (char c : raw) {
    if (!p.feed(std::string_view(&c, 1))) {
      *ok = false;
      break;
    }
  }
  return p;
}

}  // namespace

BOOST_AUTO_TEST_CASE(urls) {
  auto u = parse_url("https://mta-sts.Example.com/.well-known/mta-sts.txt");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->https);
  BOOST_TEST(u->host == "mta-sts.example.com");
  BOOST_TEST(u->port == 443);
  BOOST_TEST(u->target == "/.well-known/mta-sts.txt");
  auto v = parse_url("http://127.0.0.1:8080?x=1#frag");
  BOOST_REQUIRE(v);
  BOOST_TEST(!v->https);
  BOOST_TEST(v->port == 8080);
  BOOST_TEST(v->target == "/?x=1");
  auto w = parse_url("https://[::1]:4443/p");
  BOOST_REQUIRE(w);
  BOOST_TEST(w->host == "::1");
  BOOST_TEST(w->port == 4443);
  BOOST_TEST(!parse_url("ftp://example.com/"));
  BOOST_TEST(!parse_url("https://user@example.com/"));
  BOOST_TEST(!parse_url("https://example.com:0/"));
  BOOST_TEST(!parse_url("https://example.com:99999/"));
  BOOST_TEST(!parse_url("https:///path"));
  BOOST_TEST(!parse_url("https://exa mple.com/"));
  BOOST_TEST(!parse_url("https://example.com/a b"));
}

BOOST_AUTO_TEST_CASE(content_length_body) {
  bool ok;
  auto p = feed_bytewise(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello", 100, &ok);
  BOOST_TEST(ok);
  BOOST_TEST(p.complete());
  BOOST_TEST(p.response().status == 200);
  BOOST_TEST(p.response().header("CONTENT-TYPE") == "text/plain");
  BOOST_TEST(p.response().body == "hello");
}

BOOST_AUTO_TEST_CASE(chunked_body) {
  bool ok;
  auto p = feed_bytewise(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n",
      100, &ok);
  BOOST_TEST(ok);
  BOOST_TEST(p.complete());
  BOOST_TEST(p.response().body == "hello world");
}

BOOST_AUTO_TEST_CASE(body_until_close) {
  HttpResponseParser p(100);
  BOOST_TEST(bool(p.feed("HTTP/1.0 200 OK\r\n\r\nsome text")));
  BOOST_TEST(!p.complete());
  BOOST_TEST(bool(p.finish()));
  BOOST_TEST(p.response().body == "some text");
}

BOOST_AUTO_TEST_CASE(interim_and_redirect) {
  HttpResponseParser p(100);
  BOOST_TEST(
      bool(p.feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 301 Moved\r\n"
                  "Location: https://elsewhere/\r\nContent-Length: 0\r\n\r\n")));
  BOOST_TEST(p.complete());
  BOOST_TEST(p.response().status == 301);
  BOOST_TEST(p.response().header("location") == "https://elsewhere/");
}

BOOST_AUTO_TEST_CASE(limits_and_garbage) {
  bool ok;
  feed_bytewise("HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", 100, &ok);
  BOOST_TEST(!ok);
  feed_bytewise("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n", 100, &ok);
  BOOST_TEST(!ok);
  HttpResponseParser until_close(10);
  BOOST_TEST(bool(until_close.feed("HTTP/1.1 200 OK\r\n\r\n0123456789")));
  BOOST_TEST(!until_close.feed("x"));
  HttpResponseParser truncated(100);
  BOOST_TEST(bool(truncated.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")));
  BOOST_TEST(!truncated.finish());
  feed_bytewise("SSH-2.0-OpenSSH\r\n", 100, &ok);
  BOOST_TEST(!ok);
  feed_bytewise("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", 100, &ok);
  BOOST_TEST(!ok);
  feed_bytewise("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 100, &ok);
  BOOST_TEST(!ok);
}

// A connection carries the next request only after an answer framed by its length (or
// chunks), in HTTP/1.1, without "Connection: close"; bytes after the answer are not its own.
BOOST_AUTO_TEST_CASE(reusable_connections) {
  struct Case {
    const char* raw;
    bool reusable;
  };
  const Case kCases[] = {
      {"HTTP/1.1 204 No Content\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", true},
      {"HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", false},  // not complete
  };
  for (const auto& c : kCases) {
    HttpResponseParser p(100);
    BOOST_TEST(bool(p.feed(c.raw)));
    BOOST_TEST(p.connection_reusable() == c.reusable, c.raw);
  }
  HttpResponseParser until_close(100);
  BOOST_TEST(bool(until_close.feed("HTTP/1.1 200 OK\r\n\r\nbody")));
  BOOST_TEST(bool(until_close.finish()));
  BOOST_TEST(!until_close.connection_reusable());

  std::string two = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500 X\r\n";
  HttpResponseParser p(100);
  size_t used = 0;
  BOOST_TEST(bool(p.feed(two, &used)));
  BOOST_TEST(p.complete());
  BOOST_TEST(used == two.find("okHTTP") + 2);
  BOOST_TEST(p.response().body == "ok");
}
