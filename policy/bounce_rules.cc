// bounce_rules.cc - the built-in bounce rules and the MX suffixes of the providers
// (bounce_rules.h). The phrases are the receivers' own, as their postmaster pages and
// common bounce texts word them; tests/policy/bounce_rules_test.cc holds the replies they
// were written against, each with its source.
#include "policy/bounce_rules.h"

#include <array>

#include "common/strings.h"

namespace hato::policy {

namespace {

using When = BounceRules::When;

struct BuiltinRule {
  std::string_view match;  // empty: any reply
  std::string_view dsn;    // prefix of the enhanced status code; empty: any
  When when;
  std::string_view category;
};

// In order; the first that fits decides. Sender-side causes first (expiry, authentication,
// reputation, TLS), then the message (size, rate, content), then the recipient's domain and
// mailbox, then the catch-alls by status code.
const BuiltinRule kBuiltinRules[] = {
    // Our own expiry and the few receivers that report one.
    {"", "4.4.7", When::kAny, "expired"},
    {"", "5.4.7", When::kAny, "expired"},
    {R"(delivery time expired|message expired)", "", When::kAny, "expired"},

    // SPF, DKIM, DMARC: the sender's domain did not authenticate (Gmail 5.7.26/5.7.27,
    // Microsoft 5.7.23/5.7.509/5.7.515).
    {R"(\b(spf|dkim|dmarc)\b|sender policy framework|unauthenticated (e-?mail|mail)|)"
     R"(sender is unauthenticated|authentication checks|required authentication level|)"
     R"(authentication information)",
     "", When::kAny, "authentication"},
    {"", "5.7.26", When::kAny, "authentication"},
    {"", "5.7.27", When::kAny, "authentication"},
    {"", "5.7.23", When::kAny, "authentication"},
    {"", "4.7.26", When::kAny, "authentication"},
    {"", "4.7.27", When::kAny, "authentication"},

    // The sending address or domain: blocklists, reputation, complaints, reverse DNS.
    // Temporary ones (Gmail 4.7.28, Yahoo TSS04, Microsoft 4.7.650) and permanent ones alike.
    {R"(reputation|spamhaus|spamcop|barracuda|sorbs|\b(rbl|dnsbl)s?\b|black ?list|block ?list|)"
     R"(blocked using|(is|are|was|been|currently) listed (at|on|in|by) |banned sending ip|)"
     R"(\bS3(140|150)\b|\bTSS?0\d\b|\bBL\d\d\b|\bBL0000\d\d\b|\bHM0\d\b|\bRP-00\d\b|)"
     R"(unusual rate|not currently accepting mail from your ip|)"
     R"(traffic not accepted from this ip|user complaints|permanently deferred)",
     "", When::kAny, "reputation-block"},
    {"", "4.7.28", When::kAny, "reputation-block"},
    {"", "5.7.606", When::kAny, "reputation-block"},
    {"", "5.7.708", When::kAny, "reputation-block"},
    // GMX and others put "mailbox unavailable" before their reverse DNS complaint.
    {R"(\bptr\b|reverse dns|\brdns\b|helo command rejected|sender address rejected)", "",
     When::kAny, "policy"},

    // TLS wanted and not had, or a certificate that does not check out (ours: 4.7.5).
    {R"(starttls|\btls\b|certificate|encryption (is )?required|secure connection)", "", When::kAny,
     "tls"},
    {"", "4.7.5", When::kAny, "tls"},
    {"", "5.7.10", When::kAny, "tls"},

    // Sending too much, too fast: per recipient, per connection, per day.
    {R"(rate limit|too many (connections|messages|recipients|concurrent|mails)|too quickly|)"
     R"(receiving mail at a rate|throttl|sending (limit|quota)|relay limit|)"
     R"(server busy|concurrent (server )?connections|connection rate|\bRL0000\d\d\b)",
     "", When::kAny, "rate-limited"},
    {"", "4.7.500", When::kAny, "rate-limited"},
    {"", "4.5.3", When::kAny, "rate-limited"},
    {"", "5.4.5", When::kAny, "rate-limited"},

    // The recipient's mailbox is full (Gmail 4.2.2/5.2.2, Exchange QuotaExceeded).
    {R"(mailbox (is )?full|full mailbox|over ?quota|quota (exceeded|violation)|quotaexceeded|)"
     R"(exceeded (its )?(storage|disk)|disk (space|quota)|not enough (storage|space)|)"
     R"(mailbox size limit|mailfolder is full|storage (space )?(full|exceeded))",
     "", When::kAny, "mailbox-full"},
    {"", "4.2.2", When::kAny, "mailbox-full"},
    {"", "5.2.2", When::kAny, "mailbox-full"},

    // The message is larger than the receiver takes.
    {R"(message (size|length) (exceeds|exceeded)|message (is )?too (big|large)|)"
     R"(exceeded .*message size|size limit|maximum message size|message size exceeds)",
     "", When::kAny, "message-too-large"},
    {"", "5.3.4", When::kAny, "message-too-large"},
    {"", "5.2.3", When::kAny, "message-too-large"},

    // The content: spam, viruses, dangerous attachments.
    {R"(spam|unsolicited|virus|malware|phishing|content (rejected|filter|denied)|)"
     R"(message content|suspicious|bulk (e-?mail|mail)|illegal attachment|banned content|)"
     R"(security issue|blocked .*content|\burl\b.*(blocked|listed))",
     "", When::kAny, "spam-content"},

    // The recipient's domain takes no mail: it does not exist, has no MX, or a null MX.
    {R"(null mx|host or domain name not found|domain (name )?(not found|does ?n[o']t exist)|)"
     R"(no (mx|mail exchanger)|unrouteable (mail )?domain|no such domain|)"
     R"(find the recipient domain|domain .*does not accept mail|infodomainnonexistent)",
     "", When::kPermanent, "bad-domain"},
    {"", "5.1.2", When::kPermanent, "bad-domain"},
    {"", "5.4.4", When::kPermanent, "bad-domain"},
    {"", "5.4.310", When::kPermanent, "bad-domain"},

    // The mailbox does not exist, or is gone for good. Permanent answers only.
    {R"(user unknown|unknown (user|recipient|mailbox|local[- ]part|address|e-?mail)|)"
     R"(no such (user|mailbox|recipient|address|person)|does ?n[o']t exist|not exist|)"
     R"(invalid (recipient|mailbox|address)|mailbox (is )?(unavailable|not found|inactive|)"
     R"(disabled)|recipient (not found|unknown)|recipnotfound|recipientnotfound|)"
     R"(address (unknown|not found|invalid)|account (is |has been )?(disabled|inactive|)"
     R"(suspended|closed)|no mailbox|not a valid (recipient|mailbox|user)|)"
     R"(unrouteable address|not a known user|doesn't have an? .* account|is disabled|)"
     R"(user not found|)"
     R"(recipient address rejected: (user unknown|unknown|invalid|undeliverable))",
     "", When::kPermanent, "invalid-recipient"},
    {R"(recipient address rejected)", "5.4.1", When::kPermanent, "invalid-recipient"},
    {"", "5.1.1", When::kPermanent, "invalid-recipient"},
    {"", "5.1.6", When::kPermanent, "invalid-recipient"},
    {"", "5.1.10", When::kPermanent, "invalid-recipient"},

    // What the receiver's rules forbid: relaying, reverse DNS, access lists.
    {R"(relay(ing)? (access )?denied|not permitted|prohibited|administrative|policy|)"
     R"(access denied|not authorized|not allowed)",
     "", When::kPermanent, "policy"},
    {"", "5.7.", When::kPermanent, "policy"},
};

// The MX host names of the big mailbox providers, by label-boundary suffix.
struct ProviderSuffix {
  std::string_view suffix;
  std::string_view provider;
};
const ProviderSuffix kProviderSuffixes[] = {
    {"google.com", "google"},
    {"googlemail.com", "google"},
    {"outlook.com", "microsoft"},
    {"hotmail.com", "microsoft"},
    {"yahoodns.net", "yahoo"},
    {"yahoo.com", "yahoo"},
    {"icloud.com", "apple"},
    {"me.com", "apple"},
    {"apple.com", "apple"},
    {"gmx.net", "gmx"},
    {"gmx.de", "gmx"},
    {"gmx.com", "gmx"},
    {"web.de", "gmx"},
    {"mail.ru", "mailru"},
    {"comcast.net", "comcast"},
    {"aol.com", "yahoo"},
    {"zoho.com", "zoho"},
    {"yandex.net", "yandex"},
    {"yandex.ru", "yandex"},
    {"protonmail.ch", "proton"},
    {"fastmail.com", "fastmail"},
    {"messagingengine.com", "fastmail"},
    {"orange.fr", "orange"},
    {"t-online.de", "t-online"},
    {"secureserver.net", "godaddy"},
    {"mimecast.com", "mimecast"},
    {"pphosted.com", "proofpoint"},
    {"cox.net", "cox"},
    {"charter.net", "spectrum"},
    {"att.net", "att"},
};

// dsn_fits - `prefix` is `dsn` or its first fields: "5.7" and "5.7." fit "5.7.1", "4.7.5"
// does not fit "4.7.500".
bool dsn_fits(std::string_view dsn, std::string_view prefix) {
  if (!dsn.starts_with(prefix)) return false;
  return dsn.size() == prefix.size() || prefix.back() == '.' || dsn[prefix.size()] == '.';
}

constexpr auto kFlags = std::regex::ECMAScript | std::regex::icase | std::regex::optimize;

}  // namespace

BounceRules::BounceRules(const std::vector<conf::BounceRule>& configured) {
  for (const auto& c : configured) {
    Rule r;
    if (!c.match.empty()) {
      r.match = std::regex(c.match, kFlags);
      r.has_match = true;
    }
    r.provider = c.provider;
    r.dsn = c.dsn;
    r.category = c.category;
    rules_.push_back(std::move(r));
  }
  for (const auto& b : kBuiltinRules) {
    Rule r;
    if (!b.match.empty()) {
      r.match = std::regex(std::string(b.match), kFlags);
      r.has_match = true;
    }
    r.dsn = b.dsn;
    r.when = b.when;
    r.category = b.category;
    rules_.push_back(std::move(r));
  }
}

std::string BounceRules::classify(const BounceFacts& facts) const {
  for (const auto& r : rules_) {
    if (r.when == When::kPermanent && !facts.permanent) continue;
    if (r.when == When::kTemporary && facts.permanent) continue;
    if (!r.provider.empty() && r.provider != facts.provider) continue;
    if (!r.dsn.empty() && !dsn_fits(facts.dsn, r.dsn)) continue;
    if (r.has_match && !std::regex_search(facts.reply.begin(), facts.reply.end(), r.match))
      continue;
    // Only a permanent answer may say that the address is dead.
    if (r.category == "invalid-recipient" && !facts.permanent) return "transient";
    return r.category;
  }
  return facts.permanent ? "unclassified" : "transient";
}

std::string bounce_provider(std::string_view host) {
  host = host.substr(0, host.find('['));
  while (!host.empty() && host.back() == '.') host.remove_suffix(1);
  std::string name = ascii_lower(host);
  for (const auto& p : kProviderSuffixes) {
    if (!std::string_view(name).ends_with(p.suffix)) continue;
    if (name.size() == p.suffix.size() || name[name.size() - p.suffix.size() - 1] == '.')
      return std::string(p.provider);
  }
  return "";
}

}  // namespace hato::policy
