// net_test.cc - SocketAddress parsing and printing, Cidr parsing and matching
// (IPv4, IPv6, and IPv4-mapped IPv6 peers against IPv4 ranges).
#define BOOST_TEST_MODULE common
#include <boost/test/unit_test.hpp>

#include <string>

#include "common/net.h"

namespace hato {
namespace {

SocketAddress addr(const std::string& text) {
  auto parsed = SocketAddress::parse(text);
  BOOST_TEST_REQUIRE(parsed.is_ok(), text << ": " << parsed.status().message());
  return *parsed;
}

Cidr cidr(const std::string& text) {
  auto parsed = Cidr::parse(text);
  BOOST_TEST_REQUIRE(parsed.is_ok(), text << ": " << parsed.status().message());
  return *parsed;
}

BOOST_AUTO_TEST_SUITE(socket_address_parse)

BOOST_AUTO_TEST_CASE(ipv4_with_port) {
  SocketAddress a = addr("192.0.2.7:2525");
  BOOST_TEST(a.family() == AF_INET);
  BOOST_TEST(a.port() == 2525);
  BOOST_TEST(a.ip() == "192.0.2.7");
  BOOST_TEST(a.to_string() == "192.0.2.7:2525");
  BOOST_TEST(a.length == sizeof(sockaddr_in));
}

BOOST_AUTO_TEST_CASE(ipv6_in_brackets_with_port) {
  SocketAddress a = addr("[2001:db8::1]:587");
  BOOST_TEST(a.family() == AF_INET6);
  BOOST_TEST(a.port() == 587);
  BOOST_TEST(a.ip() == "2001:db8::1");
  BOOST_TEST(a.to_string() == "[2001:db8::1]:587");
  BOOST_TEST(a.length == sizeof(sockaddr_in6));
  BOOST_TEST(addr("[::1]:25").to_string() == "[::1]:25");
}

BOOST_AUTO_TEST_CASE(port_zero_and_max) {
  BOOST_TEST(addr("127.0.0.1:0").port() == 0);
  BOOST_TEST(addr("127.0.0.1:65535").port() == 65535);
}

BOOST_AUTO_TEST_CASE(default_port_fills_bare_addresses) {
  auto v4 = SocketAddress::parse("10.1.2.3", 25);
  BOOST_TEST_REQUIRE(v4.is_ok());
  BOOST_TEST(v4->to_string() == "10.1.2.3:25");
  auto v6 = SocketAddress::parse("::1", 53);
  BOOST_TEST_REQUIRE(v6.is_ok());
  BOOST_TEST(v6->to_string() == "[::1]:53");
  auto bracketed = SocketAddress::parse("[::1]", 53);
  BOOST_TEST_REQUIRE(bracketed.is_ok());
  BOOST_TEST(bracketed->port() == 53);
  // An explicit port wins over the default.
  auto explicit_port = SocketAddress::parse("10.1.2.3:2525", 25);
  BOOST_TEST_REQUIRE(explicit_port.is_ok());
  BOOST_TEST(explicit_port->port() == 2525);
}

BOOST_AUTO_TEST_CASE(missing_port_is_an_error) {
  for (const char* text : {"10.1.2.3", "::1", "[::1]"}) {
    auto r = SocketAddress::parse(text);
    BOOST_TEST(!r.is_ok(), text);
    if (!r.is_ok()) BOOST_TEST(r.message() == "address needs a port (host:port)");
  }
}

BOOST_AUTO_TEST_CASE(bad_ports_are_errors) {
  for (const char* text : {"10.1.2.3:", "10.1.2.3:65536", "10.1.2.3:-1", "10.1.2.3:+25",
                           "10.1.2.3:25x", "10.1.2.3: 25", "[::1]:", "[::1]25", "[::1]:x"}) {
    auto r = SocketAddress::parse(text);
    BOOST_TEST(!r.is_ok(), text);
    if (!r.is_ok()) BOOST_TEST(r.message() == "bad port in address", text);
  }
}

BOOST_AUTO_TEST_CASE(bad_ips_are_errors) {
  for (const char* text : {"256.1.2.3:25", "1.2.3:25", "mail.example.org:25", "localhost:25",
                           "[fe80::zz]:25", ":25", "[]:25"}) {
    auto r = SocketAddress::parse(text);
    BOOST_TEST(!r.is_ok(), text);
    if (!r.is_ok())
      BOOST_TEST(r.message().find("is not a numeric IPv4 or IPv6 address") != std::string::npos,
                 text << ": " << r.message());
  }
  auto r = SocketAddress::parse("[::1:25");
  BOOST_TEST(!r.is_ok());
  if (!r.is_ok()) BOOST_TEST(r.message() == "missing ']' in address");
}

BOOST_AUTO_TEST_CASE(set_port_changes_only_the_port) {
  SocketAddress a = addr("[2001:db8::5]:1");
  a.set_port(465);
  BOOST_TEST(a.to_string() == "[2001:db8::5]:465");
  SocketAddress b = addr("198.51.100.1:1");
  b.set_port(25);
  BOOST_TEST(b.to_string() == "198.51.100.1:25");
}

BOOST_AUTO_TEST_CASE(from_sockaddr_round_trip) {
  SocketAddress a = addr("[2001:db8::9]:2525");
  SocketAddress b = SocketAddress::from_sockaddr(a.sa(), a.length);
  BOOST_TEST(b.to_string() == "[2001:db8::9]:2525");
  BOOST_TEST(b.length == a.length);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(cidr_range)

BOOST_AUTO_TEST_CASE(parse_forms) {
  Cidr a = cidr("10.0.0.0/8");
  BOOST_TEST(a.family == AF_INET);
  BOOST_TEST(a.prefix == 8);
  Cidr host = cidr("192.0.2.1");
  BOOST_TEST(host.prefix == 32);
  Cidr v6 = cidr("2001:db8::/32");
  BOOST_TEST(v6.family == AF_INET6);
  BOOST_TEST(v6.prefix == 32);
  BOOST_TEST(cidr("::1").prefix == 128);
  BOOST_TEST(cidr("0.0.0.0/0").prefix == 0);
}

BOOST_AUTO_TEST_CASE(parse_errors) {
  for (const char* text : {"10.0.0.0/33", "2001:db8::/129", "10.0.0.0/", "10.0.0.0/-1",
                           "10.0.0.0/8x", "10.0.0/8", "example.org/24", ""}) {
    BOOST_TEST(!Cidr::parse(text).is_ok(), text);
  }
}

BOOST_AUTO_TEST_CASE(ipv4_contains) {
  Cidr net = cidr("192.168.16.0/20");
  BOOST_TEST(net.contains(addr("192.168.16.0:1")));
  BOOST_TEST(net.contains(addr("192.168.31.255:1")));
  BOOST_TEST(!net.contains(addr("192.168.32.0:1")));
  BOOST_TEST(!net.contains(addr("192.168.15.255:1")));
  BOOST_TEST(cidr("10.0.0.0/8").contains(addr("10.255.0.1:25")));
  BOOST_TEST(!cidr("10.0.0.0/8").contains(addr("11.0.0.1:25")));
  BOOST_TEST(cidr("0.0.0.0/0").contains(addr("203.0.113.9:25")));
  BOOST_TEST(cidr("203.0.113.9").contains(addr("203.0.113.9:25")));
  BOOST_TEST(!cidr("203.0.113.9").contains(addr("203.0.113.8:25")));
  // Host bits in the range do not matter; only the prefix is compared.
  BOOST_TEST(cidr("10.1.2.3/8").contains(addr("10.9.9.9:25")));
}

BOOST_AUTO_TEST_CASE(ipv6_contains) {
  Cidr net = cidr("2001:db8:abcd::/47");
  BOOST_TEST(net.contains(addr("[2001:db8:abcd::1]:25")));
  BOOST_TEST(net.contains(addr("[2001:db8:abcd:1::1]:25")));
  BOOST_TEST(!net.contains(addr("[2001:db8:abce::1]:25")));
  BOOST_TEST(cidr("::1").contains(addr("[::1]:25")));
  BOOST_TEST(!cidr("::1").contains(addr("[::2]:25")));
}

BOOST_AUTO_TEST_CASE(families_do_not_mix) {
  BOOST_TEST(!cidr("::/0").contains(addr("10.0.0.1:25")));
  BOOST_TEST(!cidr("10.0.0.0/8").contains(addr("[2001:db8::1]:25")));
  // ::a00:1 is not an IPv4-mapped address (it lacks ::ffff:).
  BOOST_TEST(!cidr("10.0.0.0/8").contains(addr("[::a00:1]:25")));
}

BOOST_AUTO_TEST_CASE(ipv4_mapped_ipv6_peer_matches_ipv4_range) {
  Cidr net = cidr("10.0.0.0/8");
  BOOST_TEST(net.contains(addr("[::ffff:10.1.2.3]:25")));
  BOOST_TEST(!net.contains(addr("[::ffff:11.1.2.3]:25")));
  BOOST_TEST(cidr("127.0.0.1").contains(addr("[::ffff:127.0.0.1]:25")));
  // The mapped form matches an IPv6 range written in the mapped form, too.
  BOOST_TEST(cidr("::ffff:0:0/96").contains(addr("[::ffff:10.1.2.3]:25")));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato
