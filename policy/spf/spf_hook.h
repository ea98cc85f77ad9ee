// spf_hook.h - the SPF check of inbound mail at MAIL FROM.
//
// On inbound listeners only: checks MAIL FROM's domain (HELO's for the null sender), records
// the result in the transaction for DMARC and an Authentication-Results clause for the
// message, and always continues: what a fail means is DMARC's decision, made later.
#pragma once

#include <memory>

#include "net/resolver.h"
#include "policy/hook.h"
#include "policy/spf/spf.h"

namespace hato::policy::spf {

class SpfHook : public Hook {
 public:
  // options.receiver, if left "unknown", becomes the config's hostname at each check.
  SpfHook(std::shared_ptr<SpfDns> dns, SpfOptions options);
  const char* name() const override { return "spf"; }
  void run(const HookContext& context, std::function<void(Verdict)> done) override;

 private:
  std::shared_ptr<SpfDns> dns_;
  SpfOptions options_;
};

// "spf=pass smtp.mailfrom=example.com", or "smtp.helo=" for the null sender (RFC 8601 2.7.2);
// an identity that is not a plain domain name is quoted.
std::string spf_auth_results_clause(SpfResult result, bool null_sender, std::string_view identity);

// Adds the hook at Phase::kMail; `resolver` must outlive the chain.
void add_spf_hook(HookChain& chain, net::Resolver& resolver, SpfOptions options = {});

}  // namespace hato::policy::spf
