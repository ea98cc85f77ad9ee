// yaml_reader.cc - typed, problem-collecting access to yaml-cpp nodes.
#include "conf/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "common/strings.h"

namespace hato::conf {

namespace {

// How a node looks, for "expected X, got Y" messages.
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "'" + node.Scalar() + "'";
    default:
      return "nothing";
  }
}

std::string child_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

// Where to report a value: yaml-cpp places an implicit null at the next token, which
// may be lines below, so such values are reported at their key.
Position value_position(const YAML::Node& node, Position key_at) {
  if (node.IsNull() || node.Mark().is_null()) return key_at;
  return position_of(node.Mark());
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions, the
// commonest typo in key names ("adress", "hsotname").
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

Position position_of(const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0) return Position{};
  return Position{mark.line + 1, mark.column + 1};
}

void Problems::add(Position at, std::string message) {
  list_.push_back(Problem{at, std::move(message)});
}

std::vector<std::string> Problems::format(const std::string& name) const {
  // Checks that span several keys run after the walk; sorting puts every problem back
  // in file order, which is how an operator reads through them.
  std::vector<Problem> sorted = list_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const Problem& a, const Problem& b) {
    return std::pair(a.at.line, a.at.column) < std::pair(b.at.line, b.at.column);
  });
  std::vector<std::string> out;
  for (const auto& p : sorted) {
    out.push_back(name + ":" + std::to_string(p.at.line) + ":" + std::to_string(p.at.column) +
                  ": " + p.message);
  }
  return out;
}

void Reader::error(const Value& v, std::string_view message) {
  error_at(v.at, v.path, message);
}

void Reader::error_at(Position at, std::string_view path, std::string_view message) {
  if (path.empty()) {
    problems_.add(at, std::string(message));
  } else {
    problems_.add(at, std::string(path) + ": " + std::string(message));
  }
}

std::optional<std::vector<Entry>> Reader::entries(const Value& v) {
  std::vector<Entry> out;
  if (v.node.IsNull()) return out;
  if (!v.node.IsMap()) {
    error(v, "expected a map, got " + describe(v.node));
    return std::nullopt;
  }
  std::map<std::string, Position> seen;
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    Position key_at = position_of(it->first.Mark());
    if (!it->first.IsScalar()) {
      error_at(key_at, v.path, "expected a string key, got " + describe(it->first));
      continue;
    }
    std::string key = it->first.Scalar();
    // yaml-cpp keeps both pairs of a repeated key and lookups see only the first, so
    // the second would be silently ignored.
    auto [first, inserted] = seen.emplace(key, key_at);
    if (!inserted) {
      error_at(
          key_at, v.path,
          "duplicate key '" + key + "' (first at line " + std::to_string(first->second.line) + ")");
      continue;
    }
    out.push_back(
        Entry{key, key_at,
              Value{it->second, child_path(v.path, key), value_position(it->second, key_at)}});
  }
  return out;
}

std::optional<std::vector<Value>> Reader::items(const Value& v) {
  std::vector<Value> out;
  if (v.node.IsNull()) return out;
  if (!v.node.IsSequence()) {
    error(v, "expected a list, got " + describe(v.node));
    return std::nullopt;
  }
  size_t index = 0;
  for (auto it = v.node.begin(); it != v.node.end(); ++it, ++index) {
    out.push_back(
        Value{*it, v.path + "[" + std::to_string(index) + "]", value_position(*it, v.at)});
  }
  return out;
}

std::optional<std::string> Reader::scalar(const Value& v, std::string_view what) {
  if (v.node.IsScalar()) return v.node.Scalar();
  error(v, "expected " + std::string(what) + ", got " + describe(v.node));
  return std::nullopt;
}

std::optional<std::string> Reader::string(const Value& v) {
  return scalar(v, "a string");
}

std::optional<std::string> Reader::non_empty_string(const Value& v) {
  auto s = string(v);
  if (s && s->empty()) {
    error(v, "must not be empty");
    return std::nullopt;
  }
  return s;
}

std::optional<uint64_t> Reader::number(const Value& v, uint64_t min, uint64_t max) {
  auto text = scalar(v, "a number");
  if (!text) return std::nullopt;
  uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ptr == text->data() || ptr != text->data() + text->size()) {
    error(v, "expected a number, got '" + *text + "'");
    return std::nullopt;
  }
  if (ec != std::errc() || n < min || n > max) {
    error(v,
          *text + " is out of range (" + std::to_string(min) + " to " + std::to_string(max) + ")");
    return std::nullopt;
  }
  return n;
}

std::optional<Duration> Reader::duration(const Value& v) {
  auto text = scalar(v, "a duration");
  if (!text) return std::nullopt;
  auto parsed = parse_duration(*text);
  if (!parsed) {
    error(v, parsed.message());
    return std::nullopt;
  }
  if (parsed->count() <= 0) {
    error(v, "duration must be greater than zero");
    return std::nullopt;
  }
  return *parsed;
}

std::optional<uint64_t> Reader::size(const Value& v) {
  auto text = scalar(v, "a size");
  if (!text) return std::nullopt;
  auto parsed = parse_size(*text);
  if (!parsed) {
    error(v, parsed.message());
    return std::nullopt;
  }
  if (*parsed == 0) {
    error(v, "size must be greater than zero");
    return std::nullopt;
  }
  return *parsed;
}

std::optional<SocketAddress> Reader::address(const Value& v, int default_port) {
  auto text = scalar(v, "an address");
  if (!text) return std::nullopt;
  auto parsed = SocketAddress::parse(*text, default_port);
  if (!parsed) {
    error(v, "bad address '" + *text + "': " + parsed.message());
    return std::nullopt;
  }
  return *parsed;
}

std::optional<Cidr> Reader::cidr(const Value& v) {
  auto text = scalar(v, "a network");
  if (!text) return std::nullopt;
  auto parsed = Cidr::parse(*text);
  if (!parsed) {
    error(v, "bad network '" + *text + "': " + parsed.message());
    return std::nullopt;
  }
  return *parsed;
}

std::string Reader::join_alternatives(const std::vector<std::string_view>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " or " : ", ";
    out += words[i];
  }
  return out;
}

MapReader::MapReader(Reader& reader, const Value& value, std::span<const std::string_view> known,
                     std::span<const std::string_view> ignored)
    : reader_(reader), value_(value) {
  auto entries = reader_.entries(value_);
  if (!entries) return;
  is_map_ = true;
  std::vector<std::string_view> all(known.begin(), known.end());
  all.insert(all.end(), ignored.begin(), ignored.end());
  for (auto& entry : *entries) {
    if (std::find(known.begin(), known.end(), entry.key) != known.end()) {
      entries_.push_back(std::move(entry));
    } else if (std::find(ignored.begin(), ignored.end(), entry.key) == ignored.end()) {
      std::string message = "unknown key '" + entry.key + "'";
      std::string suggestion = closest_match(entry.key, all);
      if (!suggestion.empty()) message += ", did you mean '" + suggestion + "'?";
      reader_.error_at(entry.key_at, value_.path, message);
    }
  }
}

const Value* MapReader::get(std::string_view key) const {
  for (const auto& entry : entries_) {
    if (entry.key == key) return &entry.value;
  }
  return nullptr;
}

const Value* MapReader::require(std::string_view key) {
  const Value* v = get(key);
  if (v == nullptr && is_map_)
    reader_.error(value_, "missing required key '" + std::string(key) + "'");
  return v;
}

std::string closest_match(std::string_view word, const std::vector<std::string_view>& candidates) {
  const std::string lowered = ascii_lower(word);
  // One slip in a short key, two in a longer one; more and the "suggestion" is noise.
  const size_t limit = lowered.size() <= 4 ? 1 : 2;
  std::string best;
  size_t best_distance = limit + 1;
  for (auto candidate : candidates) {
    size_t d = edit_distance(lowered, candidate);
    if (d < best_distance) {
      best = std::string(candidate);
      best_distance = d;
    }
  }
  return best;
}

}  // namespace hato::conf
