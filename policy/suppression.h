// suppression.h - recipients that get no more mail: addresses that bounced for good, that
// complained, or that the operator named (issue 21, item 4).
//
// Entries live in the state family (queue/state_keys.h, kind kSuppression), one record per
// scope and address: x/<sending domain>/<address>, or x/*/<address> for the whole relay
// (suppression.scope: global, and every entry added without a domain). A message from a
// domain is held back by that domain's entries and by the global ones. Addresses are kept
// in lower case, and a '/' or '%' in one is written %2F / %25 so that it stays one field.
//
// The value is "<source> <first_seen_ms> <expires_ms> <reason>"; expires_ms 0 means never.
// An expired entry is as good as absent: find() and list() pass over it (and find() erases
// it), so the list needs no sweeper.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "conf/config.h"
#include "policy/hook.h"
#include "policy/limiter.h"

namespace hato::policy {

struct SuppressionEntry {
  std::string address;  // lower case
  std::string domain;   // the sending domain it applies to, lower case; "" for every domain
  std::string reason;   // "invalid-recipient", "complaint", or the operator's words
  std::string source;   // bounce | complaint | manual | import
  int64_t first_seen_ms = 0;
  int64_t expires_ms = 0;  // 0: never
};

// Whether `source` is one of bounce, complaint, manual, import.
bool is_suppression_source(std::string_view source);

class SuppressionList {
 public:
  explicit SuppressionList(StateStore& state) : state_(state) {}

  // The entry that holds back mail from `sender` to `recipient` at `now_ms`: the sending
  // domain's, else the global one; nullopt when neither is there (or both expired).
  std::optional<SuppressionEntry> find(std::string_view sender, std::string_view recipient,
                                       int64_t now_ms);
  // Writes `entry` (address and domain lower-cased); an entry already there keeps its
  // first_seen. False, with nothing written, for an entry without an address.
  bool add(SuppressionEntry entry);
  // Removes `address` from `domain` ("" the global scope), or from every scope when `domain`
  // is nullopt. How many entries went.
  size_t remove(std::string_view address, const std::optional<std::string>& domain);
  // Visits the live entries of `domain` ("" the global scope), or all when nullopt, in key
  // order; stop by returning false.
  Status list(const std::optional<std::string>& domain, int64_t now_ms,
              const std::function<bool(const SuppressionEntry&)>& visit);

  // A failure or complaint for mail from `sender` to `recipient`: an entry when `reason` (a
  // bounce category, or "complaint") is in config.on. True when one was written.
  bool note(const conf::Suppression& config, std::string_view sender, std::string_view recipient,
            std::string_view reason, std::string_view source, int64_t now_ms);

 private:
  StateStore& state_;
};

// The state key and value of an entry, and back (tests and the list itself).
std::string suppression_key(std::string_view domain, std::string_view address);
std::string encode_suppression(const SuppressionEntry& entry);
std::optional<SuppressionEntry> decode_suppression(std::string_view key, std::string_view value);

// CSV: the header `address,domain,reason,source,first_seen,expires`, one line per entry with
// RFC 3339 times ("" for never) and fields quoted as RFC 4180 wants.
std::string_view suppression_csv_header();
std::string suppression_csv_line(const SuppressionEntry& entry);
// Fields as one CSV line, each quoted when it must be.
std::string csv_row(std::initializer_list<std::string_view> fields);
// One line of such a file (without its line end): the entry, or why not. An empty source
// reads as "import", an empty first_seen as `now_ms`.
Result<SuppressionEntry> parse_suppression_csv(std::string_view line, int64_t now_ms);

// The text a suppressed recipient gets at RCPT: "5.1.1 <addr>: suppressed (<reason>, since
// <date>); remove with: hato suppress remove <addr>".
std::string suppression_reply(const SuppressionEntry& entry);

// At RCPT on a submission listener: 550 5.1.1 for a suppressed recipient (suppression.
// at_submission: reject). With at_submission: bounce it lets the recipient through; the
// delivery engine bounces it at once.
class SuppressionHook : public Hook {
 public:
  explicit SuppressionHook(SuppressionList& list) : list_(list) {}
  const char* name() const override { return "suppression"; }
  void run(const HookContext& context, std::function<void(Verdict)> done) override;

 private:
  SuppressionList& list_;
};

}  // namespace hato::policy
