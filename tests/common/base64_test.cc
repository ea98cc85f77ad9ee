// base64_test.cc - RFC 4648 vectors, round trips of every length and byte, and
// the strict decoder's refusals (alphabet, length, padding, whitespace).
#include <boost/test/unit_test.hpp>

#include <string>

#include "common/base64.h"

namespace hato {
namespace {

BOOST_AUTO_TEST_SUITE(base64)

BOOST_AUTO_TEST_CASE(rfc4648_vectors) {
  const std::pair<const char*, const char*> kVectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    BOOST_TEST(base64_encode(plain) == encoded);
    auto decoded = base64_decode(encoded);
    BOOST_TEST_REQUIRE(decoded.has_value(), encoded);
    BOOST_TEST(*decoded == plain);
  }
}

BOOST_AUTO_TEST_CASE(sasl_plain_with_nuls) {
  const std::string plain("\0alice\0secret", 13);
  BOOST_TEST(base64_encode(plain) == "AGFsaWNlAHNlY3JldA==");
  auto decoded = base64_decode("AGFsaWNlAHNlY3JldA==");
  BOOST_TEST_REQUIRE(decoded.has_value());
  BOOST_TEST(*decoded == plain);
}

BOOST_AUTO_TEST_CASE(round_trip_every_length_and_byte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t len = 0; len <= all.size(); ++len) {
    std::string in = all.substr(256 - len) + all.substr(0, len % 7);
    std::string encoded = base64_encode(in);
    BOOST_TEST(encoded.size() == (in.size() + 2) / 3 * 4);
    auto decoded = base64_decode(encoded);
    BOOST_TEST_REQUIRE(decoded.has_value(), "length " << in.size());
    BOOST_TEST(*decoded == in, "length " << in.size());
  }
}

BOOST_AUTO_TEST_CASE(high_alphabet_characters) {
  BOOST_TEST(base64_encode("\xfb\xff\xbf") == "+/+/");
  auto decoded = base64_decode("+/+/");
  BOOST_TEST_REQUIRE(decoded.has_value());
  BOOST_TEST(*decoded == "\xfb\xff\xbf");
}

BOOST_AUTO_TEST_CASE(strict_rejection) {
  const char* kBad[] = {
      "Zg",          // missing padding
      "Zg=",         // short padding
      "Zm9",         // length not a multiple of 4
      "Zg===",       // too much padding
      "Z===",        // padding in the second position
      "====",        // padding only
      "Zg=a",        // data after padding
      "Zg==Zm9v",    // padding before the last group
      "Zm9v\r\n",    // line break
      "Zm 9v",       // space
      "Zm9v ",       // trailing space
      "Zm-v",        // base64url alphabet
      "Zm_v",        // base64url alphabet
      "Zm\xc3\xa9",  // non-ASCII
      "Zm9*",        // outside any alphabet
      "*",           // the SASL cancel is not base64
  };
  for (const char* bad : kBad) BOOST_TEST(!base64_decode(bad).has_value(), bad);
}

BOOST_AUTO_TEST_CASE(empty_decodes_to_empty) {
  auto decoded = base64_decode("");
  BOOST_TEST_REQUIRE(decoded.has_value());
  BOOST_TEST(decoded->empty());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato
