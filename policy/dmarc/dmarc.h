// dmarc.h - DMARC (RFC 7489): the policy record, its discovery in DNS (the From domain, then
// its organizational domain), identifier alignment and the evaluation of one message.
//
// Pure logic over a TXT lookup the caller provides: the daemon plugs in its c-ares resolver,
// tests a table. What to do with the outcome (reject, file in Junk, only record) is the
// caller's choice; evaluate() says what the published policy asks for.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "policy/dkim/verifier.h"
#include "policy/dmarc/psl.h"

namespace hato::dmarc {

enum class Policy { kNone, kQuarantine, kReject };
enum class Alignment { kRelaxed, kStrict };
std::string_view policy_name(Policy p);  // "none", "quarantine", "reject"

// The tags a receiver acts on; reporting tags (rua, ruf, fo, rf, ri) are not kept.
struct Record {
  Policy p = Policy::kNone;
  std::optional<Policy> sp;  // for subdomains of the domain that published the record
  int pct = 100;             // share of failing mail the policy applies to
  Alignment adkim = Alignment::kRelaxed;
  Alignment aspf = Alignment::kRelaxed;
};

// Whether a TXT record claims to be DMARC: its first tag is exactly "v=DMARC1". Others are
// discarded in discovery (RFC 7489 6.6.3 step 4), not errors.
bool is_dmarc_record(std::string_view text);

// Parses a record that is_dmarc_record(). An error for a broken tag list, a duplicate tag or a
// missing/invalid p= or invalid sp= (unless rua= names a URI: then p=none, as 6.6.3 says).
// pct, adkim and aspf with values out of their range keep their defaults.
Result<Record> parse_record(std::string_view text);

// Looks up the TXT records of `name` and calls `done` once, later or now.
using TxtLookup = dkim::KeyLookup;

struct Discovery {
  enum class Status {
    kFound,      // `record` applies
    kNone,       // no DMARC record at the From domain nor its organizational domain
    kTempError,  // a lookup failed temporarily
    kPermError,  // more than one record, or a record that does not parse
  };
  Status status = Status::kNone;
  Record record;
  std::string domain;           // where the record (or the error) was found
  bool organizational = false;  // found at the organizational domain, not the From domain
  std::string error;            // words for the log and the header comment
};

// RFC 7489 6.6.3: _dmarc.<from_domain>, and when that has no DMARC record,
// _dmarc.<organizational domain>. Calls `done` once, from the last lookup's callback.
void discover(const std::string& from_domain, const PublicSuffixList& psl, TxtLookup lookup,
              std::function<void(Discovery)> done);

// Whether two domains are aligned: equal (strict), or of the same organizational domain
// (relaxed). Case-insensitive; a trailing dot does not count.
bool aligned(std::string_view a, std::string_view b, Alignment mode, const PublicSuffixList& psl);

// What the receiver learned about one message before DMARC.
struct Identifiers {
  std::string from_domain;                // RFC5322.From
  std::string spf;                        // SPF result ("pass", "fail", ...; empty: none)
  std::string spf_domain;                 // the domain SPF authenticated (MAIL FROM or HELO)
  std::vector<std::string> dkim_domains;  // d= of each passing DKIM signature
};

enum class Outcome { kNone, kPass, kFail, kTempError, kPermError };
std::string_view outcome_name(Outcome o);  // as in Authentication-Results: "pass", ...

struct Evaluation {
  Outcome outcome = Outcome::kNone;
  Policy policy = Policy::kNone;       // the published policy that applies (p, or sp)
  Policy disposition = Policy::kNone;  // what to do: policy on failure, after pct sampling
  bool spf_aligned = false;
  bool dkim_aligned = false;
  std::string record_domain;
  std::string error;  // for temperror and permerror
};

// Evaluates a message against what discovery found. `sample` is a number in [0, 100) drawn
// at random by the caller: the policy applies to a failure when sample < pct, and otherwise
// the next lower policy does (reject -> quarantine -> none, RFC 7489 6.6.4).
Evaluation evaluate(const Identifiers& ids, const Discovery& found, const PublicSuffixList& psl,
                    int sample);

}  // namespace hato::dmarc
