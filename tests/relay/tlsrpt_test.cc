// tlsrpt_test.cc - the TLS-RPT reporter on a real RocksDB store: the counts it keeps are
// found again by a prefix scan after a restart, with those an older release left behind.
#define BOOST_TEST_MODULE relay_tlsrpt
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "common/loop.h"
#include "conf/config.h"
#include "policy/limiter.h"
#include "policy/tlsrpt.h"
#include "queue/state_keys.h"
#include "queue/store.h"
#include "relay/tlsrpt.h"
#include "tests/net/fake_resolver.h"
#include "tests/queue/raw_state.h"
#include "tests/queue/store_state.h"
#include "tests/temp_dir.h"

namespace hato::relay {
namespace {

namespace rpt = policy::tlsrpt;
namespace state = queue::state;
using testing::FakeResolver;
using testing::RawState;
using testing::TempDir;

using testing::StoreState;

std::unique_ptr<queue::Store> open_store(const std::string& path) {
  auto store = queue::open_rocksdb_store({path});
  BOOST_TEST_REQUIRE(store.is_ok(), store.message());
  return std::move(store).value();
}

conf::ConfigPtr config() {
  auto loaded = conf::load_string(
      "hostname: mx.example.test\n"
      "listeners: [{name: mx, address: \"127.0.0.1:25\", role: inbound}]\n",
      "t.yaml");
  BOOST_TEST_REQUIRE(loaded.ok());
  return loaded.config;
}

const rpt::PolicyKey kSts{
    "sts", "version: STSv1\nmode: enforce\nmx: mx.example.com\n", {"mx.example.com"}};

// Counts as a release before stored them: encode() and no version byte.
std::string old_counts(uint64_t successes) {
  rpt::DayCounts counts;
  for (uint64_t i = 0; i < successes; ++i) counts.add(kSts, "", "", "");
  return rpt::encode(counts);
}

struct Sent {
  std::string to;
  std::string message;
};

std::vector<std::string> pending_keys(queue::Store& store) {
  std::vector<std::string> keys;
  BOOST_TEST_REQUIRE(store
                         .scan_state(state::prefix(state::Kind::kTlsrptCounts),
                                     [&](std::string_view key, std::string_view) {
                                       keys.emplace_back(key);
                                       return true;
                                     })
                         .is_ok());
  return keys;
}

BOOST_AUTO_TEST_CASE(pending_reports_are_found_by_scan_after_a_restart) {
  TempDir dir;
  Loop loop;
  FakeResolver resolver;
  {
    auto store = open_store(dir.path);
    StoreState adapter(*store);
    TlsReporter reporter(loop, resolver, adapter, config());
    reporter.record("example.com", kSts, "", "mx.example.com", "192.0.2.25");
    reporter.record("example.com", kSts, "certificate-expired", "mx.example.com", "192.0.2.25");
    reporter.record("example.net", kSts, "", "mx.example.net", "192.0.2.26");
  }
  {
    // What an older release left: counts without a version byte, and its index of them.
    RawState raw(dir.path);
    raw.put(state::tlsrpt_counts_key("2020-01-01", "old.example"), old_counts(4));
    raw.put(state::tlsrpt_index_key(), "2020-01-01/old.example\n");
  }

  auto store = open_store(dir.path);
  StoreState adapter(*store);
  TlsReporter reporter(loop, resolver, adapter, config());
  BOOST_TEST(!adapter.get(state::tlsrpt_index_key()).has_value());
  BOOST_TEST(pending_keys(*store).size() == 3u);

  resolver.add_txt("_smtp._tls.example.com", {"v=TLSRPTv1; rua=mailto:tls@example.com"});
  resolver.add_txt("_smtp._tls.old.example", {"v=TLSRPTv1; rua=mailto:tls@old.example"});
  std::vector<Sent> sent;
  reporter.set_sender([&](const std::string&, const std::string& to, std::string message) {
    sent.push_back({to, std::move(message)});
  });
  BOOST_TEST(reporter.send_reports(/*include_today=*/true) == 3u);
  resolver.run_pending();
  BOOST_TEST_REQUIRE(sent.size() == 2u);
  std::sort(sent.begin(), sent.end(), [](const Sent& a, const Sent& b) { return a.to < b.to; });
  BOOST_TEST(sent[0].to == "tls@example.com");
  BOOST_TEST(sent[0].message.find("\"total-successful-session-count\":1") != std::string::npos);
  BOOST_TEST(sent[0].message.find("certificate-expired") != std::string::npos);
  BOOST_TEST(sent[1].to == "tls@old.example");
  BOOST_TEST(sent[1].message.find("\"total-successful-session-count\":4") != std::string::npos);
  BOOST_TEST(sent[1].message.find("2020-01-01") != std::string::npos);

  // Reported means dropped: nothing left to find, after another restart either.
  BOOST_TEST(pending_keys(*store).empty());
  BOOST_TEST(reporter.send_reports(true) == 0u);
}

BOOST_AUTO_TEST_CASE(only_days_before_today_are_reported_by_the_hourly_check) {
  TempDir dir;
  Loop loop;
  FakeResolver resolver;
  open_store(dir.path).reset();
  {
    RawState raw(dir.path);
    raw.put(state::tlsrpt_counts_key("2020-01-01", "past.example"), old_counts(1));
    raw.put(state::tlsrpt_counts_key("2999-01-01", "future.example"), old_counts(1));
    // Records of other kinds, some sorting next to the counts, are no reports.
    raw.put(state::tlsrpt_index_key(), "2020-01-01/past.example\n");
    raw.put(state::mta_sts_key("past.example"), "1\nid\n0\nversion: STSv1\n");
  }
  auto store = open_store(dir.path);
  StoreState adapter(*store);
  TlsReporter reporter(loop, resolver, adapter, config());
  BOOST_TEST(reporter.send_reports(/*include_today=*/false) == 1u);
  BOOST_TEST((pending_keys(*store) ==
              std::vector<std::string>{state::tlsrpt_counts_key("2999-01-01", "future.example")}));
  BOOST_TEST(adapter.get(state::mta_sts_key("past.example")).has_value());
  resolver.run_pending();
}

}  // namespace
}  // namespace hato::relay
