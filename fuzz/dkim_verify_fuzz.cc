// dkim_verify_fuzz.cc - the DKIM verifier on hostile messages and key records.
//
// Input: the first line is what the key lookup answers (empty: NXDOMAIN;
// "!" first: a temporary failure; "|" separates several TXT records); the
// rest is the message. The lookup answers at once for some names and only
// after verify() returned for others.
//
// Invariants: `done` runs exactly once, with one result per DKIM-Signature
// field; every result is one of the five verdicts.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/strings.h"
#include "fuzz/fuzz_util.h"
#include "policy/dkim/canon.h"
#include "policy/dkim/verifier.h"

using namespace hato;
using namespace hato::dkim;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t eol = in.find('\n');
  if (eol == std::string_view::npos) return 0;
  std::string_view record = in.substr(0, eol);
  std::string message(in.substr(eol + 1));

  TxtLookupResult answer;
  if (record.empty()) {
    answer.status = TxtLookupResult::Status::kNxDomain;
  } else if (record.front() == '!') {
    answer.status = TxtLookupResult::Status::kTemporary;
  } else {
    answer.status = TxtLookupResult::Status::kOk;
    while (true) {
      size_t bar = record.find('|');
      answer.records.emplace_back(record.substr(0, bar));
      if (bar == std::string_view::npos) break;
      record.remove_prefix(bar + 1);
    }
  }

  std::vector<std::function<void()>> later;
  KeyLookup lookup = [&](const std::string& name, std::function<void(TxtLookupResult)> done) {
    if (name.size() % 2) {
      done(answer);
    } else {
      later.push_back([done, a = answer] { done(a); });
    }
  };

  size_t fields = 0;
  for (const auto& f : parse_message(message).fields)
    if (iequals(f.name, "DKIM-Signature")) ++fields;

  int calls = 0;
  std::vector<SignatureResult> results;
  Verifier verifier;
  verifier.verify(message, 1700000000, lookup, [&](std::vector<SignatureResult> r) {
    ++calls;
    results = std::move(r);
  });
  message.assign(message.size(), 'x');  // the message need only live during verify()
  while (!later.empty()) {
    auto pending = std::move(later);
    later.clear();
    for (auto& answer_now : pending) answer_now();
  }
  FUZZ_CHECK(calls == 1, "done not called exactly once");
  FUZZ_CHECK(results.size() == fields, "not one result per DKIM-Signature field");
  for (const auto& r : results) {
    auto v = static_cast<int>(r.verdict);
    FUZZ_CHECK(v >= 0 && v <= static_cast<int>(Verdict::kPermError), "odd verdict");
    FUZZ_CHECK(!verdict_name(r.verdict).empty(), "verdict without a name");
  }
  return 0;
}
