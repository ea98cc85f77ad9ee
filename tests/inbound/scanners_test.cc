// scanners_test.cc - what clamd's and rspamd's answers mean, without the daemons (the
// integration suite runs the real ones).
#include <boost/test/unit_test.hpp>

#include "inbound/scanners.h"

using namespace hato;
using namespace hato::inbound;
using policy::Verdict;

BOOST_AUTO_TEST_SUITE(clamd)

BOOST_AUTO_TEST_CASE(ok_found_and_error) {
  auto ok = parse_clamd_reply(std::string_view("stream: OK\0", 11));
  BOOST_TEST((ok.kind == ClamdResult::Kind::kClean));
  auto found = parse_clamd_reply(std::string_view("stream: Hato.Test.Sig-1 FOUND\0", 30));
  BOOST_TEST((found.kind == ClamdResult::Kind::kFound));
  BOOST_TEST(found.detail == "Hato.Test.Sig-1");
  auto error = parse_clamd_reply("INSTREAM size limit exceeded. ERROR\n");
  BOOST_TEST((error.kind == ClamdResult::Kind::kError));
  BOOST_TEST(error.detail == "INSTREAM size limit exceeded. ERROR");
  BOOST_TEST((parse_clamd_reply("").kind == ClamdResult::Kind::kError));
  // FOUND with no printable signature name is garbage, not a verdict (fuzz finding).
  auto nameless = parse_clamd_reply(std::string_view("\xe3\0\0 FOUND\0", 10));
  BOOST_TEST((nameless.kind == ClamdResult::Kind::kError));
  BOOST_TEST((parse_clamd_reply("stream:  FOUND").kind == ClamdResult::Kind::kError));
  // A name is never taken for OK, and control characters never reach a reply.
  auto odd = parse_clamd_reply("stream: Bad\r\nName FOUND");
  BOOST_TEST((odd.kind == ClamdResult::Kind::kFound));
  BOOST_TEST(odd.detail == "BadName");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(rspamd)

BOOST_AUTO_TEST_CASE(reply_fields) {
  auto r = parse_rspamd_reply(
      R"({"is_skipped":false,"score":16.5,"required_score":15.0,"action":"reject",)"
      R"("symbols":{"GTUBE":{"name":"GTUBE","score":0}},)"
      R"("messages":{"smtp_message":"Gtube pattern"}})");
  BOOST_REQUIRE(r.is_ok());
  BOOST_TEST(r->action == "reject");
  BOOST_TEST(r->score == 16.5);
  BOOST_TEST(r->required == 15.0);
  BOOST_TEST(r->message == "Gtube pattern");
  BOOST_TEST(!parse_rspamd_reply("[]").is_ok());
  BOOST_TEST(!parse_rspamd_reply(R"({"score":1})").is_ok());  // no action
  BOOST_TEST(!parse_rspamd_reply("<html>").is_ok());
}

BOOST_AUTO_TEST_CASE(http_framing) {
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n";
  BOOST_TEST(!http_response_body(head + "{}", false).has_value());  // more to come
  auto whole = http_response_body(head + "{}{}", false);
  BOOST_REQUIRE(whole.has_value());
  BOOST_TEST(whole->value() == "{}{}");
  BOOST_TEST(!http_response_body(head + "{}", true)->is_ok());  // cut off
  // Without Content-Length the body ends with the connection.
  auto eof = http_response_body("HTTP/1.0 200 OK\r\n\r\n{\"a\":1}", true);
  BOOST_TEST(eof->value() == "{\"a\":1}");
  auto bad = http_response_body("HTTP/1.1 500 Internal Server Error\r\n\r\n", true);
  BOOST_TEST(bad->message() == "HTTP 500");
  BOOST_TEST(!http_response_body("SMTP nonsense\r\n\r\n", true)->is_ok());
}

BOOST_AUTO_TEST_CASE(actions) {
  auto with = [](std::string action, double score = 3) {
    RspamdResult r;
    r.action = std::move(action);
    r.score = score;
    r.required = 15;
    return r;
  };
  policy::TransactionState tx;
  Verdict v = apply_rspamd(with("no action", 1.25), tx);
  BOOST_TEST((v.kind == Verdict::Kind::kContinue));
  BOOST_REQUIRE(tx.add_headers.size() == 1u);
  BOOST_TEST(tx.add_headers[0] == "X-Spam-Score: 1.25 / 15.00\r\n");
  BOOST_TEST(tx.folder.empty());

  for (const char* a : {"add header", "rewrite subject"}) {
    policy::TransactionState t;
    BOOST_TEST((apply_rspamd(with(a, 7), t).kind == Verdict::Kind::kContinue));
    BOOST_TEST(t.folder == "Junk");
    BOOST_REQUIRE(t.add_headers.size() == 2u);
    BOOST_TEST(t.add_headers[1] == "X-Spam: Yes\r\n");
  }
  for (const char* a : {"soft reject", "greylist"}) {
    policy::TransactionState t;
    v = apply_rspamd(with(a), t);
    BOOST_TEST((v.kind == Verdict::Kind::kReply));
    BOOST_TEST(v.code == 451);
    BOOST_TEST(v.text.rfind("4.7.1 ", 0) == 0u);
  }
  policy::TransactionState t;
  v = apply_rspamd(with("reject", 20), t);
  BOOST_TEST(v.code == 550);
  BOOST_TEST(v.text.rfind("5.7.1 ", 0) == 0u);
  BOOST_TEST(t.add_headers.empty());
}

BOOST_AUTO_TEST_SUITE_END()
