// verifier.cc - checking DKIM-Signature fields.
//
// For each field, in RFC 6376 6.1 order: parse and check the tags (6.1.1), which needs no
// network; hash the body and the signed header fields right away, so the message may go away
// while the key is looked up; then on the key record (6.1.2): check it, compare the body hash,
// and verify the signature (6.1.3). One lookup per field; `done` fires when the last answers.
#include "policy/dkim/verifier.h"

#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <memory>

#include "common/base64.h"
#include "common/strings.h"
#include "policy/dkim/canon.h"
#include "policy/dkim/crypto.h"
#include "policy/dkim/key.h"
#include "policy/dkim/ossl.h"
#include "policy/dkim/tags.h"

namespace hato::dkim {

namespace {

constexpr size_t kMaxSignedHeaders = 256;  // bounds the header selection work per field
constexpr int kMaxVerifyRsaBits = 8192;    // a bigger key is a denial of service, not security

// One DKIM-Signature field on its way through verification.
struct Check {
  SignatureResult result;
  bool decided = false;  // result is final; no lookup
  Algorithm alg = Algorithm::kRsaSha256;
  std::string key_name;
  std::string header_digest;
  bool body_hash_ok = false;
  bool body_too_short = false;  // l= beyond the canonical body
  std::string signature;
  std::string identity_domain;  // the domain of i=, lowercase; empty without i=
  std::string domain_lower;
};

// A decimal tag value; at most 18 digits so it fits an int64_t.
std::optional<int64_t> parse_number(std::string_view s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  int64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

bool valid_field_name(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 33 && u <= 126 && c != ':';
  });
}

std::optional<std::pair<Canon, Canon>> parse_canon(const std::string* c) {
  if (!c) return std::pair{Canon::kSimple, Canon::kSimple};
  auto one = [](std::string_view s) -> std::optional<Canon> {
    if (s == "simple") return Canon::kSimple;
    if (s == "relaxed") return Canon::kRelaxed;
    return std::nullopt;
  };
  std::string_view v = *c;
  size_t slash = v.find('/');
  auto header = one(v.substr(0, slash));
  auto body =
      slash == std::string_view::npos ? std::optional(Canon::kSimple) : one(v.substr(slash + 1));
  if (!header || !body) return std::nullopt;
  return std::pair{*header, *body};
}

// The field with the value of its b= tag deleted (RFC 6376 3.7). Tag values cannot hold ';',
// so the tag ends at the next one; its name is matched exactly so bh= stays.
std::string without_b_value(std::string_view raw) {
  size_t pos = raw.find(':') + 1;
  while (pos < raw.size()) {
    size_t end = raw.find(';', pos);
    if (end == std::string_view::npos) end = raw.size();
    size_t p = pos;
    while (p < end && (raw[p] == ' ' || raw[p] == '\t' || raw[p] == '\r' || raw[p] == '\n')) ++p;
    if (p < end && raw[p] == 'b') {
      size_t q = p + 1;
      while (q < end && (raw[q] == ' ' || raw[q] == '\t' || raw[q] == '\r' || raw[q] == '\n')) {
        ++q;
      }
      if (q < end && raw[q] == '=') {
        std::string out(raw.substr(0, q + 1));
        out += raw.substr(end);
        return out;
      }
    }
    pos = end + 1;
  }
  return std::string(raw);
}

Check& decide(Check& c, Verdict v, std::string reason) {
  c.result.verdict = v;
  c.result.reason = std::move(reason);
  c.decided = true;
  return c;
}

std::nullopt_t reject(Check& c, Verdict v, std::string reason) {
  decide(c, v, std::move(reason));
  return std::nullopt;
}

// Body digests already computed in this verify() call: signatures side by side (RSA and
// Ed25519) usually share canonicalization and length, and a body can be megabytes.
class BodyHashes {
 public:
  explicit BodyHashes(std::string_view body) : body_(body) {}
  // The digest of the canonical body cut to `limit`, and the full canonical length.
  std::pair<std::string, uint64_t> get(Canon canon, std::optional<uint64_t> limit) {
    for (const auto& e : entries_) {
      if (e.canon == canon && e.limit == limit) return e.result;
    }
    uint64_t length = 0;
    std::string digest = body_hash(canon, body_, limit, &length);
    entries_.push_back(Entry{canon, limit, {std::move(digest), length}});
    return entries_.back().result;
  }

 private:
  struct Entry {
    Canon canon;
    std::optional<uint64_t> limit;
    std::pair<std::string, uint64_t> result;
  };
  std::string_view body_;
  std::vector<Entry> entries_;
};

// refuse - decides `c`, and false: the check_* steps of prepare() say "stop here" with it
bool refuse(Check& c, Verdict v, std::string reason) {
  decide(c, v, std::move(reason));
  return false;
}

// check_signed_names - h= within bounds, well formed, and signing From (RFC 6376 5.4); false
// with `c` decided when not
bool check_signed_names(const std::vector<std::string>& names, Check& c) {
  if (names.size() > kMaxSignedHeaders) {
    return refuse(c, Verdict::kPermError, "too many names in h=");
  }
  if (!std::all_of(names.begin(), names.end(), valid_field_name)) {
    return refuse(c, Verdict::kPermError, "bad field name in h=");
  }
  if (std::none_of(names.begin(), names.end(), [](const auto& n) { return iequals(n, "from"); })) {
    return refuse(c, Verdict::kPermError, "From is not signed (h=)");
  }
  return true;
}

// check_identity - i= is an address in d= or a subdomain of it; false with `c` decided when not
bool check_identity(const std::string& i, Check& c) {
  size_t at = i.rfind('@');
  if (at == std::string::npos) {
    return refuse(c, Verdict::kPermError, "bad i= identity");
  }
  c.identity_domain = ascii_lower(std::string_view(i).substr(at + 1));
  const std::string& id = c.identity_domain;
  bool within = id == c.domain_lower ||
                (id.size() > c.domain_lower.size() && id.ends_with("." + c.domain_lower));
  if (!within) return refuse(c, Verdict::kPermError, "i= is not within d=");
  return true;
}

// check_times - t= and x= well formed and in order, x= not past, t= not ahead of `now` by more
// than `skew`; false with `c` decided when not
bool check_times(const TagList& tags, int64_t now, int64_t skew, Check& c) {
  std::optional<int64_t> t, x;
  if (const auto* v = tags.find("t")) {
    if (!(t = parse_number(*v))) return refuse(c, Verdict::kPermError, "bad t= timestamp");
  }
  if (const auto* v = tags.find("x")) {
    if (!(x = parse_number(*v))) return refuse(c, Verdict::kPermError, "bad x= expiry");
  }
  if (t && x && *x <= *t) return refuse(c, Verdict::kPermError, "x= is not after t=");
  if (x && *x < now) return refuse(c, Verdict::kFail, "signature expired");
  if (t && *t > now + skew) {
    return refuse(c, Verdict::kPermError, "signature timestamp in the future");
  }
  return true;
}

// signed_header_digest - SHA-256 of the fields h= selects and of the signature field without
// its b= value, canonicalized (RFC 6376 3.7)
std::string signed_header_digest(Canon canon, const ParsedMessage& msg,
                                 const std::vector<std::string>& names, const HeaderField& field) {
  std::string data;
  for (const HeaderField* h : select_headers(msg.fields, names)) {
    if (!h) continue;
    append_canonical_header(canon, h->raw, data);
    data += "\r\n";
  }
  append_canonical_header(canon, without_b_value(field.raw), data);
  return sha256(data);
}

// RFC 6376 6.1.1: everything that can be checked before the key is known.
Check prepare(const HeaderField& field, const ParsedMessage& msg, BodyHashes& bodies, int64_t now,
              int64_t skew) {
  Check c;
  auto parsed = TagList::parse(field.raw.substr(field.raw.find(':') + 1));
  if (!parsed) {
    return decide(c, Verdict::kPermError, "signature syntax: " + parsed.message());
  }
  const TagList& tags = *parsed;
  auto tag = [&](std::string_view name) { return tags.find(name); };
  if (const auto* d = tag("d")) c.result.domain = *d;
  if (const auto* s = tag("s")) c.result.selector = *s;
  if (const auto* a = tag("a")) c.result.algorithm = *a;

  for (const char* required : {"v", "a", "b", "bh", "d", "h", "s"}) {
    if (!tag(required)) {
      return decide(c, Verdict::kPermError, std::string("signature has no ") + required + "= tag");
    }
  }
  if (*tag("v") != "1") return decide(c, Verdict::kPermError, "unsupported version v=");
  auto alg = parse_algorithm(*tag("a"));
  if (!alg) {
    std::string why =
        *tag("a") == "rsa-sha1" ? "rsa-sha1 is not accepted (RFC 8301)" : "unknown algorithm";
    return decide(c, Verdict::kPermError, why);
  }
  c.alg = *alg;
  auto canon = parse_canon(tag("c"));
  if (!canon) return decide(c, Verdict::kPermError, "unknown canonicalization");
  const std::string& d = *tag("d");
  const std::string& s = *tag("s");
  if (!valid_dns_name(d)) return decide(c, Verdict::kPermError, "bad d= domain");
  if (!valid_dns_name(s)) return decide(c, Verdict::kPermError, "bad s= selector");
  c.domain_lower = ascii_lower(d);

  std::vector<std::string> names = split_colon_list(*tag("h"));
  if (!check_signed_names(names, c)) return c;
  if (const auto* i = tag("i"); i && !check_identity(*i, c)) return c;
  std::optional<uint64_t> limit;
  if (const auto* l = tag("l")) {
    auto n = parse_number(*l);
    if (!n) return decide(c, Verdict::kPermError, "bad l= length");
    limit = static_cast<uint64_t>(*n);
    c.result.body_length = limit;
  }
  if (const auto* q = tag("q")) {
    auto methods = split_colon_list(*q);
    if (std::find(methods.begin(), methods.end(), "dns/txt") == methods.end()) {
      return decide(c, Verdict::kPermError, "unknown query method q=");
    }
  }
  if (!check_times(tags, now, skew, c)) return c;
  auto bh = base64_decode(strip_whitespace(*tag("bh")));
  if (!bh) return decide(c, Verdict::kPermError, "bad bh= encoding");
  auto b = base64_decode(strip_whitespace(*tag("b")));
  if (!b || b->empty()) return decide(c, Verdict::kPermError, "bad b= encoding");
  c.signature = std::move(*b);

  auto [computed, body_length] = bodies.get(canon->second, limit);
  c.body_too_short = limit && *limit > body_length;
  c.body_hash_ok = computed == *bh;

  c.header_digest = signed_header_digest(canon->first, msg, names, field);
  c.key_name = ascii_lower(key_record_name(s, d));
  return c;
}

struct KeyInfo {
  ossl::Pkey pkey;
  bool testing = false;
  bool strict = false;
};

// RFC 6376 3.6.1 / 6.1.2: a key record, checked against the signature's algorithm. On failure
// the verdict and reason are set in `c`.
std::optional<KeyInfo> parse_key_record(std::string_view txt, Check& c) {
  auto parsed = TagList::parse(txt);
  if (!parsed) return reject(c, Verdict::kPermError, "key record syntax: " + parsed.message());
  const TagList& tags = *parsed;
  if (const auto* v = tags.find("v"); v && *v != "DKIM1") {
    return reject(c, Verdict::kPermError, "key record is not v=DKIM1");
  }
  if (const auto* h = tags.find("h")) {
    auto hashes = split_colon_list(*h);
    if (std::find(hashes.begin(), hashes.end(), "sha256") == hashes.end()) {
      return reject(c, Verdict::kPermError, "key record does not allow sha256 (h=)");
    }
  }
  std::string k = tags.find("k") ? *tags.find("k") : "rsa";
  std::string want = c.alg == Algorithm::kRsaSha256 ? "rsa" : "ed25519";
  if (k != want) {
    return reject(c, Verdict::kPermError, "key type k=" + k + " does not match a=");
  }
  if (const auto* s = tags.find("s")) {
    auto services = split_colon_list(*s);
    if (std::find(services.begin(), services.end(), "*") == services.end() &&
        std::find(services.begin(), services.end(), "email") == services.end()) {
      return reject(c, Verdict::kPermError, "key is not for email (s=)");
    }
  }
  KeyInfo info;
  if (const auto* t = tags.find("t")) {
    for (const auto& flag : split_colon_list(*t)) {
      if (flag == "y") info.testing = true;
      if (flag == "s") info.strict = true;
    }
  }
  const std::string* p = tags.find("p");
  if (!p) return reject(c, Verdict::kPermError, "key record has no p=");
  std::string p64 = strip_whitespace(*p);
  if (p64.empty()) return reject(c, Verdict::kFail, "key revoked (empty p=)");
  auto der = base64_decode(p64);
  if (!der) return reject(c, Verdict::kPermError, "bad p= encoding");
  const auto* bytes = reinterpret_cast<const unsigned char*>(der->data());
  if (c.alg == Algorithm::kEd25519Sha256) {
    if (der->size() != 32) return reject(c, Verdict::kPermError, "bad Ed25519 key");
    info.pkey.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, bytes, 32));
  } else {
    const unsigned char* in = bytes;
    info.pkey.reset(d2i_PUBKEY(nullptr, &in, static_cast<long>(der->size())));
    if (!info.pkey) {  // some publish the bare PKCS#1 RSAPublicKey
      in = bytes;
      info.pkey.reset(d2i_PublicKey(EVP_PKEY_RSA, nullptr, &in, static_cast<long>(der->size())));
    }
    if (info.pkey && EVP_PKEY_get_base_id(info.pkey.get()) != EVP_PKEY_RSA) info.pkey.reset();
  }
  ERR_clear_error();
  if (!info.pkey) return reject(c, Verdict::kPermError, "bad public key in p=");
  if (c.alg == Algorithm::kRsaSha256) {
    int bits = EVP_PKEY_get_bits(info.pkey.get());
    if (bits < kMinRsaBits) {
      return reject(c, Verdict::kFail,
                    "RSA key of " + std::to_string(bits) + " bits is too short (RFC 8301)");
    }
    if (bits > kMaxVerifyRsaBits) {
      return reject(c, Verdict::kPermError, "RSA key too large");
    }
  }
  return info;
}

// RFC 6376 6.1.2-6.1.3 once the lookup has answered: the verdict and reason for `c`.
std::pair<Verdict, std::string> judge(const Check& c, const TxtLookupResult& answer) {
  using S = TxtLookupResult::Status;
  if (answer.status == S::kTemporary) {
    return {Verdict::kTempError, "key lookup failed temporarily: " + c.key_name};
  }
  if (answer.status != S::kOk || answer.records.empty()) {
    return {Verdict::kPermError, "no key record at " + c.key_name};
  }
  // Records are tried in order until one gives a usable key (RFC 6376 6.1.2 lets a verifier
  // cycle through them); if none does, the first one's problem is told.
  std::optional<KeyInfo> key;
  Check first_problem;
  for (size_t i = 0; i < answer.records.size() && !key; ++i) {
    Check attempt = c;
    key = parse_key_record(answer.records[i], attempt);
    if (!key && i == 0) first_problem = std::move(attempt);
  }
  if (!key) return {first_problem.result.verdict, first_problem.result.reason};
  if (key->strict && !c.identity_domain.empty() && c.identity_domain != c.domain_lower) {
    return {Verdict::kPermError, "key forbids an i= subdomain (t=s)"};
  }
  if (c.body_too_short) return {Verdict::kFail, "l= is beyond the end of the body"};
  if (!c.body_hash_ok) return {Verdict::kFail, "body hash did not verify"};
  if (!verify_digest(key->pkey.get(), c.alg, c.header_digest, c.signature)) {
    return {Verdict::kFail, "signature did not verify"};
  }
  std::string notes;
  if (c.result.body_length) {
    notes = "only the first " + std::to_string(*c.result.body_length) +
            " octets of the body are signed (l=)";
  }
  if (key->testing) notes += std::string(notes.empty() ? "" : "; ") + "key in testing mode (t=y)";
  return {Verdict::kPass, notes};
}

struct Pending {
  std::vector<Check> checks;
  std::unique_ptr<std::atomic<bool>[]> answered;
  std::atomic<size_t> remaining{0};
  std::function<void(std::vector<SignatureResult>)> done;

  void complete() {
    std::vector<SignatureResult> results;
    results.reserve(checks.size());
    for (auto& c : checks) results.push_back(std::move(c.result));
    done(std::move(results));
  }
};

}  // namespace

std::string_view verdict_name(Verdict v) {
  switch (v) {
    case Verdict::kPass:
      return "pass";
    case Verdict::kFail:
      return "fail";
    case Verdict::kNeutral:
      return "neutral";
    case Verdict::kTempError:
      return "temperror";
    case Verdict::kPermError:
      return "permerror";
  }
  return "permerror";
}

void Verifier::verify(std::string_view message, int64_t now, const KeyLookup& lookup,
                      std::function<void(std::vector<SignatureResult>)> done) const {
  ParsedMessage msg = parse_message(message);
  BodyHashes bodies(msg.body);
  auto pending = std::make_shared<Pending>();
  pending->done = std::move(done);
  for (const auto& field : msg.fields) {
    if (!iequals(field.name, "DKIM-Signature")) continue;
    if (pending->checks.size() >= options_.max_signatures) {
      Check c;
      decide(c, Verdict::kNeutral, "not evaluated: too many signatures");
      pending->checks.push_back(std::move(c));
      continue;
    }
    pending->checks.push_back(prepare(field, msg, bodies, now, options_.clock_skew));
  }
  size_t n = pending->checks.size();
  pending->answered.reset(new std::atomic<bool>[n]);
  std::vector<size_t> to_look_up;
  for (size_t i = 0; i < n; ++i) {
    pending->answered[i] = pending->checks[i].decided;
    if (!pending->checks[i].decided) to_look_up.push_back(i);
  }
  // One extra count held until every lookup is issued, so an answer that comes back at once
  // cannot complete the whole verification before the others are asked.
  pending->remaining = to_look_up.size() + 1;
  for (size_t i : to_look_up) {
    lookup(pending->checks[i].key_name, [pending, i](TxtLookupResult answer) {
      if (pending->answered[i].exchange(true)) return;  // a second answer is ignored
      auto [verdict, reason] = judge(pending->checks[i], answer);
      decide(pending->checks[i], verdict, std::move(reason));
      if (pending->remaining.fetch_sub(1) == 1) pending->complete();
    });
  }
  if (pending->remaining.fetch_sub(1) == 1) pending->complete();
}

}  // namespace hato::dkim
