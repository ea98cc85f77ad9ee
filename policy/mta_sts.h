// mta_sts.h - MTA-STS (RFC 8461) as text: the `_mta-sts` TXT record, the policy
// file, MX patterns, and the cached form of a policy. No I/O here; the relay's
// MtaStsPolicies fetches and caches (relay/mta_sts.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hato::policy::mta_sts {

// RFC 8461 3.2: policies SHOULD NOT live longer than a year.
constexpr uint32_t kMaxAge = 31557600;
// What we accept of a policy file (RFC 8461 3.3 leaves the limit to the sender).
constexpr size_t kMaxPolicyBytes = 64 * 1024;

// The policy ID from the TXT records at _mta-sts.<domain> (RFC 8461 3.1): records that do not
// begin with "v=STSv1" are ignored; anything but exactly one valid record means no policy.
std::optional<std::string> parse_txt(const std::vector<std::string>& records);

enum class Mode { kEnforce, kTesting, kNone };
const char* mode_name(Mode mode);

struct Policy {
  Mode mode = Mode::kNone;
  std::vector<std::string> mx;  // patterns, lower case: "mx.example.com", "*.example.net"
  uint32_t max_age = 0;         // seconds, at most kMaxAge
  // Known to the cache, not part of the file:
  std::string id;          // from the TXT record it was fetched for
  int64_t fetched_ms = 0;  // when it was fetched
  std::string text;        // the file as served, for the cache and for TLS-RPT reports

  int64_t expires_ms() const { return fetched_ms + int64_t{max_age} * 1000; }
  // True when `host` (an MX name) matches one of the mx patterns.
  bool allows(std::string_view host) const;
};

// The policy file (RFC 8461 3.2): "version: STSv1", "mode", "max_age" and, unless the mode is
// none, at least one "mx". Lines end in CRLF or LF; unknown fields are ignored; the first of a
// repeated field counts (mx excepted, which may repeat).
Result<Policy> parse_policy(std::string_view text);

// RFC 8461 4.1: a pattern "*.example.com" matches exactly one label more on the left
// ("mx.example.com", not "example.com" nor "a.b.example.com"); case and a trailing dot do not
// matter.
bool mx_matches(std::string_view pattern, std::string_view host);

// The cache record: id, fetch time and the policy text, read back through parse_policy.
std::string encode_cached(const Policy& policy);
std::optional<Policy> decode_cached(std::string_view record);

}  // namespace hato::policy::mta_sts
