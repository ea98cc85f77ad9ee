// spf.h - Sender Policy Framework (RFC 7208): check_host() without blocking.
//
// check_host() reads DNS through SpfDns, whose answers come later on the caller's loop, and
// calls `done` once with the result. The work is bounded by the RFC's limits: 10 terms that
// query DNS (include, a, mx, ptr, exists, redirect) across includes and redirects, 2 of them
// "void" (no records), at most 10 MX or PTR names per mechanism, and a time limit. Include and
// redirect loops end at the 10-term limit as permerror.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/net.h"
#include "net/resolver.h"

namespace hato::policy::spf {

enum class SpfResult { kNone, kNeutral, kPass, kFail, kSoftFail, kTempError, kPermError };
// "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror" (RFC 8601 names).
const char* spf_result_name(SpfResult result);

struct SpfOutcome {
  SpfResult result = SpfResult::kNone;
  std::string explanation;  // fail only: the domain's exp= text, or the default
  std::string problem;      // why, for the log: the error, or the term that matched
};

// The DNS SPF needs. Like net::Resolver, callbacks never run inside the call that asked.
// The address lookups are by family, because `a` and `mx` look up only the client's.
class SpfDns {
 public:
  virtual ~SpfDns() = default;
  virtual void txt(const std::string& name, std::function<void(net::TxtResult)> done) = 0;
  virtual void a(const std::string& name, std::function<void(net::AddressResult)> done) = 0;
  virtual void aaaa(const std::string& name, std::function<void(net::AddressResult)> done) = 0;
  virtual void mx(const std::string& name, std::function<void(net::MxResult)> done) = 0;
  virtual void ptr(const SocketAddress& ip, std::function<void(net::PtrResult)> done) = 0;
};

// SpfDns on the daemon's resolver, which must outlive it.
std::unique_ptr<SpfDns> make_resolver_spf_dns(net::Resolver& resolver);

struct SpfOptions {
  std::string receiver = "unknown";  // %{r}: our host name
  std::string default_explanation = "Sender is not authorized by the SPF policy of its domain";
  int max_dns_terms = 10;  // section 4.6.4
  int max_void_lookups = 2;
  int max_names = 10;  // MX or PTR names per mechanism
  // Section 4.6.4 asks for at least 20 s; a lookup under way may overrun it by its own timeout.
  std::chrono::milliseconds time_limit{20000};
  int64_t now = 0;  // %{t}, seconds since the epoch; 0: the clock
};

// The arguments of check_host() (section 4.1).
struct SpfRequest {
  SocketAddress ip;
  std::string domain;  // where the first record is looked up
  std::string sender;  // local-part@domain ("postmaster@helo" for the null sender)
  std::string helo;
};

// For the MAIL FROM identity; the null sender checks postmaster@<helo> (section 2.4).
SpfRequest mail_from_request(const SocketAddress& ip, std::string_view mail_from,
                             std::string_view helo);

void check_host(std::shared_ptr<SpfDns> dns, const SpfOptions& options, SpfRequest request,
                std::function<void(SpfOutcome)> done);

}  // namespace hato::policy::spf
