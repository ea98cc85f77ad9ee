// dmarc_report_test.cc - DMARC aggregate reports (RFC 7489 Appendix C) read from XML and from
// whole messages with zip, gzip and plain parts; the hostile ones (a DTD with an external
// entity, deep nesting, a zip bomb) refused.
#include "policy/dmarc_report.h"

#include <zlib.h>

#include <boost/test/unit_test.hpp>

#include "common/base64.h"

namespace hato::policy::dmarc_report {
namespace {

const std::string kXml = R"(<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata>
    <org_name>google.com</org_name>
    <email>noreply-dmarc-support@google.com</email>
    <report_id>1234567890</report_id>
    <date_range><begin>1765152000</begin><end>1765238399</end></date_range>
  </report_metadata>
  <policy_published>
    <domain>Example.TEST</domain><adkim>r</adkim><aspf>r</aspf><p>none</p><sp>none</sp>
    <pct>100</pct>
  </policy_published>
  <record>
    <row>
      <source_ip>192.0.2.10</source_ip><count>5</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>
      </policy_evaluated>
    </row>
    <identifiers><header_from>example.test</header_from></identifiers>
    <auth_results>
      <dkim><domain>example.test</domain><selector>s1</selector><result>pass</result></dkim>
      <spf><domain>bounce.example.test</domain><scope>mfrom</scope><result>fail</result></spf>
    </auth_results>
  </record>
  <record>
    <row>
      <source_ip>2001:DB8:0:0::7</source_ip><count>2</count>
      <policy_evaluated><disposition>quarantine</disposition><dkim>fail</dkim><spf>fail</spf>
        <reason><type>forwarded</type><comment>looks forwarded</comment></reason>
      </policy_evaluated>
    </row>
    <identifiers><header_from>example.test</header_from></identifiers>
    <auth_results><spf><domain>example.test</domain><result>softfail</result></spf></auth_results>
  </record>
  <record>
    <row>
      <source_ip>192.0.2.10</source_ip><count>1</count>
      <policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>pass</spf>
      </policy_evaluated>
    </row>
    <identifiers><header_from>example.test</header_from></identifiers>
    <auth_results/>
  </record>
</feedback>
)";

std::string gzip(const std::string& in, int window_bits = 15 + 16) {
  z_stream z{};
  BOOST_REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  BOOST_REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void put16(std::string& s, uint32_t v) {
  s += static_cast<char>(v & 0xff);
  s += static_cast<char>((v >> 8) & 0xff);
}
void put32(std::string& s, uint32_t v) {
  put16(s, v & 0xffff);
  put16(s, v >> 16);
}

// A one-entry zip as PKWARE's APPNOTE lays it out, deflated, with the sizes left to a data
// descriptor in the local header (as streaming zippers write them).
std::string zip(const std::string& name, const std::string& content) {
  std::string packed = gzip(content, -15);
  uint32_t crc =
      crc32(0, reinterpret_cast<const Bytef*>(content.data()), static_cast<uInt>(content.size()));
  std::string z;
  put32(z, 0x04034b50);
  put16(z, 20), put16(z, 8), put16(z, 8), put16(z, 0), put16(z, 0);
  put32(z, 0), put32(z, 0), put32(z, 0);
  put16(z, static_cast<uint32_t>(name.size())), put16(z, 0);
  z += name + packed;
  put32(z, 0x08074b50), put32(z, crc), put32(z, static_cast<uint32_t>(packed.size()));
  put32(z, static_cast<uint32_t>(content.size()));
  size_t cd = z.size();
  put32(z, 0x02014b50);
  put16(z, 20), put16(z, 20), put16(z, 8), put16(z, 8), put16(z, 0), put16(z, 0);
  put32(z, crc), put32(z, static_cast<uint32_t>(packed.size()));
  put32(z, static_cast<uint32_t>(content.size()));
  put16(z, static_cast<uint32_t>(name.size())), put16(z, 0), put16(z, 0), put16(z, 0), put16(z, 0);
  put32(z, 0), put32(z, 0);
  z += name;
  size_t cd_size = z.size() - cd;
  put32(z, 0x06054b50), put16(z, 0), put16(z, 0), put16(z, 1), put16(z, 1);
  put32(z, static_cast<uint32_t>(cd_size)), put32(z, static_cast<uint32_t>(cd)), put16(z, 0);
  return z;
}

std::string message(const std::string& type, const std::string& filename,
                    const std::string& content) {
  return "From: noreply@reporter.example\r\nTo: dmarc@example.test\r\n"
         "Subject: Report domain: example.test\r\nMIME-Version: 1.0\r\n"
         "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
         "--b1\r\nContent-Type: text/plain\r\n\r\nA report.\r\n"
         "--b1\r\nContent-Type: " +
         type + "; name=\"" + filename + "\"\r\nContent-Disposition: attachment; filename=\"" +
         filename + "\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64_encode(content) +
         "\r\n--b1--\r\n";
}

BOOST_AUTO_TEST_CASE(reads_every_field_of_appendix_c) {
  auto r = parse_xml(kXml);
  BOOST_REQUIRE_MESSAGE(r, r.status().message());
  BOOST_TEST(r->org_name == "google.com");
  BOOST_TEST(r->email == "noreply-dmarc-support@google.com");
  BOOST_TEST(r->report_id == "1234567890");
  BOOST_TEST(r->begin == 1765152000);
  BOOST_TEST(r->end == 1765238399);
  BOOST_TEST(r->domain == "example.test");
  BOOST_TEST(r->p == "none");
  BOOST_TEST(r->adkim == "r");
  BOOST_TEST(r->pct == 100);
  BOOST_REQUIRE(r->records.size() == 3u);
  const Record& a = r->records[0];
  BOOST_TEST(a.source_ip == "192.0.2.10");
  BOOST_TEST(a.count == 5u);
  BOOST_TEST(a.disposition == "none");
  BOOST_TEST(a.dkim == "pass");
  BOOST_TEST(a.spf == "fail");
  BOOST_TEST(a.header_from == "example.test");
  BOOST_REQUIRE(a.dkim_results.size() == 1u);
  BOOST_TEST(a.dkim_results[0].selector == "s1");
  BOOST_REQUIRE(a.spf_results.size() == 1u);
  BOOST_TEST(a.spf_results[0].scope == "mfrom");
  BOOST_TEST(a.spf_results[0].result == "fail");
  const Record& b = r->records[1];
  BOOST_TEST(b.source_ip == "2001:db8::7");  // one spelling per address
  BOOST_REQUIRE(b.reasons.size() == 1u);
  BOOST_TEST(b.reasons[0].first == "forwarded");
  BOOST_TEST(b.reasons[0].second == "looks forwarded");
  BOOST_TEST(utc_day(r->begin) == "2025-12-08");
}

BOOST_AUTO_TEST_CASE(counts_add_up_per_source) {
  auto r = parse_xml(kXml);
  BOOST_REQUIRE(r);
  auto counts = counts_by_source(*r);
  BOOST_REQUIRE(counts.size() == 2u);
  const Counts& a = counts["192.0.2.10"];
  BOOST_TEST(a.messages == 6u);
  BOOST_TEST(a.none == 6u);
  BOOST_TEST(a.spf_pass == 1u);
  BOOST_TEST(a.spf_fail == 5u);
  BOOST_TEST(a.dkim_pass == 5u);
  BOOST_TEST(a.dkim_fail == 1u);
  BOOST_TEST(a.dmarc_pass == 6u);
  BOOST_TEST(a.dmarc_fail == 0u);
  const Counts& b = counts["2001:db8::7"];
  BOOST_TEST(b.quarantine == 2u);
  BOOST_TEST(b.dmarc_fail == 2u);
  Counts back;
  BOOST_TEST(Counts::parse(a.serialize(), &back));
  BOOST_TEST(back.serialize() == a.serialize());
  BOOST_TEST(!Counts::parse("1 2 3", &back));
}

BOOST_AUTO_TEST_CASE(reads_zip_gzip_and_plain_parts) {
  const std::string name = "google.com!example.test!1765152000!1765238399";
  for (const std::string& m :
       {message("application/zip", name + ".zip", zip(name + ".xml", kXml)),
        message("application/gzip", name + ".xml.gz", gzip(kXml)),
        message("application/x-gzip", name + ".xml.gz", gzip(kXml)),
        message("application/octet-stream", name + ".zip", zip(name + ".xml", kXml)),
        message("text/xml", name + ".xml", kXml)}) {
    auto r = read_message(m);
    BOOST_REQUIRE_MESSAGE(r, r.status().message());
    BOOST_TEST(r->records.size() == 3u);
  }
}

BOOST_AUTO_TEST_CASE(refuses_what_is_no_report) {
  BOOST_TEST(!read_message("Subject: hi\r\n\r\nhello\r\n"));
  BOOST_TEST(!parse_xml("<feedback><report_metadata/></feedback>"));
  BOOST_TEST(!parse_xml("<feedback>"));
  std::string bad_ip = kXml;
  bad_ip.replace(bad_ip.find("192.0.2.10"), 10, "192.0.2.x");
  BOOST_TEST(!parse_xml(bad_ip));
}

BOOST_AUTO_TEST_CASE(refuses_an_external_entity_without_reading_it) {
  std::string xxe =
      "<?xml version=\"1.0\"?>\n<!DOCTYPE feedback [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n" +
      kXml.substr(kXml.find("<feedback>"));
  xxe.replace(xxe.find("google.com"), 10, "&x;");
  auto r = parse_xml(xxe);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.status().message().find("DTD") != std::string::npos);
  BOOST_TEST(r.status().message().find("root:") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(refuses_deep_nesting) {
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += "<a>";
  for (int i = 0; i < 10000; ++i) deep += "</a>";
  BOOST_TEST(!parse_xml("<feedback>" + deep + "</feedback>"));
  std::string modest;  // under libxml2's own limit, over ours
  for (int i = 0; i < 40; ++i) modest += "<a>";
  for (int i = 0; i < 40; ++i) modest += "</a>";
  std::string xml = kXml;
  xml.insert(xml.find("</feedback>"), modest);
  auto r = parse_xml(xml);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.status().message() == "elements nested too deep");
}

BOOST_AUTO_TEST_CASE(refuses_a_zip_bomb_while_inflating) {
  std::string zeros(kMaxReportBytes + 1024 * 1024, '0');
  for (const std::string& m : {message("application/zip", "bomb.zip", zip("bomb.xml", zeros)),
                               message("application/gzip", "bomb.xml.gz", gzip(zeros))}) {
    auto r = find_report(m);
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.status().message().find("unpacked") != std::string::npos);
  }
}

}  // namespace
}  // namespace hato::policy::dmarc_report
