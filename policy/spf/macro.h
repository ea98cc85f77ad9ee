// macro.h - SPF macro strings (RFC 7208 section 7): parsing, domain-spec syntax, expansion.
//
// A macro string is parsed once, when its record is parsed, so every syntax error of a record is
// found before any of it is evaluated (section 4.6). Expansion is then a pure function of the
// values in MacroVars; the one letter that needs DNS (%{p}) is resolved by the evaluator before
// it expands a string that uses it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace hato::policy::spf {

struct MacroPiece {
  enum class Kind {
    kLiteral,  // text as written
    kEscape,   // %% %_ %-, already decoded into `text`; a macro-expand in the grammar
    kExpand,   // %{letter transformers delimiters}
  };
  Kind kind = Kind::kLiteral;
  std::string text;
  char letter = 0;          // kExpand: lower case
  bool url_escape = false;  // kExpand: the letter was upper case
  int digits = 0;           // kExpand: right-hand parts to keep; 0 keeps them all
  bool reverse = false;
  std::string delimiters;  // kExpand: empty means "."
};

struct MacroString {
  std::vector<MacroPiece> pieces;
  bool uses(char letter) const;
  bool empty() const { return pieces.empty(); }
};

// Where a macro string appears decides what it may hold.
enum class MacroSyntax {
  kDomainSpec,   // a mechanism or redirect/exp target: no space, no c/r/t
  kModifier,     // an unknown modifier's value: never expanded, any letter
  kExplanation,  // the TXT record exp= points at: spaces and c/r/t allowed
};

Result<MacroString> parse_macro_string(std::string_view text, MacroSyntax syntax);
// A macro string that also ends as a domain-spec must: in a macro, or in "." toplabel ["."].
Result<MacroString> parse_domain_spec(std::string_view text);

// The values the letters stand for (section 7.3).
struct MacroVars {
  std::string sender;         // s: local-part@domain of the identity checked
  std::string local_part;     // l
  std::string sender_domain;  // o
  std::string domain;         // d: the domain of the record being evaluated
  std::string ip_dotted;      // i: dotted quad, or 32 dotted nibbles for IPv6
  std::string ip_readable;    // c: 192.0.2.1 or 2001:db8::1
  std::string ip_version;     // v: "in-addr" or "ip6"
  std::string helo;           // h
  std::string validated;      // p: resolved by the evaluator when the string uses it
  std::string receiver;       // r
  std::string timestamp;      // t: seconds since the epoch
};

std::string expand_macro_string(const MacroString& macro, const MacroVars& vars);

// A name to look up from an expanded domain-spec: without its trailing dot, and cut from the
// left a label at a time while over 253 characters (section 7.3); empty when a
// single label is longer than that, as no query can carry it.
std::string query_name(std::string name);

}  // namespace hato::policy::spf
