// check_host_test.cc - the SPF evaluation against a table of DNS answers: results, the
// processing limits (10 DNS terms, 2 void lookups, 10 MX/PTR names, the time limit), include
// and redirect semantics and loops, explanations and %{p}.
#include <boost/test/unit_test.hpp>

#include <string>

#include "tests/spf/fake_spf_dns.h"

namespace hato::policy::spf {
namespace {

using testing::FakeSpfDns;
using testing::run_check;

std::string result(const SpfOutcome& o) {
  return spf_result_name(o.result);
}

BOOST_AUTO_TEST_CASE(basic_results) {
  FakeSpfDns dns;
  dns.add_txt("example.com", "v=spf1 ip4:192.0.2.0/24 ~all");
  dns.add_txt("example.com", "some other TXT record");
  dns.add_txt("neutral.example.com", "v=spf1 ip4:192.0.2.1");
  dns.add_a("nospf.example.com", "192.0.2.1");
  BOOST_TEST(result(run_check(dns, "192.0.2.9", "a@example.com")) == "pass");
  BOOST_TEST(result(run_check(dns, "198.51.100.1", "a@example.com")) == "softfail");
  BOOST_TEST(result(run_check(dns, "198.51.100.1", "a@neutral.example.com")) == "neutral");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@nospf.example.com")) == "none");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@nowhere.example.com")) == "none");
}

BOOST_AUTO_TEST_CASE(malformed_domains_give_none_without_a_lookup) {
  FakeSpfDns dns;
  std::string long_label(64, 'a');
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@" + long_label + ".example.com")) == "none");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@a..example.com")) == "none");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@[192.0.2.1]")) == "none");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "", "localhost")) == "none");
  BOOST_TEST(dns.log.empty());
}

BOOST_AUTO_TEST_CASE(record_selection) {
  FakeSpfDns dns;
  dns.add_txt("two.example.com", "v=spf1 -all");
  dns.add_txt("two.example.com", "V=SPF1 +all");
  dns.add_txt("case.example.com", "v=SpF1 ~all");
  dns.add_txt("bad.example.com", "v=spf1 a:museum -all");
  dns.add_txt("broken.example.com", "v=spf1 ip4:192.0.2.1 -all moo");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@two.example.com")) == "permerror");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@case.example.com")) == "softfail");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@bad.example.com")) == "permerror");
  // The error is found before ip4 could match.
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@broken.example.com")) == "permerror");
}

BOOST_AUTO_TEST_CASE(dns_failures_are_temperror) {
  FakeSpfDns dns;
  dns.set_timeout("slow.example.com");
  dns.add_txt("a.example.com", "v=spf1 a:slow.example.com -all");
  dns.add_txt("mx.example.com", "v=spf1 mx:slow.example.com -all");
  dns.add_txt("ex.example.com", "v=spf1 exists:slow.example.com -all");
  dns.add_txt("inc.example.com", "v=spf1 include:slow.example.com -all");
  for (const char* d : {"slow", "a", "mx", "ex", "inc"}) {
    BOOST_TEST(
        result(run_check(dns, "192.0.2.1", std::string("x@") + d + ".example.com")) == "temperror",
        d);
  }
}

BOOST_AUTO_TEST_CASE(a_and_mx_use_the_clients_family) {
  FakeSpfDns dns;
  dns.add_txt("example.com", "v=spf1 a mx/24//64 -all");
  dns.add_a("example.com", "192.0.2.1");
  dns.add_aaaa("example.com", "2001:db8::1");
  dns.add_mx("example.com", 10, "mx.example.com");
  dns.add_a("mx.example.com", "198.51.100.1");
  dns.add_aaaa("mx.example.com", "2001:db8:1::1");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@example.com")) == "pass");
  BOOST_TEST(result(run_check(dns, "::ffff:192.0.2.1", "a@example.com")) == "pass");
  BOOST_TEST(result(run_check(dns, "2001:db8::1", "a@example.com")) == "pass");
  BOOST_TEST(result(run_check(dns, "198.51.100.200", "a@example.com")) == "pass");    // mx /24
  BOOST_TEST(result(run_check(dns, "2001:db8:1::ffff", "a@example.com")) == "pass");  // mx //64
  BOOST_TEST(result(run_check(dns, "2001:db8:2::1", "a@example.com")) == "fail");
  BOOST_TEST(result(run_check(dns, "203.0.113.1", "a@example.com")) == "fail");
}

BOOST_AUTO_TEST_CASE(ten_dns_terms_at_most) {
  FakeSpfDns dns;
  dns.add_a("h.example.com", "198.51.100.1");
  std::string ten = "v=spf1";
  for (int i = 0; i < 10; ++i) ten += " a:h.example.com";
  dns.add_txt("ten.example.com", ten + " ip4:192.0.2.1 -all");
  dns.add_txt("eleven.example.com", ten + " a:h.example.com ip4:192.0.2.1 -all");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@ten.example.com")) == "pass");
  auto over = run_check(dns, "192.0.2.1", "a@eleven.example.com");
  BOOST_TEST(result(over) == "permerror");
  BOOST_TEST(over.problem.find("DNS-querying terms") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(include_and_redirect_loops_end_at_the_limit) {
  FakeSpfDns dns;
  dns.add_txt("e2.example.com", "v=spf1 include:e3.example.com");
  dns.add_txt("e3.example.com", "v=spf1 include:e2.example.com");
  dns.add_txt("self.example.com", "v=spf1 ip4:192.0.2.200 redirect=self.example.com");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@e2.example.com")) == "permerror");
  BOOST_TEST(dns.count("TXT") <= 11u);
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@self.example.com")) == "permerror");
}

BOOST_AUTO_TEST_CASE(void_lookups_two_at_most) {
  FakeSpfDns dns;
  dns.add_txt("two.example.com", "v=spf1 a:nx1.example.com mx:nx2.example.com ?all");
  dns.add_txt("three.example.com",
              "v=spf1 a:nx1.example.com exists:nx2.example.com a:nx3.example.com ?all");
  dns.add_a("noaaaa.example.com", "192.0.2.1");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@two.example.com")) == "neutral");
  auto over = run_check(dns, "192.0.2.1", "a@three.example.com");
  BOOST_TEST(result(over) == "permerror");
  BOOST_TEST(over.problem.find("void") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(include_semantics) {
  FakeSpfDns dns;
  dns.add_txt("pass.example.com", "v=spf1 ip4:192.0.2.1 -all");
  dns.add_txt("fails.example.com", "v=spf1 -all");
  dns.add_txt("t1.example.com", "v=spf1 include:pass.example.com -all");
  dns.add_txt("t2.example.com", "v=spf1 include:fails.example.com ~all");
  dns.add_txt("t3.example.com", "v=spf1 include:none.example.com ~all");
  dns.add_a("none.example.com", "192.0.2.1");
  dns.add_txt("t4.example.com", "v=spf1 redirect=none.example.com");
  dns.add_txt("t5.example.com", "v=spf1 redirect=fails.example.com");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@t1.example.com")) == "pass");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@t2.example.com")) == "softfail");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@t3.example.com")) == "permerror");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@t4.example.com")) == "permerror");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@t5.example.com")) == "fail");
}

BOOST_AUTO_TEST_CASE(more_than_ten_mx_names_is_an_error) {
  FakeSpfDns dns;
  dns.add_txt("ten.example.com", "v=spf1 mx -all");
  dns.add_txt("eleven.example.com", "v=spf1 mx -all");
  for (int i = 0; i < 10; ++i) {
    dns.add_mx("ten.example.com", static_cast<uint16_t>(i), "mx.example.com");
    dns.add_mx("eleven.example.com", static_cast<uint16_t>(i), "mx.example.com");
  }
  dns.add_mx("eleven.example.com", 99, "mx.example.com");
  dns.add_a("mx.example.com", "192.0.2.1");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@ten.example.com")) == "pass");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@eleven.example.com")) == "permerror");
}

BOOST_AUTO_TEST_CASE(ptr_validates_and_stops_at_ten_names) {
  FakeSpfDns dns;
  dns.add_txt("example.com", "v=spf1 ptr -all");
  dns.add_ptr("192.0.2.1", "mail.example.com");
  dns.add_a("mail.example.com", "192.0.2.1");
  dns.add_ptr("192.0.2.2", "forged.example.com");  // does not point back
  dns.add_a("forged.example.com", "192.0.2.99");
  for (int i = 0; i < 10; ++i) dns.add_ptr("192.0.2.3", "n" + std::to_string(i) + ".example.org");
  dns.add_ptr("192.0.2.3", "late.example.com");
  dns.add_a("late.example.com", "192.0.2.3");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@example.com")) == "pass");
  BOOST_TEST(result(run_check(dns, "192.0.2.2", "a@example.com")) == "fail");
  BOOST_TEST(result(run_check(dns, "192.0.2.3", "a@example.com")) == "fail");
  BOOST_TEST(dns.count("A late.example.com") == 0u);
}

BOOST_AUTO_TEST_CASE(explanations) {
  FakeSpfDns dns;
  dns.add_txt("example.com", "v=spf1 -all exp=why.%{d}");
  dns.add_txt("why.example.com", "%{l} from %{c} (%{v}) is not allowed to send for %{o} at %{t}");
  dns.add_txt("bad.example.com", "v=spf1 -all exp=broken.example.com");
  dns.add_txt("broken.example.com", "The %{x}-files");
  dns.add_txt("redir.example.com", "v=spf1 exp=nope.example.com redirect=example.com");
  auto fail = run_check(dns, "192.0.2.1", "joe@example.com");
  BOOST_TEST(result(fail) == "fail");
  BOOST_TEST(fail.explanation ==
             "joe from 192.0.2.1 (in-addr) is not allowed to send for example.com at 1700000000");
  SpfOptions options;
  options.default_explanation = "DEFAULT";
  BOOST_TEST(
      run_check(dns, "192.0.2.1", "joe@bad.example.com", "h.example.net", options).explanation ==
      "DEFAULT");
  // A redirect uses its target's exp=, not the original record's.
  BOOST_TEST(run_check(dns, "192.0.2.1", "joe@redir.example.com").explanation ==
             "joe from 192.0.2.1 (in-addr) is not allowed to send for redir.example.com at "
             "1700000000");
}

BOOST_AUTO_TEST_CASE(null_sender_checks_the_helo) {
  FakeSpfDns dns;
  dns.add_txt("mx.example.net", "v=spf1 -all exp=why.example.net");
  dns.add_txt("why.example.net", "%{s} via %{h}");
  auto out = run_check(dns, "192.0.2.1", "", "mx.example.net");
  BOOST_TEST(result(out) == "fail");
  BOOST_TEST(out.explanation == "postmaster@mx.example.net via mx.example.net");
}

BOOST_AUTO_TEST_CASE(p_macro_prefers_the_domain) {
  FakeSpfDns dns;
  dns.add_txt("example.com", "v=spf1 exists:%{p}.ok.example.com -all");
  dns.add_ptr("192.0.2.1", "other.example.org");
  dns.add_ptr("192.0.2.1", "mx.example.com");
  dns.add_a("other.example.org", "192.0.2.1");
  dns.add_a("mx.example.com", "192.0.2.1");
  dns.add_a("mx.example.com.ok.example.com", "127.0.0.2");
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@example.com")) == "pass");
  // No PTR at all: "unknown".
  dns.add_a("unknown.ok.example.com", "127.0.0.2");
  BOOST_TEST(result(run_check(dns, "192.0.2.7", "a@example.com")) == "pass");
}

BOOST_AUTO_TEST_CASE(time_limit_gives_temperror) {
  FakeSpfDns dns;
  dns.add_txt("example.com", "v=spf1 a -all");
  SpfOptions options;
  options.time_limit = std::chrono::milliseconds(-1);
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@example.com", "h.example.net", options)) ==
             "temperror");
}

BOOST_AUTO_TEST_CASE(late_answers_after_the_end_are_ignored) {
  FakeSpfDns dns;
  dns.add_txt("example.com", "v=spf1 mx a -all");
  dns.add_mx("example.com", 10, "mx1.example.com");
  dns.add_mx("example.com", 20, "mx2.example.com");
  dns.set_timeout("mx1.example.com");
  dns.add_a("mx2.example.com", "192.0.2.1");
  // mx1 times out before mx2 is looked at: temperror, and mx2's answer changes nothing.
  BOOST_TEST(result(run_check(dns, "192.0.2.1", "a@example.com")) == "temperror");
}

BOOST_AUTO_TEST_CASE(dropped_lookups_free_the_evaluation) {
  FakeSpfDns dns;
  dns.add_txt("example.com", "v=spf1 exists:%{p}.x.example.com -all");
  dns.add_ptr("192.0.2.1", "mx.example.com");
  auto token = std::make_shared<int>(0);
  bool called = false;
  std::shared_ptr<SpfDns> shared(std::shared_ptr<void>(), &dns);
  check_host(shared, SpfOptions{},
             mail_from_request(SocketAddress::parse("192.0.2.1", 0).value(), "a@example.com",
                               "h.example.net"),
             [token, &called](SpfOutcome) { called = true; });
  BOOST_TEST(dns.step());  // the TXT answer: the evaluation now waits on PTR for %{p}
  BOOST_TEST(dns.pending() == 1u);
  dns.drop();
  BOOST_TEST(!called);
  BOOST_TEST(token.use_count() == 1);  // the evaluation, and its callback, are gone
}

}  // namespace
}  // namespace hato::policy::spf
