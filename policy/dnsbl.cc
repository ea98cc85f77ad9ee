// dnsbl.cc - DNSBL query names and answer classification (RFC 5782).
#include "policy/dnsbl.h"

#include <arpa/inet.h>

#include <cstring>

namespace hato::policy {

namespace {

constexpr size_t kMaxReason = 200;

std::string ipv4_reversed(const uint8_t b[4]) {
  return std::to_string(b[3]) + "." + std::to_string(b[2]) + "." + std::to_string(b[1]) + "." +
         std::to_string(b[0]);
}

}  // namespace

std::string dnsbl_query_name(const SocketAddress& client, std::string_view zone) {
  std::string name;
  if (client.family() == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&client.storage);
    uint8_t b[4];
    std::memcpy(b, &sin->sin_addr, 4);
    name = ipv4_reversed(b);
  } else if (client.family() == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&client.storage);
    const uint8_t* b = sin6->sin6_addr.s6_addr;
    // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket: lists know it by its IPv4.
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, kMapped, 12) == 0) {
      name = ipv4_reversed(b + 12);
    } else {
      static const char kHex[] = "0123456789abcdef";
      for (int i = 15; i >= 0; --i) {
        name += kHex[b[i] & 0xf];
        name += '.';
        name += kHex[b[i] >> 4];
        if (i) name += '.';
      }
    }
  } else {
    return "";
  }
  name += '.';
  name += zone;
  if (!name.empty() && name.back() == '.') name.pop_back();
  return name;
}

DnsblAnswer classify_dnsbl_answer(const std::vector<SocketAddress>& addresses) {
  DnsblAnswer answer;
  for (const auto& a : addresses) {
    if (a.family() != AF_INET) continue;  // a DNSBL answers with A records only
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&a.storage);
    uint8_t b[4];
    std::memcpy(b, &sin->sin_addr, 4);
    bool loopback_net = b[0] == 127;
    bool error_net = loopback_net && b[1] == 255 && b[2] == 255;
    if (loopback_net && !error_net) {
      answer.codes.push_back(a.ip());
    } else {
      // Outside 127/8 is no listing either: it is what a resolver that rewrites NXDOMAIN
      // answers with.
      answer.errors.push_back(a.ip());
    }
  }
  if (!answer.codes.empty()) {
    answer.kind = DnsblAnswer::Kind::kListed;
  } else if (!answer.errors.empty()) {
    answer.kind = DnsblAnswer::Kind::kListError;
  }
  return answer;
}

std::string dnsbl_reason(std::string_view txt) {
  std::string out;
  for (char c : txt) {
    bool printable = c > ' ' && c < 0x7f;
    if (!printable) {
      if (!out.empty() && out.back() != ' ') out += ' ';
      continue;
    }
    out += c;
    if (out.size() >= kMaxReason) break;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace hato::policy
