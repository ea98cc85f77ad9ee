// blacklist.h - the pure part of watching our own addresses and domains on DNS
// blocklists (issue 8): what one answer means, how a listing starts and ends, which
// addresses stay in the egress rotation, and how the state is stored.
//
// Answers are read as RFC 5782 says (policy/dnsbl.h): an A record in 127.0.0.0/8 is a
// listing; 127.255.255.0/24 is the list refusing the query (rate limit, public resolver,
// over quota). Such answers and failed lookups are errors: they are recorded, and change
// neither a listing nor a clean record, so a list that stops answering never takes an
// address out of the rotation nor puts one back.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/net.h"

namespace hato::policy {

// What one lookup of a list name came to.
struct BlacklistOutcome {
  enum class Kind { kClean, kListed, kError };
  Kind kind = Kind::kError;
  std::string reason;  // kListed: the list's TXT, or its A answers ("127.0.0.2")
  std::string error;   // kError: in words
};

// The lookup's status, in the resolver's terms without depending on it.
enum class LookupStatus { kAnswer, kNoRecords, kFailed };  // kNoRecords: NXDOMAIN or NODATA

// Reads an A lookup of "<reversed address>.<zone>" (or "<domain>.<zone>"). `failure` is the
// resolver's words when the lookup failed.
BlacklistOutcome classify_blacklist_lookup(LookupStatus status,
                                           const std::vector<SocketAddress>& addresses,
                                           std::string_view failure);

// What we know of one address (or domain) on one list. Survives restarts.
struct BlacklistEntry {
  bool checked = false;         // the list has answered at least once
  bool listed = false;          // its last answer was a listing
  bool held = false;            // out of the rotation: listed, or not yet clean long enough
  int64_t since_ms = 0;         // when `listed` last changed (the first answer, at first)
  int64_t last_checked_ms = 0;  // the last lookup, answered or not
  uint32_t clean_streak = 0;    // clean answers in a row while held
  std::string reason;           // while listed
  std::string error;            // the last lookup's failure; cleared by an answer
};

struct BlacklistChange {
  bool listed = false;    // a new listing
  bool delisted = false;  // the list no longer lists it
  bool returned = false;  // clean for `clean_checks` checks: back in the rotation
  bool error = false;     // a failure, or a different one from the last
};

// Applies one outcome at `now_ms`. An address leaves the rotation when listed and returns
// after `clean_checks` clean answers in a row; errors in between neither count nor reset.
BlacklistChange apply_blacklist_outcome(BlacklistEntry& entry, const BlacklistOutcome& outcome,
                                        int64_t now_ms, uint32_t clean_checks);

// Which egress addresses leave the rotation, given which are held: every held one while at
// least one is not; when all are held, none with keep_last (mail keeps flowing from listed
// addresses rather than stopping), all without it (mail waits).
std::vector<bool> out_of_rotation(const std::vector<bool>& held, bool keep_last);

// The stored form of an entry, under queue::state::blacklist_key().
std::string encode_blacklist_entry(const BlacklistEntry& entry);
std::optional<BlacklistEntry> decode_blacklist_entry(std::string_view value);

// Reverse DNS of an egress address, as receivers check it: a PTR name whose A/AAAA records
// include the address (forward-confirmed reverse DNS).
struct PtrCheck {
  bool checked = false;
  std::vector<std::string> names;  // the PTR names
  bool confirmed = false;          // one of them points back
  int64_t last_checked_ms = 0;
  std::string error;  // no PTR, no name pointing back, or a lookup failure
};
// The stored form of a check, under queue::state::ptr_key().
std::string encode_ptr_check(const PtrCheck& check);
std::optional<PtrCheck> decode_ptr_check(std::string_view value);

}  // namespace hato::policy
