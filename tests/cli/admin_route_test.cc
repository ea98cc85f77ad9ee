// admin_route_test.cc - the admin API's route patterns: literal paths match whole, "*" takes
// one non-empty segment as the ID and nothing more.
#define BOOST_TEST_MODULE cli
#include <boost/test/unit_test.hpp>

#include <string_view>

#include "cli/admin_route.h"

namespace hato::cli {
namespace {

// What the "*" matched, or "NO MATCH".
std::string_view id_of(std::string_view pattern, std::string_view path) {
  std::string_view id = "untouched";
  if (!match_route(pattern, path, &id)) return "NO MATCH";
  return id;
}

BOOST_AUTO_TEST_SUITE(admin_route)

BOOST_AUTO_TEST_CASE(literal_patterns_match_the_whole_path) {
  BOOST_TEST(id_of("/v1/queue", "/v1/queue") == "");
  BOOST_TEST(id_of("/v1/queue/summary", "/v1/queue/summary") == "");
  BOOST_TEST(id_of("/v1/queue", "/v1/queue/") == "NO MATCH");
  BOOST_TEST(id_of("/v1/queue", "/v1/queuex") == "NO MATCH");
  BOOST_TEST(id_of("/v1/queue", "/v1/queu") == "NO MATCH");
  BOOST_TEST(id_of("/v1/queue", "/V1/queue") == "NO MATCH");
  BOOST_TEST(id_of("/v1/queue", "") == "NO MATCH");
}

BOOST_AUTO_TEST_CASE(a_star_takes_one_segment_as_the_id) {
  BOOST_TEST(id_of("/v1/queue/*", "/v1/queue/06H22BBRMM000000") == "06H22BBRMM000000");
  BOOST_TEST(id_of("/v1/queue/*/hold", "/v1/queue/06H22BBRMM000000/hold") == "06H22BBRMM000000");
  BOOST_TEST(id_of("/v1/queue/*/hold", "/v1/queue/summary/hold") == "summary");
  // One segment, never more: the rest of the path must match the rest of the pattern.
  BOOST_TEST(id_of("/v1/queue/*", "/v1/queue/ID/hold") == "NO MATCH");
  BOOST_TEST(id_of("/v1/queue/*", "/v1/queue/ID/") == "NO MATCH");
  BOOST_TEST(id_of("/v1/queue/*/hold", "/v1/queue/ID/hold/x") == "NO MATCH");
  BOOST_TEST(id_of("/v1/queue/*/hold", "/v1/queue/ID/holds") == "NO MATCH");
  BOOST_TEST(id_of("/v1/queue/*/hold", "/v1/queue/ID/release") == "NO MATCH");
  BOOST_TEST(id_of("/v1/queue/*/hold", "/v1/queue/ID") == "NO MATCH");
}

BOOST_AUTO_TEST_CASE(an_empty_segment_is_no_id) {
  BOOST_TEST(id_of("/v1/queue/*", "/v1/queue/") == "NO MATCH");
  BOOST_TEST(id_of("/v1/queue/*", "/v1/queue//") == "NO MATCH");
  BOOST_TEST(id_of("/v1/queue/*/hold", "/v1/queue//hold") == "NO MATCH");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::cli
