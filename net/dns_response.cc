// dns_response.cc - DNS responses into net:: results (resolver.h): rcode, AD bit and TTLs
// read from the raw message in one place, the records by c-ares' own parsers.
//
// The message is untrusted: every read is bounds-checked, compression pointers are stepped
// over and never followed, and a message that does not fit its counts is SERVFAIL.
#include "net/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <climits>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "net/dns_wire.h"

namespace hato::net {

using wire::kClassIn;
using wire::keep_least;
using wire::kTypeA;
using wire::kTypeAaaa;
using wire::kTypeCname;
using wire::kTypeMx;
using wire::kTypePtr;
using wire::kTypeSoa;
using wire::kTypeTlsa;
using wire::kTypeTxt;
using wire::lower_host;

const char* dns_status_name(DnsStatus status) {
  switch (status) {
    case DnsStatus::kOk:
      return "ok";
    case DnsStatus::kNoData:
      return "nodata";
    case DnsStatus::kNxDomain:
      return "nxdomain";
    case DnsStatus::kServFail:
      return "servfail";
    case DnsStatus::kTimeout:
      return "timeout";
  }
  return "unknown";
}

namespace {

constexpr uint32_t kDefaultNegativeTtl = 60;  // a negative answer without an SOA

// ---- The raw message ----

// What a response says beyond what c-ares' record parsers report.
struct MessageFacts {
  uint8_t rcode = 0;
  bool authenticated = false;
  uint16_t answers = 0;
  std::optional<uint32_t> answer_ttl;    // least TTL among answers of the type and CNAMEs
  std::optional<uint32_t> negative_ttl;  // min(SOA TTL, SOA minimum) from the authority section
};

// Bounds-checked reads over an untrusted message.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t pos() const { return pos_; }
  bool u16(uint16_t* v) {
    if (size_ - pos_ < 2) return false;
    *v = static_cast<uint16_t>(data_[pos_] << 8 | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t* v) {
    if (size_ - pos_ < 4) return false;
    *v = read_u32(data_ + pos_);
    pos_ += 4;
    return true;
  }
  bool skip(size_t n) {
    if (size_ - pos_ < n) return false;
    pos_ += n;
    return true;
  }
  // Steps over the name that starts here. A compression pointer always ends a name, so
  // stepping over one never follows pointers and a pointer loop cannot trap us.
  bool skip_name() {
    for (int labels = 0; labels <= 128; ++labels) {
      if (pos_ >= size_) return false;
      uint8_t len = data_[pos_];
      if ((len & 0xC0) == 0xC0) return skip(2);
      if (len & 0xC0) return false;  // 0x40 and 0x80 label types: never valid in answers
      ++pos_;
      if (len == 0) return true;
      if (!skip(len)) return false;
    }
    return false;  // more labels than a 255-byte name can hold
  }
  static uint32_t read_u32(const uint8_t* p) {
    return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
           static_cast<uint32_t>(p[2]) << 8 | p[3];
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// RFC 2181 §8: a TTL with the top bit set means zero.
uint32_t clamp_ttl(uint32_t ttl) {
  return ttl > 0x7fffffff ? 0 : ttl;
}

// Walks header, question, answer and authority sections; nullopt if they do not fit the
// message. The additional section (EDNS OPT) is not needed and not walked.
std::optional<MessageFacts> walk_message(const uint8_t* data, size_t size, uint16_t qtype) {
  Reader r(data, size);
  uint16_t id, flags, qdcount, ancount, nscount, arcount;
  if (!r.u16(&id) || !r.u16(&flags) || !r.u16(&qdcount) || !r.u16(&ancount) || !r.u16(&nscount) ||
      !r.u16(&arcount))
    return std::nullopt;
  if (!(flags & 0x8000)) return std::nullopt;  // a query, not a response
  MessageFacts facts;
  facts.rcode = flags & 0x0F;
  facts.authenticated = (flags & 0x0020) != 0;
  facts.answers = ancount;
  for (unsigned i = 0; i < qdcount; ++i) {
    if (!r.skip_name() || !r.skip(4)) return std::nullopt;
  }
  for (unsigned i = 0; i < unsigned{ancount} + nscount; ++i) {
    uint16_t type, klass, rdlength;
    uint32_t ttl;
    if (!r.skip_name() || !r.u16(&type) || !r.u16(&klass) || !r.u32(&ttl) || !r.u16(&rdlength))
      return std::nullopt;
    size_t rdata = r.pos();
    if (!r.skip(rdlength)) return std::nullopt;
    if (klass != kClassIn) continue;
    ttl = clamp_ttl(ttl);
    if (i < ancount) {
      if (type == qtype || type == kTypeCname) keep_least(facts.answer_ttl, ttl);
    } else if (type == kTypeSoa && rdlength >= 22) {
      // Two names (one byte each at least), then five 32-bit fields; MINIMUM is the last.
      uint32_t minimum = clamp_ttl(Reader::read_u32(data + rdata + rdlength - 4));
      keep_least(facts.negative_ttl, std::min(ttl, minimum));
    }
  }
  return facts;
}

template <typename R>
constexpr bool kHasAuthenticated =
    std::is_same_v<R, MxResult> || std::is_same_v<R, TxtResult> ||
    std::is_same_v<R, AddressResult> || std::is_same_v<R, TlsaResult>;

// Fills in what does not depend on the record type. True when the type's own parser should
// run: NOERROR with answers.
template <typename R>
bool begin_result(const uint8_t* message, size_t length, uint16_t qtype, const char* type_name,
                  R& out, MessageFacts& facts) {
  auto walked = walk_message(message, length, qtype);
  if (!walked || length > INT_MAX) {
    out.status = DnsStatus::kServFail;
    out.error = "malformed DNS response";
    return false;
  }
  facts = *walked;
  if constexpr (kHasAuthenticated<R>) out.authenticated = facts.authenticated;
  uint32_t negative = facts.negative_ttl.value_or(kDefaultNegativeTtl);
  switch (facts.rcode) {
    case 0:
      if (facts.answers > 0) return true;
      out.status = DnsStatus::kNoData;
      out.ttl = negative;
      out.error = std::string("no ") + type_name + " records";
      return false;
    case 3:
      out.status = DnsStatus::kNxDomain;
      out.ttl = negative;
      out.error = "NXDOMAIN";
      return false;
    case 2:
      out.error = "SERVFAIL";
      break;
    case 5:
      out.error = "REFUSED";
      break;
    default:
      out.error = "rcode " + std::to_string(facts.rcode);
      break;
  }
  out.status = DnsStatus::kServFail;
  return false;
}

// Turns the type parser's verdict into the result's status.
template <typename R>
void finish_result(int rc, bool empty, const char* type_name, const MessageFacts& facts, R& out) {
  if (rc == ARES_SUCCESS && !empty) {
    out.status = DnsStatus::kOk;
    out.ttl = facts.answer_ttl.value_or(0);
  } else if (rc == ARES_SUCCESS || rc == ARES_ENODATA) {
    // Answers, but none of the type: a CNAME to a name without such records.
    out.status = DnsStatus::kNoData;
    out.ttl = facts.negative_ttl.value_or(kDefaultNegativeTtl);
    out.error = std::string("no ") + type_name + " records";
  } else {
    out.status = DnsStatus::kServFail;
    out.error = std::string("bad ") + type_name + " answer: " + ares_strerror(rc);
  }
}

}  // namespace

MxResult parse_mx_response(const uint8_t* message, size_t length) {
  MxResult out;
  MessageFacts facts;
  if (!begin_result(message, length, kTypeMx, "MX", out, facts)) return out;
  ares_mx_reply* replies = nullptr;
  int rc = ares_parse_mx_reply(message, static_cast<int>(length), &replies);
  if (rc == ARES_SUCCESS) {
    // A null MX's "." target comes back from c-ares as "".
    for (auto* mx = replies; mx; mx = mx->next)
      out.records.push_back({mx->priority, lower_host(mx->host ? mx->host : "")});
  }
  if (replies) ares_free_data(replies);
  finish_result(rc, out.records.empty(), "MX", facts, out);
  if (out.status != DnsStatus::kOk) out.records.clear();
  return out;
}

AddressResult parse_address_response(const uint8_t* message, size_t length, int family) {
  AddressResult out;
  MessageFacts facts;
  bool v6 = family == AF_INET6;
  const char* type_name = v6 ? "AAAA" : "A";
  if (!begin_result(message, length, v6 ? kTypeAaaa : kTypeA, type_name, out, facts)) return out;
  // The walk proved every counted answer is in the message, so this is bounded by its size.
  int count = facts.answers;
  int rc;
  std::optional<uint32_t> ttl;
  if (v6) {
    std::vector<ares_addr6ttl> found(facts.answers);
    rc = ares_parse_aaaa_reply(message, static_cast<int>(length), nullptr, found.data(), &count);
    for (int i = 0; rc == ARES_SUCCESS && i < count; ++i) {
      sockaddr_in6 sa{};
      sa.sin6_family = AF_INET6;
      static_assert(sizeof(sa.sin6_addr) == sizeof(found[i].ip6addr));
      std::memcpy(&sa.sin6_addr, &found[i].ip6addr, sizeof(sa.sin6_addr));
      out.addresses.push_back(
          SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)));
      keep_least(ttl, static_cast<uint32_t>(std::max(found[i].ttl, 0)));
    }
  } else {
    std::vector<ares_addrttl> found(facts.answers);
    rc = ares_parse_a_reply(message, static_cast<int>(length), nullptr, found.data(), &count);
    for (int i = 0; rc == ARES_SUCCESS && i < count; ++i) {
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_addr = found[i].ipaddr;
      out.addresses.push_back(
          SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&sa), sizeof(sa)));
      keep_least(ttl, static_cast<uint32_t>(std::max(found[i].ttl, 0)));
    }
  }
  finish_result(rc, out.addresses.empty(), type_name, facts, out);
  if (out.status != DnsStatus::kOk) {
    out.addresses.clear();
  } else if (ttl) {
    out.ttl = *ttl;  // c-ares already folded the CNAME chain's TTLs into these
  }
  return out;
}

TxtResult parse_txt_response(const uint8_t* message, size_t length) {
  TxtResult out;
  MessageFacts facts;
  if (!begin_result(message, length, kTypeTxt, "TXT", out, facts)) return out;
  ares_txt_ext* strings = nullptr;
  int rc = ares_parse_txt_reply_ext(message, static_cast<int>(length), &strings);
  if (rc == ARES_SUCCESS) {
    // One node per character-string; record_start marks the first string of each record.
    for (auto* s = strings; s; s = s->next) {
      if (s->record_start || out.records.empty()) out.records.emplace_back();
      out.records.back().append(reinterpret_cast<const char*>(s->txt), s->length);
    }
  }
  if (strings) ares_free_data(strings);
  finish_result(rc, out.records.empty(), "TXT", facts, out);
  if (out.status != DnsStatus::kOk) out.records.clear();
  return out;
}

PtrResult parse_ptr_response(const uint8_t* message, size_t length) {
  PtrResult out;
  MessageFacts facts;
  if (!begin_result(message, length, kTypePtr, "PTR", out, facts)) return out;
  // c-ares copies this address into the hostent it builds; we only want the names.
  unsigned char unused[16] = {};
  hostent* host = nullptr;
  int rc = ares_parse_ptr_reply(message, static_cast<int>(length), unused, sizeof(unused), AF_INET6,
                                &host);
  if (rc == ARES_SUCCESS && host) {
    auto add = [&out](const char* name) {
      std::string n = lower_host(name ? name : "");
      if (!n.empty() && std::find(out.names.begin(), out.names.end(), n) == out.names.end())
        out.names.push_back(std::move(n));
    };
    // Every PTR target is among the aliases; h_name is only the last of them.
    for (char** alias = host->h_aliases; alias && *alias; ++alias) add(*alias);
    add(host->h_name);
  }
  if (host) ares_free_hostent(host);
  finish_result(rc, out.names.empty(), "PTR", facts, out);
  if (out.status != DnsStatus::kOk) out.names.clear();
  return out;
}

TlsaResult parse_tlsa_response(const uint8_t* message, size_t length) {
  TlsaResult out;
  MessageFacts facts;
  if (!begin_result(message, length, kTypeTlsa, "TLSA", out, facts)) return out;
  // c-ares has no TLSA parser: read the answers here. The walk in begin_result proved the
  // sections fit the message.
  Reader r(message, length);
  uint16_t id, flags, qdcount, ancount, nscount, arcount;
  bool ok = r.u16(&id) && r.u16(&flags) && r.u16(&qdcount) && r.u16(&ancount) && r.u16(&nscount) &&
            r.u16(&arcount);
  for (unsigned i = 0; ok && i < qdcount; ++i) ok = r.skip_name() && r.skip(4);
  for (unsigned i = 0; ok && i < ancount; ++i) {
    uint16_t type, klass, rdlength;
    uint32_t ttl;
    ok = r.skip_name() && r.u16(&type) && r.u16(&klass) && r.u32(&ttl) && r.u16(&rdlength);
    if (!ok) break;
    size_t at = r.pos();
    ok = r.skip(rdlength);
    if (!ok || type != kTypeTlsa || klass != kClassIn) continue;
    if (rdlength < 3) {
      ok = false;  // usage, selector and matching type are mandatory
      break;
    }
    TlsaRecord t;
    t.usage = message[at];
    t.selector = message[at + 1];
    t.mtype = message[at + 2];
    t.data.assign(reinterpret_cast<const char*>(message + at + 3), rdlength - 3u);
    out.records.push_back(std::move(t));
  }
  finish_result(ok ? ARES_SUCCESS : ARES_EBADRESP, out.records.empty(), "TLSA", facts, out);
  if (out.status != DnsStatus::kOk) out.records.clear();
  return out;
}

std::string reverse_name(const SocketAddress& address) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint8_t* v4 = nullptr;
  if (address.family() == AF_INET) {
    v4 = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(&address.storage)->sin_addr);
  } else if (address.family() == AF_INET6) {
    const auto* a = &reinterpret_cast<const sockaddr_in6*>(&address.storage)->sin6_addr;
    // A v4 peer on a dual-stack socket shows as ::ffff:a.b.c.d; its PTR is under in-addr.arpa.
    if (IN6_IS_ADDR_V4MAPPED(a)) {
      v4 = reinterpret_cast<const uint8_t*>(a) + 12;
    } else {
      const auto* b = reinterpret_cast<const uint8_t*>(a);
      std::string out;
      for (int i = 15; i >= 0; --i) {
        out += kHex[b[i] & 0x0F];
        out += '.';
        out += kHex[b[i] >> 4];
        out += '.';
      }
      return out + "ip6.arpa";
    }
  } else {
    return "";
  }
  return std::to_string(v4[3]) + "." + std::to_string(v4[2]) + "." + std::to_string(v4[1]) + "." +
         std::to_string(v4[0]) + ".in-addr.arpa";
}

}  // namespace hato::net
