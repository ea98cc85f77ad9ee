// mta_sts_test.cc - MTA-STS text (RFC 8461): the TXT record, the policy file, MX patterns,
// the cache record.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "policy/mta_sts.h"

namespace hato::policy::mta_sts {
namespace {

BOOST_AUTO_TEST_SUITE(mta_sts)

BOOST_AUTO_TEST_CASE(txt_record_gives_its_id) {
  BOOST_TEST(*parse_txt({"v=STSv1; id=20160831085700Z;"}) == "20160831085700Z");
  BOOST_TEST(*parse_txt({"v=STSv1;id=abc"}) == "abc");
  BOOST_TEST(*parse_txt({"v=STSv1 ; id=abc ; ext_1=value"}) == "abc");
  // Records of other kinds beside ours are ignored.
  BOOST_TEST(*parse_txt({"some other text", "v=STSv1; id=x1;"}) == "x1");
}

BOOST_AUTO_TEST_CASE(txt_record_problems_mean_no_policy) {
  BOOST_TEST(!parse_txt({}));
  BOOST_TEST(!parse_txt({"v=STSv1; id=a;", "v=STSv1; id=b;"}));  // two records
  BOOST_TEST(!parse_txt({"v=STSv1;"}));                          // no id
  BOOST_TEST(!parse_txt({"v=STSv10; id=a;"}));                   // another version
  BOOST_TEST(!parse_txt({"id=a; v=STSv1;"}));                    // version not first
  BOOST_TEST(!parse_txt({"v=STSv1; id=a-b;"}));                  // id is letters and digits
  BOOST_TEST(!parse_txt({"v=STSv1; id=123456789012345678901234567890123;"}));  // 33 chars
  BOOST_TEST(!parse_txt({"v=STSv1; id=a;; x=y"}));
  BOOST_TEST(!parse_txt({"v=STSv1; id=a; id=b"}));
}

BOOST_AUTO_TEST_CASE(policy_file_from_the_rfc) {
  // RFC 8461 3.2's example, with CRLF line ends.
  auto p = parse_policy(
      "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
      "mx: backupmx.example.com\r\nmax_age: 604800\r\n");
  BOOST_REQUIRE(p);
  BOOST_TEST((p->mode == Mode::kEnforce));
  BOOST_TEST(p->max_age == 604800u);
  BOOST_TEST(p->mx == (std::vector<std::string>{"mail.example.com", "*.example.net",
                                                "backupmx.example.com"}));
  BOOST_TEST(p->allows("mail.example.com"));
  BOOST_TEST(p->allows("MX1.example.NET."));
  BOOST_TEST(!p->allows("example.net"));
  BOOST_TEST(!p->allows("evil.example.org"));
}

BOOST_AUTO_TEST_CASE(policy_file_variants) {
  // LF line ends, spaces around values, unknown fields, a repeated field (first counts).
  auto p = parse_policy(
      "version: STSv1\nmode:testing\nmode: enforce\nmax_age:  86400 \n"
      "mx: mx.example.com\nfuture_field: whatever\n");
  BOOST_REQUIRE(p);
  BOOST_TEST((p->mode == Mode::kTesting));
  BOOST_TEST(p->max_age == 86400u);
  // mode none needs no mx.
  auto none = parse_policy("version: STSv1\nmode: none\nmax_age: 60\n");
  BOOST_REQUIRE(none);
  BOOST_TEST((none->mode == Mode::kNone));
  // max_age is capped at a year.
  auto long_lived = parse_policy("version: STSv1\nmode: none\nmax_age: 9999999999\n");
  BOOST_REQUIRE(long_lived);
  BOOST_TEST(long_lived->max_age == kMaxAge);
}

BOOST_AUTO_TEST_CASE(bad_policy_files) {
  BOOST_TEST(!parse_policy("mode: enforce\nmx: a.example\nmax_age: 1\n"));  // no version
  BOOST_TEST(!parse_policy("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n"));
  BOOST_TEST(!parse_policy("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n"));
  BOOST_TEST(!parse_policy("version: STSv1\nmode: enforce\nmax_age: 1\n"));     // no mx
  BOOST_TEST(!parse_policy("version: STSv1\nmode: enforce\nmx: a.example\n"));  // no max_age
  BOOST_TEST(!parse_policy("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n"));
  BOOST_TEST(!parse_policy("version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n"));
  BOOST_TEST(!parse_policy("version: STSv1\nmode: enforce\nmx: \nmax_age: 1\n"));
  BOOST_TEST(!parse_policy("version: STSv1\nMode: enforce\nmx: a.example\nmax_age: 1\n"));
  BOOST_TEST(!parse_policy("<html>not a policy</html>"));
  BOOST_TEST(!parse_policy(std::string(kMaxPolicyBytes + 1, 'x')));
}

BOOST_AUTO_TEST_CASE(mx_patterns) {
  BOOST_TEST(mx_matches("mx.example.com", "mx.example.com"));
  BOOST_TEST(mx_matches("MX.Example.com.", "mx.example.COM"));
  BOOST_TEST(!mx_matches("mx.example.com", "mx2.example.com"));
  BOOST_TEST(mx_matches("*.example.com", "mx.example.com"));
  BOOST_TEST(!mx_matches("*.example.com", "example.com"));
  BOOST_TEST(!mx_matches("*.example.com", "a.b.example.com"));
  BOOST_TEST(!mx_matches("*.example.com", "xexample.com"));
  BOOST_TEST(!mx_matches("*.example.com", ".example.com"));
  BOOST_TEST(!mx_matches("", "example.com"));
}

BOOST_AUTO_TEST_CASE(cache_record_round_trip) {
  auto p = parse_policy("version: STSv1\nmode: enforce\nmx: *.example.net\nmax_age: 3600\n");
  BOOST_REQUIRE(p);
  p->id = "abc123";
  p->fetched_ms = 1700000000123;
  auto back = decode_cached(encode_cached(*p));
  BOOST_REQUIRE(back);
  BOOST_TEST(back->id == "abc123");
  BOOST_TEST(back->fetched_ms == 1700000000123);
  BOOST_TEST(back->expires_ms() == 1700000000123 + 3600 * 1000);
  BOOST_TEST((back->mode == Mode::kEnforce));
  BOOST_TEST(back->allows("mx.example.net"));
  BOOST_TEST(!decode_cached("garbage"));
  BOOST_TEST(!decode_cached("1\nid\nnot-a-number\nversion: STSv1\n"));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::policy::mta_sts
