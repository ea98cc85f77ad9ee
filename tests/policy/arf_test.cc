// arf_test.cc - parse_arf() on feedback reports shaped as RFC 5965 and the providers send
// them, and on mail that is no feedback report.
#include "policy/arf.h"

#include <boost/test/unit_test.hpp>

namespace hato::policy {
namespace {

// After RFC 5965 appendix B.2 (a report with the original whole), with the original carrying
// the Received field Hato writes.
const std::string kReport =
    "From: <abusedesk@example.com>\r\n"
    "Date: Thu, 8 Mar 2005 17:40:36 EDT\r\n"
    "Subject: FW: Earn money\r\n"
    "To: <fbl@example.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=feedback-report;\r\n"
    "\tboundary=\"part1_13d.2e68ed54_boundary\"\r\n"
    "\r\n"
    "--part1_13d.2e68ed54_boundary\r\n"
    "Content-Type: text/plain; charset=\"US-ASCII\"\r\n"
    "Content-Transfer-Encoding: 7bit\r\n"
    "\r\n"
    "This is an email abuse report for an email message received from IP\r\n"
    "192.0.2.1 on Thu, 8 Mar 2005 14:00:00 EDT.\r\n"
    "--part1_13d.2e68ed54_boundary\r\n"
    "Content-Type: message/feedback-report\r\n"
    "\r\n"
    "Feedback-Type: abuse\r\n"
    "User-Agent: SomeGenerator/1.0\r\n"
    "Version: 1\r\n"
    "Original-Mail-From: <app@example.test>\r\n"
    "Original-Rcpt-To: <user@example.com>\r\n"
    "Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT\r\n"
    "Source-IP: 192.0.2.1\r\n"
    "\r\n"
    "--part1_13d.2e68ed54_boundary\r\n"
    "Content-Type: message/rfc822\r\n"
    "Content-Disposition: inline\r\n"
    "\r\n"
    "Received: from app.example.test ([192.0.2.10])\r\n"
    "\tby relay.example.test (Hato) with ESMTPSA id 06H53RK76G000000; Thu, 8 Mar 2005\r\n"
    "From: <app@example.test>\r\n"
    "To: <user@example.com>\r\n"
    "Subject: Earn money\r\n"
    "Message-ID: <8787KJKJ3K4J3K4J3K4J3.mail@example.test>\r\n"
    "\r\n"
    "Spam Spam Spam\r\n"
    "--part1_13d.2e68ed54_boundary--\r\n";

BOOST_AUTO_TEST_CASE(a_feedback_report_names_the_recipient_the_sender_and_our_queue_id) {
  auto c = parse_arf(kReport);
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->feedback_type == "abuse");
  BOOST_TEST(c->user_agent == "SomeGenerator/1.0");
  BOOST_TEST(c->recipient == "user@example.com");
  BOOST_TEST(c->sender == "app@example.test");
  BOOST_TEST(c->message_id == "8787KJKJ3K4J3K4J3K4J3.mail@example.test");
  BOOST_TEST(c->queue_id == "06H53RK76G000000");
  BOOST_TEST(c->source_ip == "192.0.2.1");
}

BOOST_AUTO_TEST_CASE(a_redacted_recipient_is_taken_from_the_original_headers) {
  // Many providers leave out Original-Rcpt-To; the original's To still names the user.
  std::string redacted = kReport;
  redacted.erase(redacted.find("Original-Rcpt-To"),
                 std::string("Original-Rcpt-To: <user@example.com>\r\n").size());
  auto c = parse_arf(redacted);
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->recipient == "user@example.com");
}

BOOST_AUTO_TEST_CASE(headers_only_originals_are_read_too) {
  std::string headers = kReport;
  headers.replace(headers.find("Content-Type: message/rfc822"),
                  std::string("Content-Type: message/rfc822").size(),
                  "Content-Type: text/rfc822-headers");
  auto c = parse_arf(headers);
  BOOST_TEST_REQUIRE(c.has_value());
  BOOST_TEST(c->queue_id == "06H53RK76G000000");
}

BOOST_AUTO_TEST_CASE(other_mail_is_no_feedback_report) {
  BOOST_TEST(!parse_arf("From: a@b\r\nSubject: hi\r\n\r\nhello\r\n").has_value());
  // A DSN is a multipart/report too, of another report-type.
  std::string dsn = kReport;
  dsn.replace(dsn.find("feedback-report;"), std::string("feedback-report;").size(),
              "delivery-status;");
  BOOST_TEST(!parse_arf(dsn).has_value());
  // The right type but no feedback-report part.
  std::string empty =
      "Content-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nnothing\r\n--b--\r\n";
  BOOST_TEST(!parse_arf(empty).has_value());
}

}  // namespace
}  // namespace hato::policy
