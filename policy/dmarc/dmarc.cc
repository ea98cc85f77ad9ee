// dmarc.cc - DMARC records, their discovery and the evaluation of a message (RFC 7489 3, 6).
#include "policy/dmarc/dmarc.h"

#include <cctype>
#include <map>
#include <memory>

#include "common/strings.h"

namespace hato::dmarc {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

struct Tag {
  std::string_view name;
  std::string_view value;
};

// The "tag=value; ..." list (RFC 7489 6.4); nullopt when a part has no '='.
std::optional<std::vector<Tag>> split_tags(std::string_view text) {
  std::vector<Tag> tags;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t semi = text.find(';', pos);
    if (semi == std::string_view::npos) semi = text.size();
    std::string_view part = trim(text.substr(pos, semi - pos));
    pos = semi + 1;
    if (part.empty()) continue;  // "p=none;" ends with an empty part
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view name = trim(part.substr(0, eq));
    if (name.empty()) return std::nullopt;
    tags.push_back({name, trim(part.substr(eq + 1))});
  }
  return tags;
}

std::optional<Policy> policy_of(std::string_view v) {
  // Values are compared without regard to case: "p=REJECT" is common in the wild.
  if (iequals(v, "none")) return Policy::kNone;
  if (iequals(v, "quarantine")) return Policy::kQuarantine;
  if (iequals(v, "reject")) return Policy::kReject;
  return std::nullopt;
}

// At least one URI with a scheme ("mailto:a@b", maybe with a "!10m" size limit).
bool has_valid_uri(std::string_view rua) {
  size_t pos = 0;
  while (pos <= rua.size()) {
    size_t comma = rua.find(',', pos);
    if (comma == std::string_view::npos) comma = rua.size();
    std::string_view uri = trim(rua.substr(pos, comma - pos));
    pos = comma + 1;
    size_t colon = uri.find(':');
    if (colon == 0 || colon == std::string_view::npos || colon + 1 == uri.size()) continue;
    bool scheme = std::isalpha(static_cast<unsigned char>(uri[0]));
    for (size_t i = 1; i < colon && scheme; ++i) {
      char c = uri[i];
      scheme = std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
    }
    if (scheme) return true;
  }
  return false;
}

std::optional<int> percent_of(std::string_view v) {
  if (v.empty() || v.size() > 3) return std::nullopt;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n > 100) return std::nullopt;
  return n;
}

// The DMARC records among a name's TXT records; the rest are someone else's.
std::vector<std::string> dmarc_records(const std::vector<std::string>& txt) {
  std::vector<std::string> out;
  for (const auto& r : txt)
    if (is_dmarc_record(r)) out.push_back(r);
  return out;
}

// One step of discovery: what the TXT records of _dmarc.<domain> say, or nullopt to go on.
std::optional<Discovery> examine(const dkim::TxtLookupResult& answer, const std::string& domain,
                                 bool organizational) {
  Discovery d;
  d.domain = domain;
  d.organizational = organizational;
  using S = dkim::TxtLookupResult::Status;
  if (answer.status == S::kTemporary) {
    d.status = Discovery::Status::kTempError;
    d.error = "DNS lookup of _dmarc." + domain + " failed";
    return d;
  }
  if (answer.status != S::kOk) return std::nullopt;
  auto records = dmarc_records(answer.records);
  if (records.empty()) return std::nullopt;
  if (records.size() > 1) {
    // 6.6.3 step 5: several records mean no policy; say so rather than stay silent.
    d.status = Discovery::Status::kPermError;
    d.error = "more than one DMARC record at _dmarc." + domain;
    return d;
  }
  auto record = parse_record(records[0]);
  if (!record) {
    d.status = Discovery::Status::kPermError;
    d.error = record.message();
    return d;
  }
  d.status = Discovery::Status::kFound;
  d.record = *record;
  return d;
}

}  // namespace

std::string_view policy_name(Policy p) {
  switch (p) {
    case Policy::kNone:
      return "none";
    case Policy::kQuarantine:
      return "quarantine";
    case Policy::kReject:
      return "reject";
  }
  return "none";
}

std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kNone:
      return "none";
    case Outcome::kPass:
      return "pass";
    case Outcome::kFail:
      return "fail";
    case Outcome::kTempError:
      return "temperror";
    case Outcome::kPermError:
      return "permerror";
  }
  return "none";
}

bool is_dmarc_record(std::string_view text) {
  text = trim(text);
  std::string_view first = text.substr(0, text.find(';'));
  size_t eq = first.find('=');
  if (eq == std::string_view::npos) return false;
  // 6.3: "v" first, and its value must match "DMARC1" precisely.
  return trim(first.substr(0, eq)) == "v" && trim(first.substr(eq + 1)) == "DMARC1";
}

Result<Record> parse_record(std::string_view text) {
  auto tags = split_tags(text);
  if (!tags) return Result<Record>::error("DMARC record is not a tag list");
  std::map<std::string_view, std::string_view> seen;
  for (const auto& tag : *tags) {
    if (!seen.emplace(tag.name, tag.value).second)
      return Result<Record>::error("DMARC record has tag '" + std::string(tag.name) + "' twice");
  }
  auto get = [&](std::string_view name) -> std::optional<std::string_view> {
    auto it = seen.find(name);
    if (it == seen.end()) return std::nullopt;
    return it->second;
  };
  Record record;
  auto p = get("p");
  auto sp = get("sp");
  std::optional<Policy> parsed_p = p ? policy_of(*p) : std::nullopt;
  std::optional<Policy> parsed_sp = sp ? policy_of(*sp) : std::nullopt;
  if (!parsed_p || (sp && !parsed_sp)) {
    // 6.6.3: a record with a usable rua= still counts, as p=none.
    auto rua = get("rua");
    if (!rua || !has_valid_uri(*rua)) {
      return Result<Record>::error(!parsed_p ? "DMARC record has no valid p= tag"
                                             : "DMARC record has an invalid sp= tag");
    }
    return record;  // p=none, no sp, the rest irrelevant
  }
  record.p = *parsed_p;
  record.sp = parsed_sp;
  if (auto pct = get("pct")) {
    if (auto n = percent_of(*pct)) record.pct = *n;
  }
  if (auto adkim = get("adkim"); adkim && iequals(*adkim, "s")) record.adkim = Alignment::kStrict;
  if (auto aspf = get("aspf"); aspf && iequals(*aspf, "s")) record.aspf = Alignment::kStrict;
  return record;
}

void discover(const std::string& from_domain, const PublicSuffixList& psl, TxtLookup lookup,
              std::function<void(Discovery)> done) {
  std::string from = normalize_domain(from_domain);
  std::string org = psl.organizational_domain(from);
  auto shared_lookup = std::make_shared<TxtLookup>(std::move(lookup));
  (*shared_lookup)("_dmarc." + from, [from, org, shared_lookup, done = std::move(done)](
                                         dkim::TxtLookupResult answer) mutable {
    if (auto d = examine(answer, from, false)) {
      done(std::move(*d));
      return;
    }
    if (org == from) {
      Discovery none;
      none.domain = from;
      done(std::move(none));
      return;
    }
    (*shared_lookup)("_dmarc." + org, [org, done = std::move(done)](dkim::TxtLookupResult answer) {
      if (auto d = examine(answer, org, true)) {
        done(std::move(*d));
        return;
      }
      Discovery none;
      none.domain = org;
      done(std::move(none));
    });
  });
}

bool aligned(std::string_view a, std::string_view b, Alignment mode, const PublicSuffixList& psl) {
  std::string x = normalize_domain(a);
  std::string y = normalize_domain(b);
  if (x.empty() || y.empty()) return false;
  if (x == y) return true;
  if (mode == Alignment::kStrict) return false;
  return psl.organizational_domain(x) == psl.organizational_domain(y);
}

Evaluation evaluate(const Identifiers& ids, const Discovery& found, const PublicSuffixList& psl,
                    int sample) {
  Evaluation e;
  e.record_domain = found.domain;
  switch (found.status) {
    case Discovery::Status::kNone:
      e.outcome = Outcome::kNone;
      return e;
    case Discovery::Status::kTempError:
      e.outcome = Outcome::kTempError;
      e.error = found.error;
      return e;
    case Discovery::Status::kPermError:
      e.outcome = Outcome::kPermError;
      e.error = found.error;
      return e;
    case Discovery::Status::kFound:
      break;
  }
  const Record& r = found.record;
  // sp= is for subdomains of the domain that published it: a record found by falling back to
  // the organizational domain (6.3).
  e.policy = found.organizational && r.sp ? *r.sp : r.p;
  e.spf_aligned = ids.spf == "pass" && aligned(ids.spf_domain, ids.from_domain, r.aspf, psl);
  for (const auto& d : ids.dkim_domains) {
    if (aligned(d, ids.from_domain, r.adkim, psl)) e.dkim_aligned = true;
  }
  if (e.spf_aligned || e.dkim_aligned) {
    e.outcome = Outcome::kPass;
    return e;
  }
  e.outcome = Outcome::kFail;
  e.disposition = e.policy;
  if (sample >= r.pct) {
    if (e.disposition == Policy::kReject) {
      e.disposition = Policy::kQuarantine;
    } else if (e.disposition == Policy::kQuarantine) {
      e.disposition = Policy::kNone;
    }
  }
  return e;
}

}  // namespace hato::dmarc
