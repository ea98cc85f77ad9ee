// connection_plan_test.cc - connections follow the mail queued per egress address.
#include <boost/test/unit_test.hpp>

#include <optional>
#include <vector>

#include "relay/connection_plan.h"

namespace hato::relay {
namespace {

using Plan = std::vector<std::optional<size_t>>;

BOOST_AUTO_TEST_CASE(without_egress_one_connection_per_message_up_to_the_room) {
  BOOST_TEST((plan_connections({{std::nullopt, 3, 0, 10}}, 10) == Plan(3, std::nullopt)));
  BOOST_TEST((plan_connections({{std::nullopt, 30, 2, 10}}, 5) == Plan(5, std::nullopt)));
  BOOST_TEST(plan_connections({{std::nullopt, 30, 10, 10}}, 5).empty());
  BOOST_TEST(plan_connections({{std::nullopt, 0, 0, 10}}, 5).empty());
}

BOOST_AUTO_TEST_CASE(the_neediest_egress_goes_first) {
  // 1:3 of the mail: the room is shared about 1:3 too.
  Plan plan = plan_connections({{0, 25, 0, 10}, {1, 75, 0, 10}}, 8);
  BOOST_TEST(plan.size() == 8u);
  BOOST_TEST(std::count(plan.begin(), plan.end(), std::optional<size_t>(0)) == 2);
  // An egress with a connection already is behind one without.
  BOOST_TEST((plan_connections({{0, 4, 1, 10}, {1, 1, 0, 10}}, 1) == Plan{1}));
  // Caps hold per egress.
  BOOST_TEST((plan_connections({{0, 50, 4, 5}, {1, 1, 0, 5}}, 10) == Plan{1, 0}));
}

}  // namespace
}  // namespace hato::relay
