// yaml_reader.h - typed access to a yaml-cpp document that collects every problem.
//
// Internal to conf/. Each reader call either returns a value or records why not, at the
// offending node, and lets the caller go on: `hato config check` reports all problems of
// a file in one run instead of one per run.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/net.h"
#include "conf/config.h"

namespace hato::conf {

// A 1-based line and column in the file.
struct Position {
  int line = 1;
  int column = 1;
};

Position position_of(const YAML::Mark& mark);

// The problems found in one file.
class Problems {
 public:
  void add(Position at, std::string message);
  bool empty() const { return list_.empty(); }
  // "NAME:LINE:COLUMN: message" lines, in document order.
  std::vector<std::string> format(const std::string& name) const;

 private:
  struct Problem {
    Position at;
    std::string message;
  };
  std::vector<Problem> list_;
};

// A node with its key path for messages ("listeners[0].address") and the position to
// report. For an empty value ("key:" and nothing) that is the key's position, because
// yaml-cpp marks such a null at the token after it.
struct Value {
  YAML::Node node;
  std::string path;
  Position at;
};

// One key/value pair of a map.
struct Entry {
  std::string key;
  Position key_at;
  Value value;
};

class Reader {
 public:
  explicit Reader(Problems& problems) : problems_(problems) {}

  // Records `message` at `v`, prefixed with its key path.
  void error(const Value& v, std::string_view message);
  // Records `message` at `at`, prefixed with `path` (if any).
  void error_at(Position at, std::string_view path, std::string_view message);

  // A map's pairs in order; a duplicate key is reported and dropped. An empty value
  // counts as an empty map. nullopt (reported) when `v` is not a map.
  std::optional<std::vector<Entry>> entries(const Value& v);
  // A list's items; an empty value counts as an empty list.
  std::optional<std::vector<Value>> items(const Value& v);

  std::optional<std::string> string(const Value& v);
  std::optional<std::string> non_empty_string(const Value& v);
  std::optional<uint64_t> number(const Value& v, uint64_t min, uint64_t max);
  std::optional<Duration> duration(const Value& v);  // greater than zero
  std::optional<uint64_t> size(const Value& v);      // greater than zero
  // A numeric "ip:port"; with default_port, a bare ip too.
  std::optional<SocketAddress> address(const Value& v, int default_port = -1);
  std::optional<Cidr> cidr(const Value& v);

  // One of a fixed set of words, e.g. {{"text", LogFormat::kText}, {"json", ...}}.
  template <typename T>
  std::optional<T> choice(const Value& v,
                          std::initializer_list<std::pair<std::string_view, T>> options) {
    auto word = string(v);
    if (!word) return std::nullopt;
    std::vector<std::string_view> names;
    for (const auto& [name, value] : options) {
      if (name == *word) return value;
      names.push_back(name);
    }
    error(v, "unknown value '" + *word + "' (expected " + join_alternatives(names) + ")");
    return std::nullopt;
  }

  // "a", "a or b", "a, b or c".
  static std::string join_alternatives(const std::vector<std::string_view>& words);

 private:
  // The scalar text of `v`, or a report that it is not `what` ("a number").
  std::optional<std::string> scalar(const Value& v, std::string_view what);

  Problems& problems_;
};

// A map with a fixed set of keys. Construction reports a non-map and every unknown key
// (suggesting the closest known one); `ignored` keys are accepted and skipped.
class MapReader {
 public:
  MapReader(Reader& reader, const Value& value, std::span<const std::string_view> known,
            std::span<const std::string_view> ignored = {});

  bool is_map() const { return is_map_; }
  const Value& value() const { return value_; }
  // The value under `key`, or nullptr when absent.
  const Value* get(std::string_view key) const;
  // Like get(), but reports the absence at the map.
  const Value* require(std::string_view key);

 private:
  Reader& reader_;
  Value value_;
  bool is_map_ = false;
  std::vector<Entry> entries_;
};

// The candidate closest to `word` by edit distance, if close enough to be a likely typo;
// empty otherwise.
std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates);

}  // namespace hato::conf
