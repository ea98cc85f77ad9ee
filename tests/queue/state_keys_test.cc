// state_keys_test.cc - the state family's key schema: keys made and parsed back, the
// prefixes of the releases before, and the version byte of values.
#include <boost/test/unit_test.hpp>

#include <set>
#include <string>

#include "queue/state_keys.h"

namespace hato::queue::state {
namespace {

BOOST_AUTO_TEST_CASE(keys_keep_the_text_of_the_releases_before) {
  // Records written before this schema must still be found, and warm-up keys are the
  // cluster's redis keys too.
  BOOST_TEST(warmup_key("192.0.2.1", "2026-11-01") == "w/192.0.2.1/2026-11-01");
  BOOST_TEST(warmup_key("192.0.2.1", "2026-11-01", "google") == "w/192.0.2.1/2026-11-01/google");
  BOOST_TEST(suspension_key("2001:db8::1", "yahoo") == "s/2001:db8::1/yahoo");
  BOOST_TEST(slowdown_key("192.0.2.1", "microsoft") == "r/192.0.2.1/microsoft");
  BOOST_TEST(blacklist_key("192.0.2.1", "zen.example") == "b/192.0.2.1/zen.example");
  BOOST_TEST(ptr_key("::1") == "b/::1/#ptr");
  BOOST_TEST(mta_sts_key("example.com") == "m/example.com");
  BOOST_TEST(tlsrpt_counts_key("2026-11-01", "example.com") == "t/c/2026-11-01/example.com");
  BOOST_TEST(tlsrpt_index_key() == "t/i");
}

BOOST_AUTO_TEST_CASE(keys_parse_back_to_their_kind_and_fields) {
  struct Case {
    std::string key;
    Kind kind;
    std::vector<std::string> fields;
  };
  const Case cases[] = {
      {warmup_key("192.0.2.1", "2026-11-01"), Kind::kWarmup, {"192.0.2.1", "2026-11-01"}},
      {warmup_key("::1", "2026-11-01", "google"), Kind::kWarmup, {"::1", "2026-11-01", "google"}},
      {suspension_key("192.0.2.1", "yahoo"), Kind::kSuspension, {"192.0.2.1", "yahoo"}},
      {slowdown_key("192.0.2.1", "apple"), Kind::kSlowdown, {"192.0.2.1", "apple"}},
      {blacklist_key("example.com", "dbl.example"),
       Kind::kBlacklist,
       {"example.com", "dbl.example"}},
      {ptr_key("192.0.2.1"), Kind::kBlacklist, {"192.0.2.1", "#ptr"}},
      {mta_sts_key("example.com"), Kind::kMtaSts, {"example.com"}},
      {tlsrpt_counts_key("2026-11-01", "example.com"),
       Kind::kTlsrptCounts,
       {"2026-11-01", "example.com"}},
      {tlsrpt_index_key(), Kind::kTlsrptIndex, {}},
      {suppression_key("example.com", "bob@example.net"),
       Kind::kSuppression,
       {"example.com", "bob@example.net"}},
      {suppression_key("*", "bob@example.net"), Kind::kSuppression, {"*", "bob@example.net"}},
      {idempotency_key("app", "ab12"), Kind::kIdempotency, {"app", "ab12"}},
      {dmarc_source_key("example.com", "2001:db8::1"),
       Kind::kDmarcSource,
       {"example.com", "2001:db8::1"}},
      {dmarc_counts_key("example.com", "2026-11-01", "google.com", "192.0.2.1"),
       Kind::kDmarcCounts,
       {"example.com", "2026-11-01", "google.com", "192.0.2.1"}},
      {dmarc_seen_key("Yahoo! Inc.", "17"), Kind::kDmarcSeen, {"Yahoo! Inc.", "17"}},
      // A URL holds '/': the key has it in hex.
      {hook_cursor_key("https://a.test/h"),
       Kind::kHookCursor,
       {"68747470733a2f2f612e746573742f68"}},
  };
  for (const auto& c : cases) {
    auto parsed = parse_key(c.key);
    BOOST_TEST_REQUIRE(parsed.has_value(), c.key);
    BOOST_TEST((parsed->kind == c.kind), c.key);
    BOOST_TEST((parsed->fields == c.fields), c.key);
    BOOST_TEST(c.key.starts_with(prefix(c.kind)), c.key);
  }
}

BOOST_AUTO_TEST_CASE(keys_of_no_kind_or_the_wrong_shape_do_not_parse) {
  for (std::string key :
       {"", "x/1", "w/", "w/192.0.2.1", "w/192.0.2.1//google",
        "w/192.0.2.1/2026-11-01/google/extra", "s/192.0.2.1", "m/", "t/c/day", "t/ix", "t/i/",
        "b/192.0.2.1/zone/more", "x/example.com/", "x//bob@example.net", "x/example.com/a/b"}) {
    BOOST_TEST(!parse_key(key).has_value(), key);
  }
}

BOOST_AUTO_TEST_CASE(no_prefix_is_the_start_of_another) {
  // Otherwise a scan of one kind would see records of the other.
  std::set<std::string_view> names;
  for (Kind a : all_kinds()) {
    BOOST_TEST(names.insert(kind_name(a)).second);
    for (Kind b : all_kinds()) {
      if (a == b) continue;
      BOOST_TEST(!prefix(b).starts_with(prefix(a)), prefix(a) << " starts " << prefix(b));
    }
  }
}

BOOST_AUTO_TEST_CASE(suppression_prefixes_scan_one_scope_or_all) {
  BOOST_TEST(suppression_prefix("") == "x/");
  BOOST_TEST(suppression_prefix("example.com") == "x/example.com/");
  BOOST_TEST(suppression_key("example.com", "a@b").starts_with(suppression_prefix("example.com")));
  // One domain's scan does not reach a longer domain's records.
  BOOST_TEST(
      !suppression_key("example.com.au", "a@b").starts_with(suppression_prefix("example.com")));
}

BOOST_AUTO_TEST_CASE(values_carry_the_version_byte) {
  std::string stored = encode_value("17");
  BOOST_TEST_REQUIRE(stored.size() == 3u);
  BOOST_TEST(static_cast<unsigned char>(stored[0]) == kValueVersion);
  auto back = decode_value("w/192.0.2.1/2026-11-01", stored);
  BOOST_TEST_REQUIRE(back.is_ok(), back.message());
  BOOST_TEST(*back == "17");
  // A payload that itself starts with a control byte is safe behind the version.
  auto odd = decode_value("k", encode_value(std::string("\x02tab", 4)));
  BOOST_TEST_REQUIRE(odd.is_ok(), odd.message());
  BOOST_TEST(*odd == std::string("\x02tab", 4));
  auto empty = decode_value("k", encode_value(""));
  BOOST_TEST_REQUIRE(empty.is_ok(), empty.message());
  BOOST_TEST(empty->empty());
}

BOOST_AUTO_TEST_CASE(values_of_the_release_before_read_as_they_are) {
  // The forms the releases before wrote: a warm-up count, a suspension, TLS-RPT counts,
  // a blacklist entry and an MTA-STS policy, all plain text.
  for (std::string old :
       {"42", "1767225600000 421 4.7.28 slow down", "P\tsts\tversion: STSv1\tmx.example.com\t3\n",
        "1\n1\n1\n0\n5\n6\n0\n\n", ""}) {
    auto read = decode_value("old", old);
    BOOST_TEST_REQUIRE(read.is_ok(), read.message());
    BOOST_TEST(*read == old);
  }
}

BOOST_AUTO_TEST_CASE(an_unknown_version_is_refused_with_its_number) {
  for (unsigned char version : {0, 2, 7, 0x1f}) {
    std::string stored(1, static_cast<char>(version));
    stored += "payload";
    auto read = decode_value("w/192.0.2.1/2026-11-01", stored);
    BOOST_TEST_REQUIRE(!read.is_ok());
    BOOST_TEST((read.code() == Code::kCorruption));
    BOOST_TEST(read.message().find("w/192.0.2.1/2026-11-01") != std::string::npos, read.message());
    BOOST_TEST(read.message().find("version " + std::to_string(version)) != std::string::npos,
               read.message());
  }
}

}  // namespace
}  // namespace hato::queue::state
