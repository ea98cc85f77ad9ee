// suppression.cc - the suppression list in the state family, its CSV form and the RCPT hook
// (suppression.h).
#include "policy/suppression.h"

#include <algorithm>
#include <charconv>
#include <ctime>

#include "common/log.h"
#include "common/strings.h"
#include "policy/submission.h"
#include "queue/state_keys.h"

namespace hato::policy {

namespace {

constexpr std::string_view kGlobalScope = "*";
constexpr std::string_view kSources[] = {"bounce", "complaint", "manual", "import"};

std::string scope_of(std::string_view domain) {
  return domain.empty() ? std::string(kGlobalScope) : ascii_lower(domain);
}

std::optional<int64_t> number(std::string_view text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

std::string_view sender_domain(std::string_view sender) {
  std::string_view local, domain;
  if (!split_address(sender, &local, &domain)) return {};
  return domain;
}

bool live(const SuppressionEntry& e, int64_t now_ms) {
  return e.expires_ms == 0 || e.expires_ms > now_ms;
}

// parse_time - "2026-12-07T13:00:00Z" (fraction and offset "+00:00" allowed) or Unix ms.
std::optional<int64_t> parse_time(std::string_view text) {
  if (auto ms = number(text)) return ms;
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't'))
    return std::nullopt;
  auto field = [&](size_t at, size_t n) { return number(text.substr(at, n)); };
  auto y = field(0, 4), mo = field(5, 2), d = field(8, 2), h = field(11, 2), mi = field(14, 2),
       s = field(17, 2);
  if (!y || !mo || !d || !h || !mi || !s || text[13] != ':' || text[16] != ':') return std::nullopt;
  std::tm tm{};
  tm.tm_year = static_cast<int>(*y - 1900);
  tm.tm_mon = static_cast<int>(*mo - 1);
  tm.tm_mday = static_cast<int>(*d);
  tm.tm_hour = static_cast<int>(*h);
  tm.tm_min = static_cast<int>(*mi);
  tm.tm_sec = static_cast<int>(*s);
  int64_t ms = static_cast<int64_t>(timegm(&tm)) * 1000;
  std::string_view rest = text.substr(19);
  if (!rest.empty() && rest[0] == '.') {
    size_t n = 1;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
    std::string frac(rest.substr(1, std::min<size_t>(n - 1, 3)));
    while (frac.size() < 3) frac += '0';
    ms += number(frac).value_or(0);
    rest.remove_prefix(n);
  }
  if (rest != "Z" && rest != "z" && rest != "+00:00") return std::nullopt;
  return ms;
}

// split_csv - the fields of one RFC 4180 line; nullopt for an unterminated quote.
std::optional<std::vector<std::string>> split_csv(std::string_view line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        out.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        out.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  if (quoted) return std::nullopt;
  return out;
}

void append_csv_field(std::string& out, std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

}  // namespace

bool is_suppression_source(std::string_view source) {
  return std::find(std::begin(kSources), std::end(kSources), source) != std::end(kSources);
}

std::string suppression_key(std::string_view domain, std::string_view address) {
  return queue::state::suppression_key(scope_of(domain),
                                       queue::state::escape_field(ascii_lower(address)));
}

std::string encode_suppression(const SuppressionEntry& e) {
  // The reason is last: it may hold spaces. Line ends would break the CSV's lines.
  std::string reason = e.reason;
  std::replace(reason.begin(), reason.end(), '\n', ' ');
  std::replace(reason.begin(), reason.end(), '\r', ' ');
  return e.source + " " + std::to_string(e.first_seen_ms) + " " + std::to_string(e.expires_ms) +
         " " + reason;
}

std::optional<SuppressionEntry> decode_suppression(std::string_view key, std::string_view value) {
  auto parsed = queue::state::parse_key(key);
  if (!parsed || parsed->kind != queue::state::Kind::kSuppression) return std::nullopt;
  SuppressionEntry e;
  e.domain = parsed->fields[0] == kGlobalScope ? "" : parsed->fields[0];
  e.address = queue::state::unescape_field(parsed->fields[1]);
  size_t a = value.find(' ');
  size_t b = a == std::string_view::npos ? a : value.find(' ', a + 1);
  size_t c = b == std::string_view::npos ? b : value.find(' ', b + 1);
  if (c == std::string_view::npos) return std::nullopt;
  e.source = value.substr(0, a);
  auto first = number(value.substr(a + 1, b - a - 1));
  auto expires = number(value.substr(b + 1, c - b - 1));
  if (!first || !expires) return std::nullopt;
  e.first_seen_ms = *first;
  e.expires_ms = *expires;
  e.reason = value.substr(c + 1);
  return e;
}

std::optional<SuppressionEntry> SuppressionList::find(std::string_view sender,
                                                      std::string_view recipient, int64_t now_ms) {
  // The sending domain's entry first, then the one for every domain.
  std::vector<std::string> scopes;
  if (std::string_view domain = sender_domain(sender); !domain.empty())
    scopes.push_back(ascii_lower(domain));
  scopes.emplace_back();
  for (const auto& scope : scopes) {
    std::string key = suppression_key(scope, recipient);
    auto value = state_.get(key);
    if (!value) continue;
    auto entry = decode_suppression(key, *value);
    if (entry && live(*entry, now_ms)) return entry;
    if (entry) state_.erase(key);  // expired: gone for good
  }
  return std::nullopt;
}

bool SuppressionList::add(SuppressionEntry entry) {
  if (entry.address.empty()) return false;
  entry.address = ascii_lower(entry.address);
  entry.domain = entry.domain == kGlobalScope ? "" : ascii_lower(entry.domain);
  std::string key = suppression_key(entry.domain, entry.address);
  if (auto old = state_.get(key)) {
    if (auto before = decode_suppression(key, *old);
        before && before->first_seen_ms && before->first_seen_ms < entry.first_seen_ms)
      entry.first_seen_ms = before->first_seen_ms;
  }
  state_.put(key, encode_suppression(entry));
  return true;
}

size_t SuppressionList::remove(std::string_view address, const std::optional<std::string>& domain) {
  std::vector<std::string> keys;
  if (domain) {
    std::string key = suppression_key(*domain, address);
    if (state_.get(key)) keys.push_back(key);
  } else {
    std::string wanted = ascii_lower(address);
    Status s = state_.scan(queue::state::suppression_prefix(""),
                           [&](std::string_view key, std::string_view value) {
                             auto e = decode_suppression(key, value);
                             if (e && e->address == wanted) keys.emplace_back(key);
                             return true;
                           });
    if (!s) log::error("cannot read the suppression list", {{"reason", s.message()}});
  }
  for (const auto& key : keys) state_.erase(key);
  return keys.size();
}

Status SuppressionList::list(const std::optional<std::string>& domain, int64_t now_ms,
                             const std::function<bool(const SuppressionEntry&)>& visit) {
  std::string prefix = queue::state::suppression_prefix(domain ? scope_of(*domain) : "");
  return state_.scan(prefix, [&](std::string_view key, std::string_view value) {
    auto e = decode_suppression(key, value);
    if (!e || !live(*e, now_ms)) return true;
    return visit(*e);
  });
}

bool SuppressionList::note(const conf::Suppression& config, std::string_view sender,
                           std::string_view recipient, std::string_view reason,
                           std::string_view source, int64_t now_ms) {
  if (std::find(config.on.begin(), config.on.end(), reason) == config.on.end()) return false;
  SuppressionEntry e;
  e.address = std::string(recipient);
  e.domain = config.global ? "" : std::string(sender_domain(sender));
  e.reason = std::string(reason);
  e.source = std::string(source);
  e.first_seen_ms = now_ms;
  e.expires_ms = config.expire.count() > 0 ? now_ms + config.expire.count() : 0;
  return add(std::move(e));
}

std::string_view suppression_csv_header() {
  return "address,domain,reason,source,first_seen,expires";
}

std::string csv_row(std::initializer_list<std::string_view> fields) {
  std::string out;
  bool first = true;
  for (std::string_view f : fields) {
    if (!first) out += ',';
    first = false;
    append_csv_field(out, f);
  }
  return out;
}

std::string suppression_csv_line(const SuppressionEntry& e) {
  return csv_row({e.address, e.domain, e.reason, e.source, log::rfc3339(e.first_seen_ms),
                  e.expires_ms ? log::rfc3339(e.expires_ms) : ""});
}

Result<SuppressionEntry> parse_suppression_csv(std::string_view line, int64_t now_ms) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  auto fields = split_csv(line);
  if (!fields) return Result<SuppressionEntry>::error("unterminated quote");
  if (fields->size() != 6)
    return Result<SuppressionEntry>::error("expected 6 fields (" +
                                           std::string(suppression_csv_header()) + "), found " +
                                           std::to_string(fields->size()));
  const auto& f = *fields;
  SuppressionEntry e;
  e.address = ascii_lower(trim(f[0]));
  std::string_view local, domain;
  if (!split_address(e.address, &local, &domain))
    return Result<SuppressionEntry>::error("'" + f[0] + "' is not an address");
  e.domain = ascii_lower(trim(f[1]));
  if (e.domain == kGlobalScope) e.domain.clear();
  if (e.domain.find('/') != std::string::npos)
    return Result<SuppressionEntry>::error("'" + f[1] + "' is not a domain");
  e.reason = std::string(trim(f[2]));
  e.source = trim(f[3]).empty() ? "import" : std::string(trim(f[3]));
  if (!is_suppression_source(e.source))
    return Result<SuppressionEntry>::error("unknown source '" + e.source +
                                           "' (expected bounce, complaint, manual or import)");
  if (trim(f[4]).empty()) {
    e.first_seen_ms = now_ms;
  } else if (auto t = parse_time(trim(f[4]))) {
    e.first_seen_ms = *t;
  } else {
    return Result<SuppressionEntry>::error("first_seen '" + f[4] + "' is not an RFC 3339 time");
  }
  if (!trim(f[5]).empty()) {
    auto t = parse_time(trim(f[5]));
    if (!t)
      return Result<SuppressionEntry>::error("expires '" + f[5] + "' is not an RFC 3339 time");
    e.expires_ms = *t;
  }
  return e;
}

std::string suppression_reply(const SuppressionEntry& e) {
  std::string since = log::rfc3339(e.first_seen_ms).substr(0, 10);
  std::string reason = e.reason.empty() ? e.source : e.reason;
  return "5.1.1 <" + e.address + ">: suppressed (" + reason + ", since " + since +
         "); remove with: hato suppress remove " + e.address;
}

void SuppressionHook::run(const HookContext& context, std::function<void(Verdict)> done) {
  const auto& s = context.session;
  if (!conf::submits(s.role) ||
      context.config.suppression.bounce_at_submission) {
    done(Verdict::proceed());
    return;
  }
  auto entry = list_.find(context.sender, context.recipient, log::now_ms());
  if (!entry) {
    done(Verdict::proceed());
    return;
  }
  log::info("suppressed", {{"peer", s.peer.to_string()},
                           {"listener", s.listener},
                           {"from", context.sender},
                           {"rcpt", context.recipient},
                           {"reason", entry->reason},
                           {"source", entry->source}});
  done(Verdict::reply(550, suppression_reply(*entry)));
}

}  // namespace hato::policy
