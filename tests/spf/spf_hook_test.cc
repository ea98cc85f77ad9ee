// spf_hook_test.cc - the MAIL FROM hook: inbound listeners only, the result and domain left in
// the transaction, the Authentication-Results clause, and never a rejection.
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>

#include "policy/spf/spf_hook.h"
#include "tests/spf/fake_spf_dns.h"

namespace hato::policy::spf {
namespace {

struct HookFixture {
  std::shared_ptr<testing::FakeSpfDns> dns = std::make_shared<testing::FakeSpfDns>();
  SpfHook hook{dns, SpfOptions{}};
  conf::Config config;
  SessionInfo session;
  std::string sender = "joe@example.com";
  std::string recipient;
  TransactionState tx;

  HookFixture() {
    session.role = conf::ListenerRole::kInbound;
    session.peer = SocketAddress::parse("192.0.2.1:4000").value();
    session.helo = "mx.example.net";
    dns->add_txt("example.com", "v=spf1 ip4:192.0.2.0/24 -all");
    dns->add_txt("mx.example.net", "v=spf1 a -all");
  }

  Verdict run() {
    HookContext context{session, config, sender, recipient, tx};
    std::optional<Verdict> verdict;
    hook.run(context, [&](Verdict v) { verdict = std::move(v); });
    dns->pump();
    BOOST_TEST_REQUIRE(verdict.has_value());
    return *verdict;
  }
};

BOOST_FIXTURE_TEST_CASE(records_pass_for_mail_from, HookFixture) {
  BOOST_TEST((run().kind == Verdict::Kind::kContinue));
  BOOST_TEST(tx.spf == "pass");
  BOOST_TEST(tx.spf_domain == "example.com");
  BOOST_TEST_REQUIRE(tx.auth_results.size() == 1u);
  BOOST_TEST(tx.auth_results[0] == "spf=pass smtp.mailfrom=example.com");
}

BOOST_FIXTURE_TEST_CASE(fail_still_continues, HookFixture) {
  session.peer = SocketAddress::parse("198.51.100.1:4000").value();
  BOOST_TEST((run().kind == Verdict::Kind::kContinue));
  BOOST_TEST(tx.spf == "fail");
}

BOOST_FIXTURE_TEST_CASE(null_sender_uses_helo, HookFixture) {
  sender.clear();
  dns->add_a("mx.example.net", "192.0.2.1");
  run();
  BOOST_TEST(tx.spf == "pass");
  BOOST_TEST(tx.spf_domain == "mx.example.net");
  BOOST_TEST(tx.auth_results[0] == "spf=pass smtp.helo=mx.example.net");
}

BOOST_FIXTURE_TEST_CASE(odd_helo_is_quoted, HookFixture) {
  sender.clear();
  session.helo = "[192.0.2.1]";
  run();
  BOOST_TEST(tx.spf == "none");
  BOOST_TEST(tx.auth_results[0] == "spf=none smtp.helo=\"[192.0.2.1]\"");
  BOOST_TEST(dns->log.empty());
}

BOOST_FIXTURE_TEST_CASE(submission_is_not_checked, HookFixture) {
  session.role = conf::ListenerRole::kSubmission;
  BOOST_TEST((run().kind == Verdict::Kind::kContinue));
  BOOST_TEST(tx.spf.empty());
  BOOST_TEST(tx.auth_results.empty());
  BOOST_TEST(dns->log.empty());
}

BOOST_AUTO_TEST_CASE(clause_names_every_result) {
  BOOST_TEST(spf_auth_results_clause(SpfResult::kTempError, false, "example.com") ==
             "spf=temperror smtp.mailfrom=example.com");
  BOOST_TEST(spf_auth_results_clause(SpfResult::kSoftFail, true, "a \"b\"") ==
             "spf=softfail smtp.helo=\"a \\\"b\\\"\"");
}

}  // namespace
}  // namespace hato::policy::spf
