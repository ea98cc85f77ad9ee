// resolver.h - asynchronous DNS: MX, addresses, TXT, PTR, TLSA, with TTLs and the AD bit.
//
// The interface knows nothing of c-ares; make_cares_resolver() runs c-ares on
// a Loop (the socket-state callback registers each fd with the loop, one timer
// follows ares_timeout(), ares_process_fd() on readiness). Callbacks always
// run later on the loop, never inside the call that asked.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/loop.h"
#include "common/net.h"
#include "net/tlsa.h"

namespace hato::net {

enum class DnsStatus {
  kOk,        // answers present
  kNoData,    // the name exists, no records of that type
  kNxDomain,  // the name does not exist
  kServFail,  // SERVFAIL, REFUSED, a malformed answer: try again later
  kTimeout,   // no server answered
};
const char* dns_status_name(DnsStatus status);
// kServFail and kTimeout are temporary: mail waiting on them is deferred.
inline bool dns_temporary(DnsStatus s) {
  return s == DnsStatus::kServFail || s == DnsStatus::kTimeout;
}

struct MxRecord {
  uint16_t preference = 0;
  std::string host;  // lower case, no trailing dot; "" for a null MX (RFC 7505 "." target)
};

struct MxResult {
  DnsStatus status = DnsStatus::kServFail;
  std::vector<MxRecord> records;  // as answered; ordering is the caller's business
  uint32_t ttl = 0;
  bool authenticated = false;  // the AD bit was set by a validating resolver
  std::string error;           // words for the log when status is not kOk
};

struct AddressResult {
  DnsStatus status = DnsStatus::kServFail;
  std::vector<SocketAddress> addresses;  // IPv6 and IPv4; port 0
  uint32_t ttl = 0;
  // The AD bit; for addresses(), of every answer that counted (A and AAAA alike).
  bool authenticated = false;
  std::string error;
};

struct TxtResult {
  DnsStatus status = DnsStatus::kServFail;
  std::vector<std::string> records;  // each record's strings joined without separator
  uint32_t ttl = 0;
  bool authenticated = false;
  std::string error;
};

// Trusted only with `authenticated`: the AD bit from a validating resolver that the
// configured DNS servers are (RFC 7672 relies on it as Postfix does; see README).
struct TlsaResult {
  DnsStatus status = DnsStatus::kServFail;
  std::vector<TlsaRecord> records;
  uint32_t ttl = 0;
  bool authenticated = false;
  std::string error;
};

struct PtrResult {
  DnsStatus status = DnsStatus::kServFail;
  std::vector<std::string> names;
  uint32_t ttl = 0;
  std::string error;
};

// A Resolver lives on one Loop and is used from that loop's thread only. Destroying it cancels
// what is in flight: callbacks not yet run are dropped, never called. Names are matched without
// regard to case or a trailing dot. Answers, negative ones included, come from the cache while
// their TTL lasts, and `ttl` then says what is left of it; kServFail and kTimeout are not cached.
class Resolver {
 public:
  virtual ~Resolver() = default;
  virtual void mx(const std::string& domain, std::function<void(MxResult)> done) = 0;
  // A and AAAA together; kOk if either has answers (IPv6 addresses first). If both fail, the
  // more temporary failure wins: kTimeout, kServFail, kNoData, kNxDomain in that order.
  virtual void addresses(const std::string& host, std::function<void(AddressResult)> done) = 0;
  virtual void a(const std::string& host, std::function<void(AddressResult)> done) = 0;
  virtual void txt(const std::string& name, std::function<void(TxtResult)> done) = 0;
  virtual void ptr(const SocketAddress& address, std::function<void(PtrResult)> done) = 0;
  // TLSA records at `name` ("_25._tcp.mx.example.com").
  virtual void tlsa(const std::string& name, std::function<void(TlsaResult)> done) = 0;
};

struct ResolverOptions {
  std::vector<SocketAddress> servers;       // empty: /etc/resolv.conf; port 0 means 53
  std::chrono::milliseconds timeout{2000};  // per try
  int tries = 2;
  size_t cache_entries = 10000;  // answers kept for their TTL (negative ones too, RFC 2308)
};

std::unique_ptr<Resolver> make_cares_resolver(Loop& loop, const ResolverOptions& options);

// How a whole DNS response (as received, untrusted) reads as each kind of result; the resolver
// uses these, and they are here so tests and fuzzers can feed them raw bytes. The rcode decides
// kNxDomain and kServFail; NOERROR without records of the type is kNoData. `ttl` is the least
// answer TTL, or for kNoData/kNxDomain the negative TTL (RFC 2308: min(SOA TTL, SOA minimum)
// from the authority section, 60 s without an SOA). A malformed message is kServFail.
MxResult parse_mx_response(const uint8_t* message, size_t length);
AddressResult parse_address_response(const uint8_t* message, size_t length, int family);
TxtResult parse_txt_response(const uint8_t* message, size_t length);
PtrResult parse_ptr_response(const uint8_t* message, size_t length);
TlsaResult parse_tlsa_response(const uint8_t* message, size_t length);
// The name a PTR query asks for: "4.3.2.1.in-addr.arpa", or nibbles under ip6.arpa.
std::string reverse_name(const SocketAddress& address);

}  // namespace hato::net
