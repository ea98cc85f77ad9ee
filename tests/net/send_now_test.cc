// send_now_test.cc - a reply leaves at once on plain TCP, and bytes never change order.
#define BOOST_TEST_MODULE send_now
#include <boost/test/unit_test.hpp>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "net/send_now.h"

using hato::net::send_now;

namespace {

// A bufferevent on one end of a socket pair; the test reads the other end directly.
struct Pair {
  event_base* base = event_base_new();
  bufferevent* bev = nullptr;
  int peer = -1;
  Pair() {
    int fds[2];
    BOOST_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) == 0);
    bev = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE);
    peer = fds[1];
    bufferevent_enable(bev, EV_READ | EV_WRITE);
  }
  ~Pair() {
    bufferevent_free(bev);
    ::close(peer);
    event_base_free(base);
  }
  std::string read_peer() {
    std::string out;
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(peer, buf, sizeof buf, MSG_DONTWAIT)) > 0) out.append(buf, n);
    return out;
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(reply_is_on_the_wire_without_a_loop_turn) {
  Pair p;
  send_now(p.bev, "250 2.0.0 queued as X\r\n");
  BOOST_TEST(p.read_peer() == "250 2.0.0 queued as X\r\n");
  BOOST_TEST(evbuffer_get_length(bufferevent_get_output(p.bev)) == 0u);
}

BOOST_AUTO_TEST_CASE(queued_bytes_keep_their_place) {
  Pair p;
  bufferevent_write(p.bev, "first ", 6);  // queued, waiting for the loop
  send_now(p.bev, "second");              // must not overtake it
  BOOST_TEST(p.read_peer().empty());
  event_base_loop(p.base, EVLOOP_NONBLOCK);
  event_base_loop(p.base, EVLOOP_NONBLOCK);
  BOOST_TEST(p.read_peer() == "first second");
}

BOOST_AUTO_TEST_CASE(what_the_socket_cannot_take_is_queued_in_order) {
  Pair p;
  int small = 4096;
  setsockopt(bufferevent_getfd(p.bev), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  send_now(p.bev, big);
  send_now(p.bev, "tail");
  BOOST_TEST(evbuffer_get_length(bufferevent_get_output(p.bev)) > 0u);  // the rest waits
  std::string got;
  for (int i = 0; i < 10000 && got.size() < big.size() + 4; ++i) {
    event_base_loop(p.base, EVLOOP_NONBLOCK);
    got += p.read_peer();
  }
  BOOST_TEST(got.size() == big.size() + 4);
  BOOST_TEST((got == big + "tail"));
}
