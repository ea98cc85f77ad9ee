// dkim_canon_fuzz.cc - message splitting, the RFC 6376 3.4 canonicalizations,
// header selection, body hashes and the From domain, on hostile messages.
//
// The canonicalizations are checked against plain transcriptions of the RFC
// (below): the library's versions are written for speed, and a difference is
// a signature that verifies here and nowhere else, or the other way round.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/strings.h"
#include "fuzz/fuzz_util.h"
#include "policy/dkim/canon.h"
#include "policy/dkim/signer.h"

using namespace hato;
using namespace hato::dkim;

namespace {

bool wsp(char c) {
  return c == ' ' || c == '\t';
}

// RFC 6376 3.4.3: trailing empty lines removed, a CRLF ensured; empty is one CRLF.
std::string ref_simple_body(std::string_view body) {
  std::string b(body);
  if (b.size() < 2 || b.compare(b.size() - 2, 2, "\r\n") != 0) b += "\r\n";
  while (b.size() >= 4 && b.compare(b.size() - 4, 4, "\r\n\r\n") == 0) b.resize(b.size() - 2);
  if (b == "\r\n") return "\r\n";
  return b;
}

// RFC 6376 3.4.4: whitespace at line ends removed, runs reduced to one SP,
// trailing empty lines removed, a CRLF after a non-empty last line.
std::string ref_relaxed_body(std::string_view body) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find("\r\n", pos);
    std::string_view raw = body.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
    pos = eol == std::string_view::npos ? body.size() : eol + 2;
    std::string line;
    bool in_run = false;
    for (char c : raw) {
      if (wsp(c)) {
        in_run = true;
        continue;
      }
      if (in_run) line += ' ';
      in_run = false;
      line += c;
    }
    lines.push_back(std::move(line));
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  std::string out;
  for (const auto& l : lines) out += l + "\r\n";
  return out;
}

// RFC 6376 3.4.2.
std::string ref_relaxed_header(std::string_view raw) {
  size_t colon = raw.find(':');
  std::string_view name = raw.substr(0, colon);
  while (!name.empty() && wsp(name.back())) name.remove_suffix(1);
  std::string out;
  for (char c : name) out += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
  if (colon == std::string_view::npos) return out;
  out += ':';
  std::string unfolded;
  std::string_view v = raw.substr(colon + 1);
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\r' && i + 1 < v.size() && v[i + 1] == '\n') {
      ++i;
      continue;
    }
    unfolded += v[i];
  }
  std::string value;
  bool in_run = false;
  for (char c : unfolded) {
    if (wsp(c)) {
      in_run = true;
      continue;
    }
    if (in_run && !value.empty()) value += ' ';
    in_run = false;
    value += c;
  }
  return out + value;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view message(reinterpret_cast<const char*>(data), size);
  ParsedMessage parsed = parse_message(message);
  std::vector<std::string> names = {"from", "To", "subject", "DKIM-Signature", "x"};
  for (const auto& f : parsed.fields) {
    FUZZ_CHECK(f.raw.data() >= message.data() &&
                   f.raw.data() + f.raw.size() <= message.data() + message.size(),
               "field outside the message");
    FUZZ_CHECK(f.name.find_first_of("\r\n \t:") == std::string_view::npos, "odd field name");
    if (names.size() < 40) names.emplace_back(f.name);

    std::string relaxed;
    append_canonical_header(Canon::kRelaxed, f.raw, relaxed);
    FUZZ_CHECK(relaxed == ref_relaxed_header(f.raw), "relaxed header differs from RFC 6376 3.4.2");
    std::string simple;
    append_canonical_header(Canon::kSimple, f.raw, simple);
    FUZZ_CHECK(simple == f.raw, "simple header changed the field");
  }
  // And the whole input as one field, folds and all.
  std::string relaxed;
  append_canonical_header(Canon::kRelaxed, message, relaxed);
  FUZZ_CHECK(relaxed == ref_relaxed_header(message), "relaxed header differs (whole input)");

  auto selected = select_headers(parsed.fields, names);
  FUZZ_CHECK(selected.size() == names.size(), "one selection per name");
  for (size_t i = 0; i < selected.size(); ++i) {
    if (!selected[i]) continue;
    FUZZ_CHECK(iequals(selected[i]->name, names[i]), "selected the wrong field");
    for (size_t j = 0; j < i; ++j) FUZZ_CHECK(selected[j] != selected[i], "a field selected twice");
  }

  for (std::string_view body : {parsed.body, message}) {
    std::string simple = canonical_body(Canon::kSimple, body);
    FUZZ_CHECK(simple == ref_simple_body(body), "simple body differs from RFC 6376 3.4.3");
    std::string relaxed_body = canonical_body(Canon::kRelaxed, body);
    FUZZ_CHECK(relaxed_body == ref_relaxed_body(body), "relaxed body differs from RFC 6376 3.4.4");
    for (Canon c : {Canon::kSimple, Canon::kRelaxed}) {
      const std::string& canonical = c == Canon::kSimple ? simple : relaxed_body;
      uint64_t length = 0;
      FUZZ_CHECK(body_hash(c, body, std::nullopt, &length) == sha256(canonical), "body hash");
      FUZZ_CHECK(length == canonical.size(), "canonical length");
      uint64_t limit = canonical.empty() ? 0 : data[0] % (canonical.size() + 1);
      FUZZ_CHECK(body_hash(c, body, limit, &length) == sha256(canonical.substr(0, limit)),
                 "body hash with l=");
    }
  }

  std::string domain = from_domain(message);
  for (unsigned char c : domain) {
    FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "from_domain not lower case");
    FUZZ_CHECK(c > 0x20 && c != 0x7f, "from_domain with whitespace or a control character");
    FUZZ_CHECK(std::string_view("@<>\"(),;:[]\\").find(char(c)) == std::string_view::npos,
               "from_domain with address punctuation");
  }
  FUZZ_CHECK(domain.empty() || domain.back() != '.', "from_domain with a trailing dot");
  return 0;
}
