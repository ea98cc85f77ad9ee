// net.h - socket addresses and CIDR ranges, no mail knowledge.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hato {

// A numeric IPv4 or IPv6 address with a port (or, from parse_endpoint, a Unix socket path).
struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  // Parses "1.2.3.4:25", "[::1]:25"; with default_port, "1.2.3.4" and "::1" too.
  static Result<SocketAddress> parse(std::string_view text, int default_port = -1);
  static SocketAddress from_sockaddr(const sockaddr* sa, socklen_t len);
  // A service to connect to: "unix:/run/x.sock" or "/run/x.sock" (a Unix socket), else
  // as parse() ("127.0.0.1:24").
  static Result<SocketAddress> parse_endpoint(std::string_view text, int default_port = -1);

  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
  uint16_t port() const;
  void set_port(uint16_t port);
  std::string ip() const;         // "1.2.3.4" or "::1"
  std::string to_string() const;  // "1.2.3.4:25", "[::1]:25" or "unix:/path"
  bool is_unix() const { return family() == AF_UNIX; }
  // 127.0.0.0/8 or ::1: reachable from this host only.
  bool is_loopback() const;
};

// An address range such as 127.0.0.0/8 or 2001:db8::/32.
struct Cidr {
  int family = AF_INET;
  uint8_t bytes[16]{};
  int prefix = 0;

  static Result<Cidr> parse(std::string_view text);
  bool contains(const SocketAddress& address) const;
};

}  // namespace hato
