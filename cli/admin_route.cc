// admin_route.cc - route patterns of the admin API (admin_route.h).
#include "cli/admin_route.h"

namespace hato::cli {

bool match_route(std::string_view pattern, std::string_view path, std::string_view* id) {
  std::string_view captured;
  size_t p = 0, q = 0;
  while (p < pattern.size()) {
    if (pattern[p] != '*') {
      if (q >= path.size() || path[q] != pattern[p]) return false;
      ++p;
      ++q;
      continue;
    }
    size_t end = path.find('/', q);
    if (end == std::string_view::npos) end = path.size();
    if (end == q) return false;  // an empty segment is no ID
    captured = path.substr(q, end - q);
    ++p;
    q = end;
  }
  if (q != path.size()) return false;
  *id = captured;
  return true;
}

}  // namespace hato::cli
