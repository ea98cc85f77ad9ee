// dmarc_report_fuzz.cc - DMARC aggregate reports (RFC 7489 7.2) as strangers mail them: the
// first byte chooses between a whole message (MIME, base64, zip or gzip, then XML) and the
// XML alone.
//
// Invariants: what is read has an org_name, a report_id and a domain, at most kMaxRecords
// records, each with a source address that parses; the counts per source add up to the
// records' counts.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/net.h"
#include "fuzz/fuzz_util.h"
#include "policy/dmarc_report.h"

using namespace hato;
namespace dr = hato::policy::dmarc_report;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto r = (data[0] & 1) ? dr::read_message(text) : dr::parse_xml(text);
  if (!r) return 0;
  FUZZ_CHECK(!r->org_name.empty() && !r->report_id.empty() && !r->domain.empty(),
             "a report without its names");
  FUZZ_CHECK(r->records.size() <= dr::kMaxRecords, "too many records");
  uint64_t total = 0, summed = 0;
  for (const auto& rec : r->records) {
    FUZZ_CHECK(SocketAddress::parse(rec.source_ip, 0).is_ok(), "a source that does not parse");
    total += rec.count;
  }
  for (const auto& [ip, c] : dr::counts_by_source(*r)) summed += c.messages;
  FUZZ_CHECK(total == summed, "counts per source do not add up");
  return 0;
}
