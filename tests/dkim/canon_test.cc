// canon_test.cc - RFC 6376 3.4 canonicalization: the RFC's own example (3.4.6), the empty-body
// digests, the trailing-empty-line rules, header selection bottom-up (5.4.2), and the relaxed
// fast path against a plain reference implementation on random input.
#define BOOST_TEST_MODULE dkim
#include <boost/test/unit_test.hpp>

#include <cctype>
#include <random>
#include <string>

#include "common/base64.h"
#include "policy/dkim/canon.h"

namespace hato::dkim {
namespace {

BOOST_AUTO_TEST_SUITE(canon)

// RFC 6376 3.4.6, with <SP>, <HTAB> and <CRLF> written out.
const std::string kRfcExample =
    "A: X\r\n"
    "B : Y\t\r\n"
    "\tZ  \r\n"
    "\r\n"
    " C \r\n"
    "D \t E\r\n"
    "\r\n"
    "\r\n";

BOOST_AUTO_TEST_CASE(rfc6376_example_relaxed) {
  ParsedMessage m = parse_message(kRfcExample);
  BOOST_TEST_REQUIRE(m.fields.size() == 2u);
  BOOST_TEST(m.fields[0].name == "A");
  BOOST_TEST(m.fields[1].name == "B");
  std::string headers;
  for (const auto& f : m.fields) {
    append_canonical_header(Canon::kRelaxed, f.raw, headers);
    headers += "\r\n";
  }
  BOOST_TEST(headers == "a:X\r\nb:Y Z\r\n");
  BOOST_TEST(canonical_body(Canon::kRelaxed, m.body) == " C\r\nD E\r\n");
}

BOOST_AUTO_TEST_CASE(rfc6376_example_simple) {
  ParsedMessage m = parse_message(kRfcExample);
  std::string headers;
  for (const auto& f : m.fields) {
    append_canonical_header(Canon::kSimple, f.raw, headers);
    headers += "\r\n";
  }
  BOOST_TEST(headers == "A: X\r\nB : Y\t\r\n\tZ  \r\n");
  BOOST_TEST(canonical_body(Canon::kSimple, m.body) == " C \r\nD \t E\r\n");
}

// The well-known digests of an empty body (RFC 6376 3.4.3/3.4.4, errata 3192): SHA-256 of CRLF
// for simple, of nothing for relaxed.
BOOST_AUTO_TEST_CASE(empty_body_hashes) {
  const char* kSimple = "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=";
  const char* kRelaxed = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
  for (const char* body : {"", "\r\n", "\r\n\r\n\r\n"}) {
    BOOST_TEST(base64_encode(body_hash(Canon::kSimple, body)) == kSimple, body);
    BOOST_TEST(base64_encode(body_hash(Canon::kRelaxed, body)) == kRelaxed, body);
  }
  // Whitespace-only lines are empty for relaxed, not for simple.
  BOOST_TEST(base64_encode(body_hash(Canon::kRelaxed, " \t\r\n  \r\n")) == kRelaxed);
  BOOST_TEST(base64_encode(body_hash(Canon::kSimple, " \r\n")) != kSimple);
  // A message without the empty line has an empty body.
  ParsedMessage m = parse_message("From: a@b.example\r\nSubject: x\r\n");
  BOOST_TEST(m.fields.size() == 2u);
  BOOST_TEST(m.body.empty());
}

BOOST_AUTO_TEST_CASE(body_rules) {
  // Simple: only trailing empty lines go; a missing final CRLF is added.
  BOOST_TEST(canonical_body(Canon::kSimple, "a\r\n\r\n\r\n") == "a\r\n");
  BOOST_TEST(canonical_body(Canon::kSimple, "a") == "a\r\n");
  BOOST_TEST(canonical_body(Canon::kSimple, "a \r\n \r\n") == "a \r\n \r\n");
  BOOST_TEST(canonical_body(Canon::kSimple, "\r\n\r\na\r\n") == "\r\n\r\na\r\n");
  // Relaxed: inner runs to one space, line-end whitespace and trailing empty lines go; leading
  // whitespace stays (as one space); empty lines in between stay.
  BOOST_TEST(canonical_body(Canon::kRelaxed, "a  b\t\tc \t\r\n") == "a b c\r\n");
  BOOST_TEST(canonical_body(Canon::kRelaxed, "\t a\r\n") == " a\r\n");
  BOOST_TEST(canonical_body(Canon::kRelaxed, "a\r\n \r\n\r\nb") == "a\r\n\r\n\r\nb\r\n");
  BOOST_TEST(canonical_body(Canon::kRelaxed, "a\r\n  ") == "a\r\n");
  // Bare CR and LF are ordinary octets.
  BOOST_TEST(canonical_body(Canon::kRelaxed, "a\nb \r c\r\n") == "a\nb \r c\r\n");
}

BOOST_AUTO_TEST_CASE(body_length_limit) {
  std::string body = "Hello  world\r\nsecond line\r\n";
  uint64_t length = 0;
  std::string full = body_hash(Canon::kRelaxed, body, {}, &length);
  BOOST_TEST(length == canonical_body(Canon::kRelaxed, body).size());
  BOOST_TEST(body_hash(Canon::kRelaxed, body, length) == full);
  BOOST_TEST(body_hash(Canon::kRelaxed, body, 5) == sha256("Hello"));
  BOOST_TEST(body_hash(Canon::kRelaxed, body, 0) == sha256(""));
}

BOOST_AUTO_TEST_CASE(header_relaxed_details) {
  std::string out;
  append_canonical_header(Canon::kRelaxed, "SubJect :  A \r\n\t B  ", out);
  BOOST_TEST(out == "subject:A B");
  out.clear();
  append_canonical_header(Canon::kRelaxed, "X-Empty:", out);
  BOOST_TEST(out == "x-empty:");
  out.clear();
  append_canonical_header(Canon::kRelaxed, "X-Empty: \r\n ", out);
  BOOST_TEST(out == "x-empty:");
}

BOOST_AUTO_TEST_CASE(folded_fields_and_names) {
  ParsedMessage m =
      parse_message("Subject: one\r\n two\r\n\tthree\r\nX-A:1\r\nno colon here\r\n\r\nbody\r\n");
  BOOST_TEST_REQUIRE(m.fields.size() == 3u);
  BOOST_TEST(m.fields[0].raw == "Subject: one\r\n two\r\n\tthree");
  BOOST_TEST(m.fields[1].name == "X-A");
  BOOST_TEST(m.fields[2].name.empty());  // not a field: matches no name
  BOOST_TEST(m.body == "body\r\n");
}

BOOST_AUTO_TEST_CASE(select_bottom_up) {
  ParsedMessage m = parse_message("To: first\r\nFrom: f\r\nto: second\r\nTO: third\r\n\r\n");
  auto picked = select_headers(m.fields, {"to", "from", "To", "from", "to", "to"});
  BOOST_TEST_REQUIRE(picked.size() == 6u);
  BOOST_TEST(picked[0]->raw == "TO: third");
  BOOST_TEST(picked[1]->raw == "From: f");
  BOOST_TEST(picked[2]->raw == "to: second");
  BOOST_TEST(picked[3] == nullptr);  // over-signed: no instance left
  BOOST_TEST(picked[4]->raw == "To: first");
  BOOST_TEST(picked[5] == nullptr);
}

// The straightforward reading of RFC 6376 3.4.4, to check the scanning fast path against.
std::string reference_relaxed(std::string_view body) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find("\r\n", pos);
    std::string_view line = body.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
    std::string out;
    bool run = false;
    for (char c : line) {
      if (c == ' ' || c == '\t') {
        run = true;
      } else {
        if (run) out += ' ';
        out += c;
        run = false;
      }
    }
    lines.push_back(out);
    pos = eol == std::string_view::npos ? body.size() : eol + 2;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  std::string result;
  for (const auto& l : lines) result += l + "\r\n";
  return result;
}

BOOST_AUTO_TEST_CASE(relaxed_matches_reference_on_random_bodies) {
  std::mt19937 rng(6376);
  const char kAlphabet[] = {' ', ' ', ' ', '\t', '\r', '\n', 'a', 'b', '\xe9', '.'};
  for (int round = 0; round < 20000; ++round) {
    std::string body;
    size_t len = rng() % (round < 10000 ? 40 : 400);
    for (size_t i = 0; i < len; ++i) {
      if (rng() % 8 == 0) {
        body += "\r\n";
      } else {
        body += kAlphabet[rng() % sizeof(kAlphabet)];
      }
    }
    std::string expected = reference_relaxed(body);
    BOOST_TEST_REQUIRE(canonical_body(Canon::kRelaxed, body) == expected, "round " << round);
    BOOST_TEST_REQUIRE(body_hash(Canon::kRelaxed, body) == sha256(expected), "round " << round);
  }
}

// RFC 6376 3.4.2 read plainly: lowercase the name, delete every CRLF of the value, reduce
// whitespace runs to one space, trim the value; no whitespace around the colon.
std::string reference_relaxed_header(std::string_view raw) {
  size_t colon = raw.find(':');
  std::string out;
  std::string_view name = raw.substr(0, colon);
  while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
  for (char c : name) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (colon == std::string_view::npos) return out;
  std::string unfolded;
  std::string_view v = raw.substr(colon + 1);
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\r' && i + 1 < v.size() && v[i + 1] == '\n') {
      ++i;
    } else {
      unfolded += v[i];
    }
  }
  std::string value;
  bool run = false;
  for (char c : unfolded) {
    if (c == ' ' || c == '\t') {
      run = true;
    } else {
      if (run && !value.empty()) value += ' ';
      value += c;
      run = false;
    }
  }
  return out + ":" + value;
}

BOOST_AUTO_TEST_CASE(relaxed_header_matches_reference_on_random_fields) {
  std::mt19937 rng(5322);
  const std::string kPieces[] = {" ",  " ", "\t", "\r\n ", "\r\n\t",   "\r",
                                 "\n", "a", "Bc", ":",     "\xc3\xa9", "x y"};
  for (int round = 0; round < 20000; ++round) {
    std::string raw = round % 2 ? "Subject" : "X-Odd ";
    if (rng() % 10 != 0) raw += ":";
    size_t n = rng() % (round < 10000 ? 12 : 120);
    for (size_t i = 0; i < n; ++i) raw += kPieces[rng() % std::size(kPieces)];
    std::string out = "prefix";
    append_canonical_header(Canon::kRelaxed, raw, out);
    BOOST_TEST_REQUIRE(out == "prefix" + reference_relaxed_header(raw), "round " << round);
  }
}

// Long bodies cross the writer's buffer and span boundaries.
BOOST_AUTO_TEST_CASE(relaxed_large_body) {
  std::string body;
  for (int i = 0; i < 5000; ++i) {
    body += (i % 3 == 0) ? "word  word\tword   \r\n" : "plain line of text\r\n";
    if (i % 500 == 0) body += std::string(20000, 'x') + "  y\r\n";
  }
  BOOST_TEST(canonical_body(Canon::kRelaxed, body) == reference_relaxed(body));
  BOOST_TEST(body_hash(Canon::kRelaxed, body) == sha256(reference_relaxed(body)));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace hato::dkim
