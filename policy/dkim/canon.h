// canon.h - splitting a message into header fields and body, and the RFC 6376 3.4
// canonicalizations ("simple" and "relaxed", for header fields and for the body).
//
// A message is CRLF text as Hato stores it: header fields, an empty line, the body. A bare CR
// or LF is an ordinary byte here, as in the RFC's definitions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hato::dkim {

enum class Canon { kSimple, kRelaxed };

struct HeaderField {
  std::string_view name;  // without the colon and any whitespace before it
  std::string_view raw;   // the whole field as it appears, folds included, without the final CRLF
};

struct ParsedMessage {
  std::vector<HeaderField> fields;  // top to bottom
  std::string_view body;            // after the empty line; empty when there is none
};

ParsedMessage parse_message(std::string_view message);

// Appends the canonical form of one header field (`raw` without its final CRLF) to `out`,
// without a CRLF: the caller adds one, except for the DKIM-Signature field itself.
void append_canonical_header(Canon canon, std::string_view raw, std::string& out);

// For each name in `names` (an h= list), the field it selects: the bottom-most instance not yet
// selected by an earlier occurrence of the same name (RFC 6376 5.4.2), or nullptr when none is
// left, which contributes nothing to the hash.
std::vector<const HeaderField*> select_headers(const std::vector<HeaderField>& fields,
                                               const std::vector<std::string>& names);

// The body digest (SHA-256 of the canonical body, RFC 6376 3.7). With `limit`, only its first
// `limit` octets are hashed. `*canonical_length` receives the full canonical length, so a
// verifier can tell an l= beyond the end.
std::string body_hash(Canon canon, std::string_view body, std::optional<uint64_t> limit = {},
                      uint64_t* canonical_length = nullptr);

// The canonical body itself, for tests and tools.
std::string canonical_body(Canon canon, std::string_view body);

// SHA-256 of `data`, raw (32 octets).
std::string sha256(std::string_view data);

}  // namespace hato::dkim
