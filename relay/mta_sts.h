// mta_sts.h - the MTA-STS policy of a destination domain (RFC 8461 section 5):
// the `_mta-sts` TXT record, the policy fetched over HTTPS, and the cache.
//
// lookup(domain), in order:
//   1. ask for the TXT record at _mta-sts.<domain>;
//   2. a valid record whose id equals the cached policy's, while that policy lives: the cache;
//   3. a valid record otherwise: fetch https://mta-sts.<domain>/.well-known/mta-sts.txt
//      (certificate checked against the trust store, no redirects, 64 KiB, 60 s); a good
//      policy replaces the cached one, a failed fetch falls back to the cached one;
//   4. no record (or DNS trouble): the cached policy while it lives (RFC 8461 5.1: a policy
//      outlives its TXT record), else none.
// Policies are kept in memory and in the store's state family (queue::state::mta_sts_key),
// so they survive a restart. Lookups of one domain that overlap share one fetch.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/loop.h"
#include "net/http_client.h"
#include "net/resolver.h"
#include "policy/limiter.h"
#include "policy/mta_sts.h"

namespace hato::relay {

struct StsResult {
  std::optional<policy::mta_sts::Policy> policy;  // none: the domain has no usable policy
  // Why a policy could not be fetched or read, for the log and TLS-RPT; "" when fine.
  std::string failure;       // RFC 8460 result type: sts-policy-fetch-error, sts-policy-invalid,
                             // sts-webpki-invalid
  std::string failure_text;  // in words
};

// Where the delivery engine gets a domain's policy: MtaStsPolicies, or a table in tests.
class StsPolicySource {
 public:
  virtual ~StsPolicySource() = default;
  // `done` runs later on the loop.
  virtual void lookup(const std::string& domain, std::function<void(StsResult)> done) = 0;
};

class MtaStsPolicies : public StsPolicySource {
 public:
  // `state` may be null (no persistence). `port` is where the policy host is asked: 443
  // except in tests (delivery.mta_sts_port).
  MtaStsPolicies(net::Resolver& resolver, net::HttpClient& http, policy::StateStore* state);
  void set_port(uint16_t port) { port_ = port; }

  void lookup(const std::string& domain, std::function<void(StsResult)> done) override;

  // Policy URL for a domain (exposed for tests and `hato dns check`).
  std::string policy_url(const std::string& domain) const;

 private:
  void on_txt(const std::string& domain, net::TxtResult txt);
  void fetched(const std::string& domain, const std::string& id,
               Result<net::HttpResponse> response);
  void finish(const std::string& domain, StsResult result);
  // The cached policy of a domain if it has not expired (memory first, then the store).
  std::optional<policy::mta_sts::Policy> cached(const std::string& domain);
  void remember(const std::string& domain, const policy::mta_sts::Policy& policy);

  net::Resolver& resolver_;
  net::HttpClient& http_;
  policy::StateStore* state_;
  uint16_t port_ = 443;
  std::map<std::string, policy::mta_sts::Policy> memory_;
  std::map<std::string, std::vector<std::function<void(StsResult)>>> waiting_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace hato::relay
