// map_store.h - for the limiter's unit tests: a StateStore in a map, and a configuration read
// from YAML with one listener (the loader wants one) added.
#pragma once

#include <boost/test/unit_test.hpp>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "conf/config.h"
#include "policy/limiter.h"

namespace hato::policy::test_support {

class MapStore : public StateStore {
 public:
  std::optional<std::string> get(std::string_view key) override {
    auto it = data.find(key);
    if (it == data.end()) return std::nullopt;
    return it->second;
  }
  void put(std::string_view key, std::string_view value) override {
    data[std::string(key)] = std::string(value);
  }
  void erase(std::string_view key) override {
    auto it = data.find(key);
    if (it != data.end()) data.erase(it);
  }
  std::map<std::string, std::string, std::less<>> data;
};

inline conf::ConfigPtr config_of(const std::string& yaml) {
  auto result = conf::load_string(
      "listeners: [{name: mx, address: \"127.0.0.1:25\", role: inbound}]\n" + yaml, "t.yaml");
  for (const auto& e : result.errors) BOOST_TEST_MESSAGE(e);
  BOOST_TEST_REQUIRE(result.ok());
  return result.config;
}

}  // namespace hato::policy::test_support
