// dns_records.cc - the required records, and the checks of what DNS publishes.
//
// The checks aim to say what a receiver would conclude, so they follow the receivers' rules
// where those are strict (one SPF record, v=DMARC1 first, the 10-lookup limit) and only advise
// where the choice is the operator's (p=none, ~all, ptr). SPF goes through policy/spf, the
// evaluator the daemon uses on inbound mail, so both read a record the same way.
#include "policy/dns_records.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

#include "common/net.h"
#include "common/strings.h"
#include "policy/dkim/key.h"
#include "policy/dkim/tags.h"
#include "policy/spf/record.h"

namespace hato::policy {

namespace {

constexpr int kSpfLookupLimit = 10;  // RFC 7208 4.6.4
// Past this many lookups the cost is reported as it stands: the record is far over the limit.
constexpr int kSpfCostCeiling = 50;
constexpr uint16_t kMxPreference = 10;

std::string bare_name(std::string_view name) {
  std::string out = ascii_lower(name);
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

std::vector<std::string> split_spaces(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ' ') ++i;
    if (i > start) out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

// The canonical text of a numeric address, so "::FFFF:1.2.3.4" and friends compare equal to
// what the resolver reports; the input itself when it is not an address.
std::string normal_ip(const std::string& ip) {
  auto parsed = SocketAddress::parse(ip, 0);
  return parsed ? parsed->ip() : ip;
}

bool is_ipv6(const std::string& ip) {
  return ip.find(':') != std::string::npos;
}

std::string postmaster(const DomainPlan& plan) {
  return "mailto:postmaster@" + plan.domain;
}

const char* outcome_error(const DnsAnswer& answer) {
  return answer.error.empty() ? "no answer" : answer.error.c_str();
}

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

}  // namespace

// ---------------------------------------------------------------------------
// Required records.

std::string recommended_spf(const DomainPlan& plan) {
  std::string spf = "v=spf1 mx a:" + plan.hostname;
  for (const auto& e : plan.egress) spf += (is_ipv6(e.ip) ? " ip6:" : " ip4:") + normal_ip(e.ip);
  return spf + " ~all";
}

std::string recommended_dmarc(const DomainPlan& plan) {
  return "v=DMARC1; p=none; rua=" + postmaster(plan);
}

std::string recommended_tlsrpt(const DomainPlan& plan) {
  return "v=TLSRPTv1; rua=" + postmaster(plan);
}

std::string mta_sts_policy(const DomainPlan& plan) {
  std::string out = "version: STSv1\r\nmode: " + plan.mta_sts_mode + "\r\n";
  for (const auto& mx :
       plan.mta_sts_mx.empty() ? std::vector<std::string>{plan.hostname} : plan.mta_sts_mx)
    out += "mx: " + mx + "\r\n";
  return out + "max_age: " + std::to_string(plan.mta_sts_max_age) + "\r\n";
}

std::string mta_sts_id(std::string_view policy) {
  // FNV-1a: the id only has to change when the text does; no secrecy involved.
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : policy) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::vector<ZoneRecord> required_records(const DomainPlan& plan) {
  const std::string& d = plan.domain;
  std::vector<ZoneRecord> out;

  out.push_back({"MX",
                 d,
                 "MX",
                 std::to_string(kMxPreference) + " " + plan.hostname,
                 {"Mail for " + d + " comes to this relay.",
                  plan.hostname + " needs an A (and AAAA) record with this host's public "
                                  "address; `dns check` verifies it."}});

  ZoneRecord spf{"SPF", d, "TXT", recommended_spf(plan), {}};
  if (plan.egress.empty()) {
    spf.comments.push_back("No egress addresses are configured: mx and a:" + plan.hostname +
                           " authorise this relay's own address.");
  } else {
    spf.comments.push_back("mx, a:" + plan.hostname +
                           " and the configured egress addresses may send as " + d + ".");
  }
  spf.comments.push_back("Add an include: for every other service that sends as " + d +
                         " (10 DNS lookups at most in all).");
  spf.comments.push_back("~all only marks other senders as suspect: make it -all once");
  spf.comments.push_back("nothing else sends as " + d + ".");
  out.push_back(std::move(spf));

  for (const auto& key : plan.dkim) {
    out.push_back({"DKIM " + key.selector,
                   dkim::key_record_name(key.selector, d),
                   "TXT",
                   key.record,
                   {"DKIM key " + key.selector + ", from " + key.source + "."}});
  }

  out.push_back({"DMARC",
                 "_dmarc." + d,
                 "TXT",
                 recommended_dmarc(plan),
                 {"p=none only asks for reports (sent to rua). Once they show all your mail "
                  "passing SPF or DKIM,",
                  "move to p=quarantine, then to p=reject."}});

  std::string policy = mta_sts_policy(plan);
  ZoneRecord sts{"MTA-STS", "_mta-sts." + d, "TXT", "v=STSv1; id=" + mta_sts_id(policy), {}};
  sts.comments.push_back("MTA-STS: senders fetch this policy from https://mta-sts." + d +
                         "/.well-known/mta-sts.txt");
  sts.comments.push_back("(HTTPS with a certificate valid for mta-sts." + d +
                         "); id= changes whenever the policy does:");
  for (size_t start = 0; start < policy.size();) {
    size_t end = policy.find("\r\n", start);
    sts.comments.push_back("  " + policy.substr(start, end - start));
    start = end == std::string::npos ? policy.size() : end + 2;
  }
  if (plan.mta_sts_mode == "testing") {
    sts.comments.push_back("mode testing: failures are only reported (TLS-RPT);");
    sts.comments.push_back("switch to enforce once the reports are clean.");
  }
  out.push_back(std::move(sts));

  out.push_back({"TLS-RPT",
                 "_smtp._tls." + d,
                 "TXT",
                 recommended_tlsrpt(plan),
                 {"Daily reports from senders that failed to deliver to " + d + " over TLS."}});
  return out;
}

std::string zone_line(const ZoneRecord& record) {
  if (record.type != "TXT") {
    std::string line = record.owner + ". IN " + record.type + " " + record.value;
    if (record.type == "MX" || record.type == "CNAME" || record.type == "PTR") line += '.';
    return line;
  }
  return dkim::zone_txt_line(record.owner, record.value);
}

// ---------------------------------------------------------------------------
// SPF.

namespace {

net::DnsStatus status_of(const DnsAnswer& answer) {
  switch (answer.outcome) {
    case DnsOutcome::kFound:
      return net::DnsStatus::kOk;
    case DnsOutcome::kNone:
      return net::DnsStatus::kNoData;
    case DnsOutcome::kFailed:
      break;
  }
  return net::DnsStatus::kServFail;
}

// spf::check_host() over a synchronous DnsSource. SpfDns promises answers later, never inside
// the call that asked, so questions queue up and run() answers them one by one until none are
// left (check_host() asks its next questions from inside the answers).
class QueuedSpfDns final : public spf::SpfDns {
 public:
  explicit QueuedSpfDns(DnsSource& dns) : dns_(dns) {}

  void txt(const std::string& name, std::function<void(net::TxtResult)> done) override {
    later([this, name, done = std::move(done)] {
      DnsAnswer answer = dns_.txt(name);
      net::TxtResult r;
      r.status = status_of(answer);
      r.records = answer.values;
      r.error = answer.error;
      done(std::move(r));
    });
  }
  void a(const std::string& name, std::function<void(net::AddressResult)> done) override {
    addresses(name, AF_INET, std::move(done));
  }
  void aaaa(const std::string& name, std::function<void(net::AddressResult)> done) override {
    addresses(name, AF_INET6, std::move(done));
  }
  void mx(const std::string& name, std::function<void(net::MxResult)> done) override {
    later([this, name, done = std::move(done)] {
      DnsAnswer answer = dns_.mx(name);
      net::MxResult r;
      r.status = status_of(answer);
      r.error = answer.error;
      uint16_t preference = 0;  // the values come in preference order
      for (const auto& host : answer.values) r.records.push_back({preference++, host});
      done(std::move(r));
    });
  }
  void ptr(const SocketAddress& ip, std::function<void(net::PtrResult)> done) override {
    later([this, ip, done = std::move(done)] {
      DnsAnswer answer = dns_.ptr(ip.ip());
      net::PtrResult r;
      r.status = status_of(answer);
      r.names = answer.values;
      r.error = answer.error;
      done(std::move(r));
    });
  }

  void run() {
    while (!pending_.empty()) {
      std::function<void()> next = std::move(pending_.front());
      pending_.pop_front();
      next();
    }
  }

 private:
  void later(std::function<void()> work) { pending_.push_back(std::move(work)); }

  void addresses(const std::string& name, int family,
                 std::function<void(net::AddressResult)> done) {
    later([this, name, family, done = std::move(done)] {
      DnsAnswer answer = dns_.addresses(name);
      net::AddressResult r;
      r.status = status_of(answer);
      r.error = answer.error;
      for (const auto& text : answer.values) {
        auto address = SocketAddress::parse(text, 0);
        if (address && address->family() == family) r.addresses.push_back(*address);
      }
      if (r.status == net::DnsStatus::kOk && r.addresses.empty()) {
        r.status = net::DnsStatus::kNoData;
      }
      done(std::move(r));
    });
  }

  DnsSource& dns_;
  std::deque<std::function<void()>> pending_;
};

// The domain a macro string names when it has no macros in it; nullopt when it has.
std::optional<std::string> literal_domain(const spf::MacroString& spec) {
  std::string out;
  for (const auto& piece : spec.pieces) {
    if (piece.kind == spf::MacroPiece::Kind::kExpand) return std::nullopt;
    out += piece.text;
  }
  return bare_name(out);
}

// The one SPF record among a name's TXT records, or why there is not one.
struct SpfFetch {
  std::optional<spf::Record> record;
  std::string why;
};

SpfFetch fetch_spf(const std::string& domain, DnsSource& dns) {
  DnsAnswer txt = dns.txt(domain);
  if (txt.outcome == DnsOutcome::kFailed) {
    return {std::nullopt, "TXT " + domain + ": " + outcome_error(txt)};
  }
  std::vector<std::string> records;
  for (const auto& v : txt.values) {
    if (spf::is_spf_record(v)) records.push_back(v);
  }
  if (records.empty()) return {std::nullopt, domain + " has no SPF record"};
  if (records.size() > 1) {
    return {std::nullopt, domain + " has " + std::to_string(records.size()) + " SPF records"};
  }
  auto parsed = spf::parse_record(records[0]);
  if (!parsed) return {std::nullopt, domain + ": " + parsed.message()};
  return {std::move(parsed).value(), ""};
}

void add_cost(const std::string& domain, DnsSource& dns, std::vector<std::string>& chain,
              SpfCost& cost) {
  if (cost.lookups > kSpfCostCeiling) return;
  SpfFetch fetched = fetch_spf(domain, dns);
  if (!fetched.record) {
    cost.errors.push_back(fetched.why);
    return;
  }
  const spf::Record& record = *fetched.record;
  chain.push_back(domain);
  auto follow = [&](const spf::MacroString& spec, const std::string& how) {
    std::optional<std::string> target = literal_domain(spec);
    if (!target) return;  // depends on the sender: cannot be followed here
    if (std::find(chain.begin(), chain.end(), *target) != chain.end()) {
      cost.errors.push_back(how + " loops back to " + *target);
      return;
    }
    add_cost(*target, dns, chain, cost);
  };
  bool has_all = false;
  for (const auto& m : record.mechanisms) {
    if (m.queries_dns()) ++cost.lookups;
    if (m.kind == spf::Mechanism::Kind::kAll) has_all = true;
    if (m.kind == spf::Mechanism::Kind::kInclude && m.domain) {
      follow(*m.domain, m.text + " in " + domain);
    }
  }
  // redirect= is ignored when the record has an all term (RFC 7208 6.1).
  if (record.redirect && !has_all) {
    ++cost.lookups;
    follow(*record.redirect, "redirect= in " + domain);
  }
  chain.pop_back();
}

}  // namespace

spf::SpfOutcome evaluate_spf(const std::string& domain, const std::string& ip, DnsSource& dns) {
  auto address = SocketAddress::parse(ip, 0);
  if (!address) return {spf::SpfResult::kPermError, "", "'" + ip + "' is not an address"};
  auto queued = std::make_shared<QueuedSpfDns>(dns);
  spf::SpfRequest request;
  request.ip = *address;
  request.domain = bare_name(domain);
  request.sender = "postmaster@" + request.domain;
  request.helo = request.domain;
  std::optional<spf::SpfOutcome> outcome;
  spf::check_host(queued, spf::SpfOptions(), std::move(request),
                  [&](spf::SpfOutcome o) { outcome = std::move(o); });
  queued->run();
  if (!outcome) return {spf::SpfResult::kTempError, "", "the evaluation did not finish"};
  return *outcome;
}

SpfCost spf_cost(const std::string& domain, DnsSource& dns) {
  SpfCost cost;
  std::vector<std::string> chain;
  add_cost(bare_name(domain), dns, chain, cost);
  return cost;
}

std::string spf_with(std::string_view record, const std::vector<std::string>& mechanisms) {
  std::vector<std::string> words = split_spaces(record);
  auto is_all = [](const std::string& w) {
    std::string l = ascii_lower(w);
    if (!l.empty() && std::string_view("+-~?").find(l[0]) != std::string_view::npos) {
      l.erase(0, 1);
    }
    return l == "all";
  };
  auto at = std::find_if(words.begin(), words.end(), is_all);
  for (const auto& m : mechanisms) {
    if (std::any_of(words.begin(), words.end(),
                    [&](const std::string& w) { return iequals(w, m); }))
      continue;
    at = words.insert(at, m) + 1;
  }
  return join(words, " ");
}

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
    f.detail = "no A or AAAA record: the MX target cannot be reached";
    f.fix = plan.hostname + ". IN A <this host's public IPv4 address>  (and AAAA for IPv6)";
    return f;
  }
  for (const auto& ip : a.values) found->push_back(normal_ip(ip));
  f.detail = join(a.values, ", ");
  return f;
}

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

  std::vector<std::string> problems;
  std::string fixed = text;
  SpfCost cost = spf_cost(plan.domain, dns);
  for (const auto& e : cost.errors) problems.push_back(e);
  if (cost.lookups > kSpfLookupLimit) {
    problems.push_back(std::to_string(cost.lookups) +
                       " DNS lookups; receivers stop at 10 (replace include: of services you "
                       "no longer use, or list their ip4:/ip6: ranges instead)");
  }
  for (const auto& term : parsed->mechanisms) {
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

  // Who sends: the egress addresses, else this host's own.
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
  std::vector<std::string> problems;
  const std::string* p = tags->find("p");
  auto policy_ok = [](const std::string& v) {
    return v == "none" || v == "quarantine" || v == "reject";
  };
  if (!p) {
    problems.push_back("no p= tag (p=none, quarantine or reject must follow v=DMARC1)");
  } else if (!policy_ok(*p)) {
    problems.push_back("p=" + *p + " is not none, quarantine or reject");
  }
  if (const std::string* sp = tags->find("sp"); sp && !policy_ok(*sp)) {
    problems.push_back("sp=" + *sp + " is not none, quarantine or reject");
  }
  for (const char* align : {"adkim", "aspf"}) {
    if (const std::string* a = tags->find(align); a && *a != "r" && *a != "s") {
      problems.push_back(std::string(align) + "=" + *a + " is not r or s");
    }
  }
  if (const std::string* pct = tags->find("pct")) {
    int v = -1;
    if (!parse_number(*pct, 100, &v)) {
      problems.push_back("pct=" + *pct + " is not a number from 0 to 100");
    } else if (v < 100) {
      f.notes.push_back("pct=" + *pct + ": the policy applies to only part of the mail");
    }
  }
  for (const char* uris : {"rua", "ruf"}) {
    if (const std::string* v = tags->find(uris)) {
      std::string bad = check_report_uris(uris, *v);
      if (!bad.empty()) problems.push_back(bad);
    }
  }
  if (!problems.empty()) {
    f.verdict = Verdict::kWrong;
    f.detail = "\"" + text + "\": " + join(problems, "; ");
    if (p && policy_ok(*p) && *p != "none") {
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
  out.push_back(check_mx(plan, record_of(records, "MX"), dns));
  std::vector<std::string> host_addresses;
  out.push_back(check_address(plan, dns, &host_addresses));
  out.push_back(check_spf(plan, record_of(records, "SPF"), host_addresses, dns));
  for (const auto& key : plan.dkim) {
    out.push_back(check_dkim(plan, key, record_of(records, "DKIM " + key.selector), dns));
  }
  out.push_back(check_dmarc(plan, record_of(records, "DMARC"), dns));
  out.push_back(check_mta_sts(plan, record_of(records, "MTA-STS"), dns));
  out.push_back(check_tlsrpt(record_of(records, "TLS-RPT"), dns));
  check_ptrs(plan, dns, out);
  return out;
}

}  // namespace hato::policy
