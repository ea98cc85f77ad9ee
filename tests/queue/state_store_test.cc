// state_store_test.cc - the store's state family on a real RocksDB: values with their
// version byte, values of the release before, and prefix scans that keep to their kind.
#include <boost/test/unit_test.hpp>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "queue/state_keys.h"
#include "queue/store.h"
#include "tests/queue/raw_state.h"
#include "tests/temp_dir.h"

namespace hato::queue {
namespace {

using testing::RawState;
using testing::TempDir;

std::unique_ptr<Store> open_store(const std::string& path) {
  Result<std::unique_ptr<Store>> store = open_rocksdb_store({path});
  BOOST_TEST_REQUIRE(store.is_ok(), store.status().message());
  return std::move(store).value();
}

std::vector<std::pair<std::string, std::string>> scan(Store& store, std::string_view prefix) {
  std::vector<std::pair<std::string, std::string>> seen;
  Status s = store.scan_state(prefix, [&](std::string_view key, std::string_view value) {
    seen.emplace_back(key, value);
    return true;
  });
  BOOST_TEST(s.is_ok(), s.message());
  return seen;
}

using Records = std::vector<std::pair<std::string, std::string>>;

BOOST_AUTO_TEST_CASE(state_is_stored_with_its_version_byte_and_read_without_it) {
  TempDir dir;
  const std::string key = state::warmup_key("192.0.2.1", "2026-11-01");
  {
    auto store = open_store(dir.path);
    BOOST_TEST_REQUIRE(store->put_state(key, "5").is_ok());
    auto value = store->get_state(key);
    BOOST_TEST_REQUIRE(value.is_ok(), value.message());
    BOOST_TEST((*value == std::optional<std::string>("5")));
    auto missing = store->get_state(state::warmup_key("192.0.2.9", "2026-11-01"));
    BOOST_TEST_REQUIRE(missing.is_ok(), missing.message());
    BOOST_TEST(!missing->has_value());
  }
  RawState raw(dir.path);
  BOOST_TEST(raw.get(key) == std::string("\x01") + "5");
}

BOOST_AUTO_TEST_CASE(state_of_the_release_before_survives_the_upgrade) {
  TempDir dir;
  open_store(dir.path).reset();  // creates the families
  const std::string count = state::warmup_key("192.0.2.1", "2026-11-01");
  const std::string tlsrpt = state::tlsrpt_counts_key("2026-10-31", "example.com");
  const std::string old_counts = "P\tsts\tversion: STSv1\tmx.example.com\t3\n";
  {
    RawState raw(dir.path);
    raw.put(count, "42");  // no version byte: as the release before wrote it
    raw.put(tlsrpt, old_counts);
  }
  auto store = open_store(dir.path);
  auto value = store->get_state(count);
  BOOST_TEST_REQUIRE(value.is_ok(), value.message());
  BOOST_TEST((*value == std::optional<std::string>("42")));
  BOOST_TEST(
      (scan(*store, state::prefix(state::Kind::kTlsrptCounts)) == Records{{tlsrpt, old_counts}}));
  // Written again, it gets its version byte.
  BOOST_TEST_REQUIRE(store->put_state(count, "43").is_ok());
  store.reset();
  BOOST_TEST(RawState(dir.path).get(count) == std::string("\x01") + "43");
}

BOOST_AUTO_TEST_CASE(a_value_of_an_unknown_version_is_refused_not_guessed) {
  TempDir dir;
  open_store(dir.path).reset();
  const std::string newer = state::suspension_key("192.0.2.1", "google");
  const std::string fine = state::suspension_key("192.0.2.2", "google");
  {
    RawState raw(dir.path);
    raw.put(newer, std::string("\x02") + "binary of a later release");
  }
  auto store = open_store(dir.path);
  BOOST_TEST_REQUIRE(store->put_state(fine, "1767225600000 421 4.7.28").is_ok());
  auto value = store->get_state(newer);
  BOOST_TEST_REQUIRE(!value.is_ok());
  BOOST_TEST((value.code() == Code::kCorruption));
  BOOST_TEST(value.message().find("version 2") != std::string::npos, value.message());
  // A scan skips it and goes on to the others.
  BOOST_TEST((scan(*store, state::prefix(state::Kind::kSuspension)) ==
              Records{{fine, "1767225600000 421 4.7.28"}}));
}

BOOST_AUTO_TEST_CASE(a_prefix_scan_sees_its_own_records_only) {
  TempDir dir;
  // Keys of every kind, some sorting right next to the scanned ones.
  const std::map<std::string, std::string> records = {
      {state::blacklist_key("192.0.2.1", "zen.example"), "b"},
      {state::ptr_key("192.0.2.1"), "p"},
      {state::mta_sts_key("example.com"), "m"},
      {state::slowdown_key("192.0.2.1", "yahoo"), "r"},
      {state::suspension_key("192.0.2.1", "yahoo"), "s"},
      {state::tlsrpt_counts_key("2026-10-30", "example.com"), "c1"},
      {state::tlsrpt_counts_key("2026-10-31", "example.com"), "c2"},
      {state::tlsrpt_counts_key("2026-10-31", "example.net"), "c3"},
      {state::tlsrpt_index_key(), "2026-10-30/example.com\n"},
      {state::warmup_key("192.0.2.1", "2026-11-01"), "1"},
      {state::warmup_key("192.0.2.1", "2026-11-01", "google"), "2"},
      {state::warmup_key("192.0.2.10", "2026-11-01"), "3"},
  };
  {
    auto store = open_store(dir.path);
    for (const auto& [k, v] : records) BOOST_TEST_REQUIRE(store->put_state(k, v).is_ok());
    BOOST_TEST_REQUIRE(
        store->erase_state(state::tlsrpt_counts_key("2026-10-30", "example.com")).is_ok());
  }
  auto store = open_store(dir.path);  // what a restart finds
  BOOST_TEST((scan(*store, state::prefix(state::Kind::kTlsrptCounts)) ==
              Records{{state::tlsrpt_counts_key("2026-10-31", "example.com"), "c2"},
                      {state::tlsrpt_counts_key("2026-10-31", "example.net"), "c3"}}));
  BOOST_TEST((scan(*store, state::prefix(state::Kind::kSuspension)) ==
              Records{{state::suspension_key("192.0.2.1", "yahoo"), "s"}}));
  // "192.0.2.10" starts with "192.0.2.1": the field's own slash keeps it out.
  BOOST_TEST((scan(*store, state::warmup_key("192.0.2.1", "2026-11-01") + "/") ==
              Records{{state::warmup_key("192.0.2.1", "2026-11-01", "google"), "2"}}));
  BOOST_TEST(scan(*store, state::prefix(state::Kind::kWarmup)).size() == 3u);
  BOOST_TEST(scan(*store, "x/").empty());
  // Every kind's scan together sees every record once.
  size_t total = 0;
  for (state::Kind kind : state::all_kinds()) {
    for (const auto& [k, v] : scan(*store, state::prefix(kind))) {
      auto parsed = state::parse_key(k);
      BOOST_TEST_REQUIRE(parsed.has_value(), k);
      BOOST_TEST((parsed->kind == kind), k);
      ++total;
    }
  }
  BOOST_TEST(total == records.size() - 1);
  BOOST_TEST(scan(*store, "").size() == records.size() - 1);
}

BOOST_AUTO_TEST_CASE(a_scan_stops_when_asked) {
  TempDir dir;
  auto store = open_store(dir.path);
  for (int i = 0; i < 5; ++i) {
    std::string domain = "d" + std::to_string(i) + ".example";
    BOOST_TEST_REQUIRE(store->put_state(state::mta_sts_key(domain), "x").is_ok());
  }
  std::vector<std::string> seen;
  BOOST_TEST_REQUIRE(store
                         ->scan_state(state::prefix(state::Kind::kMtaSts),
                                      [&](std::string_view key, std::string_view) {
                                        seen.emplace_back(key);
                                        return seen.size() < 2;
                                      })
                         .is_ok());
  BOOST_TEST((seen == std::vector<std::string>{"m/d0.example", "m/d1.example"}));
}

}  // namespace
}  // namespace hato::queue
