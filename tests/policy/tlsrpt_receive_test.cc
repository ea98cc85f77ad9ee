// tlsrpt_receive_test.cc - reports received at our rua: JSON read back into the structures
// our own reports are written from, and found in mail as json or gzip parts.
#include <zlib.h>

#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "common/base64.h"
#include "policy/tlsrpt.h"

namespace hato::policy::tlsrpt {
namespace {

std::string gzip(const std::string& in) {
  z_stream z{};
  BOOST_TEST_REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  BOOST_TEST_REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string wrap76(const std::string& b64) {
  std::string out;
  for (size_t i = 0; i < b64.size(); i += 76) out += b64.substr(i, 76) + "\r\n";
  return out;
}

const char kReport[] = R"({
  "organization-name": "Company-X",
  "date-range": {"start-datetime": "2016-04-01T00:00:00Z", "end-datetime": "2016-04-01T23:59:59Z"},
  "contact-info": "sts-reporting@company-x.example",
  "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
  "policies": [{
    "policy": {"policy-type": "sts",
               "policy-string": ["version: STSv1", "mode: testing", "mx: *.mail.company-y.example", "max_age: 86400"],
               "policy-domain": "company-y.example",
               "mx-host": ["*.mail.company-y.example"]},
    "summary": {"total-successful-session-count": 5326, "total-failure-session-count": 303},
    "failure-details": [
      {"result-type": "certificate-expired", "sending-mta-ip": "2001:db8:abcd:0012::1",
       "receiving-mx-hostname": "mx1.mail.company-y.example", "failed-session-count": 100},
      {"result-type": "starttls-not-supported", "sending-mta-ip": "2001:db8:abcd:0013::1",
       "receiving-mx-hostname": "mx2.mail.company-y.example", "receiving-ip": "203.0.113.56",
       "failed-session-count": 200},
      {"result-type": "validation-failure", "sending-mta-ip": "198.51.100.62",
       "receiving-ip": "203.0.113.58", "receiving-mx-hostname": "mx-backup.mail.company-y.example",
       "failed-session-count": 3, "failure-reason-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"}
    ]}]
})";

BOOST_AUTO_TEST_SUITE(tlsrpt_receive)

// The example report of RFC 8460 appendix B.
BOOST_AUTO_TEST_CASE(rfc_example_report_parses) {
  auto r = parse_report(kReport);
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->info.organization == "Company-X");
  BOOST_TEST(r->info.report_id == "5065427c-23d3-47ca-b6e0-946ea0e8c4be");
  BOOST_TEST(r->info.day == "2016-04-01");
  BOOST_TEST(r->info.domain == "company-y.example");
  BOOST_TEST_REQUIRE(r->counts.policies.size() == 1u);
  const auto& p = r->counts.policies[0];
  BOOST_TEST(p.policy.type == "sts");
  BOOST_TEST(p.successes == 5326u);
  BOOST_TEST(p.failure_total() == 303u);
  BOOST_TEST_REQUIRE(p.failures.size() == 3u);
  BOOST_TEST(p.failures[1].result_type == "starttls-not-supported");
  BOOST_TEST(p.failures[1].ip == "203.0.113.56");
  BOOST_TEST(p.failures[1].count == 200u);
  BOOST_TEST(!parse_report("{\"organization-name\": \"x\"}"));  // no policies
  BOOST_TEST(!parse_report("not json"));
}

BOOST_AUTO_TEST_CASE(our_own_report_reads_back) {
  DayCounts c;
  PolicyKey none{"no-policy-found", "", {}};
  c.add(none, "", "mx.b.test", "192.0.2.1");
  c.add(none, "starttls-not-supported", "mx.b.test", "192.0.2.1");
  c.add(none, "starttls-not-supported", "mx.b.test", "192.0.2.1");
  ReportInfo info{"Hato", "mailto:tls@a.test", "r1", "2026-11-27", "b.test"};
  auto r = parse_report(report_json(info, c));
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(r->info.domain == "b.test");
  BOOST_TEST(r->counts.policies[0].successes == 1u);
  BOOST_TEST(r->counts.policies[0].failures[0].count == 2u);
}

BOOST_AUTO_TEST_CASE(summary_without_details_counts_as_unspecified) {
  auto r = parse_report(
      R"({"organization-name":"o","policies":[{"policy":{"policy-type":"sts"},)"
      R"("summary":{"total-successful-session-count":1,"total-failure-session-count":4}}]})");
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST_REQUIRE(r->counts.policies[0].failures.size() == 1u);
  BOOST_TEST(r->counts.policies[0].failures[0].result_type == "unspecified");
  BOOST_TEST(r->counts.policies[0].failures[0].count == 4u);
}

BOOST_AUTO_TEST_CASE(attachments_json_and_gzip_in_multipart_report) {
  std::string mail =
      "From: reports@company-x.example\r\n"
      "To: postmaster@company-y.example\r\n"
      "Subject: Report Domain: company-y.example\r\n"
      "TLS-Report-Domain: company-y.example\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n"
      "  boundary=\"----=_Part_1\"\r\n"
      "\r\n"
      "------=_Part_1\r\n"
      "Content-Type: text/plain\r\n"
      "\r\n"
      "This is an aggregate TLS report.\r\n"
      "------=_Part_1\r\n"
      "Content-Type: application/tlsrpt+gzip\r\n"
      "Content-Transfer-Encoding: base64\r\n"
      "Content-Disposition: attachment; filename=\"r.json.gz\"\r\n"
      "\r\n" +
      wrap76(base64_encode(gzip(kReport))) +
      "------=_Part_1\r\n"
      "Content-Type: application/tlsrpt+json\r\n"
      "\r\n" +
      std::string(kReport) +
      "\r\n"
      "------=_Part_1--\r\n";
  auto parts = report_attachments(mail);
  BOOST_TEST_REQUIRE(parts.size() == 2u);
  BOOST_TEST(parts[0] == kReport);
  BOOST_TEST(bool(parse_report(parts[1])));
  // Over the size limit once unzipped: dropped.
  BOOST_TEST(report_attachments(mail, 100).empty());
  // A message without reports, and garbage gzip.
  BOOST_TEST(report_attachments("Subject: hi\r\n\r\nhello\r\n").empty());
  BOOST_TEST(report_attachments("Content-Type: application/tlsrpt+gzip\r\n\r\nnot gzip").empty());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::policy::tlsrpt
