// verifier_test.cc - the verifier against RFC 8463's published example, against changed
// messages, against every key-record and tag rule it enforces, with lookups that answer late,
// and against random damage (it must never crash).
#include <boost/test/unit_test.hpp>

#include <openssl/pem.h>

#include <random>

#include "common/base64.h"
#include "common/strings.h"
#include "dkim_test_util.h"
#include "policy/dkim/canon.h"
#include "policy/dkim/crypto.h"
#include "policy/dkim/signer.h"
#include "policy/dkim/tags.h"

namespace hato::dkim {
namespace {

using testing::reasons;
using testing::table_lookup;
using testing::verdicts;
using testing::verify_now;

// RFC 8463 Appendix A.3, transcribed from the RFC: one message signed by Ed25519 (selector
// brisbane) and RSA (selector test), relaxed/relaxed, with the keys of A.2.
const std::string kRfc8463 =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";

const std::string kBrisbane = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const std::string kTest =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"
    "iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"
    "DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3"
    "Ip3G+2kryOTIKT+l/K4w3QIDAQAB";
const char kBrisbaneName[] = "brisbane._domainkey.football.example.com";
const char kTestName[] = "test._domainkey.football.example.com";
constexpr int64_t kLater = 1773482400;  // long after the example's t=

KeyLookup rfc_lookup(std::string brisbane = kBrisbane, std::string test = kTest) {
  return table_lookup({{kBrisbaneName, {brisbane}}, {kTestName, {test}}});
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  size_t at = s.find(from);
  BOOST_TEST_REQUIRE(at != std::string::npos, from);
  return s.replace(at, from.size(), to);
}

// A signature built by hand from `tags` (everything but bh= and b=), for rules the signer
// never exercises (x=, l=, i=, odd keys). Uses our canonicalization: these tests are about
// the verifier's policy, not its interoperability.
std::string hand_sign(const std::string& message, const std::string& tags, evp_pkey_st* key,
                      Algorithm alg, std::optional<uint64_t> l = {}) {
  ParsedMessage m = parse_message(message);
  auto list = TagList::parse(tags);
  BOOST_TEST_REQUIRE(list.is_ok(), list.message());
  std::string field = "DKIM-Signature: " + tags +
                      " bh=" + base64_encode(body_hash(Canon::kRelaxed, m.body, l)) + "; b=";
  std::string data;
  for (const auto* f : select_headers(m.fields, split_colon_list(*list->find("h")))) {
    if (!f) continue;
    append_canonical_header(Canon::kRelaxed, f->raw, data);
    data += "\r\n";
  }
  append_canonical_header(Canon::kRelaxed, field, data);
  auto sig = sign_digest(key, alg, sha256(data));
  BOOST_TEST_REQUIRE(sig.is_ok(), sig.message());
  return field + base64_encode(*sig) + "\r\n" + message;
}

const std::string kPlain =
    "From: Alice <alice@example.test>\r\n"
    "To: bob@example.net\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "Hi.\r\n";

struct OwnKey {
  testing::TempDir dir;
  testing::GeneratedKey ed = testing::keygen(dir, "example.test", "e1", Algorithm::kEd25519Sha256);
};

OwnKey& own() {
  static OwnKey k;
  return k;
}

std::string hand_signed(const std::string& extra, std::optional<uint64_t> l = {},
                        const std::string& message = kPlain) {
  return hand_sign(message,
                   "v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.test; s=e1; "
                   "h=from:to:subject;" +
                       extra,
                   own().ed.key.pkey.get(), Algorithm::kEd25519Sha256, l);
}

KeyLookup own_lookup(const std::string& record) {
  return table_lookup({{"e1._domainkey.example.test", {record}}});
}

BOOST_AUTO_TEST_SUITE(verifier)

BOOST_AUTO_TEST_CASE(rfc8463_example_passes) {
  auto results = verify_now(kRfc8463, rfc_lookup(), kLater);
  BOOST_TEST_REQUIRE(verdicts(results) == "pass pass", reasons(results));
  BOOST_TEST(results[0].domain == "football.example.com");
  BOOST_TEST(results[0].selector == "brisbane");
  BOOST_TEST(results[0].algorithm == "ed25519-sha256");
  BOOST_TEST(results[1].selector == "test");
  BOOST_TEST(results[1].algorithm == "rsa-sha256");
  BOOST_TEST(results[0].reason.empty());
  BOOST_TEST(!results[0].body_length.has_value());
}

BOOST_AUTO_TEST_CASE(rfc8463_survives_relaxed_changes) {
  std::string m =
      replaced(kRfc8463, "Subject: Is dinner ready?", "SUBJECT:   Is dinner\r\n\tready? ");
  m = replaced(m, "Are you hungry yet?\r\n", "Are  you\thungry yet?  \r\n");
  m += "\r\n\r\n";
  BOOST_TEST(verdicts(verify_now(m, rfc_lookup(), kLater)) == "pass pass");
}

BOOST_AUTO_TEST_CASE(changed_body_fails) {
  auto results = verify_now(replaced(kRfc8463, "We lost", "We won"), rfc_lookup(), kLater);
  BOOST_TEST(verdicts(results) == "fail fail");
  BOOST_TEST(results[0].reason == "body hash did not verify");
  // Appending is a change too (no l=).
  BOOST_TEST(verdicts(verify_now(kRfc8463 + "P.S. send money\r\n", rfc_lookup(), kLater)) ==
             "fail fail");
}

BOOST_AUTO_TEST_CASE(changed_signed_header_fails) {
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"Subject: Is dinner ready?", "Subject: Is lunch ready?"},
           {"From: Joe SixPack <joe@", "From: Joe SixPack <jo@"},
           {"Message-ID: <2003", "Message-ID: <2004"},
           {"t=1528637909; h=from : to :", "t=1528637900; h=from : to :"},
       }) {
    auto results = verify_now(replaced(kRfc8463, from, to), rfc_lookup(), kLater);
    BOOST_TEST(verdicts(results).find("fail") != std::string::npos, to);
    for (const auto& r : results) {
      if (r.verdict == Verdict::kFail) BOOST_TEST(r.reason == "signature did not verify");
    }
  }
  // Over-signing: a From added on top breaks both.
  BOOST_TEST(verdicts(verify_now("From: ceo@football.example.com\r\n" + kRfc8463, rfc_lookup(),
                                 kLater)) == "fail fail");
  // An unsigned field may be added.
  BOOST_TEST(verdicts(verify_now("Received: by x\r\n" + kRfc8463, rfc_lookup(), kLater)) ==
             "pass pass");
}

BOOST_AUTO_TEST_CASE(key_lookup_outcomes) {
  using S = TxtLookupResult::Status;
  for (auto [status, expected] : {std::pair{S::kNxDomain, "permerror permerror"},
                                  std::pair{S::kNoData, "permerror permerror"},
                                  std::pair{S::kTemporary, "temperror temperror"}}) {
    S answer = status;  // clang 14 cannot capture a structured binding
    KeyLookup lookup = [answer](const std::string&, std::function<void(TxtLookupResult)> done) {
      TxtLookupResult r;
      r.status = answer;
      done(r);
    };
    BOOST_TEST(verdicts(verify_now(kRfc8463, lookup, kLater)) == expected);
  }
}

BOOST_AUTO_TEST_CASE(key_record_rules) {
  struct Case {
    std::string brisbane;
    std::string verdict;
    std::string reason_part;
  };
  const std::string p = "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
  const std::vector<Case> kCases = {
      {"v=DKIM1; k=ed25519; p=", "fail", "revoked"},
      {"v=DKIM1; k=ed25519; p= ; n=rotated", "fail", "revoked"},
      {"v=DKIM2; k=ed25519; " + p, "permerror", "v=DKIM1"},
      {"v=DKIM1; k=rsa; " + p, "permerror", "k=rsa"},
      {"v=DKIM1; " + p, "permerror", "k=rsa"},  // k= defaults to rsa
      {"v=DKIM1; k=ed25519; h=sha1; " + p, "permerror", "sha256"},
      {"v=DKIM1; k=ed25519; s=tlsrpt; " + p, "permerror", "email"},
      {"v=DKIM1; k=ed25519", "permerror", "no p="},
      {"v=DKIM1; k=ed25519; p=!!!!", "permerror", "p="},
      {"v=DKIM1; k=ed25519; p=AAAA", "permerror", "Ed25519"},
      {"v=DKIM1; k=ed25519; v=DKIM1; " + p, "permerror", "syntax"},
      {"v=DKIM1; k=ed25519; h=sha1:sha256; s=email:*; t=s; " + p, "pass", ""},
      {"k=ed25519; " + p, "pass", ""},  // v= is optional
      {"v=DKIM1; k=ed25519; t=y; " + p, "pass", "testing"},
      {"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7h\r\n cvPapiMlrwIaaPcHURo=", "pass", ""},
  };
  for (const auto& c : kCases) {
    auto results = verify_now(kRfc8463, rfc_lookup(c.brisbane), kLater);
    BOOST_TEST_REQUIRE(results.size() == 2u);
    BOOST_TEST(std::string(verdict_name(results[0].verdict)) == c.verdict, c.brisbane);
    BOOST_TEST(results[0].reason.find(c.reason_part) != std::string::npos,
               c.brisbane << " -> " << results[0].reason);
    BOOST_TEST(results[1].verdict == Verdict::kPass);
  }
}

BOOST_AUTO_TEST_CASE(several_key_records) {
  // Records are tried in order until one gives a usable key (RFC 6376 6.1.2 lets a verifier
  // cycle through them); when none does, the first one's problem is reported.
  auto lookup = table_lookup({{kBrisbaneName, {"garbage", "v=spf1 -all", kBrisbane}},
                              {kTestName, {"v=DKIM1; k=rsa; p=", kTest}}});
  auto results = verify_now(kRfc8463, lookup, kLater);
  BOOST_TEST(verdicts(results) == "pass pass", reasons(results));
  lookup = table_lookup({{kBrisbaneName, {"v=DKIM1; k=ed25519; p=", "v=DKIM1; k=rsa; p=AAAA"}},
                         {kTestName, {"v=DKIM1; k=rsa; p=!", "x"}}});
  results = verify_now(kRfc8463, lookup, kLater);
  BOOST_TEST(verdicts(results) == "fail permerror", reasons(results));
  BOOST_TEST(results[0].reason.find("revoked") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(short_rsa_key_fails) {
  testing::TempDir dir;
  auto r = testing::run("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512 -out " +
                        dir / "small.pem");
  BOOST_TEST_REQUIRE(r.status == 0, r.output);
  std::string pem = testing::read_file(dir / "small.pem");
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  BOOST_TEST_REQUIRE(pkey != nullptr);
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pkey, &der);
  std::string record =
      "v=DKIM1; k=rsa; p=" + base64_encode(std::string(reinterpret_cast<char*>(der), len));
  OPENSSL_free(der);
  std::string m = hand_sign(kPlain,
                            "v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.test; s=small; "
                            "h=from:to:subject;",
                            pkey, Algorithm::kRsaSha256);
  EVP_PKEY_free(pkey);
  auto results = verify_now(m, table_lookup({{"small._domainkey.example.test", {record}}}), kLater);
  BOOST_TEST(verdicts(results) == "fail");
  BOOST_TEST(results[0].reason.find("512 bits") != std::string::npos, results[0].reason);
}

BOOST_AUTO_TEST_CASE(hand_signed_baseline_passes) {
  auto results = verify_now(hand_signed(""), own_lookup(own().ed.record), kLater);
  BOOST_TEST(verdicts(results) == "pass", reasons(results));
}

BOOST_AUTO_TEST_CASE(time_rules) {
  auto lookup = own_lookup(own().ed.record);
  auto one = [&](const std::string& extra) {
    auto results = verify_now(hand_signed(extra), lookup, kLater);
    BOOST_TEST_REQUIRE(results.size() == 1u);
    return results[0];
  };
  BOOST_TEST(one(" x=" + std::to_string(kLater + 60) + ";").verdict == Verdict::kPass);
  auto expired = one(" x=" + std::to_string(kLater - 1) + ";");
  BOOST_TEST(expired.verdict == Verdict::kFail);
  BOOST_TEST(expired.reason == "signature expired");
  BOOST_TEST(one(" t=" + std::to_string(kLater + 200) + ";").verdict == Verdict::kPass);  // skew
  auto future = one(" t=" + std::to_string(kLater + 3600) + ";");
  BOOST_TEST(future.verdict == Verdict::kPermError);
  BOOST_TEST(future.reason == "signature timestamp in the future");
  BOOST_TEST(one(" t=100; x=100;").verdict == Verdict::kPermError);
  BOOST_TEST(one(" t=99999999999999999999;").verdict == Verdict::kPermError);
}

BOOST_AUTO_TEST_CASE(body_length_tag) {
  auto lookup = own_lookup(own().ed.record);
  std::string m = hand_signed(" l=5;", 5);
  auto results = verify_now(m, lookup, kLater);
  BOOST_TEST_REQUIRE(verdicts(results) == "pass", reasons(results));
  BOOST_TEST(*results[0].body_length == 5u);
  BOOST_TEST(results[0].reason.find("only the first 5 octets") != std::string::npos);
  // What RFC 6376 8.2 warns of: text appended after the signed part still "passes", flagged.
  results = verify_now(m + "Click here: http://evil.example/\r\n", lookup, kLater);
  BOOST_TEST(verdicts(results) == "pass");
  BOOST_TEST(results[0].reason.find("l=") != std::string::npos);
  // An l= beyond the body fails.
  results = verify_now(hand_signed(" l=500;", 500), lookup, kLater);
  BOOST_TEST(verdicts(results) == "fail");
  BOOST_TEST(results[0].reason.find("beyond") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(identity_rules) {
  auto lookup = own_lookup(own().ed.record);
  BOOST_TEST(verdicts(verify_now(hand_signed(" i=@example.test;"), lookup, kLater)) == "pass");
  BOOST_TEST(verdicts(verify_now(hand_signed(" i=u@mail.example.test;"), lookup, kLater)) ==
             "pass");
  BOOST_TEST(verdicts(verify_now(hand_signed(" i=u@other.test;"), lookup, kLater)) == "permerror");
  BOOST_TEST(verdicts(verify_now(hand_signed(" i=u@badexample.test;"), lookup, kLater)) ==
             "permerror");
  // t=s in the key forbids a subdomain in i=.
  auto strict = own_lookup(own().ed.record + "; t=s");
  BOOST_TEST(verdicts(verify_now(hand_signed(" i=@example.test;"), strict, kLater)) == "pass");
  BOOST_TEST(verdicts(verify_now(hand_signed(" i=u@mail.example.test;"), strict, kLater)) ==
             "permerror");
}

BOOST_AUTO_TEST_CASE(signature_tag_rules) {
  const std::string good =
      "v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.test; s=e1; h=from:to:subject;"
      " bh=AAAA; b=AAAA";
  struct Case {
    std::string from, to, reason_part;
  };
  const std::vector<Case> kCases = {
      {"v=1;", "v=2;", "version"},
      {"v=1; ", "", "no v="},
      {" b=AAAA", "", "no b="},
      {" bh=AAAA;", "", "no bh="},
      {" d=example.test;", "", "no d="},
      {" s=e1;", "", "no s="},
      {" h=from:to:subject;", "", "no h="},
      {"a=ed25519-sha256", "a=rsa-sha1", "RFC 8301"},
      {"a=ed25519-sha256", "a=ed448-sha512", "unknown algorithm"},
      {"c=relaxed/relaxed", "c=relaxed/fancy", "canonicalization"},
      {"d=example.test", "d=example.test(.evil.example", "d="},
      {"s=e1", "s=e1/x", "s="},
      {"h=from:to:subject", "h=to:subject", "From is not signed"},
      {"h=from:to:subject", "h=from:to::subject", "h="},
      {"h=from:to:subject", "h=from:t o:subject", "h="},
      {"bh=AAAA", "bh=AA*A", "bh="},
      {"b=AAAA", "b=", "b="},
      {"s=e1;", "s=e1; l=-1;", "l="},
      {"s=e1;", "s=e1; q=http/well-known;", "q="},
      {"s=e1;", "s=e1; q=dns/txt:http;", "no key record"},  // acceptable: lookup fails later
      {"s=e1;", "s=e1; s=e2;", "duplicate"},
      {"s=e1;", "s=e1; é=1;", "syntax"},
  };
  auto lookup = table_lookup({});
  for (const auto& c : kCases) {
    std::string field = replaced(good, c.from, c.to);
    auto results = verify_now("DKIM-Signature: " + field + "\r\n" + kPlain, lookup, kLater);
    BOOST_TEST_REQUIRE(results.size() == 1u);
    BOOST_TEST(results[0].verdict == Verdict::kPermError, field);
    BOOST_TEST(results[0].reason.find(c.reason_part) != std::string::npos,
               field << " -> " << results[0].reason);
  }
}

BOOST_AUTO_TEST_CASE(no_signatures) {
  BOOST_TEST(verify_now(kPlain, table_lookup({}), kLater).empty());
  BOOST_TEST(verify_now("", table_lookup({}), kLater).empty());
}

BOOST_AUTO_TEST_CASE(too_many_signatures) {
  std::string m = kRfc8463;
  for (int i = 0; i < 4; ++i) m = kRfc8463.substr(0, kRfc8463.find("From:")) + m;
  auto results = verify_now(m, rfc_lookup(), kLater);  // 10 signatures
  BOOST_TEST(verdicts(results) == "pass pass pass pass pass pass pass pass neutral neutral");
}

BOOST_AUTO_TEST_CASE(late_answers_out_of_order) {
  std::vector<std::pair<std::string, std::function<void(TxtLookupResult)>>> asked;
  KeyLookup lookup = [&](const std::string& name, std::function<void(TxtLookupResult)> done) {
    asked.emplace_back(name, std::move(done));
  };
  std::vector<SignatureResult> results;
  int calls = 0;
  {
    std::string message = kRfc8463;  // gone before any answer: the verifier must not need it
    Verifier().verify(message, kLater, lookup, [&](std::vector<SignatureResult> r) {
      results = std::move(r);
      ++calls;
    });
  }
  BOOST_TEST_REQUIRE(asked.size() == 2u);
  BOOST_TEST(calls == 0);
  auto answer = [](const std::string& record) {
    TxtLookupResult r;
    r.status = TxtLookupResult::Status::kOk;
    r.records = {record};
    return r;
  };
  asked[1].second(answer(kTest));
  BOOST_TEST(calls == 0);
  asked[0].second(answer(kBrisbane));
  asked[0].second(answer("v=DKIM1; k=ed25519; p="));  // a second answer is ignored
  BOOST_TEST(calls == 1);
  BOOST_TEST(verdicts(results) == "pass pass");
}

// Random damage to a signed message and to key records: any verdict is fine, a crash or a
// missing result is not. Run under ASan/UBSan by the sanitizer build.
BOOST_AUTO_TEST_CASE(random_damage_never_crashes) {
  std::mt19937 rng(8463);
  const std::string kInsert[] = {";",
                                 "=",
                                 " ",
                                 "\r\n",
                                 "\r\n ",
                                 ":",
                                 "b=",
                                 "h=",
                                 "\xff",
                                 "\0",
                                 "DKIM-Signature:",
                                 "l=99999;",
                                 "a=rsa-sha256;",
                                 "@",
                                 "<",
                                 "("};
  size_t passes = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string m = kRfc8463;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t at = rng() % (m.size() + 1);
      switch (rng() % 4) {
        case 0:
          if (at < m.size()) m[at] = static_cast<char>(rng());
          break;
        case 1:
          m.erase(at, rng() % 8);
          break;
        case 2:
          m.insert(at, kInsert[rng() % std::size(kInsert)]);
          break;
        default:
          m = m.substr(0, at);
      }
    }
    std::string record = round % 3 == 0 ? kBrisbane : kTest;
    if (round % 5 == 0 && !record.empty()) record[rng() % record.size()] = static_cast<char>(rng());
    auto lookup = table_lookup({{kBrisbaneName, {record}}, {kTestName, {kTest}}});
    auto results = verify_now(m, lookup, kLater);
    size_t fields = 0;
    for (const auto& f : parse_message(m).fields) fields += iequals(f.name, "DKIM-Signature");
    BOOST_TEST_REQUIRE(results.size() == fields, "round " << round);
    for (const auto& r : results) passes += r.verdict == Verdict::kPass;
    from_domain(m);
  }
  BOOST_TEST(passes > 0u);  // some edits only touch what relaxed ignores
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::dkim
