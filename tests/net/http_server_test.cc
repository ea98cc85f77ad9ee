// http_server_test.cc - net::HttpServer on real loopback sockets, against a blocking client:
// keep-alive and pipelining, answers that come later or never, the head deadline under a
// byte-at-a-time client, and the connection caps (per address, and in all with eviction of
// the longest-waiting idle connection).
#define BOOST_TEST_MODULE http_server
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "common/loop.h"
#include "common/metrics.h"
#include "net/http_server.h"

using namespace hato;
using namespace hato::net;
using namespace std::chrono_literals;

namespace {

// A server on its own loop thread; what the test asks of it runs on that thread.
struct Served {
  Loop loop;
  std::unique_ptr<HttpServer> server;
  std::thread thread;

  Served(HttpServerOptions options, HttpServer::Handler handler) {
    options.name = options.name.empty() ? "test" : options.name;
    server = std::make_unique<HttpServer>(loop, std::move(options), std::move(handler));
    auto address = SocketAddress::parse("127.0.0.1:0");
    BOOST_REQUIRE(address);
    BOOST_REQUIRE(server->listen(*address));
    thread = std::thread([this] { loop.run(); });
  }
  ~Served() {
    loop.stop();
    thread.join();
  }
  uint16_t port() const { return server->address().port(); }
  template <class F>
  auto on_loop(F f) {
    std::promise<decltype(f())> done;
    loop.post([&] { done.set_value(f()); });
    return done.get_future().get();
  }
};

// A blocking client socket from `source` (any 127/8 address is loopback on Linux).
struct Client {
  int fd = -1;
  Client(uint16_t port, const char* source = "127.0.0.1") {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    timeval tv{20, 0};  // a hang fails the test instead of stopping it
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Client() { ::close(fd); }
  bool send(std::string_view bytes) {
    return ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == ssize_t(bytes.size());
  }
  // Reads until `count` answers are complete (by Content-Length), or the peer closes.
  std::string read_answers(int count) {
    std::string got;
    char buf[4096];
    while (complete_answers(got) < count) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, size_t(n));
    }
    return got;
  }
  // Whether the server closed the connection (reads to the end).
  bool closed() {
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }
  static int complete_answers(const std::string& got) {
    int done = 0;
    size_t at = 0;
    for (;;) {
      size_t end = got.find("\r\n\r\n", at);
      if (end == std::string::npos) return done;
      size_t cl = got.find("Content-Length: ", at);
      size_t length = cl < end ? std::stoul(got.substr(cl + 16)) : 0;
      if (got.find("HEAD-ANSWER", at) < end) length = 0;
      if (got.size() < end + 4 + length) return done;
      at = end + 4 + length;
      ++done;
    }
  }
};

void echo_path(HttpServerRequest& request, HttpResponder respond) {
  HttpServerResponse response{200, {{"Content-Type", "text/plain"}}, "path " + request.path};
  if (request.method == "HEAD") response.headers.emplace_back("X-Kind", "HEAD-ANSWER");
  respond(std::move(response));
}

uint64_t counter(const std::string& name, const std::string& labels) {
  return metrics().counter(name, "", labels).value();
}

}  // namespace

BOOST_AUTO_TEST_CASE(keep_alive_pipelining_and_head) {
  Served s({}, &echo_path);
  Client c(s.port());
  BOOST_REQUIRE(
      c.send("GET /one HTTP/1.1\r\nHost: a\r\n\r\nHEAD /two HTTP/1.1\r\nHost: a\r\n\r\n"
             "GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  std::string got = c.read_answers(3);
  size_t one = got.find("path /one");
  size_t three = got.find("path /three");
  BOOST_TEST(one != std::string::npos);
  BOOST_TEST(three != std::string::npos);
  BOOST_TEST(one < three);
  BOOST_TEST(got.find("path /two") == std::string::npos);  // HEAD: no body
  BOOST_TEST(got.find("Content-Length: 9\r\n") != std::string::npos);
  BOOST_TEST(got.find("Connection: close") != std::string::npos);
  BOOST_TEST(c.closed());
}

BOOST_AUTO_TEST_CASE(an_answer_may_come_later_or_after_the_client_left) {
  std::vector<HttpResponder> waiting;
  Served s({}, [&](HttpServerRequest&, HttpResponder respond) { waiting.push_back(respond); });
  {
    Client gone(s.port());
    BOOST_REQUIRE(gone.send("GET /gone HTTP/1.1\r\nHost: a\r\n\r\n"));
    while (s.on_loop([&] { return waiting.size(); }) < 1) std::this_thread::sleep_for(10ms);
  }
  // The client has gone: the answer goes to nobody, a second one is ignored, and the
  // connection is closed.
  s.on_loop([&] {
    waiting[0]({200, {}, "late"});
    waiting[0]({200, {}, "twice"});
    return 0;
  });
  while (s.on_loop([&] { return s.server->connections(); }) != 0) std::this_thread::sleep_for(10ms);
  Client c(s.port());
  BOOST_REQUIRE(c.send("GET /later HTTP/1.1\r\nHost: a\r\n\r\n"));
  while (s.on_loop([&] { return waiting.size(); }) < 2) std::this_thread::sleep_for(10ms);
  s.on_loop([&] {
    waiting[1]({202, {}, "queued"});
    waiting[1]({500, {}, "a second answer is ignored"});
    return 0;
  });
  std::string got = c.read_answers(1);
  BOOST_TEST(got.starts_with("HTTP/1.1 202 Accepted\r\n"));
  BOOST_TEST(got.ends_with("\r\n\r\nqueued"));
}

BOOST_AUTO_TEST_CASE(a_malformed_request_gets_its_status_and_the_connection_closes) {
  Served s({}, &echo_path);
  Client c(s.port());
  BOOST_REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::string got = c.read_answers(1);
  BOOST_TEST(got.starts_with("HTTP/1.1 411 Length Required\r\n"));
  BOOST_TEST(c.closed());
}

// A client that sends its head a byte at a time is closed when the head deadline passes,
// however steadily the bytes come.
BOOST_AUTO_TEST_CASE(the_head_deadline_holds_against_a_trickle) {
  HttpServerOptions options;
  options.name = "trickle";
  options.head_timeout = 300ms;
  Served s(options, &echo_path);
  uint64_t before = counter("hato_http_timeouts_total", "listener=\"trickle\",phase=\"head\"");
  Client c(s.port());
  BOOST_REQUIRE(c.send("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: "));
  int sent = 0;
  for (; sent < 400; ++sent) {  // 400 bytes, one each 25 ms: ten seconds if never cut
    if (!c.send("a")) break;
    std::this_thread::sleep_for(25ms);
  }
  BOOST_TEST(sent < 400);
  BOOST_TEST(c.closed());
  BOOST_TEST(counter("hato_http_timeouts_total", "listener=\"trickle\",phase=\"head\"") ==
             before + 1);
}

BOOST_AUTO_TEST_CASE(one_address_cannot_take_every_slot) {
  HttpServerOptions options;
  options.name = "per-client";
  options.max_per_client = 3;
  Served s(options, &echo_path);
  std::vector<std::unique_ptr<Client>> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<Client>(s.port()));
  while (s.on_loop([&] { return s.server->connections(); }) < 3) std::this_thread::sleep_for(10ms);
  Client fourth(s.port());
  BOOST_REQUIRE(fourth.send("GET /x HTTP/1.1\r\nHost: a\r\n\r\n"));
  BOOST_TEST(fourth.read_answers(1).starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
  Client other(s.port(), "127.0.0.2");
  BOOST_REQUIRE(other.send("GET /other HTTP/1.1\r\nHost: a\r\n\r\n"));
  BOOST_TEST(other.read_answers(1).ends_with("path /other"));
  BOOST_TEST(counter("hato_http_refused_total", "listener=\"per-client\",reason=\"per_client\"") ==
             1u);
}

// At the cap, the connection that has waited longest for a whole request makes room; one
// waiting for its answer is never closed for that.
BOOST_AUTO_TEST_CASE(at_the_cap_the_longest_idle_connection_makes_room) {
  HttpServerOptions options;
  options.name = "total";
  options.max_connections = 3;
  std::vector<HttpResponder> waiting;
  Served s(options, [&](HttpServerRequest& request, HttpResponder respond) {
    if (request.path == "/wait") return waiting.push_back(respond);
    echo_path(request, std::move(respond));
  });
  Client busy(s.port(), "127.0.0.3");
  BOOST_REQUIRE(busy.send("GET /wait HTTP/1.1\r\nHost: a\r\n\r\n"));
  while (s.on_loop([&] { return waiting.size(); }) < 1) std::this_thread::sleep_for(10ms);
  Client oldest(s.port(), "127.0.0.4");
  while (s.on_loop([&] { return s.server->connections(); }) < 2) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(20ms);  // so the next one is younger by the loop's clock
  Client younger(s.port(), "127.0.0.5");
  while (s.on_loop([&] { return s.server->connections(); }) < 3) std::this_thread::sleep_for(10ms);
  Client fresh(s.port(), "127.0.0.6");
  BOOST_REQUIRE(fresh.send("GET /fresh HTTP/1.1\r\nHost: a\r\n\r\n"));
  BOOST_TEST(fresh.read_answers(1).ends_with("path /fresh"));
  BOOST_TEST(oldest.closed());
  s.on_loop([&] {
    waiting[0]({200, {}, "still here"});
    return 0;
  });
  BOOST_TEST(busy.read_answers(1).ends_with("still here"));
  BOOST_TEST(counter("hato_http_refused_total", "listener=\"total\",reason=\"evicted\"") == 1u);
  BOOST_REQUIRE(younger.send("GET /younger HTTP/1.1\r\nHost: a\r\n\r\n"));
  BOOST_TEST(younger.read_answers(1).ends_with("path /younger"));
}

BOOST_AUTO_TEST_CASE(a_streamed_answer_is_bounded_and_dropped_when_the_client_goes) {
  std::vector<HttpStream> streams;
  Served s({}, [&](HttpServerRequest&, HttpResponder respond) {
    streams.push_back(respond.stream({200, {{"Content-Type", "text/event-stream"}}, ""}, 64));
    respond({500, {}, "an answer after the stream began is ignored"});
  });
  {
    Client c(s.port());
    BOOST_REQUIRE(c.send("GET /live HTTP/1.1\r\nHost: a\r\n\r\n"));
    while (s.on_loop([&] { return streams.size(); }) < 1) std::this_thread::sleep_for(10ms);
    BOOST_TEST(s.on_loop([&] { return streams[0].send("data: one\n\n"); }));
    // Over the bound: refused, not queued.
    BOOST_TEST(!s.on_loop([&] { return streams[0].send(std::string(100, 'x')); }));
    std::string got;
    char buf[4096];
    while (got.find("data: one\n\n") == std::string::npos) {
      ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      BOOST_REQUIRE(n > 0);
      got.append(buf, size_t(n));
    }
    BOOST_TEST(got.starts_with("HTTP/1.1 200 OK\r\n"));
    BOOST_TEST(got.find("Content-Length") == std::string::npos);
    BOOST_TEST(got.find("Connection: close\r\n") != std::string::npos);
    BOOST_TEST(got.find("xxxx") == std::string::npos);
    BOOST_TEST(s.on_loop([&] { return streams[0].open(); }));
  }
  // The client has gone: the stream closes and sends nothing more.
  while (s.on_loop([&] { return streams[0].open(); })) std::this_thread::sleep_for(10ms);
  BOOST_TEST(!s.on_loop([&] { return streams[0].send("data: two\n\n"); }));
  BOOST_TEST(s.on_loop([&] { return s.server->connections(); }) == 0u);

  // end(): what was queued goes out, then the connection closes.
  Client c(s.port());
  BOOST_REQUIRE(c.send("GET /live HTTP/1.1\r\nHost: a\r\n\r\n"));
  while (s.on_loop([&] { return streams.size(); }) < 2) std::this_thread::sleep_for(10ms);
  s.on_loop([&] {
    streams[1].send("data: last\n\n");
    streams[1].end();
    return 0;
  });
  std::string got = c.read_answers(0);
  char buf[4096];
  for (ssize_t n; (n = ::recv(c.fd, buf, sizeof buf, 0)) > 0;) got.append(buf, size_t(n));
  BOOST_TEST(got.ends_with("\r\n\r\ndata: last\n\n"));
}
