// admin_route.h - matching a request path against a route pattern of the admin API.
//
// A pattern is a path whose segments are literal or "*": "/v1/queue/*/hold". A "*" matches one
// segment, which must not be empty and holds no '/'; it is what the handler gets as the ID.
// Literal segments match byte for byte. Pure: no libevent, so it has a unit test.
#pragma once

#include <string_view>

namespace hato::cli {

// Whether `path` matches `pattern`; on a match, *id is what the "*" matched (empty without one).
bool match_route(std::string_view pattern, std::string_view path, std::string_view* id);

}  // namespace hato::cli
