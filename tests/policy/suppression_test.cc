// suppression_test.cc - the suppression list in a real RocksDB store's state family: scopes,
// expiry, removal, the CSV form, what bounces add, and the RCPT hook's 550.
#define BOOST_TEST_MODULE policy_suppression
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "conf/config.h"
#include "policy/hook.h"
#include "policy/limiter.h"
#include "policy/suppression.h"
#include "queue/state_keys.h"
#include "queue/store.h"
#include "tests/queue/store_state.h"
#include "tests/temp_dir.h"

namespace hato::policy {
namespace {

using testing::TempDir;

using testing::StoreState;

struct Fixture : testing::StateOnDisk {
  std::unique_ptr<SuppressionList> list;
  Fixture() : StateOnDisk("hato-suppression") { open(); }
  void open() {
    list.reset();
    reopen();
    list = std::make_unique<SuppressionList>(*state);
  }
  std::vector<SuppressionEntry> all(std::optional<std::string> domain = std::nullopt) {
    std::vector<SuppressionEntry> out;
    Status s = list->list(domain, kNow, [&](const SuppressionEntry& e) {
      out.push_back(e);
      return true;
    });
    BOOST_TEST_REQUIRE(s.is_ok(), s.message());
    return out;
  }
  static constexpr int64_t kNow = 1'796'000'000'000;  // 2026-11-30T00:53:20Z
};

SuppressionEntry entry(std::string address, std::string domain, std::string reason,
                       std::string source, int64_t expires = 0) {
  SuppressionEntry e;
  e.address = std::move(address);
  e.domain = std::move(domain);
  e.reason = std::move(reason);
  e.source = std::move(source);
  e.first_seen_ms = Fixture::kNow - 1000;
  e.expires_ms = expires;
  return e;
}

BOOST_FIXTURE_TEST_CASE(entries_live_in_the_state_family_and_survive_a_restart, Fixture) {
  BOOST_TEST(list->add(entry("Bob@Example.NET", "example.org", "invalid-recipient", "bounce")));
  // The record is of the suppression kind, keyed by scope and address, in lower case.
  auto raw = store->get_state("x/example.org/bob@example.net");
  BOOST_TEST_REQUIRE(raw.is_ok());
  BOOST_TEST_REQUIRE(raw->has_value());
  auto parsed = queue::state::parse_key("x/example.org/bob@example.net");
  BOOST_TEST_REQUIRE(parsed.has_value());
  BOOST_TEST((parsed->kind == queue::state::Kind::kSuppression));
  open();
  auto found = list->find("app@example.org", "bob@example.net", kNow);
  BOOST_TEST_REQUIRE(found.has_value());
  BOOST_TEST(found->reason == "invalid-recipient");
  BOOST_TEST(found->source == "bounce");
  BOOST_TEST(found->first_seen_ms == kNow - 1000);
}

BOOST_FIXTURE_TEST_CASE(a_domain_entry_holds_back_that_domain_only_a_global_one_every, Fixture) {
  BOOST_TEST(list->add(entry("bob@example.net", "example.org", "invalid-recipient", "bounce")));
  BOOST_TEST(list->find("app@example.org", "BOB@example.net", kNow).has_value());
  BOOST_TEST(!list->find("app@other.test", "bob@example.net", kNow).has_value());
  BOOST_TEST(list->add(entry("carol@example.net", "", "manual", "manual")));
  BOOST_TEST(list->find("app@example.org", "carol@example.net", kNow).has_value());
  BOOST_TEST(list->find("app@other.test", "carol@example.net", kNow).has_value());
  BOOST_TEST(list->find("", "carol@example.net", kNow).has_value());
  // Listing by domain is a prefix scan of that scope.
  BOOST_TEST(all().size() == 2u);
  auto org = all(std::string("example.org"));
  BOOST_TEST_REQUIRE(org.size() == 1u);
  BOOST_TEST(org[0].address == "bob@example.net");
  BOOST_TEST(all(std::string("")).size() == 1u);  // the global scope
}

BOOST_FIXTURE_TEST_CASE(expired_entries_are_gone, Fixture) {
  BOOST_TEST(list->add(entry("old@example.net", "", "complaint", "complaint", kNow - 1)));
  BOOST_TEST(all().empty());
  BOOST_TEST(!list->find("app@example.org", "old@example.net", kNow).has_value());
  auto raw = store->get_state(suppression_key("", "old@example.net"));
  BOOST_TEST_REQUIRE(raw.is_ok());
  BOOST_TEST(!raw->has_value());  // find() erased it
}

BOOST_FIXTURE_TEST_CASE(remove_takes_one_scope_or_all, Fixture) {
  BOOST_TEST(list->add(entry("bob@example.net", "example.org", "r", "bounce")));
  BOOST_TEST(list->add(entry("bob@example.net", "example.com", "r", "bounce")));
  BOOST_TEST(list->add(entry("bob@example.net", "", "r", "manual")));
  BOOST_TEST(list->remove("bob@example.net", std::string("example.com")) == 1u);
  BOOST_TEST(all().size() == 2u);
  BOOST_TEST(list->remove("BOB@example.net", std::nullopt) == 2u);
  BOOST_TEST(all().empty());
  BOOST_TEST(list->remove("bob@example.net", std::nullopt) == 0u);
}

BOOST_FIXTURE_TEST_CASE(an_address_with_a_slash_stays_one_field, Fixture) {
  BOOST_TEST(list->add(entry("a/b%c@example.net", "", "r", "manual")));
  auto found = list->find("x@example.org", "a/b%c@example.net", kNow);
  BOOST_TEST_REQUIRE(found.has_value());
  BOOST_TEST(found->address == "a/b%c@example.net");
  BOOST_TEST(all().size() == 1u);
}

BOOST_FIXTURE_TEST_CASE(adding_again_keeps_the_first_seen_time, Fixture) {
  BOOST_TEST(list->add(entry("bob@example.net", "", "r", "bounce")));
  auto again = entry("bob@example.net", "", "r2", "bounce");
  again.first_seen_ms = kNow + 5000;
  BOOST_TEST(list->add(again));
  auto found = list->find("", "bob@example.net", kNow);
  BOOST_TEST_REQUIRE(found.has_value());
  BOOST_TEST(found->first_seen_ms == kNow - 1000);
  BOOST_TEST(found->reason == "r2");
}

BOOST_FIXTURE_TEST_CASE(bounces_add_entries_only_for_the_configured_categories, Fixture) {
  conf::Suppression config;  // on: invalid-recipient, complaint; per domain; 365 days
  BOOST_TEST(
      !list->note(config, "app@example.org", "a@example.net", "reputation-block", "bounce", kNow));
  BOOST_TEST(
      !list->note(config, "app@example.org", "a@example.net", "mailbox-full", "bounce", kNow));
  BOOST_TEST(all().empty());
  BOOST_TEST(
      list->note(config, "app@Example.ORG", "a@example.net", "invalid-recipient", "bounce", kNow));
  auto org = all(std::string("example.org"));
  BOOST_TEST_REQUIRE(org.size() == 1u);
  BOOST_TEST(org[0].expires_ms == kNow + 365LL * 24 * 3600 * 1000);
  config.global = true;
  config.expire = conf::Duration(0);
  BOOST_TEST(
      list->note(config, "app@example.org", "c@example.net", "complaint", "complaint", kNow));
  auto global = all(std::string(""));
  BOOST_TEST_REQUIRE(global.size() == 1u);
  BOOST_TEST(global[0].expires_ms == 0);
}

BOOST_AUTO_TEST_CASE(csv_lines_round_trip) {
  SuppressionEntry e = entry("bob@example.net", "example.org", "said \"no\", twice", "bounce",
                             Fixture::kNow + 86'400'000);
  e.first_seen_ms = 1'796'000'000'123;
  std::string line = suppression_csv_line(e);
  BOOST_TEST(line ==
             "bob@example.net,example.org,\"said \"\"no\"\", twice\",bounce,"
             "2026-11-30T00:53:20.123Z,2026-12-01T00:53:20.000Z");
  auto back = parse_suppression_csv(line + "\r\n", 0);
  BOOST_TEST_REQUIRE(back.is_ok(), back.message());
  BOOST_TEST(back->address == e.address);
  BOOST_TEST(back->domain == e.domain);
  BOOST_TEST(back->reason == e.reason);
  BOOST_TEST(back->source == e.source);
  BOOST_TEST(back->first_seen_ms == e.first_seen_ms);
  BOOST_TEST(back->expires_ms == e.expires_ms);
  // The short forms a hand-written file uses.
  auto hand = parse_suppression_csv("Carol@Example.net,,left the company,,,", 42);
  BOOST_TEST_REQUIRE(hand.is_ok(), hand.message());
  BOOST_TEST(hand->address == "carol@example.net");
  BOOST_TEST(hand->domain.empty());
  BOOST_TEST(hand->source == "import");
  BOOST_TEST(hand->first_seen_ms == 42);
  BOOST_TEST(hand->expires_ms == 0);
  BOOST_TEST(!parse_suppression_csv("not-an-address,,,,,", 0).is_ok());
  BOOST_TEST(!parse_suppression_csv("a@b,,,spam,,", 0).is_ok());
  BOOST_TEST(!parse_suppression_csv("a@b,,\"open,,,,", 0).is_ok());
  BOOST_TEST(!parse_suppression_csv("a@b,,,,yesterday,", 0).is_ok());
}

// Runs the hook on a submission session and returns its verdict.
Verdict rcpt(SuppressionHook& hook, const conf::Config& config, conf::ListenerRole role,
             const std::string& sender, const std::string& recipient) {
  SessionInfo session;
  session.listener = "submission";
  session.role = role;
  TransactionState tx;
  HookContext context{session, config, sender, recipient, tx};
  std::vector<Verdict> verdicts;
  hook.run(context, [&](Verdict v) { verdicts.push_back(std::move(v)); });
  BOOST_TEST_REQUIRE(verdicts.size() == 1u);
  return verdicts[0];
}

BOOST_FIXTURE_TEST_CASE(the_hook_refuses_a_suppressed_recipient_with_the_way_out, Fixture) {
  auto e = entry("bob@example.net", "example.org", "invalid-recipient", "bounce");
  e.first_seen_ms = 1'796'000'000'000;  // 2026-11-30
  BOOST_TEST(list->add(e));
  conf::Config config;
  SuppressionHook hook(*list);
  Verdict v =
      rcpt(hook, config, conf::ListenerRole::kSubmission, "app@example.org", "Bob@example.net");
  BOOST_TEST((v.kind == Verdict::Kind::kReply));
  BOOST_TEST(v.code == 550);
  BOOST_TEST(v.text ==
             "5.1.1 <bob@example.net>: suppressed (invalid-recipient, since 2026-11-30); remove "
             "with: hato suppress remove bob@example.net");
  // Other senders' domains, other recipients, and inbound mail pass.
  BOOST_TEST(
      (rcpt(hook, config, conf::ListenerRole::kSubmission, "app@other.test", "bob@example.net")
           .kind == Verdict::Kind::kContinue));
  BOOST_TEST(
      (rcpt(hook, config, conf::ListenerRole::kSubmission, "app@example.org", "carol@example.net")
           .kind == Verdict::Kind::kContinue));
  BOOST_TEST((
      rcpt(hook, config, conf::ListenerRole::kInbound, "app@example.org", "bob@example.net").kind ==
      Verdict::Kind::kContinue));
  // at_submission: bounce takes the message; the delivery engine bounces that recipient.
  config.suppression.bounce_at_submission = true;
  BOOST_TEST(
      (rcpt(hook, config, conf::ListenerRole::kSubmission, "app@example.org", "bob@example.net")
           .kind == Verdict::Kind::kContinue));
  // Removed: through.
  config.suppression.bounce_at_submission = false;
  BOOST_TEST(list->remove("bob@example.net", std::nullopt) == 1u);
  BOOST_TEST(
      (rcpt(hook, config, conf::ListenerRole::kSubmission, "app@example.org", "bob@example.net")
           .kind == Verdict::Kind::kContinue));
}

}  // namespace
}  // namespace hato::policy
