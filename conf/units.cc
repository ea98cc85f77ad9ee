// units.cc - the duration ("30s", "4h") and size ("50M", "10MiB") notations of hato.yaml.
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "conf/config.h"

namespace hato::conf {

namespace {

// Leading decimal digits of `text`, consumed from it; nullopt when there are none or they
// do not fit in 64 bits.
std::optional<uint64_t> take_number(std::string_view* text, bool* overflow) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ptr == text->data()) return std::nullopt;
  *overflow = ec == std::errc::result_out_of_range;
  text->remove_prefix(ptr - text->data());
  return value;
}

// "5 m" reads as "5m"; people write sizes and durations both ways.
void skip_spaces(std::string_view* text) {
  while (!text->empty() && text->front() == ' ') text->remove_prefix(1);
}

// Leading ASCII letters of `text`, consumed from it, lower-cased.
std::string take_unit(std::string_view* text) {
  std::string unit;
  while (!text->empty() && std::isalpha(static_cast<unsigned char>(text->front()))) {
    unit += static_cast<char>(std::tolower(static_cast<unsigned char>(text->front())));
    text->remove_prefix(1);
  }
  return unit;
}

// Milliseconds per duration unit; 0 for an unknown unit.
uint64_t duration_unit_ms(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60 * 1000;
  if (unit == "h") return 60 * 60 * 1000;
  if (unit == "d") return 24 * 60 * 60 * 1000;
  return 0;
}

// Bytes per size unit; 0 for an unknown unit. Every multiple is binary, whether written
// "M", "MB" or "MiB": message size limits have always been counted that way by MTAs.
uint64_t size_unit_bytes(std::string_view unit) {
  if (unit.empty() || unit == "b") return 1;
  if (unit.size() == 3 && unit.substr(1) == "ib") {
    unit = unit.substr(0, 1);
  } else if (unit.size() == 2 && unit[1] == 'b') {
    unit = unit.substr(0, 1);
  }
  if (unit == "k") return uint64_t{1} << 10;
  if (unit == "m") return uint64_t{1} << 20;
  if (unit == "g") return uint64_t{1} << 30;
  if (unit == "t") return uint64_t{1} << 40;
  return 0;
}

// a * b + c, or nullopt when it does not fit in `limit`.
std::optional<uint64_t> checked_mul_add(uint64_t a, uint64_t b, uint64_t c, uint64_t limit) {
  if (b != 0 && a > (limit - c) / b) return std::nullopt;
  return a * b + c;
}

}  // namespace

// parse_duration - a sum of number+unit parts ("1h30m"), so any span can be written exactly.
Result<Duration> parse_duration(std::string_view text) {
  const std::string prefix = "bad duration '" + std::string(text) + "': ";
  constexpr std::string_view kUnits = "ms, s, m, h or d";
  // Duration is int64 milliseconds; stay well inside it so callers may add to it.
  constexpr uint64_t kLimit = std::numeric_limits<int64_t>::max() / 2;
  if (text.empty()) return Result<Duration>::error(prefix + "expected a number and a unit");
  std::string_view rest = text;
  uint64_t total = 0;
  while (!rest.empty()) {
    bool overflow = false;
    auto number = take_number(&rest, &overflow);
    if (!number && rest.size() == text.size())
      return Result<Duration>::error(prefix + "expected a number");
    if (!number) return Result<Duration>::error(prefix + "unexpected '" + std::string(rest) + "'");
    if (overflow) return Result<Duration>::error(prefix + "too large");
    skip_spaces(&rest);
    std::string unit = take_unit(&rest);
    if (unit.empty() && !rest.empty())
      return Result<Duration>::error(prefix + "unexpected '" + std::string(rest) + "'");
    if (unit.empty())
      return Result<Duration>::error(prefix + "missing unit (" + std::string(kUnits) + ")");
    uint64_t ms = duration_unit_ms(unit);
    if (ms == 0) {
      return Result<Duration>::error(prefix + "unknown unit '" + unit + "' (" +
                                     std::string(kUnits) + ")");
    }
    auto sum = checked_mul_add(*number, ms, total, kLimit);
    if (!sum) return Result<Duration>::error(prefix + "too large");
    total = *sum;
  }
  return Duration(static_cast<int64_t>(total));
}

// parse_size - a whole number of bytes with an optional binary unit.
Result<uint64_t> parse_size(std::string_view text) {
  const std::string prefix = "bad size '" + std::string(text) + "': ";
  std::string_view rest = text;
  bool overflow = false;
  auto number = take_number(&rest, &overflow);
  if (!number) return Result<uint64_t>::error(prefix + "expected a number");
  if (overflow) return Result<uint64_t>::error(prefix + "too large");
  skip_spaces(&rest);
  std::string unit = take_unit(&rest);
  uint64_t multiplier = size_unit_bytes(unit);
  if (multiplier == 0 || !rest.empty()) {
    return Result<uint64_t>::error(prefix + "unknown unit '" + unit + std::string(rest) +
                                   "' (K, M, G or T, optionally followed by B or iB)");
  }
  auto bytes = checked_mul_add(*number, multiplier, 0, std::numeric_limits<uint64_t>::max());
  if (!bytes) return Result<uint64_t>::error(prefix + "too large");
  return *bytes;
}

}  // namespace hato::conf
