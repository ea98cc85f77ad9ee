// limiter_test.cc - egress choice, providers, shaping, warm-up and suspensions, on a
// map-backed state store and explicit times.
#include <boost/test/unit_test.hpp>

#include <map>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/metrics.h"
#include "conf/config.h"
#include "policy/limiter.h"
#include "policy/weighted_pick.h"
#include "tests/policy/map_store.h"

namespace hato::policy {
namespace {

constexpr int64_t kDayMs = 24 * 60 * 60 * 1000;
constexpr int64_t kHourMs = 60 * 60 * 1000;
constexpr int64_t kNov1 = 20758;  // 2026-11-01 in days since 1970-01-01

// A time on a day: at(kNov1, 10) is 2026-11-01T10:00:00Z.
int64_t at(int64_t day, int64_t hours = 0, int64_t ms = 0) {
  return day * kDayMs + hours * kHourMs + ms;
}

using test_support::config_of;
using test_support::MapStore;

// One egress address with a warm-up of 5 on 2026-11-01 and 7 on the day after.
const std::string kWarmup =
    "egress:\n"
    "  - {address: 127.0.0.1, helo: mail1.example.test,\n"
    "     warmup: {start: 2026-11-01, daily: [5, 7]}}\n";

// Takes until refused; returns how many were allowed.
int take_all(Limiter& limiter, size_t egress, const std::string& provider, int64_t now,
             Wait* wait) {
  int n = 0;
  while (limiter.take(egress, provider, now, wait)) {
    if (++n > 1000) break;
  }
  return n;
}

BOOST_AUTO_TEST_CASE(providers_match_mx_suffixes_on_label_boundaries) {
  MapStore store;
  Limiter limiter(*config_of("egress: [{address: 127.0.0.1}]\n"), store);
  auto provider = [&](std::vector<std::string> hosts) { return limiter.provider_for(hosts); };
  BOOST_TEST(provider({"gmail-smtp-in.l.google.com"}) == "google");
  BOOST_TEST(provider({"ALT1.Gmail-SMTP-In.L.Google.COM."}) == "google");
  BOOST_TEST(provider({"google.com"}) == "google");
  BOOST_TEST(provider({"mx.googlemail.com"}) == "google");
  BOOST_TEST(provider({"evilgoogle.com"}) == "default");
  BOOST_TEST(provider({"google.com.evil.test"}) == "default");
  BOOST_TEST(provider({"example-com.mail.protection.outlook.com"}) == "microsoft");
  BOOST_TEST(provider({"hotmail-com.olc.protection.outlook.com"}) == "microsoft");
  BOOST_TEST(provider({"mta5.am0.yahoodns.net"}) == "yahoo");
  BOOST_TEST(provider({"mx01.mail.icloud.com"}) == "apple");
  BOOST_TEST(provider({"mx.example.test"}) == "default");
  BOOST_TEST(provider({}) == "default");
  // The first host that matches decides.
  BOOST_TEST(provider({"mx.example.test", "aspmx.l.google.com"}) == "google");
  BOOST_TEST(provider({"mx01.mail.icloud.com", "aspmx.l.google.com"}) == "apple");
}

BOOST_AUTO_TEST_CASE(configured_providers_add_and_override) {
  MapStore store;
  Limiter limiter(*config_of("egress: [{address: 127.0.0.1}]\n"
                             "shaping:\n"
                             "  providers:\n"
                             "    - {name: fastmail, mx_suffix: [messagingengine.com]}\n"
                             "    - {name: google, mx_suffix: [googlemail.com]}\n"
                             "    - {name: o365, mx_suffix: [mail.protection.outlook.com]}\n"
                             "    - {name: apple, messages_per_connection: 20}\n"
                             "    - {name: lookalike, mx_suffix: [icloud.com]}\n"),
                  store);
  auto provider = [&](std::string host) { return limiter.provider_for({host}); };
  BOOST_TEST(provider("in1-smtp.messagingengine.com") == "fastmail");
  // A configured mx_suffix replaces the built-in list.
  BOOST_TEST(provider("aspmx.l.google.com") == "default");
  BOOST_TEST(provider("alt.googlemail.com") == "google");
  // The longest suffix wins, wherever it comes from.
  BOOST_TEST(provider("example-com.mail.protection.outlook.com") == "o365");
  BOOST_TEST(provider("hotmail-com.olc.protection.outlook.com") == "microsoft");
  // Of two equal suffixes, the configured one.
  BOOST_TEST(provider("mx01.mail.icloud.com") == "lookalike");
  BOOST_TEST(provider("mx.me.com") == "apple");
  BOOST_TEST(limiter.messages_per_connection("apple") == 20u);
  BOOST_TEST(limiter.messages_per_connection("google") == 100u);
  BOOST_TEST(limiter.messages_per_connection("fastmail") == 100u);
  BOOST_TEST(limiter.messages_per_connection("nobody-knows") == 100u);
}

BOOST_AUTO_TEST_CASE(every_provider_config_calls_built_in_is_built_in) {
  // conf lets these be named without mx_suffix; the limiter must recognise each one's MX
  // hosts, also when the configuration changes only its limits.
  const std::map<std::string_view, std::string> kSampleMx = {
      {"google", "aspmx.l.google.com"},
      {"microsoft", "example-com.mail.protection.outlook.com"},
      {"yahoo", "mta5.am0.yahoodns.net"},
      {"apple", "mx01.mail.icloud.com"},
  };
  for (std::string_view name : conf::kBuiltinProviders) {
    BOOST_TEST_REQUIRE(kSampleMx.count(name) == 1u, name);
    MapStore store;
    Limiter limiter(*config_of("egress: [{address: 127.0.0.1}]\n"
                               "shaping: {providers: [{name: " +
                               std::string(name) + ", connections: 1}]}\n"),
                    store);
    BOOST_TEST(limiter.provider_for({kSampleMx.at(name)}) == name);
    Wait wait;
    auto choice = limiter.choose(std::string(name), at(kNov1), &wait);
    BOOST_TEST_REQUIRE(choice.has_value());
    limiter.opened(choice->index, std::string(name));
    BOOST_TEST(!limiter.choose(std::string(name), at(kNov1), &wait), name);
  }
}

BOOST_AUTO_TEST_CASE(without_egress_the_limiter_is_inactive) {
  MapStore store;
  Limiter limiter(*config_of(""), store);
  BOOST_TEST(!limiter.active());
  Wait wait;
  BOOST_TEST(!limiter.choose("google", at(kNov1), &wait));
  BOOST_TEST(wait.reason == "no egress addresses are configured");
  BOOST_TEST(limiter.status_json(at(kNov1)).empty());
  BOOST_TEST(store.data.empty());
}

BOOST_AUTO_TEST_CASE(choice_follows_the_weights) {
  MapStore store;
  Limiter limiter(*config_of("egress:\n"
                             "  - {address: 127.0.0.1, helo: one.example.test, weight: 1}\n"
                             "  - {address: 127.0.0.2, helo: two.example.test, weight: 3}\n"),
                  store);
  BOOST_TEST(limiter.active());
  limiter.seed(7);
  int counts[2] = {0, 0};
  constexpr int kPicks = 8000;
  for (int i = 0; i < kPicks; ++i) {
    Wait wait;
    auto choice = limiter.choose("google", at(kNov1), &wait);
    BOOST_TEST_REQUIRE(choice.has_value());
    BOOST_TEST_REQUIRE(choice->index < 2u);
    ++counts[choice->index];
  }
  // 25% and 75%; five standard deviations (about 2.4 points) either side.
  double share = static_cast<double>(counts[1]) / kPicks;
  BOOST_TEST(share > 0.726, share);
  BOOST_TEST(share < 0.774, share);

  Wait wait;
  auto choice = limiter.choose("google", at(kNov1), &wait);
  BOOST_TEST_REQUIRE(choice.has_value());
  BOOST_TEST(choice->address.ip() == (choice->index == 0 ? "127.0.0.1" : "127.0.0.2"));
  BOOST_TEST(choice->address.port() == 0);
  BOOST_TEST(choice->helo == (choice->index == 0 ? "one.example.test" : "two.example.test"));
}

BOOST_AUTO_TEST_CASE(smooth_weighted_pick_gives_exact_shares_spread_out) {
  int64_t credit[3] = {0, 0, 0};
  std::vector<WeightedSlot> slots = {{1, &credit[0]}, {3, &credit[1]}, {2, &credit[2]}};
  std::string seq;
  for (int i = 0; i < 12; ++i) seq += static_cast<char>('a' + smooth_weighted_pick(slots));
  // Every run of 6 (the sum of the weights) has a once, b three times, c twice.
  BOOST_TEST(seq == "bcabcbbcabcb");
}

BOOST_AUTO_TEST_CASE(pick_shares_messages_by_weight_among_those_that_may_send) {
  MapStore store;
  Limiter limiter(*config_of("egress:\n"
                             "  - {address: 127.0.0.2, weight: 1}\n"
                             "  - {address: 127.0.0.3, weight: 3,\n"
                             "     warmup: {start: 2026-11-01, daily: [30]}}\n"),
                  store);
  const int64_t now = at(kNov1, 10);
  int counts[2] = {0, 0};
  Wait wait;
  for (int i = 0; i < 40; ++i) {
    auto egress = limiter.pick("default", now, &wait);
    BOOST_TEST_REQUIRE(egress.has_value());
    ++counts[*egress];
    if (*egress == 1) BOOST_TEST_REQUIRE(limiter.take(1, "default", now + i * 1000, &wait));
  }
  BOOST_TEST(counts[0] == 10);
  BOOST_TEST(counts[1] == 30);
  // 127.0.0.3's allowance is spent: every further message goes out from 127.0.0.2.
  BOOST_TEST(!limiter.may_send(1, "default", now));
  BOOST_TEST(limiter.may_send(0, "default", now));
  for (int i = 0; i < 5; ++i) BOOST_TEST(limiter.pick("default", now, &wait).value_or(9) == 0u);
  // With that address out of the rotation too, nothing may send; the earliest end is named.
  limiter.set_out_of_rotation({{"127.0.0.2", "listed"}});
  BOOST_TEST(!limiter.pick("default", now, &wait).has_value());
  BOOST_TEST(wait.reason == "out of rotation: listed");
  // choose() restricted to one address says why that one may not connect.
  BOOST_TEST(!limiter.choose("default", now, &wait, 1).has_value());
  BOOST_TEST(wait.reason.starts_with("warm-up limit: 127.0.0.3 sent 30 of 30"), wait.reason);
  BOOST_TEST(limiter.connections_per_address("default") == 10u);
}

BOOST_AUTO_TEST_CASE(warm_up_allowance_is_spent_then_waits_for_midnight) {
  MapStore store;
  Limiter limiter(*config_of(kWarmup), store);
  const int64_t now = at(kNov1, 10);
  Wait wait;
  BOOST_TEST(limiter.choose("google", now, &wait).has_value());
  BOOST_TEST(take_all(limiter, 0, "google", now, &wait) == 5);
  BOOST_TEST(wait.until_ms == at(kNov1 + 1));
  BOOST_TEST(wait.reason == "warm-up limit: 127.0.0.1 sent 5 of 5 today (day 1)");
  // The allowance is the address's, whatever the provider, and choose() knows it too.
  BOOST_TEST(!limiter.take(0, "yahoo", now, &wait));
  wait = Wait{};
  BOOST_TEST(!limiter.choose("yahoo", now + 1000, &wait));
  BOOST_TEST(wait.until_ms == at(kNov1 + 1));
  BOOST_TEST(wait.reason == "warm-up limit: 127.0.0.1 sent 5 of 5 today (day 1)");
  BOOST_TEST(store.data["w/127.0.0.1/2026-11-01"] == "5");
  BOOST_TEST(limiter.status_json(now) ==
             "{\"address\":\"127.0.0.1\",\"helo\":\"mail1.example.test\",\"weight\":1,\"day\":1,"
             "\"allowance\":5,\"sent_today\":5,\"suspensions\":[],\"slowdowns\":[]}\n");
}

BOOST_AUTO_TEST_CASE(a_reload_raises_the_allowance_and_keeps_the_count) {
  MapStore store;
  Limiter limiter(*config_of(kWarmup), store);
  const int64_t now = at(kNov1, 10);
  Wait wait;
  BOOST_TEST(take_all(limiter, 0, "google", now, &wait) == 5);
  BOOST_TEST(wait.until_ms == at(kNov1 + 1));
  limiter.set_warmup(
      *config_of("egress:\n"
                 "  - {address: 127.0.0.1, helo: mail1.example.test,\n"
                 "     warmup: {start: 2026-11-01, daily: [8, 9]}}\n"));
  BOOST_TEST(limiter.choose("google", now, &wait).has_value());
  BOOST_TEST(take_all(limiter, 0, "google", now, &wait) == 3);
  BOOST_TEST(wait.reason == "warm-up limit: 127.0.0.1 sent 8 of 8 today (day 1)");
  // Another address in that place is not this one's schedule.
  limiter.set_warmup(
      *config_of("egress: [{address: 127.0.0.9, warmup: {start: 2026-11-01, "
                 "daily: [100]}}]\n"));
  BOOST_TEST(!limiter.take(0, "google", now, &wait));
}

BOOST_AUTO_TEST_CASE(a_restart_keeps_the_count_and_day_two_has_its_own) {
  MapStore store;
  const int64_t now = at(kNov1, 10);
  {
    Limiter limiter(*config_of(kWarmup), store);
    Wait wait;
    BOOST_TEST(limiter.take(0, "google", now, &wait));
    BOOST_TEST(limiter.take(0, "google", now, &wait));
    BOOST_TEST(limiter.take(0, "google", now, &wait));
  }
  {
    Limiter limiter(*config_of(kWarmup), store);
    Wait wait;
    BOOST_TEST(take_all(limiter, 0, "google", now + kHourMs, &wait) == 2);
    BOOST_TEST(wait.reason == "warm-up limit: 127.0.0.1 sent 5 of 5 today (day 1)");
  }
  Limiter limiter(*config_of(kWarmup), store);
  Wait wait;
  BOOST_TEST(!limiter.take(0, "google", at(kNov1, 23, 59 * 60 * 1000), &wait));
  // Day 2: daily[1]; yesterday's counter goes.
  BOOST_TEST(take_all(limiter, 0, "google", at(kNov1 + 1, 0, 1), &wait) == 7);
  BOOST_TEST(wait.reason == "warm-up limit: 127.0.0.1 sent 7 of 7 today (day 2)");
  BOOST_TEST(wait.until_ms == at(kNov1 + 2));
  BOOST_TEST(store.data.count("w/127.0.0.1/2026-11-01") == 0u);
  BOOST_TEST(store.data["w/127.0.0.1/2026-11-02"] == "7");
  // Past the schedule there is no warm-up limit, only the rate (10/s by default).
  BOOST_TEST(take_all(limiter, 0, "google", at(kNov1 + 2), &wait) == 20);  // google's 20/s
  BOOST_TEST(wait.reason.starts_with("rate limit:"), wait.reason);
  BOOST_TEST(limiter.status_json(at(kNov1 + 2))
                 .find("\"day\":3,\"allowance\":null,"
                       "\"sent_today\":20") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(before_its_start_an_address_is_on_day_one) {
  MapStore store;
  Limiter limiter(*config_of(kWarmup), store);
  Wait wait;
  BOOST_TEST(take_all(limiter, 0, "google", at(kNov1 - 30), &wait) == 5);
  BOOST_TEST(wait.reason == "warm-up limit: 127.0.0.1 sent 5 of 5 today (day 1)");
}

BOOST_AUTO_TEST_CASE(only_a_start_date_follows_the_built_in_curve) {
  MapStore store;
  Limiter limiter(*config_of("egress: [{address: 127.0.0.1, warmup: {start: 2026-11-01}}]\n"),
                  store);
  auto status = [&](int64_t day) { return limiter.status_json(at(day)); };
  BOOST_TEST(status(kNov1).find("\"day\":1,\"allowance\":50,") != std::string::npos);
  BOOST_TEST(status(kNov1 + 1).find("\"day\":2,\"allowance\":100,") != std::string::npos);
  BOOST_TEST(status(kNov1 + 11).find("\"day\":12,\"allowance\":100000,") != std::string::npos);
  BOOST_TEST(status(kNov1 + 12).find("\"day\":13,\"allowance\":null,") != std::string::npos);
  // Without a warm-up there is neither a day nor an allowance, but a count.
  MapStore other;
  Limiter plain(*config_of("egress: [{address: 127.0.0.1, helo: a.test}]\n"), other);
  Wait wait;
  BOOST_TEST(plain.take(0, "google", at(kNov1), &wait));
  BOOST_TEST(plain.status_json(at(kNov1)) ==
             "{\"address\":\"127.0.0.1\",\"helo\":\"a.test\",\"weight\":1,\"day\":null,"
             "\"allowance\":null,\"sent_today\":1,\"suspensions\":[],\"slowdowns\":[]}\n");
}

BOOST_AUTO_TEST_CASE(per_provider_warm_up_counts_each_provider_apart) {
  MapStore store;
  Limiter limiter(
      *config_of("egress:\n"
                 "  - {address: 127.0.0.1, warmup: {start: 2026-11-01, daily: [2], per_provider: "
                 "true}}\n"),
      store);
  const int64_t now = at(kNov1, 8);
  Wait wait;
  BOOST_TEST(take_all(limiter, 0, "google", now, &wait) == 2);
  BOOST_TEST(wait.reason == "warm-up limit: 127.0.0.1 sent 2 of 2 to google today (day 1)");
  BOOST_TEST(take_all(limiter, 0, "yahoo", now, &wait) == 2);
  BOOST_TEST(store.data["w/127.0.0.1/2026-11-01/google"] == "2");
  BOOST_TEST(store.data["w/127.0.0.1/2026-11-01"] == "4");
  BOOST_TEST(!limiter.choose("google", now, &wait));
  BOOST_TEST(limiter.choose("microsoft", now, &wait).has_value());
  BOOST_TEST(limiter.status_json(now).find(
                 "\"sent_today\":4,\"per_provider\":true,\"sent_by_provider\":{\"google\":2,"
                 "\"yahoo\":2}") != std::string::npos);
  // A restart reads each provider's count back.
  Limiter again(*config_of("egress:\n"
                           "  - {address: 127.0.0.1, warmup: {start: 2026-11-01, daily: [2], "
                           "per_provider: true}}\n"),
                store);
  BOOST_TEST(!again.take(0, "yahoo", now, &wait));
  BOOST_TEST(again.take(0, "apple", now, &wait));
}

BOOST_AUTO_TEST_CASE(the_rate_is_a_smooth_token_bucket) {
  MapStore store;
  Limiter limiter(*config_of("egress: [{address: 127.0.0.1}]\n"
                             "shaping:\n"
                             "  default: {rate: 2/s}\n"
                             "  providers: [{name: yahoo, rate: 1/m}]\n"),
                  store);
  const int64_t t = at(kNov1, 12);
  Wait wait;
  // A second's worth at most: two at once, then one every 500 ms.
  BOOST_TEST(take_all(limiter, 0, "default", t, &wait) == 2);
  BOOST_TEST(wait.until_ms == t + 500);
  BOOST_TEST(wait.reason == "rate limit: 127.0.0.1 to default at 2/s");
  BOOST_TEST(!limiter.take(0, "default", t + 499, &wait));
  BOOST_TEST(wait.until_ms == t + 500);
  BOOST_TEST(limiter.take(0, "default", t + 500, &wait));
  BOOST_TEST(!limiter.take(0, "default", t + 500, &wait));
  BOOST_TEST(limiter.take(0, "default", t + 1000, &wait));
  // A long pause does not save up a burst.
  BOOST_TEST(take_all(limiter, 0, "default", t + 60000, &wait) == 2);
  // Slower than one a second: one token at most.
  BOOST_TEST(limiter.take(0, "yahoo", t, &wait));
  BOOST_TEST(!limiter.take(0, "yahoo", t + 1000, &wait));
  BOOST_TEST(wait.until_ms == t + 60000);
  BOOST_TEST(wait.reason == "rate limit: 127.0.0.1 to yahoo at 1/m");
  BOOST_TEST(limiter.take(0, "yahoo", t + 60000, &wait));
  // The bucket is per provider: google's is untouched.
  BOOST_TEST(take_all(limiter, 0, "google", t, &wait) == 20);
}

BOOST_AUTO_TEST_CASE(connection_slots_are_counted_per_address_and_provider) {
  MapStore store;
  Limiter limiter(*config_of("egress: [{address: 127.0.0.1}]\n"
                             "shaping: {providers: [{name: google, connections: 2}]}\n"),
                  store);
  const int64_t now = at(kNov1, 12);
  Wait wait;
  for (int i = 0; i < 2; ++i) {
    auto choice = limiter.choose("google", now, &wait);
    BOOST_TEST_REQUIRE(choice.has_value());
    limiter.opened(choice->index, "google");
  }
  BOOST_TEST(!limiter.choose("google", now, &wait));
  BOOST_TEST(wait.reason == "connection limit: 127.0.0.1 has 2 connections open to google");
  BOOST_TEST(wait.until_ms == now + 1000);
  BOOST_TEST(limiter.choose("yahoo", now, &wait).has_value());
  limiter.closed(0, "google");
  BOOST_TEST(limiter.choose("google", now, &wait).has_value());
  // More closes than opens (a connection from before a reload) do not make room.
  limiter.closed(0, "google");
  limiter.closed(0, "google");
  limiter.opened(0, "google");
  limiter.opened(0, "google");
  BOOST_TEST(!limiter.choose("google", now, &wait));
  // An index from an older configuration is refused, not trusted.
  BOOST_TEST(!limiter.take(3, "google", now, &wait));
  BOOST_TEST(!limiter.observe_reply(3, "google", "421 4.7.28 slow down", now));
}

// A cluster backend whose answers the test sets (policy/cluster.h is the real one).
class FakeShared : public SharedState {
 public:
  Allowance allowance(const std::string& key, uint64_t cap, int64_t expires_ms, uint64_t) override {
    asked_key = key;
    asked_cap = cap;
    asked_expires = expires_ms;
    return answer;
  }
  void spend(const std::string& key, uint64_t n) override { spent[key] += n; }
  std::optional<uint64_t> cluster_count(const std::string&) override { return count; }
  void suspended(const std::string& ip, const std::string& provider, int64_t until_ms,
                 const std::string&) override {
    published.push_back(ip + "/" + provider + " " + std::to_string(until_ms));
  }
  void slowed(const std::string& ip, const std::string& provider, int64_t, double rate,
              const std::string&) override {
    published.push_back("slow " + ip + "/" + provider + " " + std::to_string(rate));
  }
  void listed(const std::string& ip, int64_t, const std::string& reason) override {
    published.push_back("listed " + ip + " " + reason);
  }
  void unlisted(const std::string& ip) override { published.push_back("unlisted " + ip); }
  Allowance connection(const std::string&, const std::string&, uint32_t limit,
                       uint32_t open) override {
    asked_limit = limit;
    asked_open = open;
    return slot_answer;
  }
  void connections(const std::string& ip, const std::string& provider, uint32_t open) override {
    open_now[ip + "/" + provider] = open;
  }
  double share() const override { return node_share; }

  Allowance answer = Allowance::kYes;
  Allowance slot_answer = Allowance::kYes;
  uint32_t asked_limit = 0;
  uint32_t asked_open = 0;
  std::map<std::string, uint32_t> open_now;
  std::optional<uint64_t> count;
  double node_share = 1.0;
  std::string asked_key;
  uint64_t asked_cap = 0;
  int64_t asked_expires = 0;
  std::map<std::string, int> spent;
  std::vector<std::string> published;
};

BOOST_AUTO_TEST_CASE(a_cluster_decides_the_warm_up_beyond_the_local_count) {
  MapStore store;
  Limiter limiter(*config_of(kWarmup), store);
  FakeShared shared;
  limiter.set_shared(&shared);
  const int64_t now = at(kNov1, 10);
  Wait wait;
  BOOST_TEST(limiter.take(0, "google", now, &wait));
  BOOST_TEST(shared.asked_key == "w/127.0.0.1/2026-11-01");
  BOOST_TEST(shared.asked_cap == 5u);
  BOOST_TEST(shared.asked_expires == at(kNov1 + 1));
  BOOST_TEST(shared.spent["w/127.0.0.1/2026-11-01"] == 1);
  // A lease on its way: a connection may open, a message waits a moment on it.
  shared.answer = SharedState::Allowance::kAsking;
  BOOST_TEST(limiter.choose("google", now, &wait).has_value());
  BOOST_TEST(!limiter.take(0, "google", now, &wait));
  BOOST_TEST(wait.until_ms == now + 5);
  // The cluster spent it: asked again in 10 s, in case another node gives some back.
  shared.answer = SharedState::Allowance::kSpent;
  shared.count = 5;
  BOOST_TEST(!limiter.choose("google", now, &wait).has_value());
  BOOST_TEST(wait.until_ms == now + 10000);
  BOOST_TEST(wait.reason == "warm-up limit: the cluster sent 5 of 5 from 127.0.0.1 today (day 1)");
  shared.answer = SharedState::Allowance::kOffline;
  BOOST_TEST(!limiter.take(0, "google", now, &wait));
  BOOST_TEST(wait.reason.find("redis is unreachable") != std::string::npos, wait.reason);
  BOOST_TEST(shared.spent["w/127.0.0.1/2026-11-01"] == 1, "nothing spent on a refusal");
  BOOST_TEST(limiter.status_json(now).find("\"cluster_counted_today\":5") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_cluster_shares_suspensions_and_hands_out_connection_slots) {
  MapStore store;
  Limiter limiter(*config_of("egress:\n  - {address: 127.0.0.1}\n"), store);
  FakeShared shared;
  shared.node_share = 1.0 / 3;
  limiter.set_shared(&shared);
  const int64_t now = hato::log::now_ms();  // apply_suspension() ignores ended ones
  Wait wait;
  // google: 5 connections per address for the whole cluster, each one a slot of the backend.
  BOOST_TEST_REQUIRE(limiter.choose("google", now, &wait).has_value());
  BOOST_TEST(shared.asked_limit == 5u);
  limiter.opened(0, "google");
  BOOST_TEST(shared.open_now["127.0.0.1/google"] == 1u);
  // No slot at hand: asked for, and the mail comes back a moment later; never a block.
  shared.slot_answer = SharedState::Allowance::kAsking;
  BOOST_TEST(!limiter.choose("google", now, &wait).has_value());
  BOOST_TEST(shared.asked_open == 1u);
  BOOST_TEST(wait.until_ms == now + 2);
  BOOST_TEST(wait.reason ==
             "connection limit: asking the cluster for a connection from "
             "127.0.0.1 to google");
  shared.slot_answer = SharedState::Allowance::kSpent;
  BOOST_TEST(!limiter.choose("google", now, &wait).has_value());
  BOOST_TEST(wait.until_ms == now + 1000);
  BOOST_TEST(wait.reason ==
             "connection limit: the cluster has all 5 connections from 127.0.0.1 to google open");
  shared.slot_answer = SharedState::Allowance::kOffline;
  BOOST_TEST(!limiter.choose("google", now, &wait).has_value());
  BOOST_TEST(wait.reason.find("redis is unreachable") != std::string::npos, wait.reason);
  // The whole limit holds whatever the backend says.
  shared.slot_answer = SharedState::Allowance::kYes;
  for (int i = 0; i < 4; ++i) limiter.opened(0, "google");
  BOOST_TEST(!limiter.choose("google", now, &wait).has_value());
  BOOST_TEST(wait.reason == "connection limit: 127.0.0.1 has 5 connections open to google");
  limiter.closed(0, "google");
  BOOST_TEST(shared.open_now["127.0.0.1/google"] == 4u);
  // A throttle seen here is published; one seen elsewhere applies without being re-published.
  BOOST_TEST(limiter.observe_reply(0, "google", "421 4.7.28 unusual rate", now));
  BOOST_TEST(shared.published.size() == 1u);
  BOOST_TEST(shared.published[0].starts_with("127.0.0.1/google "));
  limiter.apply_suspension("127.0.0.1", "yahoo", now + 60000, "TS01 from node2");
  limiter.apply_suspension("192.0.2.9", "yahoo", now + 60000, "not our address");
  BOOST_TEST(shared.published.size() == 1u);
  BOOST_TEST(!limiter.take(0, "yahoo", now, &wait));
  BOOST_TEST(wait.reason.find("TS01 from node2") != std::string::npos, wait.reason);
  BOOST_TEST(store.data.count("s/127.0.0.1/yahoo") == 1u);
  BOOST_TEST(limiter.take(0, "microsoft", now, &wait));
}

BOOST_AUTO_TEST_CASE(a_gmail_throttle_suspends_that_address_for_google_only) {
  MapStore store;
  const std::string yaml =
      "egress:\n"
      "  - {address: 127.0.0.1}\n"
      "  - {address: 127.0.0.2}\n";
  Limiter limiter(*config_of(yaml), store);
  limiter.seed(1);
  Counter& suspensions =
      metrics().counter("hato_suspensions_total", "Egress address x provider suspensions begun",
                        "provider=\"google\"");
  const uint64_t before = suspensions.value();
  const int64_t now = at(kNov1, 9);
  const std::string reply =
      "421 4.7.28 [127.0.0.1] Our system has detected an unusual rate of unsolicited mail";

  BOOST_TEST(!limiter.observe_reply(0, "google", "450 4.2.1 mailbox busy", now));
  BOOST_TEST(!limiter.observe_reply(0, "yahoo", reply, now));  // a Gmail reply, not Gmail
  BOOST_TEST(limiter.observe_reply(0, "google", reply, now));
  BOOST_TEST(suspensions.value() == before + 1);
  // A second throttle while suspended extends it and is not a new suspension.
  BOOST_TEST(limiter.observe_reply(0, "google", reply, now + 60000));
  BOOST_TEST(suspensions.value() == before + 1);
  const int64_t until = now + 60000 + kHourMs;

  Wait wait;
  BOOST_TEST(!limiter.take(0, "google", now + 1000, &wait));
  BOOST_TEST(wait.until_ms == until);
  BOOST_TEST(wait.reason ==
             "suspended: 127.0.0.1 to google until 2026-11-01T10:01:00.000Z after \"" + reply +
                 "\"");
  BOOST_TEST(limiter.take(0, "yahoo", now + 1000, &wait));
  BOOST_TEST(limiter.take(1, "google", now + 1000, &wait));
  for (int i = 0; i < 50; ++i) {
    auto choice = limiter.choose("google", now + 1000, &wait);
    BOOST_TEST_REQUIRE(choice.has_value());
    BOOST_TEST_REQUIRE(choice->index == 1u);
  }
  std::string status = limiter.status_json(now + 1000);
  BOOST_TEST(status.find("\"suspensions\":[{\"provider\":\"google\",\"until\":\"2026-11-01T10:01:"
                         "00.000Z\",\"reason\":\"" +
                         reply + "\"}]") != std::string::npos,
             status);

  // With both suspended, the mail waits for the first to lift: the second address's,
  // suspended later for a shorter time.
  BOOST_TEST(limiter.observe_reply(1, "google", "421-4.7.0 unusual rate of mail", now + 2000));
  const int64_t until_second = now + 2000 + kHourMs;
  BOOST_TEST(!limiter.choose("google", now + 3000, &wait));
  BOOST_TEST(wait.until_ms == until_second);
  BOOST_TEST(wait.reason ==
             "suspended: 127.0.0.2 to google until 2026-11-01T10:00:02.000Z after "
             "\"421-4.7.0 unusual rate of mail\"");

  // A restart remembers; time lifts each by itself.
  Limiter again(*config_of(yaml), store);
  BOOST_TEST(!again.choose("google", until_second - 1, &wait));
  auto choice = again.choose("google", until_second, &wait);
  BOOST_TEST_REQUIRE(choice.has_value());
  BOOST_TEST(choice->index == 1u);
  BOOST_TEST(store.data.count("s/127.0.0.2/google") == 0u);
  BOOST_TEST(store.data.count("s/127.0.0.1/google") == 1u);
  BOOST_TEST(again.status_json(until - 1).find("\"suspensions\":[{\"provider\":\"google\"") !=
             std::string::npos);
  BOOST_TEST(!again.take(0, "google", until - 1, &wait));
  BOOST_TEST(again.take(0, "google", until, &wait));
  BOOST_TEST(store.data.count("s/127.0.0.1/google") == 0u);
  BOOST_TEST(again.status_json(until).find("google") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(built_in_rules_know_yahoo_and_microsoft) {
  MapStore store;
  Limiter limiter(*config_of("egress: [{address: 127.0.0.1}]\n"), store);
  const int64_t now = at(kNov1);
  BOOST_TEST(limiter.observe_reply(0, "yahoo",
                                   "421 4.7.0 [TS01] Messages from 127.0.0.1 "
                                   "temporarily deferred",
                                   now));
  BOOST_TEST(limiter.observe_reply(0, "microsoft",
                                   "451 4.7.650 The mail server [127.0.0.1] has "
                                   "been temporarily rate limited",
                                   now));
  BOOST_TEST(!limiter.observe_reply(0, "apple", "421 4.7.650 whatever", now));
  BOOST_TEST(!limiter.observe_reply(0, "google", "421 4.7.0 TLS required", now));
  Wait wait;
  BOOST_TEST(!limiter.take(0, "yahoo", now + kHourMs - 1, &wait));
  BOOST_TEST(limiter.take(0, "yahoo", now + kHourMs, &wait));
  BOOST_TEST(!limiter.take(0, "microsoft", now + 1, &wait));
  BOOST_TEST(limiter.take(0, "apple", now + 1, &wait));
}

BOOST_AUTO_TEST_CASE(configured_rules_come_first_and_may_slow_down_instead) {
  MapStore store;
  const std::string yaml =
      "egress: [{address: 127.0.0.1}]\n"
      "shaping:\n"
      "  suspend_on:\n"
      "    - {reply: \"4\\\\.7\\\\.28\", provider: google, for: 10m}\n"
      "    - {reply: try again later, for: 5m}\n"
      "    - {reply: slow down, rate: 1/m, for: 1h}\n";
  Limiter limiter(*config_of(yaml), store);
  const int64_t now = at(kNov1, 6);
  Wait wait;
  BOOST_TEST(limiter.observe_reply(0, "google", "421 4.7.28 too much", now));
  BOOST_TEST(!limiter.take(0, "google", now + 10 * 60000 - 1, &wait));
  BOOST_TEST(limiter.take(0, "google", now + 10 * 60000, &wait));
  // A rule without a provider applies to any, case-insensitively.
  BOOST_TEST(limiter.observe_reply(0, "default", "451 Try Again Later", now));
  BOOST_TEST(!limiter.take(0, "default", now + 5 * 60000 - 1, &wait));
  BOOST_TEST(limiter.take(0, "default", now + 5 * 60000, &wait));
  // A slowdown keeps the connection (false) and lowers the rate.
  BOOST_TEST(!limiter.observe_reply(0, "apple", "452 please slow down", now));
  BOOST_TEST(limiter.take(0, "apple", now, &wait));
  BOOST_TEST(!limiter.take(0, "apple", now + 1000, &wait));
  BOOST_TEST(wait.reason == "rate limit: 127.0.0.1 to apple at 1/m");
  BOOST_TEST(limiter.choose("apple", now + 1000, &wait).has_value());
  std::string status = limiter.status_json(now + 1000);
  BOOST_TEST(status.find("\"slowdowns\":[{\"provider\":\"apple\",\"until\":"
                         "\"2026-11-01T07:00:00.000Z\",\"rate\":\"1/m\",\"reason\":\"452 please "
                         "slow down\"}]") != std::string::npos,
             status);
  // It survives a restart, and ends by itself.
  Limiter again(*config_of(yaml), store);
  BOOST_TEST(again.take(0, "apple", now + 2000, &wait));
  BOOST_TEST(!again.take(0, "apple", now + 3000, &wait));
  BOOST_TEST(again.take(0, "apple", now + kHourMs, &wait));
  BOOST_TEST(again.take(0, "apple", now + kHourMs, &wait));
  BOOST_TEST(store.data.count("r/127.0.0.1/apple") == 0u);
}

BOOST_AUTO_TEST_CASE(reasons_are_one_short_line) {
  MapStore store;
  Limiter limiter(*config_of("egress: [{address: 127.0.0.1}]\n"), store);
  std::string reply = "421 4.7.28 \x1b[31mred\x1b[0m " + std::string(400, 'x') + "\r\nsecond";
  BOOST_TEST(limiter.observe_reply(0, "google", reply, at(kNov1)));
  std::string value = store.data["s/127.0.0.1/google"];
  std::string reason = value.substr(value.find(' ') + 1);
  BOOST_TEST(reason.size() == 200u);
  BOOST_TEST(reason.starts_with("421 4.7.28  [31mred [0m xxx"), reason);
}

BOOST_AUTO_TEST_CASE(a_cluster_shares_slowdowns) {
  MapStore store;
  Limiter limiter(*config_of("egress:\n  - {address: 127.0.0.1}\n"
                             "shaping:\n"
                             "  suspend_on:\n"
                             "    - {reply: slow down, rate: 1/m, for: 1h}\n"),
                  store);
  FakeShared shared;
  limiter.set_shared(&shared);
  const int64_t now = hato::log::now_ms();  // apply_slowdown() ignores ended ones
  Wait wait;
  BOOST_TEST(!limiter.observe_reply(0, "apple", "452 please slow down", now));
  BOOST_TEST_REQUIRE(shared.published.size() == 1u);
  BOOST_TEST(shared.published[0].starts_with("slow 127.0.0.1/apple 0.0166"), shared.published[0]);
  // One seen elsewhere: applied, kept in the state store, not published again.
  limiter.apply_slowdown("127.0.0.1", "yahoo", now + 60000, 1.0 / 3600, "452 slow (node2)");
  limiter.apply_slowdown("192.0.2.9", "yahoo", now + 60000, 1.0, "not our address");
  limiter.apply_slowdown("127.0.0.1", "google", now - 1, 1.0, "over already");
  BOOST_TEST(shared.published.size() == 1u);
  BOOST_TEST(store.data.count("r/127.0.0.1/yahoo") == 1u);
  BOOST_TEST(store.data.count("r/127.0.0.1/google") == 0u);
  BOOST_TEST(limiter.take(0, "yahoo", now, &wait));
  BOOST_TEST(!limiter.take(0, "yahoo", now + 1000, &wait));
  BOOST_TEST(wait.reason == "rate limit: 127.0.0.1 to yahoo at 1/h");
  // A faster one for a shorter time changes nothing.
  limiter.apply_slowdown("127.0.0.1", "yahoo", now + 1000, 5.0, "older");
  BOOST_TEST(limiter.status_json(now).find("452 slow (node2)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_cluster_shares_blacklisted_addresses) {
  const std::string two =
      "egress:\n"
      "  - {address: 127.0.0.1}\n"
      "  - {address: 127.0.0.2}\n";
  MapStore store;
  Limiter limiter(*config_of(two), store);
  FakeShared shared;
  limiter.set_shared(&shared);
  // This node's monitor: published once per change.
  limiter.set_out_of_rotation({{"127.0.0.2", "127.0.0.2 is listed on bl.test"}});
  limiter.set_out_of_rotation({{"127.0.0.2", "127.0.0.2 is listed on bl.test"}});
  BOOST_TEST_REQUIRE(shared.published.size() == 1u);
  BOOST_TEST(shared.published[0] == "listed 127.0.0.2 127.0.0.2 is listed on bl.test");
  limiter.set_out_of_rotation({});
  BOOST_TEST(shared.published.back() == "unlisted 127.0.0.2");
  BOOST_TEST(limiter.in_rotation(1));
  // Another node's listing takes the address out here too, and not published again.
  limiter.set_cluster_out_of_rotation({{"127.0.0.2", "listed on bl.test (seen by node2)"}});
  BOOST_TEST(!limiter.in_rotation(1));
  BOOST_TEST(limiter.in_rotation(0));
  BOOST_TEST(shared.published.size() == 2u);
  Wait wait;
  for (int i = 0; i < 20; ++i) {
    auto choice = limiter.choose("default", at(kNov1, 12), &wait);
    BOOST_TEST_REQUIRE(choice.has_value());
    BOOST_TEST(choice->index == 0u);
  }
  BOOST_TEST(limiter.status_json(at(kNov1, 12))
                 .find("\"out_of_rotation\":\"listed on bl.test "
                       "(seen by node2)\"") != std::string::npos);
  // The union never takes every address out under keep_last_address (the default) ...
  limiter.set_out_of_rotation({{"127.0.0.1", "127.0.0.1 is listed on bl.test"}});
  BOOST_TEST(!limiter.in_rotation(0));
  BOOST_TEST(limiter.in_rotation(1));
  // ... and the address comes back when no node holds it any more.
  limiter.set_out_of_rotation({});
  limiter.set_cluster_out_of_rotation({});
  BOOST_TEST(limiter.in_rotation(0));
  BOOST_TEST(limiter.in_rotation(1));

  MapStore other;
  Limiter strict(*config_of(two + "blacklist_monitor: {zones: [bl.test], keep_last_address: "
                                  "false}\n"),
                 other);
  strict.set_out_of_rotation({{"127.0.0.1", "listed here"}});
  strict.set_cluster_out_of_rotation({{"127.0.0.2", "listed there"}});
  BOOST_TEST(!strict.in_rotation(0));
  BOOST_TEST(!strict.in_rotation(1));
}

}  // namespace
}  // namespace hato::policy
