// blacklist_test.cc - the pure logic of blacklist monitoring: list names for our addresses,
// what an answer means, listing and clean-check transitions, the rotation fallback and the
// stored form.
#include <boost/test/unit_test.hpp>

#include <map>
#include <string>
#include <vector>

#include "conf/config.h"
#include "policy/blacklist.h"
#include "policy/dnsbl.h"
#include "policy/limiter.h"
#include "queue/state_keys.h"

namespace hato::policy {
namespace {

SocketAddress ip(const std::string& text) {
  auto a = SocketAddress::parse(text, 0);
  BOOST_TEST_REQUIRE(a.is_ok());
  return *a;
}

std::vector<SocketAddress> answers(std::initializer_list<const char*> texts) {
  std::vector<SocketAddress> out;
  for (const char* t : texts) out.push_back(ip(t));
  return out;
}

BlacklistOutcome listed(const std::string& reason = "spam") {
  return {BlacklistOutcome::Kind::kListed, reason, ""};
}
BlacklistOutcome clean() {
  return {BlacklistOutcome::Kind::kClean, "", ""};
}
BlacklistOutcome error(const std::string& why = "timeout") {
  return {BlacklistOutcome::Kind::kError, "", why};
}

BOOST_AUTO_TEST_SUITE(blacklist)

BOOST_AUTO_TEST_CASE(query_names_reverse_ipv4_and_ipv6_nibbles) {
  BOOST_TEST(dnsbl_query_name(ip("127.0.0.2"), "bl.test") == "2.0.0.127.bl.test");
  BOOST_TEST(dnsbl_query_name(ip("192.0.2.10"), "zen.spamhaus.org.") ==
             "10.2.0.192.zen.spamhaus.org");
  BOOST_TEST(dnsbl_query_name(ip("2001:db8::1"), "bl.test") ==
             "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test");
  BOOST_TEST(dnsbl_query_name(ip("2001:db8:1:2:3:4:567:89ab"), "z.test") ==
             "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.z.test");
}

BOOST_AUTO_TEST_CASE(an_answer_in_127_8_is_a_listing) {
  auto o = classify_blacklist_lookup(LookupStatus::kAnswer, answers({"127.0.0.2"}), "");
  BOOST_TEST(static_cast<int>(o.kind) == static_cast<int>(BlacklistOutcome::Kind::kListed));
  BOOST_TEST(o.reason == "127.0.0.2");
  // DBL-style codes are listings too.
  o = classify_blacklist_lookup(LookupStatus::kAnswer, answers({"127.0.1.2", "127.0.0.4"}), "");
  BOOST_TEST(static_cast<int>(o.kind) == static_cast<int>(BlacklistOutcome::Kind::kListed));
  BOOST_TEST(o.reason == "127.0.1.2 127.0.0.4");
}

BOOST_AUTO_TEST_CASE(answers_in_127_255_255_are_errors_never_listings) {
  for (const char* code : {"127.255.255.254", "127.255.255.255", "127.255.255.252"}) {
    auto o = classify_blacklist_lookup(LookupStatus::kAnswer, answers({code}), "");
    BOOST_TEST(static_cast<int>(o.kind) == static_cast<int>(BlacklistOutcome::Kind::kError), code);
    BOOST_TEST(o.error.find(code) != std::string::npos, o.error);
    BOOST_TEST(o.reason.empty());
  }
  // Outside 127/8: a resolver rewriting NXDOMAIN, not the list.
  auto o = classify_blacklist_lookup(LookupStatus::kAnswer, answers({"192.0.2.1"}), "");
  BOOST_TEST(static_cast<int>(o.kind) == static_cast<int>(BlacklistOutcome::Kind::kError));
  // A real listing next to an error code is still a listing.
  o = classify_blacklist_lookup(LookupStatus::kAnswer, answers({"127.255.255.254", "127.0.0.3"}),
                                "");
  BOOST_TEST(static_cast<int>(o.kind) == static_cast<int>(BlacklistOutcome::Kind::kListed));
  BOOST_TEST(o.reason == "127.0.0.3");
}

BOOST_AUTO_TEST_CASE(no_records_is_clean_and_a_failure_is_an_error) {
  auto o = classify_blacklist_lookup(LookupStatus::kNoRecords, {}, "NXDOMAIN");
  BOOST_TEST(static_cast<int>(o.kind) == static_cast<int>(BlacklistOutcome::Kind::kClean));
  o = classify_blacklist_lookup(LookupStatus::kFailed, {}, "x.bl.test A: timeout");
  BOOST_TEST(static_cast<int>(o.kind) == static_cast<int>(BlacklistOutcome::Kind::kError));
  BOOST_TEST(o.error == "x.bl.test A: timeout");
}

BOOST_AUTO_TEST_CASE(a_listing_holds_until_clean_for_clean_checks_in_a_row) {
  BlacklistEntry e;
  auto c = apply_blacklist_outcome(e, clean(), 1000, 2);
  BOOST_TEST((!c.listed && !c.delisted && !c.returned && !c.error));
  BOOST_TEST(e.checked);
  BOOST_TEST(e.since_ms == 1000);
  BOOST_TEST(!e.held);

  c = apply_blacklist_outcome(e, listed("see http://bl.test"), 2000, 2);
  BOOST_TEST(c.listed);
  BOOST_TEST((e.listed && e.held));
  BOOST_TEST(e.since_ms == 2000);
  BOOST_TEST(e.reason == "see http://bl.test");

  c = apply_blacklist_outcome(e, listed("see http://bl.test"), 3000, 2);
  BOOST_TEST(!c.listed, "an old listing is not new");
  BOOST_TEST(e.since_ms == 2000);

  c = apply_blacklist_outcome(e, clean(), 4000, 2);
  BOOST_TEST(c.delisted);
  BOOST_TEST(!c.returned, "one clean check of two");
  BOOST_TEST((!e.listed && e.held));
  BOOST_TEST(e.since_ms == 4000);
  BOOST_TEST(e.reason.empty());

  // An error in between neither counts as clean nor resets the count.
  c = apply_blacklist_outcome(e, error(), 5000, 2);
  BOOST_TEST(c.error);
  BOOST_TEST(e.held);
  BOOST_TEST(e.clean_streak == 1u);
  BOOST_TEST(e.last_checked_ms == 5000);

  c = apply_blacklist_outcome(e, clean(), 6000, 2);
  BOOST_TEST(c.returned);
  BOOST_TEST(!e.held);
  BOOST_TEST(e.error.empty(), "an answer clears the error");
}

BOOST_AUTO_TEST_CASE(listed_again_before_enough_clean_checks_starts_the_count_again) {
  BlacklistEntry e;
  (void)apply_blacklist_outcome(e, listed(), 1, 3);
  (void)apply_blacklist_outcome(e, clean(), 2, 3);
  (void)apply_blacklist_outcome(e, clean(), 3, 3);
  auto c = apply_blacklist_outcome(e, listed(), 4, 3);
  BOOST_TEST(c.listed);
  BOOST_TEST(e.clean_streak == 0u);
  (void)apply_blacklist_outcome(e, clean(), 5, 3);
  (void)apply_blacklist_outcome(e, clean(), 6, 3);
  BOOST_TEST(e.held);
  c = apply_blacklist_outcome(e, clean(), 7, 3);
  BOOST_TEST(c.returned);
}

BOOST_AUTO_TEST_CASE(errors_are_never_listings_nor_clean) {
  BlacklistEntry e;
  auto c = apply_blacklist_outcome(e, error("refused"), 10, 2);
  BOOST_TEST(c.error);
  BOOST_TEST((!e.checked && !e.listed && !e.held));
  c = apply_blacklist_outcome(e, error("refused"), 20, 2);
  BOOST_TEST(!c.error, "the same error again is no change");
  c = apply_blacklist_outcome(e, error("timeout"), 30, 2);
  BOOST_TEST(c.error);
  // A listed entry stays listed through errors.
  (void)apply_blacklist_outcome(e, listed(), 40, 2);
  (void)apply_blacklist_outcome(e, error(), 50, 2);
  BOOST_TEST((e.listed && e.held));
}

BOOST_AUTO_TEST_CASE(rotation_keeps_at_least_one_address_unless_told_not_to) {
  using V = std::vector<bool>;
  BOOST_TEST((out_of_rotation(V{false, true}, true) == V{false, true}));
  BOOST_TEST((out_of_rotation(V{false, true}, false) == V{false, true}));
  BOOST_TEST((out_of_rotation(V{true, true}, true) == V{false, false}));
  BOOST_TEST((out_of_rotation(V{true, true}, false) == V{true, true}));
  BOOST_TEST((out_of_rotation(V{true}, true) == V{false}));
  BOOST_TEST((out_of_rotation(V{true, false, true}, true) == V{true, false, true}));
  BOOST_TEST((out_of_rotation(V{}, true) == V{}));
}

BOOST_AUTO_TEST_CASE(entries_survive_their_stored_form) {
  BlacklistEntry e;
  (void)apply_blacklist_outcome(e, listed("line one\nline two"), 1700000000000, 2);
  (void)apply_blacklist_outcome(e, error("bad\r\nthing"), 1700000001000, 2);
  auto d = decode_blacklist_entry(encode_blacklist_entry(e));
  BOOST_TEST_REQUIRE(d.has_value());
  BOOST_TEST((d->checked && d->listed && d->held));
  BOOST_TEST(d->since_ms == 1700000000000);
  BOOST_TEST(d->last_checked_ms == 1700000001000);
  BOOST_TEST(d->reason == "line one line two");
  BOOST_TEST(d->error == "bad  thing");
  BOOST_TEST(!decode_blacklist_entry("2\n1\n1\n1\n0\n0\n0\n\n").has_value());
  BOOST_TEST(!decode_blacklist_entry("garbage").has_value());
  BOOST_TEST(queue::state::blacklist_key("127.0.0.2", "bl.test") == "b/127.0.0.2/bl.test");

  PtrCheck p;
  p.checked = true;
  p.confirmed = true;
  p.names = {"mail1.example.test", "mail.example.test"};
  p.last_checked_ms = 42;
  auto q = decode_ptr_check(encode_ptr_check(p));
  BOOST_TEST_REQUIRE(q.has_value());
  BOOST_TEST((q->names == p.names));
  BOOST_TEST(q->confirmed);
  BOOST_TEST(q->last_checked_ms == 42);
  BOOST_TEST(queue::state::ptr_key("::1") == "b/::1/#ptr");
}

class MapStore : public StateStore {
 public:
  std::optional<std::string> get(std::string_view key) override {
    auto it = data.find(std::string(key));
    if (it == data.end()) return std::nullopt;
    return it->second;
  }
  void put(std::string_view key, std::string_view value) override {
    data[std::string(key)] = std::string(value);
  }
  void erase(std::string_view key) override { data.erase(std::string(key)); }
  std::map<std::string, std::string> data;
};

BOOST_AUTO_TEST_CASE(the_limiter_skips_addresses_out_of_rotation) {
  auto loaded = conf::load_string(
      "listeners: [{name: mx, address: \"127.0.0.1:25\", role: inbound}]\n"
      "egress: [{address: 127.0.0.1}, {address: 127.0.0.2}]\n",
      "t.yaml");
  BOOST_TEST_REQUIRE(loaded.ok());
  MapStore store;
  Limiter limiter(*loaded.config, store);
  limiter.set_out_of_rotation({{"127.0.0.2", "127.0.0.2 is listed on bl.test"}});
  BOOST_TEST(limiter.in_rotation(0));
  BOOST_TEST(!limiter.in_rotation(1));
  for (int i = 0; i < 50; ++i) {
    Wait wait;
    auto choice = limiter.choose("default", 1000, &wait);
    BOOST_TEST_REQUIRE(choice.has_value());
    BOOST_TEST(choice->address.ip() == "127.0.0.1");
  }
  limiter.set_out_of_rotation({{"127.0.0.1", "a"}, {"127.0.0.2", "b"}});
  Wait wait;
  BOOST_TEST(!limiter.choose("default", 1000, &wait).has_value());
  BOOST_TEST(wait.reason.find("out of rotation") != std::string::npos, wait.reason);
  BOOST_TEST(wait.until_ms > 1000);
  limiter.set_out_of_rotation({});
  BOOST_TEST(limiter.in_rotation(1));
}

BOOST_AUTO_TEST_CASE(config_reads_blacklist_monitor) {
  auto loaded = conf::load_string(
      "listeners: [{name: mx, address: \"127.0.0.1:25\", role: inbound}]\n"
      "domains: [{name: example.test}]\n"
      "blacklist_monitor:\n"
      "  interval: 1s\n"
      "  zones: [bl.test, ZEN.Example.]\n"
      "  domain_zones: [dbl.test]\n"
      "  webhook: http://127.0.0.1:8080/hook?x=1\n"
      "  clean_checks: 3\n"
      "  keep_last_address: false\n",
      "t.yaml");
  for (const auto& e : loaded.errors) BOOST_TEST_MESSAGE(e);
  BOOST_TEST_REQUIRE(loaded.ok());
  const auto& b = loaded.config->blacklist_monitor;
  BOOST_TEST(b.enabled);
  BOOST_TEST(b.interval.count() == 1000);
  BOOST_TEST((b.zones == std::vector<std::string>{"bl.test", "zen.example"}));
  BOOST_TEST((b.domain_zones == std::vector<std::string>{"dbl.test"}));
  BOOST_TEST_REQUIRE(b.webhook_url.has_value());
  BOOST_TEST(b.webhook_url->host == "127.0.0.1");
  BOOST_TEST(b.webhook_url->port == 8080);
  BOOST_TEST(b.webhook_url->target == "/hook?x=1");
  BOOST_TEST(b.clean_checks == 3u);
  BOOST_TEST(!b.keep_last_address);
  BOOST_TEST(b.notify == "postmaster@example.test");

  auto bad = conf::load_string(
      "listeners: [{name: mx, address: \"127.0.0.1:25\", role: inbound}]\n"
      "blacklist_monitor: {interval: 100ms, zones: [bl.test, bl.test, \"no way\"],\n"
      "                    webhook: \"ftp://hooks.example.test/x\", clean_checks: 0}\n",
      "t.yaml");
  BOOST_TEST(!bad.ok());
  std::string all;
  for (const auto& e : bad.errors) all += e + "\n";
  BOOST_TEST(all.find("at least 1s") != std::string::npos, all);
  BOOST_TEST(all.find("not an http:// or https:// URL") != std::string::npos, all);
  BOOST_TEST(all.find("not a valid DNS zone") != std::string::npos, all);
  BOOST_TEST(all.find("clean_checks") != std::string::npos, all);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::policy
