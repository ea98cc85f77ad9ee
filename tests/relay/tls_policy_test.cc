// tls_policy_test.cc - host_tls(), tlsa_applies() and filter_sts_hosts() against every case of
// RFC 8461 section 4 (MTA-STS policy application) and RFC 7672 sections 2.2 (DNSSEC status of
// MX, address and TLSA answers) and 3 (TLSA usages and the names a certificate must carry).
#define BOOST_TEST_MODULE tls_policy
#include "relay/tls_policy.h"

#include <boost/test/unit_test.hpp>

namespace hato::relay {
namespace {

using policy::mta_sts::Mode;
using K = net::PeerCheck::Kind;

policy::mta_sts::Policy sts(Mode mode, std::vector<std::string> mx) {
  policy::mta_sts::Policy p;
  p.mode = mode;
  p.mx = std::move(mx);
  p.id = "20261207";
  p.max_age = 86400;
  return p;
}

net::TlsaResult tlsa(net::DnsStatus status, bool secure, std::vector<uint8_t> usages = {}) {
  net::TlsaResult r;
  r.status = status;
  r.authenticated = secure;
  for (uint8_t u : usages) r.records.push_back({u, 1, 1, std::string(32, '\x5a')});
  return r;
}

const auto kEnforceListed = sts(Mode::kEnforce, {"mx.example.com"});
const auto kEnforceWildcard = sts(Mode::kEnforce, {"*.example.com"});
const auto kEnforceOther = sts(Mode::kEnforce, {"mx.elsewhere.net"});
const auto kTestingOther = sts(Mode::kTesting, {"mx.elsewhere.net"});
const auto kTestingListed = sts(Mode::kTesting, {"mx.example.com"});
const auto kNone = sts(Mode::kNone, {});
const auto kDaneEe = tlsa(net::DnsStatus::kOk, true, {3});
const auto kDaneTa = tlsa(net::DnsStatus::kOk, true, {2});
const auto kPkixOnly = tlsa(net::DnsStatus::kOk, true, {0, 1});
const auto kUnsigned = tlsa(net::DnsStatus::kOk, false, {3});
const auto kSecureNoData = tlsa(net::DnsStatus::kNoData, true);
const auto kSecureNx = tlsa(net::DnsStatus::kNxDomain, true);
const auto kServFail = tlsa(net::DnsStatus::kServFail, false);
const auto kTimeout = tlsa(net::DnsStatus::kTimeout, false);

struct Case {
  const char* name;
  TlsPolicyInput in;
  ClientTls mode;
  K check;
  bool enforce;  // of the certificate check
  const char* policy;
  bool mandatory;
  bool skip;
  const char* report;  // with skip
};

TlsPolicyInput mx(const char* host, const policy::mta_sts::Policy* p, bool secure = false,
                  const net::TlsaResult* t = nullptr, const char* configured = "opportunistic") {
  TlsPolicyInput in;
  in.route = RouteKind::kMx;
  in.configured = configured;
  in.destination = "example.com";
  in.mx_host = host;
  in.sts = p;
  in.mx_secure = secure;
  in.tlsa = t;
  return in;
}

TlsPolicyInput smarthost(const char* tls, bool login) {
  TlsPolicyInput in;
  in.route = RouteKind::kSmarthost;
  in.smarthost_tls = tls;
  in.smarthost_login = login;
  in.sts = &kEnforceOther;  // never consulted for a smarthost
  return in;
}

const Case kCases[] = {
    // No policy at all: delivery.tls decides.
    {"no policy, opportunistic", mx("mx.example.com", nullptr), ClientTls::kOpportunistic, K::kNone,
     false, "opportunistic", false, false, ""},
    {"no policy, delivery.tls required", mx("mx.example.com", nullptr, false, nullptr, "required"),
     ClientTls::kRequired, K::kNone, false, "required", false, false, ""},
    // RFC 8461 5: mode none is as if there were no policy.
    {"sts none", mx("mx.example.com", &kNone), ClientTls::kOpportunistic, K::kNone, false,
     "opportunistic", false, false, ""},
    // RFC 8461 4.1 and 4.2 under enforce: a listed host needs TLS and a valid certificate.
    {"sts enforce, mx listed", mx("mx.example.com", &kEnforceListed), ClientTls::kRequired,
     K::kPkix, true, "mta-sts", true, false, ""},
    {"sts enforce, wildcard matches one label", mx("mx2.example.com", &kEnforceWildcard),
     ClientTls::kRequired, K::kPkix, true, "mta-sts", true, false, ""},
    {"sts enforce, wildcard does not match two labels", mx("a.b.example.com", &kEnforceWildcard),
     ClientTls::kOpportunistic, K::kNone, false, "opportunistic", false, true,
     "validation-failure"},
    {"sts enforce, wildcard does not match the bare domain", mx("example.com", &kEnforceWildcard),
     ClientTls::kOpportunistic, K::kNone, false, "opportunistic", false, true,
     "validation-failure"},
    {"sts enforce, mx not listed", mx("mx.example.com", &kEnforceOther), ClientTls::kOpportunistic,
     K::kNone, false, "opportunistic", false, true, "validation-failure"},
    // RFC 8461 5 under testing: checked and reported, delivered whatever the outcome.
    {"sts testing, mx listed", mx("mx.example.com", &kTestingListed), ClientTls::kOpportunistic,
     K::kPkix, false, "mta-sts-testing", false, false, ""},
    {"sts testing, mx not listed", mx("mx.example.com", &kTestingOther), ClientTls::kOpportunistic,
     K::kPkix, false, "mta-sts-testing", false, false, ""},
    // RFC 7672 2.2: TLSA answers count only when secure.
    {"dane-ee, secure", mx("mx.example.com", nullptr, true, &kDaneEe), ClientTls::kRequired,
     K::kDane, true, "dane", true, false, ""},
    {"dane-ta, secure", mx("mx.example.com", nullptr, true, &kDaneTa), ClientTls::kRequired,
     K::kDane, true, "dane", true, false, ""},
    {"tlsa without the AD bit is ignored", mx("mx.example.com", nullptr, true, &kUnsigned),
     ClientTls::kOpportunistic, K::kNone, false, "opportunistic", false, false, ""},
    {"tlsa under an insecure MX answer is ignored", mx("mx.example.com", nullptr, false, &kDaneEe),
     ClientTls::kOpportunistic, K::kNone, false, "opportunistic", false, false, ""},
    {"secure NODATA: no dane", mx("mx.example.com", nullptr, true, &kSecureNoData),
     ClientTls::kOpportunistic, K::kNone, false, "opportunistic", false, false, ""},
    {"secure NXDOMAIN: no dane", mx("mx.example.com", nullptr, true, &kSecureNx),
     ClientTls::kOpportunistic, K::kNone, false, "opportunistic", false, false, ""},
    {"tlsa SERVFAIL (bogus or indeterminate): host unusable",
     mx("mx.example.com", nullptr, true, &kServFail), ClientTls::kOpportunistic, K::kNone, false,
     "", false, true, "dnssec-invalid"},
    {"tlsa timeout: host unusable", mx("mx.example.com", nullptr, true, &kTimeout),
     ClientTls::kOpportunistic, K::kNone, false, "", false, true, "dnssec-invalid"},
    // RFC 7672 3.1.3: PKIX-TA(0) and PKIX-EE(1) are unusable; TLS stays mandatory.
    {"only pkix usages: mandatory tls without authentication",
     mx("mx.example.com", nullptr, true, &kPkixOnly), ClientTls::kRequired, K::kNone, false, "dane",
     true, false, ""},
    // RFC 8461 2: DANE takes precedence over MTA-STS.
    {"dane wins over an enforce policy that does not list the mx",
     mx("mx.example.com", &kEnforceOther, true, &kDaneEe), ClientTls::kRequired, K::kDane, true,
     "dane", true, false, ""},
    {"secure mx, no tlsa, enforce not listing the mx: skipped",
     mx("mx.example.com", &kEnforceOther, true, &kSecureNoData), ClientTls::kOpportunistic,
     K::kNone, false, "opportunistic", false, true, "validation-failure"},
    {"secure mx, no tlsa, enforce listing the mx: mta-sts",
     mx("mx.example.com", &kEnforceListed, true, &kSecureNoData), ClientTls::kRequired, K::kPkix,
     true, "mta-sts", true, false, ""},
    // Smarthost and LMTP routes have their own settings; MTA-STS is not consulted.
    {"smarthost starttls", smarthost("starttls", false), ClientTls::kRequired, K::kNone, false,
     "required", false, false, ""},
    {"smarthost implicit", smarthost("implicit", true), ClientTls::kImplicit, K::kNone, false,
     "required", false, false, ""},
    {"smarthost none", smarthost("none", false), ClientTls::kNone, K::kNone, false, "none", false,
     false, ""},
    {"smarthost none with a login still uses tls", smarthost("none", true), ClientTls::kRequired,
     K::kNone, false, "required", false, false, ""},
};

BOOST_AUTO_TEST_CASE(every_case_of_rfc8461_section_4_and_rfc7672_sections_2_2_and_3) {
  for (const auto& c : kCases) {
    BOOST_TEST_CONTEXT(c.name) {
      HostTls out = host_tls(c.in);
      BOOST_TEST(out.skip == c.skip);
      if (c.skip) {
        BOOST_TEST(out.report == c.report);
        BOOST_TEST(!out.reason.empty());
        continue;
      }
      BOOST_TEST(static_cast<int>(out.mode) == static_cast<int>(c.mode));
      BOOST_TEST(static_cast<int>(out.check.kind) == static_cast<int>(c.check));
      BOOST_TEST(out.check.enforce == c.enforce);
      BOOST_TEST(out.policy == c.policy);
      BOOST_TEST(out.mandatory == c.mandatory);
    }
  }
}

BOOST_AUTO_TEST_CASE(dane_checks_the_mx_name_then_the_destination_with_usable_records_only) {
  net::TlsaResult mixed = tlsa(net::DnsStatus::kOk, true, {0, 3, 1, 2});
  HostTls out = host_tls(mx("mx.example.com", nullptr, true, &mixed));
  BOOST_TEST(out.check.names == (std::vector<std::string>{"mx.example.com", "example.com"}),
             boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(out.check.tlsa.size() == 2u);
  BOOST_TEST(out.check.tlsa[0].usage == 3);
  BOOST_TEST(out.check.tlsa[1].usage == 2);
  // An implicit MX (the domain itself): its name once.
  HostTls implicit = host_tls(mx("example.com", nullptr, true, &kDaneEe));
  BOOST_TEST(implicit.check.names == (std::vector<std::string>{"example.com"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(mta_sts_checks_the_certificate_for_the_mx_name) {
  HostTls out = host_tls(mx("mx.example.com", &kEnforceListed));
  BOOST_TEST(out.check.names == (std::vector<std::string>{"mx.example.com"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(tlsa_is_asked_only_under_a_secure_mx_and_secure_addresses) {
  BOOST_TEST(tlsa_applies(RouteKind::kMx, true, true));
  BOOST_TEST(!tlsa_applies(RouteKind::kMx, false, true));
  BOOST_TEST(!tlsa_applies(RouteKind::kMx, true, false));
  BOOST_TEST(!tlsa_applies(RouteKind::kSmarthost, true, true));
  BOOST_TEST(!tlsa_applies(RouteKind::kLmtp, true, true));
}

BOOST_AUTO_TEST_CASE(lmtp_is_a_local_service_without_tls) {
  TlsPolicyInput in;
  in.route = RouteKind::kLmtp;
  HostTls out = host_tls(in);
  BOOST_TEST(static_cast<int>(out.mode) == static_cast<int>(ClientTls::kNone));
  BOOST_TEST(out.policy == "none");
}

BOOST_AUTO_TEST_CASE(enforce_drops_unlisted_hosts_before_any_is_tried) {
  std::vector<std::string> hosts = {"mx1.example.com", "backup.other.net", "mx2.example.com"};
  auto f = filter_sts_hosts(&kEnforceWildcard, hosts, false);
  BOOST_TEST(f.allowed == (std::vector<std::string>{"mx1.example.com", "mx2.example.com"}),
             boost::test_tools::per_element());
  BOOST_TEST(f.refused == (std::vector<std::string>{"backup.other.net"}),
             boost::test_tools::per_element());
  BOOST_TEST(!f.nothing_allowed);
}

BOOST_AUTO_TEST_CASE(enforce_listing_no_mx_leaves_nothing_to_try) {
  auto f = filter_sts_hosts(&kEnforceOther, {"mx.example.com"}, false);
  BOOST_TEST(f.allowed.empty());
  BOOST_TEST(f.nothing_allowed);
}

BOOST_AUTO_TEST_CASE(a_secure_mx_set_is_judged_host_by_host_not_in_advance) {
  auto f = filter_sts_hosts(&kEnforceOther, {"mx.example.com"}, true);
  BOOST_TEST(f.allowed == (std::vector<std::string>{"mx.example.com"}),
             boost::test_tools::per_element());
  BOOST_TEST(!f.nothing_allowed);
  BOOST_TEST(f.refused.size() == 1u);  // still named in the log
}

BOOST_AUTO_TEST_CASE(testing_and_none_keep_every_host) {
  auto t = filter_sts_hosts(&kTestingOther, {"mx.example.com"}, false);
  BOOST_TEST(t.allowed.size() == 1u);
  BOOST_TEST(t.refused.size() == 1u);
  BOOST_TEST(!t.nothing_allowed);
  auto n = filter_sts_hosts(&kNone, {"mx.example.com"}, false);
  BOOST_TEST(n.allowed.size() == 1u);
  BOOST_TEST(n.refused.empty());
  auto none = filter_sts_hosts(nullptr, {"mx.example.com"}, false);
  BOOST_TEST(none.allowed.size() == 1u);
}

}  // namespace
}  // namespace hato::relay
