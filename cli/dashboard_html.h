// dashboard_html.h - what the dashboard's pages share: escaping, the page frame, forms,
// cookies and form bodies. Pure functions, unit tested in tests/cli/dashboard_html_test.cc.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace hato::cli::html {

// `text` safe inside an element or a quoted attribute value.
std::string escape(std::string_view text);

// An application/x-www-form-urlencoded body or query string as name -> value (the first
// value of a repeated name); nullopt for a malformed percent sequence.
std::optional<std::map<std::string, std::string>> parse_form(std::string_view body);

// The value of cookie `name` in a Cookie header, or "".
std::string cookie(std::string_view header, std::string_view name);

// The hidden field every form carries.
std::string csrf_field(std::string_view token);

// A whole page: the title, the navigation (with the logout form when `user` is not empty,
// which needs `csrf`) and `body`.
std::string page(std::string_view title, std::string_view user, std::string_view csrf,
                 std::string_view body);

// The stylesheet and the live-update script, served from /static/ (the CSP allows no inline
// script or style).
extern const std::string_view kStylesheet;
extern const std::string_view kLiveScript;

}  // namespace hato::cli::html
