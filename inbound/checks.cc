// checks.cc - DNSBL, DKIM verification, Authentication-Results hygiene and DMARC for inbound
// mail, as hooks on the loop (see checks.h for the order and why).
#include "inbound/checks.h"

#include <algorithm>
#include <ctime>

#include "common/log.h"
#include "common/strings.h"
#include "policy/dkim/canon.h"
#include "policy/dkim/signer.h"
#include "policy/dmarc/dmarc.h"
#include "policy/dnsbl.h"
#include "policy/mail/address_list.h"

namespace hato::inbound {

namespace {

using policy::Verdict;

constexpr char kJunkFolder[] = "Junk";

// Text fit for a comment in a header field or an SMTP reply: printable ASCII without the
// characters that would end or nest a comment.
std::string comment_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c < ' ' || c >= 0x7f || c == '(' || c == ')' || c == '\\') continue;
    out += c;
  }
  return out;
}

std::string dkim_clause(const dkim::SignatureResult& r) {
  std::string clause = "dkim=" + std::string(dkim::verdict_name(r.verdict));
  std::string why;
  if (r.verdict == dkim::Verdict::kPass) {
    if (r.body_length) why = "partial body, l=" + std::to_string(*r.body_length);
  } else {
    why = r.reason;
  }
  if (!why.empty()) clause += " (" + comment_text(why) + ")";
  if (!r.domain.empty()) clause += " header.d=" + ar_value(r.domain);
  if (!r.selector.empty()) clause += " header.s=" + ar_value(r.selector);
  if (!r.algorithm.empty()) clause += " header.a=" + ar_value(r.algorithm);
  return clause;
}

// Where one DNSBL zone stands for this client.
struct ZoneOutcome {
  std::string zone;
  std::string name;  // the query name
  bool listed = false;
  std::vector<std::string> codes;
};

struct DnsblRun {
  std::vector<ZoneOutcome> zones;
  size_t pending = 0;
  std::string ip;
  std::string peer;
};

// A lookup that failed is logged and counts as "not listed": a list that is down must not
// stop the mail.
void log_lookup_failure(const DnsblRun& run, const ZoneOutcome& z, const net::AddressResult& r) {
  if (!net::dns_temporary(r.status)) return;
  log::warning("dnsbl lookup failed", {{"peer", run.peer},
                                       {"zone", z.zone},
                                       {"status", net::dns_status_name(r.status)},
                                       {"reason", r.error}});
}

// Removes the header block's fields selected by `drop` from `message`; returns how many.
template <typename Pred>
size_t remove_fields(std::string& message, Pred drop) {
  struct Range {
    size_t begin, end;
  };
  std::vector<Range> ranges;
  size_t pos = 0;
  while (pos < message.size()) {
    // One field: its first line and every continuation line (starting with SP or HTAB).
    size_t begin = pos;
    if (message[pos] == '\r' || message[pos] == '\n') break;  // the empty line: headers end
    size_t end = pos;
    do {
      size_t nl = message.find('\n', end);
      end = nl == std::string::npos ? message.size() : nl + 1;
    } while (end < message.size() && (message[end] == ' ' || message[end] == '\t'));
    if (drop(std::string_view(message).substr(begin, end - begin))) ranges.push_back({begin, end});
    pos = end;
  }
  for (auto it = ranges.rbegin(); it != ranges.rend(); ++it)
    message.erase(it->begin, it->end - it->begin);
  return ranges.size();
}

// Skips white space, line breaks and (nested) comments.
size_t skip_cfws(std::string_view s, size_t i) {
  while (i < s.size()) {
    char c = s[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
    } else if (c == '(') {
      i = std::min(mail::skip_comment(s, i), s.size());  // an open comment runs to the end
    } else {
      break;
    }
  }
  return i;
}

// The authserv-id of an Authentication-Results field (token or quoted-string), unquoted.
std::string authserv_id(std::string_view value) {
  size_t i = skip_cfws(value, 0);
  std::string id;
  if (i < value.size() && value[i] == '"') {
    for (++i; i < value.size() && value[i] != '"'; ++i) {
      if (value[i] == '\\' && i + 1 < value.size()) ++i;
      id += value[i];
    }
    return id;
  }
  for (; i < value.size(); ++i) {
    char c = value[i];
    if (c == ';' || c == '(' || c == ' ' || c == '\t' || c == '\r' || c == '\n') break;
    id += c;
  }
  return id;
}

std::string without_trailing_dot(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

dkim::KeyLookup txt_lookup(net::Resolver& resolver) {
  return [&resolver](const std::string& name, std::function<void(dkim::TxtLookupResult)> done) {
    resolver.txt(name, [done = std::move(done)](net::TxtResult r) {
      dkim::TxtLookupResult out;
      using S = dkim::TxtLookupResult::Status;
      switch (r.status) {
        case net::DnsStatus::kOk:
          out.status = S::kOk;
          out.records = std::move(r.records);
          break;
        case net::DnsStatus::kNoData:
          out.status = S::kNoData;
          break;
        case net::DnsStatus::kNxDomain:
          out.status = S::kNxDomain;
          break;
        case net::DnsStatus::kServFail:
        case net::DnsStatus::kTimeout:
          out.status = S::kTemporary;
          break;
      }
      done(std::move(out));
    });
  };
}

std::string ar_value(std::string_view value) {
  // RFC 2045 token: no specials, no space, no controls.
  static constexpr std::string_view kSpecials = "()<>@,;:\\\"/[]?= ";
  bool token = !value.empty();
  for (char c : value) {
    if (c <= ' ' || c >= 0x7f || kSpecials.find(c) != std::string_view::npos) token = false;
  }
  if (token) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c < ' ' || c == 0x7f) continue;
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

size_t remove_auth_results(std::string& message, std::string_view authserv) {
  std::string ours = without_trailing_dot(authserv);
  return remove_fields(message, [&](std::string_view field) {
    size_t colon = field.find(':');
    if (colon == std::string_view::npos) return false;
    std::string_view name = field.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    if (!iequals(name, "Authentication-Results")) return false;
    return iequals(without_trailing_dot(authserv_id(field.substr(colon + 1))), ours);
  });
}

// -- DNSBL -------------------------------------------------------------------------------------

void DnsblHook::run(const policy::HookContext& context, std::function<void(Verdict)> done) {
  if (context.session.role != conf::ListenerRole::kInbound || context.session.trusted) {
    done(Verdict::proceed());
    return;
  }
  auto run = std::make_shared<DnsblRun>();
  run->ip = context.session.peer.ip();
  run->peer = context.session.peer.to_string();
  for (const auto& z : context.config.inbound.dnsbl) {
    if (z.action != action_) continue;
    std::string name = policy::dnsbl_query_name(context.session.peer, z.zone);
    if (!name.empty()) run->zones.push_back({z.zone, name, false, {}});
  }
  if (run->zones.empty()) {
    done(Verdict::proceed());
    return;
  }
  policy::TransactionState* tx = &context.tx;  // valid until done is called
  net::Resolver* resolver = &resolver_;
  conf::DnsblAction action = action_;
  // Called once every zone has answered: the first listing in config order decides.
  auto finish = [run, tx, resolver, action, done = std::move(done)]() mutable {
    const ZoneOutcome* hit = nullptr;
    for (const auto& z : run->zones) {
      if (!z.listed) continue;
      if (action == conf::DnsblAction::kMark) {
        tx->add_headers.push_back("X-DNSBL: client [" + run->ip + "] listed in " + z.zone + " (" +
                                  z.codes.front() + ")\r\n");
      } else if (!hit) {
        hit = &z;
      }
    }
    if (!hit) {
      done(Verdict::proceed());
      return;
    }
    std::string text =
        "5.7.1 Service unavailable; client [" + run->ip + "] blocked using " + hit->zone;
    // RFC 5782 2.2: the TXT record at the same name may say why, often with a URL.
    resolver->txt(hit->name, [run, text, done = std::move(done)](net::TxtResult r) mutable {
      if (r.status == net::DnsStatus::kOk && !r.records.empty()) {
        std::string reason = policy::dnsbl_reason(r.records.front());
        if (!reason.empty()) text += "; " + reason;
      }
      done(Verdict::disconnect(554, text));
    });
  };
  auto shared_finish = std::make_shared<decltype(finish)>(std::move(finish));
  run->pending = run->zones.size();
  for (size_t i = 0; i < run->zones.size(); ++i) {
    resolver_.a(run->zones[i].name, [run, i, shared_finish](net::AddressResult r) {
      ZoneOutcome& z = run->zones[i];
      log_lookup_failure(*run, z, r);
      if (r.status == net::DnsStatus::kOk) {
        auto answer = policy::classify_dnsbl_answer(r.addresses);
        std::string codes;
        for (const auto& c :
             answer.kind == policy::DnsblAnswer::Kind::kListed ? answer.codes : answer.errors)
          codes += (codes.empty() ? "" : ",") + c;
        if (answer.kind == policy::DnsblAnswer::Kind::kListed) {
          z.listed = true;
          z.codes = answer.codes;
          log::info("dnsbl listed", {{"peer", run->peer}, {"zone", z.zone}, {"answer", codes}});
        } else if (answer.kind == policy::DnsblAnswer::Kind::kListError) {
          // The list refuses us (rate limit, public resolver): a problem for the operator, not
          // a reason to refuse the client.
          log::warning("dnsbl error answer, not a listing",
                       {{"peer", run->peer}, {"zone", z.zone}, {"answer", codes}});
        }
      }
      if (--run->pending == 0) (*shared_finish)();
    });
  }
}

// -- DKIM --------------------------------------------------------------------------------------

void DkimVerifyHook::run(const policy::HookContext& context, std::function<void(Verdict)> done) {
  if (context.session.role != conf::ListenerRole::kInbound || context.message == nullptr) {
    done(Verdict::proceed());
    return;
  }
  policy::TransactionState* tx = &context.tx;
  std::string peer = context.session.peer.to_string();
  verifier_.verify(*context.message, time(nullptr), txt_lookup(resolver_),
                   [tx, peer, done = std::move(done)](std::vector<dkim::SignatureResult> results) {
                     if (results.empty()) tx->auth_results.push_back("dkim=none");
                     for (const auto& r : results) {
                       tx->auth_results.push_back(dkim_clause(r));
                       // A signature over part of the body says nothing of what was appended after
                       // it, so it does not vouch for the message in DMARC (RFC 6376 8.2).
                       if (r.verdict == dkim::Verdict::kPass && !r.body_length)
                         tx->dkim_pass_domains.push_back(dmarc::normalize_domain(r.domain));
                       log::info("dkim", {{"id", tx->queue_id},
                                          {"peer", peer},
                                          {"result", dkim::verdict_name(r.verdict)},
                                          {"domain", r.domain},
                                          {"selector", r.selector},
                                          {"reason", r.reason}});
                     }
                     done(Verdict::proceed());
                   });
}

// -- Authentication-Results --------------------------------------------------------------------

void AuthResultsScrubHook::run(const policy::HookContext& context,
                               std::function<void(Verdict)> done) {
  if (context.message != nullptr) {
    size_t removed = remove_auth_results(*context.message, context.config.hostname);
    if (removed) {
      log::info("removed forged Authentication-Results",
                {{"id", context.tx.queue_id},
                 {"peer", context.session.peer.to_string()},
                 {"fields", std::to_string(removed)}});
    }
  }
  done(Verdict::proceed());
}

// -- DMARC -------------------------------------------------------------------------------------

DmarcHook::DmarcHook(net::Resolver& resolver, std::shared_ptr<const dmarc::PublicSuffixList> psl)
    : resolver_(resolver), psl_(std::move(psl)), random_(std::random_device{}()) {}

namespace {

// The author domains of the message's one From field (RFC 7489 6.6.1), or why there are none.
struct Authors {
  std::vector<std::string> domains;
  size_t from_fields = 0;
  std::string why;  // when `domains` is empty
};

Authors authors_of(const std::string& message) {
  Authors a;
  const auto parsed = dkim::parse_message(message);  // `from` points into it
  const dkim::HeaderField* from = nullptr;
  for (const auto& f : parsed.fields) {
    if (!iequals(f.name, "From")) continue;
    ++a.from_fields;
    from = &f;
  }
  if (a.from_fields == 1)
    a.domains =
        mail::author_domains(mail::parse_address_list(from->raw.substr(from->raw.find(':') + 1)));
  if (a.domains.empty()) {
    a.why = a.from_fields == 0  ? "no From field"
            : a.from_fields > 1 ? "more than one From field"
                                : "no domain in From";
  }
  return a;
}

// One author domain's clause, as OpenDMARC writes it: "dmarc=fail (p=reject dis=reject)
// header.from=example.org"; errors say why in the comment.
std::string dmarc_clause(const dmarc::Evaluation& e, dmarc::Policy disposition,
                         const std::string& domain) {
  std::string clause = "dmarc=" + std::string(dmarc::outcome_name(e.outcome));
  if (e.outcome == dmarc::Outcome::kPass || e.outcome == dmarc::Outcome::kFail ||
      e.outcome == dmarc::Outcome::kNone) {
    clause += " (p=" + std::string(dmarc::policy_name(e.policy)) +
              " dis=" + std::string(dmarc::policy_name(disposition)) + ")";
  } else if (!e.error.empty()) {
    clause += " (" + comment_text(e.error) + ")";
  }
  return clause + " header.from=" + ar_value(domain);
}

// The evaluations of one message's author domains, as their discoveries come in.
struct DmarcRun {
  conf::DmarcMode mode = conf::DmarcMode::kReport;
  std::string id;
  std::string peer;
  std::vector<std::string> domains;
  std::vector<dmarc::Evaluation> results;  // by domain
  size_t pending = 0;
  policy::TransactionState* tx = nullptr;  // valid until done is called
  std::function<void(Verdict)> done;
};

// A clause and a log line per author domain; then the strictest disposition applies.
void finish_dmarc(DmarcRun& run) {
  dmarc::Policy applied = dmarc::Policy::kNone;
  std::string applied_by;
  for (size_t i = 0; i < run.domains.size(); ++i) {
    const dmarc::Evaluation& e = run.results[i];
    bool enforce = run.mode == conf::DmarcMode::kEnforce && e.outcome == dmarc::Outcome::kFail;
    dmarc::Policy disposition = enforce ? e.disposition : dmarc::Policy::kNone;
    run.tx->auth_results.push_back(dmarc_clause(e, disposition, run.domains[i]));
    log::info("dmarc", {{"id", run.id},
                        {"peer", run.peer},
                        {"from", run.domains[i]},
                        {"result", dmarc::outcome_name(e.outcome)},
                        {"policy", dmarc::policy_name(e.policy)},
                        {"disposition", dmarc::policy_name(disposition)},
                        {"record", e.record_domain},
                        {"reason", e.error}});
    if (disposition > applied) {
      applied = disposition;
      applied_by = e.record_domain;
    }
  }
  if (applied == dmarc::Policy::kReject) {
    run.done(Verdict::reply(
        550, "5.7.1 Message rejected by the DMARC policy of " + applied_by + " (p=reject)"));
    return;
  }
  if (applied == dmarc::Policy::kQuarantine) run.tx->folder = kJunkFolder;
  run.done(Verdict::proceed());
}

}  // namespace

void DmarcHook::run(const policy::HookContext& context, std::function<void(Verdict)> done) {
  conf::DmarcMode mode = context.config.inbound.dmarc;
  if (mode == conf::DmarcMode::kOff || context.session.role != conf::ListenerRole::kInbound ||
      context.message == nullptr) {
    done(Verdict::proceed());
    return;
  }
  std::string peer = context.session.peer.to_string();
  Authors authors = authors_of(*context.message);
  if (authors.domains.empty()) {
    context.tx.auth_results.push_back("dmarc=permerror (" + authors.why + ")");
    log::info("dmarc", {{"id", context.tx.queue_id},
                        {"peer", peer},
                        {"result", "permerror"},
                        {"reason", authors.why}});
    // Two From fields would let a sender pass DMARC for one and show the other (RFC 7489
    // 6.6.1); RFC 5322 allows exactly one.
    if (mode == conf::DmarcMode::kEnforce && authors.from_fields > 1) {
      done(Verdict::reply(550, "5.7.1 Message rejected: more than one From header field"));
      return;
    }
    done(Verdict::proceed());
    return;
  }

  auto run = std::make_shared<DmarcRun>();
  run->mode = mode;
  run->id = context.tx.queue_id;
  run->peer = peer;
  run->domains = std::move(authors.domains);
  run->results.resize(run->domains.size());
  run->pending = run->domains.size();
  run->tx = &context.tx;
  run->done = std::move(done);
  dmarc::Identifiers ids;
  ids.spf = context.tx.spf;
  ids.spf_domain = context.tx.spf_domain;
  ids.dkim_domains = context.tx.dkim_pass_domains;
  // One draw for the message: pct= samples messages, not authors.
  int sample =
      fixed_sample_ >= 0 ? fixed_sample_ : std::uniform_int_distribution<int>(0, 99)(random_);
  auto psl = psl_;
  for (size_t i = 0; i < run->domains.size(); ++i) {
    ids.from_domain = run->domains[i];
    dmarc::discover(ids.from_domain, *psl, txt_lookup(resolver_),
                    [run, i, ids, psl, sample](dmarc::Discovery found) {
                      run->results[i] = dmarc::evaluate(ids, found, *psl, sample);
                      if (--run->pending == 0) finish_dmarc(*run);
                    });
  }
}

// -- Wiring ------------------------------------------------------------------------------------

void add_inbound_hooks(policy::HookChain& chain, net::Resolver& resolver,
                       const conf::Config& config) {
  std::shared_ptr<const dmarc::PublicSuffixList> psl;
  auto loaded = dmarc::PublicSuffixList::load(dmarc::kDefaultPslPath);
  if (loaded) {
    psl = *loaded;
  } else {
    // Not fatal: the "*" rule alone gives the last two labels, right for most domains.
    log::error("public suffix list not loaded; DMARC relaxed alignment uses the last two labels",
               {{"reason", loaded.message()}});
    psl = std::make_shared<dmarc::PublicSuffixList>();
  }
  std::string zones;
  for (const auto& z : config.inbound.dnsbl)
    zones += (zones.empty() ? "" : ",") + z.zone +
             (z.action == conf::DnsblAction::kReject ? ":reject" : ":mark");
  const char* dmarc_mode = config.inbound.dmarc == conf::DmarcMode::kEnforce  ? "enforce"
                           : config.inbound.dmarc == conf::DmarcMode::kReport ? "report"
                                                                              : "off";
  log::info("inbound checks",
            {{"dnsbl", zones}, {"dmarc", dmarc_mode}, {"psl_rules", std::to_string(psl->size())}});

  chain.add(policy::Phase::kConnect,
            std::make_shared<DnsblHook>(resolver, conf::DnsblAction::kReject));
  chain.add(policy::Phase::kMail, std::make_shared<DnsblHook>(resolver, conf::DnsblAction::kMark));
  chain.add(policy::Phase::kData, std::make_shared<DkimVerifyHook>(resolver));
  chain.add(policy::Phase::kData, std::make_shared<AuthResultsScrubHook>());
  chain.add(policy::Phase::kData, std::make_shared<DmarcHook>(resolver, psl));
}

}  // namespace hato::inbound
