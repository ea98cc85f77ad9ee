// metrics_test.cc - the exposition text, byte for byte: counters, gauges,
// callback gauges, histograms (cumulative buckets, +Inf, _sum, _count), label
// sets and the escaping of label values and help text.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"

namespace hato {
namespace {

BOOST_AUTO_TEST_SUITE(metrics_format)

BOOST_AUTO_TEST_CASE(empty_registry_renders_nothing) {
  MetricsRegistry r;
  BOOST_TEST(r.render() == "");
}

BOOST_AUTO_TEST_CASE(counter_without_labels) {
  MetricsRegistry r;
  r.counter("hato_dkim_signatures_total", "DKIM signatures made").inc();
  r.counter("hato_dkim_signatures_total", "DKIM signatures made").inc(41);
  BOOST_TEST(r.render() ==
             "# HELP hato_dkim_signatures_total DKIM signatures made\n"
             "# TYPE hato_dkim_signatures_total counter\n"
             "hato_dkim_signatures_total 42\n");
}

BOOST_AUTO_TEST_CASE(counter_label_sets_share_one_family_sorted) {
  MetricsRegistry r;
  r.counter("hato_deliveries_total", "Deliveries", "result=\"deferred\"").inc(2);
  r.counter("hato_deliveries_total", "Deliveries", "result=\"delivered\"").inc(5);
  Counter& again = r.counter("hato_deliveries_total", "Deliveries", "result=\"deferred\"");
  again.inc();
  BOOST_TEST(again.value() == 3u);
  BOOST_TEST(r.render() ==
             "# HELP hato_deliveries_total Deliveries\n"
             "# TYPE hato_deliveries_total counter\n"
             "hato_deliveries_total{result=\"deferred\"} 3\n"
             "hato_deliveries_total{result=\"delivered\"} 5\n");
}

BOOST_AUTO_TEST_CASE(gauge_goes_both_ways) {
  MetricsRegistry r;
  Gauge& g = r.gauge("hato_connections", "Open connections", "listener=\"mx\"");
  g.add(3);
  g.add(-5);
  BOOST_TEST(r.render() ==
             "# HELP hato_connections Open connections\n"
             "# TYPE hato_connections gauge\n"
             "hato_connections{listener=\"mx\"} -2\n");
  g.set(7);
  BOOST_TEST(r.render().find("hato_connections{listener=\"mx\"} 7\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(callback_gauge_is_computed_at_render) {
  MetricsRegistry r;
  double age = 1.5;
  r.callback_gauge("hato_queue_oldest_message_age_seconds", "Age of the oldest message",
                   [&age] { return age; });
  r.callback_gauge(
      "hato_queue_messages", "Queued messages", [] { return 12.0; }, "state=\"held\"");
  std::string expected_head =
      "# HELP hato_queue_messages Queued messages\n"
      "# TYPE hato_queue_messages gauge\n"
      "hato_queue_messages{state=\"held\"} 12\n"
      "# HELP hato_queue_oldest_message_age_seconds Age of the oldest message\n"
      "# TYPE hato_queue_oldest_message_age_seconds gauge\n";
  BOOST_TEST(r.render() == expected_head + "hato_queue_oldest_message_age_seconds 1.5\n");
  age = 1e21;
  BOOST_TEST(r.render() == expected_head + "hato_queue_oldest_message_age_seconds 1e+21\n");
  age = std::numeric_limits<double>::infinity();
  BOOST_TEST(r.render() == expected_head + "hato_queue_oldest_message_age_seconds +Inf\n");
  age = std::nan("");
  BOOST_TEST(r.render() == expected_head + "hato_queue_oldest_message_age_seconds NaN\n");
}

BOOST_AUTO_TEST_CASE(histogram_buckets_are_cumulative) {
  MetricsRegistry r;
  // Given unsorted, with a duplicate and an explicit +Inf: all tidied.
  Histogram& h = r.histogram("hato_delivery_latency_seconds", "Acceptance to delivery",
                             {1, 0.25, 10, 1, std::numeric_limits<double>::infinity()});
  for (double v : {0.1, 0.25, 0.5, 3.0, 20.0, 20.0}) h.observe(v);
  BOOST_TEST(h.count() == 6u);
  BOOST_TEST(h.bounds().size() == 3u);
  BOOST_TEST(r.render() ==
             "# HELP hato_delivery_latency_seconds Acceptance to delivery\n"
             "# TYPE hato_delivery_latency_seconds histogram\n"
             "hato_delivery_latency_seconds_bucket{le=\"0.25\"} 2\n"
             "hato_delivery_latency_seconds_bucket{le=\"1\"} 3\n"
             "hato_delivery_latency_seconds_bucket{le=\"10\"} 4\n"
             "hato_delivery_latency_seconds_bucket{le=\"+Inf\"} 6\n"
             "hato_delivery_latency_seconds_sum 43.85\n"
             "hato_delivery_latency_seconds_count 6\n");
}

BOOST_AUTO_TEST_CASE(histogram_with_labels_puts_le_last) {
  MetricsRegistry r;
  r.histogram("x_seconds", "X", {0.5}, "kind=\"a\"").observe(0.5);
  BOOST_TEST(r.render() ==
             "# HELP x_seconds X\n"
             "# TYPE x_seconds histogram\n"
             "x_seconds_bucket{kind=\"a\",le=\"0.5\"} 1\n"
             "x_seconds_bucket{kind=\"a\",le=\"+Inf\"} 1\n"
             "x_seconds_sum{kind=\"a\"} 0.5\n"
             "x_seconds_count{kind=\"a\"} 1\n");
}

BOOST_AUTO_TEST_CASE(empty_histogram) {
  MetricsRegistry r;
  r.histogram("y_seconds", "Y", {1, 2});
  BOOST_TEST(r.render() ==
             "# HELP y_seconds Y\n"
             "# TYPE y_seconds histogram\n"
             "y_seconds_bucket{le=\"1\"} 0\n"
             "y_seconds_bucket{le=\"2\"} 0\n"
             "y_seconds_bucket{le=\"+Inf\"} 0\n"
             "y_seconds_sum 0\n"
             "y_seconds_count 0\n");
}

BOOST_AUTO_TEST_CASE(label_values_and_help_are_escaped) {
  BOOST_TEST(label_value("plain") == "plain");
  BOOST_TEST(label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
  BOOST_TEST(label_value("") == "");

  MetricsRegistry r;
  r.counter("hato_messages_received_total", "Messages \"received\"\\accepted\nby listener",
            "listener=\"" + label_value("we\"ird\\name\n") + "\"")
      .inc();
  BOOST_TEST(r.render() ==
             "# HELP hato_messages_received_total Messages \"received\"\\\\accepted\\nby "
             "listener\n"
             "# TYPE hato_messages_received_total counter\n"
             "hato_messages_received_total{listener=\"we\\\"ird\\\\name\\n\"} 1\n");
}

BOOST_AUTO_TEST_CASE(families_render_in_name_order) {
  MetricsRegistry r;
  r.counter("b_total", "B").inc();
  r.gauge("a", "A").set(1);
  std::string text = r.render();
  BOOST_TEST(text.find("# HELP a A") < text.find("# HELP b_total B"));
}

BOOST_AUTO_TEST_CASE(concurrent_updates_are_all_counted) {
  MetricsRegistry r;
  Counter& c = r.counter("c_total", "C");
  Histogram& h = r.histogram("h_seconds", "H", {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(i % 2 ? 0.5 : 2.0);
        if (i % 1000 == 0) (void)r.render();  // scrapes racing updates stay well-formed
      }
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(c.value() == 40000u);
  BOOST_TEST(h.count() == 40000u);
  BOOST_TEST(h.bucket(0) == 20000u);
  BOOST_TEST(h.sum() == 50000.0);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato
