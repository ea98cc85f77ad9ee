// checks_test.cc - the inbound hooks over a fake resolver whose answers come late, as the loop
// would deliver them: DNSBL at connect and MAIL, DKIM verification, removal of forged
// Authentication-Results, DMARC in each mode.
#include <boost/test/unit_test.hpp>

#include <ctime>
#include <optional>

#include "inbound/checks.h"
#include "policy/dkim/key.h"
#include "policy/dkim/signer.h"
#include "tests/net/fake_resolver.h"

namespace hato::inbound {
namespace {

using policy::Verdict;
using testing::FakeResolver;

const char kPsl[] = "com\norg\nnet\ntest\nuk\nco.uk\n";

struct Fixture {
  conf::Config config;
  policy::SessionInfo session;
  std::string sender = "someone@example.org";
  std::string recipient;
  policy::TransactionState tx;
  std::string message;
  FakeResolver dns;

  Fixture() {
    config.hostname = "relay.example.test";
    session.role = conf::ListenerRole::kInbound;
    session.peer = SocketAddress::parse("127.0.0.2:40000").value();
  }

  policy::HookContext context(bool with_message) {
    return policy::HookContext{session,   config, sender,
                               recipient, tx,     with_message ? &message : nullptr};
  }

  // Runs a hook and then the "loop"; the verdict, and whether it came before any DNS answer.
  Verdict run(policy::Hook& hook, bool with_message, bool* answered_at_once = nullptr) {
    std::optional<Verdict> verdict;
    auto ctx = context(with_message);
    hook.run(ctx, [&](Verdict v) {
      BOOST_TEST(!verdict.has_value(), "done called twice");
      verdict = std::move(v);
    });
    if (answered_at_once) *answered_at_once = verdict.has_value();
    dns.run_pending();
    BOOST_TEST_REQUIRE(verdict.has_value());
    return *verdict;
  }
};

bool proceeds(const Verdict& v) {
  return v.kind == Verdict::Kind::kContinue;
}

// -- DNSBL ---------------------------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(dnsbl_hook)

BOOST_AUTO_TEST_CASE(a_listed_client_is_refused_with_the_zone_and_reason) {
  Fixture f;
  f.config.inbound.dnsbl = {{"ok.test", conf::DnsblAction::kReject},
                            {"bl.test", conf::DnsblAction::kReject}};
  f.dns.add_a("2.0.0.127.bl.test", {"127.0.0.2"});
  f.dns.add_txt("2.0.0.127.bl.test", {"Listed\r\nsee http://bl.test/127.0.0.2"});
  DnsblHook hook(f.dns, conf::DnsblAction::kReject);
  bool at_once = true;
  Verdict v = f.run(hook, false, &at_once);
  BOOST_TEST(!at_once);  // it waited for DNS
  BOOST_TEST((v.kind == Verdict::Kind::kDisconnect));
  BOOST_TEST(v.code == 554);
  BOOST_TEST(v.text ==
             "5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test; Listed see "
             "http://bl.test/127.0.0.2");
  BOOST_TEST(f.dns.queries[0] == "A 2.0.0.127.ok.test");
  BOOST_TEST(f.dns.queries[1] == "A 2.0.0.127.bl.test");
}

BOOST_AUTO_TEST_CASE(a_listing_without_txt_still_names_the_zone) {
  Fixture f;
  f.config.inbound.dnsbl = {{"bl.test", conf::DnsblAction::kReject}};
  f.dns.add_a("2.0.0.127.bl.test", {"127.0.0.4"});
  DnsblHook hook(f.dns, conf::DnsblAction::kReject);
  Verdict v = f.run(hook, false);
  BOOST_TEST(v.text == "5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.test");
}

BOOST_AUTO_TEST_CASE(error_answers_and_failed_lookups_let_the_client_in) {
  Fixture f;
  f.config.inbound.dnsbl = {{"refusing.test", conf::DnsblAction::kReject},
                            {"down.test", conf::DnsblAction::kReject},
                            {"clean.test", conf::DnsblAction::kReject}};
  f.dns.add_a("2.0.0.127.refusing.test", {"127.255.255.254"});
  f.dns.fail_a("2.0.0.127.down.test");
  DnsblHook hook(f.dns, conf::DnsblAction::kReject);
  BOOST_TEST(proceeds(f.run(hook, false)));
  BOOST_TEST(f.dns.queries.size() == 3u);  // and no TXT lookup for a reason
}

BOOST_AUTO_TEST_CASE(ipv6_clients_are_asked_by_nibbles) {
  Fixture f;
  f.session.peer = SocketAddress::parse("[2001:db8::1]:25").value();
  f.config.inbound.dnsbl = {{"bl.test", conf::DnsblAction::kReject}};
  std::string name = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test";
  f.dns.add_a(name, {"127.0.0.2"});
  DnsblHook hook(f.dns, conf::DnsblAction::kReject);
  Verdict v = f.run(hook, false);
  BOOST_TEST(v.code == 554);
  BOOST_TEST(v.text.find("client [2001:db8::1] blocked using bl.test") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(only_inbound_listeners_and_untrusted_peers_are_checked) {
  Fixture f;
  f.config.inbound.dnsbl = {{"bl.test", conf::DnsblAction::kReject}};
  f.dns.add_a("2.0.0.127.bl.test", {"127.0.0.2"});
  DnsblHook hook(f.dns, conf::DnsblAction::kReject);
  f.session.role = conf::ListenerRole::kSubmission;
  BOOST_TEST(proceeds(f.run(hook, false)));
  f.session.role = conf::ListenerRole::kInbound;
  f.session.trusted = true;
  BOOST_TEST(proceeds(f.run(hook, false)));
  BOOST_TEST(f.dns.queries.empty());
}

BOOST_AUTO_TEST_CASE(mark_zones_add_a_header_field_and_accept) {
  Fixture f;
  f.config.inbound.dnsbl = {{"bl.test", conf::DnsblAction::kReject},
                            {"mark.test", conf::DnsblAction::kMark}};
  f.dns.add_a("2.0.0.127.bl.test", {"127.0.0.2"});
  f.dns.add_a("2.0.0.127.mark.test", {"127.0.0.3"});
  DnsblHook mark(f.dns, conf::DnsblAction::kMark);
  BOOST_TEST(proceeds(f.run(mark, false)));
  BOOST_TEST(f.dns.queries == std::vector<std::string>{"A 2.0.0.127.mark.test"});
  BOOST_TEST(
      f.tx.add_headers ==
      std::vector<std::string>{"X-DNSBL: client [127.0.0.2] listed in mark.test (127.0.0.3)\r\n"});
}

BOOST_AUTO_TEST_SUITE_END()

// -- DKIM ----------------------------------------------------------------------------------------

const char kPlain[] =
    "From: Ann <ann@example.org>\r\n"
    "To: support@example.test\r\n"
    "Subject: hello\r\n"
    "Date: Sat, 28 Nov 2026 07:14:56 +0000\r\n"
    "Message-ID: <1@example.org>\r\n"
    "\r\n"
    "Hello.\r\n";

// kPlain signed by example.org (selector s1, Ed25519), with the key published in `dns`.
std::string signed_message(FakeResolver& dns, const std::string& domain = "example.org",
                           const std::string& message = kPlain) {
  auto pem = dkim::generate_key_pem(dkim::Algorithm::kEd25519Sha256);
  BOOST_TEST_REQUIRE(pem.is_ok(), pem.message());
  auto key = dkim::parse_key(*pem, domain, "s1", dkim::Algorithm::kEd25519Sha256);
  BOOST_TEST_REQUIRE(key.is_ok(), key.message());
  dns.add_txt(dkim::key_record_name("s1", domain), {dkim::public_key_record(*key)});
  dkim::Signer signer({*key});
  auto fields = signer.sign(message, time(nullptr));
  BOOST_TEST_REQUIRE(fields.is_ok(), fields.message());
  return *fields + message;
}

BOOST_AUTO_TEST_SUITE(dkim_hook)

BOOST_AUTO_TEST_CASE(a_good_signature_passes_and_its_domain_is_kept) {
  Fixture f;
  f.message = signed_message(f.dns);
  DkimVerifyHook hook(f.dns);
  BOOST_TEST(proceeds(f.run(hook, true)));
  BOOST_TEST(f.tx.auth_results ==
             std::vector<std::string>{"dkim=pass header.d=example.org header.s=s1 "
                                      "header.a=ed25519-sha256"});
  BOOST_TEST(f.tx.dkim_pass_domains == std::vector<std::string>{"example.org"});
}

BOOST_AUTO_TEST_CASE(a_changed_body_fails) {
  Fixture f;
  f.message = signed_message(f.dns) + "P.S. added in transit\r\n";
  DkimVerifyHook hook(f.dns);
  BOOST_TEST(proceeds(f.run(hook, true)));
  BOOST_TEST_REQUIRE(f.tx.auth_results.size() == 1u);
  BOOST_TEST(f.tx.auth_results[0].starts_with("dkim=fail ("));
  BOOST_TEST(f.tx.auth_results[0].find("header.d=example.org header.s=s1") != std::string::npos);
  BOOST_TEST(f.tx.dkim_pass_domains.empty());
}

BOOST_AUTO_TEST_CASE(no_signature_is_none) {
  Fixture f;
  f.message = kPlain;
  DkimVerifyHook hook(f.dns);
  BOOST_TEST(proceeds(f.run(hook, true)));
  BOOST_TEST(f.tx.auth_results == std::vector<std::string>{"dkim=none"});
}

BOOST_AUTO_TEST_CASE(a_missing_key_is_a_permerror) {
  Fixture f;
  f.message = signed_message(f.dns);
  f.dns.txt_answers.clear();
  DkimVerifyHook hook(f.dns);
  BOOST_TEST(proceeds(f.run(hook, true)));
  BOOST_TEST_REQUIRE(f.tx.auth_results.size() == 1u);
  BOOST_TEST(f.tx.auth_results[0].starts_with("dkim=permerror"));
}

BOOST_AUTO_TEST_CASE(submission_is_not_verified) {
  Fixture f;
  f.session.role = conf::ListenerRole::kSubmission;
  f.message = kPlain;
  DkimVerifyHook hook(f.dns);
  BOOST_TEST(proceeds(f.run(hook, true)));
  BOOST_TEST(f.tx.auth_results.empty());
}

BOOST_AUTO_TEST_SUITE_END()

// -- Authentication-Results ----------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(auth_results)

BOOST_AUTO_TEST_CASE(fields_claiming_our_id_are_removed) {
  std::string message =
      "Authentication-Results: relay.example.test; spf=pass\r\n"
      "\tsmtp.mailfrom=a@example.org\r\n"
      "Received: from x\r\n"
      "authentication-results : (forged) \"RELAY.Example.Test.\" 1; dkim=pass\r\n"
      "Authentication-Results: mx.example.org; dkim=pass header.d=example.org\r\n"
      "Authentication-Results: relay.example.test.evil; dmarc=pass\r\n"
      "Subject: s\r\n"
      "\r\n"
      "Authentication-Results: relay.example.test; in the body stays\r\n";
  BOOST_TEST(remove_auth_results(message, "relay.example.test") == 2u);
  BOOST_TEST(message ==
             "Received: from x\r\n"
             "Authentication-Results: mx.example.org; dkim=pass header.d=example.org\r\n"
             "Authentication-Results: relay.example.test.evil; dmarc=pass\r\n"
             "Subject: s\r\n"
             "\r\n"
             "Authentication-Results: relay.example.test; in the body stays\r\n");
}

BOOST_AUTO_TEST_CASE(the_hook_scrubs_on_every_listener) {
  Fixture f;
  f.session.role = conf::ListenerRole::kSubmission;
  f.message = "Authentication-Results: relay.example.test; dkim=pass\r\n" + std::string(kPlain);
  AuthResultsScrubHook hook;
  BOOST_TEST(proceeds(f.run(hook, true)));
  BOOST_TEST(f.message == kPlain);
}

BOOST_AUTO_TEST_CASE(property_values) {
  BOOST_TEST(ar_value("example.com") == "example.com");
  BOOST_TEST(ar_value("a b") == "\"a b\"");
  BOOST_TEST(ar_value("x\"y\\z\r\n") == "\"x\\\"y\\\\z\"");
  BOOST_TEST(ar_value("") == "\"\"");
}

BOOST_AUTO_TEST_SUITE_END()

// -- DMARC ---------------------------------------------------------------------------------------

struct DmarcFixture : Fixture {
  DmarcHook hook{dns, dmarc::PublicSuffixList::parse(kPsl)};

  DmarcFixture() {
    message = kPlain;  // From: ann@example.org
    hook.set_sample(0);
  }
};

BOOST_AUTO_TEST_SUITE(dmarc_hook)

BOOST_AUTO_TEST_CASE(enforce_rejects_a_p_reject_failure) {
  DmarcFixture f;
  f.dns.add_txt("_dmarc.example.org", {"v=DMARC1; p=reject"});
  f.tx.spf = "fail";
  f.tx.spf_domain = "example.org";
  Verdict v = f.run(f.hook, true);
  BOOST_TEST((v.kind == Verdict::Kind::kReply));
  BOOST_TEST(v.code == 550);
  BOOST_TEST(v.text.starts_with("5.7.1 "));
  BOOST_TEST(v.text.find("example.org") != std::string::npos);
  BOOST_TEST(f.tx.auth_results ==
             std::vector<std::string>{"dmarc=fail (p=reject dis=reject) header.from=example.org"});
}

BOOST_AUTO_TEST_CASE(report_only_records) {
  DmarcFixture f;
  f.config.inbound.dmarc = conf::DmarcMode::kReport;
  f.dns.add_txt("_dmarc.example.org", {"v=DMARC1; p=reject"});
  BOOST_TEST(proceeds(f.run(f.hook, true)));
  BOOST_TEST(f.tx.auth_results ==
             std::vector<std::string>{"dmarc=fail (p=reject dis=none) header.from=example.org"});
  BOOST_TEST(f.tx.folder.empty());
}

BOOST_AUTO_TEST_CASE(off_skips_everything) {
  DmarcFixture f;
  f.config.inbound.dmarc = conf::DmarcMode::kOff;
  BOOST_TEST(proceeds(f.run(f.hook, true)));
  BOOST_TEST(f.tx.auth_results.empty());
  BOOST_TEST(f.dns.queries.empty());
}

BOOST_AUTO_TEST_CASE(quarantine_files_in_junk) {
  DmarcFixture f;
  f.dns.add_txt("_dmarc.example.org", {"v=DMARC1; p=quarantine"});
  BOOST_TEST(proceeds(f.run(f.hook, true)));
  BOOST_TEST(f.tx.folder == "Junk");
  BOOST_TEST(f.tx.auth_results ==
             std::vector<std::string>{"dmarc=fail (p=quarantine dis=quarantine) "
                                      "header.from=example.org"});
}

BOOST_AUTO_TEST_CASE(pct_lets_unsampled_failures_through_as_quarantine) {
  DmarcFixture f;
  f.hook.set_sample(60);
  f.dns.add_txt("_dmarc.example.org", {"v=DMARC1; p=reject; pct=50"});
  BOOST_TEST(proceeds(f.run(f.hook, true)));
  BOOST_TEST(f.tx.folder == "Junk");
}

BOOST_AUTO_TEST_CASE(aligned_spf_or_dkim_passes) {
  DmarcFixture f;
  f.dns.add_txt("_dmarc.example.org", {"v=DMARC1; p=reject"});
  f.tx.spf = "pass";
  f.tx.spf_domain = "bounce.example.org";
  BOOST_TEST(proceeds(f.run(f.hook, true)));
  BOOST_TEST(f.tx.auth_results ==
             std::vector<std::string>{"dmarc=pass (p=reject dis=none) header.from=example.org"});

  DmarcFixture g;
  g.dns.add_txt("_dmarc.example.org", {"v=DMARC1; p=reject"});
  g.tx.dkim_pass_domains = {"mail.example.org"};
  BOOST_TEST(proceeds(g.run(g.hook, true)));
  BOOST_TEST(g.tx.auth_results[0].starts_with("dmarc=pass"));
}

BOOST_AUTO_TEST_CASE(dkim_then_dmarc_end_to_end) {
  DmarcFixture f;
  f.message = signed_message(f.dns);
  f.dns.add_txt("_dmarc.example.org", {"v=DMARC1; p=reject; adkim=s"});
  DkimVerifyHook dkim(f.dns);
  BOOST_TEST(proceeds(f.run(dkim, true)));
  BOOST_TEST(proceeds(f.run(f.hook, true)));
  BOOST_TEST_REQUIRE(f.tx.auth_results.size() == 2u);
  BOOST_TEST(f.tx.auth_results[1] == "dmarc=pass (p=reject dis=none) header.from=example.org");
}

BOOST_AUTO_TEST_CASE(the_organizational_domains_record_applies_to_subdomains) {
  DmarcFixture f;
  f.message = "From: a@news.example.org\r\n\r\nx\r\n";
  f.dns.add_txt("_dmarc.example.org", {"v=DMARC1; p=none; sp=reject"});
  Verdict v = f.run(f.hook, true);
  BOOST_TEST(v.code == 550);
  BOOST_TEST(f.dns.queries ==
             (std::vector<std::string>{"TXT _dmarc.news.example.org", "TXT _dmarc.example.org"}));
}

BOOST_AUTO_TEST_CASE(no_record_and_dns_failure_accept) {
  DmarcFixture f;
  BOOST_TEST(proceeds(f.run(f.hook, true)));
  BOOST_TEST(f.tx.auth_results ==
             std::vector<std::string>{"dmarc=none (p=none dis=none) header.from=example.org"});
  DmarcFixture g;
  g.dns.fail_txt("_dmarc.example.org");
  BOOST_TEST(proceeds(g.run(g.hook, true)));
  BOOST_TEST_REQUIRE(g.tx.auth_results.size() == 1u);
  BOOST_TEST(g.tx.auth_results[0].starts_with("dmarc=temperror ("));
}

BOOST_AUTO_TEST_CASE(two_from_fields_are_refused_when_enforcing) {
  DmarcFixture f;
  f.message = "From: a@example.org\r\nFrom: b@bank.example\r\n\r\nx\r\n";
  Verdict v = f.run(f.hook, true);
  BOOST_TEST(v.code == 550);
  BOOST_TEST(f.tx.auth_results ==
             std::vector<std::string>{"dmarc=permerror (more than one From field)"});
  DmarcFixture g;
  g.config.inbound.dmarc = conf::DmarcMode::kReport;
  g.message = f.message;
  BOOST_TEST(proceeds(g.run(g.hook, true)));
}

// RFC 7489 6.6.1: every author domain is evaluated and the strictest outcome applies.
BOOST_AUTO_TEST_CASE(every_author_domain_is_evaluated_in_any_order_and_in_groups) {
  const char* kFroms[] = {
      "From: ann@example.org, ceo@bank.example\r\n",
      "From: ceo@bank.example, ann@example.org\r\n",
      "From: Board: ann@example.org, ceo@bank.example;\r\n",
      ("From: \"Ann, ann@example.org\" <ann@example.org>, =?utf-8?q?C=C3=A9o?= "
       "<ceo@bank.example>\r\n"),
  };
  for (const char* from : kFroms) {
    DmarcFixture f;
    f.message = std::string(from) + "Subject: x\r\n\r\nbody\r\n";
    f.dns.add_txt("_dmarc.example.org", {"v=DMARC1; p=none"});
    f.dns.add_txt("_dmarc.bank.example", {"v=DMARC1; p=reject"});
    f.tx.spf = "pass";
    f.tx.spf_domain = "example.org";
    f.tx.queue_id = "0000000000000001";
    Verdict v = f.run(f.hook, true);
    BOOST_TEST(v.code == 550, from);
    BOOST_TEST(v.text == "5.7.1 Message rejected by the DMARC policy of bank.example (p=reject)",
               from);
  }
}

BOOST_AUTO_TEST_CASE(one_clause_per_author_domain_in_from_order) {
  DmarcFixture f;
  f.message = "From: Ann <ann@example.org>, dev@ops.example, Bob <bob@EXAMPLE.org.>\r\n\r\nx\r\n";
  f.dns.add_txt("_dmarc.example.org", {"v=DMARC1; p=reject"});
  f.dns.add_txt("_dmarc.ops.example", {"v=DMARC1; p=quarantine"});
  f.tx.spf = "pass";
  f.tx.spf_domain = "example.org";
  BOOST_TEST(proceeds(f.run(f.hook, true)));
  BOOST_TEST(f.tx.folder == "Junk");  // the strictest: ops.example's quarantine
  BOOST_TEST(f.tx.auth_results ==
             (std::vector<std::string>{
                 "dmarc=pass (p=reject dis=none) header.from=example.org",
                 "dmarc=fail (p=quarantine dis=quarantine) header.from=ops.example"}));
}

BOOST_AUTO_TEST_CASE(a_from_without_any_domain_is_a_permerror) {
  DmarcFixture f;
  f.message = "From: Ann, x@[192.0.2.1]\r\n\r\nx\r\n";
  BOOST_TEST(proceeds(f.run(f.hook, true)));
  BOOST_TEST(f.tx.auth_results == std::vector<std::string>{"dmarc=permerror (no domain in From)"});
}

BOOST_AUTO_TEST_SUITE_END()

// -- Wiring --------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(add_inbound_hooks_fills_the_phases) {
  conf::Config config;
  FakeResolver dns;
  policy::HookChain chain;
  add_inbound_hooks(chain, dns, config);
  BOOST_TEST(!chain.empty(policy::Phase::kConnect));
  BOOST_TEST(!chain.empty(policy::Phase::kMail));
  BOOST_TEST(!chain.empty(policy::Phase::kData));
  BOOST_TEST(chain.empty(policy::Phase::kRcpt));
}

}  // namespace
}  // namespace hato::inbound
