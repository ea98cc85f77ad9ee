// signer_test.cc - what the signer writes: h= (each instance, bottom-up, From/Subject/Date
// over-signed), the tags, folding, refusals, from_domain, and signing on many threads at once.
// That the signatures verify elsewhere is interop_test.cc's job; here our verifier checks them.
#include <boost/test/unit_test.hpp>

#include <thread>

#include "dkim_test_util.h"
#include "policy/dkim/signer.h"
#include "policy/dkim/tags.h"

namespace hato::dkim {
namespace {

using testing::TempDir;

constexpr int64_t kNow = 1773482400;  // 2026-03-14

struct Keys {
  TempDir dir;
  testing::GeneratedKey rsa = testing::keygen(dir, "example.test", "s1", Algorithm::kRsaSha256);
  testing::GeneratedKey ed = testing::keygen(dir, "example.test", "e1", Algorithm::kEd25519Sha256);
  KeyLookup lookup() const {
    return testing::table_lookup({{rsa.record_name, {rsa.record}}, {ed.record_name, {ed.record}}});
  }
};

Keys& keys() {
  static Keys k;
  return k;
}

// The tag list of the i-th DKIM-Signature field in `fields`.
TagList tags_of(const std::string& fields, size_t i) {
  std::string header = fields + "\r\n";
  ParsedMessage m = parse_message(header);
  BOOST_TEST_REQUIRE(m.fields.size() > i);
  std::string_view raw = m.fields[i].raw;
  auto t = TagList::parse(raw.substr(raw.find(':') + 1));
  BOOST_TEST_REQUIRE(t.is_ok(), t.message());
  return *t;
}

const std::string kMessage =
    "Received: from a by b\r\n"
    "From: Alice <alice@example.test>\r\n"
    "To: bob@example.net\r\n"
    "To: carol@example.net\r\n"
    "Subject: hello\r\n"
    "Date: Sat, 14 Mar 2026 10:00:00 +0000\r\n"
    "Message-ID: <1@example.test>\r\n"
    "X-Mailer: not signed\r\n"
    "\r\n"
    "Hi.\r\n";

BOOST_AUTO_TEST_SUITE(signer)

BOOST_AUTO_TEST_CASE(fields_and_tags) {
  Signer s({keys().rsa.key, keys().ed.key});
  auto fields = s.sign(kMessage, kNow);
  BOOST_TEST_REQUIRE(fields.is_ok(), fields.message());
  std::string header = *fields + "\r\n";
  ParsedMessage m = parse_message(header);
  BOOST_TEST_REQUIRE(m.fields.size() == 2u);
  for (const auto& f : m.fields) BOOST_TEST(f.name == "DKIM-Signature");
  BOOST_TEST(fields->ends_with("\r\n"));

  TagList rsa = tags_of(*fields, 0);
  TagList ed = tags_of(*fields, 1);
  BOOST_TEST(*rsa.find("a") == "rsa-sha256");
  BOOST_TEST(*ed.find("a") == "ed25519-sha256");
  BOOST_TEST(*rsa.find("s") == "s1");
  BOOST_TEST(*ed.find("s") == "e1");
  for (const TagList* t : {&rsa, &ed}) {
    BOOST_TEST(*t->find("v") == "1");
    BOOST_TEST(*t->find("d") == "example.test");
    BOOST_TEST(*t->find("c") == "relaxed/relaxed");
    BOOST_TEST(*t->find("t") == std::to_string(kNow));
    BOOST_TEST(t->find("l") == nullptr);
    BOOST_TEST(t->find("x") == nullptr);
    BOOST_TEST(strip_whitespace(*t->find("h")) ==
               "from:from:to:to:subject:subject:date:date:message-id");
  }
  BOOST_TEST(*rsa.find("bh") == *ed.find("bh"));
  BOOST_TEST(strip_whitespace(*ed.find("b")).size() == 88u);  // 64 octets

  auto results = testing::verify_now(*fields + kMessage, keys().lookup(), kNow);
  BOOST_TEST(testing::verdicts(results) == "pass pass", testing::reasons(results));
}

BOOST_AUTO_TEST_CASE(lines_stay_short) {
  std::string many_headers = kMessage;
  many_headers.insert(0,
                      "Cc: a@x.example\r\nCc: b@x.example\r\nReply-To: r@x.example\r\n"
                      "In-Reply-To: <0@x>\r\nReferences: <0@x>\r\nMIME-Version: 1.0\r\n"
                      "Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n"
                      "List-Unsubscribe: <mailto:u@x>\r\n"
                      "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n");
  Signer s({keys().rsa.key});
  auto fields = s.sign(many_headers, kNow);
  BOOST_TEST_REQUIRE(fields.is_ok(), fields.message());
  size_t pos = 0;
  while (pos < fields->size()) {
    size_t eol = fields->find("\r\n", pos);
    BOOST_TEST(eol - pos <= 78u, fields->substr(pos, eol - pos));
    pos = eol + 2;
  }
  BOOST_TEST(strip_whitespace(*tags_of(*fields, 0).find("h")) ==
             "from:from:to:to:cc:cc:subject:subject:date:date:message-id:reply-to:in-reply-to:"
             "references:mime-version:content-type:content-transfer-encoding:list-unsubscribe:"
             "list-unsubscribe-post");
  auto results = testing::verify_now(*fields + many_headers, keys().lookup(), kNow);
  BOOST_TEST(testing::verdicts(results) == "pass", testing::reasons(results));
}

BOOST_AUTO_TEST_CASE(oversigning_stops_added_headers) {
  Signer s({keys().ed.key});
  auto fields = s.sign(kMessage, kNow);
  BOOST_TEST_REQUIRE(fields.is_ok());
  std::string signed_message = *fields + kMessage;
  // Each over-signed name, added anywhere, breaks the signature; an unsigned one does not.
  for (const char* added : {"Subject: pay now\r\n", "Date: Sun, 1 Jan 2034 00:00:00 +0000\r\n",
                            "From: ceo@example.test\r\n"}) {
    for (size_t at : {size_t{0}, signed_message.find("X-Mailer")}) {
      std::string m = signed_message;
      m.insert(at, added);
      BOOST_TEST(testing::verdicts(testing::verify_now(m, keys().lookup(), kNow)) == "fail", added);
    }
  }
  std::string m = signed_message;
  m.insert(m.find("X-Mailer"), "X-Spam: no\r\n");
  BOOST_TEST(testing::verdicts(testing::verify_now(m, keys().lookup(), kNow)) == "pass");
  // A To added above the signed ones is not covered (only the instances present are): To is
  // not over-signed. Below them it would be selected first (bottom-up) and break it.
  m = signed_message;
  m.insert(0, "To: eve@example.net\r\n");
  BOOST_TEST(testing::verdicts(testing::verify_now(m, keys().lookup(), kNow)) == "pass");
}

BOOST_AUTO_TEST_CASE(simple_canonicalization_option) {
  SignerOptions o;
  o.header_canon = Canon::kSimple;
  o.body_canon = Canon::kSimple;
  Signer s({keys().rsa.key}, o);
  auto fields = s.sign(kMessage, kNow);
  BOOST_TEST_REQUIRE(fields.is_ok());
  BOOST_TEST(*tags_of(*fields, 0).find("c") == "simple/simple");
  BOOST_TEST(testing::verdicts(testing::verify_now(*fields + kMessage, keys().lookup(), kNow)) ==
             "pass");
  std::string spaced = *fields + kMessage;
  spaced.replace(spaced.find("Subject: hello"), 14, "Subject:  hello");
  BOOST_TEST(testing::verdicts(testing::verify_now(spaced, keys().lookup(), kNow)) == "fail");
}

BOOST_AUTO_TEST_CASE(refusals) {
  Signer none({});
  BOOST_TEST(!none.sign(kMessage, kNow).is_ok());
  Signer s({keys().ed.key});
  BOOST_TEST(!s.sign("To: a@b.example\r\n\r\nno from\r\n", kNow).is_ok());
  BOOST_TEST(!s.sign("From: a@x.example\r\nFrom: b@y.example\r\n\r\ntwo\r\n", kNow).is_ok());
}

BOOST_AUTO_TEST_CASE(signs_on_many_threads) {
  Signer s({keys().rsa.key, keys().ed.key});
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::vector<std::string> signed_messages(kThreads * kEach);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string m = kMessage + "message " + std::to_string(t * kEach + i) + "\r\n";
        auto fields = s.sign(m, kNow);
        if (fields) signed_messages[t * kEach + i] = *fields + m;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& m : signed_messages) {
    BOOST_TEST_REQUIRE(!m.empty());
    BOOST_TEST(testing::verdicts(testing::verify_now(m, keys().lookup(), kNow)) == "pass pass");
  }
}

BOOST_AUTO_TEST_CASE(from_domain_forms) {
  const std::pair<const char*, const char*> kCases[] = {
      {"From: alice@Example.TEST\r\n\r\n", "example.test"},
      {"From: Alice <alice@example.test>\r\n\r\n", "example.test"},
      {"From: \"Smith, Alice <alice@evil.example>\" <alice@example.test>\r\n\r\n", "example.test"},
      {"From: \"a@b\"@example.test (comment@evil.example)\r\n\r\n", "example.test"},
      {"From: (x@evil.example) Alice\r\n <alice@\r\n example.test>\r\n\r\n", "example.test"},
      {"From: alice@example.test (Alice (the (real) one))\r\n\r\n", "example.test"},
      {"from : Alice <alice@example.test.>\r\n\r\n", "example.test"},
      {"From: Team: alice@example.test, bob@other.example;\r\n\r\n", "example.test"},
      {"From: <@relay.example:alice@example.test>\r\n\r\n", "example.test"},
      {"From: alice@example.test, bob@other.example\r\n\r\n", "example.test"},
      {"Subject: x\r\nFrom:\talice@sub.example.test\r\n\r\nFrom: body@evil.example\r\n",
       "sub.example.test"},
      {"From: alice@[192.0.2.1]\r\n\r\n", ""},
      {"From: Alice\r\n\r\n", ""},
      {"To: bob@example.test\r\n\r\n", ""},
      {"From: a@x.example\r\nFrom: b@y.example\r\n\r\n", ""},
      {"From: \"unterminated <a@x.example>\r\n\r\n", ""},
      {"From: (unterminated <a@x.example>\r\n\r\n", ""},
  };
  for (const auto& [message, domain] : kCases) BOOST_TEST(from_domain(message) == domain, message);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::dkim
