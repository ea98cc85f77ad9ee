// dns_response_fuzz.cc - raw DNS answers (as c-ares hands them over) read as
// MX, A/AAAA, TXT and PTR results.
//
// Invariants: kOk comes with records and other statuses without; MX hosts
// are lower case without a trailing dot and without control characters
// (they become connection targets and log fields); addresses are of
// the family asked for; PTR names have no control characters.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_util.h"
#include "net/resolver.h"

using namespace hato;
using namespace hato::net;

namespace {
// c-ares escapes unprintable label bytes as \DDD; a space or any other
// printable byte may still come through, but never a control character
// (host names end up in log lines and DSN text).
bool hostname_chars(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) return false;
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  MxResult mx = parse_mx_response(data, size);
  FUZZ_CHECK((mx.status == DnsStatus::kOk) == !mx.records.empty(), "MX status vs records");
  for (const auto& r : mx.records) {
    // "\." is a dot inside a label (c-ares escapes it), not the root.
    bool escaped_dot = r.host.size() >= 2 && r.host[r.host.size() - 2] == '\\';
    FUZZ_CHECK(r.host.empty() || r.host.back() != '.' || escaped_dot,
               "MX host with a trailing dot");
    FUZZ_CHECK(hostname_chars(r.host), "MX host with a control character");
    for (char c : r.host) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "MX host not lower case");
  }
  for (int family : {AF_INET, AF_INET6}) {
    AddressResult a = parse_address_response(data, size, family);
    FUZZ_CHECK((a.status == DnsStatus::kOk) == !a.addresses.empty(), "address status vs records");
    for (const auto& addr : a.addresses)
      FUZZ_CHECK(addr.family() == family, "address of the wrong family");
  }
  TxtResult txt = parse_txt_response(data, size);
  FUZZ_CHECK((txt.status == DnsStatus::kOk) == !txt.records.empty(), "TXT status vs records");
  PtrResult ptr = parse_ptr_response(data, size);
  FUZZ_CHECK((ptr.status == DnsStatus::kOk) == !ptr.names.empty(), "PTR status vs records");
  for (const auto& n : ptr.names)
    FUZZ_CHECK(hostname_chars(n), "PTR name with a control character");
  return 0;
}
