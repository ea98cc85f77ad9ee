// checks.h - the checks an inbound (MX) listener puts mail through, as hooks that wait for DNS
// without blocking the loop:
//
//   kConnect  DnsblHook (reject zones): 554 5.7.1 and close when the client is listed
//   kMail     DnsblHook (mark zones): an X-DNSBL header field on the message
//   kData     DkimVerifyHook: a dkim= clause per signature; passing d= into tx for DMARC
//             AuthResultsScrubHook: removes incoming Authentication-Results that claim our
//             host name as authserv-id (RFC 8601 5); every listener
//             DmarcHook: a dmarc= clause per author domain of From (RFC 7489 6.6.1); with
//             `inbound.dmarc: enforce` the strictest applies: a p=reject failure of any
//             author gets 550 5.7.1, else a p=quarantine failure goes to the Junk folder
//
// SPF (kMail, by its own hook) fills tx.spf and tx.spf_domain before DmarcHook reads them. The
// hooks read `inbound.dnsbl` and `inbound.dmarc` from the session's config on every run.
// Peers in an inbound listener's trusted_networks skip the DNSBL.
//
// This is a library of its own (hato_inbound_checks): it needs net::Resolver and DMARC, which
// the recipient checks and Maildir delivery (hato_inbound, linked by hato_relay) do not.
#pragma once

#include <memory>
#include <random>
#include <string>

#include "conf/config.h"
#include "net/resolver.h"
#include "policy/dkim/verifier.h"
#include "policy/dmarc/psl.h"
#include "policy/hook.h"

namespace hato::inbound {

// Adds the hooks above to `chain`, in the order above. `resolver` must outlive the chain's
// use. Loads the Public Suffix List (dmarc::kDefaultPslPath) once; without it, DMARC's
// organizational domains fall back to the last two labels, and the failure is logged.
void add_inbound_hooks(policy::HookChain& chain, net::Resolver& resolver,
                       const conf::Config& config);

// TXT lookups through the resolver, in the shape the DKIM verifier and DMARC discovery want.
dkim::KeyLookup txt_lookup(net::Resolver& resolver);

class DnsblHook : public policy::Hook {
 public:
  // Checks the zones whose action is `action`: kReject at kConnect, kMark at kMail.
  DnsblHook(net::Resolver& resolver, conf::DnsblAction action)
      : resolver_(resolver), action_(action) {}
  const char* name() const override { return "dnsbl"; }
  void run(const policy::HookContext& context, std::function<void(policy::Verdict)> done) override;

 private:
  net::Resolver& resolver_;
  conf::DnsblAction action_;
};

class DkimVerifyHook : public policy::Hook {
 public:
  explicit DkimVerifyHook(net::Resolver& resolver) : resolver_(resolver) {}
  const char* name() const override { return "dkim-verify"; }
  void run(const policy::HookContext& context, std::function<void(policy::Verdict)> done) override;

 private:
  net::Resolver& resolver_;
  dkim::Verifier verifier_;
};

class AuthResultsScrubHook : public policy::Hook {
 public:
  const char* name() const override { return "auth-results-scrub"; }
  void run(const policy::HookContext& context, std::function<void(policy::Verdict)> done) override;
};

class DmarcHook : public policy::Hook {
 public:
  DmarcHook(net::Resolver& resolver, std::shared_ptr<const dmarc::PublicSuffixList> psl);
  const char* name() const override { return "dmarc"; }
  void run(const policy::HookContext& context, std::function<void(policy::Verdict)> done) override;
  // Replaces the pct= sampling with a fixed draw in [0, 100), for tests.
  void set_sample(int sample) { fixed_sample_ = sample; }

 private:
  net::Resolver& resolver_;
  std::shared_ptr<const dmarc::PublicSuffixList> psl_;
  std::mt19937 random_;
  int fixed_sample_ = -1;
};

// Removes the header fields "Authentication-Results: <authserv_id>; ..." (the id compared
// without regard to case) from the header block of `message`; returns how many.
size_t remove_auth_results(std::string& message, std::string_view authserv_id);

// A value as an Authentication-Results property value: as is when it is a token, else a
// quoted-string (RFC 8601 2.2). Control characters are dropped.
std::string ar_value(std::string_view value);

}  // namespace hato::inbound
