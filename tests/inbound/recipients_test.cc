// recipients_test.cc - which recipients an inbound listener takes: mailboxes
// and aliases of our domains (with +subaddresses), nothing else, and no
// routing tricks.
#define BOOST_TEST_MODULE inbound
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "inbound/recipients.h"

namespace hato::inbound {
namespace {

using policy::Verdict;

conf::Config make_config() {
  conf::Config c;
  c.hostname = "mx.example.org";
  conf::Domain org;
  org.name = "example.org";
  org.mailboxes = {"alice", "bob", "postmaster"};
  org.aliases = {{"info", "alice"}, {"abuse", "postmaster"}};
  conf::Domain net;
  net.name = "example.net";
  net.mailboxes = {"dave"};
  c.domains = {org, net};
  return c;
}

Verdict run(const conf::Config& config, conf::ListenerRole role, const std::string& rcpt) {
  policy::SessionInfo session;
  session.role = role;
  std::string sender = "someone@remote.example";
  static hato::policy::TransactionState tx;
  policy::HookContext context{session, config, sender, rcpt, tx};
  RecipientHook hook;
  std::vector<Verdict> verdicts;
  hook.run(context, [&](Verdict v) { verdicts.push_back(std::move(v)); });
  BOOST_TEST_REQUIRE(verdicts.size() == 1u);
  return verdicts[0];
}

std::string reply_of(const std::string& rcpt) {
  Verdict v = run(make_config(), conf::ListenerRole::kInbound, rcpt);
  if (v.kind == Verdict::Kind::kContinue) return "continue";
  return std::to_string(v.code) + " " + v.text;
}

BOOST_AUTO_TEST_SUITE(recipients)

BOOST_AUTO_TEST_CASE(mailboxes_and_aliases_are_local) {
  conf::Config c = make_config();
  for (const char* rcpt : {"alice@example.org", "bob@example.org", "info@example.org",
                           "abuse@example.org", "dave@example.net", "postmaster@example.org"})
    BOOST_TEST((check_recipient(c, rcpt) == RecipientVerdict::kLocal), rcpt);
}

BOOST_AUTO_TEST_CASE(case_does_not_matter) {
  conf::Config c = make_config();
  BOOST_TEST((check_recipient(c, "Alice@Example.ORG") == RecipientVerdict::kLocal));
  BOOST_TEST((check_recipient(c, "INFO@example.org") == RecipientVerdict::kLocal));
  BOOST_TEST((check_recipient(c, "PostMaster@EXAMPLE.ORG") == RecipientVerdict::kLocal));
}

BOOST_AUTO_TEST_CASE(subaddresses_go_to_the_base_mailbox) {
  conf::Config c = make_config();
  BOOST_TEST((check_recipient(c, "alice+lists@example.org") == RecipientVerdict::kLocal));
  BOOST_TEST((check_recipient(c, "info+x@example.org") == RecipientVerdict::kLocal));
  BOOST_TEST((check_recipient(c, "alice+@example.org") == RecipientVerdict::kLocal));
  BOOST_TEST((check_recipient(c, "nobody+alice@example.org") == RecipientVerdict::kUnknownUser));
  BOOST_TEST((check_recipient(c, "+alice@example.org") == RecipientVerdict::kUnknownUser));
}

BOOST_AUTO_TEST_CASE(unknown_users) {
  conf::Config c = make_config();
  BOOST_TEST((check_recipient(c, "nobody@example.org") == RecipientVerdict::kUnknownUser));
  // A mailbox of one domain is not a mailbox of the other.
  BOOST_TEST((check_recipient(c, "dave@example.org") == RecipientVerdict::kUnknownUser));
  BOOST_TEST((check_recipient(c, "alice@example.net") == RecipientVerdict::kUnknownUser));
}

BOOST_AUTO_TEST_CASE(other_domains) {
  conf::Config c = make_config();
  for (const char* rcpt : {"alice@remote.example", "alice@sub.example.org", "alice@example.org.",
                           "alice@org", "alice@example.orgx"})
    BOOST_TEST((check_recipient(c, rcpt) == RecipientVerdict::kNotOurDomain), rcpt);
}

BOOST_AUTO_TEST_CASE(routing_tricks_are_forbidden) {
  conf::Config c = make_config();
  for (const char* rcpt :
       {"victim%remote.example@example.org", "remote.example!victim@example.org",
        "\"victim@remote.example\"@example.org", "\"alice\"@example.org", "alice", "",
        "@example.org", "alice@", "alice@remote.example@example.org"})
    BOOST_TEST((check_recipient(c, rcpt) == RecipientVerdict::kForbiddenForm), rcpt);
}

BOOST_AUTO_TEST_CASE(hook_replies) {
  BOOST_TEST(reply_of("alice@example.org") == "continue");
  BOOST_TEST(reply_of("nobody@example.org") ==
             "550 5.1.1 <nobody@example.org>: Recipient address rejected: no such user here");
  BOOST_TEST(reply_of("victim@remote.example") ==
             "554 5.7.1 <victim@remote.example>: Relay access denied");
  BOOST_TEST(reply_of("victim%remote.example@example.org") ==
             "554 5.7.1 <victim%remote.example@example.org>: Relay access denied");
  BOOST_TEST(reply_of("remote.example!victim@example.org") ==
             "554 5.7.1 <remote.example!victim@example.org>: Relay access denied");
  BOOST_TEST(reply_of("\"victim@remote.example\"@example.org") ==
             "554 5.7.1 <\"victim@remote.example\"@example.org>: Relay access denied");
}

BOOST_AUTO_TEST_CASE(hook_ignores_submission_listeners) {
  Verdict v = run(make_config(), conf::ListenerRole::kSubmission, "victim@remote.example");
  BOOST_TEST((v.kind == Verdict::Kind::kContinue));
  BOOST_TEST(std::string(RecipientHook().name()) == "inbound-recipient");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::inbound
