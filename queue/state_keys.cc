// state_keys.cc - the state family's key schema and value versions (state_keys.h).
#include "queue/state_keys.h"

#include <cassert>

namespace hato::queue::state {

namespace {

struct KindInfo {
  Kind kind;
  std::string_view prefix;
  std::string_view name;
  size_t min_fields;
  size_t max_fields;
};

// One row per kind, in the order of the enum.
constexpr KindInfo kKinds[] = {
    {Kind::kBlacklist, "b/", "blacklist", 2, 2},
    {Kind::kDmarcSource, "d/a/", "dmarc report source", 2, 2},
    {Kind::kDmarcCounts, "d/c/", "dmarc report counts", 4, 4},
    {Kind::kDmarcSeen, "d/s/", "dmarc report seen", 2, 2},
    {Kind::kHookCursor, "h/", "webhook cursor", 1, 1},
    {Kind::kIdempotency, "i/", "idempotency key", 2, 2},
    {Kind::kMtaSts, "m/", "mta-sts policy", 1, 1},
    {Kind::kSlowdown, "r/", "slowdown", 2, 2},
    {Kind::kSuspension, "s/", "suspension", 2, 2},
    {Kind::kTlsrptCounts, "t/c/", "tls-rpt counts", 2, 2},
    {Kind::kTlsrptIndex, "t/i", "tls-rpt index (old)", 0, 0},
    {Kind::kUserQuota, "u/", "user quota", 4, 4},
    {Kind::kUserBrake, "v/", "user brake", 2, 2},
    {Kind::kWarmup, "w/", "warm-up counter", 2, 3},
    {Kind::kSuppression, "x/", "suppression", 2, 2},
};

const KindInfo& info(Kind kind) {
  return kKinds[static_cast<size_t>(kind)];
}

std::vector<std::string_view> split(std::string_view text) {
  std::vector<std::string_view> out;
  if (text.empty()) return out;
  size_t pos = 0;
  while (true) {
    size_t slash = text.find('/', pos);
    out.push_back(text.substr(pos, slash == std::string_view::npos ? slash : slash - pos));
    if (slash == std::string_view::npos) return out;
    pos = slash + 1;
  }
}

}  // namespace

const std::vector<Kind>& all_kinds() {
  static const std::vector<Kind> kinds = [] {
    std::vector<Kind> out;
    for (const auto& k : kKinds) out.push_back(k.kind);
    return out;
  }();
  return kinds;
}

std::string_view prefix(Kind kind) {
  return info(kind).prefix;
}

std::string_view kind_name(Kind kind) {
  return info(kind).name;
}

std::string make_key(Kind kind, std::initializer_list<std::string_view> fields) {
  const KindInfo& k = info(kind);
  assert(fields.size() >= k.min_fields && fields.size() <= k.max_fields);
  std::string key(k.prefix);
  bool first = true;
  for (std::string_view f : fields) {
    if (!first) key += '/';
    first = false;
    key += f;
  }
  return key;
}

std::optional<Key> parse_key(std::string_view key) {
  for (const auto& k : kKinds) {
    if (!key.starts_with(k.prefix)) continue;
    std::vector<std::string_view> fields = split(key.substr(k.prefix.size()));
    if (fields.size() < k.min_fields || fields.size() > k.max_fields) return std::nullopt;
    Key out{k.kind, {}};
    for (std::string_view f : fields) {
      if (f.empty()) return std::nullopt;
      out.fields.emplace_back(f);
    }
    return out;
  }
  return std::nullopt;
}

std::string warmup_key(std::string_view ip, std::string_view date, std::string_view provider) {
  if (provider.empty()) return make_key(Kind::kWarmup, {ip, date});
  return make_key(Kind::kWarmup, {ip, date, provider});
}

std::string suspension_key(std::string_view ip, std::string_view provider) {
  return make_key(Kind::kSuspension, {ip, provider});
}

std::string slowdown_key(std::string_view ip, std::string_view provider) {
  return make_key(Kind::kSlowdown, {ip, provider});
}

std::string blacklist_key(std::string_view subject, std::string_view zone) {
  return make_key(Kind::kBlacklist, {subject, zone});
}

std::string ptr_key(std::string_view address) {
  return make_key(Kind::kBlacklist, {address, "#ptr"});
}

std::string mta_sts_key(std::string_view domain) {
  return make_key(Kind::kMtaSts, {domain});
}

std::string tlsrpt_counts_key(std::string_view day, std::string_view domain) {
  return make_key(Kind::kTlsrptCounts, {day, domain});
}

std::string tlsrpt_index_key() {
  return make_key(Kind::kTlsrptIndex, {});
}

std::string dmarc_source_key(std::string_view domain, std::string_view ip) {
  return make_key(Kind::kDmarcSource, {domain, ip});
}

std::string dmarc_counts_key(std::string_view domain, std::string_view day,
                             std::string_view reporter, std::string_view ip) {
  return make_key(Kind::kDmarcCounts, {domain, day, reporter, ip});
}

std::string dmarc_seen_key(std::string_view reporter, std::string_view report_id) {
  return make_key(Kind::kDmarcSeen, {reporter, report_id});
}

std::string dmarc_counts_prefix(std::string_view domain) {
  std::string out(prefix(Kind::kDmarcCounts));
  if (!domain.empty()) {
    out += domain;
    out += '/';
  }
  return out;
}

std::string escape_field(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '%') {
      out += "%25";
    } else if (c == '/') {
      out += "%2F";
    } else {
      out += c;
    }
  }
  return out;
}

std::string unescape_field(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    std::string_view three = field.substr(i, 3);
    if (three == "%25" || three == "%2F" || three == "%2f") {
      out += three == "%25" ? '%' : '/';
      i += 2;
    } else {
      out += field[i];
    }
  }
  return out;
}

std::string user_quota_key(std::string_view user, std::string_view what, int64_t window_s,
                           int64_t start_ms) {
  return make_key(Kind::kUserQuota,
                  {user, what, std::to_string(window_s), std::to_string(start_ms)});
}

std::string idempotency_key(std::string_view user, std::string_view key_sha256) {
  return make_key(Kind::kIdempotency, {user, key_sha256});
}

std::string user_brake_key(std::string_view user, std::string_view what) {
  return make_key(Kind::kUserBrake, {user, what});
}

std::string hook_cursor_key(std::string_view url) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(url.size() * 2);
  for (unsigned char c : url) {
    hex += kDigits[c >> 4];
    hex += kDigits[c & 15];
  }
  return make_key(Kind::kHookCursor, {hex});
}

std::string suppression_key(std::string_view scope, std::string_view address) {
  return make_key(Kind::kSuppression, {scope, address});
}

std::string suppression_prefix(std::string_view scope) {
  std::string out(prefix(Kind::kSuppression));
  if (!scope.empty()) {
    out += scope;
    out += '/';
  }
  return out;
}

std::string encode_value(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 1);
  out += static_cast<char>(kValueVersion);
  out += payload;
  return out;
}

Result<std::string> decode_value(std::string_view key, std::string_view stored) {
  if (stored.empty()) return std::string();
  auto first = static_cast<unsigned char>(stored.front());
  if (first >= 0x20) return std::string(stored);  // unversioned text of a release before
  if (first == kValueVersion) return std::string(stored.substr(1));
  return Result<std::string>::error(
      Code::kCorruption, "state record " + std::string(key) + " is of version " +
                             std::to_string(first) + "; this release reads version " +
                             std::to_string(kValueVersion) + " (written by a newer hato?)");
}

}  // namespace hato::queue::state
