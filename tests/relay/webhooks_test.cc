// webhooks_test.cc - the webhooks' pure parts: the signature and which events a hook wants.
#define BOOST_TEST_MODULE webhooks
#include <boost/test/unit_test.hpp>

#include "relay/webhooks.h"

namespace hato::relay {
namespace {

// RFC 4231 test case 2.
BOOST_AUTO_TEST_CASE(hmac_sha256_matches_rfc_4231) {
  BOOST_TEST(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
             "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// The receiver recomputes HMAC-SHA256("<t>.<body>") and compares: the time is signed too.
BOOST_AUTO_TEST_CASE(the_signature_covers_time_and_body) {
  std::string body = "[{\"event\":\"delivered\"}]";
  std::string sig = webhook_signature("0123456789abcdef", 1796648400, body);
  BOOST_TEST(sig == "t=1796648400,v1=" + hmac_sha256_hex("0123456789abcdef", "1796648400." + body));
  BOOST_TEST(sig != webhook_signature("0123456789abcdef", 1796648401, body));
}

// A restart goes on after the stored cursor, within what the outbox holds.
BOOST_AUTO_TEST_CASE(a_stored_cursor_resumes_within_the_outbox) {
  queue::OutboxStats kept{101, 201, 0};                   // events 101..200
  BOOST_TEST(resume_cursor(std::nullopt, kept) == 100u);  // a new hook: every event kept
  BOOST_TEST(resume_cursor(150, kept) == 150u);           // acknowledged through 150
  BOOST_TEST(resume_cursor(200, kept) == 200u);           // had them all
  // Behind the oldest kept (the rest dropped beyond the backlog): from the oldest.
  BOOST_TEST(resume_cursor(40, kept) == 100u);
  // An empty outbox at open numbers from 1 again: a cursor of before must not skip events
  // 1.. to come.
  queue::OutboxStats empty{1, 1, 0};
  BOOST_TEST(resume_cursor(500, empty) == 0u);
  // Never past the newest event kept.
  BOOST_TEST(resume_cursor(500, queue::OutboxStats{1, 11, 0}) == 10u);
}

BOOST_AUTO_TEST_CASE(a_hook_gets_its_types_users_and_domains) {
  conf::Webhook all;
  std::string delivered =
      R"({"event":"delivered","sender":"app@Example.test","rcpt":"x@other.test","user":"app"})";
  std::string bounced =
      R"({"event":"bounced","sender":"b@elsewhere.test","rcpt":"y@example.test","user":"crm"})";
  BOOST_TEST(webhook_wants(all, delivered));
  conf::Webhook types;
  types.types = {"bounced", "complaint"};
  BOOST_TEST(!webhook_wants(types, delivered));
  BOOST_TEST(webhook_wants(types, bounced));
  conf::Webhook users;
  users.users = {"app"};
  BOOST_TEST(webhook_wants(users, delivered));
  BOOST_TEST(!webhook_wants(users, bounced));
  conf::Webhook domains;
  domains.domains = {"example.test"};
  BOOST_TEST(webhook_wants(domains, delivered));  // the sender's, in any case
  BOOST_TEST(webhook_wants(domains, bounced));    // the recipient's
  domains.domains = {"third.test"};
  BOOST_TEST(!webhook_wants(domains, delivered));
  BOOST_TEST(!webhook_wants(types, "not json"));
}

}  // namespace
}  // namespace hato::relay
