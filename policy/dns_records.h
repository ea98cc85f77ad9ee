// dns_records.h - the DNS records a mail domain needs, and how to judge what DNS publishes.
//
// `hato dns records` prints required_records(); `hato dns check` runs check_domain() over a
// DnsSource that asks the configured servers. The lookups come through that interface,
// synchronous because a command-line tool may wait, so tests feed a table of answers instead of
// a DNS server. SPF is parsed and evaluated by policy/spf, the daemon's own implementation.
//
// What is judged (RFC 7208 SPF, RFC 6376 DKIM, RFC 7489 DMARC, RFC 8461 MTA-STS, RFC 8460
// TLS-RPT): MX pointing at this host and the host having an address; one SPF record, its
// syntax, the 10-lookup limit counted through include: and redirect=, and whether our sending
// addresses pass; each DKIM key record carrying the configured key; one DMARC record, v=DMARC1
// first, p= present and valid; MTA-STS and TLS-RPT records well formed; PTR of each egress
// address naming its HELO name and that name resolving back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "policy/spf/spf.h"

namespace hato::policy {

// ---------------------------------------------------------------------------
// Lookups.

enum class DnsOutcome {
  kFound,   // values has the answers
  kNone,    // NXDOMAIN or no records of the type: the answer is "nothing"
  kFailed,  // SERVFAIL, timeout: no answer at all
};

struct DnsAnswer {
  DnsOutcome outcome = DnsOutcome::kFailed;
  // TXT: each record's strings joined; MX: host names by preference ("" for a null MX);
  // addresses: numeric IPv6 and IPv4; PTR: names. Lower case, no trailing dot, for names.
  std::vector<std::string> values;
  std::string error;  // why, when kFailed
};

class DnsSource {
 public:
  virtual ~DnsSource() = default;
  virtual DnsAnswer txt(const std::string& name) = 0;
  virtual DnsAnswer mx(const std::string& domain) = 0;
  virtual DnsAnswer addresses(const std::string& host) = 0;  // A and AAAA
  virtual DnsAnswer ptr(const std::string& ip) = 0;
};

// ---------------------------------------------------------------------------
// What the domain should publish.

struct DkimExpectation {
  std::string selector;
  std::string record;  // "v=DKIM1; k=rsa; p=...", from the configured private key
  std::string source;  // the key file, for messages
};

struct EgressAddress {
  std::string ip;    // numeric
  std::string helo;  // the name this address introduces itself with
};

struct DomainPlan {
  std::string domain;
  std::string hostname;  // this relay: the MX target, and the sender when there is no egress
  std::vector<EgressAddress> egress;  // empty: hostname's own addresses send
  std::vector<DkimExpectation> dkim;
  std::string mta_sts_mode = "testing";  // testing | enforce | none
  int64_t mta_sts_max_age = 604800;      // one week, in seconds
  std::vector<std::string> mta_sts_mx;   // empty: hostname
  // An inbound listener takes the domain's mail here. Without one the relay only sends as the
  // domain: its MX, MTA-STS and TLS-RPT records belong to whichever service receives it.
  bool receives = true;
};

// One record in zone-file form with the comments that explain it.
struct ZoneRecord {
  std::string kind;                   // "MX", "SPF", "DKIM s1", "DMARC", "MTA-STS", "TLS-RPT"
  std::string owner;                  // without the trailing dot
  std::string type;                   // "MX" or "TXT"
  std::string value;                  // MX: "10 host"; TXT: the text, unquoted and unsplit
  std::vector<std::string> comments;  // one line each, without the leading ';'
};

// The records, in the order `dns records` prints them (MX, MTA-STS and TLS-RPT only when
// the plan receives).
std::vector<ZoneRecord> required_records(const DomainPlan& plan);

// The line to put in a zone: `owner. IN MX 10 host.` or `owner. IN TXT ( "..." "..." )` with
// the text split into strings of at most 255 octets.
std::string zone_line(const ZoneRecord& record);

// The MTA-STS policy (RFC 8461 3.2) Hato serves at https://mta-sts.D/.well-known/mta-sts.txt,
// CRLF line ends, and the id= that names it: a hash of the text, so it changes exactly when the
// policy does.
std::string mta_sts_policy(const DomainPlan& plan);
std::string mta_sts_id(std::string_view policy);

std::string recommended_spf(const DomainPlan& plan);
std::string recommended_dmarc(const DomainPlan& plan);
std::string recommended_tlsrpt(const DomainPlan& plan);

// ---------------------------------------------------------------------------
// SPF (RFC 7208), on policy/spf: its parser, and its check_host() run over a DnsSource.

// check_host() for `ip` sending as postmaster@`domain`, as a receiver would run it.
spf::SpfOutcome evaluate_spf(const std::string& domain, const std::string& ip, DnsSource& dns);

struct SpfCost {
  int lookups = 0;  // every lookup term of the record and all it includes or redirects to
  std::vector<std::string> errors;  // include targets without a record, loops, syntax
};

// The worst case of lookups a receiver may spend on `domain`'s record: each term counted once
// whether or not an evaluation would reach it, recursively through include: and redirect=
// (targets with macros are counted but not followed: they depend on the sender).
SpfCost spf_cost(const std::string& domain, DnsSource& dns);

// `record` with `mechanisms` added before its `all` term (or at the end): the smallest change
// that authorises them and keeps everything else the operator wrote.
std::string spf_with(std::string_view record, const std::vector<std::string>& mechanisms);

// ---------------------------------------------------------------------------
// Checking.

enum class Verdict { kOk, kMissing, kWrong, kFailed, kSkipped };
const char* verdict_name(Verdict verdict);  // "ok", "missing", "wrong", "failed", "skipped"

struct Finding {
  std::string check;  // "MX", "address", "SPF", "DKIM s1", "DMARC", "MTA-STS", "TLS-RPT", "PTR"
  std::string name;   // the DNS name looked at
  Verdict verdict = Verdict::kOk;
  std::string detail;              // what was found, or what is wrong with it
  std::string fix;                 // the zone line to publish, or what to do; empty when ok
  std::vector<std::string> notes;  // advice that does not make the check fail
};

// Looks up everything required_records() names, plus the host's address and the egress PTRs.
std::vector<Finding> check_domain(const DomainPlan& plan, DnsSource& dns);

// Whether a finding makes `dns check` exit 1: anything but ok and skipped.
bool finding_fails(const Finding& finding);

}  // namespace hato::policy
