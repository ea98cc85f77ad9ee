// verifier.h - DKIM verification (RFC 6376 6, RFC 8301, RFC 8463) with the key lookup left to
// the caller, so the daemon can plug in its c-ares resolver and tests a table.
//
// Results, as RFC 8601 names them:
//   pass       the signature verified
//   fail       it did not: body hash or signature mismatch, expired (x=), revoked key (empty
//              p=), RSA key under 1024 bits, l= beyond the body
//   neutral    not evaluated: more signatures than Options::max_signatures
//   temperror  the key lookup failed temporarily; try again later
//   permerror  the signature or key record is unusable: syntax, missing tags, From not in h=,
//              unknown algorithm or canonicalization, t= in the future, no key record, key
//              record of the wrong type, hash or service
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hato::dkim {

struct TxtLookupResult {
  enum class Status { kOk, kNxDomain, kNoData, kTemporary };
  Status status = Status::kTemporary;
  std::vector<std::string> records;  // one per TXT record, its strings joined
};

// Looks up the TXT records of `name` (e.g. "s1._domainkey.example.test") and calls `done` once,
// on any thread, now or later.
using KeyLookup =
    std::function<void(const std::string& name, std::function<void(TxtLookupResult)> done)>;

enum class Verdict { kPass, kFail, kNeutral, kTempError, kPermError };
std::string_view verdict_name(Verdict v);  // "pass", "fail", ... as in Authentication-Results

struct SignatureResult {
  Verdict verdict = Verdict::kPermError;
  std::string reason;  // why, in a few words; says so when only part of the body was signed
  std::string domain;  // d=, s= and a= as written (empty when the field did not parse)
  std::string selector;
  std::string algorithm;
  // l= of the signature: the body beyond it is not covered, so a pass proves less (RFC 6376
  // 8.2). A caller may treat such a pass as none.
  std::optional<uint64_t> body_length;
};

class Verifier {
 public:
  struct Options {
    int64_t clock_skew = 300;   // seconds a t= may lie in the future
    size_t max_signatures = 8;  // later ones are reported neutral, not evaluated
  };

  Verifier() = default;
  explicit Verifier(Options options) : options_(options) {}

  // Verifies every DKIM-Signature field of `message` (CRLF text) at time `now` (Unix seconds)
  // and calls `done` once with one result per field, top first (none: an empty vector).
  // Everything that needs the message is done before the first lookup, so `message` need only
  // live for the duration of this call. `done` runs on the thread of the last lookup callback.
  void verify(std::string_view message, int64_t now, const KeyLookup& lookup,
              std::function<void(std::vector<SignatureResult>)> done) const;

 private:
  Options options_;
};

}  // namespace hato::dkim
