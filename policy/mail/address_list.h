// address_list.h - the address list of a header field such as From (RFC 5322 3.4): mailboxes,
// groups ("Board: a@x, b@y;"), display names that are quoted (with commas and '@' inside),
// RFC 2047 encoded words or atoms, comments anywhere, folding, and the obsolete forms
// (routes, empty list elements).
//
// Pure parsing for the places that need the authors: DMARC evaluates every author domain
// (RFC 7489 6.6.1), the DKIM signer picks its key by the first. It recovers one list element
// at a time and keeps every "local@domain" it finds in a broken one, so that a syntax error
// cannot hide an author a mail reader might still show.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace hato::mail {

struct Mailbox {
  std::string display_name;  // unfolded, unquoted, comments dropped; encoded words as written
  std::string local_part;    // as written, quoted parts with their quotes
  std::string domain;        // as written; "[192.0.2.1]" for a domain literal
  std::string group;         // the display name of the group it is in, if any
};

struct AddressList {
  std::vector<Mailbox> mailboxes;
  std::string error;  // the first syntax error, in words; empty when the value parsed cleanly
};

// Parses a field's value (what follows the colon, folds included).
AddressList parse_address_list(std::string_view value);

// The distinct domains of `list` that can publish DNS records (domain literals cannot),
// lowercase and without a trailing dot, in the order they first appear.
std::vector<std::string> author_domains(const AddressList& list);

// The index after the (nested) comment that starts at s[i], backslash escapes honoured, or
// npos when it does not end (RFC 5322 3.2.2).
size_t skip_comment(std::string_view s, size_t i);

}  // namespace hato::mail
