// state_keys.h - the one key schema of the store's `state` family: the daemon's own small
// records (warm-up counters, suspensions, blacklist status, MTA-STS and TLS-RPT state).
//
// A key is a kind's prefix and the record's fields joined by '/'; no field holds a '/'
// (addresses, domains, provider names and UTC dates do not). The prefixes are those of the
// releases before this schema, so their records are still found after an upgrade, and the
// warm-up keys double as the cluster's redis keys (policy/cluster.cc): their text must not
// change. A scan of one kind is a prefix scan (Store::scan_state) over prefix(kind).
//
// A value starts with a version byte (kValueVersion), written by the store itself
// (Store::put_state); decode_value() gives back the payload and refuses a version it does
// not know. The releases before wrote plain text, which never starts with a control byte:
// such a value is read as it is.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hato::queue::state {

// Sorted by prefix, as the records lie in the family.
enum class Kind : uint8_t {
  kBlacklist,     // b/<address or domain>/<zone>, b/<address>/#ptr: blacklist monitor
  kDmarcSource,   // d/a/<domain>/<ip>: a DMARC report's source, "<spf result> <ptr name|->"
  kDmarcCounts,   // d/c/<domain>/<day>/<reporter>/<ip>: reported counts (dmarc_report::Counts)
  kDmarcSeen,     // d/s/<reporter>/<report id>: a DMARC report already counted
  kHookCursor,    // h/<hex of the hook's URL>: the last outbox event a webhook acknowledged
  kIdempotency,   // i/<user>/<sha256 of the key>: the HTTP API's answer to an Idempotency-Key
  kMtaSts,        // m/<domain>: a cached MTA-STS policy
  kSlowdown,      // r/<ip>/<provider>: a slowdown, "<until_ms> <rate> <reason>"
  kSuspension,    // s/<ip>/<provider>: a suspension, "<until_ms> <reason>"
  kTlsrptCounts,  // t/c/<day>/<domain>: one domain's TLS results of one UTC day
  kTlsrptIndex,   // t/i: the releases before kept a list of kTlsrptCounts here; read no more
  kUserQuota,     // u/<user>/<messages|recipients>/<window s>/<start ms>: a user's count so far
  kUserBrake,     // v/<user>/<activity|frozen>: the brake's baseline of a user, its freeze
  kWarmup,        // w/<ip>/<YYYY-MM-DD>[/<provider>]: messages taken that day (decimal)
  kSuppression,  // x/<sending domain or *>/<address>: a suppressed recipient (policy/suppression.h)
};

// Every kind, in the order of the enum.
const std::vector<Kind>& all_kinds();
std::string_view prefix(Kind kind);
std::string_view kind_name(Kind kind);

// make_key - `kind`'s prefix and `fields` joined by '/'; the field count must fit the kind.
std::string make_key(Kind kind, std::initializer_list<std::string_view> fields);

struct Key {
  Kind kind;
  std::vector<std::string> fields;
};
// parse_key - the kind and fields of a key, or nullopt for a key of no known kind or with
// the wrong number of fields (or an empty one).
std::optional<Key> parse_key(std::string_view key);

// A free-form text (an address, a user name) as one key field: '%' and '/' written %25 and
// %2F; and back.
std::string escape_field(std::string_view text);
std::string unescape_field(std::string_view field);

// The keys each user builds, by name.
std::string warmup_key(std::string_view ip, std::string_view date, std::string_view provider = {});
std::string suspension_key(std::string_view ip, std::string_view provider);
std::string slowdown_key(std::string_view ip, std::string_view provider);
std::string blacklist_key(std::string_view subject, std::string_view zone);
std::string ptr_key(std::string_view address);  // "#ptr" as the zone: '#' is in no zone name
std::string mta_sts_key(std::string_view domain);
std::string tlsrpt_counts_key(std::string_view day, std::string_view domain);
std::string tlsrpt_index_key();
// DMARC aggregate reports received: `reporter` and `report_id` are escape_field()ed by the
// caller; `day` is YYYY-MM-DD (UTC).
std::string dmarc_source_key(std::string_view domain, std::string_view ip);
std::string dmarc_counts_key(std::string_view domain, std::string_view day,
                             std::string_view reporter, std::string_view ip);
std::string dmarc_seen_key(std::string_view reporter, std::string_view report_id);
// The prefix of one domain's counts ("d/c/<domain>/"), or of every domain's when empty.
std::string dmarc_counts_prefix(std::string_view domain);
// `user` holds no '/' (the caller escapes it); `what` is "messages" or "recipients".
std::string user_quota_key(std::string_view user, std::string_view what, int64_t window_s,
                           int64_t start_ms);
// `user` holds no '/' (the caller escapes it); `what` is "activity" or "frozen".
std::string user_brake_key(std::string_view user, std::string_view what);
// The hook's URL in hex (a URL holds '/'); its value is the sequence number, in decimal.
std::string hook_cursor_key(std::string_view url);
// `user` holds no '/' (the caller escapes it); the presented key is hashed (it may hold any
// character, and need not lie in the store as it was sent).
std::string idempotency_key(std::string_view user, std::string_view key_sha256);
// `scope` is a sending domain or "*" (every domain); `address` holds no '/' (the caller
// escapes it).
std::string suppression_key(std::string_view scope, std::string_view address);
// The prefix of one scope's entries ("x/<scope>/"), or of every entry when `scope` is empty.
std::string suppression_prefix(std::string_view scope);

// The version byte every value is written with. Bytes below 0x20 are versions; a value
// that starts with any other byte (or is empty) is the unversioned text of a release before.
constexpr uint8_t kValueVersion = 1;

// encode_value - the stored form of `payload`.
std::string encode_value(std::string_view payload);
// decode_value - the payload of a stored value; an error (Code::kCorruption) for a version
// this release does not know. `key` is only for the message.
[[nodiscard]] Result<std::string> decode_value(std::string_view key, std::string_view stored);

}  // namespace hato::queue::state
