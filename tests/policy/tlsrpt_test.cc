// tlsrpt_test.cc - TLS-RPT (RFC 8460) records, counts and the JSON report.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "policy/tlsrpt.h"

namespace hato::policy::tlsrpt {
namespace {

BOOST_AUTO_TEST_SUITE(tlsrpt)

BOOST_AUTO_TEST_CASE(txt_record_rua) {
  auto rua = parse_txt({"v=TLSRPTv1; rua=mailto:a@example.com,https://r.example.com/v1"});
  BOOST_REQUIRE(rua);
  BOOST_TEST(*rua ==
             (std::vector<std::string>{"mailto:a@example.com", "https://r.example.com/v1"}));
  BOOST_TEST(!parse_txt({}));
  BOOST_TEST(!parse_txt({"v=TLSRPTv1;"}));  // no rua
  BOOST_TEST(!parse_txt({"v=TLSRPTv1; rua=mailto:a@b", "v=TLSRPTv1; rua=mailto:c@d"}));
  BOOST_TEST(bool(parse_txt({"unrelated", "v=TLSRPTv1;rua=mailto:a@b"})));
}

BOOST_AUTO_TEST_CASE(counts_round_trip_and_report) {
  PolicyKey sts{"sts",
                "version: STSv1\r\nmode: testing\r\nmx: *.ex\tample.com\r\nmax_age: 1\r\n",
                {"*.example.com"}};
  PolicyKey none{"no-policy-found", "", {}};
  DayCounts c;
  c.add(sts, "", "mx1.example.com", "192.0.2.1");
  c.add(sts, "", "mx1.example.com", "192.0.2.1");
  c.add(sts, "certificate-expired", "mx2.example.com", "192.0.2.2");
  c.add(sts, "certificate-expired", "mx2.example.com", "192.0.2.2");
  c.add(none, "starttls-not-supported", "mx3.example.com", "");
  auto back = decode(encode(c));
  BOOST_REQUIRE(back);
  BOOST_REQUIRE(back->policies.size() == 2u);
  BOOST_TEST((back->policies[0].policy == sts));
  BOOST_TEST(back->policies[0].successes == 2u);
  BOOST_TEST(back->policies[0].failure_total() == 2u);
  BOOST_TEST(back->policies[1].failures[0].result_type == "starttls-not-supported");
  BOOST_TEST(!decode("P\tsts\n"));
  BOOST_TEST(!decode("F\tx\ty\tz\t1\n"));  // a failure before any policy

  ReportInfo info{"Org", "ops@example.org", "id-1", "2026-11-28", "example.com"};
  std::string json = report_json(info, *back);
  BOOST_TEST(json.find("\"start-datetime\":\"2026-11-28T00:00:00Z\"") != std::string::npos);
  BOOST_TEST(json.find("\"end-datetime\":\"2026-11-29T00:00:00Z\"") != std::string::npos);
  BOOST_TEST(json.find("\"policy-string\":[\"version: STSv1\",\"mode: testing\","
                       "\"mx: *.ex\\tample.com\",\"max_age: 1\"]") != std::string::npos);
  BOOST_TEST(json.find("\"total-successful-session-count\":2,\"total-failure-session-count\":2") !=
             std::string::npos);
  BOOST_TEST(
      json.find("{\"result-type\":\"certificate-expired\",\"receiving-ip\":\"192.0.2.2\","
                "\"receiving-mx-hostname\":\"mx2.example.com\",\"failed-session-count\":2}") !=
      std::string::npos);
  BOOST_TEST(utc_day(0) == "1970-01-01");
  BOOST_TEST(day_start_seconds("1970-01-02") == 86400);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::policy::tlsrpt
