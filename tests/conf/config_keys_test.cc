// config_keys_test.cc - the key tables of conf/config_keys.h are the ones the loader checks
// each map against, at the place their path names: `hato config keys` (and hato.yaml(5),
// tested against it) then say what the loader really takes.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <set>
#include <string>

#include "conf/config.h"
#include "conf/config_keys.h"

namespace hato::conf {
namespace {

// A flow-style document with `inner` at `path` ("domains[].dkim[]" ->
// "{domains: [{dkim: [INNER]}]}").
std::string nest(std::string_view path, const std::string& inner) {
  if (path.empty()) return inner;
  size_t dot = path.find('.');
  std::string_view head = path.substr(0, dot);
  std::string rest = dot == std::string_view::npos ? inner : nest(path.substr(dot + 1), inner);
  if (head.ends_with("[]")) {
    return "{" + std::string(head.substr(0, head.size() - 2)) + ": [" + rest + "]}";
  }
  return "{" + std::string(head) + ": " + rest + "}";
}

// "domains[].dkim[]" -> "domains[0].dkim[0]", as the loader names the place.
std::string loader_path(std::string_view path) {
  std::string out;
  for (char c : path) {
    out += c;
    if (c == '[') out += '0';
  }
  return out;
}

std::vector<std::string> errors_of(const std::string& yaml) {
  return load_string(yaml, "t.yaml").errors;
}

bool has_error(const std::vector<std::string>& errors, const std::string& text) {
  return std::any_of(errors.begin(), errors.end(),
                     [&](const std::string& e) { return e.find(text) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& errors) {
  std::string out;
  for (const auto& e : errors) out += e + "\n";
  return out;
}

BOOST_AUTO_TEST_SUITE(config_keys)

BOOST_AUTO_TEST_CASE(each_table_is_checked_at_its_path) {
  for (const auto& table : key_tables()) {
    auto errors = errors_of(nest(table.path, "{zz_not_a_key: 1}"));
    std::string expected = table.path.empty()
                               ? "t.yaml:1:2: unknown key 'zz_not_a_key'"
                               : loader_path(table.path) + ": unknown key 'zz_not_a_key'";
    BOOST_TEST(has_error(errors, expected), "'" << table.path << "': no \"" << expected << "\" in\n"
                                                << joined(errors));
  }
}

BOOST_AUTO_TEST_CASE(each_key_of_a_table_is_known_there) {
  for (const auto& table : key_tables()) {
    std::string inner;
    for (auto key : table.keys) inner += (inner.empty() ? "" : ", ") + std::string(key) + ": ~";
    for (auto key : table.ignored) inner += ", " + std::string(key) + ": ~";
    inner = "{" + inner + "}";
    auto errors = errors_of(nest(table.path, inner));
    BOOST_TEST(!has_error(errors, "unknown key"), "'" << table.path << "':\n" << joined(errors));
  }
}

BOOST_AUTO_TEST_CASE(accepted_keys_are_full_paths_without_repeats) {
  auto keys = accepted_keys();
  std::set<std::string> unique(keys.begin(), keys.end());
  BOOST_TEST(unique.size() == keys.size());
  BOOST_TEST(unique.count("hostname") == 1);
  BOOST_TEST(unique.count("delivery.retry.first") == 1);
  BOOST_TEST(unique.count("listeners[].address") == 1);
  BOOST_TEST(unique.count("domains[].dkim[].selector") == 1);
  BOOST_TEST(unique.count("inbound.spf") == 1);  // accepted, ignored
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::conf
