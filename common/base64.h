// base64.h - RFC 4648 base64, for SMTP AUTH and DKIM; base64url for ACME (JWS).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hato {

std::string base64_encode(std::string_view in);
// Strict: rejects characters outside the alphabet and bad padding.
std::optional<std::string> base64_decode(std::string_view in);
// RFC 4648 section 5 without padding, as JWS (RFC 7515) writes it.
std::string base64url_encode(std::string_view in);

}  // namespace hato
