// scanner_reply_fuzz.cc - what content scanners answer: rspamd's JSON (through the JSON
// reader that TLS-RPT and the CLI share) and clamd's INSTREAM replies. A scanner is a
// separate daemon that may be broken or replaced; its answers are untrusted bytes.
//
// Invariants: a FOUND verdict names a signature; an rspamd verdict applied to a transaction
// only ever adds header lines that end in CRLF and contain no other line break, and its
// SMTP reply text has no line break (no reply splitting).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/json.h"
#include "fuzz/fuzz_util.h"
#include "inbound/scanners.h"

using namespace hato;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)parse_json(text);
  auto clamd = inbound::parse_clamd_reply(text);
  if (clamd.kind == inbound::ClamdResult::Kind::kFound)
    FUZZ_CHECK(!clamd.detail.empty(), "FOUND without a signature name");
  auto rspamd = inbound::parse_rspamd_reply(text);
  if (!rspamd) return 0;
  policy::TransactionState tx;
  policy::Verdict verdict = inbound::apply_rspamd(*rspamd, tx);
  FUZZ_CHECK(verdict.text.find_first_of("\r\n") == std::string::npos,
             "a scanner's answer split the SMTP reply");
  for (const std::string& h : tx.add_headers) {
    FUZZ_CHECK(h.size() >= 2 && h.ends_with("\r\n"), "header line without CRLF");
    std::string_view inner(h.data(), h.size() - 2);
    FUZZ_CHECK(inner.find_first_of("\r\n") == std::string_view::npos,
               "a scanner's answer split a header line");
  }
  return 0;
}
