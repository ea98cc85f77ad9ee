// dns_records_check.cc - `hato dns check`: each record the domain needs, looked up and judged.
//
// The checks aim to say what a receiver would conclude, so they follow the receivers' rules
// where those are strict (one SPF record, v=DMARC1 first, the 10-lookup limit) and only advise
// where the choice is the operator's (p=none, ~all, ptr). SPF goes through policy/spf, the
// evaluator the daemon uses on inbound mail, so both read a record the same way.
#include <algorithm>
#include <functional>
#include <utility>

#include "common/strings.h"
#include "policy/dkim/key.h"
#include "policy/dkim/tags.h"
#include "policy/dns_records.h"
#include "policy/dns_records_internal.h"
#include "policy/spf/record.h"

namespace hato::policy {

using dns_detail::bare_name;
using dns_detail::is_ipv6;
using dns_detail::join;
using dns_detail::normal_ip;
using dns_detail::outcome_error;
using dns_detail::postmaster;
using dns_detail::split_spaces;

// ---------------------------------------------------------------------------
// Checks.

const char* verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kMissing:
      return "missing";
    case Verdict::kWrong:
      return "wrong";
    case Verdict::kFailed:
      return "failed";
    case Verdict::kSkipped:
      return "skipped";
  }
  return "?";
}

bool finding_fails(const Finding& finding) {
  return finding.verdict != Verdict::kOk && finding.verdict != Verdict::kSkipped;
}

namespace {

constexpr int kSpfLookupLimit = 10;  // RFC 7208 4.6.4

// A TXT record that is a tag list whose first tag is v=`version` (DMARC, MTA-STS and TLS-RPT
// all require the version first and exactly spelled).
bool starts_with_version(const std::string& txt, std::string_view version) {
  auto tags = dkim::TagList::parse(txt);
  return tags && !tags->tags().empty() && tags->tags()[0].name == "v" &&
         tags->tags()[0].value == version;
}

std::vector<std::string> split_commas(std::string_view value) {
  std::vector<std::string> out;
  for (size_t start = 0;;) {
    size_t comma = value.find(',', start);
    std::string item = dkim::strip_whitespace(value.substr(start, comma - start));
    if (!item.empty()) out.push_back(std::move(item));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

// A number from 0 to `max`, without leading zeros.
bool parse_number(std::string_view digits, int max, int* out) {
  if (digits.empty() || digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) {
    return false;
  }
  int v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

// A report address list (DMARC rua/ruf, TLS-RPT rua): mailto: or https: URIs.
std::string check_report_uris(std::string_view tag, std::string_view value) {
  std::vector<std::string> uris = split_commas(value);
  if (uris.empty()) return std::string(tag) + "= is empty";
  for (const auto& uri : uris) {
    std::string l = ascii_lower(uri);
    bool mailto = l.starts_with("mailto:") && uri.find('@') != std::string::npos;
    if (!mailto && !l.starts_with("https://")) {
      return std::string(tag) + "= has '" + uri + "', not a mailto: or https: URI";
    }
  }
  return "";
}

Finding lookup_failed(std::string check, std::string name, std::string_view type,
                      const DnsAnswer& answer) {
  Finding f{std::move(check), std::move(name), Verdict::kFailed, "", "", {}};
  f.detail = std::string(type) + " lookup failed: " + outcome_error(answer);
  return f;
}

const ZoneRecord& record_of(const std::vector<ZoneRecord>& records, std::string_view kind) {
  for (const auto& r : records) {
    if (r.kind == kind) return r;
  }
  return records.front();  // every kind asked for is in required_records()
}

Finding check_mx(const DomainPlan& plan, const ZoneRecord& wanted, DnsSource& dns) {
  Finding f{"MX", plan.domain, Verdict::kOk, "", "", {}};
  DnsAnswer mx = dns.mx(plan.domain);
  if (mx.outcome == DnsOutcome::kFailed) return lookup_failed("MX", plan.domain, "MX", mx);
  if (mx.outcome == DnsOutcome::kNone || mx.values.empty()) {
    f.verdict = Verdict::kMissing;
    f.detail = "no MX record";
    f.fix = zone_line(wanted);
    return f;
  }
  if (std::all_of(mx.values.begin(), mx.values.end(), [](auto& h) { return h.empty(); })) {
    f.verdict = Verdict::kWrong;
    f.detail = "null MX (RFC 7505): the domain says it accepts no mail";
    f.fix = zone_line(wanted) + "  (instead of the null MX)";
    return f;
  }
  f.detail = "MX " + join(mx.values, ", ");
  if (std::find(mx.values.begin(), mx.values.end(), bare_name(plan.hostname)) == mx.values.end()) {
    f.verdict = Verdict::kWrong;
    f.detail += ", not " + plan.hostname;
    f.fix = zone_line(wanted);
  }
  return f;
}

Finding check_address(const DomainPlan& plan, DnsSource& dns, std::vector<std::string>* found) {
  Finding f{"address", plan.hostname, Verdict::kOk, "", "", {}};
  DnsAnswer a = dns.addresses(plan.hostname);
  if (a.outcome == DnsOutcome::kFailed) return lookup_failed("address", plan.hostname, "A", a);
  if (a.outcome == DnsOutcome::kNone || a.values.empty()) {
    f.verdict = Verdict::kMissing;
    f.detail = plan.receives ? "no A or AAAA record: the MX target cannot be reached"
                             : "no A or AAAA record for this relay's host name";
    f.fix = plan.hostname + ". IN A <this host's public IPv4 address>  (and AAAA for IPv6)";
    return f;
  }
  for (const auto& ip : a.values) found->push_back(normal_ip(ip));
  f.detail = join(a.values, ", ");
  return f;
}

// spf_term_problems - what receivers hold against the record itself: include: targets that
// fail, more than 10 lookups, +all. `fixed` gets ~all for +all; ptr only earns a note.
std::vector<std::string> spf_term_problems(const spf::Record& parsed, const SpfCost& cost,
                                           Finding& f, std::string& fixed) {
  std::vector<std::string> problems;
  for (const auto& e : cost.errors) problems.push_back(e);
  if (cost.lookups > kSpfLookupLimit) {
    problems.push_back(std::to_string(cost.lookups) +
                       " DNS lookups; receivers stop at 10 (replace include: of services you "
                       "no longer use, or list their ip4:/ip6: ranges instead)");
  }
  for (const auto& term : parsed.mechanisms) {
    if (term.kind == spf::Mechanism::Kind::kAll && term.qualifier == spf::Qualifier::kPass) {
      problems.push_back("+all authorises every address on the Internet");
      std::vector<std::string> words = split_spaces(fixed);
      for (auto& w : words) {
        if (iequals(w, term.text)) w = "~all";
      }
      fixed = join(words, " ");
    }
    if (term.kind == spf::Mechanism::Kind::kPtr) {
      f.notes.push_back("ptr is slow and discouraged (RFC 7208 5.5); many receivers ignore it");
    }
  }
  return problems;
}

// spf_sender_problems - whether the record authorises who sends: the egress addresses, else
// this host's own. Adds what is not covered to `problems` and the mechanisms that would cover
// it to `fixed`; returns the addresses that pass.
std::vector<std::string> spf_sender_problems(const DomainPlan& plan,
                                             const std::vector<std::string>& host_addresses,
                                             DnsSource& dns, Finding& f,
                                             std::vector<std::string>& problems,
                                             std::string& fixed) {
  std::vector<std::string> senders;
  for (const auto& e : plan.egress) senders.push_back(normal_ip(e.ip));
  if (plan.egress.empty()) senders = host_addresses;
  std::vector<std::string> add, uncovered;
  std::vector<std::string> passes;
  for (const auto& ip : senders) {
    spf::SpfOutcome ev = evaluate_spf(plan.domain, ip, dns);
    if (ev.result == spf::SpfResult::kPass) {
      passes.push_back(ip);
      continue;
    }
    if (ev.result == spf::SpfResult::kTempError) {
      f.verdict = Verdict::kFailed;
      problems.push_back("evaluating for " + ip + ": " + ev.problem);
      continue;
    }
    uncovered.push_back(ip + " (" + spf::spf_result_name(ev.result) + ": " + ev.problem + ")");
    if (plan.egress.empty()) {
      add = {"a:" + plan.hostname};
    } else {
      add.push_back((is_ipv6(ip) ? "ip6:" : "ip4:") + ip);
    }
  }
  if (!uncovered.empty()) {
    std::string who = plan.egress.empty() ? plan.hostname + "'s address " : "egress address ";
    problems.push_back("does not authorise " + who + join(uncovered, ", "));
    fixed = spf_with(fixed, add);
  }
  if (senders.empty()) {
    f.notes.push_back("which addresses send is unknown (no egress configured, " + plan.hostname +
                      " has no address): coverage not checked");
  }
  return passes;
}

// check_spf - one SPF record that parses, within the lookup limit, authorising who sends.
Finding check_spf(const DomainPlan& plan, const ZoneRecord& wanted,
                  const std::vector<std::string>& host_addresses, DnsSource& dns) {
  Finding f{"SPF", plan.domain, Verdict::kOk, "", "", {}};
  DnsAnswer txt = dns.txt(plan.domain);
  if (txt.outcome == DnsOutcome::kFailed) return lookup_failed("SPF", plan.domain, "TXT", txt);
  std::vector<std::string> records;
  for (const auto& v : txt.values) {
    if (spf::is_spf_record(v)) records.push_back(v);
  }
  if (records.empty()) {
    f.verdict = Verdict::kMissing;
    f.detail = "no SPF record (a TXT record starting v=spf1)";
    f.fix = zone_line(wanted);
    return f;
  }
  if (records.size() > 1) {
    f.verdict = Verdict::kWrong;
    f.detail = std::to_string(records.size()) +
               " SPF records; receivers treat more than one as an error: merge them into one";
    f.fix = zone_line(wanted) + "  (plus what the others authorise)";
    return f;
  }
  const std::string& text = records[0];
  auto parsed = spf::parse_record(text);
  if (!parsed) {
    f.verdict = Verdict::kWrong;
    f.detail = "\"" + text + "\": " + parsed.message();
    f.fix = zone_line(wanted);
    return f;
  }

  std::string fixed = text;
  SpfCost cost = spf_cost(plan.domain, dns);
  std::vector<std::string> problems = spf_term_problems(*parsed, cost, f, fixed);
  std::vector<std::string> passes =
      spf_sender_problems(plan, host_addresses, dns, f, problems, fixed);

  if (problems.empty()) {
    f.detail = "\"" + text + "\", " + std::to_string(cost.lookups) + " DNS lookups";
    if (!passes.empty()) f.detail += ", passes for " + join(passes, ", ");
    return f;
  }
  if (f.verdict == Verdict::kOk) f.verdict = Verdict::kWrong;
  f.detail = "\"" + text + "\": " + join(problems, "; ");
  if (fixed != text) {
    ZoneRecord r = wanted;
    r.value = fixed;
    f.fix = zone_line(r);
  }
  return f;
}

Finding check_dkim(const DomainPlan& plan, const DkimExpectation& key, const ZoneRecord& wanted,
                   DnsSource& dns) {
  std::string name = dkim::key_record_name(key.selector, plan.domain);
  Finding f{"DKIM " + key.selector, name, Verdict::kOk, "", "", {}};
  DnsAnswer txt = dns.txt(name);
  if (txt.outcome == DnsOutcome::kFailed) return lookup_failed(f.check, name, "TXT", txt);
  if (txt.outcome == DnsOutcome::kNone || txt.values.empty()) {
    f.verdict = Verdict::kMissing;
    f.detail = "no key record";
    f.fix = zone_line(wanted);
    return f;
  }
  auto expected = dkim::TagList::parse(key.record);
  std::string want_p = expected && expected->find("p") ? *expected->find("p") : "";
  std::string want_k = expected && expected->find("k") ? *expected->find("k") : "rsa";

  bool revoked = false;
  std::string other;
  for (const auto& v : txt.values) {
    auto tags = dkim::TagList::parse(v);
    if (!tags || !tags->find("p")) continue;
    const std::string* version = tags->find("v");
    if (version && (tags->tags()[0].name != "v" || *version != "DKIM1")) continue;
    std::string p = dkim::strip_whitespace(*tags->find("p"));
    std::string k = tags->find("k") ? *tags->find("k") : "rsa";
    if (p == want_p && k == want_k) {
      f.detail = "k=" + k + ", the key in " + key.source;
      if (txt.values.size() > 1) {
        f.notes.push_back(std::to_string(txt.values.size()) +
                          " TXT records at this name; verifiers may pick any of them");
      }
      return f;
    }
    if (p.empty()) revoked = true;
    other = "k=" + k + " p=" + (p.size() > 24 ? p.substr(0, 24) + "..." : p);
  }
  f.verdict = Verdict::kWrong;
  if (revoked) {
    f.detail = "the published key is revoked (empty p=)";
  } else if (other.empty()) {
    f.detail = "no DKIM key record (v=DKIM1; k=...; p=...) among: \"" + txt.values[0] + "\"";
  } else {
    f.detail = "the published key (" + other + ") is not the key in " + key.source;
  }
  f.fix = zone_line(wanted);
  return f;
}

bool is_dmarc_policy(const std::string& v) {
  return v == "none" || v == "quarantine" || v == "reject";
}

// dmarc_tag_problems - what is wrong with the tags after v=DMARC1 (RFC 7489 6.3); a pct= below
// 100 only earns a note.
std::vector<std::string> dmarc_tag_problems(const dkim::TagList& tags, Finding& f) {
  std::vector<std::string> problems;
  const std::string* p = tags.find("p");
  if (!p) {
    problems.push_back("no p= tag (p=none, quarantine or reject must follow v=DMARC1)");
  } else if (!is_dmarc_policy(*p)) {
    problems.push_back("p=" + *p + " is not none, quarantine or reject");
  }
  if (const std::string* sp = tags.find("sp"); sp && !is_dmarc_policy(*sp)) {
    problems.push_back("sp=" + *sp + " is not none, quarantine or reject");
  }
  for (const char* align : {"adkim", "aspf"}) {
    if (const std::string* a = tags.find(align); a && *a != "r" && *a != "s") {
      problems.push_back(std::string(align) + "=" + *a + " is not r or s");
    }
  }
  if (const std::string* pct = tags.find("pct")) {
    int v = -1;
    if (!parse_number(*pct, 100, &v)) {
      problems.push_back("pct=" + *pct + " is not a number from 0 to 100");
    } else if (v < 100) {
      f.notes.push_back("pct=" + *pct + ": the policy applies to only part of the mail");
    }
  }
  for (const char* uris : {"rua", "ruf"}) {
    if (const std::string* v = tags.find(uris)) {
      std::string bad = check_report_uris(uris, *v);
      if (!bad.empty()) problems.push_back(bad);
    }
  }
  return problems;
}

// check_dmarc - one record at _dmarc, v=DMARC1 first, valid tags; advice toward p=reject.
Finding check_dmarc(const DomainPlan& plan, const ZoneRecord& wanted, DnsSource& dns) {
  std::string name = "_dmarc." + plan.domain;
  Finding f{"DMARC", name, Verdict::kOk, "", "", {}};
  DnsAnswer txt = dns.txt(name);
  if (txt.outcome == DnsOutcome::kFailed) return lookup_failed("DMARC", name, "TXT", txt);
  std::vector<std::string> records;
  std::string misplaced;
  for (const auto& v : txt.values) {
    if (starts_with_version(v, "DMARC1")) {
      records.push_back(v);
    } else if (v.find("DMARC1") != std::string::npos) {
      misplaced = v;
    }
  }
  f.fix = zone_line(wanted);
  if (records.empty()) {
    if (!misplaced.empty()) {
      f.verdict = Verdict::kWrong;
      f.detail = "\"" + misplaced + "\": must start with v=DMARC1, exactly so written";
    } else {
      f.verdict = Verdict::kMissing;
      f.detail = "no DMARC record (a TXT record starting v=DMARC1)";
    }
    return f;
  }
  if (records.size() > 1) {
    f.verdict = Verdict::kWrong;
    f.detail = std::to_string(records.size()) + " DMARC records; receivers then apply none";
    return f;
  }
  const std::string& text = records[0];
  auto tags = dkim::TagList::parse(text);  // parsed once already by starts_with_version
  std::vector<std::string> problems = dmarc_tag_problems(*tags, f);
  const std::string* p = tags->find("p");
  if (!problems.empty()) {
    f.verdict = Verdict::kWrong;
    f.detail = "\"" + text + "\": " + join(problems, "; ");
    if (p && is_dmarc_policy(*p) && *p != "none") {
      ZoneRecord r = wanted;  // keep the operator's stricter policy in the fix
      r.value = "v=DMARC1; p=" + *p + "; rua=" + postmaster(plan);
      f.fix = zone_line(r);
    }
    return f;
  }
  f.fix.clear();
  f.detail = "\"" + text + "\"";
  if (*p == "none") {
    f.notes.push_back(
        "p=none only monitors: once the aggregate reports show your mail passing, "
        "move to p=quarantine, then p=reject");
  }
  if (!tags->find("rua")) f.notes.push_back("no rua=: nobody receives aggregate reports");
  return f;
}

Finding check_versioned(const ZoneRecord& wanted, DnsSource& dns, std::string_view version,
                        const std::function<std::string(const dkim::TagList&)>& judge) {
  Finding f{wanted.kind, wanted.owner, Verdict::kOk, "", "", {}};
  DnsAnswer txt = dns.txt(wanted.owner);
  if (txt.outcome == DnsOutcome::kFailed) return lookup_failed(f.check, f.name, "TXT", txt);
  std::vector<std::string> records;
  for (const auto& v : txt.values) {
    if (starts_with_version(v, version)) records.push_back(v);
  }
  f.fix = zone_line(wanted);
  if (records.empty()) {
    f.verdict = Verdict::kMissing;
    f.detail = "no record starting v=" + std::string(version);
    if (!txt.values.empty()) f.detail += " (found \"" + txt.values[0] + "\")";
    return f;
  }
  if (records.size() > 1) {
    f.verdict = Verdict::kWrong;
    f.detail = std::to_string(records.size()) + " records; senders then use none";
    return f;
  }
  auto tags = dkim::TagList::parse(records[0]);
  std::string problem = judge(*tags);
  f.detail = "\"" + records[0] + "\"";
  if (!problem.empty()) {
    f.verdict = Verdict::kWrong;
    f.detail += ": " + problem;
    return f;
  }
  f.fix.clear();
  return f;
}

Finding check_mta_sts(const DomainPlan& plan, const ZoneRecord& wanted, DnsSource& dns) {
  std::string ours = mta_sts_id(mta_sts_policy(plan));
  Finding f = check_versioned(wanted, dns, "STSv1", [](const dkim::TagList& tags) {
    const std::string* id = tags.find("id");
    if (!id) return std::string("no id=");
    bool ok = !id->empty() && id->size() <= 32 && std::all_of(id->begin(), id->end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    });
    return ok ? std::string() : "id=" + *id + " must be 1 to 32 letters and digits";
  });
  if (f.verdict == Verdict::kOk && f.detail.find("id=" + ours) == std::string::npos) {
    f.notes.push_back("id= differs from the policy Hato describes (id=" + ours +
                      "); senders refetch the policy only when id= changes");
  }
  if (f.verdict == Verdict::kOk) {
    DnsAnswer host = dns.addresses("mta-sts." + plan.domain);
    if (host.outcome != DnsOutcome::kFound) {
      f.notes.push_back("mta-sts." + plan.domain +
                        " has no address: senders cannot fetch the policy from it");
    }
  }
  return f;
}

Finding check_tlsrpt(const ZoneRecord& wanted, DnsSource& dns) {
  return check_versioned(wanted, dns, "TLSRPTv1", [](const dkim::TagList& tags) {
    const std::string* rua = tags.find("rua");
    if (!rua) return std::string("no rua=");
    return check_report_uris("rua", *rua);
  });
}

void check_ptrs(const DomainPlan& plan, DnsSource& dns, std::vector<Finding>& out) {
  if (plan.egress.empty()) {
    out.push_back({"PTR",
                   "-",
                   Verdict::kSkipped,
                   "no egress addresses are configured, so there is no PTR to check",
                   "",
                   {}});
    return;
  }
  for (const auto& e : plan.egress) {
    std::string ip = normal_ip(e.ip);
    std::string helo = bare_name(e.helo);
    Finding f{"PTR", ip, Verdict::kOk, "", "", {}};
    DnsAnswer names = dns.ptr(ip);
    if (names.outcome == DnsOutcome::kFailed) {
      out.push_back(lookup_failed("PTR", ip, "PTR", names));
      continue;
    }
    std::string set_ptr = "have the owner of " + ip + " (your provider) set its PTR to " + helo;
    if (names.outcome == DnsOutcome::kNone || names.values.empty()) {
      f.verdict = Verdict::kMissing;
      f.detail = "no PTR record";
      f.fix = set_ptr;
    } else if (std::find(names.values.begin(), names.values.end(), helo) == names.values.end()) {
      f.verdict = Verdict::kWrong;
      f.detail = "PTR names " + join(names.values, ", ") + ", not the HELO name " + helo;
      f.fix = set_ptr;
    } else {
      DnsAnswer back = dns.addresses(helo);
      std::vector<std::string> ips;
      for (const auto& a : back.values) ips.push_back(normal_ip(a));
      if (back.outcome == DnsOutcome::kFailed) {
        out.push_back(lookup_failed("PTR", ip, "A", back));
        continue;
      }
      if (std::find(ips.begin(), ips.end(), ip) == ips.end()) {
        f.verdict = Verdict::kWrong;
        f.detail = "PTR names " + helo + ", but " + helo + " does not resolve back to " + ip;
        f.fix = helo + ". IN " + (is_ipv6(ip) ? "AAAA " : "A ") + ip;
      } else {
        f.detail = helo + ", which resolves back";
      }
    }
    out.push_back(std::move(f));
  }
}

}  // namespace

std::vector<Finding> check_domain(const DomainPlan& plan, DnsSource& dns) {
  std::vector<ZoneRecord> records = required_records(plan);
  std::vector<Finding> out;
  if (plan.receives) out.push_back(check_mx(plan, record_of(records, "MX"), dns));
  std::vector<std::string> host_addresses;
  out.push_back(check_address(plan, dns, &host_addresses));
  out.push_back(check_spf(plan, record_of(records, "SPF"), host_addresses, dns));
  for (const auto& key : plan.dkim) {
    out.push_back(check_dkim(plan, key, record_of(records, "DKIM " + key.selector), dns));
  }
  out.push_back(check_dmarc(plan, record_of(records, "DMARC"), dns));
  if (plan.receives) {
    out.push_back(check_mta_sts(plan, record_of(records, "MTA-STS"), dns));
    out.push_back(check_tlsrpt(record_of(records, "TLS-RPT"), dns));
  }
  check_ptrs(plan, dns, out);
  return out;
}

}  // namespace hato::policy
