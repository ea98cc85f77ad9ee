// blacklist.cc - blocklist answers, listing transitions, rotation and their stored form.
//
// Stored values are text, one field per line, led by a version, so a later format can be
// told apart: "1\n<checked>\n<listed>\n<held>\n<since>\n<last checked>\n<streak>\n<reason>\n
// <error>" for a list entry, "1\n<checked>\n<confirmed>\n<last checked>\n<names>\n<error>" for
// reverse DNS (names separated by spaces).
#include "policy/blacklist.h"

#include <algorithm>
#include <charconv>

#include "policy/dnsbl.h"

namespace hato::policy {

namespace {

// A field of the stored form: its line ends must not split it.
std::string one_line(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

std::vector<std::string_view> split_lines(std::string_view value) {
  std::vector<std::string_view> out;
  while (true) {
    size_t eol = value.find('\n');
    out.push_back(value.substr(0, eol));
    if (eol == std::string_view::npos) break;
    value.remove_prefix(eol + 1);
  }
  return out;
}

template <typename T>
bool number(std::string_view text, T* out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool flag(std::string_view text, bool* out) {
  if (text != "0" && text != "1") return false;
  *out = text == "1";
  return true;
}

}  // namespace

BlacklistOutcome classify_blacklist_lookup(LookupStatus status,
                                           const std::vector<SocketAddress>& addresses,
                                           std::string_view failure) {
  BlacklistOutcome out;
  if (status == LookupStatus::kNoRecords) {
    out.kind = BlacklistOutcome::Kind::kClean;
    return out;
  }
  if (status == LookupStatus::kFailed) {
    out.kind = BlacklistOutcome::Kind::kError;
    out.error = failure.empty() ? "lookup failed" : std::string(failure);
    return out;
  }
  DnsblAnswer answer = classify_dnsbl_answer(addresses);
  switch (answer.kind) {
    case DnsblAnswer::Kind::kNotListed:
      out.kind = BlacklistOutcome::Kind::kClean;
      break;
    case DnsblAnswer::Kind::kListed:
      out.kind = BlacklistOutcome::Kind::kListed;
      for (const auto& code : answer.codes) out.reason += (out.reason.empty() ? "" : " ") + code;
      break;
    case DnsblAnswer::Kind::kListError: {
      out.kind = BlacklistOutcome::Kind::kError;
      std::string codes;
      for (const auto& code : answer.errors) codes += (codes.empty() ? "" : " ") + code;
      out.error = "the list refused the query (answered " + codes +
                  ": rate limit, public resolver or over quota), not a listing";
      break;
    }
  }
  return out;
}

BlacklistChange apply_blacklist_outcome(BlacklistEntry& e, const BlacklistOutcome& outcome,
                                        int64_t now_ms, uint32_t clean_checks) {
  BlacklistChange change;
  e.last_checked_ms = now_ms;
  if (outcome.kind == BlacklistOutcome::Kind::kError) {
    change.error = e.error != outcome.error;
    e.error = outcome.error;
    return change;
  }
  e.error.clear();
  bool listed = outcome.kind == BlacklistOutcome::Kind::kListed;
  if (!e.checked || e.listed != listed) e.since_ms = now_ms;
  change.listed = listed && !e.listed;
  change.delisted = !listed && e.listed && e.checked;
  e.checked = true;
  e.listed = listed;
  if (listed) {
    e.reason = outcome.reason;
    e.held = true;
    e.clean_streak = 0;
    return change;
  }
  e.reason.clear();
  if (e.held && ++e.clean_streak >= std::max<uint32_t>(1, clean_checks)) {
    e.held = false;
    e.clean_streak = 0;
    change.returned = true;
  }
  return change;
}

std::vector<bool> out_of_rotation(const std::vector<bool>& held, bool keep_last) {
  bool any_free = false;
  for (bool h : held) any_free = any_free || !h;
  std::vector<bool> out(held.size(), false);
  for (size_t i = 0; i < held.size(); ++i) out[i] = held[i] && (any_free || !keep_last);
  return out;
}

std::string encode_blacklist_entry(const BlacklistEntry& e) {
  return "1\n" + std::string(e.checked ? "1" : "0") + "\n" + (e.listed ? "1" : "0") + "\n" +
         (e.held ? "1" : "0") + "\n" + std::to_string(e.since_ms) + "\n" +
         std::to_string(e.last_checked_ms) + "\n" + std::to_string(e.clean_streak) + "\n" +
         one_line(e.reason) + "\n" + one_line(e.error);
}

std::optional<BlacklistEntry> decode_blacklist_entry(std::string_view value) {
  auto f = split_lines(value);
  BlacklistEntry e;
  if (f.size() != 9 || f[0] != "1" || !flag(f[1], &e.checked) || !flag(f[2], &e.listed) ||
      !flag(f[3], &e.held) || !number(f[4], &e.since_ms) || !number(f[5], &e.last_checked_ms) ||
      !number(f[6], &e.clean_streak))
    return std::nullopt;
  e.reason = std::string(f[7]);
  e.error = std::string(f[8]);
  return e;
}

std::string encode_ptr_check(const PtrCheck& c) {
  std::string names;
  for (const auto& n : c.names) names += (names.empty() ? "" : " ") + one_line(n);
  return "1\n" + std::string(c.checked ? "1" : "0") + "\n" + (c.confirmed ? "1" : "0") + "\n" +
         std::to_string(c.last_checked_ms) + "\n" + names + "\n" + one_line(c.error);
}

std::optional<PtrCheck> decode_ptr_check(std::string_view value) {
  auto f = split_lines(value);
  PtrCheck c;
  if (f.size() != 6 || f[0] != "1" || !flag(f[1], &c.checked) || !flag(f[2], &c.confirmed) ||
      !number(f[3], &c.last_checked_ms))
    return std::nullopt;
  std::string_view names = f[4];
  while (!names.empty()) {
    size_t space = names.find(' ');
    if (space != 0) c.names.emplace_back(names.substr(0, space));
    if (space == std::string_view::npos) break;
    names.remove_prefix(space + 1);
  }
  c.error = std::string(f[5]);
  return c;
}

}  // namespace hato::policy
