// strings.h - ASCII case folding and trimming for protocol text.
//
// Mail protocols compare names (header fields, SMTP verbs, DNS names, tags) case-insensitively
// over ASCII only; bytes >= 0x80 are left as they are, whatever the locale.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hato {

// ASCII lower case: 'A'..'Z' become 'a'..'z', every other byte is kept.
std::string ascii_lower(std::string_view s);

// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

// Whether `s` begins with `prefix`, ASCII case-insensitively.
bool istarts_with(std::string_view s, std::string_view prefix);

// `s` without leading and trailing spaces and tabs (RFC 5234 WSP).
std::string_view trim(std::string_view s);

// Whether every octet of `s` is below 0x80 (no UTF-8 beyond ASCII, no 8-bit data).
bool is_ascii(std::string_view s);

// `s` with every octet but ASCII letters, digits and those in `keep` written %XX (upper-case
// hex): RFC 3986 query values (keep "-._~"), RFC 2231 parameter values.
std::string percent_encode(std::string_view s, std::string_view keep);
// The reverse: %XX sequences decoded; nullopt for a '%' without two hex digits after it.
// `plus_is_space`: a query or form value (application/x-www-form-urlencoded), where '+' is
// ' '; otherwise a '+' stays a '+'.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space = false);

}  // namespace hato
