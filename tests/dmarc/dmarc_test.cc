// dmarc_test.cc - DMARC records, discovery through a fake DNS (the From domain, then the
// organizational domain), relaxed and strict alignment, sp=, and pct= sampling.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <optional>

#include "policy/dmarc/dmarc.h"

namespace hato::dmarc {

inline std::ostream& operator<<(std::ostream& os, Policy p) {
  return os << policy_name(p);
}
inline std::ostream& operator<<(std::ostream& os, Outcome o) {
  return os << outcome_name(o);
}
inline std::ostream& operator<<(std::ostream& os, Discovery::Status s) {
  return os << static_cast<int>(s);
}

namespace {

const char kPsl[] = "com\nuk\nco.uk\ntest\n";

// A DNS of TXT records; names not in it are NXDOMAIN, those in `failing` fail temporarily.
struct FakeTxt {
  std::map<std::string, std::vector<std::string>> records;
  std::vector<std::string> failing;
  std::vector<std::string> asked;

  TxtLookup lookup() {
    return [this](const std::string& name, std::function<void(dkim::TxtLookupResult)> done) {
      asked.push_back(name);
      dkim::TxtLookupResult r;
      if (std::find(failing.begin(), failing.end(), name) != failing.end()) {
        r.status = dkim::TxtLookupResult::Status::kTemporary;
      } else if (auto it = records.find(name); it != records.end()) {
        r.status = dkim::TxtLookupResult::Status::kOk;
        r.records = it->second;
      } else {
        r.status = dkim::TxtLookupResult::Status::kNxDomain;
      }
      done(r);
    };
  }
};

Discovery discover_now(FakeTxt& dns, const std::string& from) {
  auto psl = PublicSuffixList::parse(kPsl);
  std::optional<Discovery> out;
  discover(from, *psl, dns.lookup(), [&](Discovery d) { out = std::move(d); });
  BOOST_TEST_REQUIRE(out.has_value());
  return *out;
}

Record record_of(std::string_view text) {
  auto r = parse_record(text);
  BOOST_TEST_REQUIRE(r.is_ok(), r.message());
  return *r;
}

Discovery found(std::string_view text, const std::string& domain, bool organizational = false) {
  Discovery d;
  d.status = Discovery::Status::kFound;
  d.record = record_of(text);
  d.domain = domain;
  d.organizational = organizational;
  return d;
}

Identifiers ids(std::string from, std::string spf, std::string spf_domain,
                std::vector<std::string> dkim = {}) {
  return {std::move(from), std::move(spf), std::move(spf_domain), std::move(dkim)};
}

BOOST_AUTO_TEST_SUITE(record)

BOOST_AUTO_TEST_CASE(only_records_that_start_with_the_version_are_dmarc) {
  BOOST_TEST(is_dmarc_record("v=DMARC1; p=none"));
  BOOST_TEST(is_dmarc_record("  v = DMARC1 ;p=reject"));
  BOOST_TEST(is_dmarc_record("v=DMARC1"));
  BOOST_TEST(!is_dmarc_record("p=none; v=DMARC1"));
  BOOST_TEST(!is_dmarc_record("v=dmarc1; p=none"));
  BOOST_TEST(!is_dmarc_record("v=DMARC10; p=none"));
  BOOST_TEST(!is_dmarc_record("v=spf1 -all"));
  BOOST_TEST(!is_dmarc_record(""));
}

BOOST_AUTO_TEST_CASE(every_tag_a_receiver_acts_on) {
  Record r = record_of(
      "v=DMARC1; p=quarantine; sp=reject; pct=25; adkim=s; aspf=s; "
      "rua=mailto:d@example.com; fo=1;");
  BOOST_TEST(r.p == Policy::kQuarantine);
  BOOST_TEST_REQUIRE(r.sp.has_value());
  BOOST_TEST(*r.sp == Policy::kReject);
  BOOST_TEST(r.pct == 25);
  BOOST_TEST((r.adkim == Alignment::kStrict));
  BOOST_TEST((r.aspf == Alignment::kStrict));
}

BOOST_AUTO_TEST_CASE(defaults) {
  Record r = record_of("v=DMARC1; p=none");
  BOOST_TEST(r.p == Policy::kNone);
  BOOST_TEST(!r.sp.has_value());
  BOOST_TEST(r.pct == 100);
  BOOST_TEST((r.adkim == Alignment::kRelaxed));
  BOOST_TEST((r.aspf == Alignment::kRelaxed));
  BOOST_TEST(record_of("v=DMARC1;p=REJECT").p == Policy::kReject);
}

BOOST_AUTO_TEST_CASE(values_out_of_range_keep_their_defaults) {
  BOOST_TEST(record_of("v=DMARC1; p=reject; pct=150").pct == 100);
  BOOST_TEST(record_of("v=DMARC1; p=reject; pct=x").pct == 100);
  BOOST_TEST(record_of("v=DMARC1; p=reject; pct=0").pct == 0);
  BOOST_TEST((record_of("v=DMARC1; p=reject; adkim=x").adkim == Alignment::kRelaxed));
  BOOST_TEST(record_of("v=DMARC1; p=reject; unknown=tag").p == Policy::kReject);
}

BOOST_AUTO_TEST_CASE(broken_records) {
  BOOST_TEST(!parse_record("v=DMARC1").is_ok());                    // no p=
  BOOST_TEST(!parse_record("v=DMARC1; p=block").is_ok());           // p= unknown
  BOOST_TEST(!parse_record("v=DMARC1; p=none; sp=maybe").is_ok());  // sp= unknown
  BOOST_TEST(!parse_record("v=DMARC1; p=none; p=reject").is_ok());  // a tag twice
  BOOST_TEST(!parse_record("v=DMARC1; p").is_ok());                 // not a tag list
}

BOOST_AUTO_TEST_CASE(no_valid_p_but_a_report_address_means_p_none) {
  Record r = record_of("v=DMARC1; rua=mailto:dmarc@example.com");
  BOOST_TEST(r.p == Policy::kNone);
  BOOST_TEST(record_of("v=DMARC1; p=bogus; rua=mailto:x@example.com").p == Policy::kNone);
  BOOST_TEST(!parse_record("v=DMARC1; p=bogus; rua=not a uri").is_ok());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(discovery)

BOOST_AUTO_TEST_CASE(the_from_domains_own_record) {
  FakeTxt dns;
  dns.records["_dmarc.example.com"] = {"v=DMARC1; p=reject"};
  Discovery d = discover_now(dns, "example.com");
  BOOST_TEST(d.status == Discovery::Status::kFound);
  BOOST_TEST(d.domain == "example.com");
  BOOST_TEST(!d.organizational);
  BOOST_TEST(d.record.p == Policy::kReject);
  BOOST_TEST(dns.asked == std::vector<std::string>{"_dmarc.example.com"});
}

BOOST_AUTO_TEST_CASE(falls_back_to_the_organizational_domain) {
  FakeTxt dns;
  dns.records["_dmarc.example.co.uk"] = {"v=DMARC1; p=quarantine; sp=reject"};
  dns.records["_dmarc.mail.example.co.uk"] = {"v=spf1 -all"};  // not DMARC: ignored
  Discovery d = discover_now(dns, "Mail.Example.co.uk");
  BOOST_TEST(d.status == Discovery::Status::kFound);
  BOOST_TEST(d.domain == "example.co.uk");
  BOOST_TEST(d.organizational);
  BOOST_TEST(
      (dns.asked == std::vector<std::string>{"_dmarc.mail.example.co.uk", "_dmarc.example.co.uk"}));
}

BOOST_AUTO_TEST_CASE(no_record_anywhere) {
  FakeTxt dns;
  Discovery d = discover_now(dns, "a.b.example.com");
  BOOST_TEST(d.status == Discovery::Status::kNone);
  BOOST_TEST(dns.asked.size() == 2u);
  FakeTxt dns2;
  BOOST_TEST(discover_now(dns2, "example.com").status == Discovery::Status::kNone);
  BOOST_TEST(dns2.asked.size() == 1u);  // the organizational domain is the From domain
}

BOOST_AUTO_TEST_CASE(temporary_failures) {
  FakeTxt dns;
  dns.failing = {"_dmarc.sub.example.com"};
  dns.records["_dmarc.example.com"] = {"v=DMARC1; p=reject"};
  BOOST_TEST(discover_now(dns, "sub.example.com").status == Discovery::Status::kTempError);
  FakeTxt dns2;
  dns2.failing = {"_dmarc.example.com"};
  BOOST_TEST(discover_now(dns2, "sub.example.com").status == Discovery::Status::kTempError);
}

BOOST_AUTO_TEST_CASE(two_records_or_a_broken_one_are_permanent_errors) {
  FakeTxt dns;
  dns.records["_dmarc.example.com"] = {"v=DMARC1; p=reject", "v=DMARC1; p=none"};
  Discovery d = discover_now(dns, "example.com");
  BOOST_TEST(d.status == Discovery::Status::kPermError);
  BOOST_TEST(d.error.find("more than one") != std::string::npos);
  FakeTxt dns2;
  dns2.records["_dmarc.sub.example.com"] = {"v=DMARC1; p=maybe"};
  dns2.records["_dmarc.example.com"] = {"v=DMARC1; p=reject"};
  BOOST_TEST(discover_now(dns2, "sub.example.com").status == Discovery::Status::kPermError);
  BOOST_TEST(dns2.asked.size() == 1u);  // a broken record is not a missing one
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(alignment)

BOOST_AUTO_TEST_CASE(relaxed_compares_organizational_domains) {
  auto psl = PublicSuffixList::parse(kPsl);
  BOOST_TEST(aligned("mail.example.com", "example.com", Alignment::kRelaxed, *psl));
  BOOST_TEST(aligned("a.example.com", "b.example.com", Alignment::kRelaxed, *psl));
  BOOST_TEST(aligned("EXAMPLE.com.", "example.com", Alignment::kRelaxed, *psl));
  BOOST_TEST(!aligned("example.net", "example.com", Alignment::kRelaxed, *psl));
  BOOST_TEST(aligned("a.example.co.uk", "b.example.co.uk", Alignment::kRelaxed, *psl));
  BOOST_TEST(!aligned("example.co.uk", "other.co.uk", Alignment::kRelaxed, *psl));
  BOOST_TEST(!aligned("", "example.com", Alignment::kRelaxed, *psl));
}

BOOST_AUTO_TEST_CASE(strict_wants_the_same_name) {
  auto psl = PublicSuffixList::parse(kPsl);
  BOOST_TEST(aligned("Example.com", "example.com.", Alignment::kStrict, *psl));
  BOOST_TEST(!aligned("mail.example.com", "example.com", Alignment::kStrict, *psl));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(evaluation)

BOOST_AUTO_TEST_CASE(aligned_spf_pass_passes) {
  auto psl = PublicSuffixList::parse(kPsl);
  auto d = found("v=DMARC1; p=reject", "example.com");
  Evaluation e = evaluate(ids("example.com", "pass", "bounces.example.com"), d, *psl, 0);
  BOOST_TEST(e.outcome == Outcome::kPass);
  BOOST_TEST(e.spf_aligned);
  BOOST_TEST(!e.dkim_aligned);
  BOOST_TEST(e.policy == Policy::kReject);
  BOOST_TEST(e.disposition == Policy::kNone);
}

BOOST_AUTO_TEST_CASE(spf_must_pass_and_align) {
  auto psl = PublicSuffixList::parse(kPsl);
  auto d = found("v=DMARC1; p=reject", "example.com");
  BOOST_TEST(evaluate(ids("example.com", "softfail", "example.com"), d, *psl, 0).outcome ==
             Outcome::kFail);
  BOOST_TEST(evaluate(ids("example.com", "pass", "example.net"), d, *psl, 0).outcome ==
             Outcome::kFail);
  BOOST_TEST(evaluate(ids("example.com", "", ""), d, *psl, 0).disposition == Policy::kReject);
  auto strict = found("v=DMARC1; p=reject; aspf=s", "example.com");
  BOOST_TEST(evaluate(ids("example.com", "pass", "bounces.example.com"), strict, *psl, 0).outcome ==
             Outcome::kFail);
  BOOST_TEST(evaluate(ids("example.com", "pass", "example.com"), strict, *psl, 0).outcome ==
             Outcome::kPass);
}

BOOST_AUTO_TEST_CASE(aligned_dkim_pass_passes) {
  auto psl = PublicSuffixList::parse(kPsl);
  auto relaxed = found("v=DMARC1; p=reject", "example.com");
  Evaluation e =
      evaluate(ids("news.example.com", "fail", "example.com", {"other.org", "example.com"}),
               relaxed, *psl, 0);
  BOOST_TEST(e.outcome == Outcome::kPass);
  BOOST_TEST(e.dkim_aligned);
  auto strict = found("v=DMARC1; p=reject; adkim=s", "example.com");
  BOOST_TEST(evaluate(ids("news.example.com", "", "", {"example.com"}), strict, *psl, 0).outcome ==
             Outcome::kFail);
  BOOST_TEST(evaluate(ids("example.com", "", "", {"example.com"}), strict, *psl, 0).outcome ==
             Outcome::kPass);
  BOOST_TEST(evaluate(ids("example.com", "", "", {"example.net"}), relaxed, *psl, 0).outcome ==
             Outcome::kFail);
}

BOOST_AUTO_TEST_CASE(sp_applies_to_subdomains_found_through_the_organizational_domain) {
  auto psl = PublicSuffixList::parse(kPsl);
  auto at_org = found("v=DMARC1; p=reject; sp=quarantine", "example.com", true);
  Evaluation e = evaluate(ids("mail.example.com", "", ""), at_org, *psl, 0);
  BOOST_TEST(e.policy == Policy::kQuarantine);
  BOOST_TEST(e.disposition == Policy::kQuarantine);
  auto at_from = found("v=DMARC1; p=reject; sp=none", "mail.example.com", false);
  BOOST_TEST(evaluate(ids("mail.example.com", "", ""), at_from, *psl, 0).policy == Policy::kReject);
  auto no_sp = found("v=DMARC1; p=reject", "example.com", true);
  BOOST_TEST(evaluate(ids("mail.example.com", "", ""), no_sp, *psl, 0).policy == Policy::kReject);
}

BOOST_AUTO_TEST_CASE(pct_samples_failures_and_the_rest_get_the_next_lower_policy) {
  auto psl = PublicSuffixList::parse(kPsl);
  auto half = found("v=DMARC1; p=reject; pct=50", "example.com");
  auto fail = ids("example.com", "fail", "example.com");
  BOOST_TEST(evaluate(fail, half, *psl, 0).disposition == Policy::kReject);
  BOOST_TEST(evaluate(fail, half, *psl, 49).disposition == Policy::kReject);
  BOOST_TEST(evaluate(fail, half, *psl, 50).disposition == Policy::kQuarantine);
  BOOST_TEST(evaluate(fail, half, *psl, 99).disposition == Policy::kQuarantine);
  auto q0 = found("v=DMARC1; p=quarantine; pct=0", "example.com");
  BOOST_TEST(evaluate(fail, q0, *psl, 0).disposition == Policy::kNone);
  BOOST_TEST(evaluate(fail, q0, *psl, 0).outcome == Outcome::kFail);
  auto all = found("v=DMARC1; p=reject", "example.com");
  BOOST_TEST(evaluate(fail, all, *psl, 99).disposition == Policy::kReject);
  auto none = found("v=DMARC1; p=none; pct=10", "example.com");
  BOOST_TEST(evaluate(fail, none, *psl, 0).disposition == Policy::kNone);
}

BOOST_AUTO_TEST_CASE(errors_and_absence_pass_through) {
  auto psl = PublicSuffixList::parse(kPsl);
  Discovery none;
  none.domain = "example.com";
  BOOST_TEST(evaluate(ids("example.com", "", ""), none, *psl, 0).outcome == Outcome::kNone);
  Discovery temp;
  temp.status = Discovery::Status::kTempError;
  temp.error = "DNS lookup of _dmarc.example.com failed";
  Evaluation e = evaluate(ids("example.com", "", ""), temp, *psl, 0);
  BOOST_TEST(e.outcome == Outcome::kTempError);
  BOOST_TEST(e.disposition == Policy::kNone);
  BOOST_TEST(e.error == temp.error);
  Discovery perm;
  perm.status = Discovery::Status::kPermError;
  BOOST_TEST(evaluate(ids("example.com", "", ""), perm, *psl, 0).outcome == Outcome::kPermError);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::dmarc
