// limiter_state.cc - what of the limiter survives a restart: the day's warm-up counters,
// suspensions and slowdowns, written through to the StateStore at once under the keys of
// queue/state_keys.h and read back lazily, the first time a pair or a day is touched.
// Values: a counter in decimal; a suspension "<until_ms> <reason>"; a slowdown
// "<until_ms> <rate per second> <reason>".
#include <charconv>
#include <chrono>
#include <cstdio>

#include "policy/limiter_impl.h"
#include "queue/state_keys.h"

namespace hato::policy {

namespace {

std::string date_text(int64_t day) {
  std::chrono::year_month_day date{std::chrono::sys_days(std::chrono::days(day))};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()));
  return buf;
}

void append_number(std::string& out, double v) {
  char buf[32];
  auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  out.append(buf, end);
}

// The number `text` starts with, consumed with one space after it; nullopt without one.
template <typename T>
std::optional<T> take_number(std::string_view* text) {
  T value{};
  auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc()) return std::nullopt;
  text->remove_prefix(static_cast<size_t>(ptr - text->data()));
  if (!text->empty() && text->front() == ' ') text->remove_prefix(1);
  return value;
}

}  // namespace

// load_pair - the persisted suspension and slowdown of a pair (whether they are over is
// for suspended() and rate()); an unreadable one is dropped.
void Limiter::Impl::load_pair(const Egress& e, std::string_view provider, Pair& p) {
  const std::string suspension = queue::state::suspension_key(e.ip, provider);
  const std::string slowdown = queue::state::slowdown_key(e.ip, provider);
  if (auto value = state.get(suspension)) {
    std::string_view rest = *value;
    auto until = take_number<int64_t>(&rest);
    if (until && *until > 0) {
      p.suspended_until = *until;
      p.suspend_reason = std::string(rest);
    } else {
      state.erase(suspension);  // unreadable
    }
  }
  if (auto value = state.get(slowdown)) {
    std::string_view rest = *value;
    auto until = take_number<int64_t>(&rest);
    auto rate = until ? take_number<double>(&rest) : std::nullopt;
    if (until && rate && *until > 0 && *rate > 0) {
      p.slow_until = *until;
      p.slow_rate = *rate;
      p.slow_reason = std::string(rest);
    } else {
      state.erase(slowdown);
    }
  }
}

void Limiter::Impl::save_suspension(const Egress& e, std::string_view provider, const Pair& p) {
  state.put(queue::state::suspension_key(e.ip, provider),
            std::to_string(p.suspended_until) + " " + p.suspend_reason);
}

void Limiter::Impl::save_slowdown(const Egress& e, std::string_view provider, const Pair& p) {
  std::string value = std::to_string(p.slow_until) + " ";
  append_number(value, p.slow_rate);
  value += " " + p.slow_reason;
  state.put(queue::state::slowdown_key(e.ip, provider), value);
}

void Limiter::Impl::forget_suspension(const Egress& e, std::string_view provider) {
  state.erase(queue::state::suspension_key(e.ip, provider));
}

void Limiter::Impl::forget_slowdown(const Egress& e, std::string_view provider) {
  state.erase(queue::state::slowdown_key(e.ip, provider));
}

// count_key - the day's counter of `e`, or of `e` to one provider.
std::string Limiter::Impl::count_key(const Egress& e, std::string_view provider) const {
  return queue::state::warmup_key(e.ip, date_text(e.day), provider);
}

uint64_t Limiter::Impl::load_count(const std::string& key) {
  auto value = state.get(key);
  if (!value) return 0;
  std::string_view text = *value;
  return take_number<uint64_t>(&text).value_or(0);
}

void Limiter::Impl::save_count(const std::string& key, uint64_t count) {
  state.put(key, std::to_string(count));
}

void Limiter::Impl::forget_day(const Egress& e) {
  std::string date = date_text(e.day);
  state.erase(queue::state::warmup_key(e.ip, date));
  for (const auto& [provider, count] : e.sent_to)
    state.erase(queue::state::warmup_key(e.ip, date, provider));
}

}  // namespace hato::policy
