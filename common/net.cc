// net.cc - parsing and matching of socket addresses and CIDR ranges.
#include "common/net.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <charconv>
#include <cstddef>
#include <cstring>

namespace hato {

namespace {

bool parse_port(std::string_view s, int* port) {
  int p = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), p);
  if (ec != std::errc() || ptr != s.data() + s.size() || p < 0 || p > 65535) return false;
  *port = p;
  return true;
}

bool fill_ip(const std::string& host, int port, SocketAddress* out) {
  *out = SocketAddress{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out->storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out->storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    out->length = sizeof(sockaddr_in);
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    out->length = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

}  // namespace

Result<SocketAddress> SocketAddress::parse(std::string_view text, int default_port) {
  std::string host;
  int port = default_port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos)
      return Result<SocketAddress>::error("missing ']' in address");
    host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || !parse_port(rest.substr(1), &port))
        return Result<SocketAddress>::error("bad port in address");
    }
  } else {
    auto colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') == colon) {
      host = std::string(text.substr(0, colon));
      if (!parse_port(text.substr(colon + 1), &port))
        return Result<SocketAddress>::error("bad port in address");
    } else {
      host = std::string(text);  // bare IPv4, or bare IPv6 without port
    }
  }
  if (port < 0) return Result<SocketAddress>::error("address needs a port (host:port)");
  SocketAddress out;
  if (!fill_ip(host, port, &out))
    return Result<SocketAddress>::error("'" + host + "' is not a numeric IPv4 or IPv6 address");
  return out;
}

Result<SocketAddress> SocketAddress::parse_endpoint(std::string_view text, int default_port) {
  std::string_view path = text;
  if (path.substr(0, 5) == "unix:") path.remove_prefix(5);
  if (path.empty() || path.front() != '/') return parse(text, default_port);
  SocketAddress out;
  auto* un = reinterpret_cast<sockaddr_un*>(&out.storage);
  if (path.size() >= sizeof un->sun_path)
    return Result<SocketAddress>::error("socket path too long: " + std::string(path));
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  out.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return out;
}

SocketAddress SocketAddress::from_sockaddr(const sockaddr* sa, socklen_t len) {
  SocketAddress out;
  if (len > sizeof(out.storage)) len = sizeof(out.storage);
  std::memcpy(&out.storage, sa, len);
  out.length = len;
  return out;
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  return 0;
}

void SocketAddress::set_port(uint16_t port) {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
}

std::string SocketAddress::ip() const {
  char buf[INET6_ADDRSTRLEN] = "";
  if (family() == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof buf);
  else if (family() == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf,
              sizeof buf);
  else if (family() == AF_UNIX)
    return "local";
  return buf;
}

bool SocketAddress::is_loopback() const {
  if (family() == AF_INET) {
    uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr.s_addr);
    return (a >> 24) == 127;
  }
  return family() == AF_INET6 &&
         IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr);
}

std::string SocketAddress::to_string() const {
  if (family() == AF_UNIX && length > offsetof(sockaddr_un, sun_path) + 1)
    return std::string("unix:") + reinterpret_cast<const sockaddr_un*>(&storage)->sun_path;
  if (family() == AF_INET6) return "[" + ip() + "]:" + std::to_string(port());
  return ip() + ":" + std::to_string(port());
}

Result<Cidr> Cidr::parse(std::string_view text) {
  Cidr out;
  auto slash = text.find('/');
  std::string host(text.substr(0, slash));
  if (inet_pton(AF_INET, host.c_str(), out.bytes) == 1) {
    out.family = AF_INET;
    out.prefix = 32;
  } else if (inet_pton(AF_INET6, host.c_str(), out.bytes) == 1) {
    out.family = AF_INET6;
    out.prefix = 128;
  } else {
    return Result<Cidr>::error("'" + host + "' is not a numeric IPv4 or IPv6 address");
  }
  if (slash != std::string_view::npos) {
    int p = -1;
    if (!parse_port(text.substr(slash + 1), &p) || p > out.prefix)
      return Result<Cidr>::error("bad prefix length in '" + std::string(text) + "'");
    out.prefix = p;
  }
  return out;
}

bool Cidr::contains(const SocketAddress& address) const {
  const uint8_t* addr = nullptr;
  uint8_t mapped[4];
  if (address.family() == AF_INET) {
    addr = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(&address.storage)->sin_addr);
    if (family != AF_INET) return false;
  } else if (address.family() == AF_INET6) {
    addr = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in6*>(&address.storage)->sin6_addr);
    if (family == AF_INET) {
      // An IPv4-mapped IPv6 peer (::ffff:a.b.c.d) matches IPv4 ranges.
      static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
      if (std::memcmp(addr, kMapped, 12) != 0) return false;
      std::memcpy(mapped, addr + 12, 4);
      addr = mapped;
    }
  } else {
    return false;
  }
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(addr, bytes, full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (addr[full] & mask) == (bytes[full] & mask);
}

}  // namespace hato
