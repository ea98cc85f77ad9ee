// base64.h - RFC 4648 base64, for SMTP AUTH and DKIM.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hato {

std::string base64_encode(std::string_view in);
// Strict: rejects characters outside the alphabet and bad padding.
std::optional<std::string> base64_decode(std::string_view in);

}  // namespace hato
