// record.h - SPF records (RFC 7208 sections 4.5, 4.6, 5, 6): selection and parsing.
//
// A record is parsed whole before any of it is evaluated, so a syntax error anywhere gives
// permerror even when an earlier mechanism would have matched (section 4.6).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"
#include "common/status.h"
#include "policy/spf/macro.h"

namespace hato::policy::spf {

// An IP address as SPF sees it: an IPv4-mapped IPv6 address is IPv4 (section 5 of RFC 7208:
// such a client matches ip4, a and mx as IPv4 and never ip6).
struct Ip {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first four

  static std::optional<Ip> from(const SocketAddress& address);
  static std::optional<Ip> parse(std::string_view text);
  // Whether the first `prefix` bits equal those of `network` (same family only).
  bool in(const Ip& network, int prefix) const;
  std::string readable() const;  // %{c}: 192.0.2.1, 2001:db8::1
  std::string dotted() const;    // %{i}: 192.0.2.1, or 32 dotted nibbles
  SocketAddress to_socket_address() const;
};

enum class Qualifier { kPass, kFail, kSoftFail, kNeutral };

struct Mechanism {
  enum class Kind { kAll, kInclude, kA, kMx, kPtr, kIp4, kIp6, kExists };
  Qualifier qualifier = Qualifier::kPass;
  Kind kind = Kind::kAll;
  std::optional<MacroString> domain;  // include, a, mx, ptr, exists; absent: the current domain
  int cidr4 = 32;                     // a, mx, ip4
  int cidr6 = 128;                    // a, mx, ip6
  Ip network;                         // ip4, ip6
  std::string text;                   // as written, for the log

  bool queries_dns() const {
    return kind == Kind::kInclude || kind == Kind::kA || kind == Kind::kMx || kind == Kind::kPtr ||
           kind == Kind::kExists;
  }
};

struct Record {
  std::vector<Mechanism> mechanisms;
  std::optional<MacroString> redirect;
  std::optional<MacroString> exp;
};

// Section 4.5: the record starts with "v=spf1" (any case) followed by a space or its end.
bool is_spf_record(std::string_view txt);
// Parses a record that is_spf_record() accepted.
Result<Record> parse_record(std::string_view txt);

}  // namespace hato::policy::spf
