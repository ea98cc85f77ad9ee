// bounce_rules.h - what a failed delivery means: each failure's category (invalid-recipient,
// mailbox-full, reputation-block, ...; conf::kBounceCategories) from an ordered rules table.
//
// The configuration's rules (bounces.rules) are tried first, then the built-in table; the
// first rule that fits decides. A rule fits when each of its parts that is set fits: its
// expression is found in the reply (ECMAScript, case-insensitive), its provider is the
// destination's, its code is a prefix of the enhanced status code, and, for the built-in
// rules, the failure is permanent or temporary as the rule wants. Nothing that fits:
// "transient" for a temporary failure, "unclassified" for a permanent one.
//
// Order matters, and is why the table is a list: a receiver's words about the sender
// (reputation, blocklists, authentication) come before its words about the recipient, so a
// Gmail "550 5.7.1 ... low reputation" during warm-up never reads as a dead address
// (postal#1282). A temporary failure is never "invalid-recipient", whatever a rule says:
// only a permanent answer may get an address suppressed.
#pragma once

#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"

namespace hato::policy {

struct BounceFacts {
  std::string_view dsn;       // the enhanced status code ("5.1.1"); may be empty
  std::string_view reply;     // the reply as received ("550 5.1.1 ... / 5.1.1 ...")
  std::string_view provider;  // bounce_provider() of the MX host; "" when unknown
  bool permanent = false;     // a 5xx answer
};

class BounceRules {
 public:
  // Which failures a built-in rule is for.
  enum class When { kAny, kPermanent, kTemporary };

  // `configured` were checked by conf::load(); their expressions compile.
  explicit BounceRules(const std::vector<conf::BounceRule>& configured = {});
  // One of conf::kBounceCategories.
  std::string classify(const BounceFacts& facts) const;

 private:
  struct Rule {
    std::regex match;
    bool has_match = false;
    std::string provider;
    std::string dsn;
    When when = When::kAny;
    std::string category;
  };
  std::vector<Rule> rules_;
};

// bounce_provider - the mailbox provider behind an MX host name ("google", "microsoft",
// "yahoo", "apple", "gmx", "mailru", "comcast", ...), from a table of MX suffixes; "" for
// any other host. `host` may carry "[ip]:port" after the name, as delivery records do.
std::string bounce_provider(std::string_view host);

}  // namespace hato::policy
