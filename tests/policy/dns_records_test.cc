// dns_records_test.cc - the records `hato dns records` prints and how `hato dns check` judges
// what DNS answers: SPF evaluation and lookup counting, DKIM, DMARC, MTA-STS,
// TLS-RPT, MX and PTR, over a table of answers instead of a DNS server.
#include <boost/test/unit_test.hpp>

#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "policy/dns_records.h"
#include "policy/mta_sts.h"

namespace hato::policy {

// For Boost.Test's messages.
namespace spf {
std::ostream& operator<<(std::ostream& os, SpfResult r) {
  return os << spf_result_name(r);
}
}  // namespace spf
std::ostream& operator<<(std::ostream& os, Verdict v) {
  return os << verdict_name(v);
}

namespace {

// Answers from tables; names not in them are NXDOMAIN, names in `broken` fail.
class FakeDns : public DnsSource {
 public:
  std::map<std::string, std::vector<std::string>> txts, mxs, ips, ptrs;
  std::set<std::string> broken;
  int queries = 0;

  DnsAnswer txt(const std::string& name) override { return answer(txts, name); }
  DnsAnswer mx(const std::string& name) override { return answer(mxs, name); }
  DnsAnswer addresses(const std::string& name) override { return answer(ips, name); }
  DnsAnswer ptr(const std::string& ip) override { return answer(ptrs, ip); }

  // Publishes what required_records() asks for, as an operator pasting the output would.
  void publish(const DomainPlan& plan) {
    for (const ZoneRecord& r : required_records(plan)) {
      if (r.type == "MX") {
        mxs[r.owner].push_back(r.value.substr(r.value.find(' ') + 1));
      } else {
        txts[r.owner].push_back(r.value);
      }
    }
  }

 private:
  DnsAnswer answer(const std::map<std::string, std::vector<std::string>>& table,
                   const std::string& name) {
    ++queries;
    if (broken.count(name)) return {DnsOutcome::kFailed, {}, "timeout"};
    auto it = table.find(name);
    if (it == table.end()) return {DnsOutcome::kNone, {}, ""};
    return {DnsOutcome::kFound, it->second, ""};
  }
};

const char kKeyRecord[] = "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwide";
const char kOtherKey[] = "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAother";

DomainPlan plan() {
  DomainPlan p;
  p.domain = "example.test";
  p.hostname = "relay.example.test";
  p.dkim = {{"s1", kKeyRecord, "/etc/hato/s1.pem"}};
  return p;
}

// A domain set up as `dns records` says, with the relay at 192.0.2.10.
FakeDns published(const DomainPlan& p) {
  FakeDns dns;
  dns.publish(p);
  dns.ips[p.hostname] = {"192.0.2.10"};
  dns.ips["mta-sts." + p.domain] = {"192.0.2.10"};
  return dns;
}

const Finding& find(const std::vector<Finding>& findings, const std::string& check) {
  for (const auto& f : findings) {
    if (f.check == check) return f;
  }
  BOOST_FAIL("no finding for " + check);
  return findings.front();
}

size_t failing(const std::vector<Finding>& findings) {
  size_t n = 0;
  for (const auto& f : findings) n += finding_fails(f);
  return n;
}

// ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(required_records_cover_every_kind_in_order) {
  std::vector<ZoneRecord> records = required_records(plan());
  std::vector<std::string> kinds;
  for (const auto& r : records) kinds.push_back(r.kind);
  BOOST_TEST(
      kinds == (std::vector<std::string>{"MX", "SPF", "DKIM s1", "DMARC", "MTA-STS", "TLS-RPT"}),
      boost::test_tools::per_element());
  BOOST_TEST(zone_line(records[0]) == "example.test. IN MX 10 relay.example.test.");
  BOOST_TEST(records[1].value == "v=spf1 mx a:relay.example.test ~all");
  BOOST_TEST(records[2].owner == "s1._domainkey.example.test");
  BOOST_TEST(records[3].value == "v=DMARC1; p=none; rua=mailto:postmaster@example.test");
  BOOST_TEST(records[5].owner == "_smtp._tls.example.test");
  BOOST_TEST(records[5].value == "v=TLSRPTv1; rua=mailto:postmaster@example.test");
  for (const auto& r : records) BOOST_TEST(!r.comments.empty(), r.kind << " explains itself");
}

BOOST_AUTO_TEST_CASE(a_relay_that_only_sends_leaves_mx_mta_sts_and_tlsrpt_alone) {
  // No inbound listener: the domain's mail goes to another service, whose MX, MTA-STS and
  // TLS-RPT records must stay; `dns records` must not tell the operator to replace them.
  DomainPlan p = plan();
  p.receives = false;
  std::vector<ZoneRecord> records = required_records(p);
  std::vector<std::string> kinds;
  for (const auto& r : records) kinds.push_back(r.kind);
  BOOST_TEST(kinds == (std::vector<std::string>{"SPF", "DKIM s1", "DMARC"}),
             boost::test_tools::per_element());
  BOOST_TEST(records[0].value == "v=spf1 a:relay.example.test ~all");
  BOOST_TEST(records[0].comments.front().find("No inbound listener") != std::string::npos);
  // `dns check` does not look for them either, and what is published passes.
  FakeDns dns = published(p);
  dns.mxs["example.test"] = {"mx.mailbox-provider.test"};
  std::vector<Finding> findings = check_domain(p, dns);
  for (const auto& f : findings) {
    BOOST_TEST(f.check != "MX");
    BOOST_TEST(f.check != "MTA-STS");
    BOOST_TEST(f.check != "TLS-RPT");
    BOOST_TEST(!finding_fails(f), f.check << " " << verdict_name(f.verdict) << ": " << f.detail);
  }
}

BOOST_AUTO_TEST_CASE(spf_lists_egress_addresses) {
  DomainPlan p = plan();
  p.egress = {{"192.0.2.10", "mail1.example.test"}, {"2001:DB8::1", "mail1.example.test"}};
  BOOST_TEST(recommended_spf(p) ==
             "v=spf1 mx a:relay.example.test ip4:192.0.2.10 ip6:2001:db8::1 ~all");
}

BOOST_AUTO_TEST_CASE(mta_sts_id_follows_the_policy) {
  DomainPlan p = plan();
  std::string policy = mta_sts_policy(p);
  BOOST_TEST(policy ==
             "version: STSv1\r\nmode: testing\r\nmx: relay.example.test\r\nmax_age: 604800\r\n");
  std::string id = mta_sts_id(policy);
  BOOST_TEST(id.size() == 16u);
  BOOST_TEST(id == mta_sts_id(mta_sts_policy(p)));  // stable
  p.mta_sts_mode = "enforce";
  BOOST_TEST(id != mta_sts_id(mta_sts_policy(p)));
  ZoneRecord sts = required_records(plan())[4];
  BOOST_TEST(sts.value == "v=STSv1; id=" + id);
  bool policy_shown = false;
  for (const auto& c : sts.comments) policy_shown |= c == "  mode: testing";
  BOOST_TEST(policy_shown);
}

BOOST_AUTO_TEST_CASE(mta_sts_policy_lists_each_mx_and_reads_back) {
  DomainPlan p = plan();
  p.mta_sts_mx = {"mx1.example.test", "*.mx.example.test"};
  p.mta_sts_max_age = 86400;
  std::string policy = mta_sts_policy(p);
  BOOST_TEST(policy ==
             "version: STSv1\r\nmode: testing\r\nmx: mx1.example.test\r\nmx: *.mx.example.test\r\n"
             "max_age: 86400\r\n");
  // What we serve is what a sender's parser (policy/mta_sts) accepts.
  auto parsed = mta_sts::parse_policy(policy);
  BOOST_TEST_REQUIRE(parsed.is_ok());
  BOOST_TEST(parsed->allows("a.mx.example.test"));
  BOOST_TEST(parsed->max_age == 86400u);
  std::string before = mta_sts_id(policy);
  p.mta_sts_mx.pop_back();
  BOOST_TEST(before != mta_sts_id(mta_sts_policy(p)));
}

BOOST_AUTO_TEST_CASE(long_txt_records_split_at_255) {
  ZoneRecord r{"DKIM s1", "s1._domainkey.example.test", "TXT", std::string(300, 'a'), {}};
  std::string line = zone_line(r);
  BOOST_TEST(line == "s1._domainkey.example.test. IN TXT ( \"" + std::string(255, 'a') + "\" \"" +
                         std::string(45, 'a') + "\" )");
}

// ---------------------------------------------------------------------------
// SPF evaluation: policy/spf's check_host() over a DnsSource.

BOOST_AUTO_TEST_CASE(spf_evaluation_follows_the_mechanisms) {
  FakeDns dns;
  dns.txts["example.test"] = {
      "v=spf1 ip4:198.51.100.0/24 a:relay.example.test include:esp.test ~all"};
  dns.txts["esp.test"] = {"v=spf1 mx -all"};
  dns.mxs["esp.test"] = {"mx.esp.test"};
  dns.ips["relay.example.test"] = {"192.0.2.10", "2001:db8::10"};
  dns.ips["mx.esp.test"] = {"203.0.113.5"};
  BOOST_TEST(evaluate_spf("example.test", "198.51.100.7", dns).result == spf::SpfResult::kPass);
  BOOST_TEST(evaluate_spf("example.test", "192.0.2.10", dns).result == spf::SpfResult::kPass);
  BOOST_TEST(evaluate_spf("example.test", "2001:db8::10", dns).result == spf::SpfResult::kPass);
  BOOST_TEST(evaluate_spf("example.test", "203.0.113.5", dns).result == spf::SpfResult::kPass);
  spf::SpfOutcome other = evaluate_spf("example.test", "192.0.2.99", dns);
  BOOST_TEST(other.result == spf::SpfResult::kSoftFail);
  BOOST_TEST(other.problem.find("~all") != std::string::npos);
  BOOST_TEST(evaluate_spf("nospf.test", "192.0.2.10", dns).result == spf::SpfResult::kNone);
}

BOOST_AUTO_TEST_CASE(spf_redirect_and_errors) {
  FakeDns dns;
  dns.txts["a.test"] = {"v=spf1 redirect=b.test"};
  dns.txts["b.test"] = {"v=spf1 ip4:192.0.2.1 -all"};
  BOOST_TEST(evaluate_spf("a.test", "192.0.2.1", dns).result == spf::SpfResult::kPass);
  BOOST_TEST(evaluate_spf("a.test", "192.0.2.2", dns).result == spf::SpfResult::kFail);

  dns.txts["c.test"] = {"v=spf1 include:gone.test -all"};
  BOOST_TEST(evaluate_spf("c.test", "192.0.2.1", dns).result == spf::SpfResult::kPermError);

  dns.txts["d.test"] = {"v=spf1 a:slow.test -all"};
  dns.broken.insert("slow.test");
  BOOST_TEST(evaluate_spf("d.test", "192.0.2.1", dns).result == spf::SpfResult::kTempError);

  dns.txts["two.test"] = {"v=spf1 -all", "v=spf1 +all"};
  BOOST_TEST(evaluate_spf("two.test", "192.0.2.1", dns).result == spf::SpfResult::kPermError);

  dns.txts["void.test"] = {"v=spf1 a:n1.test a:n2.test a:n3.test +all"};
  spf::SpfOutcome v = evaluate_spf("void.test", "192.0.2.1", dns);
  BOOST_TEST(v.result == spf::SpfResult::kPermError);
  BOOST_TEST(!v.problem.empty());
}

BOOST_AUTO_TEST_CASE(spf_stops_after_ten_lookups) {
  FakeDns dns;
  std::string record = "v=spf1";
  for (int i = 0; i < 11; ++i) {
    std::string name = "inc" + std::to_string(i) + ".test";
    record += " include:" + name;
    dns.txts[name] = {"v=spf1 ip4:10.0.0." + std::to_string(i) + " -all"};
  }
  dns.txts["many.test"] = {record + " -all"};
  BOOST_TEST(evaluate_spf("many.test", "10.0.0.9", dns).result == spf::SpfResult::kPass);
  spf::SpfOutcome last = evaluate_spf("many.test", "10.0.0.10", dns);
  BOOST_TEST(last.result == spf::SpfResult::kPermError);
  BOOST_TEST(!last.problem.empty());
  BOOST_TEST(spf_cost("many.test", dns).lookups == 11);
}

BOOST_AUTO_TEST_CASE(spf_cost_counts_through_includes) {
  FakeDns dns;
  dns.txts["example.test"] = {"v=spf1 mx a include:esp.test ip4:192.0.2.1 ~all"};
  dns.txts["esp.test"] = {"v=spf1 include:esp2.test exists:x.esp.test ptr -all"};
  dns.txts["esp2.test"] = {"v=spf1 a mx -all redirect=ignored.test"};
  SpfCost cost = spf_cost("example.test", dns);
  BOOST_TEST(cost.lookups == 3 + 3 + 2);
  BOOST_TEST(cost.errors.empty());

  dns.txts["loop.test"] = {"v=spf1 include:loop2.test -all"};
  dns.txts["loop2.test"] = {"v=spf1 include:loop.test -all"};
  SpfCost loop = spf_cost("loop.test", dns);
  BOOST_TEST_REQUIRE(loop.errors.size() == 1u);
  BOOST_TEST(loop.errors[0].find("loops back") != std::string::npos);

  dns.txts["dangling.test"] = {"v=spf1 include:nothing.test -all"};
  SpfCost dangling = spf_cost("dangling.test", dns);
  BOOST_TEST_REQUIRE(dangling.errors.size() == 1u);
  BOOST_TEST(dangling.errors[0] == "nothing.test has no SPF record");
}

BOOST_AUTO_TEST_CASE(spf_with_inserts_before_all) {
  BOOST_TEST(spf_with("v=spf1 include:esp.test -all", {"a:relay.example.test"}) ==
             "v=spf1 include:esp.test a:relay.example.test -all");
  BOOST_TEST(spf_with("v=spf1 mx", {"ip4:192.0.2.1", "ip6:2001:db8::1"}) ==
             "v=spf1 mx ip4:192.0.2.1 ip6:2001:db8::1");
  BOOST_TEST(spf_with("v=spf1 MX ~all", {"mx"}) == "v=spf1 MX ~all");
}

// ---------------------------------------------------------------------------
// check_domain.

BOOST_AUTO_TEST_CASE(published_records_pass_every_check) {
  DomainPlan p = plan();
  FakeDns dns = published(p);
  std::vector<Finding> findings = check_domain(p, dns);
  for (const auto& f : findings) {
    BOOST_TEST(!finding_fails(f), f.check << " " << verdict_name(f.verdict) << ": " << f.detail);
    BOOST_TEST(f.fix.empty(), f.check << " has no fix to offer");
  }
  BOOST_TEST(find(findings, "PTR").verdict == Verdict::kSkipped);
  BOOST_TEST(find(findings, "SPF").detail.find("passes for 192.0.2.10") != std::string::npos);
  BOOST_TEST(find(findings, "DMARC").notes.size() == 1u);  // the advice to tighten p=none
}

BOOST_AUTO_TEST_CASE(nothing_published_is_missing_with_the_lines_to_add) {
  DomainPlan p = plan();
  FakeDns dns;
  std::vector<Finding> findings = check_domain(p, dns);
  std::vector<ZoneRecord> records = required_records(p);
  for (const auto& r : records) {
    const Finding& f = find(findings, r.kind);
    BOOST_TEST((f.verdict == Verdict::kMissing), r.kind);
    BOOST_TEST(f.fix == zone_line(r), r.kind);
  }
  BOOST_TEST(find(findings, "address").verdict == Verdict::kMissing);
}

BOOST_AUTO_TEST_CASE(wrong_dkim_key_is_wrong_with_the_right_record) {
  DomainPlan p = plan();
  FakeDns dns = published(p);
  dns.txts["s1._domainkey.example.test"] = {kOtherKey};
  const Finding f = find(check_domain(p, dns), "DKIM s1");
  BOOST_TEST((f.verdict == Verdict::kWrong));
  BOOST_TEST(f.detail.find("/etc/hato/s1.pem") != std::string::npos);
  BOOST_TEST(f.fix == zone_line(required_records(p)[2]));

  dns.txts["s1._domainkey.example.test"] = {"v=DKIM1; p="};
  BOOST_TEST(find(check_domain(p, dns), "DKIM s1").detail.find("revoked") != std::string::npos);

  // Folded whitespace inside p= is the same key.
  std::string folded = kKeyRecord;
  folded.insert(folded.size() - 4, " ");
  dns.txts["s1._domainkey.example.test"] = {folded};
  BOOST_TEST((find(check_domain(p, dns), "DKIM s1").verdict == Verdict::kOk));
}

BOOST_AUTO_TEST_CASE(spf_without_our_address_gets_the_record_with_it_added) {
  DomainPlan p = plan();
  FakeDns dns = published(p);
  dns.txts["example.test"] = {"v=spf1 include:esp.test -all"};
  dns.txts["esp.test"] = {"v=spf1 ip4:203.0.113.0/24 -all"};
  std::vector<Finding> findings = check_domain(p, dns);
  const Finding& f = find(findings, "SPF");
  BOOST_TEST((f.verdict == Verdict::kWrong));
  BOOST_TEST(f.detail.find("192.0.2.10") != std::string::npos, f.detail);
  BOOST_TEST(f.fix ==
             "example.test. IN TXT ( \"v=spf1 include:esp.test a:relay.example.test -all\" )");
  BOOST_TEST(failing(findings) == 1u);
}

BOOST_AUTO_TEST_CASE(spf_egress_addresses_are_what_must_pass) {
  DomainPlan p = plan();
  p.egress = {{"198.51.100.1", "out.example.test"}};
  FakeDns dns = published(p);
  dns.txts["example.test"] = {"v=spf1 mx ~all"};
  const Finding f = find(check_domain(p, dns), "SPF");
  BOOST_TEST((f.verdict == Verdict::kWrong));
  BOOST_TEST(f.fix == "example.test. IN TXT ( \"v=spf1 mx ip4:198.51.100.1 ~all\" )");
}

BOOST_AUTO_TEST_CASE(spf_problems_beyond_coverage) {
  DomainPlan p = plan();
  FakeDns dns = published(p);
  dns.txts["example.test"] = {"v=spf1 a:relay.example.test", "v=spf1 mx -all"};
  BOOST_TEST(find(check_domain(p, dns), "SPF").detail.find("2 SPF records") != std::string::npos);

  dns.txts["example.test"] = {"v=spf1 mx +all"};
  const Finding open = find(check_domain(p, dns), "SPF");
  BOOST_TEST((open.verdict == Verdict::kWrong));
  BOOST_TEST(open.fix == "example.test. IN TXT ( \"v=spf1 mx ~all\" )");

  dns.txts["example.test"] = {"v=spf1 mx ip4:1.2.3 -all"};
  BOOST_TEST(find(check_domain(p, dns), "SPF").detail.find("ip4:1.2.3") != std::string::npos);

  std::string record = "v=spf1 mx";
  for (int i = 0; i < 10; ++i) {
    std::string name = "esp" + std::to_string(i) + ".test";
    record += " include:" + name;
    dns.txts[name] = {"v=spf1 -all"};
  }
  dns.txts["example.test"] = {record + " -all"};
  const Finding heavy = find(check_domain(p, dns), "SPF");
  BOOST_TEST((heavy.verdict == Verdict::kWrong));
  BOOST_TEST(heavy.detail.find("11 DNS lookups") != std::string::npos, heavy.detail);
}

BOOST_AUTO_TEST_CASE(dmarc_must_be_sane) {
  DomainPlan p = plan();
  FakeDns dns = published(p);
  auto dmarc = [&](std::vector<std::string> records) {
    dns.txts["_dmarc.example.test"] = std::move(records);
    return find(check_domain(p, dns), "DMARC");
  };
  BOOST_TEST((dmarc({"v=DMARC1; p=reject; rua=mailto:d@example.test"}).verdict == Verdict::kOk));
  BOOST_TEST(dmarc({"v=DMARC1; p=reject"}).notes.size() == 1u);  // no rua
  BOOST_TEST((dmarc({"p=none; v=DMARC1"}).verdict == Verdict::kWrong));
  BOOST_TEST((dmarc({"v=DMARC1; rua=mailto:d@example.test"}).verdict == Verdict::kWrong));
  BOOST_TEST((dmarc({"v=DMARC1; p=block"}).verdict == Verdict::kWrong));
  BOOST_TEST((dmarc({"v=DMARC1; p=none; pct=150"}).verdict == Verdict::kWrong));
  BOOST_TEST((dmarc({"v=DMARC1; p=none; rua=d@example.test"}).verdict == Verdict::kWrong));
  BOOST_TEST((dmarc({"v=DMARC1; p=none", "v=DMARC1; p=reject"}).verdict == Verdict::kWrong));
  BOOST_TEST((dmarc({"some verification token"}).verdict == Verdict::kMissing));
  const Finding strict = dmarc({"v=DMARC1; p=reject; adkim=x"});
  BOOST_TEST(strict.fix.find("p=reject") != std::string::npos, "the fix keeps p=reject");
}

BOOST_AUTO_TEST_CASE(mta_sts_and_tlsrpt_records) {
  DomainPlan p = plan();
  FakeDns dns = published(p);
  dns.txts["_mta-sts.example.test"] = {"v=STSv1; id=20240101T000000"};
  const Finding other_id = find(check_domain(p, dns), "MTA-STS");
  BOOST_TEST((other_id.verdict == Verdict::kOk));
  BOOST_TEST(other_id.notes.size() == 1u);
  dns.txts["_mta-sts.example.test"] = {"v=STSv1; id=2024-01-01"};
  BOOST_TEST((find(check_domain(p, dns), "MTA-STS").verdict == Verdict::kWrong));
  dns.txts["_smtp._tls.example.test"] = {"v=TLSRPTv1; rua=postmaster@example.test"};
  BOOST_TEST((find(check_domain(p, dns), "TLS-RPT").verdict == Verdict::kWrong));
  dns.txts["_smtp._tls.example.test"] = {"v=TLSRPTv1;rua=https://reports.example.net/tls"};
  BOOST_TEST((find(check_domain(p, dns), "TLS-RPT").verdict == Verdict::kOk));
}

BOOST_AUTO_TEST_CASE(mx_must_point_here) {
  DomainPlan p = plan();
  FakeDns dns = published(p);
  dns.mxs["example.test"] = {"mx.elsewhere.test"};
  const Finding f = find(check_domain(p, dns), "MX");
  BOOST_TEST((f.verdict == Verdict::kWrong));
  BOOST_TEST(f.fix == "example.test. IN MX 10 relay.example.test.");
  dns.mxs["example.test"] = {""};
  BOOST_TEST(find(check_domain(p, dns), "MX").detail.find("null MX") != std::string::npos);
  dns.mxs["example.test"] = {"mx.elsewhere.test", "relay.example.test"};
  BOOST_TEST((find(check_domain(p, dns), "MX").verdict == Verdict::kOk));
}

BOOST_AUTO_TEST_CASE(lookup_failures_are_failed_not_missing) {
  DomainPlan p = plan();
  FakeDns dns = published(p);
  dns.broken = {"example.test", "_dmarc.example.test"};
  std::vector<Finding> findings = check_domain(p, dns);
  BOOST_TEST((find(findings, "MX").verdict == Verdict::kFailed));
  BOOST_TEST((find(findings, "SPF").verdict == Verdict::kFailed));
  BOOST_TEST((find(findings, "DMARC").verdict == Verdict::kFailed));
  BOOST_TEST(find(findings, "DMARC").detail.find("timeout") != std::string::npos);
  BOOST_TEST((find(findings, "DKIM s1").verdict == Verdict::kOk));
}

BOOST_AUTO_TEST_CASE(ptr_of_each_egress_address) {
  DomainPlan p = plan();
  p.egress = {{"198.51.100.1", "out1.example.test"},
              {"198.51.100.2", "out2.example.test"},
              {"198.51.100.3", "out3.example.test"},
              {"198.51.100.4", "out4.example.test"}};
  FakeDns dns = published(p);
  dns.ptrs["198.51.100.1"] = {"out1.example.test"};
  dns.ips["out1.example.test"] = {"198.51.100.1"};
  dns.ptrs["198.51.100.2"] = {"host-2.provider.test"};
  dns.ptrs["198.51.100.3"] = {"out3.example.test"};
  dns.ips["out3.example.test"] = {"198.51.100.33"};
  std::vector<Finding> ptrs;
  for (const auto& f : check_domain(p, dns)) {
    if (f.check == "PTR") ptrs.push_back(f);
  }
  BOOST_TEST_REQUIRE(ptrs.size() == 4u);
  BOOST_TEST((ptrs[0].verdict == Verdict::kOk));
  BOOST_TEST((ptrs[1].verdict == Verdict::kWrong));
  BOOST_TEST(ptrs[1].fix.find("out2.example.test") != std::string::npos);
  BOOST_TEST((ptrs[2].verdict == Verdict::kWrong));
  BOOST_TEST(ptrs[2].fix == "out3.example.test. IN A 198.51.100.3");
  BOOST_TEST((ptrs[3].verdict == Verdict::kMissing));
}

}  // namespace
}  // namespace hato::policy
