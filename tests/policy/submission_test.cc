// submission_test.cc - who may send through a submission listener: AUTH or a
// trusted network, and only as an address of our domains, narrowed per user by
// allowed_senders.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "policy/hook.h"
#include "policy/submission.h"

namespace hato::policy {
namespace {

conf::Config make_config() {
  conf::Config c;
  c.hostname = "mx.example.org";
  conf::Domain org;
  org.name = "example.org";
  org.mailboxes = {"alice", "bob"};
  conf::Domain net;
  net.name = "example.net";
  c.domains = {org, net};
  c.allowed_senders["carol"] = {"carol@example.org", "Sales@Example.org", "@example.net"};
  c.allowed_senders["dan"] = {"@elsewhere.example"};  // not one of our domains
  c.allowed_senders["erin"] = {};
  return c;
}

// Runs a hook that answers at once and returns its verdict.
Verdict run(Hook& hook, const SessionInfo& session, const conf::Config& config,
            const std::string& sender) {
  std::string recipient;
  static hato::policy::TransactionState tx;
  HookContext context{session, config, sender, recipient, tx};
  std::vector<Verdict> verdicts;
  hook.run(context, [&](Verdict v) { verdicts.push_back(std::move(v)); });
  BOOST_TEST_REQUIRE(verdicts.size() == 1u);
  return verdicts[0];
}

BOOST_AUTO_TEST_SUITE(submission)

BOOST_AUTO_TEST_CASE(split_address_at_the_last_at) {
  std::string_view local, domain;
  BOOST_TEST(split_address("alice@example.org", &local, &domain));
  BOOST_TEST(local == "alice");
  BOOST_TEST(domain == "example.org");
  BOOST_TEST(split_address("\"a@b\"@example.org", &local, &domain));
  BOOST_TEST(local == "\"a@b\"");
  BOOST_TEST(domain == "example.org");
  for (const char* bad : {"", "alice", "@example.org", "alice@"})
    BOOST_TEST(!split_address(bad, &local, &domain), bad);
}

BOOST_AUTO_TEST_CASE(sender_of_our_domains_without_login) {
  conf::Config c = make_config();
  BOOST_TEST(sender_allowed(c, "", "anyone@example.org"));
  BOOST_TEST(sender_allowed(c, "", "anyone@EXAMPLE.NET"));
  BOOST_TEST(!sender_allowed(c, "", "anyone@foreign.example"));
  BOOST_TEST(!sender_allowed(c, "", "anyone@sub.example.org"));
  BOOST_TEST(sender_allowed(c, "", ""));  // the null sender of a trusted client
  BOOST_TEST(!sender_allowed(c, "", "no-domain"));
}

BOOST_AUTO_TEST_CASE(user_without_rules_may_use_any_address_of_our_domains) {
  conf::Config c = make_config();
  BOOST_TEST(sender_allowed(c, "alice", "alice@example.org"));
  BOOST_TEST(sender_allowed(c, "alice", "bob@example.org"));
  BOOST_TEST(sender_allowed(c, "alice", "x@example.net"));
  BOOST_TEST(!sender_allowed(c, "alice", "alice@foreign.example"));
  BOOST_TEST(sender_allowed(c, "alice", ""));  // her bounces and notices
}

BOOST_AUTO_TEST_CASE(allowed_senders_narrow_a_user) {
  conf::Config c = make_config();
  BOOST_TEST(sender_allowed(c, "carol", "carol@example.org"));
  BOOST_TEST(sender_allowed(c, "carol", "CAROL@Example.Org"));
  BOOST_TEST(sender_allowed(c, "carol", "sales@example.org"));  // rule written in mixed case
  BOOST_TEST(sender_allowed(c, "carol", "anything@example.net"));
  BOOST_TEST(!sender_allowed(c, "carol", "bob@example.org"));
  BOOST_TEST(!sender_allowed(c, "carol", "carol+tag@example.org"));
  BOOST_TEST(!sender_allowed(c, "carol", "carol@foreign.example"));
  BOOST_TEST(sender_allowed(c, "carol", ""));  // the null sender is nobody's address
}

BOOST_AUTO_TEST_CASE(rules_cannot_widen_beyond_our_domains) {
  conf::Config c = make_config();
  BOOST_TEST(!sender_allowed(c, "dan", "dan@elsewhere.example"));
  BOOST_TEST(!sender_allowed(c, "dan", "dan@example.org"));
}

BOOST_AUTO_TEST_CASE(empty_rule_list_allows_nothing) {
  conf::Config c = make_config();
  BOOST_TEST(!sender_allowed(c, "erin", "erin@example.org"));
}

BOOST_AUTO_TEST_CASE(access_hook_needs_auth_or_trust_on_submission) {
  conf::Config c = make_config();
  SubmissionAccessHook hook;
  BOOST_TEST(std::string(hook.name()) == "submission-access");
  SessionInfo s;
  s.role = conf::ListenerRole::kSubmission;
  Verdict v = run(hook, s, c, "alice@example.org");
  BOOST_TEST((v.kind == Verdict::Kind::kReply));
  BOOST_TEST(v.code == 530);
  BOOST_TEST(v.text == "5.7.0 Authentication required");

  s.auth_user = "alice";
  BOOST_TEST((run(hook, s, c, "alice@example.org").kind == Verdict::Kind::kContinue));
  s.auth_user.clear();
  s.trusted = true;
  BOOST_TEST((run(hook, s, c, "alice@example.org").kind == Verdict::Kind::kContinue));
  SessionInfo inbound;
  inbound.role = conf::ListenerRole::kInbound;
  BOOST_TEST((run(hook, inbound, c, "x@remote.example").kind == Verdict::Kind::kContinue));
}

BOOST_AUTO_TEST_CASE(sender_hook_verdicts) {
  conf::Config c = make_config();
  SenderPolicyHook hook;
  BOOST_TEST(std::string(hook.name()) == "sender-policy");
  SessionInfo s;
  s.role = conf::ListenerRole::kSubmission;
  s.auth_user = "carol";
  Verdict v = run(hook, s, c, "bob@example.org");
  BOOST_TEST((v.kind == Verdict::Kind::kReply));
  BOOST_TEST(v.code == 553);
  BOOST_TEST(v.text == "5.7.1 Sender address <bob@example.org> is not allowed for user carol");
  BOOST_TEST((run(hook, s, c, "carol@example.org").kind == Verdict::Kind::kContinue));

  SessionInfo trusted;
  trusted.role = conf::ListenerRole::kSubmission;
  trusted.trusted = true;
  Verdict t = run(hook, trusted, c, "app@foreign.example");
  BOOST_TEST(t.code == 553);
  BOOST_TEST(t.text == "5.7.1 Sender address <app@foreign.example> is not allowed for this client");

  // Inbound mail comes from anyone.
  SessionInfo inbound;
  inbound.role = conf::ListenerRole::kInbound;
  BOOST_TEST((run(hook, inbound, c, "x@remote.example").kind == Verdict::Kind::kContinue));
  BOOST_TEST((run(hook, inbound, c, "").kind == Verdict::Kind::kContinue));
}

BOOST_AUTO_TEST_CASE(header_syntax_refuses_unreadable_headers_on_submission_only) {
  HeaderSyntaxHook hook;
  conf::Config c = make_config();
  std::string sender = "alice@example.org", recipient;
  TransactionState tx;
  auto verdict = [&](conf::ListenerRole role, std::string message) {
    SessionInfo s;
    s.role = role;
    HookContext context{s, c, sender, recipient, tx, &message};
    std::vector<Verdict> verdicts;
    hook.run(context, [&](Verdict v) { verdicts.push_back(std::move(v)); });
    BOOST_TEST_REQUIRE(verdicts.size() == 1u);
    return verdicts[0];
  };
  std::string msg35 =
      "From: aperson@dom.ain\r\nTo: bperson@dom.ain\r\nSubject: here's something "
      "interesting\r\ncounter to RFC 2822, there's no separating newline here\r\n";
  Verdict v = verdict(conf::ListenerRole::kSubmission, msg35);
  BOOST_TEST(v.code == 550);
  BOOST_TEST(v.text ==
             "5.6.0 Message header line 4 is not a header field (no colon): \"counter to RFC "
             "2822, there's no separati...\"");
  BOOST_TEST((verdict(conf::ListenerRole::kInbound, msg35).kind == Verdict::Kind::kContinue));
  BOOST_TEST((verdict(conf::ListenerRole::kSubmission, "Subject: ok\r\n\r\nno: colon\r\n").kind ==
              Verdict::Kind::kContinue));
}

BOOST_AUTO_TEST_CASE(add_submission_hooks_fills_the_mail_phase) {
  HookChain chain;
  add_submission_hooks(chain);
  BOOST_TEST(!chain.empty(Phase::kMail));
  BOOST_TEST(chain.empty(Phase::kRcpt));
  BOOST_TEST(chain.empty(Phase::kConnect));
  BOOST_TEST(!chain.empty(Phase::kData));  // the header syntax
  // Access is checked before the sender: no login gets 530, not 553.
  conf::Config c = make_config();
  SessionInfo s;
  s.role = conf::ListenerRole::kSubmission;
  std::string sender = "x@foreign.example", recipient;
  static hato::policy::TransactionState tx;
  HookContext context{s, c, sender, recipient, tx};
  std::vector<Verdict> verdicts;
  chain.run(Phase::kMail, context, [&](Verdict v) { verdicts.push_back(v); });
  BOOST_TEST_REQUIRE(verdicts.size() == 1u);
  BOOST_TEST(verdicts[0].code == 530);
  s.auth_user = "alice";
  chain.run(Phase::kMail, context, [&](Verdict v) { verdicts.push_back(v); });
  BOOST_TEST_REQUIRE(verdicts.size() == 2u);
  BOOST_TEST(verdicts[1].code == 553);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::policy
