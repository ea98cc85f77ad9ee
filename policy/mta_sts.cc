// mta_sts.cc - MTA-STS record and policy parsing, MX pattern matching.
#include "policy/mta_sts.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/strings.h"

namespace hato::policy::mta_sts {

namespace {

bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

std::string lower_name(std::string_view s) {
  std::string out = ascii_lower(s);
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

// A host name as RFC 8461's ABNF allows it (RFC 5321 Domain): letters, digits, hyphens
// inside labels, dots between labels.
bool is_domain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '.') {
      if (label == 0 || s[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    if (!(is_alnum(c) || (c == '-' && label > 0))) return false;
    if (++label > 63) return false;
  }
  return label > 0 && s.back() != '-';
}

// One TXT record: "v=STSv1; id=20160831085700Z;" -> the id, or nullopt if malformed.
std::optional<std::string> parse_record(std::string_view record) {
  std::optional<std::string> id;
  bool first = true;
  size_t pos = 0;
  while (pos <= record.size()) {
    size_t semi = record.find(';', pos);
    std::string_view field = trim(
        record.substr(pos, semi == std::string_view::npos ? std::string_view::npos : semi - pos));
    pos = semi == std::string_view::npos ? record.size() + 1 : semi + 1;
    if (first) {
      if (field != "v=STSv1") return std::nullopt;
      first = false;
      continue;
    }
    if (field.empty()) {
      // Only the optional delimiter at the very end may leave an empty field.
      if (pos <= record.size() && !trim(record.substr(pos)).empty()) return std::nullopt;
      continue;
    }
    size_t eq = field.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    std::string_view name = field.substr(0, eq), value = field.substr(eq + 1);
    if (name.size() > 32 || !is_alnum(name[0])) return std::nullopt;
    for (char c : name)
      if (!(is_alnum(c) || c == '_' || c == '-' || c == '.')) return std::nullopt;
    if (name == "id") {
      if (id) return std::nullopt;  // the ABNF has exactly one id
      if (value.empty() || value.size() > 32) return std::nullopt;
      for (char c : value)
        if (!is_alnum(c)) return std::nullopt;
      id = std::string(value);
    } else {
      // sts-ext-value: printable US-ASCII but ";" and "=".
      for (char c : value)
        if (c < 0x21 || c > 0x7e || c == ';' || c == '=') return std::nullopt;
    }
  }
  return id;
}

}  // namespace

std::optional<std::string> parse_txt(const std::vector<std::string>& records) {
  std::vector<std::string_view> ours;
  for (const auto& r : records) {
    std::string_view v(r);
    // "v=STSv1" then the delimiter (*WSP ";") or nothing; "v=STSv10" is not ours.
    if (v.substr(0, 7) != "v=STSv1") continue;
    std::string_view rest = trim(v.substr(7));
    if (!rest.empty() && rest.front() != ';') continue;
    ours.push_back(v);
  }
  if (ours.size() != 1) return std::nullopt;
  return parse_record(ours[0]);
}

const char* mode_name(Mode mode) {
  switch (mode) {
    case Mode::kEnforce:
      return "enforce";
    case Mode::kTesting:
      return "testing";
    case Mode::kNone:
      return "none";
  }
  return "none";
}

Result<Policy> parse_policy(std::string_view text) {
  using R = Result<Policy>;
  if (text.size() > kMaxPolicyBytes) return R::error("policy larger than 64 KiB");
  Policy p;
  bool have_version = false, have_mode = false, have_max_age = false;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line =
        text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (trim(line).empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      return R::error("line without a colon: " + std::string(line.substr(0, 80)));
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim(line.substr(colon + 1));
    if (name == "version") {
      if (have_version) continue;
      if (value != "STSv1") return R::error("unknown policy version '" + std::string(value) + "'");
      have_version = true;
    } else if (name == "mode") {
      if (have_mode) continue;
      if (value == "enforce")
        p.mode = Mode::kEnforce;
      else if (value == "testing")
        p.mode = Mode::kTesting;
      else if (value == "none")
        p.mode = Mode::kNone;
      else
        return R::error("unknown mode '" + std::string(value) + "'");
      have_mode = true;
    } else if (name == "max_age") {
      if (have_max_age) continue;
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || value.size() > 10 || ec != std::errc() ||
          end != value.data() + value.size())
        return R::error("max_age is not a number of seconds: '" + std::string(value) + "'");
      p.max_age = static_cast<uint32_t>(std::min<uint64_t>(n, kMaxAge));
      have_max_age = true;
    } else if (name == "mx") {
      std::string_view host = value.substr(0, 2) == "*." ? value.substr(2) : value;
      if (!host.empty() && host.back() == '.') host.remove_suffix(1);
      if (!is_domain(host))
        return R::error("mx pattern '" + std::string(value) + "' is not a host name");
      p.mx.push_back(lower_name(value));
    }
    // Other fields are extensions: ignored (RFC 8461 3.2).
  }
  if (!have_version) return R::error("no 'version: STSv1'");
  if (!have_mode) return R::error("no mode");
  if (!have_max_age) return R::error("no max_age");
  if (p.mode != Mode::kNone && p.mx.empty()) return R::error("no mx pattern");
  p.text = std::string(text);
  return p;
}

bool mx_matches(std::string_view pattern, std::string_view host) {
  std::string pat = lower_name(pattern), name = lower_name(host);
  if (pat.empty() || name.empty()) return false;
  if (pat.substr(0, 2) != "*.") return pat == name;
  std::string_view suffix = std::string_view(pat).substr(1);  // ".example.com"
  if (name.size() <= suffix.size()) return false;
  if (name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) return false;
  // The wildcard covers exactly one label.
  std::string_view first = std::string_view(name).substr(0, name.size() - suffix.size());
  return first.find('.') == std::string_view::npos;
}

bool Policy::allows(std::string_view host) const {
  return std::any_of(mx.begin(), mx.end(),
                     [&](const std::string& pattern) { return mx_matches(pattern, host); });
}

std::string encode_cached(const Policy& policy) {
  return "1\n" + policy.id + "\n" + std::to_string(policy.fetched_ms) + "\n" + policy.text;
}

std::optional<Policy> decode_cached(std::string_view record) {
  auto next_line = [&record]() -> std::optional<std::string_view> {
    size_t nl = record.find('\n');
    if (nl == std::string_view::npos) return std::nullopt;
    std::string_view line = record.substr(0, nl);
    record.remove_prefix(nl + 1);
    return line;
  };
  auto version = next_line();
  auto id = next_line();
  auto fetched = next_line();
  if (!version || *version != "1" || !id || !fetched) return std::nullopt;
  int64_t fetched_ms = 0;
  auto [end, ec] = std::from_chars(fetched->data(), fetched->data() + fetched->size(), fetched_ms);
  if (ec != std::errc() || end != fetched->data() + fetched->size()) return std::nullopt;
  auto policy = parse_policy(record);
  if (!policy) return std::nullopt;
  policy->id = std::string(*id);
  policy->fetched_ms = fetched_ms;
  return std::move(policy.value());
}

}  // namespace hato::policy::mta_sts
