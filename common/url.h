// url.h - http:// and https:// URLs taken apart. No user information (credentials
// belong in a header or a file, not in logs), no fragment.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace hato {

struct Url {
  bool https = false;
  std::string host;  // lower case; an IPv6 literal without brackets
  uint16_t port = 0;
  std::string target;  // path and query, "/" at least
};
// http://host[:port][/path][?query] or https://...
Result<Url> parse_url(std::string_view text);

}  // namespace hato
