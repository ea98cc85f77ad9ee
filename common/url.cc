// url.cc - http:// and https:// URLs taken apart, for the HTTP client and the configuration.
#include "common/url.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/strings.h"

namespace hato {

Result<Url> parse_url(std::string_view text) {
  Url url;
  std::string_view rest;
  if (text.size() > 8 && iequals(text.substr(0, 8), "https://")) {
    url.https = true;
    url.port = 443;
    rest = text.substr(8);
  } else if (text.size() > 7 && iequals(text.substr(0, 7), "http://")) {
    url.port = 80;
    rest = text.substr(7);
  } else {
    return Result<Url>::error("not an http:// or https:// URL: " + std::string(text));
  }
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? "" : rest.substr(end);
  if (target.find('#') != std::string_view::npos) target = target.substr(0, target.find('#'));
  if (authority.find('@') != std::string_view::npos)
    return Result<Url>::error("user information in URLs is not supported: " + std::string(text));
  std::string_view host = authority, port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return Result<Url>::error("bad IPv6 literal in URL");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return Result<Url>::error("bad URL authority: " + std::string(text));
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return Result<Url>::error("no host in URL: " + std::string(text));
  for (char c : host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == ':' ||
          c == '_'))
      return Result<Url>::error("bad host in URL: " + std::string(text));
  }
  if (!port.empty()) {
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535)
      return Result<Url>::error("bad port in URL: " + std::string(text));
    url.port = static_cast<uint16_t>(value);
  }
  url.host = ascii_lower(host);
  if (!url.host.empty() && url.host.back() == '.') url.host.pop_back();
  url.target =
      target.empty() || target.front() != '/' ? "/" + std::string(target) : std::string(target);
  for (char c : url.target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
      return Result<Url>::error("bad character in URL path: " + std::string(text));
  }
  return url;
}

}  // namespace hato
