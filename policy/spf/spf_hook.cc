// spf_hook.cc - the SPF check of inbound mail at MAIL FROM, recorded for DMARC and the message.
#include "policy/spf/spf_hook.h"

#include <algorithm>
#include <cctype>

#include "common/log.h"
#include "common/strings.h"

namespace hato::policy::spf {

namespace {

// A domain name stands as itself in Authentication-Results; anything else (a HELO of
// "[192.0.2.1]" or with spaces) becomes a quoted-string.
std::string ar_value(std::string_view v) {
  bool plain = !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
  if (plain) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    // Control characters cannot appear in a header field, not even quoted.
    out += (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) ? '?' : c;
  }
  return out + "\"";
}

}  // namespace

std::string spf_auth_results_clause(SpfResult result, bool null_sender, std::string_view identity) {
  return std::string("spf=") + spf_result_name(result) +
         (null_sender ? " smtp.helo=" : " smtp.mailfrom=") + ar_value(identity);
}

SpfHook::SpfHook(std::shared_ptr<SpfDns> dns, SpfOptions options)
    : dns_(std::move(dns)), options_(std::move(options)) {}

void SpfHook::run(const HookContext& context, std::function<void(Verdict)> done) {
  const SessionInfo& session = context.session;
  if (session.role != conf::ListenerRole::kInbound) {
    done(Verdict::proceed());
    return;
  }
  SpfRequest request = mail_from_request(session.peer, context.sender, session.helo);
  bool null_sender = context.sender.empty();
  std::string identity = ascii_lower(null_sender ? session.helo : request.domain);
  SpfOptions options = options_;
  if (options.receiver == "unknown" && !context.config.hostname.empty())
    options.receiver = context.config.hostname;
  std::string peer = session.peer.ip();
  // The context, and so the transaction, lives until done is called.
  TransactionState& tx = context.tx;
  check_host(
      dns_, options, std::move(request),
      [&tx, done = std::move(done), null_sender, identity, peer](SpfOutcome outcome) {
        tx.spf = spf_result_name(outcome.result);
        tx.spf_domain = identity;
        tx.auth_results.push_back(spf_auth_results_clause(outcome.result, null_sender, identity));
        log::info("spf", {{"result", tx.spf},
                          {null_sender ? "helo" : "domain", identity},
                          {"client", peer},
                          {"why", outcome.problem}});
        // Never a rejection here: DMARC weighs SPF with DKIM at DATA.
        done(Verdict::proceed());
      });
}

void add_spf_hook(HookChain& chain, net::Resolver& resolver, SpfOptions options) {
  std::shared_ptr<SpfDns> dns = make_resolver_spf_dns(resolver);
  chain.add(Phase::kMail, std::make_shared<SpfHook>(std::move(dns), std::move(options)));
}

}  // namespace hato::policy::spf
