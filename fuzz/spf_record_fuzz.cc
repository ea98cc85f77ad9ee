// spf_record_fuzz.cc - SPF records and macro strings (RFC 7208 4.6, 5, 7) as DNS hands
// them over: any bytes.
//
// Invariants: a parsed record's prefix lengths are in range and its ip4 networks are
// IPv4; every domain-spec expands (with fixed values for the letters) to something
// query_name() cuts to at most 253 characters without a trailing dot; a parsed IP
// address reads back the same from its own text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "policy/spf/macro.h"
#include "policy/spf/record.h"

using namespace hato;
using namespace hato::policy::spf;

namespace {

MacroVars vars() {
  MacroVars v;
  v.sender = "strong-bad@email.example.com";
  v.local_part = "strong-bad";
  v.sender_domain = "email.example.com";
  v.domain = "email.example.com";
  v.ip_dotted = "192.0.2.3";
  v.ip_readable = "192.0.2.3";
  v.ip_version = "in-addr";
  v.helo = "mx.example.org";
  v.validated = "mx.example.org";
  v.receiver = "relay.example.test";
  v.timestamp = "1700000000";
  return v;
}

void check_expansion(const MacroString& m) {
  std::string name = query_name(expand_macro_string(m, vars()));
  FUZZ_CHECK(name.size() <= 253 || fuzz::known_bug("spf-long-name"),
             "query name over 253 characters");
  FUZZ_CHECK(name.empty() || name.back() != '.', "query name with a trailing dot");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (is_spf_record(text)) {
    if (auto record = parse_record(text)) {
      for (const auto& m : record->mechanisms) {
        FUZZ_CHECK(m.cidr4 >= 0 && m.cidr4 <= 32, "ip4 prefix out of range");
        FUZZ_CHECK(m.cidr6 >= 0 && m.cidr6 <= 128, "ip6 prefix out of range");
        if (m.kind == Mechanism::Kind::kIp4) FUZZ_CHECK(!m.network.v6, "ip4 network not IPv4");
        if (m.domain) check_expansion(*m.domain);
      }
      if (record->redirect) check_expansion(*record->redirect);
      if (record->exp) check_expansion(*record->exp);
    }
  }
  for (MacroSyntax syntax :
       {MacroSyntax::kDomainSpec, MacroSyntax::kModifier, MacroSyntax::kExplanation}) {
    if (auto m = parse_macro_string(text, syntax)) (void)expand_macro_string(*m, vars());
  }
  if (auto spec = parse_domain_spec(text)) check_expansion(*spec);
  if (auto ip = Ip::parse(text)) {
    auto again = Ip::parse(ip->readable());
    FUZZ_CHECK(again && again->v6 == ip->v6 && again->bytes == ip->bytes,
               "an address does not read back from its own text");
    (void)ip->dotted();
  }
  return 0;
}
