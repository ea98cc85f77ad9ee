// units.cc - the duration ("30s", "4h"), size ("50M", "10MiB"), rate ("20/s"), date
// ("2026-11-01") and URL ("http://host:port/path") notations of hato.yaml.
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
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

// parse_quota - a whole number of messages per second, minute, hour or day. Whole numbers
// because that is how receivers publish their limits; "1/m" covers anything slower than 1/s.
Result<Quota> parse_quota(std::string_view text) {
  const std::string prefix = "bad rate '" + std::string(text) + "': ";
  constexpr std::string_view kForm = "expected a count per s, m, h or d, such as 20/s or 3600/h";
  std::string_view rest = text;
  bool overflow = false;
  auto number = take_number(&rest, &overflow);
  if (!number) return Result<Quota>::error(prefix + std::string(kForm));
  if (overflow) return Result<Quota>::error(prefix + "too large");
  if (*number == 0) return Result<Quota>::error(prefix + "must be greater than zero");
  skip_spaces(&rest);
  if (rest.empty() || rest.front() != '/') return Result<Quota>::error(prefix + std::string(kForm));
  rest.remove_prefix(1);
  skip_spaces(&rest);
  std::string unit = take_unit(&rest);
  uint64_t ms = unit == "ms" ? 0 : duration_unit_ms(unit);
  if (ms == 0 || !rest.empty()) return Result<Quota>::error(prefix + std::string(kForm));
  return Quota{*number, std::chrono::milliseconds(ms)};
}

Result<double> parse_rate(std::string_view text) {
  auto quota = parse_quota(text);
  if (!quota) return Result<double>::error(quota.status().message());
  return static_cast<double>(quota->count) * 1000.0 / static_cast<double>(quota->window.count());
}

// parse_date - exactly YYYY-MM-DD, a real calendar date.
Result<int64_t> parse_date(std::string_view text) {
  const std::string error = "bad date '" + std::string(text) + "': expected YYYY-MM-DD";
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return Result<int64_t>::error(error);
  auto field = [&](size_t at, size_t length) -> std::optional<unsigned> {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(text.data() + at, text.data() + at + length, value);
    if (ec != std::errc() || ptr != text.data() + at + length) return std::nullopt;
    return value;
  };
  auto y = field(0, 4), m = field(5, 2), d = field(8, 2);
  if (!y || !m || !d) return Result<int64_t>::error(error);
  std::chrono::year_month_day date{std::chrono::year(static_cast<int>(*y)), std::chrono::month(*m),
                                   std::chrono::day(*d)};
  if (!date.ok()) {
    return Result<int64_t>::error("bad date '" + std::string(text) + "': no such day");
  }
  return static_cast<int64_t>(std::chrono::sys_days(date).time_since_epoch().count());
}

}  // namespace hato::conf
