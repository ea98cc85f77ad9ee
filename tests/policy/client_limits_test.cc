// client_limits_test.cc - the error brake with inbound settings, and the per-client
// message rate.
#include <boost/test/unit_test.hpp>

#include "policy/client_limits.h"

using namespace hato;
using namespace hato::policy;

BOOST_AUTO_TEST_SUITE(client_limits)

BOOST_AUTO_TEST_CASE(error_brake_answers_some_errors_at_once) {
  conf::ErrorSlowdown slow;
  slow.after = 2;
  slow.delay = std::chrono::milliseconds(250);
  slow.max_delay = std::chrono::milliseconds(1000);
  slow.disconnect_after = 6;
  FailureGuard guard(error_brake(slow));
  const long kExpected[] = {0, 0, 250, 500, 1000, 1000};
  for (long ms : kExpected) {
    BOOST_TEST(!guard.blocked("192.0.2.7"));
    BOOST_TEST(guard.failure("192.0.2.7").count() == ms);
  }
  BOOST_TEST(guard.blocked("192.0.2.7"));
  BOOST_TEST(!guard.blocked("192.0.2.8"));
  guard.success("192.0.2.7");  // a message accepted: the slate is clean
  BOOST_TEST(!guard.blocked("192.0.2.7"));
  BOOST_TEST(guard.failure("192.0.2.7").count() == 0);
}

BOOST_AUTO_TEST_CASE(token_bucket_allows_the_burst_then_the_rate) {
  TokenBucket bucket;
  // "3/m": three at once, then one every 20 s.
  double rate = 3.0 / 60.0;
  for (int i = 0; i < 3; ++i) BOOST_TEST(bucket.take(1000, rate, 3));
  BOOST_TEST(!bucket.take(1000, rate, 3));
  BOOST_TEST(!bucket.take(20000, rate, 3));
  BOOST_TEST(bucket.take(21000, rate, 3));
  BOOST_TEST(!bucket.take(21000, rate, 3));
  BOOST_TEST(!bucket.idle(21000, rate, 3));
  BOOST_TEST(bucket.idle(21000 + 60000, rate, 3));
  BOOST_TEST(!bucket.take(5000, rate, 3));  // the clock stepped back: nothing refilled
}

BOOST_AUTO_TEST_CASE(rate_hook_counts_per_address_on_inbound_only) {
  auto config = std::make_shared<conf::Config>();
  config->inbound.limits.messages_per_second = 2.0 / 60.0;
  config->inbound.limits.messages_burst = 2;
  ClientRateHook hook;
  hook.set_clock([] { return int64_t{1000}; });
  SessionInfo inbound;
  inbound.role = conf::ListenerRole::kInbound;
  inbound.peer = SocketAddress::parse("192.0.2.1:4000").value();
  SessionInfo other = inbound;
  other.peer = SocketAddress::parse("192.0.2.2:4000").value();
  SessionInfo submission = inbound;
  submission.role = conf::ListenerRole::kSubmission;
  TransactionState tx;
  std::string sender = "a@b.test", rcpt;
  auto ask = [&](const SessionInfo& s) {
    Verdict out;
    hook.run(HookContext{s, *config, sender, rcpt, tx}, [&](Verdict v) { out = v; });
    return out;
  };
  BOOST_TEST((ask(inbound).kind == Verdict::Kind::kContinue));
  BOOST_TEST((ask(inbound).kind == Verdict::Kind::kContinue));
  Verdict third = ask(inbound);
  BOOST_TEST((third.kind == Verdict::Kind::kReply));
  BOOST_TEST(third.code == 450);
  BOOST_TEST(third.text.rfind("4.7.0 ", 0) == 0u);
  BOOST_TEST((ask(other).kind == Verdict::Kind::kContinue));       // another address
  BOOST_TEST((ask(submission).kind == Verdict::Kind::kContinue));  // not an inbound listener
}

BOOST_AUTO_TEST_SUITE_END()
