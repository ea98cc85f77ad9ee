// store_state.h - the daemon's adapter (cli::StoreState) in a few lines, for the tests of
// layers below cli/ that use policy::StateStore over a real queue store: a failed read or
// write fails the test.
#pragma once

#include <boost/test/unit_test.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "policy/limiter.h"
#include "queue/store.h"
#include "tests/temp_dir.h"

namespace hato::testing {

class StoreState : public policy::StateStore {
 public:
  explicit StoreState(queue::Store& store) : store_(store) {}
  std::optional<std::string> get(std::string_view key) override {
    auto value = store_.get_state(key);
    BOOST_TEST_REQUIRE(value.is_ok(), value.message());
    return *value;
  }
  void put(std::string_view key, std::string_view value) override {
    BOOST_TEST_REQUIRE(store_.put_state(key, value).is_ok());
  }
  void erase(std::string_view key) override { BOOST_TEST_REQUIRE(store_.erase_state(key).is_ok()); }
  Status scan(std::string_view prefix, const Visitor& visit) override {
    return store_.scan_state(prefix, visit);
  }

 private:
  queue::Store& store_;
};

// A real store in a temp dir with its StoreState; reopen() closes and opens it again, as a
// restarted daemon would.
struct StateOnDisk {
  TempDir dir;
  std::unique_ptr<queue::Store> store;
  std::unique_ptr<StoreState> state;
  explicit StateOnDisk(const std::string& tag) : dir(tag) { reopen(); }
  void reopen() {
    state.reset();
    store.reset();
    auto opened = queue::open_rocksdb_store({dir / "queue"});
    BOOST_TEST_REQUIRE(opened.is_ok(), opened.message());
    store = std::move(opened).value();
    state = std::make_unique<StoreState>(*store);
  }
};

}  // namespace hato::testing
