// psl.h - the Public Suffix List (publicsuffix.org) and the organizational domain of a name
// (RFC 7489 3.2), which relaxed DMARC alignment compares.
//
// The list is Debian's `publicsuffix` package file, read once at start. Rules written in
// Unicode are stored in their A-label (punycode) form too, because names in mail headers and DNS
// arrive as A-labels.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_set>

#include "common/status.h"

namespace hato::dmarc {

inline constexpr char kDefaultPslPath[] = "/usr/share/publicsuffix/public_suffix_list.dat";

class PublicSuffixList {
 public:
  // An empty list: every name's public suffix is its last label (the "*" default rule).
  PublicSuffixList() = default;

  // Reads the list's text format: one rule per line ("com", "*.ck", "!www.ck"), "//" comments.
  static Result<std::shared_ptr<const PublicSuffixList>> load(const std::string& path);
  static std::shared_ptr<const PublicSuffixList> parse(std::string_view text);

  // The public suffix of `domain` ("co.uk" for "mail.example.co.uk"); lower case, no trailing
  // dot. Empty for an empty name.
  std::string public_suffix(std::string_view domain) const;
  // The public suffix plus one label ("example.co.uk"); a name that is itself a public suffix
  // is its own organizational domain.
  std::string organizational_domain(std::string_view domain) const;

  size_t size() const { return rules_.size(); }

 private:
  void add_rule(std::string_view rule);

  // Rules as written in the list, wildcard and exception marks included ("*.ck", "!www.ck").
  std::unordered_set<std::string> rules_;
};

// The A-label ("xn--...") form of one Unicode label given as UTF-8 (RFC 3492, RFC 5891 without
// the IDNA2008 validity checks); ASCII labels come back unchanged. Empty for invalid UTF-8.
std::string punycode_label(std::string_view utf8_label);

// ASCII lower case, without a trailing dot.
std::string normalize_domain(std::string_view domain);

}  // namespace hato::dmarc
