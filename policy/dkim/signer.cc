// signer.cc - building, hashing and signing DKIM-Signature fields.
//
// Order of work in sign(): split the message; hash the canonical body once; canonicalize the
// selected header fields once; then per key build the field with an empty b=, hash headers and
// that field together, sign the digest, and append the folded b= value. The parts shared by
// all keys are done once, so a second key costs only its signature.
#include "policy/dkim/signer.h"

#include <algorithm>

#include "common/base64.h"
#include "common/strings.h"
#include "policy/dkim/crypto.h"
#include "policy/dkim/ossl.h"
#include "policy/mail/address_list.h"

namespace hato::dkim {

namespace {

constexpr size_t kLineLimit = 78;  // RFC 5322 2.1.1's recommended line length

// Builds a header field, folding with CRLF TAB before an atom that would cross the line limit.
class Folder {
 public:
  explicit Folder(std::string_view start) : out_(start), line_(start.size()) {}

  // `sep` goes before `atom` when it stays on the line; a fold replaces it otherwise.
  void add(std::string_view sep, std::string_view atom) {
    if (line_ + sep.size() + atom.size() > kLineLimit) {
      out_ += "\r\n\t";
      line_ = 8;
    } else {
      out_ += sep;
      line_ += sep.size();
    }
    out_ += atom;
    line_ += atom.size();
  }
  // Base64 may be broken anywhere: fills each line to the limit.
  void add_broken(std::string_view text) {
    while (!text.empty()) {
      if (line_ >= kLineLimit) {
        out_ += "\r\n\t";
        line_ = 8;
      }
      size_t take = std::min(text.size(), kLineLimit - line_);
      out_ += text.substr(0, take);
      line_ += take;
      text.remove_prefix(take);
    }
  }
  const std::string& text() const { return out_; }

 private:
  std::string out_;
  size_t line_;
};

std::string_view canon_name(Canon c) {
  return c == Canon::kSimple ? "simple" : "relaxed";
}

}  // namespace

const std::vector<std::string>& default_signed_headers() {
  static const std::vector<std::string> kHeaders = {"From",
                                                    "To",
                                                    "Cc",
                                                    "Subject",
                                                    "Date",
                                                    "Message-ID",
                                                    "Reply-To",
                                                    "In-Reply-To",
                                                    "References",
                                                    "MIME-Version",
                                                    "Content-Type",
                                                    "Content-Transfer-Encoding",
                                                    "List-Unsubscribe",
                                                    "List-Unsubscribe-Post"};
  return kHeaders;
}

const std::vector<std::string>& default_oversigned_headers() {
  static const std::vector<std::string> kHeaders = {"From", "Subject", "Date"};
  return kHeaders;
}

Signer::Signer(std::vector<DkimKey> keys, SignerOptions options)
    : keys_(std::move(keys)), options_(std::move(options)) {}

Result<std::string> Signer::sign(std::string_view message, int64_t now) const {
  if (keys_.empty()) return Result<std::string>::error("no DKIM keys to sign with");
  ParsedMessage parsed = parse_message(message);

  auto count = [&](std::string_view name) {
    return std::count_if(parsed.fields.begin(), parsed.fields.end(),
                         [&](const HeaderField& f) { return iequals(f.name, name); });
  };
  if (auto froms = count("From"); froms != 1) {
    return Result<std::string>::error("cannot sign a message with " + std::to_string(froms) +
                                      " From fields");
  }
  auto oversigned = [&](std::string_view name) {
    return std::any_of(options_.oversign.begin(), options_.oversign.end(),
                       [&](const std::string& o) { return iequals(o, name); });
  };
  // h=: each present instance, plus one more of each over-signed name.
  std::vector<std::string> names;
  auto list = [&](const std::string& name, bool extra) {
    auto n = count(name) + (extra ? 1 : 0);
    for (decltype(n) i = 0; i < n; ++i) names.push_back(ascii_lower(name));
  };
  for (const auto& name : options_.headers) list(name, oversigned(name));
  for (const auto& name : options_.oversign) {
    bool listed = std::any_of(options_.headers.begin(), options_.headers.end(),
                              [&](const std::string& h) { return iequals(h, name); });
    if (!listed) list(name, true);
  }

  std::string header_data;
  for (const HeaderField* field : select_headers(parsed.fields, names)) {
    if (!field) continue;
    append_canonical_header(options_.header_canon, field->raw, header_data);
    header_data += "\r\n";
  }
  std::string bh = base64_encode(body_hash(options_.body_canon, parsed.body));
  std::string canon = std::string(canon_name(options_.header_canon)) + "/" +
                      std::string(canon_name(options_.body_canon));

  std::string fields;
  for (const auto& key : keys_) {
    Folder f("DKIM-Signature:");
    f.add(" ", "v=1;");
    f.add(" ", "a=" + std::string(algorithm_name(key.alg)) + ";");
    f.add(" ", "c=" + canon + ";");
    f.add(" ", "d=" + key.domain + ";");
    f.add(" ", "s=" + key.selector + ";");
    f.add(" ", "t=" + std::to_string(now) + ";");
    for (size_t i = 0; i < names.size(); ++i) {
      std::string atom = (i == 0 ? "h=" : "") + names[i] + (i + 1 == names.size() ? ";" : ":");
      f.add(i == 0 ? " " : "", atom);
    }
    f.add(" ", "bh=" + bh + ";");
    f.add(" ", "b=");

    std::string data = header_data;
    append_canonical_header(options_.header_canon, f.text(), data);
    auto sig = sign_digest(key.pkey.get(), key.alg, sha256(data));
    if (!sig) return sig.status();
    f.add_broken(base64_encode(*sig));
    fields += f.text();
    fields += "\r\n";
  }
  return fields;
}

std::string from_domain(std::string_view message) {
  ParsedMessage parsed = parse_message(message);
  const HeaderField* from = nullptr;
  for (const auto& field : parsed.fields) {
    if (!iequals(field.name, "From")) continue;
    if (from) return "";  // two From fields: no single author domain
    from = &field;
  }
  if (!from) return "";
  std::string_view value = from->raw.substr(from->raw.find(':') + 1);
  // The first author's (a domain literal is none); DMARC checks every author's domain.
  std::vector<std::string> domains = mail::author_domains(mail::parse_address_list(value));
  if (domains.empty() || !valid_dns_name(domains.front())) return "";
  return domains.front();
}

}  // namespace hato::dkim
