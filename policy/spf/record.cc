// record.cc - the record grammar of RFC 7208 sections 4.5, 4.6.1, 5 and 6, and SPF's view of
// IP addresses.
#include "policy/spf/record.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "common/strings.h"

namespace hato::policy::spf {

namespace {

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool v4_mapped(const uint8_t* b) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  return std::memcmp(b, kPrefix, sizeof(kPrefix)) == 0;
}

// ip4-network = qnum "." qnum "." qnum "." qnum, qnum being 0-255 without leading zeros.
std::optional<Ip> parse_ip4_network(std::string_view text) {
  Ip ip;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (text.empty() || text.front() != '.') return std::nullopt;
      text.remove_prefix(1);
    }
    size_t n = 0;
    while (n < text.size() && n < 4 && is_digit(text[n])) ++n;
    if (n == 0 || n > 3 || (n > 1 && text[0] == '0')) return std::nullopt;
    int value = 0;
    for (size_t k = 0; k < n; ++k) value = value * 10 + (text[k] - '0');
    if (value > 255) return std::nullopt;
    ip.bytes[part] = static_cast<uint8_t>(value);
    text.remove_prefix(n);
  }
  if (!text.empty()) return std::nullopt;
  return ip;
}

// ip6-network as inet_pton reads it; kept as IPv6 even when IPv4-mapped, so it never matches
// an IPv4 client.
std::optional<Ip> parse_ip6_network(std::string_view text) {
  Ip ip;
  ip.v6 = true;
  if (text.size() > 45) return std::nullopt;
  std::string s(text);
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1) return std::nullopt;
  return ip;
}

// ip4-cidr-length / ip6-cidr-length without the slash: "0" or no leading zero, at most `max`.
std::optional<int> parse_cidr(std::string_view digits, int max) {
  if (digits.empty() || digits.size() > 3) return std::nullopt;
  if (!std::all_of(digits.begin(), digits.end(), is_digit)) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  int value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  if (value > max) return std::nullopt;
  return value;
}

size_t trailing_digits(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && is_digit(s[s.size() - 1 - n])) ++n;
  return n;
}

// [ ":" domain-spec ] [ dual-cidr-length ] of a and mx.
Status parse_domain_and_dual_cidr(std::string_view rest, Mechanism& m) {
  size_t d = trailing_digits(rest);
  if (d > 0 && rest.size() >= d + 2 && rest[rest.size() - d - 1] == '/' &&
      rest[rest.size() - d - 2] == '/') {
    auto cidr = parse_cidr(rest.substr(rest.size() - d), 128);
    if (!cidr) return Status::error("bad IPv6 prefix length in '" + m.text + "'");
    m.cidr6 = *cidr;
    rest.remove_suffix(d + 2);
    d = trailing_digits(rest);
  }
  if (d > 0 && rest.size() >= d + 1 && rest[rest.size() - d - 1] == '/') {
    auto cidr = parse_cidr(rest.substr(rest.size() - d), 32);
    if (!cidr) return Status::error("bad IPv4 prefix length in '" + m.text + "'");
    m.cidr4 = *cidr;
    rest.remove_suffix(d + 1);
  }
  if (rest.empty()) return Status::ok();
  if (rest.front() != ':') return Status::error("malformed mechanism '" + m.text + "'");
  auto spec = parse_domain_spec(rest.substr(1));
  if (!spec) return spec.status();
  m.domain = std::move(spec.value());
  return Status::ok();
}

Status parse_ip_mechanism(std::string_view rest, Mechanism& m) {
  bool v6 = m.kind == Mechanism::Kind::kIp6;
  if (rest.empty() || rest.front() != ':')
    return Status::error("'" + m.text + "' needs an address");
  rest.remove_prefix(1);
  auto slash = rest.find('/');
  auto network =
      v6 ? parse_ip6_network(rest.substr(0, slash)) : parse_ip4_network(rest.substr(0, slash));
  if (!network) return Status::error("bad address in '" + m.text + "'");
  m.network = *network;
  if (slash != std::string_view::npos) {
    auto cidr = parse_cidr(rest.substr(slash + 1), v6 ? 128 : 32);
    if (!cidr) return Status::error("bad prefix length in '" + m.text + "'");
    (v6 ? m.cidr6 : m.cidr4) = *cidr;
  }
  return Status::ok();
}

Status parse_mechanism(std::string_view term, Record& record) {
  Mechanism m;
  m.text = std::string(term);
  switch (term.front()) {
    case '+':
      m.qualifier = Qualifier::kPass;
      term.remove_prefix(1);
      break;
    case '-':
      m.qualifier = Qualifier::kFail;
      term.remove_prefix(1);
      break;
    case '~':
      m.qualifier = Qualifier::kSoftFail;
      term.remove_prefix(1);
      break;
    case '?':
      m.qualifier = Qualifier::kNeutral;
      term.remove_prefix(1);
      break;
    default:
      break;
  }
  auto name_end = term.find_first_of(":/");
  std::string name = ascii_lower(term.substr(0, name_end));
  std::string_view rest = name_end == std::string_view::npos ? "" : term.substr(name_end);
  Status status = Status::ok();
  if (name == "all") {
    m.kind = Mechanism::Kind::kAll;
    if (!rest.empty()) status = Status::error("'all' takes no argument");
  } else if (name == "include" || name == "exists") {
    m.kind = name == "include" ? Mechanism::Kind::kInclude : Mechanism::Kind::kExists;
    if (rest.empty() || rest.front() != ':') {
      status = Status::error("'" + name + "' needs a domain");
    } else if (auto spec = parse_domain_spec(rest.substr(1)); !spec) {
      status = spec.status();
    } else {
      m.domain = std::move(spec.value());
    }
  } else if (name == "ptr") {
    m.kind = Mechanism::Kind::kPtr;
    if (!rest.empty()) {
      if (rest.front() != ':') {
        status = Status::error("'ptr' takes no prefix length");
      } else if (auto spec = parse_domain_spec(rest.substr(1)); !spec) {
        status = spec.status();
      } else {
        m.domain = std::move(spec.value());
      }
    }
  } else if (name == "a" || name == "mx") {
    m.kind = name == "a" ? Mechanism::Kind::kA : Mechanism::Kind::kMx;
    status = parse_domain_and_dual_cidr(rest, m);
  } else if (name == "ip4" || name == "ip6") {
    m.kind = name == "ip4" ? Mechanism::Kind::kIp4 : Mechanism::Kind::kIp6;
    status = parse_ip_mechanism(rest, m);
  } else {
    status = Status::error("unknown mechanism '" + m.text + "'");
  }
  if (!status) return status;
  record.mechanisms.push_back(std::move(m));
  return Status::ok();
}

// modifier = name "=" macro-string, name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
// Returns false when the term is not shaped as a modifier (then it must be a mechanism).
bool split_modifier(std::string_view term, std::string_view* name, std::string_view* value) {
  if (term.empty() || !is_alpha(term[0])) return false;
  size_t k = 1;
  while (k < term.size() && (is_alpha(term[k]) || is_digit(term[k]) || term[k] == '-' ||
                             term[k] == '_' || term[k] == '.'))
    ++k;
  if (k >= term.size() || term[k] != '=') return false;
  *name = term.substr(0, k);
  *value = term.substr(k + 1);
  return true;
}

Status parse_modifier(std::string_view name_text, std::string_view value, Record& record) {
  std::string name = ascii_lower(name_text);
  // Known names are never unknown modifiers: a bad redirect= or exp= is an error, not ignored.
  if (name == "redirect" || name == "exp") {
    auto& slot = name == "redirect" ? record.redirect : record.exp;
    if (slot) return Status::error("'" + name + "' appears twice");  // section 6
    auto spec = parse_domain_spec(value);
    if (!spec) return spec.status();
    slot = std::move(spec.value());
    return Status::ok();
  }
  auto macro = parse_macro_string(value, MacroSyntax::kModifier);
  if (!macro) return macro.status();
  return Status::ok();  // unknown modifiers are checked for syntax and otherwise ignored
}

}  // namespace

std::optional<Ip> Ip::from(const SocketAddress& address) {
  Ip ip;
  if (address.family() == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&address.storage);
    std::memcpy(ip.bytes.data(), &sin->sin_addr, 4);
    return ip;
  }
  if (address.family() == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
    const auto* b = reinterpret_cast<const uint8_t*>(&sin6->sin6_addr);
    if (v4_mapped(b)) {
      std::memcpy(ip.bytes.data(), b + 12, 4);
    } else {
      ip.v6 = true;
      std::memcpy(ip.bytes.data(), b, 16);
    }
    return ip;
  }
  return std::nullopt;
}

std::optional<Ip> Ip::parse(std::string_view text) {
  auto address = SocketAddress::parse(text, 0);
  if (!address) return std::nullopt;
  return from(*address);
}

bool Ip::in(const Ip& network, int prefix) const {
  if (v6 != network.v6) return false;
  int bits = std::clamp(prefix, 0, v6 ? 128 : 32);
  int whole = bits / 8;
  if (std::memcmp(bytes.data(), network.bytes.data(), static_cast<size_t>(whole)) != 0)
    return false;
  int rest = bits % 8;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (bytes[whole] & mask) == (network.bytes[whole] & mask);
}

std::string Ip::readable() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof(buf));
  return buf;
}

std::string Ip::dotted() const {
  if (!v6) return readable();
  // Upper-case nibbles: what the RFC 7208 test suite expects in explanations; DNS ignores case.
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (uint8_t b : bytes) {
    if (!out.empty()) out += '.';
    out += kHex[b >> 4];
    out += '.';
    out += kHex[b & 0x0F];
  }
  return out;
}

SocketAddress Ip::to_socket_address() const {
  auto parsed = SocketAddress::parse(readable(), 0);
  return parsed ? parsed.value() : SocketAddress{};
}

bool is_spf_record(std::string_view txt) {
  static constexpr std::string_view kVersion = "v=spf1";
  if (txt.size() < kVersion.size() || ascii_lower(txt.substr(0, kVersion.size())) != kVersion)
    return false;
  return txt.size() == kVersion.size() || txt[kVersion.size()] == ' ';
}

Result<Record> parse_record(std::string_view txt) {
  if (!is_spf_record(txt)) return Result<Record>::error("not an SPF record");
  Record record;
  std::string_view rest = txt.substr(6);
  while (!rest.empty()) {
    if (rest.front() == ' ') {
      rest.remove_prefix(1);
      continue;
    }
    auto end = rest.find(' ');
    std::string_view term = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    // Terms are separated by spaces only: a tab, a line break or a non-ASCII byte is an error,
    // never a separator (section 4.6.1).
    if (!std::all_of(term.begin(), term.end(), [](char c) { return c >= 0x21 && c <= 0x7E; }))
      return Result<Record>::error("control or non-ASCII character in a term");
    std::string_view name, value;
    Status status = split_modifier(term, &name, &value) ? parse_modifier(name, value, record)
                                                        : parse_mechanism(term, record);
    if (!status) return status;
  }
  return record;
}

}  // namespace hato::policy::spf
