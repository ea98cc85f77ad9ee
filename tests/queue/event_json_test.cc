// event_json_test.cc - the one JSON form of an event, key for key (INTERFACE.md "Event JSON").
#include <boost/test/unit_test.hpp>

#include "queue/event_json.h"

namespace hato::queue {
namespace {

BOOST_AUTO_TEST_SUITE(event_json_schema)

BOOST_AUTO_TEST_CASE(a_delivery_result_has_every_field) {
  QueueEvent e;
  e.time_ms = 1796648400123;  // 2026-12-07T13:00:00.123Z
  e.event = "bounced";
  e.id = "06H51CJAZM000000";
  e.message_id = "<m1@example.test>";
  e.sender = "app@example.test";
  e.rcpt = "x@example.net";
  e.user = "app";
  e.listener = "submission";
  e.category = "invalid-recipient";
  e.dsn = "5.1.1";
  e.response = "550 5.1.1 \"no\" such\tuser";
  e.mx = "mx.example.net";
  e.address = "192.0.2.7";
  e.egress = "192.0.2.10";
  e.tls_version = "TLSv1.3";
  e.tls_policy = "mta-sts";
  e.attempt = 2;
  BOOST_TEST(
      event_json(e) ==
      "{\"event\":\"bounced\",\"time\":\"2026-12-07T13:00:00.123Z\",\"id\":\"06H51CJAZM000000\","
      "\"message_id\":\"<m1@example.test>\",\"sender\":\"app@example.test\","
      "\"rcpt\":\"x@example.net\",\"user\":\"app\",\"listener\":\"submission\","
      "\"category\":\"invalid-recipient\",\"dsn\":\"5.1.1\","
      "\"response\":\"550 5.1.1 \\\"no\\\" such\\tuser\",\"mx\":\"mx.example.net\","
      "\"address\":\"192.0.2.7\",\"egress\":\"192.0.2.10\","
      "\"tls\":{\"version\":\"TLSv1.3\",\"policy\":\"mta-sts\"},\"attempt\":2,"
      "\"original\":\"\"}");
}

// A field that does not apply is there all the same, empty: readers check one schema.
BOOST_AUTO_TEST_CASE(an_event_without_details_keeps_every_key) {
  QueueEvent e;
  e.time_ms = 0;
  e.event = "dsn_sent";
  e.id = "06H51CJAZM000001";
  e.original = "06H51CJAZM000000";
  BOOST_TEST(event_json(e) ==
             "{\"event\":\"dsn_sent\",\"time\":\"1970-01-01T00:00:00.000Z\","
             "\"id\":\"06H51CJAZM000001\",\"message_id\":\"\",\"sender\":\"\",\"rcpt\":\"\","
             "\"user\":\"\",\"listener\":\"\",\"category\":\"\",\"dsn\":\"\",\"response\":\"\","
             "\"mx\":\"\",\"address\":\"\",\"egress\":\"\",\"tls\":{\"version\":\"\",\"policy\":"
             "\"\"},\"attempt\":0,\"original\":\"06H51CJAZM000000\"}");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::queue
